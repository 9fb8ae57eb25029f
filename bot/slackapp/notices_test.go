package slackapp_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	slackapp "github.com/kineticsec/kinetic/bot/slackapp"
	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/bot/slackbot/slacktest"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/routing"
	"github.com/kineticsec/kinetic/internal/smtptest"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

const payrollChannel = "C0PAYROLL" // the payroll team's channel

// slackNoticePolicy tells payroll by email, with the payroll section's
// dates.
const slackNoticePolicy = `version: 1
defaults:
  sla: {critical: 1h, entitlements: 4h, notifications: 24h}
  max_attempts: 4
actions:
  disable_ad: {connector: ad, operation: disable_account, phase: critical}
  notify_payroll: {connector: mail, operation: notify, phase: notifications, params: {template: final_pay, teams: payroll}}
rules:
  - name: everyone
    when: "true"
    add: [disable_ad, notify_payroll]
escalation:
  levels:
    - {after: 0s, notify: [owner]}
    - {after: 30m, notify: [security_alerts]}
    - {after: 2h, notify: ["user:S1"]}
payroll:
  payday: {schedule: semimonthly, days: [15, 31]}
  rules:
    - {name: default, final_pay: 5d, leave_payout: false, benefits_end: end_of_month}
`

// A notice sent to payroll by email is posted to payroll's channel with
// its dates and an Acknowledge button; the departing person and someone
// not on the payroll team are refused, to themselves only, and nothing
// changes; a payroll member's click records the acknowledgement and the
// card is replaced in place without the button.
func TestNoticeAcknowledgeButton(t *testing.T) {
	mail := smtptest.Start(t, false, false)
	pw := filepath.Join(t.TempDir(), "smtp.pw")
	if err := os.WriteFile(pw, []byte(smtptest.Password), 0o600); err != nil {
		t.Fatal(err)
	}
	conn := fmt.Sprintf(`  mail:
    type: email
    owner: payroll
    email:
      host: 127.0.0.1
      port: %d
      ca_file: %s
      username: kinetic
      password: {file: %s}
      from: "Kinetic <offboarding@example.test>"
      teams:
        payroll: [payroll@example.test]
`, mail.Port, mail.CAFile, pw)
	e := newEnvKit(t, func(o *testkit.Options, _ *slackapp.App) {
		o.Policy = slackNoticePolicy
		o.Connectors = conn
		o.Service = "outbound: {allow_cidrs: [127.0.0.1/32]}"
		o.ApproverGroups = "{hr: [H1, H2, M1], legal: [L1, L2], security: [S1], payroll: [H1]}"
	}, func(o *slackapp.Options) {
		o.Routes = routing.New(map[string]routing.Route{"payroll": {Channel: payrollChannel}}, nil, "slack:")
	})
	ctx := context.Background()
	o, err := e.kit.Engine.Open(ctx, engine.Request{EmployeeID: "E1", Requester: "M1", Reason: "resigned", Trigger: store.TriggerSlack})
	if err != nil {
		t.Fatal(err)
	}
	mail.Next() // the email itself (its content is the email connector's test)

	card := e.fake.WaitFor(t, "chat.postMessage", func(m slacktest.Call) bool {
		return m.Channel == payrollChannel && has(m, blocks.ActionAckNotice)
	}, wait)
	for _, want := range []string{"Notice to *payroll*", "Erin Employee", "Final pay date", "Benefits end", "payroll@example.test", "awaiting acknowledgement"} {
		if !has(card, want) {
			t.Errorf("the card lacks %q: %s", want, card.Blocks)
		}
	}
	ns, err := e.kit.Store.CaseNotices(ctx, o.Case.ID)
	if err != nil || len(ns) != 1 {
		t.Fatalf("notices %+v, %v", ns, err)
	}
	value := blocks.NoticeValue(ns[0].ID)
	if !has(card, value) {
		t.Fatalf("the button does not name notice %d: %s", ns[0].ID, card.Blocks)
	}
	open := func() bool {
		n, err := e.kit.Store.Notice(ctx, ns[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		return n.Open()
	}
	ephemerals := func(user string) []slacktest.Call {
		var out []slacktest.Call
		for _, m := range e.fake.Calls("chat.postEphemeral") {
			if m.Params.Get("user") == user {
				out = append(out, m)
			}
		}
		return out
	}
	for _, user := range []string{"UERIN", "UHANA"} { // the departing person; HR, not on payroll
		e.interact(click(user, payrollChannel, card.TS, blocks.ActionAckNotice, value))
		testkit.Eventually(t, wait, func() bool { return len(ephemerals(user)) == 1 }, func() string { return user + " was not answered" })
		if got := ephemerals(user)[0]; !strings.Contains(got.Text, "refused") {
			t.Errorf("%s's answer: %q", user, got.Text)
		}
		if !open() {
			t.Fatalf("%s's refused click acknowledged the notice", user)
		}
	}
	for _, u := range e.fake.Calls("chat.update") {
		if u.Channel == payrollChannel && u.TS == card.TS {
			t.Fatalf("a refused click changed the card: %s", u.Blocks)
		}
	}

	e.interact(click("UHAL", payrollChannel, card.TS, blocks.ActionAckNotice, value))
	testkit.Eventually(t, wait, func() bool { return !open() }, func() string { return "Hal's click was not recorded" })
	n, _ := e.kit.Store.Notice(ctx, ns[0].ID)
	if n.AcknowledgedBy != "H1" || n.AcknowledgedHow != store.AckButton {
		t.Errorf("acknowledged by %q how %q", n.AcknowledgedBy, n.AcknowledgedHow)
	}
	e.fake.WaitFor(t, "chat.update", func(u slacktest.Call) bool {
		return u.Channel == payrollChannel && u.TS == card.TS && has(u, "acknowledged") && has(u, "H1") && !has(u, blocks.ActionAckNotice)
	}, wait)
	testkit.Eventually(t, wait, func() bool { return len(ephemerals("UHAL")) == 1 }, func() string { return "Hal was not answered" })

	// A second click on a stale copy changes nothing and says so.
	again := click("UHAL", payrollChannel, card.TS, blocks.ActionAckNotice, value)
	again["trigger_id"] = "trig-click-UHAL-2" // another click, not a replay
	e.interact(again)
	testkit.Eventually(t, wait, func() bool { return len(ephemerals("UHAL")) == 2 }, func() string { return "Hal's second click was not answered" })
	if got := ephemerals("UHAL")[1].Text; !strings.Contains(got, "already acknowledged") {
		t.Errorf("second click: %q", got)
	}
}
