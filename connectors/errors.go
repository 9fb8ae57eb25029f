package connectors

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kineticsec/kinetic/internal/outbound"
)

// Kind classifies a connector error. Classification happens once, where the
// vendor answers (see Classify and ClassifyHTTP); everything else uses
// errors.As and IsRetryable.
type Kind string

// Error kinds. Transient and RateLimited are worth retrying; the rest are not.
const (
	// KindTransient: timeouts, connection resets, 5xx. Retry with back-off.
	KindTransient Kind = "transient"
	// KindRateLimited: 429 or the system's own throttling. Retry after
	// Error.RetryAfter when set.
	KindRateLimited Kind = "rate_limited"
	// KindAuth: bad or expired credentials (401, LDAP 49).
	KindAuth Kind = "auth"
	// KindForbidden: credentials are valid but lack permission (403, LDAP 50).
	KindForbidden Kind = "forbidden"
	// KindNotFound: the target does not exist where the caller said it would.
	// Connectors normally turn a missing account into OutcomeNoneFound; this
	// kind is for other missing things (a group, an OU).
	KindNotFound Kind = "not_found"
	// KindInvalid: the request or the configuration is wrong (other 4xx,
	// an unsupported operation, an ambiguous match).
	KindInvalid Kind = "invalid"
	// KindCanceled: the context was cancelled or its deadline passed before
	// the system answered. Retryable: the work was not known to be done.
	KindCanceled Kind = "canceled"
)

// Retryable reports whether errors of this kind are worth retrying.
func (k Kind) Retryable() bool {
	switch k {
	case KindTransient, KindRateLimited, KindCanceled:
		return true
	}
	return false
}

// Error is the classified error every connector returns.
type Error struct {
	Kind Kind
	// Connector is the instance name; Op the operation ("lookup" for Lookup).
	Connector string
	Op        string
	// Status is the HTTP status or protocol result code, when there was one.
	Status int
	// RetryAfter is how long the system asked us to wait (429 Retry-After);
	// zero when it did not say.
	RetryAfter time.Duration
	// Err is the underlying cause. It must not contain secrets: redact at the
	// edge before wrapping.
	Err error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s %s: %s", e.Connector, e.Op, e.Kind)
	if e.Status != 0 {
		msg += fmt.Sprintf(" (status %d)", e.Status)
	}
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether the error is worth retrying.
func (e *Error) Retryable() bool { return e.Kind.Retryable() }

// NewError builds a classified error.
func NewError(kind Kind, connector, op string, err error) *Error {
	return &Error{Kind: kind, Connector: connector, Op: op, Err: err}
}

// KindOf returns the kind of err: the Kind of a wrapped *Error, KindCanceled
// for a context error, KindTransient for a network timeout, and KindInvalid
// for anything unclassified (an unclassified error is a bug in a connector,
// and retrying a bug does not help).
func KindOf(err error) Kind {
	if err == nil {
		return ""
	}
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Kind
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return KindCanceled
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return KindTransient
	}
	return KindInvalid
}

// IsRetryable reports whether err is worth retrying.
func IsRetryable(err error) bool { return err != nil && KindOf(err).Retryable() }

// RetryAfterOf returns the wait a rate-limited system asked for, or zero.
func RetryAfterOf(err error) time.Duration {
	var ce *Error
	if errors.As(err, &ce) {
		return ce.RetryAfter
	}
	return 0
}

// Classify turns a transport-level error (no response received) into a
// classified error: context errors become KindCanceled, everything else
// (refused connections, resets, DNS failures, TLS failures, timeouts)
// KindTransient, except a TLS certificate failure or a refusal by the
// outbound URL policy, which will not fix themselves and are KindInvalid.
func Classify(connector, op string, err error) *Error {
	if err == nil {
		return nil
	}
	var ce *Error
	if errors.As(err, &ce) {
		return ce
	}
	kind := KindTransient
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		kind = KindCanceled
	case isCertificateError(err), errors.Is(err, outbound.ErrURLRefused):
		kind = KindInvalid
	}
	return &Error{Kind: kind, Connector: connector, Op: op, Err: err}
}

// ClassifyHTTP classifies a vendor's HTTP answer: 429 → rate limited (with
// the Retry-After header, seconds or HTTP date), 408 and 5xx → transient,
// 401 → auth, 403 → forbidden, 404 → not found, any other 4xx → invalid.
// It returns nil for 1xx–3xx. msg describes the answer for people and must
// not contain secrets.
func ClassifyHTTP(connector, op string, resp *http.Response, msg string) *Error {
	if resp == nil || resp.StatusCode < 400 {
		return nil
	}
	e := &Error{Kind: KindForStatus(resp.StatusCode), Connector: connector, Op: op, Status: resp.StatusCode}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		e.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	e.Err = errors.New(msg)
	return e
}

// KindForStatus is the class of an HTTP status a vendor answered with:
// 429 → rate limited, 408 and 5xx → transient, 401 → auth, 403 →
// forbidden, 404 → not found, any other → invalid.
func KindForStatus(status int) Kind {
	switch {
	case status == http.StatusTooManyRequests:
		return KindRateLimited
	case status == http.StatusRequestTimeout || status >= 500:
		return KindTransient
	case status == http.StatusUnauthorized:
		return KindAuth
	case status == http.StatusForbidden:
		return KindForbidden
	case status == http.StatusNotFound:
		return KindNotFound
	}
	return KindInvalid
}

// JoinErrors returns nil, the one error, or one classified error of
// connector's op holding them all: retryable when any of them is (a retry
// redoes only what is left), else the first one's kind. The joined error
// prints the failures on one line (a status card shows an error as one
// line) and unwraps to each of them.
func JoinErrors(connector, op string, errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	kind := KindOf(errs[0])
	for _, e := range errs {
		if IsRetryable(e) {
			kind = KindOf(e)
			break
		}
	}
	inner := make([]error, len(errs))
	for i, e := range errs {
		var ce *Error
		if errors.As(e, &ce) && ce.Err != nil {
			inner[i] = ce.Err
		} else {
			inner[i] = e
		}
	}
	return &Error{Kind: kind, Connector: connector, Op: op, Err: &multiError{errs: inner}}
}

type multiError struct{ errs []error }

func (m *multiError) Error() string {
	parts := make([]string, len(m.errs))
	for i, e := range m.errs {
		parts[i] = e.Error()
	}
	return fmt.Sprintf("%d failures: %s", len(m.errs), strings.Join(parts, "; "))
}

func (m *multiError) Unwrap() []error { return m.errs }

// ParseRetryAfter parses a Retry-After header value: delta seconds or an
// HTTP date. It returns zero when the header is empty or unparseable.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		if int64(secs) > int64(24*time.Hour/time.Second) {
			return 24 * time.Hour // an absurd value must not overflow into "retry now"
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

func isCertificateError(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci)
}
