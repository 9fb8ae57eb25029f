package teamstest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/bot/teams/connector"
)

// BotFrameworkIssuer is the iss of Bot Connector tokens.
const BotFrameworkIssuer = "https://api.botframework.com"

// Token mints a valid Bot Connector token for appID and serviceURL with
// key-1, valid for an hour from now.
func (is *Issuer) Token(appID, serviceURL string, now time.Time) string {
	is.t.Helper()
	return is.Mint("key-1", Claims{
		Issuer: BotFrameworkIssuer, Audience: appID, ServiceURL: serviceURL,
		IssuedAt: now, NotBefore: now.Add(-time.Minute), Expiry: now.Add(time.Hour),
	})
}

// Request builds POST target carrying a as JSON with "Bearer token" (no
// header when token is empty), as the Bot Connector calls a bot.
func Request(t testing.TB, target, token string, a *connector.Activity) *http.Request {
	t.Helper()
	body, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}
