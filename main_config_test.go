package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	slackbot "github.com/kineticsec/kinetic/bot/slackbot"
	"github.com/kineticsec/kinetic/configs"
)

// TestConfigValidateChecksSlackAPIURL: `kinetic config validate` checks the
// Slack front end's KINETIC_SLACK_* settings too: an API URL over plain
// http outside the outbound URL policy (the bot token would go to it), or
// with a numeric host, is a configuration error naming the variable.
func TestConfigValidateChecksSlackAPIURL(t *testing.T) {
	inTempDir(t)
	t.Setenv(slackbot.EnvBotToken, "xoxb-1")
	t.Setenv(slackbot.EnvSigningSecret, "s")
	for _, tc := range []struct{ url, want string }{
		{"http://127.0.0.1:9/api/", "KINETIC_SLACK_API_URL: outbound URL refused by policy: http://127.0.0.1:9/: host resolves to 127.0.0.1 (loopback)"},
		{"http://2130706433/api/", `KINETIC_SLACK_API_URL: host "2130706433" is a number in a non-standard form`},
		{"https://169.254.169.254/api/", "KINETIC_SLACK_API_URL: outbound URL refused by policy: https://169.254.169.254/: host resolves to 169.254.169.254 (link-local/cloud metadata)"},
	} {
		t.Setenv(slackbot.EnvAPIURL, tc.url)
		kinetic(t, "config", "validate").want(t, 2, tc.want)
	}
	t.Setenv(slackbot.EnvAPIURL, "https://198.51.100.7/api/")
	kinetic(t, "config", "validate").want(t, 0, "the embedded default is valid")
}

// writeEmbeddedWith writes the embedded default's files to dir with extra
// appended to the service file, and returns the service file's path.
func writeEmbeddedWith(t *testing.T, dir, extra string) string {
	t.Helper()
	for _, name := range []string{"embedded.yaml", "policy.example.yaml", "directory.sample.json"} {
		b, err := configs.EmbeddedFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if name == "embedded.yaml" {
			b = append(b, extra...)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "embedded.yaml")
}

// TestConfigValidateChecksChatSlack: the chat.slack block is checked by
// `kinetic config validate` like the rest of the file: a bad setting is a
// configuration error (exit 2) naming its file, line and key; a good one,
// with its secrets in {env:} form, is valid; KINETIC_SLACK_* override its
// keys, and the token prefixes are checked once the secrets resolve.
func TestConfigValidateChecksChatSlack(t *testing.T) {
	dir := inTempDir(t)
	for _, k := range []string{slackbot.EnvBotToken, slackbot.EnvSigningSecret, slackbot.EnvAppToken, slackbot.EnvAPIURL, slackbot.EnvMode, slackbot.EnvChannel, slackbot.EnvAlertsChannel} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("SLACK_BOT", "xoxb-1")
	t.Setenv("SLACK_SIGNING", "s")
	const good = `
chat:
  slack:
    bot_token: {env: SLACK_BOT}
    signing_secret: {env: SLACK_SIGNING}
    offboarding_channel: C0123ABCD
`
	path := writeEmbeddedWith(t, dir, good)
	kinetic(t, "config", "validate", "--config", path).want(t, 0, "is valid")

	b, err := configs.EmbeddedFile("embedded.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Count(string(b), "\n")
	path = writeEmbeddedWith(t, dir, good+"    mode: pigeon\n")
	kinetic(t, "config", "validate", "--config", path).want(t, 2,
		fmt.Sprintf("embedded.yaml:%d: chat.slack.mode", lines+7), `"pigeon" is not one of http, socket`)

	path = writeEmbeddedWith(t, dir, good+"    alerts_channel: \"#alerts\"\n")
	kinetic(t, "config", "validate", "--config", path).want(t, 2,
		fmt.Sprintf("embedded.yaml:%d: chat.slack.alerts_channel", lines+7), "use the channel ID")

	path = writeEmbeddedWith(t, dir, "\nchat:\n  slack:\n    mode: socket\n")
	kinetic(t, "config", "validate", "--config", path).want(t, 2, "chat.slack.bot_token: required", "chat.slack.app_token: required in socket mode")

	// The environment overrides the file: a token that is not a bot
	// token is refused, naming the key (never the value).
	path = writeEmbeddedWith(t, dir, good)
	t.Setenv(slackbot.EnvBotToken, "xapp-not-a-bot-token")
	r := kinetic(t, "config", "validate", "--config", path)
	r.want(t, 2, "chat.slack", "bot_token must be a bot token")
	if strings.Contains(r.String(), "xapp-not-a-bot-token") {
		t.Errorf("the token's value is shown:\n%s", r)
	}
}
