package graph

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Client credentials grant against the Microsoft identity platform:
// https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow
// The certificate form authenticates the token request with a signed client
// assertion instead of a secret:
// https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials

// tokenSkew is how long before its expiry a cached token is replaced.
const tokenSkew = 2 * time.Minute

// assertionLifetime is how long a client assertion is valid; the identity
// platform asks for 5–10 minutes at most.
const assertionLifetime = 5 * time.Minute

// fetchToken asks the token endpoint for a new app-only token. The HTTP
// request goes through the connector's policy client.
func (c *Connector) fetchToken(ctx context.Context) (*oauth2.Token, error) {
	return c.fetchTokenFor(ctx, c.scope)
}

// fetchTokenFor asks for an app-only token for scope (Graph's, or
// SharePoint's for its REST API).
func (c *Connector) fetchTokenFor(ctx context.Context, scope string) (*oauth2.Token, error) {
	cc := clientcredentials.Config{
		ClientID: c.cfg.ClientID,
		TokenURL: c.tokenURL,
		Scopes:   []string{scope},
		// Entra reads the credentials from the form body; fixing the style
		// avoids x/oauth2's probe, which would send a failed request twice.
		AuthStyle: oauth2.AuthStyleInParams,
	}
	if c.key == nil {
		cc.ClientSecret = c.cfg.ClientSecret.Value()
	} else {
		assertion, err := c.clientAssertion()
		if err != nil {
			return nil, err
		}
		c.addSecret(assertion)
		cc.EndpointParams = url.Values{
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {assertion},
		}
	}
	tok, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, c.http))
	if err != nil {
		return nil, err
	}
	c.addSecret(tok.AccessToken)
	return tok, nil
}

// clientAssertion builds the JWT that proves possession of the certificate's
// key: PS256, with the certificate's SHA-256 thumbprint in x5t#S256, as the
// identity platform documents for certificate credentials.
func (c *Connector) clientAssertion() (string, error) {
	now := c.now()
	thumb := sha256.Sum256(c.cert.Raw)
	header := map[string]string{
		"alg":      "PS256",
		"typ":      "JWT",
		"x5t#S256": base64.RawURLEncoding.EncodeToString(thumb[:]),
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	claims := map[string]any{
		"aud": c.tokenURL,
		"iss": c.cfg.ClientID,
		"sub": c.cfg.ClientID,
		"jti": fmt.Sprintf("%x-%x-%x-%x-%x", jti[0:4], jti[4:6], jti[6:8], jti[8:10], jti[10:]),
		"nbf": now.Unix(),
		"iat": now.Unix(),
		"exp": now.Add(assertionLifetime).Unix(),
	}
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(claims)
	signing := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	digest := sha256.Sum256([]byte(signing))
	sig, err := c.key.Sign(rand.Reader, digest[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256})
	if err != nil {
		return "", fmt.Errorf("signing the client assertion: %w", err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// loadCertificate reads the PEM certificate and its RSA private key (PKCS#1
// or PKCS#8) and checks that they belong together. Errors name the files and
// never their contents.
func loadCertificate(certFile, keyFile string) (*x509.Certificate, crypto.Signer, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate_file: %w", err)
	}
	var cert *x509.Certificate
	for rest := certPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			if cert, err = x509.ParseCertificate(b.Bytes); err != nil {
				return nil, nil, fmt.Errorf("certificate_file %s: %w", certFile, err)
			}
			break
		}
	}
	if cert == nil {
		return nil, nil, fmt.Errorf("certificate_file %s holds no PEM CERTIFICATE block", certFile)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("private_key_file: %w", err)
	}
	var key *rsa.PrivateKey
	for rest := keyPEM; key == nil; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch b.Type {
		case "RSA PRIVATE KEY":
			if key, err = x509.ParsePKCS1PrivateKey(b.Bytes); err != nil {
				return nil, nil, fmt.Errorf("private_key_file %s: cannot parse the RSA PRIVATE KEY block", keyFile)
			}
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("private_key_file %s: cannot parse the PRIVATE KEY block", keyFile)
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, nil, fmt.Errorf("private_key_file %s: the key is %T; Entra certificate credentials need an RSA key", keyFile, k)
			}
			key = rk
		case "ENCRYPTED PRIVATE KEY":
			return nil, nil, fmt.Errorf("private_key_file %s: encrypted keys are not supported; store the key unencrypted with tight file permissions", keyFile)
		}
	}
	if key == nil {
		return nil, nil, fmt.Errorf("private_key_file %s holds no PEM RSA PRIVATE KEY or PRIVATE KEY block", keyFile)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, nil, fmt.Errorf("private_key_file %s does not match the certificate in certificate_file %s", keyFile, certFile)
	}
	return cert, key, nil
}

// tokenCache holds the current access token and fetches a new one when it is
// missing or about to expire. Only one fetch runs at a time; waiting for it
// honours the caller's context.
type tokenCache struct {
	fetch func(context.Context) (*oauth2.Token, error)
	now   func() time.Time
	sem   chan struct{}

	mu     sync.Mutex
	token  string
	expiry time.Time // zero: no expiry given
}

func newTokenCache(fetch func(context.Context) (*oauth2.Token, error), now func() time.Time) *tokenCache {
	return &tokenCache{fetch: fetch, now: now, sem: make(chan struct{}, 1)}
}

func (tc *tokenCache) current() string {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.token == "" || (!tc.expiry.IsZero() && !tc.now().Add(tokenSkew).Before(tc.expiry)) {
		return ""
	}
	return tc.token
}

// get returns a usable access token; fresh reports whether it was fetched by
// this call (a 401 answered to a fresh token is not worth a retry).
func (tc *tokenCache) get(ctx context.Context) (token string, fresh bool, err error) {
	if t := tc.current(); t != "" {
		return t, false, nil
	}
	select {
	case tc.sem <- struct{}{}:
	case <-ctx.Done():
		return "", false, ctx.Err()
	}
	defer func() { <-tc.sem }()
	if t := tc.current(); t != "" { // fetched while we waited
		return t, false, nil
	}
	tok, err := tc.fetch(ctx)
	if err != nil {
		return "", false, err
	}
	if tok.AccessToken == "" {
		return "", false, errors.New("the token endpoint answered without an access token")
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.token = tok.AccessToken
	tc.expiry = time.Time{}
	if !tok.Expiry.IsZero() {
		// x/oauth2 computes Expiry from expires_in with the wall clock;
		// carry the remaining lifetime over to the injected clock.
		tc.expiry = tc.now().Add(time.Until(tok.Expiry))
	}
	return tc.token, true, nil
}

// invalidate drops token if it is still the current one, so the next get
// fetches a new one.
func (tc *tokenCache) invalidate(token string) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.token == token {
		tc.token, tc.expiry = "", time.Time{}
	}
}
