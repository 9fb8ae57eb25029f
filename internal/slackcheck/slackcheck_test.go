package slackcheck

import (
	"strings"
	"testing"
)

func TestChannelID(t *testing.T) {
	for _, ok := range []string{"", "C0123ABCD", "G01", "D9"} {
		if err := ChannelID(ok); err != nil {
			t.Errorf("ChannelID(%q) = %v", ok, err)
		}
	}
	for id, want := range map[string]string{
		"#offboarding": "is a channel name",
		"X123":         "not a channel ID (C…, G… or D…)",
		"C":            "not a channel ID (C…, G… or D…)",
		"C01abc":       "upper-case letters and digits",
	} {
		if err := ChannelID(id); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ChannelID(%q) = %v, want %q", id, err, want)
		}
	}
}

func TestModeAndInferMode(t *testing.T) {
	if Mode(ModeHTTP) != nil || Mode(ModeSocket) != nil || Mode("websocket") == nil || Mode("") == nil {
		t.Error("Mode accepts the wrong values")
	}
	for _, c := range []struct {
		app, signing bool
		want         string
	}{{true, false, ModeSocket}, {true, true, ModeHTTP}, {false, true, ModeHTTP}, {false, false, ModeHTTP}} {
		if got := InferMode(c.app, c.signing); got != c.want {
			t.Errorf("InferMode(%v, %v) = %s, want %s", c.app, c.signing, got, c.want)
		}
	}
}

func TestAPIURLNeverRepeatsTheURL(t *testing.T) {
	if err := APIURL("api_url", "https://slack.example.com/api/"); err != nil {
		t.Fatal(err)
	}
	err := APIURL("api_url", "ftp://user:xoxb-secret@slack.example.com/")
	if err == nil || !strings.HasPrefix(err.Error(), "api_url") || strings.Contains(err.Error(), "xoxb-secret") {
		t.Errorf("APIURL = %v", err)
	}
}
