package brivo

import (
	"bytes"
	"context"
	"encoding/base64"
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
	userAgent  = "kinetic-brivo-connector/1"
	maxBody    = 4 << 20
	maxMessage = 200
	// tokenMargin renews a token this long before Brivo says it expires.
	tokenMargin = 10 * time.Second
)

// response is one answer from Brivo, body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

// call sends one API request with the api-key and bearer headers and
// returns the answer whatever its status; the error is for a request that
// got no answer or no token. A 401 drops the cached token and the request
// is sent once more with a fresh one (Brivo tokens live minutes).
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
			return nil, connectors.NewError(connectors.KindInvalid, c.name, op, errors.New("cannot build the Brivo request URL"))
		}
		req.Header.Set("api-key", c.apiKey)
		req.Header.Set("Authorization", "bearer "+tok)
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
		err = fmt.Errorf("Brivo unreachable: %w", ue.Err)
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

// accessToken returns the cached bearer token or gets a new one with the
// password grant: POST {auth}/oauth/token, Authorization: Basic
// base64(client_id:client_secret), the api-key header and a form body
// (https://apidocs.brivo.com/#oauth2-tokens).
func (c *Connector) accessToken(ctx context.Context, op string) (string, error) {
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	if c.token != "" && c.now().Before(c.expiry) {
		return c.token, nil
	}
	form := url.Values{"grant_type": {"password"}, "username": {c.username}, "password": {c.password}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.authURL+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", connectors.NewError(connectors.KindInvalid, c.name, op, errors.New("cannot build the Brivo token request"))
	}
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.clientID+":"+c.clientSecret)))
	req.Header.Set("api-key", c.apiKey)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.send(ctx, op, req)
	if err != nil {
		return "", err
	}
	if resp.status != http.StatusOK {
		e := c.classify(op, resp, "Brivo token request")
		if resp.status == http.StatusBadRequest || resp.status == http.StatusUnauthorized {
			// invalid_grant / Bad credentials: the application or the
			// administrator login is wrong; retrying will not fix it.
			e.Kind = connectors.KindAuth
			e.Err = fmt.Errorf("Brivo refused the client credentials or the administrator login (status %d)", resp.status)
		}
		return "", e
	}
	var t struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(resp.body, &t); err != nil || t.AccessToken == "" {
		return "", connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("Brivo token endpoint answered %s, not a token", shape(resp)))
	}
	life := time.Duration(t.ExpiresIn) * time.Second
	if life <= tokenMargin {
		life = 2 * tokenMargin
	}
	c.token, c.expiry = t.AccessToken, c.now().Add(life-tokenMargin)
	return c.token, nil
}

func (c *Connector) dropToken(tok string) {
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	if c.token == tok {
		c.token = ""
	}
}

// classify turns a Brivo error answer into a classified error naming
// what was asked: connectors.ClassifyHTTP's mapping, plus Brivo's own
// signals (https://apidocs.brivo.com/#error-codes): a 403 with an HTML
// "Developer Inactive" body means the api-key is not valid (auth, not
// forbidden), and 596 "Service Not Found" a wrong method or path
// (invalid).
func (c *Connector) classify(op string, r *response, what string) *connectors.Error {
	h := &http.Response{StatusCode: r.status, Header: r.header}
	msg := fmt.Sprintf("%s: %s", what, vendorMessage(r))
	e := connectors.ClassifyHTTP(c.name, op, h, msg)
	if e == nil {
		e = connectors.NewError(connectors.KindInvalid, c.name, op, errors.New(msg))
		e.Status = r.status
	}
	switch {
	case r.status == http.StatusForbidden && bytes.Contains(r.body, []byte("Developer Inactive")):
		e.Kind = connectors.KindAuth
		e.Err = fmt.Errorf("%s: Brivo refused the api-key (Developer Inactive)", what)
	case r.status == 596:
		e.Kind = connectors.KindInvalid
		e.Err = fmt.Errorf("%s: Brivo answered 596 Service Not Found (wrong method or path)", what)
	}
	return e
}

var htmlTitle = regexp.MustCompile(`(?is)<(?:title|h1)[^>]*>(.*?)</(?:title|h1)>`)

// vendorMessage is Brivo's own words for an error answer: the JSON
// "message" (or OAuth "error_description"), an HTML page's title, or the
// status text; one line, clipped.
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
			fmt.Errorf("%s: Brivo answered %s, not the documented JSON", what, shape(r)))
	}
	return nil
}
