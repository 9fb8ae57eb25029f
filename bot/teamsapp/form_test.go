package teamsapp_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/bot/teams/cards"
	"github.com/kineticsec/kinetic/bot/teams/connector"
	"github.com/kineticsec/kinetic/bot/teams/teamstest"
	"github.com/kineticsec/kinetic/bot/teamsapp"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// TestOffboardFormRoundTrip: "offboard" with no person (and an empty
// message) answers with the form; a submission forwarding to gmail.com is
// refused inline, the form kept with the answers and the error under the
// address, and nothing opened; the corrected form opens the case, answers
// "planning…", and the plan preview arrives in the requester's 1:1.
func TestOffboardFormRoundTrip(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, text := range []string{"offboard", "<at>Kinetic</at>"} {
		msg := e.message(mia, text, nil)
		if text != "offboard" {
			msg.Entities = append(msg.Entities, connectorMention(msg))
		}
		if w := e.post(msg, e.token()); w.Code != http.StatusOK {
			t.Fatalf("%q answered %d: %s", text, w.Code, w.Body)
		}
		e.waitCall("the offboard form for "+text, func(c teamstest.Call) bool {
			return c.ConversationID == msg.Conversation.ID && c.Activity != nil && c.Activity.ReplyToID == msg.ID &&
				strings.Contains(cardOf(c), cards.VerbSubmitOffboard)
		})
	}

	lastDay := time.Now().AddDate(0, 0, 7).Format("2006-01-02")
	form := map[string]any{
		blocks.FieldPerson: erin, blocks.FieldLastDay: lastDay, blocks.FieldLastTime: "17:00",
		blocks.FieldReason: blocks.ReasonVoluntary, blocks.FieldForwardEmail: "someone@gmail.com", blocks.FieldForwardDays: "7",
		blocks.FieldLegalHold: false,
	}
	typ, text, card := e.answer(e.invoke(mia, cards.VerbSubmitOffboard, form))
	if typ != teamsapp.TypeCardResponse {
		t.Fatalf("the refused form answered %s %q", typ, text)
	}
	for _, want := range []string{cards.VerbSubmitOffboard, "someone@gmail.com", erin, lastDay, "not allowed"} {
		if !strings.Contains(card, want) {
			t.Errorf("the refused form lacks %q: %s", want, card)
		}
	}
	if _, err := e.kit.Store.OpenCaseFor(ctx, "E1"); err == nil {
		t.Fatal("a refused form opened a case")
	}

	form[blocks.FieldForwardEmail] = "erin.desk@example.test"
	typ, text, card = e.answer(e.invoke(mia, cards.VerbSubmitOffboard, form))
	if typ != teamsapp.TypeCardResponse || !strings.Contains(card, "Planning the offboarding of **Erin Employee**") || strings.Contains(card, cards.VerbSubmitOffboard) {
		t.Fatalf("the accepted form answered %s %q %s", typ, text, card)
	}
	e.waitCall("plan preview in Mia's 1:1", func(c teamstest.Call) bool {
		return c.Op == "send" && c.ConversationID == "a:29:"+mia && strings.Contains(cardOf(c), cards.VerbConfirmPlan)
	})
	c, err := e.kit.Store.OpenCaseFor(ctx, "E1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != store.CaseAwaitingConfirmation || c.Requester != "M1" || c.Trigger != store.TriggerTeams {
		t.Fatalf("case: %+v", c)
	}

	// A second submission for the same person is refused at the person.
	if typ, _, card := e.answer(e.invoke(mia, cards.VerbSubmitOffboard, form)); typ != teamsapp.TypeCardResponse || !strings.Contains(card, "already in progress") {
		t.Fatalf("a second form answered %s %s", typ, card)
	}
}

// connectorMention is msg's @mention of the bot.
func connectorMention(msg *connector.Activity) connector.Entity {
	return connector.Entity{Type: "mention", Mentioned: msg.Recipient, Text: "<at>Kinetic</at>"}
}

// actionPolicy makes the mailbox conversion skippable and the badge a
// manual step.
var actionPolicy = strings.NewReplacer(
	"convert_mailbox: {connector: m365, operation: convert_mailbox, phase: entitlements}",
	"convert_mailbox: {connector: m365, operation: convert_mailbox, phase: entitlements, skippable: true}",
	"deactivate_badge: {connector: badge, operation: deactivate_badge, phase: entitlements}",
	"deactivate_badge: {connector: badge, operation: deactivate_badge, phase: entitlements, manual: true}").Replace(testkit.ApprovalPolicy)

// TestActionButtonsAnswerWithTheRefreshedCard: Retry, Escalate now, Skip
// (with its reason card) and Mark done answer with the action's card as
// it is after the engine's change, and change the engine's state; a click
// by someone the engine refuses is told so, alone, and changes nothing.
func TestActionButtonsAnswerWithTheRefreshedCard(t *testing.T) {
	e := newEnvPolicy(t, actionPolicy)
	ctx := context.Background()
	e.kit.RefuseNext("m365", "erin@example.test", 100)
	o, err := e.kit.Engine.Open(ctx, engine.Request{EmployeeID: "E1", Requester: "H1", Trigger: store.TriggerTeams, Reason: "t"})
	if err != nil {
		t.Fatal(err)
	}
	action := func(name string) store.Action {
		var a store.Action
		if err := e.kit.Store.TestDB().Where("case_id = ? AND name = ?", o.Case.ID, name).First(&a).Error; err != nil {
			t.Fatal(err)
		}
		return a
	}
	waitOne(t, e, &store.Action{}, "case_id = ? AND name = ? AND status = ?", o.Case.ID, "convert_mailbox", store.ActionFailed)
	waitOne(t, e, &store.Action{}, "case_id = ? AND name = ? AND status = ?", o.Case.ID, "deactivate_badge", store.ActionPending)
	mailbox, badge := action("convert_mailbox"), action("deactivate_badge")
	data := func(id int64) map[string]any { return map[string]any{"kineticId": blocks.ActionValue(id)} }

	// Refused: Carl, a contractor, may not retry anyone's actions.
	if typ, text, _ := e.answer(e.invoke(carl, cards.VerbRetry, data(mailbox.ID))); typ != teamsapp.TypeMessageResponse || !strings.Contains(text, "Nothing was changed") && !strings.Contains(text, "refused") {
		t.Fatalf("Carl's retry: %s %q", typ, text)
	}
	if a := action("convert_mailbox"); a.Status != store.ActionFailed || a.Attempts != mailbox.Attempts {
		t.Fatalf("a refused retry changed the action: %s, %d attempts", a.Status, a.Attempts)
	}

	// Retry: the action's card comes back; the action runs (and fails) again.
	typ, text, card := e.answer(e.invoke(hal, cards.VerbRetry, data(mailbox.ID)))
	if typ != teamsapp.TypeCardResponse || !strings.Contains(card, fmt.Sprintf("action %d ", mailbox.ID)) {
		t.Fatalf("retry answered %s %q %s", typ, text, card)
	}
	waitOne(t, e, &store.Action{}, "id = ? AND status = ?", mailbox.ID, store.ActionFailed) // failed before the retry, so failed again

	// Escalate now: still failed, so the buttons stay; level 1 recorded.
	typ, text, card = e.answer(e.invoke(hal, cards.VerbEscalate, data(mailbox.ID)))
	if typ != teamsapp.TypeCardResponse || !strings.Contains(card, cards.VerbRetry) || !strings.Contains(card, blocks.ActionValue(mailbox.ID)) {
		t.Fatalf("escalate answered %s %q %s", typ, text, card)
	}
	waitOne(t, e, &store.Escalation{}, "action_id = ? AND level = ?", mailbox.ID, 1)

	// Skip: first the reason card, then the skipped action's card.
	typ, _, card = e.answer(e.invoke(hal, cards.VerbSkip, data(mailbox.ID)))
	if typ != teamsapp.TypeCardResponse || !strings.Contains(card, "Why skip") {
		t.Fatalf("skip without a reason answered %s %s", typ, card)
	}
	withReason := data(mailbox.ID)
	for id := range reasonInputs() {
		withReason[id] = "mailbox already archived by hand"
	}
	typ, text, card = e.answer(e.invoke(hal, cards.VerbSkip, withReason))
	if typ != teamsapp.TypeCardResponse || strings.Contains(card, cards.VerbRetry) || !strings.Contains(card, store.ActionSkipped) {
		t.Fatalf("skip answered %s %q %s", typ, text, card)
	}
	if a := action("convert_mailbox"); a.Status != store.ActionSkipped {
		t.Fatalf("after the skip the action is %s", a.Status)
	}

	// Mark done on a badge taken back by hand asks who collected or
	// disabled it, as Slack's form does; an empty answer is refused (the
	// form again, nothing changed); then the manual step's card says it
	// is done, without buttons, and the answer is on the record.
	typ, text, card = e.answer(e.invoke(hal, cards.VerbMarkDone, data(badge.ID)))
	if typ != teamsapp.TypeCardResponse || !strings.Contains(card, "Who collected or disabled it?") || !strings.Contains(card, cards.VerbMarkDoneWho) {
		t.Fatalf("mark done on a badge step answered %s %q %s; want the who-collected form", typ, text, card)
	}
	if a := action("deactivate_badge"); store.ActionFinal(a.Status) {
		t.Fatalf("asking who collected the badge already closed the step: %s", a.Status)
	}
	empty := data(badge.ID)
	for id := range reasonInputs() {
		empty[id] = "   "
	}
	typ, text, card = e.answer(e.invoke(hal, cards.VerbMarkDoneWho, empty))
	if typ != teamsapp.TypeCardResponse || !strings.Contains(card, "Who collected or disabled it?") {
		t.Fatalf("an empty answer answered %s %q %s; want the form again", typ, text, card)
	}
	if a := action("deactivate_badge"); store.ActionFinal(a.Status) {
		t.Fatalf("an empty answer closed the step: %s", a.Status)
	}
	answered := data(badge.ID)
	for id := range reasonInputs() {
		answered[id] = "Dee at the front desk collected it"
	}
	typ, text, card = e.answer(e.invoke(hal, cards.VerbMarkDoneWho, answered))
	if typ != teamsapp.TypeCardResponse || strings.Contains(card, cards.VerbMarkDone) || !strings.Contains(card, "Manual step") {
		t.Fatalf("mark done answered %s %q %s", typ, text, card)
	}
	waitOne(t, e, &store.AuditEvent{}, "action_id = ? AND detail LIKE ?", badge.ID, "%collected or disabled by Dee at the front desk collected it%")
	if a := action("deactivate_badge"); store.ActionFinal(a.Status) == false || a.Status == store.ActionFailed {
		t.Fatalf("after mark done the badge is %s", a.Status)
	}
}

// waitOne waits for a row of model matching where, failing t without one.
func waitOne(t *testing.T, e *env, model any, where string, args ...any) {
	t.Helper()
	if n := e.kit.WaitCount(t, 1, wait, model, where, args...); n < 1 {
		t.Fatalf("no %T where %s %v", model, where, args)
	}
}
