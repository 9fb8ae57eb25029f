// Package slackcheck holds the checks of a Slack front end's settings that
// both the service file's loader (configs, chat.slack) and the Slack front
// end itself (bot/slackbot.Config) make: the transport modes, the
// KINETIC_SLACK_* variable names, conversation IDs and the Web API URL's
// form. It is a leaf (standard library and internal/outbound's form
// checks), so configs links nothing of Slack's.
package slackcheck

import (
	"fmt"
	"strings"

	"github.com/kineticsec/kinetic/internal/outbound"
)

// Transport modes.
const (
	// ModeHTTP receives Slack's requests on public URLs.
	ModeHTTP = "http"
	// ModeSocket receives them over a Socket Mode WebSocket.
	ModeSocket = "socket"
)

// DefaultAPIURL is the Slack Web API base URL.
const DefaultAPIURL = "https://slack.com/api/"

// Environment variables that configure Slack (alone, or over chat.slack).
const (
	EnvBotToken      = "KINETIC_SLACK_BOT_TOKEN"
	EnvSigningSecret = "KINETIC_SLACK_SIGNING_SECRET"
	EnvAppToken      = "KINETIC_SLACK_APP_TOKEN"
	EnvAPIURL        = "KINETIC_SLACK_API_URL"
	EnvChannel       = "KINETIC_SLACK_CHANNEL"
	EnvAlertsChannel = "KINETIC_SLACK_ALERTS_CHANNEL"
	// EnvMode ("http" or "socket") overrides the mode inferred from which
	// credentials are set.
	EnvMode = "KINETIC_SLACK_MODE"
)

// EnvNames maps each configuration key to the variable that sets it.
// Callers must not modify it.
var EnvNames = map[string]string{
	"bot_token":           EnvBotToken,
	"signing_secret":      EnvSigningSecret,
	"app_token":           EnvAppToken,
	"api_url":             EnvAPIURL,
	"mode":                EnvMode,
	"offboarding_channel": EnvChannel,
	"alerts_channel":      EnvAlertsChannel,
}

// InferMode is the mode when none is configured: socket when only the app
// token is set (no signing secret), http otherwise — http wins when both
// are, as the production default.
func InferMode(appToken, signingSecret bool) string {
	if appToken && !signingSecret {
		return ModeSocket
	}
	return ModeHTTP
}

// Mode accepts ModeHTTP and ModeSocket.
func Mode(m string) error {
	switch m {
	case ModeHTTP, ModeSocket:
		return nil
	}
	return fmt.Errorf("%q is not one of %s, %s", m, ModeHTTP, ModeSocket)
}

// ChannelID accepts "" or something shaped like a Slack conversation ID
// (C…, G…, D…). Names such as #offboarding are refused because a channel
// can be renamed, and chat.postMessage wants the ID.
func ChannelID(id string) error {
	if id == "" {
		return nil
	}
	if strings.HasPrefix(id, "#") {
		return fmt.Errorf("%q is a channel name; use the channel ID (C…), shown in the channel's details", id)
	}
	if len(id) < 2 || !strings.ContainsRune("CGD", rune(id[0])) {
		return fmt.Errorf("%q is not a channel ID (C…, G… or D…)", id)
	}
	for _, r := range id {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return fmt.Errorf("%q is not a channel ID (upper-case letters and digits)", id)
		}
	}
	return nil
}

// APIURL checks the form of a configured Web API URL (not empty), named
// name in messages: an absolute http(s) URL without user info whose host
// is well formed. Messages never repeat the URL (its user info may hold a
// token). Whether its destination is allowed is the outbound policy's
// question, asked separately.
func APIURL(name, raw string) error {
	u, err := outbound.CheckURLForm(name, raw, outbound.URLForm{CredentialsHint: "credentials come from the tokens"})
	if err != nil {
		return fmt.Errorf("%w (e.g. %s)", err, DefaultAPIURL)
	}
	if err := outbound.CheckHostForm(u.Hostname()); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
