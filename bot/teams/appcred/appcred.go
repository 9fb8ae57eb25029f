// Package appcred is the Teams front end's app credential: how the bot's
// Entra ID app registration proves itself when it asks for a
// client-credentials token (for the Bot Connector and for Microsoft
// Graph). Two ways, as Entra ID allows:
//
//   - a client secret (client_secret in the token request), or
//   - a certificate: a client assertion, a JWT signed with the private key
//     of a certificate uploaded to the app registration, sent as
//     client_assertion with client_assertion_type
//     urn:ietf:params:oauth:client-assertion-type:jwt-bearer. Its header
//     is alg PS256, typ JWT and x5t#S256 (the base64url SHA-256
//     thumbprint of the certificate's DER encoding); its claims are aud
//     (the token endpoint), iss and sub (the app id), a fresh jti, nbf,
//     iat and a short exp ("Microsoft identity platform application
//     authentication certificate credentials",
//     https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials).
//
// A fresh assertion is signed for every token request; the token itself
// is cached until shortly before it expires (oauth2.ReuseTokenSource).
// Neither the secret nor the private key is ever printed: a Credential
// prints as "<secret>".
package appcred

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/kineticsec/kinetic/internal/secret"
)

// AssertionType is client_assertion_type of a certificate credential
// (RFC 7523 section 2.2).
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// HeaderThumbprint is the JWS header carrying the certificate's SHA-256
// thumbprint (RFC 7515 section 4.1.8).
const HeaderThumbprint = "x5t#S256"

// AssertionLifetime is how long a signed assertion is valid: Microsoft
// asks for a short one, "5-10 minutes after nbf at most".
const AssertionLifetime = 5 * time.Minute

// Credential is an app's client credential: Secret, or Certificate.
// Exactly one is set (Check).
type Credential struct {
	Secret      secret.Secret
	Certificate *Certificate
}

// String never shows the secret or the key.
func (c Credential) String() string { return secret.Redacted }

// GoString keeps %#v from printing either.
func (c Credential) GoString() string { return secret.Redacted }

// Check reports a credential with neither or both ways set.
func (c Credential) Check() error {
	switch {
	case c.Secret.Value() == "" && c.Certificate == nil:
		return errors.New("a client secret (app_password) or a certificate (certificate and private_key) is required")
	case c.Secret.Value() != "" && c.Certificate != nil:
		return errors.New("give a client secret (app_password) or a certificate (certificate and private_key), not both")
	}
	return nil
}

// TokenSource is the cached client-credentials token of appID for scope
// from tokenURL, every request going through hc. Tokens are fetched again
// only shortly before they expire; with a certificate, each fetch signs a
// new assertion (now is the clock; nil is time.Now).
func (c Credential) TokenSource(hc *http.Client, appID, tokenURL, scope string, now func() time.Time) oauth2.TokenSource {
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	cc := clientcredentials.Config{ClientID: appID, TokenURL: tokenURL, Scopes: []string{scope}, AuthStyle: oauth2.AuthStyleInParams}
	if c.Certificate == nil {
		cc.ClientSecret = c.Secret.Value()
		// clientcredentials' TokenSource is a ReuseTokenSource already.
		return cc.TokenSource(ctx)
	}
	if now == nil {
		now = time.Now
	}
	return oauth2.ReuseTokenSource(nil, &assertionSource{ctx: ctx, cfg: cc, cert: c.Certificate, now: now})
}

// assertionSource fetches a token with a newly signed client assertion.
type assertionSource struct {
	ctx  context.Context
	cfg  clientcredentials.Config
	cert *Certificate
	now  func() time.Time
}

func (s *assertionSource) Token() (*oauth2.Token, error) {
	a, err := s.cert.Assertion(s.cfg.ClientID, s.cfg.TokenURL, s.now())
	if err != nil {
		return nil, err
	}
	cfg := s.cfg
	cfg.EndpointParams = url.Values{"client_assertion_type": {AssertionType}, "client_assertion": {a}}
	return cfg.Token(s.ctx)
}

// Certificate is a certificate uploaded to the app registration and its
// RSA private key (Entra ID signs and verifies assertions with RSA).
type Certificate struct {
	leaf *x509.Certificate
	key  *rsa.PrivateKey
}

// String never shows the key.
func (c *Certificate) String() string { return "certificate " + c.ThumbprintSHA1() }

// GoString keeps %#v from printing the key.
func (c *Certificate) GoString() string { return c.String() }

// ParseCertificate reads a PEM certificate (the first CERTIFICATE block
// is the app's; a chain after it is ignored) and its PEM private key
// (PKCS#8 "PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY", not encrypted). It
// refuses a key that is not RSA, an RSA key shorter than 2048 bits, and
// a key that is not the certificate's. Errors never quote the key.
func ParseCertificate(certPEM, keyPEM []byte) (*Certificate, error) {
	var leaf *x509.Certificate
	for rest := certPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate: %w", err)
		}
		leaf = c
		break
	}
	if leaf == nil {
		return nil, errors.New("certificate: no PEM CERTIFICATE block found")
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, err
	}
	pub, ok := leaf.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("certificate: its key is not RSA (Entra ID certificate credentials are RSA)")
	}
	if !pub.Equal(&key.PublicKey) {
		return nil, errors.New("private_key is not the key of the certificate")
	}
	return &Certificate{leaf: leaf, key: key}, nil
}

func parseKey(keyPEM []byte) (*rsa.PrivateKey, error) {
	for rest := keyPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("private_key: no PEM private key block found")
		}
		if _, encrypted := b.Headers["Proc-Type"]; encrypted || b.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, errors.New("private_key: encrypted keys are not supported; keep the key in a file only the service can read")
		}
		var k any
		var err error
		switch b.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		default:
			continue // a certificate in the same file
		}
		if err != nil {
			return nil, errors.New("private_key: the PEM block is not a readable private key")
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("private_key: not an RSA key (Entra ID certificate credentials are RSA)")
		}
		if rk.N.BitLen() < 2048 {
			return nil, fmt.Errorf("private_key: an RSA key of %d bits; Entra ID needs at least 2048", rk.N.BitLen())
		}
		return rk, nil
	}
}

// Leaf is the certificate.
func (c *Certificate) Leaf() *x509.Certificate { return c.leaf }

// ThumbprintSHA1 is the certificate's SHA-1 thumbprint in upper-case hex,
// as the Azure portal's "Certificates & secrets" lists it.
func (c *Certificate) ThumbprintSHA1() string {
	sum := sha1.Sum(c.leaf.Raw)
	return fmt.Sprintf("%X", sum[:])
}

// ThumbprintS256 is the x5t#S256 header value: the base64url (unpadded)
// SHA-256 of the certificate's DER encoding.
func (c *Certificate) ThumbprintS256() string { return ThumbprintS256(c.leaf) }

// ThumbprintS256 is cert's x5t#S256.
func ThumbprintS256(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func guid(b [16]byte) string {
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Assertion signs a client assertion for app appID at token endpoint aud
// (the assertion's audience), valid from now for AssertionLifetime.
func (c *Certificate) Assertion(appID, aud string, now time.Time) (string, error) {
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey(HeaderThumbprint), c.ThumbprintS256())
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.PS256, Key: c.key}, opts)
	if err != nil {
		return "", fmt.Errorf("client assertion: %w", err)
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("client assertion: %w", err)
	}
	jti[6], jti[8] = jti[6]&0x0f|0x40, jti[8]&0x3f|0x80 // a random (version 4) GUID, as Microsoft's example
	claims := jwt.Claims{
		Issuer: appID, Subject: appID, Audience: jwt.Audience{aud}, ID: guid(jti),
		NotBefore: jwt.NewNumericDate(now), IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(AssertionLifetime)),
	}
	s, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("client assertion: %w", err)
	}
	return s, nil
}
