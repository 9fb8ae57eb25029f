package slackapp_test

import (
	"bytes"
	"os"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"

	slackapp "github.com/kineticsec/kinetic/bot/slackapp"
	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
)

// TestManifestMatchesTheCode: the shipped manifest asks for exactly the
// scopes the code uses, points at the routes slackbot.Routes mounts,
// offers the global shortcut the code handles, and subscribes to
// app_home_opened.
func TestManifestMatchesTheCode(t *testing.T) {
	b, err := os.ReadFile("../../deployments/slack/manifest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Features struct {
			AppHome struct {
				HomeTab bool `yaml:"home_tab_enabled"`
			} `yaml:"app_home"`
			Shortcuts []struct {
				Name, Type string
				CallbackID string `yaml:"callback_id"`
			}
			SlashCommands []struct {
				Command, URL string
				Escape       bool `yaml:"should_escape"`
			} `yaml:"slash_commands"`
		}
		OAuth struct {
			Scopes struct{ Bot []string }
		} `yaml:"oauth_config"`
		Settings struct {
			Events struct {
				URL       string   `yaml:"request_url"`
				BotEvents []string `yaml:"bot_events"`
			} `yaml:"event_subscriptions"`
			Interactivity struct {
				Enabled bool   `yaml:"is_enabled"`
				URL     string `yaml:"request_url"`
			}
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	got, want := slices.Sorted(slices.Values(m.OAuth.Scopes.Bot)), slices.Sorted(slices.Values(slackapp.Scopes))
	if !slices.Equal(got, want) {
		t.Errorf("manifest scopes %v, code uses %v", got, want)
	}
	if len(m.Features.SlashCommands) != 1 || m.Features.SlashCommands[0].Command != "/offboard" ||
		!m.Features.SlashCommands[0].Escape || !endsWith(m.Features.SlashCommands[0].URL, "/slack/commands") {
		t.Errorf("slash command: %+v", m.Features.SlashCommands)
	}
	if len(m.Features.Shortcuts) != 1 || m.Features.Shortcuts[0].Type != "global" ||
		m.Features.Shortcuts[0].CallbackID != blocks.ShortcutOffboard || m.Features.Shortcuts[0].Name != "Offboard someone" {
		t.Errorf("shortcuts: %+v, want the global shortcut %s", m.Features.Shortcuts, blocks.ShortcutOffboard)
	}
	if !m.Settings.Interactivity.Enabled || !endsWith(m.Settings.Interactivity.URL, "/slack/interactions") {
		t.Errorf("interactivity: %+v", m.Settings.Interactivity)
	}
	if !endsWith(m.Settings.Events.URL, "/slack/events") || !slices.Equal(m.Settings.Events.BotEvents, []string{"app_home_opened"}) {
		t.Errorf("events: %+v", m.Settings.Events)
	}
	if !m.Features.AppHome.HomeTab {
		t.Error("the Home tab is not enabled")
	}
}

func endsWith(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
}
