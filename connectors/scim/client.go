package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/text"
)

// userAgent identifies the connector to the service provider.
const userAgent = "kinetic-scim-connector/1"

// mediaType is SCIM's media type (RFC 7644 section 3.1); providers also
// accept application/json.
const mediaType = "application/scim+json"

// Message schemas (RFC 7644 sections 3.5.2 and 3.12).
const (
	schemaPatchOp = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	schemaError   = "urn:ietf:params:scim:api:messages:2.0:Error"
)

// maxBody bounds how much of a response body is read.
const maxBody = 8 << 20

// maxMessage bounds the vendor text carried in an error.
const maxMessage = 300

// response is one answer, body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) ok() bool { return r.status >= 200 && r.status < 300 }

// endpoint builds {base_url}{path} with each odd segment path-escaped and
// the query encoded with %20 for spaces (a '+' in a query is not read as a
// space by every provider; url.Values.Encode escapes a literal '+' as %2B,
// so the '+' left are all spaces).
func (c *Connector) endpoint(query url.Values, segments ...string) string {
	var b strings.Builder
	b.WriteString(c.base)
	for i, s := range segments {
		if i%2 == 0 {
			b.WriteString(s)
		} else {
			b.WriteString(url.PathEscape(s))
		}
	}
	if len(query) > 0 {
		b.WriteString("?")
		b.WriteString(strings.ReplaceAll(query.Encode(), "+", "%20"))
	}
	return b.String()
}

// call sends one request and returns the answer whatever its status; the
// error is for a request that got no answer (transport failure, cancelled
// context, token failure). body, when not nil, is sent as SCIM JSON;
// ifMatch, when not empty, as If-Match. With OAuth, a 401 drops the cached
// access token and the request is retried once with a fresh one.
func (c *Connector) call(ctx context.Context, op, method, rawURL string, body any, ifMatch string) (*response, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("cannot encode the request: %v", err))
		}
	}
	retried := false
	for {
		if err := ctx.Err(); err != nil {
			return nil, connectors.NewError(connectors.KindCanceled, c.name, op, err)
		}
		tok, err := c.bearer(ctx, op)
		if err != nil {
			return nil, err
		}
		var rd io.Reader
		if payload != nil {
			rd = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
		if err != nil {
			return nil, connectors.NewError(connectors.KindInvalid, c.name, op, errors.New("cannot build the request URL"))
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", mediaType+", application/json")
		req.Header.Set("User-Agent", userAgent)
		if payload != nil {
			req.Header.Set("Content-Type", mediaType)
		}
		if ifMatch != "" {
			req.Header.Set("If-Match", ifMatch)
		}
		resp, err := c.client.Do(req)
		if err != nil {
			return nil, c.transportError(ctx, op, err)
		}
		data, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
		if rerr != nil {
			return nil, c.transportError(ctx, op, rerr)
		}
		if resp.StatusCode == http.StatusUnauthorized && c.oauth != nil && !retried {
			retried = true
			c.oauth.invalidate(tok)
			c.log.WithField("op", op).Debug("scim: 401 with a cached access token; fetching a new one and retrying once")
			continue
		}
		return &response{status: resp.StatusCode, header: resp.Header, body: data}, nil
	}
}

// bearer returns the access token to send.
func (c *Connector) bearer(ctx context.Context, op string) (string, error) {
	if c.oauth == nil {
		return c.token, nil
	}
	return c.oauth.token(ctx, op)
}

// transportError classifies a request that got no (complete) answer. The
// caller's context ending is KindCanceled; the per-request timeout firing
// is a transient failure, not a cancellation. The error text is built
// here: *url.Error repeats the URL, which holds no secret (the token is a
// header) but is kept short.
func (c *Connector) transportError(ctx context.Context, op string, err error) *connectors.Error {
	if cerr := ctx.Err(); cerr != nil {
		if !errors.Is(err, cerr) {
			err = fmt.Errorf("%w (%v)", cerr, err)
		}
		return connectors.NewError(connectors.KindCanceled, c.name, op, err)
	}
	e := connectors.Classify(c.name, op, err)
	if e.Kind == connectors.KindCanceled {
		e.Kind = connectors.KindTransient
	}
	return e
}

// httpError classifies a non-2xx answer (connectors.ClassifyHTTP: 429 with
// Retry-After, 5xx transient, 401 auth, 403 forbidden, 404 not found,
// other 4xx invalid) with the provider's SCIM error detail.
func (c *Connector) httpError(op string, r *response) *connectors.Error {
	hr := &http.Response{StatusCode: r.status, Header: r.header}
	e := connectors.ClassifyHTTP(c.name, op, hr, c.message(r))
	if e == nil { // 1xx–3xx the caller did not expect (a redirect not followed)
		e = connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("unexpected HTTP status %d from the service provider", r.status))
		e.Status = r.status
	}
	if r.status == http.StatusTooManyRequests || r.status == http.StatusServiceUnavailable {
		e.RetryAfter = connectors.ParseRetryAfter(r.header.Get("Retry-After"), c.now())
	}
	return e
}

// scimError is RFC 7644 section 3.12's error body. status is a string in
// the RFC's examples and a number in some providers' answers.
type scimError struct {
	Schemas  []string        `json:"schemas"`
	Status   json.RawMessage `json:"status"`
	ScimType string          `json:"scimType"`
	Detail   string          `json:"detail"`
}

// scimType returns the scimType of an error answer ("noTarget",
// "uniqueness", …), or "".
func scimType(r *response) string {
	var e scimError
	if json.Unmarshal(r.body, &e) != nil {
		return ""
	}
	return e.ScimType
}

// message renders an error answer for an error message: described,
// redacted, then clipped (in that order, so clipping never leaves part of
// a credential behind).
func (c *Connector) message(r *response) string {
	return text.ClipRunes(c.redact(describe(r)), maxMessage)
}

// maxDescribed bounds how much of an error body is looked at.
const maxDescribed = 4096

// describe renders an error answer for people: SCIM's scimType and
// detail, a token endpoint's error and error_description, or the status
// text with the start of a plain-text body. An HTML page is named, not
// quoted.
func describe(r *response) string {
	body := r.body
	if len(body) > maxDescribed {
		body = body[:maxDescribed]
	}
	status := http.StatusText(r.status)
	if status == "" {
		status = fmt.Sprintf("HTTP %d", r.status)
	}
	var e struct {
		scimError
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	if len(body) > 0 && json.Unmarshal(body, &e) == nil {
		var parts []string
		if e.ScimType != "" {
			parts = append(parts, "scimType "+e.ScimType)
		}
		if e.Detail != "" {
			parts = append(parts, e.Detail)
		}
		if e.Error != "" {
			parts = append(parts, e.Error)
		}
		if e.ErrorDescription != "" {
			parts = append(parts, e.ErrorDescription)
		}
		if len(parts) > 0 {
			return status + ": " + text.OneLine(strings.Join(parts, ": "))
		}
	}
	if isHTML(r.header) {
		return status + " (an HTML page, not a SCIM answer)"
	}
	s := text.OneLine(string(body))
	if s == "" || !utf8.ValidString(s) {
		return status
	}
	return status + ": " + s
}

func isHTML(h http.Header) bool {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return mt == "text/html" || mt == "application/xhtml+xml"
}

// decode parses a 2xx JSON body. An HTML page in its place is a
// configuration problem (base_url points at a sign-in page or a portal,
// not the SCIM endpoint) and permanent; any other body that does not parse
// (truncated, a proxy's text) is transient.
func (c *Connector) decode(op string, r *response, into any) error {
	if err := json.Unmarshal(r.body, into); err != nil {
		kind, hint := connectors.KindTransient, "not the expected SCIM JSON"
		if isHTML(r.header) {
			kind, hint = connectors.KindInvalid, "an HTML page, not SCIM JSON; is base_url the SCIM endpoint?"
		}
		e := connectors.NewError(kind, c.name, op, fmt.Errorf("unexpected response body from the service provider (status %d): %s", r.status, hint))
		e.Status = r.status
		return e
	}
	return nil
}

var (
	authSchemeRE = regexp.MustCompile(`(?i)\b(Bearer|Basic)(\s+|%20|\+)[^\s",;}]+`)
	jwtRE        = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)
)

// redact removes credentials from vendor text before it goes into an
// error: the configured token, client secret and current access token by
// value, and anything that looks like an Authorization value or a JWT.
func (c *Connector) redact(s string) string {
	for _, secret := range c.secrets() {
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "<redacted>")
		}
	}
	s = authSchemeRE.ReplaceAllString(s, "$1 <redacted>")
	return jwtRE.ReplaceAllString(s, "<redacted-jwt>")
}

func (c *Connector) secrets() []string {
	out := []string{c.token}
	if c.oauth != nil {
		out = append(out, c.oauth.secrets()...)
	}
	return out
}

// tokenSkew is how long before its expiry a cached access token is
// replaced.
const tokenSkew = time.Minute

// tokenSource caches the client credentials grant's access token.
type tokenSource struct {
	c  *Connector
	cc clientcredentials.Config

	// fetch is held while the cached token is read or a new one fetched
	// (one fetch at a time); a caller whose context ends while it waits
	// leaves.
	fetch chan struct{}
	tok   *oauth2.Token

	mu     sync.Mutex
	issued []string // every access token handed out, for redaction
}

func newTokenSource(c *Connector, o *OAuth) *tokenSource {
	style := oauth2.AuthStyleInHeader
	if o.AuthStyle == "params" {
		style = oauth2.AuthStyleInParams
	}
	return &tokenSource{c: c, fetch: make(chan struct{}, 1), cc: clientcredentials.Config{
		ClientID:     o.ClientID,
		ClientSecret: o.ClientSecret.Value(),
		TokenURL:     strings.TrimSpace(o.TokenURL),
		Scopes:       o.Scopes,
		// A fixed style avoids x/oauth2's probe, which sends a failed
		// request twice.
		AuthStyle: style,
	}}
}

// token returns a valid access token, fetching one when none is cached or
// the cached one is about to expire.
func (ts *tokenSource) token(ctx context.Context, op string) (string, error) {
	select {
	case ts.fetch <- struct{}{}:
	case <-ctx.Done():
		return "", connectors.NewError(connectors.KindCanceled, ts.c.name, op, ctx.Err())
	}
	defer func() { <-ts.fetch }()
	now := ts.c.now()
	if ts.tok != nil && ts.tok.AccessToken != "" && (ts.tok.Expiry.IsZero() || now.Add(tokenSkew).Before(ts.tok.Expiry)) {
		return ts.tok.AccessToken, nil
	}
	tok, err := ts.cc.Token(context.WithValue(ctx, oauth2.HTTPClient, ts.c.client))
	if err != nil {
		return "", ts.error(ctx, op, err)
	}
	if tok.AccessToken == "" {
		return "", connectors.NewError(connectors.KindTransient, ts.c.name, op, errors.New("the token endpoint answered without an access token"))
	}
	ts.tok = tok
	ts.mu.Lock()
	ts.issued = append(ts.issued, tok.AccessToken)
	if len(ts.issued) > 16 {
		ts.issued = ts.issued[len(ts.issued)-16:]
	}
	ts.mu.Unlock()
	ts.c.log.WithField("op", op).Debug("scim: fetched an access token (client credentials)")
	return tok.AccessToken, nil
}

// invalidate drops the cached access token if it is still tok.
func (ts *tokenSource) invalidate(tok string) {
	ts.fetch <- struct{}{}
	defer func() { <-ts.fetch }()
	if ts.tok != nil && ts.tok.AccessToken == tok {
		ts.tok = nil
	}
}

func (ts *tokenSource) secrets() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]string{ts.cc.ClientSecret}, ts.issued...)
}

// error classifies a failed token request. x/oauth2's own error text
// quotes the response body, so the message is rebuilt from its parts and
// redacted: a 400 or 401 from the token endpoint (invalid_client,
// unauthorized_client, invalid_scope: RFC 6749 section 5.2) is an auth
// failure; 429 and 5xx are retryable.
func (ts *tokenSource) error(ctx context.Context, op string, err error) *connectors.Error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		e := ts.c.transportError(ctx, op, err)
		if e.Kind != connectors.KindCanceled {
			// x/oauth2 may wrap a body it could not parse; say so without it.
			e.Err = fmt.Errorf("token endpoint: %s", ts.c.redact(text.ClipRunes(err.Error(), maxMessage)))
		}
		return e
	}
	r := &response{status: re.Response.StatusCode, header: re.Response.Header, body: re.Body}
	e := ts.c.httpError(op, r)
	if e.Kind == connectors.KindInvalid && (r.status == http.StatusBadRequest || r.status == http.StatusUnauthorized) {
		e.Kind = connectors.KindAuth
	}
	e.Err = fmt.Errorf("token endpoint refused the client credentials request: %w", e.Err)
	return e
}

// features is what the service provider announces in
// /ServiceProviderConfig (RFC 7643 section 5).
type features struct {
	patch, filter, etag bool
	maxResults          int
	// published is false when the provider has no
	// /ServiceProviderConfig (404): the RFC's common case is assumed
	// (PATCH and filter supported, no ETags).
	published bool
}

// serviceProviderConfig is the part of RFC 7643 section 5's resource the
// connector reads.
type serviceProviderConfig struct {
	Patch  struct{ Supported bool } `json:"patch"`
	Filter struct {
		Supported  bool `json:"supported"`
		MaxResults int  `json:"maxResults"`
	} `json:"filter"`
	Etag struct{ Supported bool } `json:"etag"`
}

// features returns the provider's features, reading
// /ServiceProviderConfig on first use. A failed read is not cached.
func (c *Connector) features(ctx context.Context, op string) (features, error) {
	// One reader at a time; a caller whose context ends while it waits
	// leaves.
	select {
	case c.spcMu <- struct{}{}:
	case <-ctx.Done():
		return features{}, connectors.NewError(connectors.KindCanceled, c.name, op, ctx.Err())
	}
	defer func() { <-c.spcMu }()
	if c.spc != nil {
		return *c.spc, nil
	}
	r, err := c.call(ctx, op, http.MethodGet, c.endpoint(nil, "/ServiceProviderConfig"), nil, "")
	if err != nil {
		return features{}, err
	}
	var f features
	switch {
	case r.ok():
		var spc serviceProviderConfig
		if err := c.decode(op, r, &spc); err != nil {
			return features{}, err
		}
		f = features{patch: spc.Patch.Supported, filter: spc.Filter.Supported, etag: spc.Etag.Supported,
			maxResults: spc.Filter.MaxResults, published: true}
	case r.status == http.StatusNotFound:
		f = features{patch: true, filter: true}
		c.log.Warn("scim: the service provider has no /ServiceProviderConfig; assuming PATCH and filter support, no ETags")
	default:
		return features{}, c.httpError(op, r)
	}
	c.spc = &f
	return f, nil
}
