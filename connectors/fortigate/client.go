package fortigate

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
	userAgent  = "kinetic-fortigate-connector/1"
	maxBody    = 8 << 20
	maxMessage = 300
)

// envelope is FortiOS's JSON answer around every result:
// {"http_method":"GET","results":…,"vdom":"root","status":"success","http_status":200,…}.
// Errors carry status "error", http_status and a numeric error code.
type envelope struct {
	Status     string          `json:"status"`
	HTTPStatus int             `json:"http_status"`
	Error      json.Number     `json:"error"`
	CLIError   string          `json:"cli_error"`
	Results    json.RawMessage `json:"results"`
}

// call sends one request and returns the decoded envelope of a 2xx
// answer; any other answer, or none, is a classified error. body, when
// not nil, is sent as JSON.
func (c *Connector) call(ctx context.Context, op, method, path string, body any) (*envelope, error) {
	if err := ctx.Err(); err != nil {
		return nil, connectors.NewError(connectors.KindCanceled, c.name, op, err)
	}
	u := *c.base
	u.Path = path
	u.RawQuery = url.Values{"vdom": {c.vdom}}.Encode()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, connectors.NewError(connectors.KindInvalid, c.name, op, errors.New("cannot encode the request body"))
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, connectors.NewError(connectors.KindInvalid, c.name, op, errors.New("cannot build the request"))
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, op, err)
	}
	raw, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	if rerr != nil {
		return nil, c.transportError(ctx, op, rerr)
	}
	return c.decode(op, method, path, resp, raw)
}

// decode reads one FortiOS answer: the envelope of a 2xx JSON success,
// else a classified error. It is the parser of everything the appliance
// sends (FuzzDecode).
func (c *Connector) decode(op, method, path string, resp *http.Response, raw []byte) (*envelope, error) {
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, c.httpError(op, resp, raw)
	}
	if looksHTML(resp.Header.Get("Content-Type"), raw) {
		// A login page or a proxy's page on a 2xx: url points at the
		// SSL-VPN portal or a captive proxy, not the admin REST API.
		e := connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf(
			"FortiGate answered %s %s with an HTML page (status %d), not the FortiOS REST API's JSON: is url the appliance's admin HTTPS address?",
			method, path, resp.StatusCode))
		e.Status = resp.StatusCode
		return nil, e
	}
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&env); err != nil {
		e := connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf(
			"FortiGate answered %s %s with a body that is not the FortiOS JSON envelope (status %d, %s)", method, path, resp.StatusCode, c.clip(resp.Header.Get("Content-Type"))))
		e.Status = resp.StatusCode
		return nil, e
	}
	if env.Status != "" && !strings.EqualFold(env.Status, "success") {
		st := env.HTTPStatus
		if st < 400 {
			st = http.StatusBadRequest
		}
		return nil, c.httpError(op, &http.Response{StatusCode: st, Header: resp.Header}, raw)
	}
	return &env, nil
}

// transportError classifies a request that got no complete answer: the
// caller's context ending is canceled; a TLS certificate failure is
// invalid (it will not fix itself); the rest transient.
func (c *Connector) transportError(ctx context.Context, op string, err error) *connectors.Error {
	if cerr := ctx.Err(); cerr != nil {
		return connectors.NewError(connectors.KindCanceled, c.name, op, fmt.Errorf("%w (FortiGate did not answer in time)", cerr))
	}
	e := connectors.Classify(c.name, op, errors.New(c.redact(err.Error())))
	// Classify on the original error, so its type decides the kind; the
	// wrapped text is the redacted one.
	e.Kind = connectors.Classify(c.name, op, err).Kind
	if e.Kind == connectors.KindCanceled {
		e.Kind = connectors.KindTransient
	}
	if e.Kind == connectors.KindInvalid {
		e.Err = fmt.Errorf("cannot reach FortiGate securely (TLS certificate or outbound policy; set ca_file for a private CA): %w", e.Err)
	} else {
		e.Err = fmt.Errorf("FortiGate unreachable: %w", e.Err)
	}
	return e
}

// httpError classifies a non-2xx answer (or a 2xx whose envelope says
// error) by its status, with FortiOS's own error text when it sent one.
func (c *Connector) httpError(op string, resp *http.Response, raw []byte) *connectors.Error {
	msg := "FortiGate: " + http.StatusText(resp.StatusCode)
	var env envelope
	switch {
	case looksHTML(resp.Header.Get("Content-Type"), raw):
		msg += " (an HTML page, not the REST API's JSON)"
	case json.Unmarshal(raw, &env) == nil && (env.Error != "" || env.CLIError != ""):
		msg += fmt.Sprintf(" (FortiOS error %s", env.Error)
		if env.CLIError != "" {
			msg += ": " + strings.Join(strings.Fields(env.CLIError), " ")
		}
		msg += ")"
	default:
		if s := strings.Join(strings.Fields(string(raw[:min(len(raw), 512)])), " "); s != "" && utf8.ValidString(s) {
			msg += ": " + s
		}
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		msg += "; the API token is wrong, expired, or this address is not a trusted host of the REST API admin"
	case http.StatusForbidden:
		msg += "; the REST API admin's profile lacks the permission (see docs/connectors.md, fortigate)"
	}
	if e := connectors.ClassifyHTTP(c.name, op, resp, c.clip(msg)); e != nil {
		return e
	}
	// A 1xx or 3xx the client did not resolve (FuzzDecode found it).
	e := connectors.NewError(connectors.KindTransient, c.name, op, fmt.Errorf("unexpected HTTP status %d from FortiGate", resp.StatusCode))
	e.Status = resp.StatusCode
	return e
}

func (c *Connector) clip(s string) string { return text.ClipRunes(c.redact(s), maxMessage) }

var bearerRE = regexp.MustCompile(`(?i)(bearer|access_token=)(\s*)[^\s&"',;]+`)

// redact removes the token, by value and by shape, from text bound for an
// error.
func (c *Connector) redact(s string) string {
	if len(c.token) >= 4 {
		s = strings.ReplaceAll(s, c.token, "<redacted>")
	}
	return bearerRE.ReplaceAllString(s, "$1$2<redacted>")
}

func looksHTML(contentType string, body []byte) bool {
	if strings.Contains(strings.ToLower(contentType), "html") {
		return true
	}
	b := bytes.TrimSpace(body)
	return len(b) > 0 && b[0] == '<'
}
