package teamsapp_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/bot/teams/cards"
	"github.com/kineticsec/kinetic/bot/teams/connector"
	"github.com/kineticsec/kinetic/bot/teams/teamstest"
	"github.com/kineticsec/kinetic/bot/teamsapp"
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
