package appcred_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/kineticsec/kinetic/bot/teams/appcred"
	"github.com/kineticsec/kinetic/bot/teams/teamstest"
	"github.com/kineticsec/kinetic/internal/secret"
)

const (
	appID    = "11111111-2222-3333-4444-555555555555"
	tokenURL = "https://login.microsoftonline.com/99999999-8888-7777-6666-555555555555/oauth2/v2.0/token"
)

// TestAssertionIsWhatEntraAsksFor: the header and claims of Microsoft's
// "certificate credentials" page, signed with the certificate's key.
func TestAssertionIsWhatEntraAsksFor(t *testing.T) {
	tc := teamstest.NewCertificate(t, false)
	cert, err := appcred.ParseCertificate(tc.CertPEM, tc.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	raw, err := cert.Assertion(appID, tokenURL, now)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.PS256})
	if err != nil {
		t.Fatalf("not a PS256 JWT: %v", err)
	}
	h := tok.Headers[0]
	sum := sha256.Sum256(tc.Cert.Raw)
	if got := h.ExtraHeaders["x5t#S256"]; got != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Errorf("x5t#S256 = %v", got)
	}
	if h.ExtraHeaders["typ"] != "JWT" || h.Algorithm != "PS256" {
		t.Errorf("header: %+v", h)
	}
	var c jwt.Claims
	if err := tok.Claims(tc.Cert.PublicKey, &c); err != nil {
		t.Fatalf("signature: %v", err)
	}
	if c.Issuer != appID || c.Subject != appID || len(c.Audience) != 1 || c.Audience[0] != tokenURL {
		t.Errorf("iss/sub/aud: %+v", c)
	}
	if !c.NotBefore.Time().Equal(now) || !c.Expiry.Time().Equal(now.Add(appcred.AssertionLifetime)) || c.IssuedAt == nil {
		t.Errorf("times: nbf %v exp %v", c.NotBefore.Time(), c.Expiry.Time())
	}
	if len(c.ID) != 36 || c.ID[14] != '4' {
		t.Errorf("jti %q is not a GUID", c.ID)
	}
	again, _ := cert.Assertion(appID, tokenURL, now)
	var c2 jwt.Claims
	t2, _ := jwt.ParseSigned(again, []jose.SignatureAlgorithm{jose.PS256})
	_ = t2.UnsafeClaimsWithoutVerification(&c2)
	if c2.ID == c.ID {
		t.Error("two assertions share a jti")
	}
	// The other key does not verify it.
	other := teamstest.NewCertificate(t, false)
	if err := tok.Claims(other.Cert.PublicKey, &c); err == nil {
		t.Error("verified with another key")
	}
}

func TestParseCertificate(t *testing.T) {
	a := teamstest.NewCertificate(t, false)
	b := teamstest.NewCertificate(t, true)
	if _, err := appcred.ParseCertificate(b.CertPEM, b.KeyPEM); err != nil {
		t.Errorf("PKCS#1 key: %v", err)
	}
	// Key and certificate in one file, in either order.
	if _, err := appcred.ParseCertificate(append(a.KeyPEM, a.CertPEM...), append(a.KeyPEM, a.CertPEM...)); err != nil {
		t.Errorf("one file: %v", err)
	}
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p8, _ := x509.MarshalPKCS8PrivateKey(ek)
	ecPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})
	for _, tc := range []struct {
		name      string
		cert, key []byte
		want      string
	}{
		{"key of another certificate", a.CertPEM, b.KeyPEM, "private_key is not the key of the certificate"},
		{"no certificate", a.KeyPEM, a.KeyPEM, "no PEM CERTIFICATE block"},
		{"no key", a.CertPEM, a.CertPEM, "no PEM private key block"},
		{"garbage key", a.CertPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("nope")}), "not a readable private key"},
		{"EC key", a.CertPEM, ecPEM, "not an RSA key"},
		{"encrypted key", a.CertPEM, pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}), "encrypted keys are not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := appcred.ParseCertificate(tc.cert, tc.key)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "BEGIN") {
				t.Errorf("error quotes PEM: %v", err)
			}
		})
	}
}

func TestCredentialNeverPrintsAndIsOneWay(t *testing.T) {
	tc := teamstest.NewCertificate(t, false)
	cert, _ := appcred.ParseCertificate(tc.CertPEM, tc.KeyPEM)
	c := appcred.Credential{Secret: secret.FromValue("s3cr3t-value"), Certificate: cert}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%#v", cert), fmt.Sprint(cert)} {
		if strings.Contains(s, "s3cr3t") || strings.Contains(s, "PRIVATE") || strings.Contains(s, "N:") {
			t.Errorf("printed: %s", s)
		}
	}
	if err := c.Check(); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("both: %v", err)
	}
	if err := (appcred.Credential{}).Check(); err == nil || !strings.Contains(err.Error(), "is required") {
		t.Errorf("neither: %v", err)
	}
	if !strings.Contains(cert.String(), cert.ThumbprintSHA1()) || len(cert.ThumbprintSHA1()) != 40 {
		t.Errorf("thumbprint: %s", cert)
	}
}
