package main

import (
	"testing"

	slackbot "github.com/kineticsec/kinetic/bot/slackbot"
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
