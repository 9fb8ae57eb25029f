package salesforce

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
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

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/kineticsec/kinetic/connectors"
)

// The OAuth 2.0 JWT bearer flow (RFC 7523) as Salesforce documents it:
// https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_jwt_flow.htm
//
// The assertion is signed RS256 (the only algorithm Salesforce accepts
// here) with iss = the consumer key, sub = the integration user's username,
// aud = https://login.salesforce.com, https://test.salesforce.com or an
// Experience Cloud site, and exp a short time ahead (Salesforce allows
// three minutes of clock skew past it). It is posted as
// grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=… to
// /services/oauth2/token. The answer has access_token, instance_url, id,
// token_type and scope but no expires_in: the token lives as long as the
// org's session timeout, so it is reused for token_ttl and replaced at
// once when the API answers 401 INVALID_SESSION_ID. Errors are RFC 6749
// §5.2 objects: invalid_grant ("user hasn't approved this consumer", a bad
// signature, an expired assertion), invalid_client_id, invalid_app_access.

const (
	grantTypeJWT      = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	assertionLifetime = 3 * time.Minute
	userAgent         = "kinetic-salesforce-connector/1"
)

type tokenSource struct {
	c        *Connector
	clientID string
	username string
	aud      string
	endpoint string
	signer   jose.Signer
	ttl      time.Duration

	fetch chan struct{} // one fetch at a time, waited for under ctx

	mu        sync.Mutex
	access    string
	expiry    time.Time
	assertion string // the last assertion sent, redacted from errors
}

func newTokenSource(c *Connector, cfg Config) (*tokenSource, error) {
	var key *rsa.PrivateKey
	var err error
	if pemText := cfg.PrivateKey.Value(); pemText != "" {
		key, err = parseRSAKey([]byte(pemText), "private_key", "")
	} else {
		key, err = loadRSAKey(strings.TrimSpace(cfg.PrivateKeyFile))
	}
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("private_key_file: cannot build an RS256 signer: %v", err)
	}
	ttl := cfg.TokenTTL.D()
	if ttl == 0 {
		ttl = DefaultTokenTTL
	}
	return &tokenSource{
		c:        c,
		clientID: strings.TrimSpace(cfg.ClientID),
		username: strings.TrimSpace(cfg.Username),
		aud:      cfg.audience(),
		endpoint: cfg.TokenURL(),
		signer:   signer,
		ttl:      ttl,
		fetch:    make(chan struct{}, 1),
	}, nil
}

// loadRSAKey reads an unencrypted PEM RSA private key. Errors name the file
// and the problem, never any of its content.
func loadRSAKey(path string) (*rsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("private_key_file: %w", err)
	}
	return parseRSAKey(data, "private_key_file", path)
}

// parseRSAKey reads the PEM RSA key from key (a config key name) holding
// data; where names the file, if any, for messages. No key material is
// ever in an error.
func parseRSAKey(data []byte, field, where string) (*rsa.PrivateKey, error) {
	path := field
	if where != "" {
		path += " " + where
	}
	var err error
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block found (want a PEM RSA private key)", path)
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		return nil, fmt.Errorf("%s: encrypted keys are not supported; store it unencrypted with restricted file permissions", path)
	default:
		return nil, fmt.Errorf("%s: PEM block %q is not a private key", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: cannot parse the private key", path)
	}
	k, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: %T is not an RSA key (Salesforce's JWT bearer flow accepts RS256 only)", path, key)
	}
	if k.N.BitLen() < 2048 {
		return nil, fmt.Errorf("%s: RSA key has %d bits; use at least 2048", path, k.N.BitLen())
	}
	return k, nil
}

// token returns a cached access token or fetches one.
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
	if tok := ts.cached(); tok != "" {
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

// invalidate drops tok from the cache when it is still the cached one.
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

// sign builds a fresh assertion.
func (ts *tokenSource) sign() (string, error) {
	now := ts.c.now()
	claims := jwt.Claims{
		Issuer:   ts.clientID,
		Subject:  ts.username,
		Audience: jwt.Audience{ts.aud},
		Expiry:   jwt.NewNumericDate(now.Add(assertionLifetime)),
	}
	return jwt.Signed(ts.signer).Claims(claims).Serialize()
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	InstanceURL string `json:"instance_url"`
	TokenType   string `json:"token_type"`
}

type oauthError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

func (ts *tokenSource) fetchToken(ctx context.Context, op string) (string, error) {
	c := ts.c
	assertion, err := ts.sign()
	if err != nil {
		return "", connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("token request: cannot sign the JWT assertion: %v", err))
	}
	ts.mu.Lock()
	ts.assertion = assertion
	ts.mu.Unlock()

	form := url.Values{"grant_type": {grantTypeJWT}, "assertion": {assertion}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", connectors.NewError(connectors.KindInvalid, c.name, op, errors.New("token request: cannot build the request"))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.client.Do(req)
	if err != nil {
		e := c.transportError(ctx, op, err)
		e.Err = fmt.Errorf("token request: %w", e.Err)
		return "", e
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	if rerr != nil {
		e := c.transportError(ctx, op, rerr)
		e.Err = fmt.Errorf("token request: %w", e.Err)
		return "", e
	}
	r := &response{status: resp.StatusCode, header: resp.Header, body: body}
	if !r.ok() {
		return "", ts.tokenError(op, r)
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		e := connectors.NewError(connectors.KindTransient, c.name, op, errors.New("token request: the answer holds no access_token"))
		e.Status = r.status
		return "", e
	}
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "Bearer") {
		return "", connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("token request: Salesforce issued a %q token; the connector sends Bearer tokens only", tr.TokenType))
	}
	if tr.InstanceURL != "" {
		got, err := url.Parse(tr.InstanceURL)
		if err != nil || !strings.EqualFold(got.Host, c.base.Host) {
			host := "an unparseable URL"
			if err == nil {
				host = got.Host
			}
			return "", connectors.NewError(connectors.KindInvalid, c.name, op,
				fmt.Errorf("token request: the integration user's org is at %s but instance_url is %s; set instance_url to the org's My Domain URL (or login_url to the right login host)", host, c.base.Host))
		}
	}
	ts.mu.Lock()
	ts.access = tr.AccessToken
	ts.expiry = c.now().Add(ts.ttl)
	ts.mu.Unlock()
	c.log.WithField("op", op).Debug("salesforce: fetched an access token with the JWT bearer flow")
	return tr.AccessToken, nil
}

// tokenError classifies a token endpoint error. A refused grant or client
// is KindAuth (the connected app, its certificate, the user's
// pre-authorization or the username is wrong: nothing a retry fixes); the
// rest by HTTP status.
func (ts *tokenSource) tokenError(op string, r *response) *connectors.Error {
	c := ts.c
	var oe oauthError
	_ = json.Unmarshal(r.body, &oe)
	msg := ""
	if oe.Error != "" {
		msg = oe.Error
		if oe.ErrorDescription != "" {
			msg += ": " + oe.ErrorDescription
		}
	}
	e := c.httpError(op, r, msg)
	switch oe.Error {
	case "invalid_grant", "invalid_client", "invalid_client_id", "invalid_client_credentials", "unauthorized_client", "invalid_app_access", "inactive_user", "inactive_org":
		if r.status < 500 {
			e.Kind = connectors.KindAuth
		}
	}
	e.Err = fmt.Errorf("token request: %w", e.Err)
	return e
}
