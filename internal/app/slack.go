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
	"github.com/kineticsec/kinetic/internal/routing"
)

// SlackConfig returns the Slack front end's configuration: the service
// file's chat.slack block (with its KINETIC_SLACK_* overrides, applied by
// configs), or without that block the KINETIC_SLACK_* variables alone
// (slackapp.CheckEnv); nil, nil when neither configures Slack. It is
// validated (slackbot.Config.Validate: the token prefixes, which configs
// cannot see before secrets resolve) and its Web API URL checked against the
// outbound URL policy pol. `kinetic config validate` and `kinetic serve`
// both call it.
//
// The alerts channel is one setting: the route of alerts.security_channel
// (routing.NAME.slack.channel); chat.slack.alerts_channel and
// KINETIC_SLACK_ALERTS_CHANNEL are an older way to give it, refused when
// they disagree with the route.
func SlackConfig(svc *configs.Service, pol *outbound.URLPolicy, getenv func(string) string) (*slackbot.Config, error) {
	sc := svc.Chat.Slack
	if sc == nil {
		cfg, err := slackapp.CheckEnv(getenv, pol)
		if cfg == nil || err != nil {
			return cfg, err
		}
		return cfg, alertsRoute(svc, cfg)
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
	return cfg, alertsRoute(svc, cfg)
}

// alertsRoute makes the security channel's Slack route cfg's alerts
// channel, refusing an alerts channel set otherwise that disagrees.
func alertsRoute(svc *configs.Service, cfg *slackbot.Config) error {
	sec := svc.Alerts.SecurityChannel
	r := svc.Routing[sec]
	if sec == "" || r == nil || r.Slack == nil || r.Slack.Channel == "" {
		return nil
	}
	if cfg.AlertsChannel != "" && cfg.AlertsChannel != r.Slack.Channel {
		return fmt.Errorf("the Slack alerts channel is set twice: %s (chat.slack.alerts_channel or %s) and %s (routing.%s.slack.channel); set one",
			cfg.AlertsChannel, configs.EnvSlack["alerts_channel"], r.Slack.Channel, sec)
	}
	cfg.AlertsChannel = r.Slack.Channel
	return nil
}

// SlackRoutes is the Slack routing table of the service file: each
// routing.NAME.slack block, and the approver groups group:NAME targets
// name (their slack:S… entries being Slack user groups).
func SlackRoutes(svc *configs.Service) *routing.Table {
	routes := map[string]routing.Route{}
	for name, r := range svc.Routing {
		if r == nil || (r.Slack == nil && r.Email == nil) {
			continue
		}
		var rt routing.Route
		if r.Slack != nil {
			rt = routing.Route{Channel: r.Slack.Channel, UserGroup: r.Slack.UserGroup, People: r.Slack.People}
		}
		if r.Email != nil {
			rt.Email = r.Email.To // reached by email: not a missing route
		}
		routes[name] = rt
	}
	return routing.New(routes, svc.ApproverGroups, configs.SlackGroupPrefix)
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
	return slackapp.New(slackapp.Options{Config: cfg, Log: log, Routes: SlackRoutes(svc), SecurityChannel: svc.Alerts.SecurityChannel})
}
