package workday

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// This file is the one Workday OAuth token exchange: the directory source
// (Source) and bot/hr's Workday poller both get their access tokens from a
// Tokens.

// DefaultTokenLife is how long an access token is used when the token
// endpoint's answer has no expires_in.
const DefaultTokenLife = 10 * time.Minute

// Tokens exchanges a Workday API client's credentials for access tokens
// with golang.org/x/oauth2: the refresh_token grant when a refresh token is
// configured (Workday's "API Client for Integrations"), otherwise
// client_credentials. The client is sent with HTTP basic (RFC 6749 section
// 2.3.1), never in the form. A token is reused until a tenth of its life
// (at most a minute) before it expires, or until Invalidate (call it when
// Workday answers 401: a revoked token). A failed exchange is retried at
// the next Token. A refresh token the endpoint rotates is kept. Safe for
// concurrent use.
type Tokens struct {
	cfg    OAuth
	client *http.Client
	now    func() time.Time

	mu      sync.Mutex
	refresh string
	tok     *oauth2.Token
	until   time.Time
}

// NewTokens returns the exchange for o, whose secrets must be resolved.
// Token requests go through client, which must come from the outbound URL
// policy. now is the clock (nil: time.Now).
func NewTokens(o OAuth, client *http.Client, now func() time.Time) *Tokens {
	if now == nil {
		now = time.Now
	}
	return &Tokens{cfg: o, client: client, now: now, refresh: o.RefreshToken.Value()}
}

// Token returns a valid access token, fetching one when needed. A refused
// exchange is an *oauth2.RetrieveError (its Body may echo secrets: classify
// it by status, never print it); a transport failure is the client's error.
func (t *Tokens) Token(ctx context.Context) (*oauth2.Token, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if t.tok != nil && now.Before(t.until) {
		return t.tok, nil
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, t.client)
	url := strings.TrimSpace(t.cfg.TokenURL)
	var (
		tok *oauth2.Token
		err error
	)
	if t.refresh != "" {
		oc := &oauth2.Config{
			ClientID: t.cfg.ClientID, ClientSecret: t.cfg.ClientSecret.Value(),
			Endpoint: oauth2.Endpoint{TokenURL: url, AuthStyle: oauth2.AuthStyleInHeader},
		}
		tok, err = oc.TokenSource(ctx, &oauth2.Token{RefreshToken: t.refresh}).Token()
	} else {
		cc := &clientcredentials.Config{
			ClientID: t.cfg.ClientID, ClientSecret: t.cfg.ClientSecret.Value(),
			TokenURL: url, Scopes: t.cfg.Scopes,
			// A fixed style: x/oauth2's auto-detection would send a
			// refused request twice.
			AuthStyle: oauth2.AuthStyleInHeader,
		}
		tok, err = cc.Token(ctx)
	}
	if err != nil {
		return nil, err
	}
	if tok.AccessToken == "" {
		return nil, errors.New("the token endpoint's answer has no access_token")
	}
	if tok.RefreshToken != "" && t.refresh != "" {
		t.refresh = tok.RefreshToken
	}
	life := DefaultTokenLife
	if !tok.Expiry.IsZero() {
		// x/oauth2 sets Expiry from expires_in with its own clock.
		life = time.Until(tok.Expiry)
	}
	if life <= 0 {
		life = DefaultTokenLife
	}
	t.tok, t.until = tok, now.Add(life-min(time.Minute, life/10))
	return tok, nil
}

// Invalidate drops the current access token: the next Token fetches a new
// one. Call it when Workday refuses the token (401).
func (t *Tokens) Invalidate() {
	t.mu.Lock()
	t.tok = nil
	t.mu.Unlock()
}
