package slackapp

import (
	"errors"
	"strings"
	"testing"
	"time"

	slackbot "github.com/kineticsec/kinetic/bot/slackbot"
	"github.com/kineticsec/kinetic/bot/slackbot/slacktest"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

// TestWebAPICallsGoThroughTheConfiguredClient: with Config.HTTPClient set
// (FromEnv sets the outbound URL policy's), every Web API call goes through
// it: the policy's client refuses a fake on loopback at the dial unless
// outbound.allow_cidrs allows it; Go's default client (no HTTPClient, as in
// tests) reaches it.
func TestWebAPICallsGoThroughTheConfiguredClient(t *testing.T) {
	fake := slacktest.Start()
	defer fake.Close()
	authTest := func(client func() *outbound.URLPolicy) error {
		t.Helper()
		cfg := &slackbot.Config{BotToken: secret.FromValue(slacktest.BotToken), SigningSecret: secret.FromValue("s"), APIURL: fake.URL()}
		if client != nil {
			cfg.HTTPClient = client().HTTPClient(5 * time.Second)
		}
		a, err := New(Options{Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.api.AuthTest()
		return err
	}
	if err := authTest(nil); err != nil {
		t.Fatalf("default client: %v", err)
	}
	err := authTest(func() *outbound.URLPolicy { return &outbound.URLPolicy{} })
	if !errors.Is(err, outbound.ErrURLRefused) || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("the policy's client reached a loopback fake: %v", err)
	}
	if strings.Contains(err.Error(), slacktest.BotToken) {
		t.Errorf("the error prints the bot token: %v", err)
	}
	err = authTest(func() *outbound.URLPolicy {
		p, err := outbound.NewURLPolicy([]string{"127.0.0.1/32"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return p
	})
	if err != nil {
		t.Fatalf("the policy's client with 127.0.0.1/32 allowed: %v", err)
	}
}
