package slackapp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/bot/slackbot/slacktest"
	"github.com/kineticsec/kinetic/store"
)

func offboardValues(person, reason, day string, extra map[string]any) map[string]any {
	v := map[string]any{
		"person":   map[string]any{"value": map[string]any{"type": "users_select", "selected_user": person}},
		"reason":   map[string]any{"value": map[string]any{"type": "static_select", "selected_option": map[string]any{"value": reason}}},
		"last_day": map[string]any{"value": map[string]any{"type": "datepicker", "selected_date": day}},
	}
	for k, x := range extra {
		v[k] = x
	}
	return v
}

// TestModalLegalHoldApprovedByApproversChangesPlan: /offboard with no text
// opens the modal; the submission with a legal hold and a note opens the
// case with the exception, whose card is DMed to both legal approvers once
// the requester confirms the plan, with the note and names; their Approve
// clicks apply it (preserve_mailbox added, delete_mailbox released) and
// every card is updated without buttons. The approver's Home tab lists it
// while it waits.
func TestModalLegalHoldApprovedByApproversChangesPlan(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	code, resp := e.command("UHAL", "")
	if code != http.StatusOK || resp != nil {
		t.Fatalf("empty command answered %d %v; want an empty 200", code, resp)
	}
	open := e.fake.WaitFor(t, "views.open", nil, wait)
	if open.Params.Get("trigger_id") != "trig-UHAL" || !strings.Contains(open.Params.Get("view"), blocks.ModalOffboard) {
		t.Fatalf("views.open: %v", open.Params)
	}

	tomorrow := time.Now().In(mustZone(t, "America/New_York")).AddDate(0, 0, 2).Format("2006-01-02")
	const note = "Litigation 24-113 is pending: keep everything"
	w := e.interact(submission("UHAL", blocks.ModalOffboard, "", offboardValues("UERIN", blocks.ReasonVoluntary, tomorrow, map[string]any{
		"legal_hold": map[string]any{"value": map[string]any{"type": "checkboxes", "selected_options": []any{map[string]any{"value": "legal_hold"}}}},
		"notes":      map[string]any{"value": map[string]any{"type": "plain_text_input", "value": note}},
	})))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"clear"`) {
		t.Fatalf("submission answered %d %s", w.Code, w.Body)
	}
	preview := e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool { return c.Channel == "DUHAL" && has(c, blocks.ActionConfirmPlan) }, wait)
	c, err := e.kit.Store.OpenCaseFor(ctx, "E1")
	if err != nil {
		t.Fatal(err)
	}
	// The approval cards go out once the requester confirms the plan.
	e.interact(click("UHAL", "DUHAL", preview.TS, blocks.ActionConfirmPlan, blocks.CaseValue(c.ID)))
	aps, err := e.kit.Engine.Approvals(ctx, store.ApprovalPending, "", c.ID)
	if err != nil || len(aps) != 1 || aps[0].Kind != "legal_hold" {
		t.Fatalf("approvals: %v %+v", err, aps)
	}
	ap := aps[0]
	cards := map[string]slacktest.Call{}
	for _, u := range []string{"ULEE", "ULOU"} {
		cards[u] = e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool {
			return c.Channel == "D"+u && has(c, blocks.ActionApprove) && has(c, blocks.ApprovalValue(ap.ID))
		}, wait)
		// The card speaks in names (with HR ids) and carries the
		// requester's note from the form.
		for _, want := range []string{note, "Hal HR (H1)", "May decide now: Lee Legal (L1), Lou Legal (L2)", "Erin Employee"} {
			if !has(cards[u], want) {
				t.Errorf("%s's card lacks %q: %s", u, want, cards[u].Blocks)
			}
		}
	}

	// The approver's Home tab shows the approval waiting on them.
	ev := map[string]any{"type": "event_callback", "team_id": slacktest.TeamID, "api_app_id": slacktest.AppID, "event_id": "Ev1", "event_time": time.Now().Unix(),
		"event": map[string]any{"type": "app_home_opened", "user": "ULEE", "channel": "DULEE", "tab": "home"}}
	b, _ := json.Marshal(ev)
	if w := e.post("/slack/events", string(b), signingSecret); w.Code != http.StatusOK {
		t.Fatalf("event answered %d", w.Code)
	}
	e.fake.WaitFor(t, "views.publish", func(c slacktest.Call) bool {
		return c.Params.Get("user_id") == "ULEE" && strings.Contains(c.Params.Get("view"), blocks.ApprovalValue(ap.ID))
	}, wait)

	// The requester can't decide their own exception.
	e.interact(click("UHAL", "DUHAL", "1", blocks.ActionApprove, blocks.ApprovalValue(ap.ID)))
	e.fake.WaitFor(t, "chat.postEphemeral", func(c slacktest.Call) bool {
		return c.Params.Get("user") == "UHAL" && strings.Contains(c.Text, "refused")
	}, wait)

	for _, u := range []string{"ULEE", "ULOU"} {
		if w := e.interact(click(u, "D"+u, cards[u].TS, blocks.ActionApprove, blocks.ApprovalValue(ap.ID))); w.Code != http.StatusOK {
			t.Fatalf("approve answered %d", w.Code)
		}
	}
	for _, u := range []string{"ULEE", "ULOU"} {
		e.fake.WaitFor(t, "chat.update", func(c slacktest.Call) bool {
			return c.Channel == "D"+u && c.TS == cards[u].TS && !has(c, blocks.ActionApprove)
		}, wait)
	}
	got, err := e.kit.Store.CaseWithActions(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]store.Action{}
	for _, a := range got.Actions {
		byName[a.Name] = a
	}
	if _, ok := byName["preserve_mailbox"]; !ok {
		t.Fatalf("approved legal hold did not add preserve_mailbox: %v", byName)
	}
	// A legal hold keeps the destroying action held until it is released.
	if d := byName["delete_mailbox"]; d.Status != store.ActionHeld || !strings.Contains(d.BlockedReason, "legal hold") {
		t.Fatalf("delete_mailbox after the hold was approved: %s %q", d.Status, d.BlockedReason)
	}
	if ap, _ := e.kit.Engine.Approval(ctx, ap.ID); ap.Status != store.ApprovalApproved {
		t.Fatalf("approval is %s", ap.Status)
	}
}

// TestDenyOpensReasonModalAndDecides: Deny opens the reason modal; an empty
// reason is a modal error; a reason denies the exception and the cards lose
// their buttons.
func TestDenyOpensReasonModalAndDecides(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	day := time.Now().In(mustZone(t, "America/New_York")).AddDate(0, 0, 3).Format("2006-01-02")
	w := e.interact(submission("UHAL", blocks.ModalOffboard, "", offboardValues("UERIN", blocks.ReasonVoluntary, day, map[string]any{
		"legal_hold": map[string]any{"value": map[string]any{"type": "checkboxes", "selected_options": []any{map[string]any{"value": "legal_hold"}}}},
	})))
	if w.Code != http.StatusOK {
		t.Fatalf("submission answered %d %s", w.Code, w.Body)
	}
	preview := e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool { return c.Channel == "DUHAL" && has(c, blocks.ActionConfirmPlan) }, wait)
	c, err := e.kit.Store.OpenCaseFor(ctx, "E1")
	if err != nil {
		t.Fatal(err)
	}
	e.interact(click("UHAL", "DUHAL", preview.TS, blocks.ActionConfirmPlan, blocks.CaseValue(c.ID)))
	card := e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool { return c.Channel == "DULEE" && has(c, blocks.ActionDeny) }, wait)
	aps, _ := e.kit.Engine.Approvals(ctx, store.ApprovalPending, "", c.ID)
	if len(aps) != 1 {
		t.Fatalf("approvals: %+v", aps)
	}
	id := aps[0].ID
	e.interact(click("ULEE", "DULEE", card.TS, blocks.ActionDeny, blocks.ApprovalValue(id)))
	modal := e.fake.WaitFor(t, "views.open", func(c slacktest.Call) bool {
		return c.Params.Get("trigger_id") == "trig-click-ULEE" && strings.Contains(c.Params.Get("view"), blocks.ModalDenyReason)
	}, wait)
	// The modal names the exception and the person, not an approval number.
	if v := modal.Params.Get("view"); !strings.Contains(v, "Erin Employee") || !strings.Contains(v, "legal hold") || strings.Contains(v, "approval "+strconv.FormatInt(id, 10)) {
		t.Errorf("deny modal: %s", v)
	}

	why := func(s string) map[string]any {
		return map[string]any{"why": map[string]any{"value": map[string]any{"type": "plain_text_input", "value": s}}}
	}
	w = e.interact(submission("ULEE", blocks.ModalDenyReason, blocks.ApprovalValue(id), why("")))
	if !strings.Contains(w.Body.String(), `"errors"`) || !strings.Contains(w.Body.String(), `"why"`) {
		t.Fatalf("empty reason answered %s", w.Body)
	}
	if ap, _ := e.kit.Engine.Approval(ctx, id); ap.Status != store.ApprovalPending {
		t.Fatalf("an invalid submission changed the approval: %s", ap.Status)
	}
	w = e.interact(submission("ULEE", blocks.ModalDenyReason, blocks.ApprovalValue(id), why("no litigation is pending")))
	if !strings.Contains(w.Body.String(), `"clear"`) {
		t.Fatalf("deny answered %s", w.Body)
	}
	if ap, _ := e.kit.Engine.Approval(ctx, id); ap.Status != store.ApprovalDenied {
		t.Fatalf("approval is %s, want denied", ap.Status)
	}
	e.fake.WaitFor(t, "chat.update", func(c slacktest.Call) bool {
		return c.Channel == "DULEE" && c.TS == card.TS && !has(c, blocks.ActionDeny)
	}, wait)
	// Denied: the action the exception held is released into the plan.
	got, _ := e.kit.Store.CaseWithActions(ctx, c.ID)
	for _, a := range got.Actions {
		if a.Name == "delete_mailbox" && a.Status == store.ActionHeld {
			t.Fatal("delete_mailbox is still held after the denial")
		}
		if a.Name == "preserve_mailbox" {
			t.Fatal("a denied legal hold added preserve_mailbox")
		}
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
