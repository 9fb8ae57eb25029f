package slackapp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	slackapp "github.com/kineticsec/kinetic/bot/slackapp"
	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/bot/slackbot/slacktest"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// reasonPolicy is the test approval policy with the legal step requiring a
// reason to approve, as configs/policy.example.yaml has it.
var reasonPolicy = strings.Replace(testkit.ApprovalPolicy,
	`{name: legal, approvers: ["group:legal"], mode: all, timeout: 72h}`,
	`{name: legal, approvers: ["group:legal"], mode: all, timeout: 72h, reason_required_on_approve: true}`, 1)

func why(s string) map[string]any {
	return map[string]any{"why": map[string]any{"value": map[string]any{"type": "plain_text_input", "value": s}}}
}

// homeClick is a block_actions payload from the Home tab: no channel, the
// container is the view.
func homeClick(user, actionID, value string) map[string]any {
	return map[string]any{
		"type": "block_actions", "user": map[string]any{"id": user}, "trigger_id": "trig-home-" + user,
		"container": map[string]any{"type": "view", "view_id": "VHOME" + user},
		"view":      map[string]any{"id": "VHOME" + user, "type": "home"},
		"actions":   []any{map[string]any{"type": "button", "action_id": actionID, "value": value, "block_id": "b"}},
	}
}

// openHome sends app_home_opened for user and returns the published view.
func (e *env) openHome(user, mustHave string) slacktest.Call {
	e.t.Helper()
	ev := map[string]any{"type": "event_callback", "team_id": slacktest.TeamID, "api_app_id": slacktest.AppID, "event_id": "EvHome" + user, "event_time": time.Now().Unix(),
		"event": map[string]any{"type": "app_home_opened", "user": user, "channel": "D" + user, "tab": "home"}}
	b, _ := json.Marshal(ev)
	if w := e.post("/slack/events", string(b), signingSecret); w.Code != http.StatusOK {
		e.t.Fatalf("event answered %d", w.Code)
	}
	return e.fake.WaitFor(e.t, "views.publish", func(c slacktest.Call) bool {
		return c.Params.Get("user_id") == user && strings.Contains(c.Params.Get("view"), mustHave)
	}, wait)
}

// openCase opens a case through the engine as a Slack front end would.
func (e *env) openCase(r engine.Request) *store.Case {
	e.t.Helper()
	if r.Trigger == "" {
		r.Trigger = store.TriggerSlack
	}
	o, err := e.kit.Engine.Open(context.Background(), r)
	if err != nil {
		e.t.Fatal(err)
	}
	return o.Case
}

// barrier opens an involuntary case for employee id (name) and waits for
// its status card: the notifier handles events in order, so every event
// before it has been handled once the card is posted. Each barrier needs
// an employee of its own.
func (e *env) barrier(id, name string) {
	e.t.Helper()
	e.openCase(engine.Request{EmployeeID: id, Requester: "H1", Involuntary: true, Reason: "barrier"})
	e.fake.WaitFor(e.t, "chat.postMessage", func(call slacktest.Call) bool {
		return call.Channel == offboarding && strings.Contains(call.Text, name)
	}, wait)
}

// liveApprovalPosts are the approval cards with live buttons posted so far.
func (e *env) liveApprovalPosts(approvalID int64) []slacktest.Call {
	var out []slacktest.Call
	for _, c := range e.fake.Calls("chat.postMessage") {
		if has(c, blocks.ActionApprove) && has(c, blocks.ApprovalValue(approvalID)) {
			out = append(out, c)
		}
	}
	return out
}

func pendingApproval(t *testing.T, e *env, caseID int64) engine.ApprovalView {
	t.Helper()
	aps, err := e.kit.Engine.Approvals(context.Background(), store.ApprovalPending, "", caseID)
	if err != nil || len(aps) != 1 {
		t.Fatalf("pending approvals of case %d: %v %+v", caseID, err, aps)
	}
	return aps[0]
}

// approveWithReason clicks Approve on a card (or the Home tab) where the
// step needs a reason: the reason modal opens, naming the person; an empty
// reason stays in the form; a reason decides.
func approveWithReason(t *testing.T, e *env, payload map[string]any, user string, approvalID int64, reason string) {
	t.Helper()
	trigger := payload["trigger_id"].(string)
	if w := e.interact(payload); w.Code != http.StatusOK {
		t.Fatalf("approve click answered %d", w.Code)
	}
	m := e.fake.WaitFor(t, "views.open", func(c slacktest.Call) bool {
		return c.Params.Get("trigger_id") == trigger && strings.Contains(c.Params.Get("view"), blocks.ModalApproveReason) &&
			strings.Contains(c.Params.Get("view"), blocks.ApprovalValue(approvalID))
	}, wait)
	if v := m.Params.Get("view"); !strings.Contains(v, "Erin Employee") || !strings.Contains(v, "legal hold") {
		t.Errorf("approve modal doesn't name the person and the exception: %s", v)
	}
	w := e.interact(submission(user, blocks.ModalApproveReason, blocks.ApprovalValue(approvalID), why("")))
	if !strings.Contains(w.Body.String(), `"errors"`) {
		t.Fatalf("empty reason answered %s", w.Body)
	}
	w = e.interact(submission(user, blocks.ModalApproveReason, blocks.ApprovalValue(approvalID), why(reason)))
	if !strings.Contains(w.Body.String(), `"clear"`) {
		t.Fatalf("approve with a reason answered %s", w.Body)
	}
}

// TestLegalHoldApprovedWithReasonFromSlackCaseCloses is issue 14's item 2:
// the legal step requires a reason to approve. Approve on the DM card and
// on the Home tab opens a reason modal; a refusal (the requester) shows in
// the modal; with reasons the hold is approved, the mailbox preserved; the
// release, approved the same way, lets the case close.
func TestLegalHoldApprovedWithReasonFromSlackCaseCloses(t *testing.T) {
	e := newEnvKit(t, func(o *testkit.Options, _ *slackapp.App) { o.Policy = reasonPolicy })
	ctx := context.Background()
	c := e.openCase(engine.Request{EmployeeID: "E1", Requester: "H1", Reason: "resigned", AwaitConfirmation: true,
		Exceptions: []engine.ExceptionRequest{{Kind: "legal_hold", Via: "slack", Reason: "Litigation 24-113 is pending"}}})
	if w := e.interact(click("UHAL", "DUHAL", "1", blocks.ActionConfirmPlan, blocks.CaseValue(c.ID))); w.Code != http.StatusOK {
		t.Fatalf("confirm answered %d", w.Code)
	}
	hold := pendingApproval(t, e, c.ID)
	if !hold.ReasonRequired {
		t.Fatal("the approval view does not say the legal step needs a reason")
	}
	card := e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool {
		return c.Channel == "DULEE" && has(c, blocks.ActionApprove) && has(c, blocks.ApprovalValue(hold.ID))
	}, wait)
	if !has(card, "Approve…") {
		t.Errorf("the card's Approve doesn't say it asks for a reason: %s", card.Blocks)
	}

	// From the DM card.
	approveWithReason(t, e, click("ULEE", "DULEE", card.TS, blocks.ActionApprove, blocks.ApprovalValue(hold.ID)), "ULEE", hold.ID, "counsel confirmed the hold")
	// From the Home tab.
	e.openHome("ULOU", blocks.ApprovalValue(hold.ID))
	approveWithReason(t, e, homeClick("ULOU", blocks.ActionApprove, blocks.ApprovalValue(hold.ID)), "ULOU", hold.ID, "hold per litigation 24-113")
	v, err := e.kit.Engine.Approval(ctx, hold.ID)
	if err != nil || v.Status != store.ApprovalApproved {
		t.Fatalf("hold after both approvals: %v %+v", err, v)
	}
	for _, d := range v.Decisions {
		if d.Reason == "" || d.Via != "slack" {
			t.Errorf("decision without its reason: %+v", d)
		}
	}
	e.fake.WaitFor(t, "chat.update", func(u slacktest.Call) bool {
		return u.Channel == "DULEE" && u.TS == card.TS && !has(u, blocks.ActionApprove) && has(u, "Approved")
	}, wait)
	// The Home tab that offered it is republished without it.
	e.fake.WaitFor(t, "views.publish", func(c slacktest.Call) bool {
		return c.Params.Get("user_id") == "ULOU" && !strings.Contains(c.Params.Get("view"), blocks.ApprovalValue(hold.ID))
	}, wait)

	// The approved hold is the mailbox's disposition: the case closes, the
	// deletion held (it never ran), and the closing reply says the mailbox
	// is preserved under the hold rather than deleted.
	closed := e.kit.WaitClosed(t, c.ID, 30*time.Second)
	if closed.Status != store.CaseCompletedWithExceptions || !strings.Contains(closed.Summary, fmt.Sprintf("preserved under legal hold %d until released", hold.ID)) {
		t.Fatalf("case under the approved hold: %s\n%s\n%s", closed.Status, closed.Summary, engine.Summary(closed))
	}
	for _, a := range closed.Actions {
		if a.Name == "delete_mailbox" && a.Status != store.ActionHeld {
			t.Fatalf("delete_mailbox is %s under the approved hold, want held", a.Status)
		}
	}
	parent := e.fake.WaitFor(t, "chat.postMessage", func(p slacktest.Call) bool {
		return p.Channel == offboarding && p.ThreadTS == "" && strings.HasPrefix(p.Text, "Offboarding Erin")
	}, wait)
	e.fake.WaitFor(t, "chat.postMessage", func(r slacktest.Call) bool {
		return r.ThreadTS == parent.TS && has(r, "completed with exceptions") && has(r, "Not run: preserved under legal hold until released") &&
			has(r, "delete_mailbox") && has(r, fmt.Sprintf("preserved under legal hold %d until released", hold.ID))
	}, wait)
	e.fake.WaitFor(t, "chat.update", func(u slacktest.Call) bool {
		return u.Channel == offboarding && u.TS == parent.TS && has(u, "Completed with exceptions") &&
			has(u, "*delete_mailbox* · m365") &&
			has(u, fmt.Sprintf("— preserved under legal hold %d until released", hold.ID))
	}, wait)

	// The release goes through the same chain, with reasons, from Slack.
	rel, err := e.kit.Engine.RequestRelease(ctx, hold.ID, "H1", "litigation settled")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"ULEE", "ULOU"} {
		rc := e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool {
			return c.Channel == "D"+u && has(c, blocks.ActionApprove) && has(c, blocks.ApprovalValue(rel.ID))
		}, wait)
		// A refusal comes back in the modal, which keeps the form: the
		// requester may not decide their own release.
		if u == "ULEE" {
			w := e.interact(submission("UHAL", blocks.ModalApproveReason, blocks.ApprovalValue(rel.ID), why("I say so")))
			if !strings.Contains(w.Body.String(), `"errors"`) || !strings.Contains(w.Body.String(), "refused") {
				t.Fatalf("the requester's approval answered %s", w.Body)
			}
		}
		approveWithReason(t, e, click(u, "D"+u, rc.TS, blocks.ActionApprove, blocks.ApprovalValue(rel.ID)), u, rel.ID, "the case is settled")
	}
	// The approved release reopened the case; the deletion ran and it
	// closed again, completed.
	testkit.Eventually(t, 30*time.Second, func() bool {
		got, err := e.kit.Store.CaseWithActions(ctx, c.ID)
		return err == nil && got.Status == store.CaseCompleted
	}, func() string {
		got, _ := e.kit.Store.CaseWithActions(ctx, c.ID)
		return fmt.Sprintf("case after the hold was released:\n%s", engine.Summary(got))
	})
	e.fake.WaitFor(t, "chat.postMessage", func(r slacktest.Call) bool {
		return r.ThreadTS == parent.TS && has(r, "Offboarding of") && has(r, "completed*") && !has(r, "Not run")
	}, wait)
}

// TestApprovalCardsWaitForConfirmationAndGoWithTheCancelledPlan is issue
// 14's item 6: no approval card while the plan awaits its requester; a plan
// cancelled before confirmation leaves none behind; a confirmed plan's
// cards go out, and lose their buttons when the case is cancelled.
func TestApprovalCardsWaitForConfirmationAndGoWithTheCancelledPlan(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	legal := []engine.ExceptionRequest{{Kind: "legal_hold", Via: "slack", Reason: "Litigation 24-113 is pending"}}

	// Cancelled before confirmation: never a card.
	c := e.openCase(engine.Request{EmployeeID: "E1", Requester: "H1", Reason: "resigned", AwaitConfirmation: true, Exceptions: legal})
	first := pendingApproval(t, e, c.ID)
	e.barrier("E2", "Carl Contractor")
	if got := e.liveApprovalPosts(first.ID); len(got) != 0 {
		t.Fatalf("approval cards before the plan was confirmed: %v", got)
	}
	e.openHome("ULEE", "Waiting for your decision")
	if home := e.fake.Calls("views.publish"); strings.Contains(home[len(home)-1].Params.Get("view"), blocks.ApprovalValue(first.ID)) {
		t.Error("the Home tab offers an approval whose plan is not confirmed")
	}
	if w := e.interact(click("UHAL", "DUHAL", "1", blocks.ActionCancelPlan, blocks.CaseValue(c.ID))); w.Code != http.StatusOK {
		t.Fatalf("cancel answered %d", w.Code)
	}
	testkit.Eventually(t, wait, func() bool {
		v, err := e.kit.Engine.Approval(ctx, first.ID)
		return err == nil && v.Status == store.ApprovalCancelled
	}, func() string { return "the approval of the cancelled plan is not cancelled" })
	e.barrier("E4", "Tess Cleared")
	if got := e.liveApprovalPosts(first.ID); len(got) != 0 {
		t.Fatalf("a cancelled plan left approval cards: %v", got)
	}

	// Confirmed, then cancelled: the cards go out, then say cancelled.
	c = e.openCase(engine.Request{EmployeeID: "E1", Requester: "H1", Reason: "resigned", AwaitConfirmation: true,
		EffectiveAt: time.Now().Add(72 * time.Hour), Exceptions: legal})
	ap := pendingApproval(t, e, c.ID)
	if w := e.interact(click("UHAL", "DUHAL", "2", blocks.ActionConfirmPlan, blocks.CaseValue(c.ID))); w.Code != http.StatusOK {
		t.Fatalf("confirm answered %d", w.Code)
	}
	testkit.Eventually(t, wait, func() bool {
		got, err := e.kit.Store.Case(ctx, c.ID)
		return err == nil && got.Status == store.CaseScheduled
	}, func() string { return fmt.Sprintf("case not confirmed: %v", e.fake.Calls("chat.postEphemeral")) })
	cards := map[string]slacktest.Call{}
	for _, u := range []string{"ULEE", "ULOU"} {
		cards[u] = e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool {
			return c.Channel == "D"+u && has(c, blocks.ActionApprove) && has(c, blocks.ApprovalValue(ap.ID))
		}, wait)
	}
	if err := e.kit.Engine.CancelCase(ctx, engine.CancelRequest{CaseID: c.ID, By: "H1", Reason: "rehired"}); err != nil {
		t.Fatal(err)
	}
	for u, card := range cards {
		e.fake.WaitFor(t, "chat.update", func(c slacktest.Call) bool {
			return c.Channel == "D"+u && c.TS == card.TS && !has(c, blocks.ActionApprove) && has(c, "Cancelled")
		}, wait)
	}
}

// TestChainEarlierCardsLoseButtons is issue 14's item 6 for a chain: when
// the manager step is decided, the manager's card loses its buttons and
// says whom the chain waits on (by name); the HR step's approvers get
// cards; when that step is decided every card is settled.
func TestChainEarlierCardsLoseButtons(t *testing.T) {
	e := newEnvKit(t, func(o *testkit.Options, _ *slackapp.App) {
		o.ApproverGroups = "{hr: [H1, H2], legal: [L1, L2], security: [S1]}"
	})
	ctx := context.Background()
	c := e.openCase(engine.Request{EmployeeID: "E1", Requester: "A1", Reason: "resigned", EffectiveAt: time.Now().Add(72 * time.Hour),
		Exceptions: []engine.ExceptionRequest{{Kind: "email_forwarding", ForwardTo: "team@example.test", Days: 10, Via: "slack", Reason: "customers still write to Erin"}}})
	ap := pendingApproval(t, e, c.ID)
	mgr := e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool {
		return c.Channel == "DUMIA" && has(c, blocks.ActionApprove) && has(c, blocks.ApprovalValue(ap.ID))
	}, wait)
	if !has(mgr, "Ada Admin (A1)") || !has(mgr, "customers still write to Erin") {
		t.Errorf("manager's card lacks the requester's name or note: %s", mgr.Blocks)
	}
	// The chain's roles are the people they stand for: the manager step is
	// Mia's, the HR partner of the hr step Hal.
	if !has(mgr, "any of Mia Manager (M1)") || !has(mgr, "any of Hal HR (H1), group hr") || has(mgr, "any of manager") {
		t.Errorf("the chain names roles, not people: %s", mgr.Blocks)
	}
	e.interact(click("UMIA", "DUMIA", mgr.TS, blocks.ActionApprove, blocks.ApprovalValue(ap.ID)))
	e.fake.WaitFor(t, "chat.update", func(c slacktest.Call) bool {
		return c.Channel == "DUMIA" && c.TS == mgr.TS && !has(c, blocks.ActionApprove) && !has(c, blocks.ActionDeny) &&
			has(c, "Waiting on step 2") && has(c, "Hana HR (H2)")
	}, wait)
	hr := map[string]slacktest.Call{}
	for _, u := range []string{"UHAL", "UHANA"} {
		hr[u] = e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool {
			return c.Channel == "D"+u && has(c, blocks.ActionApprove) && has(c, blocks.ApprovalValue(ap.ID))
		}, wait)
	}
	// The manager's stale click (from before the update reached them) is
	// refused, nothing changes.
	stale := click("UMIA", "DUMIA", mgr.TS, blocks.ActionApprove, blocks.ApprovalValue(ap.ID))
	stale["trigger_id"] = "trig-click-UMIA-2"
	e.interact(stale)
	e.fake.WaitFor(t, "chat.postEphemeral", func(c slacktest.Call) bool { return c.Params.Get("user") == "UMIA" }, wait)

	e.interact(click("UHANA", "DUHANA", hr["UHANA"].TS, blocks.ActionApprove, blocks.ApprovalValue(ap.ID)))
	testkit.Eventually(t, wait, func() bool {
		v, err := e.kit.Engine.Approval(ctx, ap.ID)
		return err == nil && v.Status == store.ApprovalApproved
	}, func() string { return "forwarding not approved" })
	for ch, ts := range map[string]string{"DUMIA": mgr.TS, "DUHAL": hr["UHAL"].TS, "DUHANA": hr["UHANA"].TS} {
		e.fake.WaitFor(t, "chat.update", func(c slacktest.Call) bool {
			return c.Channel == ch && c.TS == ts && !has(c, blocks.ActionApprove) && has(c, "Approved") && has(c, "Hana HR (H2)")
		}, wait)
	}
	// No approval card was updated to what it already said.
	last := map[string]string{}
	mine := map[string]bool{"DUMIA " + mgr.TS: true, "DUHAL " + hr["UHAL"].TS: true, "DUHANA " + hr["UHANA"].TS: true}
	for _, u := range e.fake.Calls("chat.update") {
		k, content := u.Channel+" "+u.TS, u.Text+string(u.Blocks)
		if !mine[k] {
			continue
		}
		if last[k] == content {
			t.Errorf("chat.update repeated the content of %s: %.200s", k, content)
		}
		last[k] = content
	}
}
