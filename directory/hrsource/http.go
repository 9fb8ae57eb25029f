package hrsource

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/internal/outbound"
)

// DefaultRequestTimeout bounds one HTTP request to an HR system.
const DefaultRequestTimeout = 60 * time.Second

// DefaultMaxBody caps one answer's size.
const DefaultMaxBody = 256 << 20

// HTTP is the edge to an HR system's API: it sends requests with a client
// from the outbound URL policy, classifies every failure into a
// *directory.SourceError and removes secrets from what it reports.
type HTTP struct {
	// Source names the source type ("bamboohr").
	Source string
	// Client must come from outbound.URLPolicy.HTTPClient.
	Client *http.Client
	// Secrets are removed from error messages, in the forms a server may
	// echo them (raw and base64).
	Secrets []string
	// MaxBody caps an answer; default DefaultMaxBody.
	MaxBody int64
}

// Do sends req and returns the body of a 2xx answer. op says what the
// request is for ("requesting the custom report").
func (h *HTTP) Do(req *http.Request, op string) ([]byte, error) {
	resp, err := h.Client.Do(req)
	if err != nil {
		return nil, h.TransportError(op, err)
	}
	defer resp.Body.Close()
	limit := h.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, h.StatusError(op, resp.StatusCode, body)
	}
	if rerr != nil {
		return nil, h.TransportError(op, rerr)
	}
	if int64(len(body)) > limit {
		return nil, &directory.SourceError{Source: h.Source, Op: op, Err: fmt.Errorf("the answer is larger than %d bytes", limit)}
	}
	return body, nil
}

// DecodeJSON decodes body into v with json.Number for numbers; a failure is
// a non-retryable *directory.SourceError.
func (h *HTTP) DecodeJSON(op string, body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return &directory.SourceError{Source: h.Source, Op: op, Err: fmt.Errorf("the answer is not the expected JSON: %s", h.Redact(err.Error()))}
	}
	return nil
}

// StatusError classifies an HTTP error status: 408, 429 and 5xx are
// retryable; 401 (credentials), 403 (permission), 404 (wrong URL, company
// or tenant) and every other status are not. A short, redacted excerpt of
// the body is kept for people.
func (h *HTTP) StatusError(op string, status int, body []byte) error {
	retry := status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
	var hint string
	switch status {
	case http.StatusUnauthorized:
		hint = "the HR system refused the credentials"
	case http.StatusForbidden:
		hint = "the credentials lack permission"
	case http.StatusNotFound:
		hint = "not found: check the URL (and company or tenant)"
	default:
		hint = http.StatusText(status)
	}
	if ex := h.excerpt(body); ex != "" {
		hint += ": " + ex
	}
	return &directory.SourceError{Source: h.Source, Op: op, Status: status, Retryable: retry, Err: errors.New(hint)}
}

// excerpt returns the start of body on one line, redacted.
func (h *HTTP) excerpt(body []byte) string {
	s := strings.Join(strings.Fields(string(body)), " ")
	s = h.Redact(s)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// TransportError classifies a failure to get an answer: a cancelled or
// expired context and network failures are retryable; a refusal by the
// outbound URL policy and a bad TLS certificate are not. The URL is
// reduced to scheme, host and path (a query may carry a credential).
func (h *HTTP) TransportError(op string, err error) error {
	retry := true
	var ue *url.Error
	msg := err.Error()
	if errors.As(err, &ue) {
		msg = fmt.Sprintf("%s %s: %v", ue.Op, SafeURL(ue.URL), ue.Err)
	}
	var certErr x509.CertificateInvalidError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	switch {
	case errors.Is(err, outbound.ErrURLRefused), errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr):
		retry = false
	}
	e := &directory.SourceError{Source: h.Source, Op: op, Retryable: retry, Err: errors.New(h.Redact(msg))}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		e.Err = fmt.Errorf("%s: %w", h.Redact(msg), contextCause(err))
	}
	return e
}

func contextCause(err error) error {
	if errors.Is(err, context.Canceled) {
		return context.Canceled
	}
	return context.DeadlineExceeded
}

// Redact removes every configured secret from s, in the forms a server may
// echo it: raw, base64 (a basic-auth header) and URL-escaped.
func (h *HTTP) Redact(s string) string {
	var forms []string
	for _, sec := range h.Secrets {
		if len(sec) < 4 {
			continue // too short to remove without mangling the message
		}
		forms = append(forms, sec, base64.StdEncoding.EncodeToString([]byte(sec)), url.QueryEscape(sec))
	}
	// Longest first, so a secret that begins another is not removed from
	// inside it, leaving the rest.
	slices.SortFunc(forms, func(a, b string) int { return len(b) - len(a) })
	for _, f := range forms {
		s = strings.ReplaceAll(s, f, "<redacted>")
	}
	return s
}

// SafeURL renders raw as scheme://host/path, without user info, query or
// fragment.
func SafeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "URL"
	}
	return u.Scheme + "://" + u.Host + u.EscapedPath()
}

// ValidateURL checks the form of a configured URL (outbound.CheckURLForm):
// absolute http(s) with a host, without user info (credentials belong in
// secrets) or fragment; with allowQuery false, without a query either. what
// names it in messages ("base_url"). It does not apply the outbound URL
// policy.
func ValidateURL(what, raw string, allowQuery bool) error {
	_, err := outbound.CheckURLForm(what, raw, outbound.URLForm{AllowQuery: allowQuery, CredentialsHint: "credentials go in their secret"})
	return err
}
