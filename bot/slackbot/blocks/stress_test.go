package blocks

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/kineticsec/kinetic/engine/view"
	"github.com/kineticsec/kinetic/store"
)

// huge is outside data at its worst: long, multi-line, full of markup.
var huge = strings.Repeat(hostile+" ", 200)

// Every builder stays within Block Kit's limits whatever it is fed.
func TestBuildersFitWithHugeInput(t *testing.T) {
	plan := testPlan()
	plan.Employee.Name, plan.Employee.Department, plan.Employee.Type, plan.Employee.Location = huge, huge, huge, huge
	plan.Rules = []string{huge, huge}
	plan.PolicyHash = huge
	for i := range 40 {
		plan.Actions = append(plan.Actions, view.PlannedAction{Name: huge, Connector: huge, Operation: huge, Phase: i, PhaseName: huge,
			TargetAccount: huge, Found: huge, DependsOn: []string{huge}, SLA: time.Hour})
		plan.Discovery = append(plan.Discovery, view.Discovery{Connector: fmt.Sprint(i, huge), Error: huge})
		plan.Equipment = append(plan.Equipment, view.Account{ID: huge, Detail: huge})
	}
	plan.Actions = plan.Actions[:40]
	bigPlan := plan
	for i := range 200 {
		bigPlan.Actions = append(bigPlan.Actions, view.PlannedAction{Name: huge, Connector: fmt.Sprint(i, huge), Phase: i})
	}

	v := testApproval()
	v.Kind, v.EmployeeName, v.Requester, v.Reason, v.Outcome, v.Effect = huge, huge, huge, huge, huge, huge
	v.Request = fmt.Sprintf(`{"forward_to":%q,"days":%q,"x":%q}`, huge, huge, huge)
	v.Held = fmt.Sprintf(`[%q,%q]`, huge, huge)
	for i := range 60 {
		v.Steps = append(v.Steps, store.ApprovalStep{Index: i, Name: huge, Approvers: fmt.Sprintf(`[%q]`, huge), Status: store.StepWaiting})
		v.Decisions = append(v.Decisions, store.ApprovalDecision{StepIndex: i, Approver: huge, Decision: "approve", Reason: huge, Via: huge})
		v.Approvers = append(v.Approvers, huge)
	}
	decided := v
	decided.Status = store.ApprovalDenied

	ev := view.Event{Kind: "escalation", CaseID: 42, ActionID: 1, Name: huge, Status: huge, Detail: huge, Level: 9, At: now}
	for range 100 {
		ev.Targets = append(ev.Targets, "channel:"+huge)
	}
	c, acts := hostileCase()
	c.Summary = huge
	a := acts[2]
	a.LastError, a.ErrorKind, a.Phase = huge, huge, 2

	for name, f := range map[string]func() ([]slack.Block, string){
		"plan":          func() ([]slack.Block, string) { return PlanPreview(plan, 42) },
		"big plan":      func() ([]slack.Block, string) { return PlanPreview(bigPlan, 42) },
		"plan resolved": func() ([]slack.Block, string) { return PlanResolved(plan, 42, true, huge, now) },
		"approval": func() ([]slack.Block, string) {
			return ApprovalCard(v, ApprovalInfo{PolicyLimit: huge, Description: huge, Names: map[string]string{v.Requester: huge}, CanDecide: true}, now)
		},
		"decided": func() ([]slack.Block, string) {
			return ApprovalCard(decided, ApprovalInfo{PolicyLimit: huge, Description: huge}, now)
		},
		"failed":        func() ([]slack.Block, string) { return ActionFailed(a, 42, true, true) },
		"manual":        func() ([]slack.Block, string) { return ManualStep(a, 42, true) },
		"escalation":    func() ([]slack.Block, string) { return Escalation(ev, nil) },
		"decided event": func() ([]slack.Block, string) { return ApprovalDecided(ev) },
		"closed":        func() ([]slack.Block, string) { return CaseClosed(c, 1<<40, huge) },
		"alert":         func() ([]slack.Block, string) { return AlertMessage(ev) },
		"alert kind":    func() ([]slack.Block, string) { e := ev; e.Kind = view.EventKind(huge); return AlertMessage(e) },
		"batch":         func() ([]slack.Block, string) { return BatchSummary(1<<30, make([]int64, 100000), huge) },
		"status":        func() ([]slack.Block, string) { return StatusCard(c, acts, now, nil) },
	} {
		t.Run(name, func(t *testing.T) {
			bs, fb := f()
			checkLimits(t, surfaceMessage, encode(t, message{Text: fb, Blocks: bs}))
		})
	}
	home := HomeTab([]store.Case{c}, []view.ApprovalView{v}, huge)
	checkLimits(t, surfaceHome, encode(t, home))
	for _, m := range []slack.ModalViewRequest{DenyReasonModal(v, ApprovalInfo{Description: huge}), ApproveReasonModal(v, ApprovalInfo{Description: huge}), SkipReasonModal(1<<62, huge, huge), OffboardModal(now)} {
		checkLimits(t, surfaceModal, encode(t, m))
	}
}

// Whatever text comes from outside, the messages stay valid and carry no
// live markup.
func FuzzBuildersEscape(f *testing.F) {
	for _, s := range []string{hostile, "&amp;&lt;", "```", "a\x00b\xffc", strings.Repeat("&", 3000), strings.Repeat("é<", 1600)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := runningCase()
		c.EmployeeName, c.EmployeeID, c.Reason, c.Summary, c.Requester = s, s, s, s, s
		acts := runningActions()
		for i := range acts {
			acts[i].Name, acts[i].LastError, acts[i].BlockedReason, acts[i].Detail, acts[i].PhaseName = s, s, s, s, s
		}
		a := acts[2]
		ev := view.Event{Kind: "escalation", CaseID: 1, Name: s, Status: s, Detail: s, Targets: []string{s, "channel:" + s}, Level: 1}
		v := testApproval()
		v.Kind, v.Reason, v.Requester, v.Outcome = s, s, s, s
		for _, m := range []message{
			toMessage(StatusCard(c, acts, now, map[string]string{s: s})),
			toMessage(ActionFailed(a, 1, true, true)),
			toMessage(Escalation(ev, nil)),
			toMessage(AlertMessage(ev)),
			toMessage(ApprovalCard(v, ApprovalInfo{PolicyLimit: s, Description: s, Names: map[string]string{s: s}, CanDecide: true}, now)),
			toMessage(CaseClosed(c, 1, s)),
		} {
			checkLimits(t, surfaceMessage, encode(t, m))
		}
	})
}
