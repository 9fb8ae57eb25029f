package verkada

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
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/text"
)

type httpDoer interface {
	Do(*http.Request) (*http.Response, error)
}

const (
	userAgent  = "kinetic-verkada-connector/1"
	maxBody    = 4 << 20
	maxMessage = 200
	// tokenLife is how long the connector uses an API token: Verkada's
	// are valid 30 minutes and cannot be refreshed
	// (https://apidocs.verkada.com/reference/postloginapikeyviewv2).
	tokenLife = 25 * time.Minute
)

// response is one answer from Verkada, body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

// call sends one API request with the x-verkada-auth token header and
// returns the answer whatever its status; the error is for a request that
// got no answer or no token. A 401 ("Token expired") drops the cached
// token and the request is sent once more with a fresh one.
func (c *Connector) call(ctx context.Context, op, method, path string, query url.Values, body any) (*response, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, connectors.NewError(connectors.KindInvalid, c.name, op, err)
		}
	}
	u := *c.api
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawPath = ""
	u.RawQuery = query.Encode()
	for attempt := 0; ; attempt++ {
		tok, err := c.accessToken(ctx, op)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(payload))
		if err != nil {
			return nil, connectors.NewError(connectors.KindInvalid, c.name, op, errors.New("cannot build the Verkada request URL"))
		}
		req.Header.Set("x-verkada-auth", tok)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", userAgent)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.send(ctx, op, req)
		if err != nil {
			return nil, err
		}
		if resp.status == http.StatusUnauthorized && attempt == 0 {
			c.dropToken(tok)
			continue
		}
		return resp, nil
	}
}

func (c *Connector) send(ctx context.Context, op string, req *http.Request) (*response, error) {
	if err := ctx.Err(); err != nil {
		return nil, connectors.NewError(connectors.KindCanceled, c.name, op, err)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, op, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, c.transportError(ctx, op, err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// transportError classifies a request that got no (complete) answer: the
// caller's context ending is canceled, the per-request timeout transient,
// a TLS certificate failure or a refusal by the outbound policy invalid.
// The URL is dropped from the message (it may carry an external id, never
// a secret, but it says nothing the kind does not).
func (c *Connector) transportError(ctx context.Context, op string, err error) *connectors.Error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = fmt.Errorf("Verkada unreachable: %w", ue.Err)
	}
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

// accessToken returns the cached API token or gets a new one: POST
// {api}/token with the x-api-key header answers {"token": "…"}
// (https://apidocs.verkada.com/reference/postloginapikeyviewv2).
func (c *Connector) accessToken(ctx context.Context, op string) (string, error) {
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	if c.token != "" && c.now().Before(c.expiry) {
		return c.token, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.api.String()+"/token", nil)
	if err != nil {
		return "", connectors.NewError(connectors.KindInvalid, c.name, op, errors.New("cannot build the Verkada token request"))
	}
	req.Header.Set("x-api-key", c.apiKey)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.send(ctx, op, req)
	if err != nil {
		return "", err
	}
	if resp.status != http.StatusOK {
		e := c.classify(op, resp, "Verkada token request")
		if resp.status == http.StatusBadRequest || resp.status == http.StatusUnauthorized {
			// An unknown, expired or revoked API key.
			e.Kind = connectors.KindAuth
			e.Err = fmt.Errorf("Verkada refused the API key (status %d)", resp.status)
		}
		return "", e
	}
	var t struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(resp.body, &t); err != nil || t.Token == "" {
		return "", connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("Verkada token endpoint answered %s, not a token", shape(resp)))
	}
	c.token, c.expiry = t.Token, c.now().Add(tokenLife)
	return c.token, nil
}

func (c *Connector) dropToken(tok string) {
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	if c.token == tok {
		c.token = ""
	}
}

// classify turns a Verkada error answer into a classified error naming
// what was asked, with connectors.ClassifyHTTP's mapping.
func (c *Connector) classify(op string, r *response, what string) *connectors.Error {
	h := &http.Response{StatusCode: r.status, Header: r.header}
	msg := fmt.Sprintf("%s: %s", what, vendorMessage(r))
	e := connectors.ClassifyHTTP(c.name, op, h, msg)
	if e == nil {
		e = connectors.NewError(connectors.KindInvalid, c.name, op, errors.New(msg))
		e.Status = r.status
	}
	return e
}

var htmlTitle = regexp.MustCompile(`(?is)<(?:title|h1)[^>]*>(.*?)</(?:title|h1)>`)

// vendorMessage is Verkada's own words for an error answer: the JSON
// "message" ({"id": …, "message": …, "data": …}), an HTML page's title,
// or the status text; one line, clipped.
func vendorMessage(r *response) string {
	var j struct {
		Message     string `json:"message"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(r.body, &j) == nil {
		if m := or(j.Message, j.Description); m != "" {
			return text.ClipRunes(text.OneLine(m), maxMessage)
		}
	}
	if m := htmlTitle.FindSubmatch(r.body); m != nil {
		return "HTML page " + text.ClipRunes(text.OneLine(string(m[1])), maxMessage)
	}
	return or(http.StatusText(r.status), fmt.Sprintf("status %d", r.status))
}

// shape names what an answer that was not the expected JSON looked like.
func shape(r *response) string {
	b := bytes.TrimSpace(r.body)
	switch {
	case len(b) == 0:
		return "an empty body"
	case b[0] == '<':
		return "HTML (" + vendorMessage(r) + ")"
	}
	return fmt.Sprintf("%d bytes of unexpected content", len(b))
}

// decode reads a 2xx JSON answer into v; any other answer, or JSON of
// the wrong shape, is a classified error naming what was asked.
func (c *Connector) decode(op string, r *response, what string, v any) error {
	if r.status < 200 || r.status > 299 {
		return c.classify(op, r, what)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		return connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("%s: Verkada answered %s, not the documented JSON", what, shape(r)))
	}
	return nil
}
