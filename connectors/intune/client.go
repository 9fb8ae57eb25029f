package intune

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/internal/cctoken"
	"github.com/kineticsec/kinetic/internal/text"
)

const (
	maxBody  = 4 << 20
	maxPages = 50
)

type apiRequest struct {
	method string
	// path is relative to graph_url, or an absolute @odata.nextLink.
	path string
	body any
}

func (r apiRequest) where() string {
	if u, err := url.Parse(r.path); err == nil && u.IsAbs() {
		return r.method + " " + u.Path + " (next page)"
	}
	return r.method + " " + r.path
}

func (c *Connector) target(op string, r apiRequest) (string, error) {
	if u, err := url.Parse(r.path); err == nil && u.IsAbs() {
		// An @odata.nextLink carries our token: follow it only to graph_url.
		if u.Scheme != c.graphBase.Scheme || !strings.EqualFold(u.Host, c.graphBase.Host) || !strings.HasPrefix(u.Path, c.graphBase.Path) {
			return "", connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("refusing to follow @odata.nextLink to %s://%s%s: it is outside graph_url", u.Scheme, u.Host, u.Path))
		}
		return r.path, nil
	}
	return strings.TrimRight(c.graphBase.String(), "/") + r.path, nil
}

// call performs r with a bearer token (one retry with a new token after a
// 401 to a cached one), classifies a 4xx/5xx answer and decodes a JSON
// answer into out.
func (c *Connector) call(ctx context.Context, op string, r apiRequest, out any) error {
	target, err := c.target(op, r)
	if err != nil {
		return err
	}
	var payload []byte
	if r.body != nil {
		if payload, err = json.Marshal(r.body); err != nil {
			return connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("%s: cannot encode the request", r.where()))
		}
	}
	for attempt := 0; ; attempt++ {
		token, fresh, err := c.tokens.Get(ctx)
		if err != nil {
			return cctoken.Classify(ctx, c.name, op, err, c.redact)
		}
		var body io.Reader
		if payload != nil {
			body = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(ctx, r.method, target, body)
		if err != nil {
			return connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("%s: cannot build the request", r.where()))
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "application/json")
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return c.transportError(ctx, op, r, err)
		}
		raw, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
		if rerr != nil {
			return c.transportError(ctx, op, r, rerr)
		}
		if resp.StatusCode == http.StatusUnauthorized && !fresh && attempt == 0 {
			// An expired or revoked token: https://learn.microsoft.com/en-us/graph/errors
			c.tokens.Invalidate(token)
			continue
		}
		return c.decode(op, r.where(), resp, raw, out)
	}
}

// decode classifies a Graph answer and decodes a 2xx JSON body into out
// (FuzzDecode).
func (c *Connector) decode(op, where string, resp *http.Response, raw []byte, out any) error {
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := where + ": " + describe(resp, raw)
		switch resp.StatusCode {
		case http.StatusForbidden:
			msg += " (see docs/connectors.md, intune, for the application permissions)"
		}
		if e := connectors.ClassifyHTTP(c.name, op, resp, c.redact(msg)); e != nil {
			return e
		}
		e := connectors.NewError(connectors.KindTransient, c.name, op, fmt.Errorf("%s: unexpected HTTP status %d", where, resp.StatusCode))
		e.Status = resp.StatusCode
		return e
	}
	if out == nil || len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	if looksHTML(resp.Header.Get("Content-Type"), raw) || json.Unmarshal(raw, out) != nil {
		ct := resp.Header.Get("Content-Type")
		if ct == "" {
			ct = "no content type"
		}
		e := connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("%s: Graph answered %d with a body that is not JSON (%s, %d bytes): is graph_url Graph's base URL?", where, resp.StatusCode, text.ClipRunes(ct, 60), len(raw)))
		e.Status = resp.StatusCode
		return e
	}
	return nil
}

// describe is Graph's error code and message, clipped, or what came back.
func describe(resp *http.Response, raw []byte) string {
	var ge struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if looksHTML(resp.Header.Get("Content-Type"), raw) {
		return fmt.Sprintf("HTTP %d with an HTML page, not Graph's JSON", resp.StatusCode)
	}
	if json.Unmarshal(raw, &ge) == nil && (ge.Error.Code != "" || ge.Error.Message != "") {
		return strings.TrimPrefix(ge.Error.Code+": "+text.ClipRunes(text.OneLine(ge.Error.Message), 300), ": ")
	}
	return fmt.Sprintf("HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
}

type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.cause }

func (c *Connector) transportError(ctx context.Context, op string, r apiRequest, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return connectors.NewError(connectors.KindCanceled, c.name, op, fmt.Errorf("%s: %w", r.where(), ctxErr))
	}
	kind := connectors.Classify(c.name, op, err).Kind
	if kind == connectors.KindCanceled {
		kind = connectors.KindTransient
	}
	return connectors.NewError(kind, c.name, op, &redactedError{msg: c.redact(r.where() + ": " + err.Error()), cause: err})
}

// list reads every page of a collection, following @odata.nextLink.
func list[T any](ctx context.Context, c *Connector, op, path string) ([]T, error) {
	var all []T
	r := apiRequest{method: http.MethodGet, path: path}
	for i := 0; ; i++ {
		if i == maxPages {
			return nil, connectors.NewError(connectors.KindInvalid, c.name, op, errors.New(path+": more than 50 pages"))
		}
		var p struct {
			Value    []T    `json:"value"`
			NextLink string `json:"@odata.nextLink"`
		}
		if err := c.call(ctx, op, r, &p); err != nil {
			return nil, err
		}
		all = append(all, p.Value...)
		if p.NextLink == "" {
			return all, nil
		}
		r = apiRequest{method: http.MethodGet, path: p.NextLink}
	}
}

func looksHTML(ct string, body []byte) bool {
	if strings.Contains(strings.ToLower(ct), "html") {
		return true
	}
	b := bytes.TrimSpace(body)
	return len(b) > 0 && b[0] == '<'
}
