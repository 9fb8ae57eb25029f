package slackapp_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	slackapp "github.com/kineticsec/kinetic/bot/slackapp"
	slackbot "github.com/kineticsec/kinetic/bot/slackbot"
	"github.com/kineticsec/kinetic/bot/slackbot/slacktest"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

func TestFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	t.Run("no Slack variables: no front end", func(t *testing.T) {
		if a, err := slackapp.FromEnv(env(nil), nil, nil); a != nil || err != nil {
			t.Fatalf("got %v %v", a, err)
		}
	})
	t.Run("an invalid configuration names the problems", func(t *testing.T) {
		_, err := slackapp.FromEnv(env(map[string]string{slackbot.EnvBotToken: "xoxp-user", slackbot.EnvChannel: "#offboarding"}), nil, nil)
		if err == nil || !strings.Contains(err.Error(), "bot token") || !strings.Contains(err.Error(), "channel name") || strings.Contains(err.Error(), "xoxp-user") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("an API URL outside the outbound policy is refused, naming the variable", func(t *testing.T) {
		for _, u := range []string{"http://127.0.0.1:9/api/", "https://169.254.169.254/api/", "http://2130706433/api/"} {
			a, err := slackapp.FromEnv(env(map[string]string{slackbot.EnvBotToken: "xoxb-1", slackbot.EnvSigningSecret: "s", slackbot.EnvAPIURL: u}), nil, nil)
			if a != nil || err == nil || !strings.Contains(err.Error(), slackbot.EnvAPIURL) {
				t.Errorf("%s: got %v %v, want refused naming %s", u, a, err, slackbot.EnvAPIURL)
			}
		}
		pol, err := outbound.NewURLPolicy([]string{"127.0.0.1/32"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if a, err := slackapp.FromEnv(env(map[string]string{slackbot.EnvBotToken: "xoxb-1", slackbot.EnvSigningSecret: "s", slackbot.EnvAPIURL: "http://127.0.0.1:9/api/"}), pol, nil); err != nil || a == nil {
			t.Errorf("a test fake on 127.0.0.1 allowed by outbound.allow_cidrs: got %v %v", a, err)
		}
	})
	t.Run("a valid HTTP configuration builds", func(t *testing.T) {
		a, err := slackapp.FromEnv(env(map[string]string{slackbot.EnvBotToken: "xoxb-1", slackbot.EnvSigningSecret: "s"}), nil, nil)
		if err != nil || a == nil {
			t.Fatalf("got %v %v", a, err)
		}
	})
}

// TestSocketModeServesTheSameHandlers: Run in Socket Mode connects with the
// app token and answers a slash command through the same handlers; in
// HTTP mode it returns the routes to mount instead.
func TestSocketModeServesTheSameHandlers(t *testing.T) {
	e := newEnv(t)
	cfg := *e.opts.Config
	cfg.AppToken, cfg.SigningSecret, cfg.Mode = secret.FromValue(slacktest.AppToken), secret.Secret{}, slackbot.ModeSocket
	a, err := slackapp.New(slackapp.Options{Config: &cfg, Log: logrus.NewEntry(logrus.New())})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	mount, stop := a.Run(ctx, e.kit.Engine, e.kit.Directory, nil, true)
	defer func() { cancel(); stop() }()
	if mount != nil {
		t.Fatal("socket mode returned HTTP routes")
	}
	e.fake.WaitConnected(t, wait)
	id := e.fake.SendEnvelope(t, "slash_commands", map[string]any{
		"command": "/offboard", "text": "help", "user_id": "UMIA", "channel_id": offboarding, "team_id": slacktest.TeamID,
	})
	ack := e.fake.WaitForAck(t, id, wait)
	var m slackbot.Message
	if err := json.Unmarshal(ack.Payload, &m); err != nil || m.ResponseType != "ephemeral" || !strings.Contains(m.Text, "/offboard") {
		t.Fatalf("ack %s (%v)", ack.Payload, err)
	}

	httpApp, err := slackapp.New(slackapp.Options{Config: e.opts.Config})
	if err != nil {
		t.Fatal(err)
	}
	hctx, hcancel := context.WithCancel(context.Background())
	mount, hstop := httpApp.Run(hctx, e.kit.Engine, e.kit.Directory, nil, true)
	defer func() { hcancel(); hstop() }()
	if mount == nil {
		t.Fatal("HTTP mode returned no routes")
	}
}
