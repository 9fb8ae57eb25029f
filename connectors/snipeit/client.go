package snipeit

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
	"sort"
	"strings"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/text"
)

const (
	userAgent  = "kinetic-snipeit-connector/1"
	maxBody    = 8 << 20
	maxMessage = 300
)

// page is a Snipe-IT listing: {"total":N,"rows":[…]}.
type page[T any] struct {
	Total int `json:"total"`
	Rows  []T `json:"rows"`
}

type user struct {
	ID          int    `json:"id"`
	Username    string `json:"username"`
	Email       string `json:"email"`
	EmployeeNum string `json:"employee_num"`
	Name        string `json:"name"`
}

type named struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// item is one row of /users/{id}/assets, /accessories or /licenses.
type item struct {
	ID          int    `json:"id"`
	Name        string `json:"name"`
	AssetTag    string `json:"asset_tag"`
	Serial      string `json:"serial"`
	ModelNumber string `json:"model_number"`
	Model       *named `json:"model"`
	Category    *named `json:"category"`
	StatusLabel *named `json:"status_label"`
}

func (it item) asset(kind string) connectors.Asset {
	a := connectors.Asset{ID: fmt.Sprint(it.ID), Name: unescape(it.Name), Tag: it.AssetTag, Serial: it.Serial}
	switch kind {
	case "assets":
		a.Kind = "hardware"
	case "accessories":
		a.Kind = "accessory"
		a.Model = it.ModelNumber
	default:
		a.Kind = "license"
	}
	if it.Model != nil {
		a.Model = unescape(it.Model.Name)
	}
	if it.Category != nil {
		a.Category = unescape(it.Category.Name)
	}
	if it.StatusLabel != nil {
		a.Status = unescape(it.StatusLabel.Name)
	}
	return a
}

// hardware is one asset as GET /hardware/bytag/{tag} answers it.
type hardware struct {
	ID          int    `json:"id"`
	AssetTag    string `json:"asset_tag"`
	Notes       string `json:"notes"`
	StatusLabel named  `json:"status_label"`
	AssignedTo  *struct {
		ID   int    `json:"id"`
		Type string `json:"type"`
	} `json:"assigned_to"`
}

// envelope is Snipe-IT's answer to writes and to many errors:
// {"status":"success"|"error","messages":string|{field:[…]},"payload":…}.
// Unauthenticated answers use "message" or "error" instead.
type envelope struct {
	Status   string          `json:"status"`
	Messages json.RawMessage `json:"messages"`
	Message  string          `json:"message"`
	Error    string          `json:"error"`
}

// call sends one request and decodes a successful JSON answer into out
// (when not nil); anything else is a classified error.
func (c *Connector) call(ctx context.Context, op, method, path string, q url.Values, body any, out any) error {
	if err := ctx.Err(); err != nil {
		return connectors.NewError(connectors.KindCanceled, c.name, op, err)
	}
	u := *c.base
	u.Path = strings.TrimRight(c.base.Path, "/") + path
	u.RawPath = ""
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return connectors.NewError(connectors.KindInvalid, c.name, op, errors.New("cannot encode the request body"))
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return connectors.NewError(connectors.KindInvalid, c.name, op, errors.New("cannot build the request"))
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return c.transportError(ctx, op, method, path, err)
	}
	raw, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	if rerr != nil {
		return c.transportError(ctx, op, method, path, rerr)
	}
	return c.decode(op, method+" "+path, resp, raw, out)
}

// decode reads one Snipe-IT answer: a 2xx JSON body that is not an error
// envelope is decoded into out; everything else is a classified error. It
// is the parser of everything Snipe-IT sends (FuzzDecode).
func (c *Connector) decode(op, where string, resp *http.Response, raw []byte, out any) error {
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.httpError(op, where, resp, raw)
	}
	if looksHTML(resp.Header.Get("Content-Type"), raw) {
		// A login page (a redirect followed) or a proxy's page: url is not
		// Snipe-IT's base address, or the token was not accepted.
		e := connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf(
			"%s: Snipe-IT answered with an HTML page (status %d), not the API's JSON: is url Snipe-IT's base address?", where, resp.StatusCode))
		e.Status = resp.StatusCode
		return e
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil && len(bytes.TrimSpace(raw)) > 0 && raw[0] == '{' {
		return c.malformed(op, where, resp)
	}
	if strings.EqualFold(env.Status, "error") {
		// 200 OK carrying an error: classify by what it says.
		return c.envelopeError(op, where, resp, env)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return c.malformed(op, where, resp)
	}
	return nil
}

func (c *Connector) malformed(op, where string, resp *http.Response) *connectors.Error {
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		ct = "no content type"
	}
	e := connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf(
		"%s: Snipe-IT answered %d with a body that is not the API's JSON (%s)", where, resp.StatusCode, c.clip(ct)))
	e.Status = resp.StatusCode
	return e
}

// Messages that classify a 200 {"status":"error"} answer. Snipe-IT's
// texts come from its language files (resources/lang/en-US/…/message.php):
// "Asset does not exist.", "User not found", "You do not have permission
// …", "Unauthorized.".
var (
	notFoundRE  = regexp.MustCompile(`(?i)(does not exist|not found|could not be found|no such)`)
	forbiddenRE = regexp.MustCompile(`(?i)(permission|not authorized|forbidden|not allowed)`)
	authRE      = regexp.MustCompile(`(?i)(unauthenticated|unauthorized)`)
)

func (c *Connector) envelopeError(op, where string, resp *http.Response, env envelope) *connectors.Error {
	msg := messages(env)
	kind := connectors.KindInvalid
	switch {
	case authRE.MatchString(msg):
		kind = connectors.KindAuth
	case forbiddenRE.MatchString(msg):
		kind = connectors.KindForbidden
	case notFoundRE.MatchString(msg):
		kind = connectors.KindNotFound
	}
	e := connectors.NewError(kind, c.name, op, fmt.Errorf("%s: Snipe-IT refused: %s", where, c.clip(msg)))
	e.Status = resp.StatusCode
	return e
}

// messages flattens Snipe-IT's messages: a string, or validation errors by
// field ({"status_id":["The selected status id is invalid."]}).
func messages(env envelope) string {
	var s string
	if json.Unmarshal(env.Messages, &s) == nil && s != "" {
		return s
	}
	var byField map[string]json.RawMessage
	if json.Unmarshal(env.Messages, &byField) == nil && len(byField) > 0 {
		keys := make([]string, 0, len(byField))
		for k := range byField {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			var list []string
			if json.Unmarshal(byField[k], &list) != nil {
				var one string
				_ = json.Unmarshal(byField[k], &one)
				list = []string{one}
			}
			parts = append(parts, k+": "+strings.Join(list, " "))
		}
		return strings.Join(parts, "; ")
	}
	for _, s := range []string{env.Message, env.Error} {
		if s != "" {
			return s
		}
	}
	return "no message"
}

// transportError classifies a request that got no complete answer.
func (c *Connector) transportError(ctx context.Context, op, method, path string, err error) *connectors.Error {
	if cerr := ctx.Err(); cerr != nil {
		return connectors.NewError(connectors.KindCanceled, c.name, op, fmt.Errorf("%s %s: %w (Snipe-IT did not answer in time)", method, path, cerr))
	}
	kind := connectors.Classify(c.name, op, err).Kind
	if kind == connectors.KindCanceled {
		kind = connectors.KindTransient
	}
	return connectors.NewError(kind, c.name, op, &redactedError{msg: fmt.Sprintf("%s %s: Snipe-IT unreachable: %s", method, path, c.redact(err.Error())), cause: err})
}

// redactedError carries a redacted message and keeps the cause for
// errors.Is and errors.As.
type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.cause }

// httpError classifies a non-2xx answer by its status, with Snipe-IT's
// own message when it sent one.
func (c *Connector) httpError(op, where string, resp *http.Response, raw []byte) *connectors.Error {
	msg := where + ": Snipe-IT answered " + http.StatusText(resp.StatusCode)
	var env envelope
	switch {
	case looksHTML(resp.Header.Get("Content-Type"), raw):
		msg += " (an HTML page, not the API's JSON)"
	case json.Unmarshal(raw, &env) == nil && (len(env.Messages) > 0 || env.Message != "" || env.Error != ""):
		msg += ": " + messages(env)
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		msg += "; the API token is wrong, expired or revoked"
	case http.StatusForbidden:
		msg += "; the API user lacks the permission (see docs/connectors.md, snipeit)"
	}
	if e := connectors.ClassifyHTTP(c.name, op, resp, c.clip(msg)); e != nil {
		return e
	}
	e := connectors.NewError(connectors.KindTransient, c.name, op, fmt.Errorf("%s: unexpected HTTP status %d from Snipe-IT", where, resp.StatusCode))
	e.Status = resp.StatusCode
	return e
}

func (c *Connector) clip(s string) string {
	return text.ClipRunes(text.OneLine(c.redact(s)), maxMessage)
}

var bearerRE = regexp.MustCompile(`(?i)(bearer)(\s*)[^\s&"',;]+`)

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
