package app

import (
	"context"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/bot/slackapp"
	slackbot "github.com/kineticsec/kinetic/bot/slackbot"
	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/internal/outbound"
)

// SlackConfig returns the Slack front end's configuration: the service
// file's chat.slack block (with its KINETIC_SLACK_* overrides, applied by
// configs), or without that block the KINETIC_SLACK_* variables alone
// (slackapp.CheckEnv); nil, nil when neither configures Slack. It is
// validated (slackbot.Config.Validate: the token prefixes, which configs
// cannot see before secrets resolve) and its Web API URL checked against the
// outbound URL policy pol. `kinetic config validate` and `kinetic serve`
// both call it.
func SlackConfig(svc *configs.Service, pol *outbound.URLPolicy, getenv func(string) string) (*slackbot.Config, error) {
	sc := svc.Chat.Slack
	if sc == nil {
		return slackapp.CheckEnv(getenv, pol)
	}
	cfg := &slackbot.Config{
		BotToken: sc.BotToken, SigningSecret: sc.SigningSecret, AppToken: sc.AppToken,
		APIURL: sc.APIURL, Mode: sc.Mode, OffboardingChannel: sc.OffboardingChannel, AlertsChannel: sc.AlertsChannel,
	}
	err := cfg.Validate()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = cfg.CheckOutbound(ctx, pol)
	}
	if err != nil {
		src := svc.File
		if src == "" {
			src = "the embedded default"
		}
		return nil, fmt.Errorf("slack configuration (chat.slack in %s, or KINETIC_SLACK_*): %w", src, err)
	}
	return cfg, nil
}

// slackAPITimeout bounds each Slack Web API call made through the policy's
// client.
const slackAPITimeout = 30 * time.Second

// Slack builds the Slack front end SlackConfig describes, its Web API calls
// going through pol's client; nil, nil when Slack is not configured.
func Slack(svc *configs.Service, pol *outbound.URLPolicy, getenv func(string) string, log *logrus.Entry) (*slackapp.App, error) {
	cfg, err := SlackConfig(svc, pol, getenv)
	if cfg == nil || err != nil {
		return nil, err
	}
	cfg.HTTPClient = pol.HTTPClient(slackAPITimeout)
	return slackapp.New(slackapp.Options{Config: cfg, Log: log})
}
