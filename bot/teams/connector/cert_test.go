package connector_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/bot/teams/appcred"
	"github.com/kineticsec/kinetic/bot/teams/connector"
	"github.com/kineticsec/kinetic/bot/teams/teamstest"
	"github.com/kineticsec/kinetic/internal/secret"
)

// TestCertificateCredential: with a certificate the token request carries
// a client assertion (no secret) that the token endpoint verifies against
// the registered certificate; the token is reused across calls.
func TestCertificateCredential(t *testing.T) {
	fake := teamstest.NewConnector(t)
	tc := teamstest.NewCertificate(t, false)
	fake.Secret, fake.Certificate = "", tc.Cert
	cert, err := appcred.ParseCertificate(tc.CertPEM, tc.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	c, err := connector.New(connector.Config{AppID: fake.AppID, Certificate: cert, TokenURL: fake.TokenURL()}, testPolicy)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := c.SendToConversation(context.Background(), fake.URL(), "a:1", &connector.Activity{Type: connector.TypeMessage, Text: "hi"}); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	if n := fake.TokenRequests(); n != 1 {
		t.Errorf("%d token requests, want 1 (cached)", n)
	}
	if len(fake.Calls()) != 3 {
		t.Errorf("%d calls", len(fake.Calls()))
	}
}

// TestCertificateOfAnotherKeyIsRefused: an assertion signed with a key
// that is not the registered certificate's gets Entra's 401, a permanent
// failure, and nothing is sent.
func TestCertificateOfAnotherKeyIsRefused(t *testing.T) {
	fake := teamstest.NewConnector(t)
	registered := teamstest.NewCertificate(t, false)
	fake.Secret, fake.Certificate = "", registered.Cert
	mine := teamstest.NewCertificate(t, true)
	cert, err := appcred.ParseCertificate(mine.CertPEM, mine.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	sl := &sleeps{}
	c, err := connector.New(connector.Config{AppID: fake.AppID, Certificate: cert, TokenURL: fake.TokenURL()}, testPolicy, connector.WithSleep(sl.sleep))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SendToConversation(context.Background(), fake.URL(), "a:1", &connector.Activity{Type: connector.TypeMessage})
	var ae *connector.APIError
	if !errors.Is(err, connector.ErrPermanent) || !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || ae.Code != "invalid_client" || !strings.Contains(ae.Msg, "AADSTS700027") {
		t.Fatalf("err = %v, want the token endpoint's 401 invalid_client", err)
	}
	if strings.Contains(err.Error(), "eyJ") {
		t.Errorf("error carries the assertion: %v", err)
	}
	if len(fake.Calls()) != 0 || len(sl.got()) != 0 {
		t.Errorf("called %d times, retried %v", len(fake.Calls()), sl.got())
	}
	// A secret where a certificate is registered is refused as well.
	c2, _ := connector.New(connector.Config{AppID: fake.AppID, AppPassword: secret.FromValue("s"), TokenURL: fake.TokenURL()}, testPolicy)
	if _, err := c2.SendToConversation(context.Background(), fake.URL(), "a:1", &connector.Activity{Type: connector.TypeMessage}); !errors.Is(err, connector.ErrPermanent) {
		t.Errorf("secret: %v", err)
	}
}

func TestOneCredentialRequired(t *testing.T) {
	tc := teamstest.NewCertificate(t, false)
	cert, _ := appcred.ParseCertificate(tc.CertPEM, tc.KeyPEM)
	for _, cfg := range []connector.Config{
		{AppID: "app"},
		{AppID: "app", AppPassword: secret.FromValue("s"), Certificate: cert},
	} {
		if _, err := connector.New(cfg, testPolicy); err == nil || !strings.Contains(err.Error(), "app_password") {
			t.Errorf("%v: err = %v", cfg.Certificate != nil, err)
		}
	}
}
