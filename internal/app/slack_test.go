package app

import (
	"strings"
	"testing"

	slackbot "github.com/kineticsec/kinetic/bot/slackbot"
	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

// TestSlackEnvNamesMatch: configs names the KINETIC_SLACK_* overrides of
// chat.slack without importing the Slack code; they are the variables
// bot/slackbot reads for an environment-only configuration.
func TestSlackEnvNamesMatch(t *testing.T) {
	want := map[string]string{
		"bot_token": slackbot.EnvBotToken, "signing_secret": slackbot.EnvSigningSecret, "app_token": slackbot.EnvAppToken,
		"api_url": slackbot.EnvAPIURL, "mode": slackbot.EnvMode, "offboarding_channel": slackbot.EnvChannel, "alerts_channel": slackbot.EnvAlertsChannel,
	}
	if len(configs.EnvSlack) != len(want) {
		t.Errorf("configs.EnvSlack has %d keys, want %d", len(configs.EnvSlack), len(want))
	}
	for k, v := range want {
		if configs.EnvSlack[k] != v {
			t.Errorf("configs.EnvSlack[%q] = %q, want %q", k, configs.EnvSlack[k], v)
		}
	}
}

// TestSlackConfig: chat.slack maps onto slackbot.Config; without it the
// KINETIC_SLACK_* variables alone configure Slack; with neither, Slack is
// off; a bad block is refused naming chat.slack and the key, never the
// token.
func TestSlackConfig(t *testing.T) {
	pol, err := outbound.NewURLPolicy(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) string { return "" }
	svc := &configs.Service{File: "kinetic.yaml"}
	if c, err := SlackConfig(svc, pol, noEnv); c != nil || err != nil {
		t.Fatalf("neither configured: got %v, %v; want nil, nil", c, err)
	}
	env := map[string]string{slackbot.EnvBotToken: "xoxb-env", slackbot.EnvSigningSecret: "s"}
	c, err := SlackConfig(svc, pol, func(k string) string { return env[k] })
	if err != nil || c == nil || c.BotToken.Value() != "xoxb-env" {
		t.Fatalf("env only: got %+v, %v", c, err)
	}
	svc.Chat.Slack = &configs.SlackChat{
		BotToken: secret.FromValue("xoxb-file"), SigningSecret: secret.FromValue("s"),
		Mode: configs.SlackModeHTTP, OffboardingChannel: "C0123", AlertsChannel: "C0456",
	}
	c, err = SlackConfig(svc, pol, func(k string) string { return env[k] })
	if err != nil || c == nil {
		t.Fatalf("file: %v", err)
	}
	if c.BotToken.Value() != "xoxb-file" || c.OffboardingChannel != "C0123" || c.AlertsChannel != "C0456" || c.EffectiveMode() != slackbot.ModeHTTP {
		t.Errorf("file: got %+v", c)
	}
	svc.Chat.Slack.BotToken = secret.FromValue("xapp-secret-value")
	_, err = SlackConfig(svc, pol, noEnv)
	if err == nil || !strings.Contains(err.Error(), "chat.slack in kinetic.yaml") || !strings.Contains(err.Error(), "bot_token must be a bot token") {
		t.Fatalf("bad token: got %v", err)
	}
	if strings.Contains(err.Error(), "xapp-secret-value") {
		t.Errorf("the token's value is shown: %v", err)
	}
}
