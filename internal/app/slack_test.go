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

// TestSlackAlertsChannelIsTheSecurityRoute: the alerts channel is one
// setting, the route of alerts.security_channel; chat.slack.alerts_channel
// and KINETIC_SLACK_ALERTS_CHANNEL still give it, and are refused when they
// disagree with the route.
func TestSlackAlertsChannelIsTheSecurityRoute(t *testing.T) {
	pol, err := outbound.NewURLPolicy(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := &configs.Service{File: "kinetic.yaml", Alerts: configs.Alerts{SecurityChannel: "security-alerts"},
		Routing: map[string]*configs.Route{"security-alerts": {Slack: &configs.SlackRoute{Channel: "C0SEC"}}}}
	env := map[string]string{slackbot.EnvBotToken: "xoxb-env", slackbot.EnvSigningSecret: "s"}
	getenv := func(k string) string { return env[k] }
	if c, err := SlackConfig(svc, pol, getenv); err != nil || c.AlertsChannel != "C0SEC" {
		t.Fatalf("route only: %+v, %v", c, err)
	}
	env[slackbot.EnvAlertsChannel] = "C0SEC"
	if c, err := SlackConfig(svc, pol, getenv); err != nil || c.AlertsChannel != "C0SEC" {
		t.Fatalf("both, agreeing: %+v, %v", c, err)
	}
	env[slackbot.EnvAlertsChannel] = "C0OTHER"
	if _, err := SlackConfig(svc, pol, getenv); err == nil || !strings.Contains(err.Error(), "routing.security-alerts.slack.channel") {
		t.Fatalf("both, disagreeing: %v", err)
	}
	svc.Routing = nil
	if c, err := SlackConfig(svc, pol, getenv); err != nil || c.AlertsChannel != "C0OTHER" {
		t.Fatalf("the variable alone: %+v, %v", c, err)
	}
	tab := SlackRoutes(&configs.Service{Routing: map[string]*configs.Route{"it-identity": {Slack: &configs.SlackRoute{Channel: "C0ID", UserGroup: "S0ID"}}},
		ApproverGroups: map[string][]string{"hr": {"E1", "slack:S0HR"}}})
	if d := tab.Resolve("channel:it-identity"); !d.Routed || d.Channel != "C0ID" || d.UserGroup != "S0ID" {
		t.Fatalf("owner route: %+v", d)
	}
	if d := tab.Resolve("group:hr"); !d.Routed || len(d.People) != 1 || len(d.UserGroups) != 1 || d.UserGroups[0] != "S0HR" {
		t.Fatalf("approver group: %+v", d)
	}
}
