package slackapp_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/bot/slackbot/slacktest"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// TestNowUpgradesAScheduledVoluntaryCase: `/offboard @erin --now` for an
// employee whose voluntary case is scheduled makes that case involuntary;
// the handover exception delaying a critical revocation is cancelled, its
// requester is told in a DM, and the revocation runs.
func TestNowUpgradesAScheduledVoluntaryCase(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	o, err := e.kit.Engine.Open(ctx, engine.Request{EmployeeID: "E1", Requester: "M1", Trigger: store.TriggerSlack, Reason: "resigned",
		EffectiveAt: time.Now().Add(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	ap, err := e.kit.Engine.RequestException(ctx, engine.ExceptionRequest{CaseID: o.Case.ID, Kind: "mailbox_handover", Action: "disable_ad", Days: 3, Requester: "M1", Via: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, resp := e.command("UHAL", "<@UERIN> --now misconduct"); !strings.Contains(text(resp), "Starting") {
		t.Fatalf("answer %q", text(resp))
	}
	e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool {
		return c.Channel == "DUMIA" && strings.Contains(c.Text, "mailbox_handover") && strings.Contains(c.Text, "cancelled")
	}, wait)
	e.fake.WaitFor(t, "chat.postEphemeral", func(c slacktest.Call) bool {
		return c.Params.Get("user") == "UHAL" && strings.Contains(c.Text, "now involuntary")
	}, wait)
	if v, err := e.kit.Engine.Approval(ctx, ap.ID); err != nil || v.Status != store.ApprovalCancelled {
		t.Fatalf("the handover exception: %+v %v", v, err)
	}
	var c *store.Case
	testkit.Eventually(t, wait, func() bool {
		var err error
		if c, err = e.kit.Store.CaseWithActions(ctx, o.Case.ID); err != nil {
			t.Fatal(err)
		}
		done := false
		for _, a := range c.Actions {
			done = done || a.Name == "disable_ad" && a.Status == store.ActionSucceeded
		}
		return c.Involuntary && done
	}, func() string { return fmt.Sprintf("case involuntary=%v:\n%s", c.Involuntary, engine.Summary(c)) })
}
