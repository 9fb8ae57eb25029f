package slackapp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	slackapp "github.com/kineticsec/kinetic/bot/slackapp"
	slackbot "github.com/kineticsec/kinetic/bot/slackbot"
	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/bot/slackbot/slacktest"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/secret"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

const (
	signingSecret = "slackapp-test-signing-secret"
	offboarding   = "C0OFFBOARD"
	alerts        = "C0ALERTS"
	wait          = 20 * time.Second
	// updateInterval is the per-channel chat.update interval under test.
	updateInterval = 100 * time.Millisecond
)

// Slack users of the test directory (testkit.Directory has no
// chat_user_id, so they are matched by the email users.info reports).
var slackUsers = map[string][2]string{
	"UMIA":  {"manager@example.test", "Mia Manager"},
	"UERIN": {"erin@example.test", "Erin Employee"},
	"UCARL": {"carl@example.test", "Carl Contractor"},
	"UHAL":  {"hr@example.test", "Hal HR"},
	"UHANA": {"hr2@example.test", "Hana HR"},
	"ULEE":  {"legal1@example.test", "Lee Legal"},
	"ULOU":  {"legal2@example.test", "Lou Legal"},
	"UXAVI": {"colleague@example.test", "Xavi Colleague"},
	"UADA":  {"admin@example.test", "Ada Admin"},
	"USAM":  {"security@example.test", "Sam Security"},
	"UBOT":  {"", "Some Bot"},
}

type env struct {
	// shutdown stops the App as a process's shutdown does (its context
	// ends) and waits for it; it runs once, at the latest in cleanup.
	shutdown func()
	t        *testing.T
	fake     *slacktest.Server
	kit      *testkit.Kit
	mux      *http.ServeMux
	app      *slackapp.App
	opts     slackapp.Options
}

func newEnv(t *testing.T, mods ...func(*slackapp.Options)) *env {
	t.Helper()
	return newEnvKit(t, nil, mods...)
}

// newEnvKit is newEnv with kitMod tuning the test Kinetic (it may use the
// App, which exists but is not started yet).
func newEnvKit(t *testing.T, kitMod func(*testkit.Options, *slackapp.App), mods ...func(*slackapp.Options)) *env {
	t.Helper()
	fake := slacktest.NewServer(t)
	for id, u := range slackUsers {
		fake.AddUser(id, u[0], u[1])
	}
	l := logrus.New()
	l.Level = logrus.WarnLevel
	l.Out = testLog{t}
	o := slackapp.Options{
		Config: &slackbot.Config{
			BotToken: secret.FromValue(slacktest.BotToken), SigningSecret: secret.FromValue(signingSecret),
			APIURL: fake.URL(), OffboardingChannel: offboarding, AlertsChannel: alerts,
		},
		Log:            logrus.NewEntry(l),
		UpdateInterval: updateInterval,
	}
	for _, m := range mods {
		m(&o)
	}
	sa, err := slackapp.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ko := testkit.Options{RedisDB: 12, Policy: testkit.ApprovalPolicy, Observers: []engine.Observer{sa}}
	if kitMod != nil {
		kitMod(&ko, sa)
	}
	kit := testkit.New(t, ko)
	sa.Bind(kit.Engine, kit.Directory)
	ctx, cancel := context.WithCancel(context.Background())
	stop := sa.Start(ctx)
	shutdown := sync.OnceFunc(func() { cancel(); stop() })
	t.Cleanup(shutdown)
	if _, err := kit.StartWorker(); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	sa.Routes(slackbot.NewVerifier(signingSecret, time.Now))(mux)
	return &env{t: t, fake: fake, kit: kit, mux: mux, app: sa, opts: o, shutdown: shutdown}
}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// post sends body to path, signed with secret (the real one unless forged).
func (e *env) post(path, body, secret string) *httptest.ResponseRecorder {
	e.t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewBufferString(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	slackbot.SignRequest(r, secret, time.Now(), []byte(body))
	w := httptest.NewRecorder()
	e.mux.ServeHTTP(w, r) // acknowledgement time is measured by BenchmarkAckSlashCommands
	return w
}

func commandForm(user, text string) string {
	return url.Values{
		"team_id": {slacktest.TeamID}, "channel_id": {offboarding}, "user_id": {user}, "command": {"/offboard"},
		"text": {text}, "response_url": {"https://hooks.slack.invalid/x"}, "trigger_id": {"trig-" + user},
	}.Encode()
}

func (e *env) command(user, text string) (status int, resp map[string]any) {
	e.t.Helper()
	w := e.post("/slack/commands", commandForm(user, text), signingSecret)
	if w.Body.Len() > 0 {
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
			e.t.Fatalf("command answer is not JSON: %q", w.Body.String())
		}
	}
	return w.Code, resp
}

func (e *env) interact(payload any) *httptest.ResponseRecorder {
	e.t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.post("/slack/interactions", url.Values{"payload": {string(b)}}.Encode(), signingSecret)
}

// click is a block_actions payload: user clicks actionID (value) on the
// message (channel, ts).
func click(user, channel, ts, actionID, value string) map[string]any {
	return map[string]any{
		"type": "block_actions", "user": map[string]any{"id": user}, "trigger_id": "trig-click-" + user,
		"channel":   map[string]any{"id": channel},
		"container": map[string]any{"type": "message", "channel_id": channel, "message_ts": ts},
		"actions":   []any{map[string]any{"type": "button", "action_id": actionID, "value": value, "block_id": "b"}},
	}
}

func submission(user, callbackID, metadata string, values map[string]any) map[string]any {
	return map[string]any{
		"type": "view_submission", "user": map[string]any{"id": user}, "trigger_id": "trig-sub",
		"view": map[string]any{"id": "V1", "type": "modal", "callback_id": callbackID, "private_metadata": metadata,
			"state": map[string]any{"values": values}},
	}
}

func has(c slacktest.Call, s string) bool {
	return strings.Contains(c.Text, s) || strings.Contains(string(c.Blocks), s)
}

func text(resp map[string]any) string {
	s, _ := resp["text"].(string)
	return s
}

// TestOffboardCommandPreviewConfirmThroughClosure is the issue's "done
// when": a signed /offboard @user opens a case awaiting confirmation and
// DMs the plan preview; Confirm starts it; the live status message in the
// offboarding channel (and the manager's and HR partner's DMs) is updated
// through to a completed card, and the thread gets the closure reply.
func TestOffboardCommandPreviewConfirmThroughClosure(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	code, resp := e.command("UMIA", "<@UERIN|erin> moving to a competitor")
	if code != http.StatusOK || resp["response_type"] != "ephemeral" || !strings.Contains(text(resp), "Planning") {
		t.Fatalf("command answer: %d %v", code, resp)
	}
	preview := e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool {
		return c.Channel == "DUMIA" && has(c, blocks.ActionConfirmPlan)
	}, wait)
	c, err := e.kit.Store.OpenCaseFor(ctx, "E1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != store.CaseAwaitingConfirmation || c.Requester != "M1" || c.Trigger != store.TriggerSlack {
		t.Fatalf("case: %+v", c)
	}
	if !has(preview, blocks.CaseValue(c.ID)) || !has(preview, blocks.ActionCancelPlan) {
		t.Fatalf("preview lacks the case's buttons: %s", preview.Blocks)
	}
	for _, call := range e.fake.Calls("chat.postMessage") {
		if call.Channel == offboarding {
			t.Fatalf("a status message was posted before confirmation: %+v", call)
		}
	}

	// Someone else's click on Confirm is refused and changes nothing.
	if w := e.interact(click("UHAL", "DUMIA", preview.TS, blocks.ActionConfirmPlan, blocks.CaseValue(c.ID))); w.Code != http.StatusOK {
		t.Fatalf("click answered %d", w.Code)
	}
	e.fake.WaitFor(t, "chat.postEphemeral", func(c slacktest.Call) bool {
		return c.Params.Get("user") == "UHAL" && strings.Contains(c.Text, "only the requester")
	}, wait)

	if w := e.interact(click("UMIA", "DUMIA", preview.TS, blocks.ActionConfirmPlan, blocks.CaseValue(c.ID))); w.Code != http.StatusOK {
		t.Fatalf("confirm answered %d", w.Code)
	}
	// The preview loses its buttons.
	e.fake.WaitFor(t, "chat.update", func(u slacktest.Call) bool {
		return u.Channel == "DUMIA" && u.TS == preview.TS && !has(u, blocks.ActionConfirmPlan)
	}, wait)
	parent := e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool {
		return c.Channel == offboarding && c.ThreadTS == ""
	}, wait)
	closed := e.kit.WaitClosed(t, c.ID, 60*time.Second)
	if closed.Status != store.CaseCompleted {
		t.Fatalf("case closed as %s:\n%s", closed.Status, engine.Summary(closed))
	}
	e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool {
		return c.Channel == offboarding && c.ThreadTS == parent.TS && strings.Contains(c.Text, "completed") && has(c, "audit") &&
			has(c, "critical access revoked") && has(c, "after the effective time")
	}, wait)
	e.fake.WaitFor(t, "chat.update", func(u slacktest.Call) bool {
		return u.Channel == offboarding && u.TS == parent.TS && strings.Contains(u.Text, ": completed")
	}, wait)
	var last, first slacktest.Call
	updates := 0
	for _, u := range e.fake.Calls("chat.update") {
		if u.Channel == offboarding && u.TS == parent.TS {
			if first.At.IsZero() {
				first = u
			}
			last = u
			updates++
		}
	}
	// Coalesced: at most one update per interval in a channel. The fake sees
	// arrival times, which load can bunch together (one update delayed in
	// flight, the next on time), so the check counts updates over the span
	// instead of measuring each gap: without coalescing, every transition
	// of the case's 13 actions would be an update of its own.
	if most := int(last.At.Sub(first.At)/updateInterval) + 3; updates > most {
		t.Errorf("%d status updates in %s, want at most %d at one per %s", updates, last.At.Sub(first.At), most, updateInterval)
	}
	if !strings.Contains(last.Text, ": completed") || strings.Contains(string(last.Blocks), "kinetic.") {
		t.Fatalf("last update of the status message is not the completed card: %q", last.Text)
	}
	// The manager and the HR partner have the card in their DMs.
	for _, dm := range []string{"DUMIA", "DUHAL"} {
		e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool {
			return c.Channel == dm && c.ThreadTS == "" && strings.HasPrefix(c.Text, "Offboarding Erin Employee")
		}, wait)
	}
	// Every posted message is recorded for restarts.
	if n := e.kit.Count(t, &store.ChatMessage{}, "case_id = ? AND kind = ?", c.ID, "status"); n != 1 {
		t.Fatalf("%d status message refs, want 1", n)
	}
	if n := e.kit.Count(t, &store.ChatMessage{}, "case_id = ? AND kind = ?", c.ID, "dm"); n != 2 {
		t.Fatalf("%d DM refs, want 2", n)
	}
	// The reference is written right after the post the fake has recorded.
	if n := e.kit.WaitCount(t, 1, wait, &store.ChatMessage{}, "case_id = ? AND kind = ?", c.ID, "thread"); n < 1 {
		t.Fatal("the closure reply is not recorded")
	}
	// No update repeated what its message already showed (issue 14 item 11).
	e.shutdown()
	assertNoRedundantUpdates(t, e.fake)
}
