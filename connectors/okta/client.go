package okta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/text"
)

// userAgent identifies the connector to Okta (it shows in the System Log).
const userAgent = "kinetic-okta-connector/1"

// maxBody bounds how much of a response body is read.
const maxBody = 8 << 20

// maxMessage bounds the vendor text carried in an error.
const maxMessage = 300

// response is one answer from Okta, body read.
type response struct {
	status int
	header http.Header
	body   []byte
	url    *url.URL // the request URL, to resolve relative Link headers
}

func (r *response) ok() bool { return r.status >= 200 && r.status < 300 }

// apiURL builds {org}{path} with each segment path-escaped and the query
// encoded with %20 for spaces (Okta's documented search examples are
// percent-encoded; '+' is not relied on).
func (c *Connector) apiURL(query url.Values, segments ...string) string {
	var b strings.Builder
	b.WriteString(c.base.String())
	for i, s := range segments {
		if i%2 == 0 {
			b.WriteString(s) // literal path part, e.g. "/api/v1/users/"
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

// call sends one request to the Okta API and returns the answer whatever
// its status; the error is for a request that got no answer (transport
// failure, cancelled context, rate-limit wait refused, token failure).
//
// Before sending it waits out an exhausted rate-limit window (see
// waitRate) and takes a slot of the max_concurrency semaphore. In OAuth
// mode a 401 (the access token expired or was revoked mid-run) drops the
// cached token and the request is retried once with a fresh one.
func (c *Connector) call(ctx context.Context, op, method, rawURL string) (*response, error) {
	retried := false
	for {
		if err := c.waitRate(ctx, op); err != nil {
			return nil, err
		}
		auth, tok, err := c.authorization(ctx, op)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, method, rawURL, nil)
		if err != nil {
			return nil, connectors.NewError(connectors.KindInvalid, c.name, op, errors.New("cannot build the request URL"))
		}
		req.Header.Set("Authorization", auth)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", userAgent)

		if err := c.acquire(ctx, op); err != nil {
			return nil, err
		}
		resp, err := c.client.Do(req)
		if err != nil {
			c.release()
			return nil, c.transportError(ctx, op, err)
		}
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
		c.release()
		c.noteRate(resp.StatusCode, resp.Header)
		if rerr != nil {
			return nil, c.transportError(ctx, op, rerr)
		}
		if resp.StatusCode == http.StatusUnauthorized && c.oauth != nil && !retried {
			retried = true
			c.oauth.invalidate(tok)
			c.log.WithField("op", op).Debug("okta: 401 with a cached access token; fetching a new one and retrying once")
			continue
		}
		return &response{status: resp.StatusCode, header: resp.Header, body: body, url: req.URL}, nil
	}
}

// authorization returns the Authorization header value and, in OAuth mode,
// the access token it carries: "SSWS <api token>" or "Bearer <access
// token>".
// https://developer.okta.com/docs/api/openapi/okta-management/guides/overview
func (c *Connector) authorization(ctx context.Context, op string) (header, token string, err error) {
	if c.oauth == nil {
		return "SSWS " + c.apiToken, "", nil
	}
	tok, err := c.oauth.token(ctx, op)
	if err != nil {
		return "", "", err
	}
	return "Bearer " + tok, tok, nil
}

func (c *Connector) acquire(ctx context.Context, op string) error {
	select {
	case c.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return connectors.NewError(connectors.KindCanceled, c.name, op, ctx.Err())
	}
}

func (c *Connector) release() { <-c.sem }

// transportError classifies a request that got no (complete) answer. The
// caller's context ending is KindCanceled; the per-request timeout firing
// is a transient failure, not a cancellation.
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

// Rate limits. Okta reports, on every response, the limit of the bucket the
// request counted against (X-Rate-Limit-Limit), what is left of it
// (X-Rate-Limit-Remaining) and when the window resets
// (X-Rate-Limit-Reset, UTC epoch seconds):
// https://developer.okta.com/docs/reference/rl-best-practices/
//
// Okta's buckets are per endpoint family; the connector keeps one gate for
// all of them, which is conservative: once any response says Remaining 0,
// every later request waits for that window's reset. A wait longer than
// max_rate_wait is not slept but returned as KindRateLimited with the wait
// as RetryAfter, so the job layer can reschedule instead of holding a
// worker.

// waitRate waits until an exhausted rate-limit window resets, or refuses.
func (c *Connector) waitRate(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return connectors.NewError(connectors.KindCanceled, c.name, op, err)
	}
	c.rateMu.Lock()
	until := c.blockedUntil
	c.rateMu.Unlock()
	if until.IsZero() {
		return nil
	}
	wait := until.Sub(c.now())
	if wait <= 0 {
		return nil
	}
	if wait > c.maxRateWait {
		return &connectors.Error{
			Kind: connectors.KindRateLimited, Connector: c.name, Op: op, RetryAfter: wait,
			Err: fmt.Errorf("Okta rate limit exhausted (X-Rate-Limit-Remaining: 0); the window resets in %s, longer than max_rate_wait %s",
				wait.Round(time.Millisecond), c.maxRateWait),
		}
	}
	c.log.WithFields(map[string]any{"op": op, "wait": wait.String()}).Debug("okta: rate limit exhausted; waiting for the window to reset")
	if err := c.sleep(ctx, wait); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			err = cerr
		}
		return connectors.NewError(connectors.KindCanceled, c.name, op, err)
	}
	return nil
}

// noteRate updates the gate from a response's rate-limit headers.
func (c *Connector) noteRate(status int, h http.Header) {
	reset, hasReset := c.resetTime(h)
	remaining, err := strconv.Atoi(strings.TrimSpace(h.Get("X-Rate-Limit-Remaining")))
	hasRemaining := err == nil

	c.rateMu.Lock()
	defer c.rateMu.Unlock()
	switch {
	case status == http.StatusTooManyRequests:
		until := reset
		if !hasReset {
			until = c.now().Add(connectors.ParseRetryAfter(h.Get("Retry-After"), c.now()))
		}
		if until.After(c.blockedUntil) {
			c.blockedUntil = until
		}
	case hasRemaining && remaining <= 0 && hasReset:
		if reset.After(c.blockedUntil) {
			c.blockedUntil = reset
		}
	case hasRemaining && remaining > 0 && hasReset && reset.After(c.blockedUntil):
		// A later window with room: the exhausted one is over. (A response
		// from the same window, say one that was in flight, does not
		// reopen the gate.)
		c.blockedUntil = time.Time{}
	}
}

// resetTime converts X-Rate-Limit-Reset (Okta's clock, epoch seconds) to
// the local clock. When the response carries a Date header the reset is
// taken relative to it, so clock skew between us and Okta does not shorten
// or stretch the wait.
func (c *Connector) resetTime(h http.Header) (time.Time, bool) {
	v := strings.TrimSpace(h.Get("X-Rate-Limit-Reset"))
	if v == "" {
		return time.Time{}, false
	}
	secs, err := strconv.ParseInt(v, 10, 64)
	if err != nil || secs <= 0 || secs > 1<<40 {
		return time.Time{}, false
	}
	reset := time.Unix(secs, 0)
	now := c.now()
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		delta := reset.Sub(d)
		if delta > 24*time.Hour {
			delta = 24 * time.Hour
		}
		return now.Add(delta), true
	}
	if reset.Sub(now) > 24*time.Hour {
		return now.Add(24 * time.Hour), true
	}
	return reset, true
}

// httpError classifies a non-2xx answer. 429s carry RetryAfter from
// X-Rate-Limit-Reset when present, else from Retry-After.
func (c *Connector) httpError(op string, r *response) *connectors.Error {
	hr := &http.Response{StatusCode: r.status, Header: r.header}
	e := connectors.ClassifyHTTP(c.name, op, hr, c.message(r))
	if e == nil { // 1xx–3xx that the caller did not expect
		e = connectors.NewError(connectors.KindTransient, c.name, op, fmt.Errorf("unexpected HTTP status %d", r.status))
		e.Status = r.status
	}
	if r.status == http.StatusTooManyRequests {
		if reset, ok := c.resetTime(r.header); ok {
			if d := reset.Sub(c.now()); d > 0 {
				e.RetryAfter = d
			}
		}
	}
	return e
}

// oktaError is Okta's error body:
// https://developer.okta.com/docs/reference/error-codes/
type oktaError struct {
	ErrorCode    string `json:"errorCode"`
	ErrorSummary string `json:"errorSummary"`
	ErrorCauses  []struct {
		ErrorSummary string `json:"errorSummary"`
	} `json:"errorCauses"`
	// OAuth 2.0 token endpoint errors (RFC 6749 §5.2).
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// message renders an error answer for an error message: described,
// redacted, then clipped (in that order, so clipping never leaves part of a
// credential behind).
func (c *Connector) message(r *response) string {
	return text.ClipRunes(c.redact(describe(r)), maxMessage)
}

// describe renders an error answer for people: Okta's errorCode,
// errorSummary and errorCauses, or the token endpoint's error and
// error_description, or failing those the start of a text body. It does
// not redact or clip; use message.
func describe(r *response) string {
	var oe oktaError
	body := r.body
	if len(body) > maxDescribed {
		body = body[:maxDescribed]
	}
	if len(body) > 0 && json.Unmarshal(body, &oe) == nil {
		var parts []string
		switch {
		case oe.ErrorCode != "" || oe.ErrorSummary != "":
			parts = append(parts, strings.TrimSpace(oe.ErrorCode+": "+oe.ErrorSummary))
			var causes []string
			for _, cause := range oe.ErrorCauses {
				if s := strings.TrimSpace(cause.ErrorSummary); s != "" {
					causes = append(causes, s)
				}
			}
			if len(causes) > 0 {
				parts = append(parts, "causes: "+strings.Join(causes, "; "))
			}
		case oe.Error != "":
			parts = append(parts, oe.Error)
			if oe.ErrorDescription != "" {
				parts = append(parts, oe.ErrorDescription)
			}
		}
		if len(parts) > 0 {
			return strings.TrimPrefix(strings.Join(parts, " "), ": ")
		}
	}
	text := strings.Join(strings.Fields(string(body)), " ")
	if text == "" || !utf8.ValidString(text) {
		return http.StatusText(r.status)
	}
	return http.StatusText(r.status) + ": " + text
}

// maxDescribed bounds how much of an error body is looked at.
const maxDescribed = 4096

var (
	authSchemeRE = regexp.MustCompile(`(?i)\b(SSWS|Bearer|DPoP)(\s+|%20|\+)[^\s",;}]+`)
	jwtRE        = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)
	pemRE        = regexp.MustCompile(`-----BEGIN [A-Z ]+-----[\s\S]*?(-----END [A-Z ]+-----|$)`)
)

// redact removes credentials from vendor text before it goes into an error:
// the API token and current access token by value, anything that looks
// like an Authorization header value, a JWT or a PEM block.
func (c *Connector) redact(s string) string {
	for _, secret := range c.secrets() {
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "<redacted>")
		}
	}
	s = authSchemeRE.ReplaceAllString(s, "$1 <redacted>")
	s = jwtRE.ReplaceAllString(s, "<redacted-jwt>")
	s = pemRE.ReplaceAllString(s, "<redacted-pem>")
	return s
}

func (c *Connector) secrets() []string {
	out := []string{c.apiToken}
	if c.oauth != nil {
		out = append(out, c.oauth.secrets()...)
	}
	return out
}

// nextLink returns the URL of the next page from the Link headers
// (rel="next"), or "" on the last page. Okta paginates lists with an
// opaque cursor in that link; the connector follows it as given. The link
// must stay on the org's scheme and host (the Authorization header is sent
// to it) and under /api/v1/.
func (c *Connector) nextLink(r *response) (string, error) {
	raw := parseNextLink(r.header.Values("Link"))
	if raw == "" {
		return "", nil
	}
	u, err := r.url.Parse(raw)
	if err != nil {
		return "", errors.New("Okta sent an unparseable next-page link")
	}
	if !strings.EqualFold(u.Scheme, c.base.Scheme) || !strings.EqualFold(u.Host, c.base.Host) || !strings.HasPrefix(u.EscapedPath(), "/api/v1/") {
		return "", fmt.Errorf("Okta sent a next-page link to %s://%s%s, outside the org URL; not following it", u.Scheme, u.Host, u.EscapedPath())
	}
	u.User = nil
	u.Fragment = ""
	return u.String(), nil
}

// parseNextLink finds the target of the first rel="next" link in RFC 8288
// Link header values (each may hold several comma-separated links).
func parseNextLink(values []string) string {
	for _, v := range values {
		for len(v) > 0 {
			lt := strings.IndexByte(v, '<')
			if lt < 0 {
				break
			}
			gt := strings.IndexByte(v[lt:], '>')
			if gt < 0 {
				break
			}
			target := v[lt+1 : lt+gt]
			rest := v[lt+gt+1:]
			params := rest
			if next := strings.IndexByte(rest, '<'); next >= 0 {
				params = rest[:next]
				rest = rest[next:]
			} else {
				rest = ""
			}
			for _, p := range strings.Split(params, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(strings.TrimRight(strings.TrimSpace(p), ",")), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
					continue
				}
				for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(val), `"`)) {
					if strings.EqualFold(rel, "next") {
						return target
					}
				}
			}
			v = rest
		}
	}
	return ""
}

// decode parses a 2xx JSON body; a body that does not parse is a transient
// failure (a truncated answer or a proxy's page), never a secret-bearing
// message.
func (c *Connector) decode(op string, r *response, into any) error {
	if err := json.Unmarshal(r.body, into); err != nil {
		e := connectors.NewError(connectors.KindTransient, c.name, op,
			fmt.Errorf("unexpected response body from Okta (status %d, %s): not the expected JSON", r.status, r.header.Get("Content-Type")))
		e.Status = r.status
		return e
	}
	return nil
}
