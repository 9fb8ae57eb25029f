package globalprotect

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/text"
)

const (
	userAgent  = "kinetic-globalprotect-connector/1"
	maxBody    = 16 << 20
	maxMessage = 300
)

// response is the PAN-OS XML API answer: <response status="success|error"
// code="N"> with a <msg> and/or a <result>. Result holds the raw inner XML
// of <result>, parsed by each caller into its own shape.
type response struct {
	XMLName xml.Name `xml:"response"`
	Status  string   `xml:"status,attr"`
	Code    string   `xml:"code,attr"`
	Msg     textNode `xml:"msg"`
	Result  struct {
		Inner []byte   `xml:",innerxml"`
		Msg   textNode `xml:"msg"`
	} `xml:"result"`
}

// textNode collects the text of an element and of its <line> children
// (PAN-OS writes messages either way).
type textNode struct {
	Text  string   `xml:",chardata"`
	Lines []string `xml:"line"`
}

func (t textNode) String() string {
	parts := append([]string{t.Text}, t.Lines...)
	return strings.Join(strings.Fields(strings.Join(parts, " ")), " ")
}

func (r *response) message() string {
	if m := r.Msg.String(); m != "" {
		return m
	}
	return r.Result.Msg.String()
}

// call posts one XML API request (form parameters) and returns its parsed
// answer when status="success"; anything else is a classified error.
func (c *Connector) call(ctx context.Context, op string, form url.Values) (*response, error) {
	if err := ctx.Err(); err != nil {
		return nil, connectors.NewError(connectors.KindCanceled, c.name, op, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, connectors.NewError(connectors.KindInvalid, c.name, op, errors.New("cannot build the request"))
	}
	req.Header.Set("X-PAN-KEY", c.key)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/xml")
	req.Header.Set("User-Agent", userAgent)
	what := describe(form)
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, op, err)
	}
	raw, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	if rerr != nil {
		return nil, c.transportError(ctx, op, rerr)
	}
	return c.parse(op, what, resp, raw)
}

// parse reads one XML API answer: the parsed <response> when its status
// is success, else a classified error. It is the parser of everything the
// firewall sends (FuzzParse).
func (c *Connector) parse(op, what string, resp *http.Response, raw []byte) (*response, error) {
	if looksHTML(resp.Header.Get("Content-Type"), raw) {
		kind := connectors.KindInvalid
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			if e := connectors.ClassifyHTTP(c.name, op, resp, ""); e != nil {
				kind = e.Kind
			}
		}
		e := connectors.NewError(kind, c.name, op, fmt.Errorf(
			"PAN-OS answered %s with an HTML page (status %d), not the XML API: is url the firewall's management address, and is the API enabled for the admin?", what, resp.StatusCode))
		e.Status = resp.StatusCode
		return nil, e
	}
	var r response
	dec := xml.NewDecoder(bytes.NewReader(raw))
	dec.Strict = true
	if err := dec.Decode(&r); err != nil || (r.Status != "success" && r.Status != "error") {
		if e := connectors.ClassifyHTTP(c.name, op, resp, c.clip(fmt.Sprintf("PAN-OS answered %s with status %d and no XML API response", what, resp.StatusCode))); e != nil {
			return nil, e
		}
		e := connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf(
			"PAN-OS answered %s with a body that is not an XML API <response status=\"success|error\"> (status %d, %s)", what, resp.StatusCode, c.clip(resp.Header.Get("Content-Type"))))
		e.Status = resp.StatusCode
		return nil, e
	}
	if r.Status == "error" || resp.StatusCode >= 400 {
		return nil, c.apiError(op, what, resp, &r)
	}
	return &r, nil
}

// apiError classifies a status="error" answer by its HTTP status and
// PAN-OS error code
// (https://docs.paloaltonetworks.com/pan-os/11-1/pan-os-panorama-api/get-started-with-the-pan-os-xml-api/pan-os-xml-api-error-codes):
// 403 covers both a bad key and missing rights, so 403 with "Invalid
// Credential" is a wrong key and any other 403, and 16 (unauthorized), a
// missing permission; 7 (object not present) and 13 (object not found)
// not found;
// 2–5, 11, 21 (internal errors) and 22 (session timed out) transient;
// 1, 6, 12, 14, 17, 18 and the rest (bad command, XPath or object)
// invalid.
func (c *Connector) apiError(op, what string, resp *http.Response, r *response) *connectors.Error {
	msg := r.message()
	full := fmt.Sprintf("PAN-OS refused %s (code %s): %s", what, r.Code, msg)
	kind := connectors.KindInvalid
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return connectors.ClassifyHTTP(c.name, op, resp, c.clip(full))
	case strings.Contains(strings.ToLower(msg), "invalid credential") || resp.StatusCode == http.StatusUnauthorized:
		kind = connectors.KindAuth
		full += "; the API key is wrong, expired or revoked"
	case resp.StatusCode == http.StatusForbidden || r.Code == "403" || r.Code == "16":
		kind = connectors.KindForbidden
		full += "; the admin role lacks this XML API permission (see docs/connectors.md, globalprotect)"
	case r.Code == "7", r.Code == "13":
		kind = connectors.KindNotFound
	case r.Code == "2", r.Code == "3", r.Code == "4", r.Code == "5", r.Code == "11", r.Code == "21", r.Code == "22":
		kind = connectors.KindTransient
	}
	e := connectors.NewError(kind, c.name, op, errors.New(c.clip(full)))
	if resp.StatusCode >= 400 {
		e.Status = resp.StatusCode
	}
	return e
}

func (c *Connector) transportError(ctx context.Context, op string, err error) *connectors.Error {
	if cerr := ctx.Err(); cerr != nil {
		return connectors.NewError(connectors.KindCanceled, c.name, op, fmt.Errorf("%w (PAN-OS did not answer in time)", cerr))
	}
	kind := connectors.Classify(c.name, op, err).Kind
	if kind == connectors.KindCanceled {
		kind = connectors.KindTransient
	}
	msg := "PAN-OS firewall unreachable"
	if kind == connectors.KindInvalid {
		msg = "cannot reach the PAN-OS firewall securely (TLS certificate or outbound policy; set ca_file for a private CA)"
	}
	return connectors.NewError(kind, c.name, op, fmt.Errorf("%s: %s", msg, c.redact(err.Error())))
}

// describe names a request for messages without its values' secrets
// (there are none in the form: the key is a header).
func describe(form url.Values) string {
	s := "type=" + form.Get("type")
	if a := form.Get("action"); a != "" {
		s += " action=" + a
	}
	if cmd := form.Get("cmd"); cmd != "" {
		s += " " + text.ClipRunes(cmd, 120)
	}
	return s
}

func (c *Connector) clip(s string) string { return text.ClipRunes(c.redact(s), maxMessage) }

var keyRE = regexp.MustCompile(`(?i)(x-pan-key:?|key=)(\s*)[^\s&"',;<]+`)

func (c *Connector) redact(s string) string {
	if len(c.key) >= 4 {
		s = strings.ReplaceAll(s, c.key, "<redacted>")
	}
	return keyRE.ReplaceAllString(s, "$1$2<redacted>")
}

func looksHTML(contentType string, body []byte) bool {
	if strings.Contains(strings.ToLower(contentType), "html") {
		return true
	}
	b := bytes.ToLower(bytes.TrimSpace(body))
	return bytes.HasPrefix(b, []byte("<!doctype html")) || bytes.HasPrefix(b, []byte("<html"))
}

// xmlEscape escapes s for an XML command or element.
func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
