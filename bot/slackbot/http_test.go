package slackbot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
)

func decodeMessage(t *testing.T, w *httptest.ResponseRecorder) Message {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, body %q", w.Code, w.Body.String())
	}
	var m Message
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("body %q is not a message: %v", w.Body.String(), err)
	}
	return m
}

func TestCommandRouting(t *testing.T) {
	h := &recorder{onCommand: func(_ context.Context, cmd slack.SlashCommand) Response {
		return Ephemeral("Offboarding request for " + cmd.Text + " received.")
	}}
	mux := newMux(h)
	w := serve(mux, signed("/slack/commands", testSecret, testNow, commandBody("@dana")))

	m := decodeMessage(t, w)
	if m.ResponseType != "ephemeral" || m.Text != "Offboarding request for @dana received." {
		t.Errorf("reply = %+v", m)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	if len(h.commands) != 1 {
		t.Fatalf("%d commands", len(h.commands))
	}
	got := h.commands[0]
	if got.Command != "/offboard" || got.UserID != "U0MANAGER" || got.ChannelID != "C0OFFBOARD" ||
		got.TriggerID == "" || got.ResponseURL == "" || got.TeamID != "T0001" {
		t.Errorf("parsed command = %+v", got)
	}
	if d := h.deliveries[0]; d.Transport != TransportHTTP || d.RetryAttempt != 0 {
		t.Errorf("delivery = %+v", d)
	}
}

func TestCommandWithEmptyResponseIsAnEmpty200(t *testing.T) {
	w := serve(newMux(&recorder{}), signed("/slack/commands", testSecret, testNow, commandBody("")))
	if w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Fatalf("status %d body %q", w.Code, w.Body.String())
	}
}

func TestInteractionRouting(t *testing.T) {
	t.Run("block_actions reach the handler; the answer is a bare ack", func(t *testing.T) {
		h := &recorder{onInteraction: func(context.Context, slack.InteractionCallback) Response {
			return Ephemeral("ignored: block_actions do not read the answer")
		}}
		w := serve(newMux(h), signed("/slack/interactions", testSecret, testNow, interactionBody(blockActionsPayload)))
		if w.Code != http.StatusOK || w.Body.Len() != 0 {
			t.Fatalf("status %d body %q", w.Code, w.Body.String())
		}
		if len(h.interactions) != 1 {
			t.Fatalf("%d interactions", len(h.interactions))
		}
		cb := h.interactions[0]
		if cb.Type != slack.InteractionTypeBlockActions || cb.User.ID != "U0APPROVER" ||
			len(cb.ActionCallback.BlockActions) != 1 || cb.ActionCallback.BlockActions[0].ActionID != "approve" ||
			cb.ActionCallback.BlockActions[0].Value != "approval:42" {
			t.Errorf("parsed callback = %+v", cb)
		}
	})
	t.Run("a view_submission's errors go back as response_action", func(t *testing.T) {
		h := &recorder{onInteraction: func(context.Context, slack.InteractionCallback) Response {
			return ViewErrors(map[string]string{"reason": "A reason is required."})
		}}
		w := serve(newMux(h), signed("/slack/interactions", testSecret, testNow, interactionBody(viewSubmissionPayload)))
		if w.Code != http.StatusOK {
			t.Fatalf("status %d", w.Code)
		}
		var got struct {
			ResponseAction string            `json:"response_action"`
			Errors         map[string]string `json:"errors"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatalf("%q: %v", w.Body.String(), err)
		}
		if got.ResponseAction != "errors" || got.Errors["reason"] != "A reason is required." {
			t.Errorf("answer = %s", w.Body.String())
		}
		if h.interactions[0].View.CallbackID != "offboard_modal" {
			t.Errorf("callback_id = %q", h.interactions[0].View.CallbackID)
		}
	})
}

func TestEvents(t *testing.T) {
	t.Run("url_verification echoes the challenge as text/plain", func(t *testing.T) {
		h := &recorder{}
		body := `{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`
		w := serve(newMux(h), signed("/slack/events", testSecret, testNow, body))
		if w.Code != http.StatusOK || w.Body.String() != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
			t.Fatalf("status %d body %q", w.Code, w.Body.String())
		}
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("Content-Type %q", ct)
		}
		if _, _, n := h.counts(); n != 0 {
			t.Error("url_verification reached Event")
		}
	})
	t.Run("an unsigned url_verification gets no challenge", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodPost, "/slack/events", strings.NewReader(`{"challenge":"x","type":"url_verification"}`))
		if w := serve(newMux(&recorder{}), r); w.Code != http.StatusUnauthorized || strings.Contains(w.Body.String(), "x\n") {
			t.Fatalf("status %d body %q", w.Code, w.Body.String())
		}
	})
	t.Run("event_callback is dispatched with its retry number", func(t *testing.T) {
		h := &recorder{}
		body := `{"token":"x","team_id":"T0001","api_app_id":"A0KINETIC","type":"event_callback","event_id":"Ev1","event_time":1700000000,
			"event":{"type":"app_mention","user":"U0MANAGER","text":"<@U0KINETIC> status","ts":"1700000000.000100","channel":"C0OFFBOARD","event_ts":"1700000000.000100"}}`
		r := signed("/slack/events", testSecret, testNow, body)
		r.Header.Set("X-Slack-Retry-Num", "1")
		r.Header.Set("X-Slack-Retry-Reason", "http_timeout")
		w := serve(newMux(h), r)
		if w.Code != http.StatusOK {
			t.Fatalf("status %d", w.Code)
		}
		if len(h.events) != 1 {
			t.Fatalf("%d events", len(h.events))
		}
		ev := h.events[0]
		mention, ok := ev.InnerEvent.Data.(*slackevents.AppMentionEvent)
		if ev.Type != slackevents.CallbackEvent || !ok || mention.User != "U0MANAGER" {
			t.Errorf("event = %+v", ev)
		}
		if d := h.deliveries[0]; d.RetryAttempt != 1 || d.RetryReason != "http_timeout" {
			t.Errorf("delivery = %+v", d)
		}
	})
	t.Run("app_rate_limited is acknowledged", func(t *testing.T) {
		h := &recorder{}
		body := `{"token":"x","type":"app_rate_limited","team_id":"T0001","minute_rate_limited":1518467820,"api_app_id":"A0KINETIC"}`
		if w := serve(newMux(h), signed("/slack/events", testSecret, testNow, body)); w.Code != http.StatusOK {
			t.Fatalf("status %d", w.Code)
		}
		if _, _, n := h.counts(); n != 0 {
			t.Error("app_rate_limited reached Event")
		}
	})
}

func TestMalformedSignedRequests(t *testing.T) {
	tests := []struct {
		name, path, body string
		wantStatus       int
		wantText         string // for commands: the ephemeral text
	}{
		{"command form that does not parse", "/slack/commands", "command=%zz", http.StatusOK, MalformedCommandText},
		{"command form without a command", "/slack/commands", "text=hello", http.StatusOK, MalformedCommandText},
		{"interaction without payload", "/slack/interactions", "foo=bar", http.StatusBadRequest, ""},
		{"interaction payload not JSON", "/slack/interactions", interactionBody("{not json"), http.StatusBadRequest, ""},
		{"interaction payload without a type", "/slack/interactions", interactionBody(`{"user":{"id":"U1"}}`), http.StatusBadRequest, ""},
		{"event body not JSON", "/slack/events", "type=event_callback", http.StatusBadRequest, ""},
		{"url_verification without a challenge", "/slack/events", `{"type":"url_verification"}`, http.StatusBadRequest, ""},
		{"event_callback without an event", "/slack/events", `{"type":"event_callback"}`, http.StatusBadRequest, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &recorder{}
			w := serve(newMux(h), signed(tc.path, testSecret, testNow, tc.body))
			if w.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d (body %q)", w.Code, tc.wantStatus, w.Body.String())
			}
			if tc.wantText != "" {
				if m := decodeMessage(t, w); m.ResponseType != "ephemeral" || m.Text != tc.wantText {
					t.Errorf("reply = %+v", m)
				}
			}
			if c, i, e := h.counts(); c+i+e != 0 {
				t.Error("a malformed request reached a handler")
			}
		})
	}
}

func TestUnverifiedRequestsDoNothing(t *testing.T) {
	body := commandBody("@dana")
	for _, path := range []string{"/slack/commands", "/slack/interactions", "/slack/events"} {
		for name, r := range map[string]*http.Request{
			"unsigned": httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)),
			"forged":   signed(path, "wrong-secret", testNow, body),
			"stale":    signed(path, testSecret, testNow.Add(-6*time.Minute), body),
			"future":   signed(path, testSecret, testNow.Add(6*time.Minute), body),
		} {
			t.Run(path+" "+name, func(t *testing.T) {
				h := &recorder{}
				w := serve(newMux(h), r)
				if w.Code != http.StatusUnauthorized {
					t.Fatalf("status %d", w.Code)
				}
				if c, i, e := h.counts(); c+i+e != 0 {
					t.Fatal("an unverified request reached a handler")
				}
			})
		}
	}
}

// TestThousandsOfBadRequestsAreRefused sends a few thousand generated
// forged, tampered, stale, future, malformed and replayed requests through
// the routes; every one is refused with 401 and only the genuine originals
// reach the handlers.
func TestThousandsOfBadRequestsAreRefused(t *testing.T) {
	const rounds = 500 // × 7 kinds = 3,500 requests
	h := &recorder{}
	mux := newMux(h)
	paths := []string{"/slack/commands", "/slack/interactions", "/slack/events"}
	bodies := []func(i int) string{
		func(i int) string { return commandBody(fmt.Sprintf("@user%d", i)) },
		func(i int) string {
			return interactionBody(strings.Replace(blockActionsPayload, "approval:42", fmt.Sprintf("approval:%d", i), 1))
		},
		func(i int) string {
			return fmt.Sprintf(`{"type":"event_callback","event_id":"Ev%d","event":{"type":"app_mention","user":"U1","text":"hi","ts":"1.0","channel":"C1","event_ts":"1.0"}}`, i)
		},
	}
	genuine, refused := 0, 0
	for i := range rounds {
		k := i % len(paths)
		path, body := paths[k], bodies[k](i)
		at := testNow.Add(time.Duration(i%300-150) * time.Second) // all within the window
		send := func(r *http.Request, wantOK bool) {
			t.Helper()
			w := serve(mux, r)
			if wantOK {
				if w.Code != http.StatusOK {
					t.Fatalf("round %d: genuine request got %d", i, w.Code)
				}
				genuine++
				return
			}
			if w.Code != http.StatusUnauthorized {
				t.Fatalf("round %d %s: bad request got %d", i, path, w.Code)
			}
			refused++
		}

		original := signed(path, testSecret, at, body)
		send(original, true)
		// Replay: byte-for-byte the same request.
		replay := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		replay.Header = original.Header.Clone()
		send(replay, false)
		// Forged with another secret.
		send(signed(path, fmt.Sprintf("guess-%d", i), at, body), false)
		// Tampered body under the genuine signature.
		tampered := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body+"&x=1"))
		tampered.Header = original.Header.Clone()
		send(tampered, false)
		// Stale and future, genuinely signed.
		send(signed(path, testSecret, testNow.Add(-MaxSkew-time.Duration(1+i%3600)*time.Second), body), false)
		send(signed(path, testSecret, testNow.Add(MaxSkew+time.Duration(1+i%3600)*time.Second), body), false)
		// Garbage headers.
		junk := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		junk.Header.Set(HeaderTimestamp, fmt.Sprint(testNow.Unix()))
		junk.Header.Set(HeaderSignature, fmt.Sprintf("v0=%064x", i))
		send(junk, false)
	}
	c, in, e := h.counts()
	if c+in+e != genuine {
		t.Fatalf("handlers saw %d requests, want only the %d genuine ones", c+in+e, genuine)
	}
	if refused != 6*rounds {
		t.Fatalf("refused %d, want %d", refused, 6*rounds)
	}
}

func TestBodyLimit(t *testing.T) {
	h := &recorder{}
	big := strings.Repeat("a", MaxBodyBytes+1)
	w := serve(newMux(h), signed("/slack/commands", testSecret, testNow, big))
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d", w.Code)
	}
	if c, _, _ := h.counts(); c != 0 {
		t.Fatal("handler ran")
	}
}

func TestOnlyPOST(t *testing.T) {
	w := serve(newMux(&recorder{}), httptest.NewRequest(http.MethodGet, "/slack/commands", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", w.Code)
	}
}

func TestReplayStoreDownIs503(t *testing.T) {
	mux := http.NewServeMux()
	Routes(NewVerifier(testSecret, fixedClock, WithReplayStore(failingStore{})), &recorder{}, WithLog(discardLog()))(mux)
	if w := serve(mux, signed("/slack/commands", testSecret, testNow, commandBody("x"))); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d", w.Code)
	}
}

func TestBudget(t *testing.T) {
	t.Run("handlers get a 2.5 s deadline by default", func(t *testing.T) {
		var left time.Duration
		h := &recorder{onCommand: func(ctx context.Context, _ slack.SlashCommand) Response {
			d, ok := ctx.Deadline()
			if !ok {
				t.Error("no deadline")
			}
			left = time.Until(d)
			return Ack()
		}}
		serve(newMux(h), signed("/slack/commands", testSecret, testNow, commandBody("x")))
		if left <= 2*time.Second || left > DefaultBudget {
			t.Fatalf("deadline %s away, want just under %s", left, DefaultBudget)
		}
	})

	// A handler that blocks sees its context expire, and the answer still
	// goes out. The budget is shortened to keep the test fast.
	const budget = 50 * time.Millisecond
	block := func(seen chan<- error) func(ctx context.Context) {
		return func(ctx context.Context) {
			<-ctx.Done()
			seen <- ctx.Err()
		}
	}
	t.Run("a blocking command gets the timeout reply", func(t *testing.T) {
		seen := make(chan error, 1)
		h := &recorder{onCommand: func(ctx context.Context, _ slack.SlashCommand) Response {
			block(seen)(ctx)
			return Ephemeral("too late")
		}}
		start := time.Now()
		w := serve(newMux(h, WithBudget(budget)), signed("/slack/commands", testSecret, testNow, commandBody("x")))
		if m := decodeMessage(t, w); m.Text != TimeoutCommandText {
			t.Errorf("reply = %+v", m)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("answered after %s", took)
		}
		select {
		case err := <-seen:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("handler saw %v, want DeadlineExceeded", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the handler's context never expired")
		}
	})
	t.Run("a blocking interaction gets an empty 200", func(t *testing.T) {
		seen := make(chan error, 1)
		h := &recorder{onInteraction: func(ctx context.Context, _ slack.InteractionCallback) Response {
			block(seen)(ctx)
			return ViewErrors(map[string]string{"x": "too late"})
		}}
		w := serve(newMux(h, WithBudget(budget)), signed("/slack/interactions", testSecret, testNow, interactionBody(viewSubmissionPayload)))
		if w.Code != http.StatusOK || w.Body.Len() != 0 {
			t.Fatalf("status %d body %q", w.Code, w.Body.String())
		}
		if err := <-seen; !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("handler saw %v", err)
		}
	})
	t.Run("a blocking event handler still gets its 200", func(t *testing.T) {
		seen := make(chan error, 1)
		h := &recorder{onEvent: func(ctx context.Context, _ slackevents.EventsAPIEvent) { block(seen)(ctx) }}
		body := `{"type":"event_callback","event":{"type":"app_mention","user":"U1","text":"hi","ts":"1.0","channel":"C1","event_ts":"1.0"}}`
		if w := serve(newMux(h, WithBudget(budget)), signed("/slack/events", testSecret, testNow, body)); w.Code != http.StatusOK {
			t.Fatalf("status %d", w.Code)
		}
		if err := <-seen; !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("handler saw %v", err)
		}
	})
}

func TestPanickingHandlers(t *testing.T) {
	h := &recorder{
		onCommand:     func(context.Context, slack.SlashCommand) Response { panic("boom") },
		onInteraction: func(context.Context, slack.InteractionCallback) Response { panic("boom") },
	}
	mux := newMux(h)
	if m := decodeMessage(t, serve(mux, signed("/slack/commands", testSecret, testNow, commandBody("x")))); m.Text != InternalErrorText {
		t.Errorf("command reply = %+v", m)
	}
	if w := serve(mux, signed("/slack/interactions", testSecret, testNow, interactionBody(blockActionsPayload))); w.Code != http.StatusInternalServerError {
		t.Errorf("interaction status %d", w.Code)
	}
}

func TestNothingSecretIsLogged(t *testing.T) {
	var buf bytes.Buffer
	mux := http.NewServeMux()
	Routes(NewVerifier(testSecret, fixedClock), &recorder{}, WithLog(bufferLog(&buf)))(mux)

	body := commandBody("@dana")
	good := signed("/slack/commands", testSecret, testNow, body)
	replay := signed("/slack/commands", testSecret, testNow, body)
	forged := signed("/slack/commands", "attacker", testNow, body)
	for _, r := range []*http.Request{good, replay, forged} {
		serve(mux, r)
	}
	logs := buf.String()
	if !strings.Contains(logs, `"reason":"replayed"`) || !strings.Contains(logs, `"reason":"forged"`) {
		t.Fatalf("refusals not logged with their reason:\n%s", logs)
	}
	for _, secret := range []string{testSecret, good.Header.Get(HeaderSignature)[3:], forged.Header.Get(HeaderSignature)[3:], "deprecated-verification-token"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
}

func TestSSLCheckIsAnsweredAndIgnored(t *testing.T) {
	h := &recorder{}
	r := httptest.NewRequest(http.MethodPost, "/slack/commands", strings.NewReader("ssl_check=1&token=gIkuvaNzQIHg97ATvDxqgjtO"))
	if w := serve(newMux(h), r); w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Fatalf("status %d body %q", w.Code, w.Body.String())
	}
	// Anything more than the probe must be signed.
	r = httptest.NewRequest(http.MethodPost, "/slack/commands", strings.NewReader("ssl_check=1&command=%2Foffboard&text=%40ceo"))
	if w := serve(newMux(h), r); w.Code != http.StatusUnauthorized {
		t.Fatalf("probe with a command: status %d", w.Code)
	}
	if c, _, _ := h.counts(); c != 0 {
		t.Fatal("a handler ran")
	}
}
