package salesforce

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/text"
)

const (
	// maxBody bounds how much of a response body is read.
	maxBody = 8 << 20
	// maxMessage bounds the vendor text carried in an error.
	maxMessage = 300
	// maxDescribed bounds how much of an error body is looked at.
	maxDescribed = 4096
	// maxPages bounds how many query pages one read follows.
	maxPages = 20
)

// response is one answer, body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) ok() bool { return r.status >= 200 && r.status < 300 }

// apiError is one element of the REST API's error array:
// https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
type apiError struct {
	Message   string   `json:"message"`
	ErrorCode string   `json:"errorCode"`
	Fields    []string `json:"fields"`
}

// errorCodes returns the errorCodes of an error answer.
func errorCodes(body []byte) []apiError {
	if len(body) > maxDescribed {
		return nil
	}
	var arr []apiError
	if json.Unmarshal(body, &arr) == nil {
		return arr
	}
	var one apiError
	if json.Unmarshal(body, &one) == nil && one.ErrorCode != "" {
		return []apiError{one}
	}
	return nil
}

// call sends one REST request to the instance and returns the answer
// whatever its status; the error is for a request that got no answer. A
// 401 (the session expired or was revoked: INVALID_SESSION_ID) drops the
// cached token and the request is sent once more with a fresh one.
// https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
func (c *Connector) call(ctx context.Context, op, method, rawURL string, body any) (*response, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, connectors.NewError(connectors.KindInvalid, c.name, op, errors.New("cannot encode the request body"))
		}
	}
	retried := false
	for {
		if err := ctx.Err(); err != nil {
			return nil, connectors.NewError(connectors.KindCanceled, c.name, op, err)
		}
		tok, err := c.tokens.token(ctx, op)
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
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", userAgent)
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.client.Do(req)
		if err != nil {
			return nil, c.transportError(ctx, op, err)
		}
		b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
		if rerr != nil {
			return nil, c.transportError(ctx, op, rerr)
		}
		if resp.StatusCode == http.StatusUnauthorized && !retried {
			retried = true
			c.tokens.invalidate(tok)
			c.log.WithField("op", op).Debug("salesforce: 401 with a cached access token; fetching a new one and retrying once")
			continue
		}
		return &response{status: resp.StatusCode, header: resp.Header, body: b}, nil
	}
}

// api sends a request to {instance}{apiV}{path}?{query}, classifies a
// non-2xx answer and decodes a 2xx JSON body into into (when not nil). The
// returned apiErrors are the answer's error array when it failed.
func (c *Connector) api(ctx context.Context, op, method, path string, query url.Values, body, into any) (*response, []apiError, error) {
	u := c.base.String() + c.apiV + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	return c.do(ctx, op, method, u, body, into)
}

func (c *Connector) do(ctx context.Context, op, method, u string, body, into any) (*response, []apiError, error) {
	r, err := c.call(ctx, op, method, u, body)
	if err != nil {
		return nil, nil, err
	}
	if !r.ok() {
		return r, errorCodes(r.body), c.httpError(op, r, "")
	}
	if into != nil {
		if err := c.decode(op, r, into); err != nil {
			return r, nil, err
		}
	}
	return r, nil, nil
}

// transportError classifies a request that got no (complete) answer. The
// caller's context ending is KindCanceled; the per-request timeout firing
// is a transient failure.
func (c *Connector) transportError(ctx context.Context, op string, err error) *connectors.Error {
	if cerr := ctx.Err(); cerr != nil {
		if !errors.Is(err, cerr) {
			err = fmt.Errorf("%w (%v)", cerr, c.redact(err.Error()))
		}
		return connectors.NewError(connectors.KindCanceled, c.name, op, err)
	}
	e := connectors.Classify(c.name, op, err)
	if e.Kind == connectors.KindCanceled {
		e.Kind = connectors.KindTransient
	}
	return e
}

// httpError classifies a non-2xx answer (connectors.ClassifyHTTP by
// status), then by Salesforce's errorCode: REQUEST_LIMIT_EXCEEDED (a 403
// when the org's API request limit is used up) is rate limited, not
// forbidden. msg, when set, replaces the description of the body.
func (c *Connector) httpError(op string, r *response, msg string) *connectors.Error {
	if msg == "" {
		msg = describe(r)
	}
	msg = text.ClipRunes(c.redact(msg), maxMessage)
	hr := &http.Response{StatusCode: r.status, Header: r.header}
	e := connectors.ClassifyHTTP(c.name, op, hr, msg)
	if e == nil { // 1xx–3xx the caller did not expect
		e = connectors.NewError(connectors.KindTransient, c.name, op, fmt.Errorf("unexpected HTTP status %d: %s", r.status, msg))
		e.Status = r.status
		return e
	}
	for _, ae := range errorCodes(r.body) {
		switch ae.ErrorCode {
		case "REQUEST_LIMIT_EXCEEDED", "TOO_MANY_REQUESTS":
			e.Kind = connectors.KindRateLimited
		case "SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW":
			e.Kind = connectors.KindTransient
		}
	}
	return e
}

// describe renders an error answer for people: each errorCode and message
// of the error array, or the start of a text body. It does not redact or
// clip; httpError does.
func describe(r *response) string {
	if codes := errorCodes(r.body); len(codes) > 0 {
		parts := make([]string, 0, len(codes))
		for _, ae := range codes {
			p := strings.TrimSpace(ae.ErrorCode + ": " + ae.Message)
			if len(ae.Fields) > 0 {
				p += " [" + strings.Join(ae.Fields, ", ") + "]"
			}
			parts = append(parts, strings.TrimPrefix(p, ": "))
		}
		return strings.Join(parts, "; ")
	}
	body := r.body
	if len(body) > maxDescribed {
		body = body[:maxDescribed]
	}
	t := strings.Join(strings.Fields(string(body)), " ")
	if t == "" || !utf8.ValidString(t) {
		return http.StatusText(r.status)
	}
	return http.StatusText(r.status) + ": " + t
}

var (
	bearerRE = regexp.MustCompile(`(?i)\b(Bearer|OAuth)(\s+|%20|\+)[^\s",;}]+`)
	jwtRE    = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)
	pemRE    = regexp.MustCompile(`-----BEGIN [A-Z ]+-----[\s\S]*?(-----END [A-Z ]+-----|$)`)
	// sessionRE is the shape of a Salesforce session id / access token:
	// the org id, "!", then the opaque rest.
	sessionRE = regexp.MustCompile(`00D[A-Za-z0-9]{12,15}![A-Za-z0-9._-]+`)
)

// redact removes credentials from text before it goes into an error: the
// current access token, the last assertion and every DeleteToken seen by
// value, and anything shaped like a bearer header, a JWT, a PEM block or a
// Salesforce session id.
func (c *Connector) redact(s string) string {
	for _, secret := range c.secrets() {
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "<redacted>")
		}
	}
	s = bearerRE.ReplaceAllString(s, "$1 <redacted>")
	s = jwtRE.ReplaceAllString(s, "<redacted-jwt>")
	s = pemRE.ReplaceAllString(s, "<redacted-pem>")
	s = sessionRE.ReplaceAllString(s, "<redacted-session>")
	return s
}

func (c *Connector) secrets() []string {
	var out []string
	if c.tokens != nil {
		out = c.tokens.secrets()
	}
	c.secretMu.Lock()
	defer c.secretMu.Unlock()
	for s := range c.extra {
		out = append(out, s)
	}
	return out
}

// remember adds a secret (a DeleteToken) to those redacted from errors.
func (c *Connector) remember(s string) {
	if s == "" {
		return
	}
	c.secretMu.Lock()
	defer c.secretMu.Unlock()
	if len(c.extra) > 10000 {
		clear(c.extra)
	}
	c.extra[s] = true
}

// decode parses a 2xx JSON body; a body that does not parse (a proxy's
// HTML page, a truncated answer) is a transient failure.
func (c *Connector) decode(op string, r *response, into any) error {
	if err := json.Unmarshal(r.body, into); err != nil {
		e := connectors.NewError(connectors.KindTransient, c.name, op,
			fmt.Errorf("unexpected response body from Salesforce (status %d, %s): not the expected JSON", r.status, r.header.Get("Content-Type")))
		e.Status = r.status
		return e
	}
	return nil
}

// queryResult is one page of a SOQL query:
// https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_query.htm
type queryResult[T any] struct {
	TotalSize      int    `json:"totalSize"`
	Done           bool   `json:"done"`
	NextRecordsURL string `json:"nextRecordsUrl"`
	Records        []T    `json:"records"`
}

// query runs a SOQL query (GET {apiV}/query?q=…) and follows
// nextRecordsUrl up to maxPages pages. It returns the records and the
// totalSize Salesforce reported (for COUNT() queries, the count).
func query[T any](ctx context.Context, c *Connector, op, soql string) ([]T, int, error) {
	var page queryResult[T]
	if _, _, err := c.api(ctx, op, http.MethodGet, "/query", url.Values{"q": {soql}}, nil, &page); err != nil {
		return nil, 0, err
	}
	records, total := page.Records, page.TotalSize
	for pages := 1; !page.Done && page.NextRecordsURL != ""; pages++ {
		if pages >= maxPages {
			return nil, 0, connectors.NewError(connectors.KindInvalid, c.name, op,
				fmt.Errorf("query returned more than %d pages; not reading further", maxPages))
		}
		next, err := c.nextURL(page.NextRecordsURL)
		if err != nil {
			return nil, 0, connectors.NewError(connectors.KindInvalid, c.name, op, err)
		}
		page = queryResult[T]{}
		if _, _, err := c.do(ctx, op, http.MethodGet, next, nil, &page); err != nil {
			return nil, 0, err
		}
		records = append(records, page.Records...)
	}
	return records, total, nil
}

// nextURL resolves a nextRecordsUrl (a path such as
// /services/data/v62.0/query/01gD0000002HU6KIAW-2000) against the instance.
// It must stay on the instance and under /services/data/, since the bearer
// token is sent to it.
func (c *Connector) nextURL(raw string) (string, error) {
	u, err := c.base.Parse(raw)
	if err != nil {
		return "", errors.New("Salesforce sent an unparseable nextRecordsUrl")
	}
	if !strings.EqualFold(u.Scheme, c.base.Scheme) || !strings.EqualFold(u.Host, c.base.Host) || !strings.HasPrefix(u.EscapedPath(), "/services/data/") {
		return "", errors.New("Salesforce sent a nextRecordsUrl outside the instance; not following it")
	}
	u.User, u.Fragment = nil, ""
	return u.String(), nil
}

// soqlQuote returns s as a SOQL string literal, with the escapes SOQL
// defines for quoted strings (\n \r \t \b \f \" \' \\):
// https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_quotedstringescapes.htm
func soqlQuote(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '\'':
			b.WriteString(`\'`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if r < 0x20 {
				continue // no other control character belongs in an identifier
			}
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// idRE is a Salesforce record id: 15 case-sensitive or 18
// case-insensitive alphanumerics. Ids are checked before they go into a
// path or a SOQL literal.
var idRE = regexp.MustCompile(`^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$`)

func validID(id string) bool { return idRE.MatchString(id) }
