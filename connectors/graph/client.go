package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/oauth2"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/text"
)

// The small typed REST client: one request with a bearer token, one retry
// after a token refresh on 401, classification of every answer, paging and
// JSON batching.

// maxBody bounds how much of a response is read.
const maxBody = 4 << 20

// maxPages bounds how many @odata.nextLink pages one listing follows.
const maxPages = 200

// maxBatch is Graph's limit of requests in one JSON batch:
// https://learn.microsoft.com/en-us/graph/json-batching
const maxBatch = 20

// apiRequest is one Graph call.
type apiRequest struct {
	method string
	// path is relative to the Graph base URL ("/users/{id}", already
	// escaped), or an absolute @odata.nextLink.
	path string
	// query is the encoded query string without "?".
	query string
	// display replaces path in messages (a nextLink is shown as the path
	// of the listing it continues).
	display string
	body    any // sent as JSON when not nil
	header  map[string]string
	// sharePoint sends the request to sharepoint_url (path from its root)
	// with a SharePoint token instead of to Graph.
	sharePoint bool
}

// apiResponse is Graph's answer, any status.
type apiResponse struct {
	status int
	header http.Header
	body   []byte
}

// where names the request in messages: method and path, never the query
// (paging tokens) or a host's user info.
func (r apiRequest) where() string { return r.method + " " + r.shownPath() }

func (r apiRequest) shownPath() string {
	if r.display != "" {
		return r.display
	}
	if u, err := url.Parse(r.path); err == nil && u.IsAbs() {
		return u.Path
	}
	return r.path
}

// query builds an encoded query from key, value pairs. Keys are written as
// given ("$select"); values are escaped with %20 for spaces, which Graph's
// OData parser expects.
func query(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(kv[i])
		b.WriteByte('=')
		b.WriteString(strings.ReplaceAll(url.QueryEscape(kv[i+1]), "+", "%20"))
	}
	return b.String()
}

// seg escapes one path segment (an object ID or a user principal name).
func seg(s string) string { return url.PathEscape(s) }

func (c *Connector) requestURL(op string, r apiRequest) (string, error) {
	if r.sharePoint {
		if c.spBase == nil {
			return "", connectors.NewError(connectors.KindInvalid, c.name, op, errors.New("sharepoint_url is not configured"))
		}
		s := strings.TrimRight(c.spBase.String(), "/") + r.path
		if r.query != "" {
			s += "?" + r.query
		}
		return s, nil
	}
	if u, err := url.Parse(r.path); err == nil && u.IsAbs() {
		// An @odata.nextLink: follow it only to the configured Graph base,
		// since the request carries our bearer token.
		if u.Scheme != c.graphBase.Scheme || !strings.EqualFold(u.Host, c.graphBase.Host) || !strings.HasPrefix(u.Path, c.graphBase.Path) {
			return "", connectors.NewError(connectors.KindInvalid, c.name, op,
				fmt.Errorf("refusing to follow @odata.nextLink to %s://%s%s: it is outside graph_url", u.Scheme, u.Host, u.Path))
		}
		return r.path, nil
	}
	s := strings.TrimRight(c.graphBase.String(), "/") + r.path
	if r.query != "" {
		s += "?" + r.query
	}
	return s, nil
}

// send performs r with a bearer token and returns Graph's answer whatever its
// status. A 401 answered to a cached token drops the token and retries once
// with a new one: that is how a token that expired mid-run (or was revoked
// early) is replaced. Token and transport failures come back classified.
func (c *Connector) send(ctx context.Context, op string, r apiRequest) (*apiResponse, error) {
	target, err := c.requestURL(op, r)
	if err != nil {
		return nil, err
	}
	var payload []byte
	if r.body != nil {
		if payload, err = json.Marshal(r.body); err != nil {
			return nil, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("%s: encoding the request: %v", r.where(), err))
		}
	}
	tokens := c.tokens
	if r.sharePoint {
		tokens = c.spTokens
	}
	for attempt := 0; ; attempt++ {
		token, fresh, err := tokens.get(ctx)
		if err != nil {
			return nil, c.tokenError(ctx, op, err)
		}
		var body io.Reader
		if payload != nil {
			body = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(ctx, r.method, target, body)
		if err != nil {
			return nil, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("%s: %v", r.where(), err))
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "application/json")
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		for k, v := range r.header {
			req.Header.Set(k, v)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, c.transportError(ctx, op, r, err)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
		if err != nil {
			return nil, c.transportError(ctx, op, r, err)
		}
		if resp.StatusCode == http.StatusUnauthorized && !fresh && attempt == 0 {
			// Graph answers an expired token with 401 InvalidAuthenticationToken:
			// https://learn.microsoft.com/en-us/graph/errors
			tokens.invalidate(token)
			continue
		}
		return &apiResponse{status: resp.StatusCode, header: resp.Header, body: b}, nil
	}
}

// call performs r, turns a 4xx/5xx answer into a classified error, and
// decodes a JSON answer into out (when out is not nil and there is a body).
func (c *Connector) call(ctx context.Context, op string, r apiRequest, out any) (*apiResponse, error) {
	resp, err := c.send(ctx, op, r)
	if err != nil {
		return nil, err
	}
	if resp.status >= 400 {
		return resp, c.httpError(op, r.where(), resp.status, resp.header, resp.body)
	}
	if out != nil && len(bytes.TrimSpace(resp.body)) > 0 {
		if err := c.decode(op, r.where(), resp, out); err != nil {
			return resp, err
		}
	}
	return resp, nil
}

// decode parses a JSON answer; anything else is a KindInvalid error that
// says what came back, never the body itself.
func (c *Connector) decode(op, where string, resp *apiResponse, out any) error {
	if err := json.Unmarshal(resp.body, out); err != nil {
		ct := resp.header.Get("Content-Type")
		if ct == "" {
			ct = "no content type"
		}
		return connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("%s: Graph answered %d with malformed JSON (%s, %d bytes): %v", where, resp.status, ct, len(resp.body), jsonErr(err)))
	}
	return nil
}

// jsonErr keeps encoding/json's description (offset, expected token) without
// any quoted input it may carry.
func jsonErr(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q holds a JSON %s, want %s", te.Field, te.Value, te.Type)
	}
	return "unexpected end of JSON"
}

// graphError is Graph's error body:
// {"error": {"code": "...", "message": "...", "innerError": {...}}}
type graphError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// httpError classifies an HTTP answer (ClassifyHTTP: 429/503 with
// Retry-After, 5xx, 401, 403, 404, other 4xx) with Graph's error code and
// message, clipped and redacted. Throttled requests carry Retry-After, which
// is the fastest way back: https://learn.microsoft.com/en-us/graph/throttling
// — the job layer owns the wait, so nothing here sleeps.
func (c *Connector) httpError(op, where string, status int, header http.Header, body []byte) *connectors.Error {
	msg := where + ": " + describeBody(status, body)
	if header == nil {
		header = http.Header{}
	}
	return connectors.ClassifyHTTP(c.name, op, &http.Response{StatusCode: status, Header: header}, c.redact(msg))
}

func describeBody(status int, body []byte) string {
	var ge graphError
	if json.Unmarshal(body, &ge) == nil && (ge.Error.Code != "" || ge.Error.Message != "") {
		switch {
		case ge.Error.Code == "":
			return text.ClipRunes(text.OneLine(ge.Error.Message), 300)
		case ge.Error.Message == "":
			return ge.Error.Code
		}
		return ge.Error.Code + ": " + text.ClipRunes(text.OneLine(ge.Error.Message), 300)
	}
	if t := strings.TrimSpace(string(body)); t != "" {
		return fmt.Sprintf("HTTP %d: %s", status, text.ClipRunes(text.OneLine(t), 200))
	}
	return fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
}

// redactedError carries a message with secrets removed and keeps the cause
// for errors.Is and errors.As (context errors, certificate errors, the URL
// policy's refusal).
type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.cause }

// classify classifies an error that happened before any request was made (a
// cancelled context).
func (c *Connector) classify(op string, err error) error {
	return connectors.Classify(c.name, op, err)
}

// transportError classifies a failure to get an answer at all.
func (c *Connector) transportError(ctx context.Context, op string, r apiRequest, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return connectors.NewError(connectors.KindCanceled, c.name, op, fmt.Errorf("%s: %w", r.where(), ctxErr))
	}
	ce := connectors.Classify(c.name, op, err)
	ce.Err = &redactedError{msg: c.redact(r.where() + ": " + err.Error()), cause: err}
	return ce
}

// tokenError classifies a failure to get an access token. The identity
// platform's error code and the first line of its description are kept
// (AADSTS codes say what is wrong: a bad secret, an unknown tenant, …).
func (c *Connector) tokenError(ctx context.Context, op string, err error) error {
	var ce *connectors.Error
	if errors.As(err, &ce) {
		return ce
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return connectors.NewError(connectors.KindCanceled, c.name, op, fmt.Errorf("token request: %w", ctxErr))
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
		default:
			msg += describeBody(re.Response.StatusCode, re.Body)
		}
		e := connectors.ClassifyHTTP(c.name, op, re.Response, c.redact(msg))
		if e == nil { // a 2xx carrying an error code
			e = connectors.NewError(connectors.KindInvalid, c.name, op, errors.New(c.redact(msg)))
		}
		switch re.ErrorCode {
		case "invalid_client", "unauthorized_client":
			// A wrong secret or certificate, an unknown or disabled app:
			// credentials, whatever the status (Entra answers 400 or 401).
			e.Kind = connectors.KindAuth
		}
		return e
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		ce := connectors.Classify(c.name, op, err)
		ce.Err = &redactedError{msg: c.redact("token request: " + err.Error()), cause: err}
		return ce
	}
	// Not an OAuth answer at all (no access_token, unparseable body) or a
	// local failure (signing the assertion).
	return connectors.NewError(connectors.KindInvalid, c.name, op, &redactedError{msg: c.redact("token request: " + err.Error()), cause: err})
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return s
}

// page is one page of a Graph collection.
type page[T any] struct {
	Value    []T    `json:"value"`
	NextLink string `json:"@odata.nextLink"`
}

// list reads every page of a collection, following @odata.nextLink.
func list[T any](ctx context.Context, c *Connector, op string, r apiRequest) ([]T, error) {
	var all []T
	for i := 0; ; i++ {
		if i == maxPages {
			return nil, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("%s: more than %d pages", r.where(), maxPages))
		}
		var p page[T]
		if _, err := c.call(ctx, op, r, &p); err != nil {
			return nil, err
		}
		all = append(all, p.Value...)
		if p.NextLink == "" {
			return all, nil
		}
		r = apiRequest{method: http.MethodGet, path: p.NextLink, header: r.header, display: strings.TrimSuffix(r.shownPath(), " (next page)") + " (next page)"}
	}
}

// batchItem is one request inside a JSON batch.
type batchItem struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    any               `json:"body,omitempty"`
}

// batchAnswer is one response inside a JSON batch answer.
type batchAnswer struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

func (a batchAnswer) header() http.Header {
	h := http.Header{}
	for k, v := range a.Headers {
		h.Set(k, v)
	}
	return h
}

// batch sends up to maxBatch requests in one POST /$batch. The batch itself
// failing (throttled, 5xx, 401 after the refresh) is returned as an error;
// otherwise every item's own answer is returned by ID. Graph evaluates each
// item against the throttling limits on its own, so an item can be 429 with
// its own Retry-After while the batch is 200:
// https://learn.microsoft.com/en-us/graph/json-batching
func (c *Connector) batch(ctx context.Context, op string, items []batchItem) (map[string]batchAnswer, error) {
	if len(items) > maxBatch {
		return nil, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("a JSON batch holds at most %d requests (got %d)", maxBatch, len(items)))
	}
	var out struct {
		Responses []batchAnswer `json:"responses"`
	}
	r := apiRequest{method: http.MethodPost, path: "/$batch", body: map[string]any{"requests": items}}
	if _, err := c.call(ctx, op, r, &out); err != nil {
		return nil, err
	}
	answers := make(map[string]batchAnswer, len(out.Responses))
	for _, a := range out.Responses {
		answers[a.ID] = a
	}
	return answers, nil
}

// itemError classifies one failed item of a batch.
func (c *Connector) itemError(op string, it batchItem, a batchAnswer) *connectors.Error {
	return c.httpError(op, it.Method+" "+it.URL, a.Status, a.header(), a.Body)
}

// batchID numbers the requests of a batch from 1.
func batchID(i int) string { return strconv.Itoa(i + 1) }

// needs names, on a 403, the Graph application permission the call needs, so
// that whoever reads the failed action knows what to grant. Graph's own 403
// (Authorization_RequestDenied, "Insufficient privileges to complete the
// operation.") does not say. Other errors come back unchanged; an error whose
// text already names the permission is not repeated.
func needs(err error, perm string) error {
	var ce *connectors.Error
	if !errors.As(err, &ce) || ce.Kind != connectors.KindForbidden || strings.Contains(ce.Error(), perm) {
		return err
	}
	out := *ce
	out.Err = fmt.Errorf("%w (the app needs the Microsoft Graph application permission %s, admin consented)", ce.Err, perm)
	return &out
}
