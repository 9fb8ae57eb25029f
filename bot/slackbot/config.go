package slackbot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
	"github.com/kineticsec/kinetic/internal/slackcheck"
)

// Transport modes for Config.Mode (internal/slackcheck's, which configs
// checks chat.slack.mode against too).
const (
	// ModeHTTP receives Slack's requests on Routes' public URLs.
	ModeHTTP = slackcheck.ModeHTTP
	// ModeSocket receives them over a Socket Mode WebSocket.
	ModeSocket = slackcheck.ModeSocket
)

// DefaultAPIURL is the Slack Web API base URL.
const DefaultAPIURL = slackcheck.DefaultAPIURL

// Config configures the Slack front end. The zero value of every optional
// field means its default; Validate reports every problem at once and does no
// I/O.
type Config struct {
	// BotToken (xoxb-…) authenticates Web API calls: posting status cards,
	// opening modals, looking users up. Required.
	BotToken secret.Secret `yaml:"bot_token"`
	// SigningSecret verifies HTTP requests from Slack. Required in http
	// mode; unused in socket mode.
	SigningSecret secret.Secret `yaml:"signing_secret"`
	// AppToken (xapp-…, with the connections:write scope) opens Socket Mode
	// connections. Required in socket mode; unused in http mode.
	AppToken secret.Secret `yaml:"app_token"`
	// APIURL is the Web API base URL; default https://slack.com/api/ (set
	// it for GovSlack or a test fake). A missing trailing slash is added.
	APIURL string `yaml:"api_url"`
	// Mode is "http" (default) or "socket".
	Mode string `yaml:"mode"`
	// OffboardingChannel is the channel ID (C…) where status cards are
	// posted; empty means they go only to the requester.
	OffboardingChannel string `yaml:"offboarding_channel"`
	// AlertsChannel is the channel ID where SLA escalations and security
	// notices are posted; empty disables Slack alerts.
	AlertsChannel string `yaml:"alerts_channel"`

	// HTTPClient makes the Web API calls (they carry the bot token); nil
	// means Go's default client. slackapp.FromEnv sets it to the outbound
	// URL policy's client, which checks every address it connects to.
	HTTPClient *http.Client `yaml:"-"`

	// fromEnv is set by ConfigFromEnv: messages then name the variables.
	fromEnv bool
}

// envNames maps each key to the variable ConfigFromEnv reads it from.
var envNames = slackcheck.EnvNames

// name is how messages name key: the key, or for a configuration from the
// environment, the variable that set it.
func (c Config) name(key string) string {
	if c.fromEnv {
		if v, ok := envNames[key]; ok {
			return v
		}
	}
	return key
}

// EffectiveMode returns Mode or its default, ModeHTTP.
func (c Config) EffectiveMode() string {
	if c.Mode == "" {
		return ModeHTTP
	}
	return c.Mode
}

// EffectiveAPIURL returns APIURL or DefaultAPIURL, always ending in "/" as
// slack.OptionAPIURL expects (it appends method names directly).
func (c Config) EffectiveAPIURL() string {
	u := strings.TrimSpace(c.APIURL)
	if u == "" {
		return DefaultAPIURL
	}
	if !strings.HasSuffix(u, "/") {
		u += "/"
	}
	return u
}

// Validate reports every problem with the configuration, joined. Messages
// start with the YAML key they concern (for a configuration from
// ConfigFromEnv, the variable) and never contain a secret's value. The
// API URL's destination is checked by CheckOutbound.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	mode := c.EffectiveMode()
	if err := slackcheck.Mode(mode); err != nil {
		add("%s %v", c.name("mode"), err)
	}
	if !c.BotToken.IsSet() {
		add("%s is required", c.name("bot_token"))
	} else if v := c.BotToken.Value(); v != "" && !strings.HasPrefix(v, "xoxb-") {
		// Only the prefix is checked (and never printed): pasting the app
		// token or a user token here is the common mistake.
		add("%s must be a bot token (xoxb-…)", c.name("bot_token"))
	}
	if mode == ModeHTTP && !c.SigningSecret.IsSet() {
		add("%s is required in http mode (Basic Information → App Credentials)", c.name("signing_secret"))
	}
	if mode == ModeSocket {
		if !c.AppToken.IsSet() {
			add("%s is required in socket mode (an app-level token with connections:write)", c.name("app_token"))
		} else if v := c.AppToken.Value(); v != "" && !strings.HasPrefix(v, "xapp-") {
			add("%s must be an app-level token (xapp-…)", c.name("app_token"))
		}
	}
	if c.APIURL != "" {
		// Messages never repeat the URL: its user info may hold a token.
		if err := slackcheck.APIURL(c.name("api_url"), c.APIURL); err != nil {
			add("%v", err)
		}
	}
	for _, ch := range []struct{ key, v string }{
		{"offboarding_channel", c.OffboardingChannel},
		{"alerts_channel", c.AlertsChannel},
	} {
		if err := slackcheck.ChannelID(ch.v); err != nil {
			add("%s: %v", c.name(ch.key), err)
		}
	}
	return errors.Join(errs...)
}

// CheckOutbound checks the Web API URL (EffectiveAPIURL), which receives
// the bot token with every call, against the outbound URL policy pol (nil:
// the zero policy, which refuses every internal address): it is refused
// when the policy refuses its host (loopback, private, cloud metadata, …
// unless outbound.allow_cidrs or allow_hosts allow it), and when it uses
// plain http to a host the policy does not explicitly allow
// (URLPolicy.ExplicitlyAllows: listed in allow_hosts, or inside
// allow_cidrs) — a test fake on 127.0.0.1 with 127.0.0.1/32 allowed, say.
// A host that cannot be resolved now is not refused: the client built
// with the policy checks every connection anyway. Messages never repeat
// the URL's path or user info.
func (c Config) CheckOutbound(ctx context.Context, pol *outbound.URLPolicy) error {
	raw := c.EffectiveAPIURL()
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s is not a valid absolute URL", c.name("api_url"))
	}
	if err := outbound.CheckHostForm(u.Hostname()); err != nil {
		return fmt.Errorf("%s: %w", c.name("api_url"), err)
	}
	if err := pol.CheckURL(ctx, raw); errors.Is(err, outbound.ErrURLRefused) {
		return fmt.Errorf("%s: %w", c.name("api_url"), err)
	}
	if strings.EqualFold(u.Scheme, "http") && !pol.ExplicitlyAllows(ctx, u.Hostname()) {
		return fmt.Errorf("%s must use https: every call carries the bot token (plain http is accepted only for a host listed in outbound.allow_hosts or inside outbound.allow_cidrs, e.g. a local test fake)", c.name("api_url"))
	}
	return nil
}

// Environment variables read by ConfigFromEnv.
const (
	EnvBotToken      = slackcheck.EnvBotToken
	EnvSigningSecret = slackcheck.EnvSigningSecret
	EnvAppToken      = slackcheck.EnvAppToken
	EnvAPIURL        = slackcheck.EnvAPIURL
	EnvChannel       = slackcheck.EnvChannel
	EnvAlertsChannel = slackcheck.EnvAlertsChannel
	// EnvMode ("http" or "socket") overrides the mode inferred from which
	// credentials are set.
	EnvMode = slackcheck.EnvMode
)

// ConfigFromEnv builds a Config from KINETIC_SLACK_* variables, for
// deployments configured by environment alone. It reports false when none of
// the three credentials is set (Slack is not configured); a partial
// configuration returns true so that Validate can say what is missing rather
// than Slack being silently off.
//
// The mode is inferred: socket when KINETIC_SLACK_APP_TOKEN is set and
// KINETIC_SLACK_SIGNING_SECRET is not, http otherwise. When both are set,
// http wins — it is the production default, needs no long-lived outbound
// connection, and scales behind a load balancer like the rest of `kinetic
// serve` — unless KINETIC_SLACK_MODE says otherwise. The caller still calls
// Validate and CheckOutbound (slackapp.CheckEnv does both); their messages
// name the variables.
func ConfigFromEnv(getenv func(string) string) (*Config, bool) {
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	c := &Config{
		APIURL:             get(EnvAPIURL),
		OffboardingChannel: get(EnvChannel),
		AlertsChannel:      get(EnvAlertsChannel),
		fromEnv:            true,
	}
	if v := get(EnvBotToken); v != "" {
		c.BotToken = secret.FromValue(v)
	}
	if v := get(EnvSigningSecret); v != "" {
		c.SigningSecret = secret.FromValue(v)
	}
	if v := get(EnvAppToken); v != "" {
		c.AppToken = secret.FromValue(v)
	}
	if !c.BotToken.IsSet() && !c.SigningSecret.IsSet() && !c.AppToken.IsSet() {
		return nil, false
	}
	switch m := get(EnvMode); {
	case m != "":
		c.Mode = m
	default:
		c.Mode = slackcheck.InferMode(c.AppToken.IsSet(), c.SigningSecret.IsSet())
	}
	return c, true
}
