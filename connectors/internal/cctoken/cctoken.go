// Package cctoken is the OAuth 2.0 client-credentials token cache the MDM
// connectors share (Microsoft identity platform for intune, Jamf Pro's
// /api/oauth/token for jamf): one fetch at a time, honouring the caller's
// context, a token replaced shortly before it expires, and token-endpoint
// failures classified into connector errors without the secret.
package cctoken

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/text"
)

// Skew is how long before its expiry a cached token is replaced.
const Skew = 2 * time.Minute

// Cache holds the current access token of one client.
type Cache struct {
	cfg  clientcredentials.Config
	http *http.Client
	now  func() time.Time
	sem  chan struct{}
	// OnToken, when set, is told every token fetched (to redact it).
	OnToken func(string)

	mu     sync.Mutex
	token  string
	expiry time.Time
}

// New returns a cache fetching tokens with cfg through client. The
// credentials are sent in the form body (AuthStyleInParams), which both
// Entra ID and Jamf Pro accept; fixing the style avoids x/oauth2's probe,
// which would send a failed request twice.
func New(cfg clientcredentials.Config, client *http.Client, now func() time.Time) *Cache {
	cfg.AuthStyle = oauth2.AuthStyleInParams
	if now == nil {
		now = time.Now
	}
	return &Cache{cfg: cfg, http: client, now: now, sem: make(chan struct{}, 1)}
}

func (c *Cache) current() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == "" || (!c.expiry.IsZero() && !c.now().Add(Skew).Before(c.expiry)) {
		return ""
	}
	return c.token
}

// Get returns a usable token; fresh reports whether this call fetched it
// (a 401 answered to a fresh token is not worth a retry).
func (c *Cache) Get(ctx context.Context) (token string, fresh bool, err error) {
	if t := c.current(); t != "" {
		return t, false, nil
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return "", false, ctx.Err()
	}
	defer func() { <-c.sem }()
	if t := c.current(); t != "" {
		return t, false, nil
	}
	tok, err := c.cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, c.http))
	if err != nil {
		return "", false, err
	}
	if tok.AccessToken == "" {
		return "", false, errors.New("the token endpoint answered without an access token")
	}
	if c.OnToken != nil {
		c.OnToken(tok.AccessToken)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.token, c.expiry = tok.AccessToken, time.Time{}
	if !tok.Expiry.IsZero() {
		// x/oauth2 computes Expiry from expires_in with the wall clock.
		c.expiry = c.now().Add(time.Until(tok.Expiry))
	}
	return c.token, true, nil
}

// Invalidate drops token if it is still the current one.
func (c *Cache) Invalidate(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == token {
		c.token, c.expiry = "", time.Time{}
	}
}

// Classify turns a failure to get a token into a connector error. The
// endpoint's error code and the first line of its description are kept;
// redact removes secrets from any text. invalid_client and
// unauthorized_client are credentials (KindAuth) whatever the status.
func Classify(ctx context.Context, connector, op string, err error, redact func(string) string) *connectors.Error {
	var ce *connectors.Error
	if errors.As(err, &ce) {
		return ce
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return connectors.NewError(connectors.KindCanceled, connector, op, fmt.Errorf("token request: %w", ctxErr))
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		msg := "token request: "
		switch {
		case re.ErrorCode != "":
			msg += re.ErrorCode
			if d := firstLine(re.ErrorDescription); d != "" {
				msg += ": " + text.ClipRunes(text.OneLine(d), 300)
			}
		case looksHTML(re.Response.Header.Get("Content-Type"), re.Body):
			msg += fmt.Sprintf("HTTP %d with an HTML page, not the token endpoint's JSON", re.Response.StatusCode)
		default:
			msg += fmt.Sprintf("HTTP %d %s", re.Response.StatusCode, http.StatusText(re.Response.StatusCode))
		}
		e := connectors.ClassifyHTTP(connector, op, re.Response, redact(msg))
		if e == nil {
			e = connectors.NewError(connectors.KindInvalid, connector, op, errors.New(redact(msg)))
		}
		switch re.ErrorCode {
		case "invalid_client", "unauthorized_client":
			e.Kind = connectors.KindAuth
		}
		return e
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		kind := connectors.Classify(connector, op, err).Kind
		if kind == connectors.KindCanceled {
			kind = connectors.KindTransient
		}
		return connectors.NewError(kind, connector, op, &redacted{msg: redact("token request: " + err.Error()), cause: err})
	}
	// Not an OAuth answer at all (no access_token, an unparseable body).
	return connectors.NewError(connectors.KindInvalid, connector, op, &redacted{msg: redact("token request: " + err.Error()), cause: err})
}

type redacted struct {
	msg   string
	cause error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.cause }

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return s
}

func looksHTML(ct string, body []byte) bool {
	if strings.Contains(strings.ToLower(ct), "html") {
		return true
	}
	b := strings.TrimSpace(string(body))
	return strings.HasPrefix(b, "<")
}
