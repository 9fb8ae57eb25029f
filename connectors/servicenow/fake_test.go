package servicenow

import (
	"net/http"
	"testing"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/conformance"
	"github.com/kineticsec/kinetic/connectors/servicenow/servicenowtest"
	"github.com/kineticsec/kinetic/internal/secret"
)

func TestTicketerConformance(t *testing.T) {
	fakes := map[connectors.Ticketer]*servicenowtest.Fake{}
	conformance.RunTicketer(t, conformance.TicketHarness{
		New: func(t *testing.T) connectors.Ticketer {
			f := servicenowtest.New(t, "kinetic.integration", password)
			c, err := New("snow", Config{InstanceURL: f.Server.URL, Username: "kinetic.integration", Password: secret.FromValue(password)}, testPolicy)
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
		Secrets: []string{password},
	})
}
