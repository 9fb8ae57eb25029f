package slackapp_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/bot/slackbot/slacktest"
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/store"
)

// TestResidualAccessRemediateButton: access planted after close is found
// by a reconciliation, posted to the security alerts channel with a
// Remediate button; a colleague's click is refused, the security officer's
// adds a remediation action that runs, is read back, and disables the
// account again.
func TestResidualAccessRemediateButton(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	o, err := e.kit.Engine.Open(ctx, engine.Request{EmployeeID: "E1", Requester: "M1", Reason: "resigned", Trigger: store.TriggerCLI})
	if err != nil {
		t.Fatal(err)
	}
	c := e.kit.WaitClosed(t, o.Case.ID, 60*time.Second)
	ad := e.kit.Sandbox("ad")
	acct, _ := ad.Account("erin@example.test")
	ad.AddAccount(connectors.Subject{EmployeeID: "E1", Email: "erin@example.test"}, connectors.Account{ID: acct.ID, Status: connectors.StatusActive})
	rep, err := e.kit.Engine.ReconcileCase(ctx, c.ID, "sweep", "after:1h0m0s")
	if err != nil || rep == nil || len(rep.Residuals) != 1 {
		t.Fatalf("scan: %+v %v", rep, err)
	}
	res := rep.Residuals[0]
	alert := e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool {
		return c.Channel == alerts && has(c, blocks.ActionRemediate) && has(c, blocks.ResidualValue(res.ID))
	}, wait)
	if !strings.Contains(string(alert.Blocks), "Residual access") || !strings.Contains(string(alert.Blocks), "SIMULATED") {
		t.Fatalf("alert: %s", alert.Blocks)
	}

	e.interact(click("UXAVI", alerts, alert.TS, blocks.ActionRemediate, blocks.ResidualValue(res.ID)))
	e.fake.WaitFor(t, "chat.postEphemeral", func(c slacktest.Call) bool {
		return c.Params.Get("user") == "UXAVI" && strings.Contains(c.Text, "refused")
	}, wait)
	if n := e.kit.Count(t, &store.Action{}, "case_id = ?", c.ID); n != int64(len(c.Actions)) {
		t.Fatalf("a refused click added actions: %d, was %d", n, len(c.Actions))
	}

	e.interact(click("USAM", alerts, alert.TS, blocks.ActionRemediate, blocks.ResidualValue(res.ID)))
	e.fake.WaitFor(t, "chat.postEphemeral", func(c slacktest.Call) bool {
		return c.Params.Get("user") == "USAM" && strings.Contains(c.Text, "Remediation added")
	}, wait)
	var fix store.Action
	if err := e.kit.Store.TestDB().Where("case_id = ? AND name LIKE ?", c.ID, "%_remediation_%").First(&fix).Error; err != nil {
		t.Fatal(err)
	}
	c = e.kit.WaitClosed(t, c.ID, 60*time.Second)
	for _, a := range c.Actions {
		if a.ID == fix.ID && (a.Status != store.ActionSucceeded || !a.Verified) {
			t.Fatalf("remediation %s verified %t: %s", a.Status, a.Verified, a.LastError)
		}
	}
	if got, _ := ad.Account("erin@example.test"); got.Status != connectors.StatusDisabled {
		t.Fatalf("AD after remediation: %+v", got)
	}
	var added store.AuditEvent
	if err := e.kit.Store.TestDB().Where("action_id = ? AND event = ?", fix.ID, "action.added").First(&added).Error; err != nil || added.Actor != "slack:USAM as S1" {
		t.Fatalf("remediation audit: %+v %v", added, err)
	}
}
