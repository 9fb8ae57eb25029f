package signals

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/text"
)

// RFC 8935 section 2.4 error codes (the IANA "Security Event Token Error
// Codes" registry, https://www.iana.org/assignments/secevent/). Each means
// the receiver will not take this SET as it is, so none is retried.
const (
	ErrInvalidRequest       = "invalid_request"
	ErrInvalidKey           = "invalid_key"
	ErrInvalidIssuer        = "invalid_issuer"
	ErrInvalidAudience      = "invalid_audience"
	ErrAuthenticationFailed = "authentication_failed"
	ErrAccessDenied         = "access_denied"
)

// maxAnswer bounds how much of a receiver's answer is read.
const maxAnswer = 64 << 10

// PushError is a receiver's answer refusing a SET: its HTTP status and, for
// an RFC 8935 error response (400 with a JSON object), the err code and
// description. It is wrapped in a *connectors.Error that says whether to
// retry (connectors.IsRetryable); find it with errors.As.
type PushError struct {
	Status int
	// Code is the err member ("invalid_key"); empty when the answer was not
	// an RFC 8935 error object.
	Code string
	// Description is the description member, or a summary of a non-JSON
	// answer, on one line and clipped; the authorization header's value is
	// never in it.
	Description string
}

func (e *PushError) Error() string {
	var b strings.Builder
	b.WriteString("receiver answered ")
	b.WriteString(fmt.Sprint(e.Status))
	if e.Code != "" {
		b.WriteString(" err=" + e.Code)
	}
	if e.Description != "" {
		b.WriteString(": " + e.Description)
	}
	return b.String()
}

// pushOp is the op every push error names.
const pushOp = "push"

// push POSTs one signed SET to the receiver (RFC 8935 section 2.2:
// Content-Type application/secevent+jwt, Accept application/json) and
// reads its answer: any 2xx is delivery (the RFC's answer is 202
// Accepted). Any other answer is a *connectors.Error (kind from the status:
// 429 rate limited with Retry-After, 408 and 5xx transient, 401 auth, 403
// forbidden, other 4xx including every RFC 8935 error code invalid, and 3xx
// invalid too — a push endpoint does not redirect, and a POST is not
// re-sent elsewhere) wrapping a *PushError.
func push(ctx context.Context, client *http.Client, rc *receiver, token string) error {
	name := "signals/" + rc.name
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rc.endpoint, strings.NewReader(token))
	if err != nil {
		return connectors.NewError(connectors.KindInvalid, name, pushOp, errors.New("the endpoint URL cannot be used"))
	}
	req.Header.Set("Content-Type", "application/secevent+jwt")
	req.Header.Set("Accept", "application/json")
	if rc.authorization != "" {
		req.Header.Set("Authorization", rc.authorization)
	}
	resp, err := client.Do(req)
	if err != nil {
		return connectors.Classify(name, pushOp, redactErr(err, rc))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	pe := answerError(resp, body, rc.authorization)
	if resp.StatusCode < 400 {
		return &connectors.Error{Kind: connectors.KindInvalid, Connector: name, Op: pushOp, Status: resp.StatusCode, Err: pe}
	}
	ce := connectors.ClassifyHTTP(name, pushOp, resp, "")
	ce.Err = pe
	return ce
}

// answerError reads a refusal: an RFC 8935 error object when the answer is
// JSON with an err member, else a summary of what came.
func answerError(resp *http.Response, body []byte, secret string) *PushError {
	pe := &PushError{Status: resp.StatusCode}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var obj struct {
		Err         string `json:"err"`
		Description string `json:"description"`
	}
	if json.Unmarshal(bytes.TrimSpace(body), &obj) == nil && obj.Err != "" {
		pe.Code = clean(obj.Err, 64, secret)
		pe.Description = clean(obj.Description, 300, secret)
		return pe
	}
	switch {
	case len(bytes.TrimSpace(body)) == 0:
	case ct == "text/html" || bytes.HasPrefix(bytes.TrimSpace(bytes.ToLower(body)), []byte("<")):
		pe.Description = "an HTML page, not an RFC 8935 answer"
	case ct == "application/json":
		pe.Description = "JSON without an err member"
	default:
		pe.Description = clean(string(body), 200, secret)
	}
	return pe
}

// clean makes a receiver's text safe to log: the authorization value cut
// out, one line, clipped.
func clean(s string, n int, secret string) string {
	if secret != "" {
		s = strings.ReplaceAll(s, secret, "<secret>")
		if _, tok, ok := strings.Cut(secret, " "); ok && len(tok) >= 8 {
			s = strings.ReplaceAll(s, tok, "<secret>")
		}
	}
	return text.ClipBytes(text.OneLine(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)), n)
}

// redactErr names only the endpoint's scheme and host in a transport
// error: the URL's path or query may carry a receiver's token.
func redactErr(err error, rc *receiver) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %w", ue.Op, rc.host, ue.Err)
	}
	return err
}
