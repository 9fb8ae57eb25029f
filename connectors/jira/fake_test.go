package jira

import (
	"net/http"
	"testing"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/conformance"
	"github.com/kineticsec/kinetic/connectors/jira/jiratest"
	"github.com/kineticsec/kinetic/internal/secret"
)

func TestTicketerConformance(t *testing.T) {
	fakes := map[connectors.Ticketer]*jiratest.Fake{}
	conformance.RunTicketer(t, conformance.TicketHarness{
		New: func(t *testing.T) connectors.Ticketer {
			f := jiratest.New(t, "kinetic@example.com", apiToken)
			c, err := New("jira", Config{SiteURL: f.Server.URL, Email: "kinetic@example.com", APIToken: secret.FromValue(apiToken), Project: "OPS"}, testPolicy)
			if err != nil {
				t.Fatal(err)
			}
			fakes[c] = f
			return c
		},
		Delete: func(t *testing.T, c connectors.Ticketer, ref connectors.TicketRef) {
			fakes[c].Delete(ref.ID)
		},
		InjectFailure: func(t *testing.T, c connectors.Ticketer, kind connectors.Kind) {
			st := map[connectors.Kind]int{connectors.KindTransient: http.StatusServiceUnavailable, connectors.KindRateLimited: http.StatusTooManyRequests,
				connectors.KindAuth: http.StatusUnauthorized, connectors.KindForbidden: http.StatusForbidden, connectors.KindInvalid: http.StatusBadRequest}[kind]
			fakes[c].Fail(st)
		},
		Secrets: []string{apiToken},
	})
}
