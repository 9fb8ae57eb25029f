package slackapp_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/bot/slackbot/slacktest"
	"github.com/kineticsec/kinetic/store"
)

// TestDepartingEmployeeCannotCancelTheirOwnCase: a departing employee who
// has an HR role sent /offboard cancel @self and their own case was
// cancelled. Now Slack answers with the engine's refusal and nothing
// changes; their manager (HR) still may cancel it.
func TestDepartingEmployeeCannotCancelTheirOwnCase(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	day := time.Now().AddDate(0, 0, 4).Format("2006-01-02")
	if _, resp := e.command("UHAL", "<@UHANA> --effective "+day+" 17:00 resigned"); !strings.Contains(text(resp), "Planning") {
		t.Fatalf("answer %q", text(resp))
	}
	e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool { return c.Channel == "DUHAL" && has(c, blocks.ActionConfirmPlan) }, wait)
	open, err := e.kit.Store.OpenCaseFor(ctx, "H2")
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.kit.Store.CaseWithActions(ctx, open.ID)
	if err != nil || len(c.Actions) == 0 {
		t.Fatalf("case %+v %v", c, err)
	}
	state := func() string {
		var head store.AuditHead
		if err := e.kit.Store.TestDB().First(&head, 1).Error; err != nil {
			t.Fatal(err)
		}
		cur, err := e.kit.Store.CaseWithActions(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "case %s; audit head %d %s;", cur.Status, head.Seq, head.Hash)
		for _, a := range cur.Actions {
			fmt.Fprintf(&b, " %s=%s", a.Name, a.Status)
		}
		return b.String()
	}
	before := state()

	_, resp := e.command("UHANA", "cancel <@UHANA> changed my mind")
	if got := text(resp); !strings.Contains(got, "refused") || !strings.Contains(got, "departing employee") {
		t.Fatalf("the departing employee's cancel answered %q", got)
	}
	// Their buttons on their own case are refused too.
	e.interact(click("UHANA", offboarding, "1.1", blocks.ActionEscalateNow, blocks.ActionValue(c.Actions[0].ID)))
	e.fake.WaitFor(t, "chat.postEphemeral", func(c slacktest.Call) bool {
		return c.Params.Get("user") == "UHANA" && strings.Contains(c.Text, "refused")
	}, wait)
	if after := state(); after != before {
		t.Fatalf("a refused cancel changed the case:\nbefore: %s\nafter:  %s", before, after)
	}

	if _, resp := e.command("UHAL", "cancel <@UHANA> changed plans"); !strings.Contains(text(resp), "cancelled") {
		t.Fatalf("the manager's cancel: %q", text(resp))
	}
	var ev store.AuditEvent
	if err := e.kit.Store.TestDB().Where("case_id = ? AND event = ?", c.ID, "case.cancelled").First(&ev).Error; err != nil {
		t.Fatal(err)
	}
	if ev.Actor != "slack:UHAL as H1" {
		t.Errorf("case.cancelled actor %q, want the Slack principal and the person", ev.Actor)
	}
}
