package configs

import (
	"strings"

	"github.com/kineticsec/kinetic/internal/secret"
	"github.com/kineticsec/kinetic/internal/slackcheck"
)

// Chat configures the chat front ends. Only Slack exists today; a Microsoft
// Teams front end would take its block at chat.teams, beside slack.
//
// configs parses, defaults and validates these blocks; it builds nothing:
// the composition (internal/app) maps chat.slack onto the Slack front end's
// own configuration (bot/slackbot.Config), so this package does not import
// the Slack code.
type Chat struct {
	// Slack configures the Slack front end (docs/slack.md). Absent: Slack
	// is configured by the KINETIC_SLACK_* variables alone, or not at all.
	Slack *SlackChat `yaml:"slack"`
}

// SlackChat is the chat.slack block. Its keys are those of
// bot/slackbot.Config; each KINETIC_SLACK_* variable, when set, overrides
// its key (EnvSlack).
type SlackChat struct {
	// BotToken (xoxb-…) authenticates Web API calls. Required.
	BotToken secret.Secret `yaml:"bot_token"`
	// SigningSecret verifies HTTP requests from Slack (http mode).
	SigningSecret secret.Secret `yaml:"signing_secret"`
	// AppToken (xapp-…) opens Socket Mode connections (socket mode).
	AppToken secret.Secret `yaml:"app_token"`
	// APIURL is the Web API base URL; default https://slack.com/api/.
	APIURL string `yaml:"api_url"`
	// Mode is "http" or "socket"; default socket when only app_token is
	// set, else http.
	Mode string `yaml:"mode"`
	// OffboardingChannel is the status cards' channel ID (C…).
	OffboardingChannel string `yaml:"offboarding_channel"`
	// AlertsChannel is the alerts channel's ID (C…): an older way to give
	// the route of alerts.security_channel (routing.NAME.slack.channel,
	// routing.go), which is the alerts channel. When both are set they
	// must agree.
	AlertsChannel string `yaml:"alerts_channel"`
}

// Slack modes (chat.slack.mode), as bot/slackbot's (internal/slackcheck).
const (
	SlackModeHTTP   = slackcheck.ModeHTTP
	SlackModeSocket = slackcheck.ModeSocket
)

// DefaultSlackAPIURL is chat.slack.api_url's default.
const DefaultSlackAPIURL = slackcheck.DefaultAPIURL

// EnvSlack maps each chat.slack key to the variable that overrides it (the
// names bot/slackbot reads for an environment-only configuration:
// slackcheck.EnvNames).
var EnvSlack = slackcheck.EnvNames

// applyEnv overrides the block's keys with the KINETIC_SLACK_* variables
// that are set. Without a chat.slack block nothing happens: the Slack front
// end then reads the variables itself, as it always has.
func (c *SlackChat) applyEnv(env func(string) (string, bool)) {
	if c == nil {
		return
	}
	get := func(key string) (string, bool) {
		v, ok := env(EnvSlack[key])
		v = strings.TrimSpace(v)
		return v, ok && v != ""
	}
	for key, p := range map[string]*secret.Secret{"bot_token": &c.BotToken, "signing_secret": &c.SigningSecret, "app_token": &c.AppToken} {
		if v, ok := get(key); ok {
			*p = secret.FromValue(v)
		}
	}
	for key, p := range map[string]*string{"api_url": &c.APIURL, "mode": &c.Mode, "offboarding_channel": &c.OffboardingChannel, "alerts_channel": &c.AlertsChannel} {
		if v, ok := get(key); ok {
			*p = v
		}
	}
}

// applyDefaults infers the mode as the environment-only configuration does.
// It runs after the environment overrides.
func (c *SlackChat) applyDefaults() {
	if c == nil || c.Mode != "" {
		return
	}
	c.Mode = slackcheck.InferMode(c.AppToken.IsSet(), c.SigningSecret.IsSet())
}

// validate checks the chat block; the Web API URL's destination is checked
// against the outbound policy by checkChatURLs.
func (ch *Chat) validate(d *doc) {
	c := ch.Slack
	if c == nil {
		return
	}
	const p = "chat.slack."
	if err := slackcheck.Mode(c.Mode); err != nil {
		d.add(p+"mode", "%v", err)
	}
	if !c.BotToken.IsSet() {
		d.add(p+"bot_token", "required ({env: NAME} or {file: PATH}, or set %s)", EnvSlack["bot_token"])
	}
	if c.Mode == SlackModeHTTP && !c.SigningSecret.IsSet() {
		d.add(p+"signing_secret", "required in http mode ({env: NAME} or {file: PATH}, or set %s)", EnvSlack["signing_secret"])
	}
	if c.Mode == SlackModeSocket && !c.AppToken.IsSet() {
		d.add(p+"app_token", "required in socket mode: an app-level token with connections:write ({env: NAME} or {file: PATH}, or set %s)", EnvSlack["app_token"])
	}
	if c.APIURL != "" {
		// Messages never repeat the URL: its user info may hold a token.
		if err := slackcheck.APIURL("api_url", c.APIURL); err != nil {
			d.add(p+"api_url", "%v", err)
		}
	}
	for _, ch := range []struct{ key, id string }{
		{"offboarding_channel", c.OffboardingChannel},
		{"alerts_channel", c.AlertsChannel},
	} {
		if err := slackcheck.ChannelID(ch.id); err != nil {
			d.add(p+ch.key, "%v", err)
		}
	}
}
