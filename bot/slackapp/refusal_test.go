package slackapp_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/bot/slackbot/slacktest"
	"github.com/kineticsec/kinetic/store"
)

// TestRefusalsChangeNothing: forged requests, malformed payloads, unknown
// or stale buttons, bad dates and non-people are answered clearly and
// leave no case behind.
func TestRefusalsChangeNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	t.Run("a forged request is refused with 401 on every route", func(t *testing.T) {
		for _, path := range []string{"/slack/commands", "/slack/interactions", "/slack/events"} {
			if w := e.post(path, commandForm("UMIA", "<@UERIN> --now"), "not-the-secret"); w.Code != http.StatusUnauthorized {
				t.Errorf("%s: %d, want 401", path, w.Code)
			}
		}
	})
	t.Run("a malformed interaction payload is a 400", func(t *testing.T) {
		if w := e.post("/slack/interactions", url.Values{"payload": {"{not json"}}.Encode(), signingSecret); w.Code != http.StatusBadRequest {
			t.Errorf("%d, want 400", w.Code)
		}
	})
	t.Run("a channel mention instead of a person is explained", func(t *testing.T) {
		_, resp := e.command("UMIA", "<#C0GENERAL|general> --now")
		if !strings.Contains(text(resp), "not a person") {
			t.Errorf("answer %q", text(resp))
		}
		_, resp = e.command("UMIA", "<!subteam^S0SALES|@sales> --now")
		if !strings.Contains(text(resp), "not a person") {
			t.Errorf("answer %q", text(resp))
		}
	})
	t.Run("a plain @name is explained", func(t *testing.T) {
		_, resp := e.command("UMIA", "@erin")
		if !strings.Contains(text(resp), "so Slack links it") {
			t.Errorf("answer %q", text(resp))
		}
	})
	t.Run("a past effective date is refused before anything opens", func(t *testing.T) {
		_, resp := e.command("UMIA", "<@UERIN> --effective 2020-01-02 09:00")
		if !strings.Contains(text(resp), "already passed") {
			t.Errorf("answer %q", text(resp))
		}
	})
	t.Run("an unknown requester is told why", func(t *testing.T) {
		_, resp := e.command("UNOBODY", "<@UERIN>")
		if !strings.Contains(text(resp), "can't match your Slack account") {
			t.Errorf("answer %q", text(resp))
		}
		_, resp = e.command("UBOT", "<@UERIN>") // a Slack user without an email
		if !strings.Contains(text(resp), "can't match your Slack account") {
			t.Errorf("answer %q", text(resp))
		}
	})
	t.Run("an employee Slack can't match to HR is told", func(t *testing.T) {
		_, resp := e.command("UMIA", "<@UGHOST>")
		if !strings.Contains(text(resp), "not in the HR directory") {
			t.Errorf("answer %q", text(resp))
		}
	})
	t.Run("an unauthorized requester gets the engine's refusal at once", func(t *testing.T) {
		_, resp := e.command("UXAVI", "<@UERIN> --now")
		if !strings.Contains(text(resp), "not allowed") || strings.Contains(text(resp), "Starting") {
			t.Fatalf("answer %q", text(resp))
		}
	})
	t.Run("help and status answer at once", func(t *testing.T) {
		if _, resp := e.command("UMIA", "help"); !strings.Contains(text(resp), "/offboard") {
			t.Errorf("help: %q", text(resp))
		}
		if _, resp := e.command("UMIA", "status <@UERIN>"); !strings.Contains(text(resp), "no offboarding") {
			t.Errorf("status: %q", text(resp))
		}
	})
	t.Run("an unknown action id is answered, nothing changes", func(t *testing.T) {
		if w := e.interact(click("UMIA", offboarding, "1.1", "kinetic.launch_missiles", "case:1")); w.Code != http.StatusOK {
			t.Fatalf("%d", w.Code)
		}
		e.fake.WaitFor(t, "chat.postEphemeral", func(c slacktest.Call) bool {
			return c.Params.Get("user") == "UMIA" && strings.Contains(c.Text, "doesn't know that button")
		}, wait)
	})
	t.Run("a forged button value is refused", func(t *testing.T) {
		e.interact(click("UHANA", offboarding, "1.1", blocks.ActionApprove, "case:01"))
		e.fake.WaitFor(t, "chat.postEphemeral", func(c slacktest.Call) bool {
			return c.Params.Get("user") == "UHANA" && strings.Contains(c.Text, "not valid")
		}, wait)
	})
	t.Run("buttons for things that no longer exist say so with 200", func(t *testing.T) {
		for _, b := range []struct{ user, id, value string }{
			{"UMIA", blocks.ActionConfirmPlan, blocks.CaseValue(9999)},
			{"ULEE", blocks.ActionApprove, blocks.ApprovalValue(9999)},
			{"ULOU", blocks.ActionDeny, blocks.ApprovalValue(9999)},
			{"UADA", blocks.ActionRetry, blocks.ActionValue(9999)},
		} {
			if w := e.interact(click(b.user, offboarding, "1.1", b.id, b.value)); w.Code != http.StatusOK {
				t.Fatalf("%s: %d", b.id, w.Code)
			}
			e.fake.WaitFor(t, "chat.postEphemeral", func(c slacktest.Call) bool {
				return c.Params.Get("user") == b.user && strings.Contains(c.Text, "no longer exists")
			}, wait)
		}
	})
	t.Run("modal errors: past date, missing person, bad forwarding", func(t *testing.T) {
		w := e.interact(submission("UMIA", blocks.ModalOffboard, "", offboardValues("UERIN", blocks.ReasonVoluntary, "2020-01-02", nil)))
		if !strings.Contains(w.Body.String(), `"last_day"`) || !strings.Contains(w.Body.String(), "past") {
			t.Errorf("past date: %s", w.Body)
		}
		w = e.interact(submission("UMIA", blocks.ModalOffboard, "", offboardValues("UGHOST", blocks.ReasonVoluntary, time.Now().AddDate(0, 0, 5).Format("2006-01-02"), nil)))
		if !strings.Contains(w.Body.String(), `"person"`) || !strings.Contains(w.Body.String(), "HR directory") {
			t.Errorf("unknown person: %s", w.Body)
		}
		w = e.interact(submission("UMIA", blocks.ModalOffboard, "", offboardValues("UERIN", blocks.ReasonVoluntary, time.Now().AddDate(0, 0, 5).Format("2006-01-02"), map[string]any{
			"forward_email": map[string]any{"value": map[string]any{"type": "plain_text_input", "value": "not an address"}},
			"forward_days":  map[string]any{"value": map[string]any{"type": "plain_text_input", "value": "3"}},
		})))
		if !strings.Contains(w.Body.String(), `"forward_email"`) {
			t.Errorf("bad forwarding: %s", w.Body)
		}
	})

	// Let background work finish, then check nothing was opened.
	e.shutdown()
	if n := e.kit.Count(t, &store.Case{}, ""); n != 0 {
		t.Fatalf("%d cases exist after refusals", n)
	}
	// The requester's Slack → HR mapping is cached: one users.info for
	// all of UMIA's commands and clicks.
	n := 0
	for _, c := range e.fake.Calls("users.info") {
		if c.Params.Get("user") == "UMIA" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("users.info called %d times for UMIA, want 1 (cached)", n)
	}
	_ = ctx
}

// TestFailedActionRetryAndCancelBeforeEffective: a failed critical
// revocation posts a thread reply with buttons and an alert; Retry by HR
// runs it again and the reply loses its buttons. A scheduled case can be
// cancelled with /offboard cancel before its effective time.
func TestFailedActionRetryAndCancelBeforeEffective(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.kit.RefuseNext("ad", "erin@example.test", 2) // the planning lookup, then the disable

	_, resp := e.command("UMIA", "<@UERIN> --now")
	if !strings.Contains(text(resp), "Starting") {
		t.Fatalf("answer %q", text(resp))
	}
	parent := e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool { return c.Channel == offboarding && c.ThreadTS == "" }, wait)
	failed := e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool {
		return c.Channel == offboarding && c.ThreadTS == parent.TS && has(c, blocks.ActionRetry)
	}, wait)
	e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool { return c.Channel == alerts }, wait)

	var act store.Action
	if err := e.kit.Store.TestDB().Where("name = ? AND status = ?", "disable_ad", store.ActionFailed).First(&act).Error; err != nil {
		t.Fatal(err)
	}
	// The manager may not operate actions; HR may.
	e.interact(click("UMIA", offboarding, failed.TS, blocks.ActionRetry, blocks.ActionValue(act.ID)))
	e.fake.WaitFor(t, "chat.postEphemeral", func(c slacktest.Call) bool {
		return c.Params.Get("user") == "UMIA" && strings.Contains(c.Text, "refused")
	}, wait)
	// Escalate now on a failed revocation: it escalates (a failed
	// revocation is still an open door), and the clicker is told.
	e.interact(click("UHAL", offboarding, failed.TS, blocks.ActionEscalateNow, blocks.ActionValue(act.ID)))
	e.fake.WaitFor(t, "chat.postEphemeral", func(c slacktest.Call) bool {
		return c.Params.Get("user") == "UHAL" && strings.Contains(c.Text, "Escalated")
	}, wait)
	// A critical revocation is never skipped: a Skip click (the reply
	// offers none) is refused at once, without a form, and a forged
	// submission of the form is refused in it.
	e.interact(click("UHAL", offboarding, failed.TS, blocks.ActionSkip, blocks.ActionValue(act.ID)))
	e.fake.WaitFor(t, "chat.postEphemeral", func(c slacktest.Call) bool {
		return c.Params.Get("user") == "UHAL" && strings.Contains(c.Text, "never skipped")
	}, wait)
	w := e.interact(submission("UHAL", blocks.ModalSkipReason, blocks.ActionValue(act.ID),
		map[string]any{"why": map[string]any{"value": map[string]any{"type": "plain_text_input", "value": "account already gone"}}}))
	if !strings.Contains(w.Body.String(), `"errors"`) || !strings.Contains(w.Body.String(), "never skipped") {
		t.Fatalf("skip of a critical action answered %s", w.Body)
	}
	if n := len(e.fake.Calls("views.open")); n != 0 {
		t.Fatalf("%d forms opened", n)
	}
	// Mark done is for manual steps only.
	e.interact(click("UHAL", offboarding, failed.TS, blocks.ActionMarkDone, blocks.ActionValue(act.ID)))
	e.fake.WaitFor(t, "chat.postEphemeral", func(c slacktest.Call) bool {
		return c.Params.Get("user") == "UHAL" && strings.Contains(c.Text, "not a manual step")
	}, wait)
	e.interact(click("UHAL", offboarding, failed.TS, blocks.ActionRetry, blocks.ActionValue(act.ID)))
	e.fake.WaitFor(t, "chat.update", func(c slacktest.Call) bool {
		return c.Channel == offboarding && c.TS == failed.TS && !has(c, blocks.ActionRetry)
	}, wait)
	closed := e.kit.WaitClosed(t, act.CaseID, 60*time.Second)
	if closed.Status != store.CaseCompleted {
		t.Fatalf("case closed as %s", closed.Status)
	}

	// A scheduled case (effective later) can be cancelled.
	day := time.Now().AddDate(0, 0, 4).Format("2006-01-02")
	_, resp = e.command("UHAL", "<@UCARL> --effective "+day+" 17:00 contract ends")
	if !strings.Contains(text(resp), "Planning") {
		t.Fatalf("answer %q", text(resp))
	}
	e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool { return c.Channel == "DUHAL" && has(c, blocks.ActionConfirmPlan) }, wait)
	if _, resp = e.command("UXAVI", "cancel <@UCARL>"); !strings.Contains(text(resp), "no open offboarding") {
		t.Fatalf("a colleague's cancel: %q", text(resp))
	}
	if _, resp = e.command("UHAL", "cancel <@UCARL> changed plans"); !strings.Contains(text(resp), "cancelled") {
		t.Fatalf("cancel: %q", text(resp))
	}
	// The unanswered preview loses its buttons.
	e.fake.WaitFor(t, "chat.update", func(c slacktest.Call) bool {
		return c.Channel == "DUHAL" && strings.Contains(c.Text, "was cancelled") && !has(c, blocks.ActionConfirmPlan)
	}, wait)
	if _, err := e.kit.Store.OpenCaseFor(ctx, "E2"); err == nil {
		t.Fatal("the case is still open after cancel")
	}
}

// TestCancelWhileThePreviewIsPostedResolvesIt: a cancel that lands after
// the plan preview is posted but before its ts is recorded still leaves
// the preview without buttons — once (the notifier found nothing to
// update; the request that posted it sees the cancellation and resolves
// it).
func TestCancelWhileThePreviewIsPostedResolvesIt(t *testing.T) {
	e := newEnv(t)
	cancelled := make(chan int, 1)
	var once sync.Once
	e.fake.BeforeAnswer("chat.postMessage", func(c slacktest.Call) {
		if c.Channel != "DUHAL" || !has(c, blocks.ActionConfirmPlan) {
			return
		}
		once.Do(func() {
			w := e.post("/slack/commands", commandForm("UHAL", "cancel <@UCARL> changed plans"), signingSecret)
			cancelled <- w.Code
		})
	})
	day := time.Now().AddDate(0, 0, 4).Format("2006-01-02")
	if _, resp := e.command("UHAL", "<@UCARL> --effective "+day+" 17:00 contract ends"); !strings.Contains(text(resp), "Planning") {
		t.Fatalf("answer %q", text(resp))
	}
	select {
	case code := <-cancelled:
		if code != http.StatusOK {
			t.Fatalf("cancel answered %d", code)
		}
	case <-time.After(wait):
		t.Fatal("the preview was never posted")
	}
	preview := e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool { return c.Channel == "DUHAL" && has(c, blocks.ActionConfirmPlan) }, wait)
	e.fake.WaitFor(t, "chat.update", func(c slacktest.Call) bool {
		return c.Channel == "DUHAL" && c.TS == preview.TS && strings.Contains(c.Text, "was cancelled") && !has(c, blocks.ActionConfirmPlan)
	}, wait)
	e.shutdown() // the notifier has handled the cancellation
	n := 0
	for _, u := range e.fake.Calls("chat.update") {
		if u.Channel == "DUHAL" && u.TS == preview.TS {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("the preview was updated %d times, want once", n)
	}
}
