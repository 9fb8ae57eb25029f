package teamsapp_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/bot/teams/cards"
	"github.com/kineticsec/kinetic/bot/teams/teamstest"
	"github.com/kineticsec/kinetic/bot/teamsapp"
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/routing"
	"github.com/kineticsec/kinetic/internal/smtptest"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

const (
	payroll  = "19:payroll@thread.tacv2"
	itAssets = "19:it-assets@thread.tacv2"
	sam      = "00000000-0000-0000-0000-0000000000d1" // S1, a security officer
	tom      = "00000000-0000-0000-0000-0000000000d2" // T1, it-assets
	gia      = "00000000-0000-0000-0000-0000000000e7" // E7, holds LT-7 and PH-7
)

// noticePolicy tells payroll by email, with the payroll section's dates.
const noticePolicy = `version: 1
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
payroll:
  payday: {schedule: semimonthly, days: [15, 31]}
  rules:
    - {name: default, final_pay: 5d, leave_payout: false, benefits_end: end_of_month}
`

// updatesIn counts the updates of cards in conv.
func (e *env) updatesIn(conv string) (n int) {
	for _, c := range e.fake.Calls() {
		if c.Op == "update" && c.ConversationID == conv {
			n++
		}
	}
	return n
}

// A notice sent to payroll is posted in payroll's Teams conversation with
// its dates and Acknowledge; the departing person and someone not on the
// payroll team are refused, to themselves only, and nothing changes; a
// payroll member's click answers with the card acknowledged and the
// posted card is replaced in place without the button; a click on a
// stale copy shows who acknowledged and changes nothing.
func TestNoticeAcknowledgeInvoke(t *testing.T) {
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
	e := newEnvWith(t, func(o *testkit.Options) {
		o.Policy, o.Connectors = noticePolicy, conn
		o.Service = "outbound: {allow_cidrs: [127.0.0.1/32]}"
		o.ApproverGroups = "{hr: [H1, H2, M1], legal: [L1, L2], security: [S1], payroll: [H1]}"
	}, func(o *teamsapp.Options) {
		o.Routes = routing.New(map[string]routing.Route{"payroll": {Channel: payroll}}, nil, "teams:")
	})
	ctx := context.Background()
	o, err := e.kit.Engine.Open(ctx, engine.Request{EmployeeID: "E1", Requester: "M1", Reason: "resigned", Trigger: store.TriggerTeams})
	if err != nil {
		t.Fatal(err)
	}
	mail.Next() // the email itself (its content is the email connector's test)
	card := e.waitCall("notice card in payroll's conversation", func(c teamstest.Call) bool {
		return c.Op == "send" && c.ConversationID == payroll && strings.Contains(cardOf(c), cards.VerbAckNotice)
	})
	ns, err := e.kit.Store.CaseNotices(ctx, o.Case.ID)
	if err != nil || len(ns) != 1 {
		t.Fatalf("notices %+v, %v", ns, err)
	}
	value := blocks.NoticeValue(ns[0].ID)
	for _, want := range []string{"Notice to **payroll**", "Erin Employee", "Final pay date", "Benefits end", "payroll@example.test", "awaiting acknowledgement", value} {
		if !strings.Contains(cardOf(card), want) {
			t.Errorf("the card lacks %q: %s", want, cardOf(card))
		}
	}
	open := func() bool {
		n, err := e.kit.Store.Notice(ctx, ns[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		return n.Open()
	}
	for _, who := range []string{erin, hana} { // the departing person; HR, not on payroll
		typ, text, _ := e.answer(e.invoke(who, cards.VerbAckNotice, map[string]any{"kineticId": value}))
		if typ != teamsapp.TypeMessageResponse || !strings.Contains(text, "refused") {
			t.Errorf("%s's answer: %s %q", teamsUsers[who][1], typ, text)
		}
		if !open() {
			t.Fatalf("%s's refused click acknowledged the notice", teamsUsers[who][1])
		}
	}
	if n := e.updatesIn(payroll); n != 0 {
		t.Fatalf("a refused click changed the card (%d updates)", n)
	}

	typ, _, got := e.answer(e.invoke(hal, cards.VerbAckNotice, map[string]any{"kineticId": value}))
	if typ != teamsapp.TypeCardResponse || !strings.Contains(got, "acknowledged") || strings.Contains(got, cards.VerbAckNotice) {
		t.Fatalf("Hal's click answered %s %s", typ, got)
	}
	n, _ := e.kit.Store.Notice(ctx, ns[0].ID)
	if n.Open() || n.AcknowledgedBy != "H1" || n.AcknowledgedHow != store.AckButton {
		t.Fatalf("acknowledged by %q how %q", n.AcknowledgedBy, n.AcknowledgedHow)
	}
	e.waitCall("the payroll card replaced without the button", func(c teamstest.Call) bool {
		return c.Op == "update" && c.ConversationID == payroll &&
			strings.Contains(cardOf(c), "Acknowledged by H1") && !strings.Contains(cardOf(c), cards.VerbAckNotice)
	})
	// A click on a stale copy: the card as it is, nothing recorded again.
	typ, _, got = e.answer(e.invoke(hal, cards.VerbAckNotice, map[string]any{"kineticId": value}))
	if typ != teamsapp.TypeCardResponse || !strings.Contains(got, "Acknowledged by H1") {
		t.Fatalf("second click answered %s %s", typ, got)
	}
	if c := e.kit.Count(t, &store.AuditEvent{}, "case_id = ? AND event = ?", o.Case.ID, "notice.acknowledged"); c != 1 {
		t.Fatalf("%d acknowledgements audited", c)
	}
}

// Residual access found by reconciliation reaches the Teams alerts
// conversation with Remediate; someone who is not a security officer is
// refused and nothing is added; the officer's click adds the remediation,
// which runs and is read back; a second click is refused naming it.
func TestResidualAccessRemediateInvoke(t *testing.T) {
	e := newEnvPolicy(t, "")
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
	value := blocks.ResidualValue(rep.Residuals[0].ID)
	alert := e.waitCall("residual alert with Remediate", func(x teamstest.Call) bool {
		return x.Op == "send" && x.ConversationID == alerts && strings.Contains(cardOf(x), cards.VerbRemediate) && strings.Contains(cardOf(x), value)
	})
	if !strings.Contains(cardOf(alert), "Residual access after offboarding") {
		t.Fatalf("alert: %s", cardOf(alert))
	}
	for _, who := range []string{hal, erin} {
		if typ, text, _ := e.answer(e.invoke(who, cards.VerbRemediate, map[string]any{"kineticId": value})); typ != teamsapp.TypeMessageResponse || !strings.Contains(text, "refused") {
			t.Errorf("%s: %s %q", teamsUsers[who][1], typ, text)
		}
	}
	if n := e.kit.Count(t, &store.Action{}, "case_id = ?", c.ID); n != int64(len(c.Actions)) {
		t.Fatalf("a refused click added actions: %d, was %d", n, len(c.Actions))
	}
	typ, text, _ := e.answer(e.invoke(sam, cards.VerbRemediate, map[string]any{"kineticId": value}))
	if typ != teamsapp.TypeMessageResponse || !strings.Contains(text, "Remediation added") {
		t.Fatalf("Sam: %s %q", typ, text)
	}
	c = e.kit.WaitClosed(t, c.ID, 60*time.Second)
	if got, _ := ad.Account("erin@example.test"); got.Status != connectors.StatusDisabled {
		t.Fatalf("AD after remediation: %+v", got)
	}
	if _, text, _ := e.answer(e.invoke(sam, cards.VerbRemediate, map[string]any{"kineticId": value})); !strings.Contains(text, "already") {
		t.Errorf("second click: %q", text)
	}
	var added store.AuditEvent
	if err := e.kit.Store.TestDB().Where("case_id = ? AND event = ? AND actor LIKE ?", c.ID, "action.added", "teams:%").First(&added).Error; err != nil || !strings.HasSuffix(added.Actor, " as S1") {
		t.Fatalf("remediation audit: %+v %v", added, err)
	}
}

// A laptop's card reaches its team's conversation with the moves the
// engine allows next; the departing person and someone off the team are
// refused and nothing changes; each move answers with the card as it now
// is and replaces the team's card in place; Disposed needs its
// certificate reference; the final card has no move left.
func TestEquipmentMoveInvokes(t *testing.T) {
	e := newEnvWith(t, nil, func(o *teamsapp.Options) {
		o.Routes = routing.New(map[string]routing.Route{"it-assets": {Channel: itAssets}}, nil, "teams:")
	})
	ctx := context.Background()
	o, err := e.kit.Engine.Open(ctx, engine.Request{EmployeeID: "E7", Requester: "M1", Reason: "resigned", Trigger: store.TriggerTeams})
	if err != nil {
		t.Fatal(err)
	}
	var lt store.EquipmentTask
	tasks, _ := e.kit.Store.EquipmentTasks(ctx, o.Case.ID)
	for _, x := range tasks {
		if x.AssetTag == "LT-7" {
			lt = x
		}
	}
	if lt.ID == 0 {
		t.Fatalf("no LT-7 task: %+v", tasks)
	}
	value := blocks.EquipmentValue(lt.ID)
	card := e.waitCall("LT-7's card in it-assets", func(c teamstest.Call) bool {
		return c.Op == "send" && c.ConversationID == itAssets && strings.Contains(cardOf(c), "LT-7") && strings.Contains(cardOf(c), value)
	})
	for _, want := range []string{`"to":"return_requested"`, `"to":"received"`, `"to":"lost"`} {
		if !strings.Contains(cardOf(card), want) {
			t.Errorf("the open task's card lacks %s: %s", want, cardOf(card))
		}
	}
	if strings.Contains(cardOf(card), `"to":"wiped"`) {
		t.Errorf("an open task offers Wiped: %s", cardOf(card))
	}
	status := func() string {
		t.Helper()
		x, err := e.kit.Store.EquipmentTask(ctx, lt.ID)
		if err != nil {
			t.Fatal(err)
		}
		return x.Status
	}
	move := func(who, to string) (string, string, string) {
		return e.answer(e.invoke(who, cards.VerbMoveEquipment, map[string]any{"kineticId": value, "to": to}))
	}
	for _, who := range []string{gia, hal} {
		if typ, text, _ := move(who, store.EquipmentReceived); typ != teamsapp.TypeMessageResponse || !strings.Contains(text, "refused") {
			t.Errorf("%s: %s %q", teamsUsers[who][1], typ, text)
		}
	}
	if s := status(); s != store.EquipmentOpen {
		t.Fatalf("a refused click moved the task to %s", s)
	}
	typ, _, got := move(tom, store.EquipmentReceived)
	if typ != teamsapp.TypeCardResponse || !strings.Contains(got, "received") || !strings.Contains(got, `"to":"wiped"`) {
		t.Fatalf("Tom's Received answered %s %s", typ, got)
	}
	if s := status(); s != store.EquipmentReceived {
		t.Fatalf("after Received: %s", s)
	}
	e.waitCall("the team's card replaced with the next moves", func(c teamstest.Call) bool {
		return c.Op == "update" && c.ConversationID == itAssets && strings.Contains(cardOf(c), value) && strings.Contains(cardOf(c), `"to":"wiped"`)
	})
	if _, text, _ := move(tom, store.EquipmentReceived); !strings.Contains(text, "Nothing to do") {
		t.Errorf("a repeated Received: %q", text)
	}
	if typ, _, _ := move(tom, store.EquipmentWiped); typ != teamsapp.TypeCardResponse || status() != store.EquipmentWiped {
		t.Fatalf("Wiped: %s, status %s", typ, status())
	}
	// Disposed: the reference is required; a move "to" disposed without it
	// is not a button Kinetic made.
	if _, text, _ := move(tom, store.EquipmentDisposed); !strings.Contains(text, "Nothing was changed") && !strings.Contains(text, "not") {
		t.Errorf("disposed by move: %q", text)
	}
	if _, text, _ := e.answer(e.invoke(tom, cards.VerbDisposeEquipment, map[string]any{"kineticId": value, cards.InputReference: "  "})); !strings.Contains(text, "certificate-of-destruction reference") {
		t.Errorf("no reference: %q", text)
	}
	if s := status(); s != store.EquipmentWiped {
		t.Fatalf("a disposal without its reference moved the task to %s", s)
	}
	typ, _, got = e.answer(e.invoke(tom, cards.VerbDisposeEquipment, map[string]any{"kineticId": value, cards.InputReference: "COD-7"}))
	if typ != teamsapp.TypeCardResponse || !strings.Contains(got, "COD-7") || strings.Contains(got, cards.VerbMoveEquipment) || strings.Contains(got, cards.VerbDisposeEquipment) {
		t.Fatalf("disposed answered %s %s", typ, got)
	}
	if x, _ := e.kit.Store.EquipmentTask(ctx, lt.ID); x.Status != store.EquipmentDisposed || x.Reference != "COD-7" {
		t.Fatalf("after disposal: %+v", x)
	}
	e.waitCall("the final card without moves", func(c teamstest.Call) bool {
		return c.Op == "update" && c.ConversationID == itAssets && strings.Contains(cardOf(c), "LT-7") && strings.Contains(cardOf(c), "COD-7") &&
			!strings.Contains(cardOf(c), cards.VerbMoveEquipment)
	})
}

// An HR batch past the threshold gets one summary card in the offboarding
// conversation (posted once, then updated as cases join) instead of a
// status card each; the cases under the threshold keep their own cards.
func TestHRBatchGetsOneSummary(t *testing.T) {
	e := newEnvWith(t, nil, func(o *teamsapp.Options) { o.BatchThreshold = 2; o.BatchWindow = time.Minute })
	ctx := context.Background()
	at := time.Now().Add(72 * time.Hour)
	for _, id := range []string{"E1", "E2", "E4", "X1"} {
		if _, err := e.kit.Engine.Open(ctx, engine.Request{EmployeeID: id, Requester: "hr:test", System: true, Trigger: store.TriggerHR, EffectiveAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	e.waitCall("the summary listing two cases", func(c teamstest.Call) bool {
		return c.ConversationID == offboarding && strings.Contains(cardOf(c), "HR batch**: 2 offboardings")
	})
	for _, name := range []string{"Erin Employee", "Carl Contractor"} {
		e.waitCall(name+"'s status card", func(c teamstest.Call) bool {
			return c.Op == "send" && c.ConversationID == offboarding && strings.Contains(cardOf(c), "Offboarding · "+name)
		})
	}
	var statusCards, summaries int
	for _, c := range e.fake.Calls() {
		switch {
		case c.Op != "send" || c.ConversationID != offboarding:
		case strings.Contains(cardOf(c), "Offboarding · "):
			statusCards++
		case strings.Contains(cardOf(c), "HR batch"):
			summaries++
		}
	}
	if statusCards != 2 || summaries != 1 {
		t.Fatalf("%d status cards and %d batch summaries posted, want 2 and 1", statusCards, summaries)
	}
	if n := e.kit.Count(t, &store.ChatMessage{}, "platform = ? AND kind = ?", teamsapp.Platform, "batch"); n != 2 {
		t.Fatalf("%d batch refs, want 2", n)
	}
}
