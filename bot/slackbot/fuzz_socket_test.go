package slackbot

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"github.com/kineticsec/kinetic/bot/slackbot/slacktest"
)

// socketFuzzText is the slash command reply of socketHandlers.
const socketFuzzText = "fuzz reply"

// socketHandlers records, per envelope id, which handler ran and with what
// Delivery, and wakes waiters.
type socketHandlers struct {
	mu      sync.Mutex
	calls   map[string]socketCall
	changed chan struct{}
}

type socketCall struct {
	kind      string // command, interaction or event
	delivery  Delivery
	eventType string
}

func newSocketHandlers() *socketHandlers {
	return &socketHandlers{calls: map[string]socketCall{}, changed: make(chan struct{})}
}

func (h *socketHandlers) note(ctx context.Context, c socketCall) {
	c.delivery, _ = DeliveryFrom(ctx)
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, dup := h.calls[c.delivery.EnvelopeID]; dup {
		c.kind = "twice"
	}
	h.calls[c.delivery.EnvelopeID] = c
	close(h.changed)
	h.changed = make(chan struct{})
}

func (h *socketHandlers) Command(ctx context.Context, _ slack.SlashCommand) Response {
	h.note(ctx, socketCall{kind: "command"})
	return Ephemeral(socketFuzzText)
}

func (h *socketHandlers) Interaction(ctx context.Context, _ slack.InteractionCallback) Response {
	h.note(ctx, socketCall{kind: "interaction"})
	return ViewErrors(map[string]string{"why": "fuzz"})
}

func (h *socketHandlers) Event(ctx context.Context, ev slackevents.EventsAPIEvent) {
	h.note(ctx, socketCall{kind: "event", eventType: ev.Type})
}

// call returns the handler call for envelope id, waiting up to d for it.
func (h *socketHandlers) call(id string, d time.Duration) (socketCall, bool) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		h.mu.Lock()
		c, ok := h.calls[id]
		changed := h.changed
		h.mu.Unlock()
		if ok {
			return c, true
		}
		select {
		case <-changed:
		case <-deadline.C:
			return socketCall{}, false
		}
	}
}

// FuzzSocketEnvelope sends arbitrary Socket Mode envelopes (type, payload,
// accepts_response_payload, retry_attempt) over a live connection to the
// fake Slack. Every envelope is acknowledged with its envelope_id, on the
// same connection (a bad envelope never costs a reconnect); the ack carries
// a payload only where the envelope accepts one and only for a slash
// command or a view_submission that parsed; a parsed slash command or
// interaction reaches its handler once, with the envelope's id and retry
// attempt, before the ack; events reach Event only as event_callback (the
// Handlers contract, as over HTTP).
func FuzzSocketEnvelope(f *testing.F) {
	cmd, _ := json.Marshal(socketCommand)
	f.Add("slash_commands", cmd, true, 0)
	f.Add("slash_commands", cmd, false, 2)
	f.Add("slash_commands", []byte(`"not an object"`), true, 0)
	f.Add("interactive", []byte(viewSubmissionPayload), true, 0)
	f.Add("interactive", []byte(blockActionsPayload), true, 1)
	f.Add("events_api", []byte(`{"token":"x","team_id":"T0001","type":"event_callback","event_id":"Ev9","event":{"type":"app_home_opened","user":"U1","tab":"home"}}`), false, 0)
	f.Add("events_api", []byte(`{"type":"url_verification","challenge":"abc"}`), false, 0)
	f.Add("events_api", []byte(`{"type":"event_callback"}`), false, 0)
	f.Add("unknown_type", []byte(`{}`), true, 0)
	f.Add("", []byte{}, false, 0)

	fake := slacktest.NewServer(f)
	h := newSocketHandlers()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- RunSocketMode(ctx, socketConfig(fake, slacktest.AppToken), h, discardLog()) }()
	f.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(wait):
			f.Error("RunSocketMode did not return after cancel")
		}
	})
	fake.WaitConnected(f, wait)
	var seq int

	f.Fuzz(func(t *testing.T, typ string, payload []byte, accepts bool, retry int) {
		if typ == "hello" || typ == "disconnect" {
			return // connection control, not envelopes: Slack sends them without an envelope_id
		}
		seq++
		id := fmt.Sprintf("fuzz-envelope-%d", seq)
		var p any = string(payload)
		if json.Valid(payload) {
			p = json.RawMessage(payload)
		}
		sent, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		fake.SendRaw(t, map[string]any{
			"envelope_id": id, "type": typ, "payload": json.RawMessage(sent),
			"accepts_response_payload": accepts, "retry_attempt": retry,
		})
		ack := fake.WaitForAck(t, id, wait)
		if ack.Conn != 1 {
			t.Fatalf("acked on connection %d: the envelope cost a reconnect", ack.Conn)
		}

		var wantPayload any
		switch typ {
		case "slash_commands":
			var cmd slack.SlashCommand
			if json.Unmarshal(sent, &cmd) != nil {
				break
			}
			checkSocketCall(t, h, id, "command", retry)
			if accepts {
				wantPayload = Ephemeral(socketFuzzText).commandPayload()
			}
		case "interactive":
			var cb slack.InteractionCallback
			if json.Unmarshal(sent, &cb) != nil {
				break
			}
			checkSocketCall(t, h, id, "interaction", retry)
			if accepts {
				wantPayload = ViewErrors(map[string]string{"why": "fuzz"}).interactionPayload(&cb)
			}
		case "events_api":
			ev, err := slackevents.ParseEvent(sent, slackevents.OptionNoVerifyToken())
			if err != nil {
				break
			}
			if ev.Type == slackevents.CallbackEvent {
				checkSocketCall(t, h, id, "event", retry)
			} else if c, ok := h.call(id, 50*time.Millisecond); ok {
				t.Fatalf("a %q envelope reached Event: %+v", ev.Type, c)
			}
		}
		if wantPayload == nil {
			if ack.Payload != nil {
				t.Fatalf("%s envelope (accepts %t) acked with payload %s", typ, accepts, ack.Payload)
			}
			return
		}
		want, _ := json.Marshal(wantPayload)
		var got, exp any
		if json.Unmarshal(ack.Payload, &got) != nil || json.Unmarshal(want, &exp) != nil || fmt.Sprint(got) != fmt.Sprint(exp) {
			t.Fatalf("%s envelope acked with %s, want %s", typ, ack.Payload, want)
		}
	})
}

func checkSocketCall(t *testing.T, h *socketHandlers, id, kind string, retry int) {
	t.Helper()
	c, ok := h.call(id, wait)
	if !ok {
		t.Fatalf("envelope %s never reached the %s handler", id, kind)
	}
	if c.kind != kind || c.delivery.Transport != TransportSocket || c.delivery.RetryAttempt != retry {
		t.Fatalf("envelope %s: handler call %+v, want %s with retry attempt %d", id, c, kind, retry)
	}
	if kind == "event" && c.eventType != slackevents.CallbackEvent {
		t.Fatalf("Event got a %q", c.eventType)
	}
}
