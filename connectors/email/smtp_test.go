package email

import (
	"testing"

	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
	"github.com/kineticsec/kinetic/internal/smtptest"
)

// testPassword is the SMTP password the test server accepts; it must
// never appear in an error.
const testPassword = smtptest.Password

// loopbackPolicy allows the test server's address.
func loopbackPolicy(t *testing.T) *outbound.URLPolicy {
	p, err := outbound.NewURLPolicy([]string{"127.0.0.1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func testConfig(s *smtptest.Server, mode string) Config {
	pw := secret.FromValue(testPassword)
	return Config{
		Host: "127.0.0.1", Port: s.Port, TLS: mode, CAFile: s.CAFile,
		Username: "kinetic", Password: &pw,
		From:  "Kinetic <offboarding@corp.example>",
		Teams: map[string][]string{"payroll": {"payroll@corp.example"}, "benefits": {"benefits@corp.example", "hr-ops@corp.example"}},
	}
}

func newConn(t *testing.T, cfg Config) *Connector {
	t.Helper()
	c, err := New("mail", cfg, loopbackPolicy(t))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
