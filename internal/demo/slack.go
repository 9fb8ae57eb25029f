package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/bot/slackapp"
	slackbot "github.com/kineticsec/kinetic/bot/slackbot"
	"github.com/kineticsec/kinetic/bot/slackbot/slacktest"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/app"
	"github.com/kineticsec/kinetic/internal/routing"
	"github.com/kineticsec/kinetic/internal/secret"
)

// The it-assets team's Slack, as the demo shows it: the real Slack front
// end (bot/slackapp) talks to an in-process fake of Slack's Web API
// (bot/slackbot/slacktest) and receives the team's clicks as Slack sends
// them: block_actions and view_submission payloads, signed with the
// app's signing secret, posted to /slack/interactions. Only the
// equipment cards reach it (teamSlack.Observe): the rest of the demo's
// cases are shown by the demo's own printer.
const (
	demoSlackSecret   = "demo-slack-signing-secret"
	demoAssetsChannel = "C0ITASSETS"
)

// teamSlack is the demo's Slack for the it-assets team.
type teamSlack struct {
	fake *slacktest.Server
	sa   *slackapp.App
	mux  *http.ServeMux
	stop func()
	trig int
}

// newTeamSlack starts the fake Slack and builds the front end (bound
// later, once the engine exists).
func newTeamSlack(log *logrus.Entry) (*teamSlack, error) {
	fake := slacktest.Start()
	cfg := &slackbot.Config{BotToken: secret.FromValue(slacktest.BotToken), SigningSecret: secret.FromValue(demoSlackSecret),
		APIURL: fake.URL(), Mode: "http"}
	sa, err := slackapp.New(slackapp.Options{Config: cfg, Log: log,
		Routes:         routing.New(map[string]routing.Route{"it-assets": {Channel: demoAssetsChannel}}, nil, "slack:"),
		UpdateInterval: 20 * time.Millisecond})
	if err != nil {
		fake.Close()
		return nil, err
	}
	return &teamSlack{fake: fake, sa: sa}, nil
}

// Observe passes equipment events to the Slack front end.
func (s *teamSlack) Observe(ev engine.Event) {
	if ev.Kind == engine.EventEquipment || ev.Kind == engine.EventEquipmentOverdue {
		s.sa.Observe(ev)
	}
}

// start binds the front end to the demo's engine and directory, starts
// it and mounts its endpoints.
func (s *teamSlack) start(ctx context.Context, a *app.App) {
	s.sa.Bind(a.Engine, a.Directory)
	ctx, cancel := context.WithCancel(ctx)
	wait := s.sa.Start(ctx)
	s.stop = func() { cancel(); wait() }
	s.mux = http.NewServeMux()
	s.sa.Routes(slackbot.NewVerifier(demoSlackSecret, time.Now))(s.mux)
}

// Close stops the front end and the fake.
func (s *teamSlack) Close() {
	if s.stop != nil {
		s.stop()
	}
	s.fake.Close()
}

// interact posts payload to /slack/interactions as Slack does: form
// encoded, signed with the signing secret.
func (s *teamSlack) interact(payload map[string]any) (int, string) {
	b, _ := json.Marshal(payload)
	body := url.Values{"payload": {string(b)}}.Encode()
	r := httptest.NewRequest(http.MethodPost, "/slack/interactions", bytes.NewBufferString(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	slackbot.SignRequest(r, demoSlackSecret, time.Now(), []byte(body))
	w := httptest.NewRecorder()
	s.mux.ServeHTTP(w, r)
	return w.Code, strings.TrimSpace(w.Body.String())
}

// click is user clicking button actionID (value) on the message at
// (channel, ts); it returns the trigger id Slack gave the click.
func (s *teamSlack) click(user, channel, ts, actionID, value string) string {
	s.trig++
	trigger := fmt.Sprintf("demo-trigger-%d", s.trig)
	s.interact(map[string]any{
		"type": "block_actions", "user": map[string]any{"id": user}, "trigger_id": trigger,
		"team":      map[string]any{"id": slacktest.TeamID},
		"channel":   map[string]any{"id": channel},
		"container": map[string]any{"type": "message", "channel_id": channel, "message_ts": ts},
		"actions":   []any{map[string]any{"type": "button", "action_id": actionID, "value": value, "block_id": "b"}},
	})
	return trigger
}

// submit is user submitting the modal callbackID with private metadata
// and state values; it returns Slack's view of the answer: "" when the
// form closes, else the errors shown in it.
func (s *teamSlack) submit(user, callbackID, metadata string, values map[string]any) string {
	code, body := s.interact(map[string]any{
		"type": "view_submission", "user": map[string]any{"id": user}, "trigger_id": "demo-submit",
		"team": map[string]any{"id": slacktest.TeamID},
		"view": map[string]any{"id": "V0DEMO", "type": "modal", "callback_id": callbackID, "private_metadata": metadata,
			"state": map[string]any{"values": values}},
	})
	if code != http.StatusOK {
		return fmt.Sprintf("HTTP %d: %s", code, body)
	}
	var resp struct {
		Action string            `json:"response_action"`
		Errors map[string]string `json:"errors"`
	}
	if body == "" || json.Unmarshal([]byte(body), &resp) != nil || resp.Action != "errors" {
		return ""
	}
	var out []string
	for _, e := range resp.Errors {
		out = append(out, e)
	}
	return strings.Join(out, "; ")
}

// waitCall waits up to d for a Web API call of method that pred accepts
// (the newest first) and returns it.
func (s *teamSlack) waitCall(ctx context.Context, method string, d time.Duration, pred func(slacktest.Call) bool) (slacktest.Call, bool) {
	deadline := time.Now().Add(d)
	for {
		calls := s.fake.Calls(method)
		for i := len(calls) - 1; i >= 0; i-- {
			if pred(calls[i]) {
				return calls[i], true
			}
		}
		if time.Now().After(deadline) {
			return slacktest.Call{}, false
		}
		select {
		case <-ctx.Done():
			return slacktest.Call{}, false
		case <-time.After(20 * time.Millisecond): // polling the fake's record, bounded by the deadline
		}
	}
}

// cardButtons lists the labels of a message's buttons, as the team sees
// them.
func cardButtons(c slacktest.Call) []string {
	var bs []struct {
		Type     string `json:"type"`
		Elements []struct {
			Type string `json:"type"`
			Text struct {
				Text string `json:"text"`
			} `json:"text"`
		} `json:"elements"`
	}
	_ = json.Unmarshal(c.Blocks, &bs)
	var out []string
	for _, b := range bs {
		if b.Type != "actions" {
			continue
		}
		for _, e := range b.Elements {
			if e.Type == "button" {
				out = append(out, "["+e.Text.Text+"]")
			}
		}
	}
	return out
}

// cardText is the first section of a message (what the card says at the
// top), without Slack's markup.
func cardText(c slacktest.Call) string {
	var bs []struct {
		Type string `json:"type"`
		Text struct {
			Text string `json:"text"`
		} `json:"text"`
	}
	_ = json.Unmarshal(c.Blocks, &bs)
	var parts []string
	for _, b := range bs {
		if b.Type == "section" && b.Text.Text != "" {
			parts = append(parts, b.Text.Text)
		}
	}
	t := strings.Join(parts, " — ")
	if t == "" {
		t = c.Text
	}
	return strings.NewReplacer(":package: ", "", "\n", " ").Replace(bold.ReplaceAllString(t, "$1"))
}

// bold is Slack's *bold* markup (not the "***" of a masked address).
var bold = regexp.MustCompile(`\*([^*\s][^*\n]*?)\*`)
