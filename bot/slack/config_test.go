package slackbot

import (
	"errors"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/kineticsec/kinetic/internal/secret"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		wantOK   bool
		wantMode string
	}{
		{"nothing set: Slack is off", map[string]string{EnvAPIURL: "https://x/api/", EnvChannel: "C1"}, false, ""},
		{"signing secret: http", map[string]string{EnvBotToken: "xoxb-1", EnvSigningSecret: "s"}, true, ModeHTTP},
		{"app token without signing secret: socket", map[string]string{EnvBotToken: "xoxb-1", EnvAppToken: "xapp-1"}, true, ModeSocket},
		{"both: http wins", map[string]string{EnvBotToken: "xoxb-1", EnvSigningSecret: "s", EnvAppToken: "xapp-1"}, true, ModeHTTP},
		{"both, mode forced to socket", map[string]string{EnvBotToken: "xoxb-1", EnvSigningSecret: "s", EnvAppToken: "xapp-1", EnvMode: "socket"}, true, ModeSocket},
		{"only a bot token: http, so Validate asks for the signing secret", map[string]string{EnvBotToken: "xoxb-1"}, true, ModeHTTP},
		{"blank values count as unset", map[string]string{EnvBotToken: "  ", EnvSigningSecret: ""}, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := ConfigFromEnv(env(tc.env))
			if ok != tc.wantOK {
				t.Fatalf("ok = %v", ok)
			}
			if ok && c.Mode != tc.wantMode {
				t.Errorf("mode = %q, want %q", c.Mode, tc.wantMode)
			}
		})
	}

	t.Run("values are carried over", func(t *testing.T) {
		c, _ := ConfigFromEnv(env(map[string]string{
			EnvBotToken: "xoxb-1", EnvSigningSecret: " shh ", EnvAPIURL: "http://127.0.0.1:9/api",
			EnvChannel: "C0OFFBOARD", EnvAlertsChannel: "C0ALERTS",
		}))
		if c.BotToken.Value() != "xoxb-1" || c.SigningSecret.Value() != "shh" || c.EffectiveAPIURL() != "http://127.0.0.1:9/api/" ||
			c.OffboardingChannel != "C0OFFBOARD" || c.AlertsChannel != "C0ALERTS" {
			t.Errorf("config = %#v", c)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("Validate: %v", err)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	valid := func() Config {
		return Config{BotToken: secret.FromValue("xoxb-123"), SigningSecret: secret.FromValue("sig")}
	}
	tests := []struct {
		name   string
		change func(*Config)
		want   string // substring of the error; "" for valid
	}{
		{"http with bot token and signing secret", func(*Config) {}, ""},
		{"socket with an app token", func(c *Config) {
			c.Mode, c.SigningSecret, c.AppToken = ModeSocket, secret.Secret{}, secret.FromValue("xapp-1")
		}, ""},
		{"channels as IDs", func(c *Config) { c.OffboardingChannel, c.AlertsChannel = "C0123ABC", "G0SEC" }, ""},
		{"secret references not yet resolved are fine", func(c *Config) { c.BotToken = secret.Secret{Env: "SLACK_BOT"} }, ""},
		{"no bot token", func(c *Config) { c.BotToken = secret.Secret{} }, "bot_token is required"},
		{"an app token in the bot slot", func(c *Config) { c.BotToken = secret.FromValue("xapp-1-secretvalue") }, "bot_token must be a bot token"},
		{"http without signing secret", func(c *Config) { c.SigningSecret = secret.Secret{} }, "signing_secret is required"},
		{"socket without app token", func(c *Config) { c.Mode = ModeSocket }, "app_token is required"},
		{"socket with a bot token as app token", func(c *Config) {
			c.Mode, c.AppToken = ModeSocket, secret.FromValue("xoxb-secretvalue")
		}, "app_token must be an app-level token"},
		{"unknown mode", func(c *Config) { c.Mode = "rtm" }, `mode "rtm"`},
		{"relative api_url", func(c *Config) { c.APIURL = "/api/" }, "api_url"},
		{"ftp api_url", func(c *Config) { c.APIURL = "ftp://slack.com/api/" }, "api_url"},
		{"api_url with credentials", func(c *Config) { c.APIURL = "https://u:p@slack.com/api/" }, "credentials"},
		{"channel by name", func(c *Config) { c.OffboardingChannel = "#offboarding" }, "offboarding_channel"},
		{"channel in lower case", func(c *Config) { c.AlertsChannel = "c0123" }, "alerts_channel"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.change(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want it to mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secretvalue") {
				t.Errorf("the error prints a token: %v", err)
			}
		})
	}

	t.Run("every problem is reported at once", func(t *testing.T) {
		err := Config{Mode: "x", APIURL: "nope", AlertsChannel: "#a"}.Validate()
		var joined interface{ Unwrap() []error }
		if !errors.As(err, &joined) || len(joined.Unwrap()) < 4 {
			t.Fatalf("Validate = %v", err)
		}
	})
}

func TestConfigDefaults(t *testing.T) {
	var c Config
	if c.EffectiveMode() != ModeHTTP || c.EffectiveAPIURL() != DefaultAPIURL {
		t.Fatalf("defaults: %q %q", c.EffectiveMode(), c.EffectiveAPIURL())
	}
}

func TestConfigYAML(t *testing.T) {
	const doc = `
bot_token: {env: KINETIC_TEST_SLACK_BOT}
signing_secret: {file: /run/secrets/slack-signing}
mode: http
offboarding_channel: C0OFFBOARD
alerts_channel: C0ALERTS
`
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if c.BotToken.Env != "KINETIC_TEST_SLACK_BOT" || c.SigningSecret.File != "/run/secrets/slack-signing" || c.AlertsChannel != "C0ALERTS" {
		t.Errorf("decoded %#v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}

	t.Run("an inline token is refused", func(t *testing.T) {
		var c Config
		err := yaml.Unmarshal([]byte("bot_token: xoxb-inline\n"), &c)
		if !errors.Is(err, secret.ErrInline) {
			t.Fatalf("err = %v, want ErrInline", err)
		}
	})
}
