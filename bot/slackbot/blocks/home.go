package blocks

import (
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/kineticsec/kinetic/engine/view"
	"github.com/kineticsec/kinetic/store"
)

// The Home tab lists at most this many approvals and cases (it holds 100
// blocks); the rest are counted.
const (
	homeMaxApprovals = 20
	homeMaxCases     = 30
)

// HomeTab builds Kinetic's App Home for viewer (the Slack user id whose
// tab it is): the approvals waiting for them, each with Approve and Deny,
// and the open cases they can see, each with Open case (a simulated case
// marked so). The caller chooses which approvals and cases the viewer may
// see.
func HomeTab(openCases []store.Case, approvals []view.ApprovalView, viewer string) slack.HomeTabViewRequest {
	hello := "Hello"
	if slackUserID(viewer) {
		hello += " <@" + viewer + ">"
	}
	bs := []slack.Block{
		header("Kinetic · offboarding"),
		section(hello + ". Start an offboarding with `/offboard @person`, or `/offboard` for a form; `/offboard help` lists the rest."),
		slack.NewDividerBlock(),
		section(fmt.Sprintf("*Waiting for your decision* (%d)", len(approvals))),
	}
	if len(approvals) == 0 {
		bs = append(bs, section("_Nothing waits for you._"))
	}
	for i, v := range approvals {
		if i == homeMaxApprovals {
			bs = append(bs, section(fmt.Sprintf("_and %d more_", len(approvals)-i)))
			break
		}
		name := v.EmployeeName
		if strings.TrimSpace(name) == "" {
			name = v.EmployeeID
		}
		l := fmt.Sprintf("*%s* for %s · requested by %s", data(strings.ReplaceAll(v.Kind, "_", " "), 60), data(name, 80), data(person(v.Requester, map[string]string{v.Requester: v.RequesterName}), 120))
		if r := requestText(v.Request); r != "" {
			l += "\n" + strings.ReplaceAll(r, "\n", " · ")
		}
		if !blank(v.Reason) {
			l += "\n_" + data(v.Reason, 200) + "_"
		}
		bs = append(bs, section(l))
		if v.Status == store.ApprovalPending {
			approve := "Approve"
			if v.ReasonRequired {
				approve = "Approve…" // opens ApproveReasonModal
			}
			bs = append(bs, slack.NewActionBlock("",
				button(ActionApprove, ApprovalValue(v.ID), approve, slack.StylePrimary),
				button(ActionDeny, ApprovalValue(v.ID), "Deny…", slack.StyleDanger),
			))
		}
	}
	bs = append(bs, slack.NewDividerBlock(), section(fmt.Sprintf("*Open offboardings* (%d)", len(openCases))))
	if len(openCases) == 0 {
		bs = append(bs, section("_No offboarding is in progress._"))
	}
	for i, c := range openCases {
		if i == homeMaxCases {
			bs = append(bs, section(fmt.Sprintf("_and %d more_", len(openCases)-i)))
			break
		}
		l := fmt.Sprintf("*%s* · %s\n%s · effective %s", data(nameOf(c), 80), data(c.EmployeeID, 60), caseStatus(c.Status), when(c.EffectiveAt))
		if c.Simulated {
			l += " ·" + simulatedMark
		}
		s := section(l)
		s.Accessory = slack.NewAccessory(button(ActionOpenCase, CaseValue(c.ID), "Open", ""))
		bs = append(bs, s)
	}
	return slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: bs}}
}
