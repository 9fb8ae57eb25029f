package teamstest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// AssertionType is the client_assertion_type of a certificate credential.
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Certificate is a self-signed app certificate for tests: the parsed
// certificate (to register with a fake's Certificate field) and its PEM
// files as an administrator has them.
type Certificate struct {
	Cert            *x509.Certificate
	CertPEM, KeyPEM []byte
}

// NewCertificate makes a 2048-bit RSA key and a self-signed certificate
// for it, valid a day; pkcs1 writes the key as "RSA PRIVATE KEY" instead
// of PKCS#8 "PRIVATE KEY".
func NewCertificate(t testing.TB, pkcs1 bool) Certificate {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "kinetic-bot"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kb := &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
	if !pkcs1 {
		p8, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		kb = &pem.Block{Type: "PRIVATE KEY", Bytes: p8}
	}
	return Certificate{Cert: cert, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), KeyPEM: pem.EncodeToMemory(kb)}
}

// clientAuth checks the client authentication of a token request as Entra
// ID does: a client secret, or a client assertion signed by the
// registered certificate's key
// (https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials):
// header alg PS256 or RS256, x5t#S256 (or x5t) naming the certificate;
// claims aud = the token endpoint, iss = sub = the app id, a jti not seen
// before, nbf and exp with the assertion still valid. It returns the
// OAuth error and its description, or "" when the client is
// authenticated.
type clientAuth struct {
	mu   sync.Mutex
	jtis map[string]bool
}

func (ca *clientAuth) check(form url.Values, appID, secret string, cert *x509.Certificate, aud string) (code, desc string) {
	if form.Get("client_id") != appID {
		return "unauthorized_client", "AADSTS700016: Application not found in the directory."
	}
	assertion, typ := form.Get("client_assertion"), form.Get("client_assertion_type")
	if assertion == "" && typ == "" {
		if secret == "" || form.Get("client_secret") != secret {
			return "invalid_client", "AADSTS7000215: Invalid client secret provided."
		}
		return "", ""
	}
	if form.Has("client_secret") {
		return "invalid_request", "AADSTS90015: give a client secret or a client assertion, not both."
	}
	if typ != AssertionType {
		return "invalid_request", "AADSTS50027: invalid client_assertion_type."
	}
	if cert == nil {
		return "invalid_client", "AADSTS700027: no certificate is registered for the application."
	}
	tok, err := jwt.ParseSigned(assertion, []jose.SignatureAlgorithm{jose.PS256, jose.RS256})
	if err != nil || len(tok.Headers) != 1 {
		return "invalid_client", "AADSTS50027: the client assertion is not a signed JWT."
	}
	h := tok.Headers[0]
	s256 := sha256.Sum256(cert.Raw)
	s1 := sha1.Sum(cert.Raw)
	x5tS256, _ := h.ExtraHeaders[jose.HeaderKey("x5t#S256")].(string)
	x5t, _ := h.ExtraHeaders[jose.HeaderKey("x5t")].(string)
	if x5tS256 != base64.RawURLEncoding.EncodeToString(s256[:]) && x5t != base64.RawURLEncoding.EncodeToString(s1[:]) {
		return "invalid_client", "AADSTS700027: the client assertion names no certificate registered for the application."
	}
	if typHdr, _ := h.ExtraHeaders[jose.HeaderType].(string); typHdr != "JWT" {
		return "invalid_client", "AADSTS50027: the client assertion's typ is not JWT."
	}
	var c jwt.Claims
	if err := tok.Claims(cert.PublicKey, &c); err != nil {
		return "invalid_client", "AADSTS700027: the client assertion contains an invalid signature."
	}
	if c.ID == "" || c.NotBefore == nil || c.Expiry == nil {
		return "invalid_client", "AADSTS50027: the client assertion lacks jti, nbf or exp."
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: appID, Subject: appID, AnyAudience: jwt.Audience{aud}, Time: time.Now()}, time.Minute); err != nil {
		return "invalid_client", "AADSTS700024: the client assertion is not valid: " + err.Error()
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if ca.jtis == nil {
		ca.jtis = map[string]bool{}
	}
	if ca.jtis[c.ID] {
		return "invalid_client", "AADSTS700025: the client assertion was used before (jti)."
	}
	ca.jtis[c.ID] = true
	return "", ""
}
