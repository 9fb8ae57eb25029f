package slackbot

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/kineticsec/kinetic/internal/outbound"
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

type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// TestConfigCheckOutbound: the Web API URL, which receives the bot token,
// passes the outbound URL policy and uses https unless the policy allows
// its host explicitly; a numeric host in a non-standard form is refused.
// Set from the environment, messages name KINETIC_SLACK_API_URL.
func TestConfigCheckOutbound(t *testing.T) {
	res := fakeResolver{
		"slack.com":         {netip.MustParseAddr("203.0.113.10")},
		"slack.example.com": {netip.MustParseAddr("203.0.113.11")},
		"fake.slack.test":   {netip.MustParseAddr("127.0.0.1")},
		"rebind.test":       {netip.MustParseAddr("169.254.169.254")},
	}
	policy := func(cidrs, hosts []string) *outbound.URLPolicy {
		p, err := outbound.NewURLPolicy(cidrs, hosts)
		if err != nil {
			t.Fatal(err)
		}
		p.Resolver = res
		return p
	}
	zero := policy(nil, nil)
	loopback := policy([]string{"127.0.0.1/32"}, nil)
	byName := policy(nil, []string{"fake.slack.test"})
	for _, tc := range []struct {
		name, url string
		pol       *outbound.URLPolicy
		want      string // "" = accepted
	}{
		{"the default, https://slack.com/api/", "", zero, ""},
		{"https to a public host", "https://slack.example.com/api/", zero, ""},
		{"https to a host that cannot be resolved now", "https://gov.slack.test/api/", zero, ""},
		{"plain http to a public host", "http://slack.example.com/api/", zero, "api_url must use https: every call carries the bot token"},
		{"plain http to loopback, not allowed", "http://127.0.0.1:9/api", zero, "(loopback)"},
		{"plain http to loopback inside allow_cidrs", "http://127.0.0.1:9/api", loopback, ""},
		{"plain http to a name in allow_hosts", "http://fake.slack.test:9/api/", byName, ""},
		{"plain http to a name resolving into allow_cidrs", "http://fake.slack.test:9/api/", loopback, ""},
		{"plain http to another loopback address", "http://127.0.0.2:9/api", loopback, "(loopback)"},
		{"the metadata endpoint", "https://169.254.169.254/api/", loopback, "link-local/cloud metadata"},
		{"a name resolving to the metadata endpoint", "https://rebind.test/api/", loopback, "link-local/cloud metadata"},
		{"a decimal host", "https://2130706433/api/", loopback, `host "2130706433" is a number in a non-standard form`},
		{"a shorthand host", "http://127.1:9/api/", loopback, `host "127.1" is a number in a non-standard form`},
		{"a nil policy refuses loopback", "http://127.0.0.1:9/api", nil, "(loopback)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{APIURL: tc.url, BotToken: secret.FromValue("xoxb-secretvalue"), SigningSecret: secret.FromValue("sig")}
			if tc.pol == nil {
				// The nil policy resolves with the system resolver: use a
				// literal address only.
				if !strings.Contains(tc.url, "127.0.0.1") {
					t.Fatal("nil policy cases need a literal address")
				}
			}
			err := c.CheckOutbound(context.Background(), tc.pol)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("CheckOutbound: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "api_url") {
				t.Fatalf("CheckOutbound = %v, want it to start with api_url and say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secretvalue") || strings.Contains(err.Error(), "/api") {
				t.Errorf("the message repeats a token or the URL's path: %v", err)
			}
		})
	}

	t.Run("from the environment, messages name the variable", func(t *testing.T) {
		c, ok := ConfigFromEnv(env(map[string]string{EnvBotToken: "xoxb-1", EnvSigningSecret: "s", EnvAPIURL: "http://slack.example.com/api/"}))
		if !ok {
			t.Fatal("not configured")
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Validate: %v", err)
		}
		err := c.CheckOutbound(context.Background(), zero)
		if err == nil || !strings.HasPrefix(err.Error(), EnvAPIURL+" must use https") {
			t.Fatalf("CheckOutbound = %v, want it to name %s", err, EnvAPIURL)
		}
		c, _ = ConfigFromEnv(env(map[string]string{EnvBotToken: "xoxb-1", EnvSigningSecret: "s", EnvAPIURL: "https://0x7f000001/api/"}))
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), EnvAPIURL+`: host "0x7f000001" is a number in a non-standard form`) {
			t.Fatalf("Validate = %v, want the hex host refused naming %s", err, EnvAPIURL)
		}
	})
}
