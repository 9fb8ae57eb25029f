package slackapp_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	slackapp "github.com/kineticsec/kinetic/bot/slackapp"
	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/bot/slackbot/slacktest"
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// skipPolicy is the approval test policy with the badge step skippable
// and described.
var skipPolicy = strings.Replace(testkit.ApprovalPolicy,
	"deactivate_badge: {connector: badge, operation: deactivate_badge, phase: entitlements}",
	"deactivate_badge: {connector: badge, operation: deactivate_badge, phase: entitlements, skippable: true, description: Deactivate the building badge}", 1)

// noCalls fails t if any call of method matches pred.
func noCalls(t *testing.T, e *env, method string, pred func(slacktest.Call) bool, what string) {
	t.Helper()
	for _, c := range e.fake.Calls(method) {
		if pred(c) {
			t.Fatalf("%s: %s %+v", what, method, c.Params)
		}
	}
}

// TestSkipAFailedActionFromItsFailureReply (issue 14, item 3): a failed
// non-critical, skippable action's failure reply offers Skip…; a colleague
// who may not skip gets an ephemeral refusal and no form; HR gets the form,
// which names the action by the policy's description and the person, and
// the skip is accepted: the case closes with exceptions. A failed critical
// revocation's Skip (from an old reply) is refused without a form.
func TestSkipAFailedActionFromItsFailureReply(t *testing.T) {
	e := newEnvKit(t, func(o *testkit.Options, _ *slackapp.App) { o.Policy = skipPolicy })
	e.kit.Sandbox("badge").FailNext("erin@example.test", 100, connectors.KindForbidden, 0)

	if _, resp := e.command("UHAL", "<@UERIN> --now"); !strings.Contains(text(resp), "Starting") {
		t.Fatalf("answer %q", text(resp))
	}
	parent := e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool { return c.Channel == offboarding && c.ThreadTS == "" }, wait)
	reply := e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool {
		return c.ThreadTS == parent.TS && has(c, blocks.ActionSkip) && has(c, "deactivate_badge")
	}, wait)
	var badge store.Action
	if err := e.kit.Store.TestDB().Where("name = ? AND status = ?", "deactivate_badge", store.ActionFailed).First(&badge).Error; err != nil {
		t.Fatal(err)
	}
	if !has(reply, blocks.ActionValue(badge.ID)) {
		t.Fatalf("the reply's Skip is not the badge's: %s", reply.Blocks)
	}

	e.interact(click("UXAVI", offboarding, reply.TS, blocks.ActionSkip, blocks.ActionValue(badge.ID)))
	e.fake.WaitFor(t, "chat.postEphemeral", func(c slacktest.Call) bool {
		return c.Params.Get("user") == "UXAVI" && strings.Contains(c.Text, "refused")
	}, wait)
	noCalls(t, e, "views.open", func(c slacktest.Call) bool { return c.Params.Get("trigger_id") == "trig-click-UXAVI" }, "a form opened for someone who may not skip")

	e.interact(click("UHAL", offboarding, reply.TS, blocks.ActionSkip, blocks.ActionValue(badge.ID)))
	form := e.fake.WaitFor(t, "views.open", func(c slacktest.Call) bool { return c.Params.Get("trigger_id") == "trig-click-UHAL" }, wait)
	if v := form.Params.Get("view"); !strings.Contains(v, blocks.ModalSkipReason) || !strings.Contains(v, "Deactivate the building badge") || !strings.Contains(v, "Erin Employee") {
		t.Fatalf("skip form: %s", v)
	}
	w := e.interact(submission("UHAL", blocks.ModalSkipReason, blocks.ActionValue(badge.ID),
		map[string]any{"why": map[string]any{"value": map[string]any{"type": "plain_text_input", "value": "badge handed in at the desk"}}}))
	if strings.Contains(w.Body.String(), `"errors"`) {
		t.Fatalf("the skip was refused: %s", w.Body)
	}
	closed := e.kit.WaitClosed(t, badge.CaseID, 60*time.Second)
	if closed.Status != store.CaseCompletedWithExceptions {
		t.Fatalf("case closed as %s:\n%s", closed.Status, engine.Summary(closed))
	}
	e.fake.WaitFor(t, "chat.update", func(c slacktest.Call) bool { return c.TS == reply.TS && !has(c, blocks.ActionSkip) }, wait)

	// A critical revocation is never skipped: no Skip on its reply, and a
	// forged or stale click is refused without a form.
	e.kit.RefuseNext("ad", "carl@example.test", 2)
	if _, resp := e.command("UHAL", "<@UCARL> --now"); !strings.Contains(text(resp), "Starting") {
		t.Fatalf("answer %q", text(resp))
	}
	failed := e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool {
		return has(c, blocks.ActionRetry) && has(c, "disable_ad")
	}, wait)
	if has(failed, blocks.ActionSkip) {
		t.Fatalf("a critical revocation's failure reply offers Skip: %s", failed.Blocks)
	}
	var ad store.Action
	if err := e.kit.Store.TestDB().Where("name = ? AND status = ?", "disable_ad", store.ActionFailed).First(&ad).Error; err != nil {
		t.Fatal(err)
	}
	before := len(e.fake.Calls("views.open"))
	e.interact(click("UADA", offboarding, failed.TS, blocks.ActionSkip, blocks.ActionValue(ad.ID)))
	e.fake.WaitFor(t, "chat.postEphemeral", func(c slacktest.Call) bool {
		return c.Params.Get("user") == "UADA" && strings.Contains(c.Text, "never skipped")
	}, wait)
	if n := len(e.fake.Calls("views.open")); n != before {
		t.Fatalf("a form opened for a skip the engine refuses (%d views.open, was %d)", n, before)
	}
}

// TestOffboardModalRefusesInline (issue 14, item 5): every check that needs
// no connector answers the submission itself with errors next to the
// fields, keeping the form: forwarding to a domain the policy refuses, a
// requester who may not offboard the person, an open case, oneself.
// Nothing is opened and no DM arrives later.
func TestOffboardModalRefusesInline(t *testing.T) {
	e := newEnv(t)
	day := time.Now().AddDate(0, 0, 5).Format("2006-01-02")
	forward := func(addr string) map[string]any {
		return map[string]any{
			"forward_email": map[string]any{"value": map[string]any{"type": "email_text_input", "value": addr}},
			"forward_days":  map[string]any{"value": map[string]any{"type": "number_input", "value": "10"}},
		}
	}
	for _, tc := range []struct {
		name, user, person, block, want string
		extra                           map[string]any
	}{
		{"forwarding to gmail.com", "UMIA", "UERIN", "forward_email", "not allowed", forward("someone@gmail.com")},
		{"equipment back later than the policy allows", "UMIA", "UERIN", "equipment_by", "between 1 and 21", map[string]any{
			"equipment_by": map[string]any{"value": map[string]any{"type": "datepicker", "selected_date": time.Now().AddDate(0, 0, 60).Format("2006-01-02")}}}},
		{"a colleague", "UXAVI", "UERIN", "person", "may not offboard", nil},
		{"oneself", "UMIA", "UMIA", "person", "yourself", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := e.interact(submission(tc.user, blocks.ModalOffboard, "", offboardValues(tc.person, blocks.ReasonVoluntary, day, tc.extra)))
			body := w.Body.String()
			if w.Code != http.StatusOK || !strings.Contains(body, `"response_action":"errors"`) || !strings.Contains(body, `"`+tc.block+`"`) || !strings.Contains(body, tc.want) {
				t.Fatalf("answer %d %s; want an error on %s saying %q", w.Code, body, tc.block, tc.want)
			}
		})
	}
	// An open case is refused in the form too.
	if _, err := e.kit.Engine.Open(context.Background(), engine.Request{EmployeeID: "E2", Requester: "H1", Trigger: store.TriggerAPI, EffectiveAt: time.Now().Add(72 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	w := e.interact(submission("UMIA", blocks.ModalOffboard, "", offboardValues("UCARL", blocks.ReasonVoluntary, day, nil)))
	if !strings.Contains(w.Body.String(), `"person"`) || !strings.Contains(w.Body.String(), "already in progress") {
		t.Fatalf("open case: %s", w.Body)
	}
	// A valid form closes and opens the case.
	w = e.interact(submission("UMIA", blocks.ModalOffboard, "", offboardValues("UERIN", blocks.ReasonVoluntary, day, forward("erin.private@example.test"))))
	if strings.Contains(w.Body.String(), "errors") {
		t.Fatalf("a valid form was refused: %s", w.Body)
	}
	e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool { return c.Channel == "DUMIA" && has(c, blocks.ActionConfirmPlan) }, wait)
	e.shutdown()
	if n := e.kit.Count(t, &store.Case{}, ""); n != 2 {
		t.Fatalf("%d cases, want the API's and the valid form's", n)
	}
	noCalls(t, e, "chat.postMessage", func(c slacktest.Call) bool { return strings.Contains(c.Text, "did not open a case") }, "a refusal came later by DM")
}

// TestOpenCaseIsAuthorizedLikeStatus (issue 14, item 7): Open case on an
// alert shows a cleared employee's card only to people who may see the
// case (HR, the manager, the security officer); a colleague gets the same
// answer as /offboard status gives them.
func TestOpenCaseIsAuthorizedLikeStatus(t *testing.T) {
	e := newEnv(t)
	e.fake.AddUser("UTESS", "tess@example.test", "Tess Cleared")
	op, err := e.kit.Engine.Open(context.Background(), engine.Request{EmployeeID: "E4", Requester: "H1", Trigger: store.TriggerAPI, EffectiveAt: time.Now().Add(72 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	id := op.Case.ID
	if _, resp := e.command("UXAVI", "status <@UTESS>"); !strings.Contains(text(resp), "no offboarding") {
		t.Fatalf("status for a colleague: %q", text(resp))
	}
	for _, u := range []string{"UXAVI", "UTESS"} {
		e.interact(click(u, alerts, "1.1", blocks.ActionOpenCase, blocks.CaseValue(id)))
		got := e.fake.WaitFor(t, "chat.postEphemeral", func(c slacktest.Call) bool { return c.Params.Get("user") == u }, wait)
		if !strings.Contains(got.Text, "no offboarding you can see") || has(got, "Tess Cleared") {
			t.Fatalf("%s clicking Open case got %q %s", u, got.Text, got.Blocks)
		}
	}
	for _, u := range []string{"UHAL", "UMIA", "USAM"} {
		e.interact(click(u, alerts, "1.1", blocks.ActionOpenCase, blocks.CaseValue(id)))
		e.fake.WaitFor(t, "chat.postEphemeral", func(c slacktest.Call) bool {
			return c.Params.Get("user") == u && strings.Contains(c.Text, "Tess Cleared")
		}, wait)
	}
}

// TestCommandRefusesAtOnce (issue 14, items 8 and 11): what the directory
// and the database can refuse is refused in the command's answer, never
// after "Planning…"; a reason over the limit says what the limit is.
func TestCommandRefusesAtOnce(t *testing.T) {
	e := newEnv(t)
	e.fake.AddUser("UGONE", "gone@example.test", "Gone Person")
	if _, err := e.kit.Engine.Open(context.Background(), engine.Request{EmployeeID: "E2", Requester: "H1", Trigger: store.TriggerAPI, EffectiveAt: time.Now().Add(72 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ user, text, want string }{
		{"UXAVI", "<@UERIN>", "not allowed"},
		{"UXAVI", "<@UERIN> --now", "not allowed"},
		{"UMIA", "<@UMIA>", "themselves"},
		{"UMIA", "<@UGONE>", "not active"},
		{"UMIA", "<@UCARL>", "already in progress"},
		{"UMIA", "<@UERIN> " + strings.Repeat("x", 1001), "at most 1000 characters"},
	} {
		_, resp := e.command(tc.user, tc.text)
		if got := text(resp); !strings.Contains(got, tc.want) || strings.Contains(got, "Planning") || strings.Contains(got, "Starting") {
			t.Errorf("%s %q answered %q, want at once %q", tc.user, tc.text[:min(len(tc.text), 30)], got, tc.want)
		}
	}
	e.shutdown()
	noCalls(t, e, "chat.postEphemeral", func(slacktest.Call) bool { return true }, "a refusal came later")
	noCalls(t, e, "chat.postMessage", func(c slacktest.Call) bool {
		return strings.HasPrefix(c.Channel, "D") && !strings.Contains(c.Text, "Carl")
	}, "a DM came later")
	if n := e.kit.Count(t, &store.Case{}, ""); n != 1 {
		t.Fatalf("%d cases, want only the API's", n)
	}
	// help's example date is a week from today.
	if _, resp := e.command("UMIA", "help"); !strings.Contains(text(resp), "--effective "+time.Now().AddDate(0, 0, 7).Format("2006-01-02")) {
		t.Errorf("help: %q", text(resp))
	}
}

// TestLongReasonThenCancelFromThePreview (issue 14, item 11): a reason of
// 1,000 characters is taken; Cancel on the plan preview replaces it once
// (the plan, cancelled by whom), not once by the click and again by the
// notifier.
func TestLongReasonThenCancelFromThePreview(t *testing.T) {
	e := newEnv(t)
	day := time.Now().AddDate(0, 0, 4).Format("2006-01-02")
	// A reason of 1,000 characters, none of them ASCII, is taken.
	if _, resp := e.command("UMIA", "<@UERIN> --effective "+day+" "+strings.Repeat("é", 1000)); !strings.Contains(text(resp), "Planning") {
		t.Fatalf("answer %q", text(resp))
	}
	preview := e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool { return c.Channel == "DUMIA" && has(c, blocks.ActionCancelPlan) }, wait)
	c, err := e.kit.Store.OpenCaseFor(context.Background(), "E1")
	if err != nil {
		t.Fatal(err)
	}
	// The preview is recorded (so the notifier could update it too).
	e.kit.WaitCount(t, 1, wait, &store.ChatMessage{}, "case_id = ? AND kind = ?", c.ID, "preview")
	e.interact(click("UMIA", "DUMIA", preview.TS, blocks.ActionCancelPlan, blocks.CaseValue(c.ID)))
	e.fake.WaitFor(t, "chat.update", func(u slacktest.Call) bool { return u.TS == preview.TS }, wait)
	e.kit.WaitClosed(t, c.ID, wait)
	e.shutdown() // the notifier has handled the cancellation
	var updates []string
	for _, u := range e.fake.Calls("chat.update") {
		if u.Channel == "DUMIA" && u.TS == preview.TS && !has(u, blocks.ActionConfirmPlan) {
			updates = append(updates, u.Text)
		}
	}
	if len(updates) != 1 || !strings.Contains(updates[0], "cancelled by Mia Manager") {
		t.Fatalf("updates of the preview: %q; want one, naming who cancelled", updates)
	}
}

// TestGlobalShortcutOpensTheForm (issue 14, item 12): the manifest's
// global shortcut opens the offboard modal; someone Kinetic can't map to
// HR is told so instead.
func TestGlobalShortcutOpensTheForm(t *testing.T) {
	e := newEnv(t)
	shortcut := func(user string) map[string]any {
		return map[string]any{"type": "shortcut", "callback_id": blocks.ShortcutOffboard, "trigger_id": "trig-sc-" + user, "user": map[string]any{"id": user}}
	}
	if w := e.interact(shortcut("UMIA")); w.Code != http.StatusOK {
		t.Fatalf("shortcut answered %d", w.Code)
	}
	open := e.fake.WaitFor(t, "views.open", func(c slacktest.Call) bool { return c.Params.Get("trigger_id") == "trig-sc-UMIA" }, wait)
	if !strings.Contains(open.Params.Get("view"), blocks.ModalOffboard) {
		t.Fatalf("views.open: %v", open.Params)
	}
	e.interact(shortcut("UNOBODY"))
	e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool {
		return c.Channel == "DUNOBODY" && strings.Contains(c.Text, "can't match your Slack account")
	}, wait)
	noCalls(t, e, "views.open", func(c slacktest.Call) bool { return c.Params.Get("trigger_id") == "trig-sc-UNOBODY" }, "a form opened for an unmapped user")
}
