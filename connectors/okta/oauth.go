package okta

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/kineticsec/kinetic/connectors"
)

// OAuth 2.0 for Okta with a service app: the app authenticates to the org
// authorization server's token endpoint ({org}/oauth2/v1/token; only the
// org authorization server mints okta.* scopes) with the client_credentials
// grant and a private_key_jwt client assertion, then calls the API with
// "Authorization: Bearer <access token>".
// https://developer.okta.com/docs/guides/implement-oauth-for-okta-serviceapp/create-sign-jwt/
// https://developer.okta.com/docs/guides/build-self-signed-jwt/
//
// The assertion is signed here by hand (crypto/rsa or crypto/ecdsa and
// encoding/json): iss and sub are the client id, aud the token endpoint
// URL, exp a few minutes ahead (Okta refuses assertions valid for more than
// an hour) and jti a fresh random id, since Okta refuses a replayed jti.

const (
	assertionType     = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	assertionLifetime = 5 * time.Minute
	// tokenSkew renews an access token this long before Okta says it
	// expires.
	tokenSkew = 30 * time.Second
)

// tokenSource fetches and caches access tokens.
type tokenSource struct {
	c        *Connector
	clientID string
	keyID    string
	scope    string
	endpoint string
	signer   crypto.Signer
	alg      string

	fetch chan struct{} // one fetch at a time, waited for under ctx

	mu        sync.Mutex
	access    string
	expiry    time.Time
	assertion string // the last assertion sent, redacted from errors
}

func newTokenSource(c *Connector, o *OAuth) (*tokenSource, error) {
	signer, alg, err := loadPrivateKey(strings.TrimSpace(o.PrivateKeyFile))
	if err != nil {
		return nil, err
	}
	return &tokenSource{
		c:        c,
		clientID: strings.TrimSpace(o.ClientID),
		keyID:    strings.TrimSpace(o.KeyID),
		scope:    strings.Join(o.scopes(), " "),
		endpoint: c.base.String() + "/oauth2/v1/token",
		signer:   signer,
		alg:      alg,
		fetch:    make(chan struct{}, 1),
	}, nil
}

// loadPrivateKey reads an unencrypted PEM private key. Errors name the file
// and the problem, never any of its content.
func loadPrivateKey(path string) (crypto.Signer, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("oauth.private_key_file: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, "", fmt.Errorf("oauth.private_key_file %s: no PEM block found (want a PEM private key; JWK files are not read)", path)
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		return nil, "", fmt.Errorf("oauth.private_key_file %s: encrypted keys are not supported; store it unencrypted with restricted file permissions", path)
	default:
		return nil, "", fmt.Errorf("oauth.private_key_file %s: PEM block %q is not a private key", path, block.Type)
	}
	if err != nil {
		return nil, "", fmt.Errorf("oauth.private_key_file %s: cannot parse the private key", path)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, "", fmt.Errorf("oauth.private_key_file %s: RSA key has %d bits; Okta requires at least 2048", path, k.N.BitLen())
		}
		return k, "RS256", nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, "", fmt.Errorf("oauth.private_key_file %s: only EC keys on P-256 (ES256) are supported", path)
		}
		return k, "ES256", nil
	}
	return nil, "", fmt.Errorf("oauth.private_key_file %s: unsupported key type %T (want RSA or EC P-256)", path, key)
}

// token returns a valid access token, fetching one when none is cached or
// the cached one is about to expire.
func (ts *tokenSource) token(ctx context.Context, op string) (string, error) {
	if tok := ts.cached(); tok != "" {
		return tok, nil
	}
	select {
	case ts.fetch <- struct{}{}:
	case <-ctx.Done():
		return "", connectors.NewError(connectors.KindCanceled, ts.c.name, op, ctx.Err())
	}
	defer func() { <-ts.fetch }()
	if tok := ts.cached(); tok != "" { // fetched while we waited
		return tok, nil
	}
	return ts.fetchToken(ctx, op)
}

func (ts *tokenSource) cached() string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.access != "" && ts.c.now().Before(ts.expiry) {
		return ts.access
	}
	return ""
}

// invalidate drops tok from the cache (when it is still the cached one) so
// the next request fetches a new token.
func (ts *tokenSource) invalidate(tok string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if tok != "" && ts.access == tok {
		ts.access = ""
	}
}

func (ts *tokenSource) secrets() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return []string{ts.access, ts.assertion}
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

func (ts *tokenSource) fetchToken(ctx context.Context, op string) (string, error) {
	c := ts.c
	assertion, err := ts.sign()
	if err != nil {
		return "", connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("OAuth token request: cannot sign the client assertion: %v", err))
	}
	ts.mu.Lock()
	ts.assertion = assertion
	ts.mu.Unlock()

	form := url.Values{
		"grant_type":            {"client_credentials"},
		"scope":                 {ts.scope},
		"client_assertion_type": {assertionType},
		"client_assertion":      {assertion},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", connectors.NewError(connectors.KindInvalid, c.name, op, errors.New("OAuth token request: cannot build the request"))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)

	// The token request counts against max_concurrency like any other.
	// (No slot is held here: call takes its slot after the token.)
	if err := c.acquire(ctx, op); err != nil {
		return "", err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		c.release()
		e := c.transportError(ctx, op, err)
		e.Err = fmt.Errorf("OAuth token request: %w", e.Err)
		return "", e
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	c.release()
	if rerr != nil {
		e := c.transportError(ctx, op, rerr)
		e.Err = fmt.Errorf("OAuth token request: %w", e.Err)
		return "", e
	}
	r := &response{status: resp.StatusCode, header: resp.Header, body: body, url: req.URL}
	if !r.ok() {
		return "", ts.tokenError(op, r)
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		e := connectors.NewError(connectors.KindTransient, c.name, op, errors.New("OAuth token request: the answer holds no access_token"))
		e.Status = r.status
		return "", e
	}
	if !strings.EqualFold(tr.TokenType, "Bearer") {
		return "", connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("OAuth token request: Okta issued a %q token; the connector sends Bearer tokens only (turn off \"Require Demonstrating Proof of Possession (DPoP)\" for the service app)", tr.TokenType))
	}
	life := time.Duration(tr.ExpiresIn) * time.Second
	if life <= 0 {
		life = 5 * time.Minute
	}
	if life > 2*tokenSkew {
		life -= tokenSkew
	}
	ts.mu.Lock()
	ts.access = tr.AccessToken
	ts.expiry = c.now().Add(life)
	ts.mu.Unlock()
	c.log.WithField("op", op).Debug("okta: fetched an OAuth access token")
	return tr.AccessToken, nil
}

// tokenError classifies a token endpoint error: bad client credentials are
// KindAuth, scopes the app was not granted KindForbidden, a DPoP
// requirement KindInvalid with the fix, the rest by HTTP status.
func (ts *tokenSource) tokenError(op string, r *response) *connectors.Error {
	c := ts.c
	e := c.httpError(op, r)
	var oe oktaError
	_ = json.Unmarshal(r.body, &oe)
	switch oe.Error {
	case "invalid_client", "unauthorized_client":
		e.Kind = connectors.KindAuth
	case "invalid_scope", "access_denied":
		e.Kind = connectors.KindForbidden
	case "invalid_dpop_proof", "use_dpop_nonce":
		e.Kind = connectors.KindInvalid
		e.Err = fmt.Errorf("%v (the service app requires DPoP, which the connector does not do; turn off \"Require Demonstrating Proof of Possession (DPoP)\" for the app)", e.Err)
	}
	e.Err = fmt.Errorf("OAuth token request: %w", e.Err)
	return e
}

// sign builds and signs a client assertion.
func (ts *tokenSource) sign() (string, error) {
	now := ts.c.now()
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	header := map[string]string{"alg": ts.alg, "typ": "JWT"}
	if ts.keyID != "" {
		header["kid"] = ts.keyID
	}
	claims := map[string]any{
		"iss": ts.clientID,
		"sub": ts.clientID,
		"aud": ts.endpoint,
		"iat": now.Unix(),
		"exp": now.Add(assertionLifetime).Unix(),
		"jti": hex.EncodeToString(jti),
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(hb) + "." + enc.EncodeToString(cb)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	switch k := ts.signer.(type) {
	case *rsa.PrivateKey:
		sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest[:])
	case *ecdsa.PrivateKey:
		var r, s []byte
		rr, ss, serr := ecdsa.Sign(rand.Reader, k, digest[:])
		if serr != nil {
			return "", serr
		}
		// JWS ES256 signatures are r||s, each left-padded to 32 bytes
		// (RFC 7518 §3.4), not ASN.1.
		r, s = rr.FillBytes(make([]byte, 32)), ss.FillBytes(make([]byte, 32))
		sig = append(r, s...)
	default:
		err = fmt.Errorf("unsupported key type %T", k)
	}
	if err != nil {
		return "", err
	}
	return input + "." + enc.EncodeToString(sig), nil
}
