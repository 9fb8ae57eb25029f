// Package restjson is the JSON-over-HTTPS plumbing the ITSM connectors
// (servicenow, jira) share: one request with the instance's authorization,
// a bounded body read, and the classification of transport failures and
// vendor answers into connectors.Error. Each connector parses its own
// vendor's error body and passes the message in.
package restjson

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	neturl "net/url"
	"strings"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/text"
)

// MaxBody bounds how much of a response body is read.
const MaxBody = 4 << 20

// maxMessage bounds the vendor text carried in an error.
const maxMessage = 300

// Auth sets a request's credentials. Invalidate, when not nil, is called
// once after a 401 so the next Authorize fetches a fresh token; the request
// is then sent once more.
type Auth struct {
	Authorize  func(ctx context.Context, r *http.Request) error
	Invalidate func()
}

// Client sends requests for one connector instance.
type Client struct {
	Name      string // the instance name, for errors
	HTTP      *http.Client
	Auth      Auth
	UserAgent string
}

// Response is one answer, body read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// OK reports a 2xx status.
func (r *Response) OK() bool { return r.Status >= 200 && r.Status < 300 }

// JSON reports whether the answer says it is JSON.
func (r *Response) JSON() bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// Do sends one request (body, when not nil, as JSON) and returns the
// answer whatever its status. The error is a classified
// *connectors.Error for a request that got no answer: the caller's context
// ending is KindCanceled, everything else KindTransient (or KindInvalid for
// a certificate failure or an outbound policy refusal). Authorization
// failures of a token exchange are classified by Authorize itself.
func (c *Client) Do(ctx context.Context, op, method, url string, body any) (*Response, error) {
	var payload []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, connectors.NewError(connectors.KindInvalid, c.Name, op, fmt.Errorf("encoding the request: %w", err))
		}
		payload = b
	}
	retried := false
	for {
		if err := ctx.Err(); err != nil {
			return nil, connectors.NewError(connectors.KindCanceled, c.Name, op, err)
		}
		var rd io.Reader
		if payload != nil {
			rd = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(ctx, method, url, rd)
		if err != nil {
			return nil, connectors.NewError(connectors.KindInvalid, c.Name, op, errors.New("cannot build the request URL"))
		}
		req.Header.Set("Accept", "application/json")
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if c.UserAgent != "" {
			req.Header.Set("User-Agent", c.UserAgent)
		}
		if c.Auth.Authorize != nil {
			if err := c.Auth.Authorize(ctx, req); err != nil {
				return nil, err
			}
		}
		resp, err := c.HTTP.Do(req)
		if err != nil {
			return nil, c.transportError(ctx, op, err)
		}
		b, rerr := io.ReadAll(io.LimitReader(resp.Body, MaxBody))
		resp.Body.Close()
		if rerr != nil {
			return nil, c.transportError(ctx, op, rerr)
		}
		if resp.StatusCode == http.StatusUnauthorized && c.Auth.Invalidate != nil && !retried {
			retried = true
			c.Auth.Invalidate()
			continue
		}
		return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
	}
}

// transportError classifies a request that got no (complete) answer.
func (c *Client) transportError(ctx context.Context, op string, err error) *connectors.Error {
	if cerr := ctx.Err(); cerr != nil {
		if !errors.Is(err, cerr) {
			err = fmt.Errorf("%w (%v)", cerr, redactURL(err))
		}
		return connectors.NewError(connectors.KindCanceled, c.Name, op, err)
	}
	e := connectors.Classify(c.Name, op, redactURL(err))
	if e.Kind == connectors.KindCanceled {
		e.Kind = connectors.KindTransient // the client's own timeout
	}
	return e
}

// redactURL drops the query of a *url.Error's URL, so a transport error
// names the endpoint but not the search; the chain is kept for errors.Is.
func redactURL(err error) error {
	var ue *neturl.Error
	if errors.As(err, &ue) {
		if u, perr := neturl.Parse(ue.URL); perr == nil {
			u.RawQuery, u.User, u.Fragment = "", nil, ""
			return &neturl.Error{Op: ue.Op, URL: u.String(), Err: ue.Err}
		}
	}
	return err
}

// Fail classifies a non-2xx answer (connectors.ClassifyHTTP) with msg, the
// vendor's message when the connector could parse one. An answer that is
// not JSON (an HTML login page from a proxy, a maintenance page) says so
// instead of quoting it.
func (c *Client) Fail(op string, r *Response, msg string) *connectors.Error {
	if msg == "" && !r.JSON() && len(r.Body) > 0 {
		msg = fmt.Sprintf("%s: the answer is not JSON (%s)", http.StatusText(r.Status), mediaType(r))
	}
	if msg == "" {
		msg = http.StatusText(r.Status)
	}
	hr := &http.Response{StatusCode: r.Status, Header: r.Header}
	return connectors.ClassifyHTTP(c.Name, op, hr, text.ClipRunes(text.OneLine(msg), maxMessage))
}

// Decode unmarshals a 2xx answer into v. An answer that is not JSON, or
// not the expected shape, is KindInvalid naming what was expected: a
// proxy's HTML page with status 200 is not a ticket.
func (c *Client) Decode(op string, r *Response, v any, what string) error {
	if !r.JSON() {
		return &connectors.Error{Kind: connectors.KindInvalid, Connector: c.Name, Op: op, Status: r.Status,
			Err: fmt.Errorf("expected %s as JSON, got %s", what, mediaType(r))}
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		return &connectors.Error{Kind: connectors.KindInvalid, Connector: c.Name, Op: op, Status: r.Status,
			Err: fmt.Errorf("expected %s, got malformed JSON", what)}
	}
	return nil
}

// Invalid is a KindInvalid error for an answer that does not make sense.
func (c *Client) Invalid(op string, format string, a ...any) *connectors.Error {
	return connectors.NewError(connectors.KindInvalid, c.Name, op, fmt.Errorf(format, a...))
}

func mediaType(r *Response) string {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return "no content type"
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "an unparseable content type"
	}
	return mt
}
