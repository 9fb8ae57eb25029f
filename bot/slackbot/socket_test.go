package slackbot

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"github.com/kineticsec/kinetic/bot/slackbot/slacktest"
	"github.com/kineticsec/kinetic/internal/secret"
)

const wait = 5 * time.Second

func socketConfig(fake *slacktest.Server, appToken string) *Config {
	return &Config{
		BotToken: secret.FromValue(slacktest.BotToken),
		AppToken: secret.FromValue(appToken),
		APIURL:   fake.URL(),
		Mode:     ModeSocket,
	}
}

// startSocket runs RunSocketMode against the fake until the test ends and
// returns a channel with its result.
func startSocket(t *testing.T, fake *slacktest.Server, h Handlers, opts ...Option) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- RunSocketMode(ctx, socketConfig(fake, slacktest.AppToken), h, discardLog(), opts...) }()
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(wait):
			t.Fatal("RunSocketMode did not return after cancel")
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

var socketCommand = map[string]any{
	"token": "x", "team_id": "T0001", "team_domain": "example", "channel_id": "C0OFFBOARD", "channel_name": "offboarding",
	"user_id": "U0MANAGER", "user_name": "mia", "command": "/offboard", "text": "@dana",
	"api_app_id": "A0KINETIC", "is_enterprise_install": "false",
	"response_url": "https://hooks.slack.com/commands/1/2/3", "trigger_id": "1.2.3",
}

func TestSocketModeSlashCommandIsAckedWithTheResponse(t *testing.T) {
	fake := slacktest.NewServer(t)
	h := &recorder{onCommand: func(ctx context.Context, cmd slack.SlashCommand) Response {
		return Ephemeral("Offboarding request for " + cmd.Text + " received.")
	}}
	stop := startSocket(t, fake, h)

	fake.WaitConnected(t, wait)
	if c := fake.Calls("apps.connections.open"); len(c) != 1 || c[0].Auth != "app" {
		t.Fatalf("apps.connections.open calls = %+v", c)
	}
	id := fake.SendEnvelope(t, "slash_commands", socketCommand)
	ack := fake.WaitForAck(t, id, wait)

	var m Message
	if err := json.Unmarshal(ack.Payload, &m); err != nil {
		t.Fatalf("ack payload %s: %v", ack.Payload, err)
	}
	if m.ResponseType != "ephemeral" || m.Text != "Offboarding request for @dana received." {
		t.Errorf("ack payload = %+v", m)
	}
	h.mu.Lock()
	if len(h.commands) != 1 || h.commands[0].UserID != "U0MANAGER" || h.commands[0].Command != "/offboard" {
		t.Errorf("commands = %+v", h.commands)
	}
	if d := h.deliveries[0]; d.Transport != TransportSocket || d.EnvelopeID != id {
		t.Errorf("delivery = %+v", d)
	}
	h.mu.Unlock()
	if err := stop(); err != nil {
		t.Fatalf("RunSocketMode after cancel: %v, want nil", err)
	}
}

func TestSocketModeInteractionsAndEvents(t *testing.T) {
	fake := slacktest.NewServer(t)
	called := make(chan struct{}, 10)
	h := &recorder{
		called: called,
		onInteraction: func(_ context.Context, cb slack.InteractionCallback) Response {
			if cb.Type == slack.InteractionTypeViewSubmission {
				return ViewErrors(map[string]string{"reason": "A reason is required."})
			}
			return Ephemeral("not sent: block_actions acks carry nothing")
		},
	}
	startSocket(t, fake, h)
	fake.WaitConnected(t, wait)

	t.Run("view_submission: the ack carries response_action errors", func(t *testing.T) {
		id := fake.SendEnvelope(t, "interactive", json.RawMessage(viewSubmissionPayload))
		ack := fake.WaitForAck(t, id, wait)
		var got slack.ViewSubmissionResponse
		if err := json.Unmarshal(ack.Payload, &got); err != nil || got.ResponseAction != slack.RAErrors || got.Errors["reason"] == "" {
			t.Fatalf("ack payload %s (%v)", ack.Payload, err)
		}
		waitSignal(t, called, "the interaction handler")
	})
	t.Run("block_actions: a bare ack", func(t *testing.T) {
		id := fake.SendEnvelope(t, "interactive", json.RawMessage(blockActionsPayload))
		if ack := fake.WaitForAck(t, id, wait); ack.Payload != nil {
			t.Fatalf("ack payload %s, want none", ack.Payload)
		}
		waitSignal(t, called, "the interaction handler")
	})
	t.Run("events_api: acked, then dispatched", func(t *testing.T) {
		id := fake.SendEnvelope(t, "events_api", json.RawMessage(`{"token":"x","team_id":"T0001","type":"event_callback","event_id":"Ev9",
			"event":{"type":"app_mention","user":"U0MANAGER","text":"status","ts":"1.0","channel":"C1","event_ts":"1.0"}}`))
		if ack := fake.WaitForAck(t, id, wait); ack.Payload != nil {
			t.Fatalf("ack payload %s, want none", ack.Payload)
		}
		waitSignal(t, called, "the event handler")
		h.mu.Lock()
		defer h.mu.Unlock()
		if len(h.events) != 1 || h.events[0].InnerEvent.Type != string(slackevents.AppMention) {
			t.Fatalf("events = %+v", h.events)
		}
	})
	t.Run("an envelope slack-go cannot parse is still acked", func(t *testing.T) {
		fake.SendRaw(t, map[string]any{"envelope_id": "bad-1", "type": "slash_commands", "payload": "not an object", "accepts_response_payload": true})
		fake.WaitForAck(t, "bad-1", wait)
	})
}

func TestSocketModeBudget(t *testing.T) {
	fake := slacktest.NewServer(t)
	seen := make(chan error, 1)
	h := &recorder{onCommand: func(ctx context.Context, _ slack.SlashCommand) Response {
		<-ctx.Done()
		seen <- ctx.Err()
		return Ephemeral("too late")
	}}
	startSocket(t, fake, h, WithBudget(50*time.Millisecond))
	fake.WaitConnected(t, wait)
	ack := fake.WaitForAck(t, fake.SendEnvelope(t, "slash_commands", socketCommand), wait)
	var m Message
	if err := json.Unmarshal(ack.Payload, &m); err != nil || m.Text != TimeoutCommandText {
		t.Fatalf("ack payload %s (%v)", ack.Payload, err)
	}
	if err := <-seen; err != context.DeadlineExceeded {
		t.Errorf("handler saw %v", err)
	}
}

func TestSocketModeReconnectsWhenSlackAsks(t *testing.T) {
	fake := slacktest.NewServer(t)
	h := &recorder{onCommand: func(context.Context, slack.SlashCommand) Response { return Ephemeral("ok") }}
	startSocket(t, fake, h)
	fake.WaitConnected(t, wait)

	fake.Disconnect(t)
	fake.WaitConnections(t, 2, wait)
	if n := len(fake.Calls("apps.connections.open")); n != 2 {
		t.Fatalf("apps.connections.open called %d times, want 2", n)
	}
	ack := fake.WaitForAck(t, fake.SendEnvelope(t, "slash_commands", socketCommand), wait)
	if ack.Conn != 2 {
		t.Errorf("acked on connection %d, want 2", ack.Conn)
	}
}

func TestSocketModeRejectedTokenEndsRun(t *testing.T) {
	fake := slacktest.NewServer(t)
	const wrong = "xapp-1-wrong-token-value"
	var logs bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- RunSocketMode(context.Background(), socketConfig(fake, wrong), &recorder{}, bufferLog(&logs))
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "invalid_auth") {
			t.Fatalf("err = %v, want invalid_auth", err)
		}
		if strings.Contains(err.Error(), wrong) || strings.Contains(logs.String(), wrong) {
			t.Fatal("the token leaked into the error or the logs")
		}
	case <-time.After(wait):
		t.Fatal("RunSocketMode kept retrying a rejected token")
	}
}

func TestSocketModeNeedsAnAppToken(t *testing.T) {
	cfg := &Config{BotToken: secret.FromValue(slacktest.BotToken), Mode: ModeSocket}
	if err := RunSocketMode(context.Background(), cfg, &recorder{}, discardLog()); err == nil {
		t.Fatal("no error without an app token")
	}
}
