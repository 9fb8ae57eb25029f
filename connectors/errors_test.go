package connectors_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
)

func TestClassifyHTTP(t *testing.T) {
	future := time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat)
	tests := []struct {
		name       string
		status     int
		retryAfter string
		kind       connectors.Kind // "" = nil error
		retryable  bool
		// minWait..maxWait bound RetryAfter.
		minWait, maxWait time.Duration
	}{
		{name: "200 ok", status: 200},
		{name: "204 no content", status: 204},
		{name: "302 found", status: 302},
		{name: "400 bad request", status: 400, kind: connectors.KindInvalid},
		{name: "401 unauthorized", status: 401, kind: connectors.KindAuth},
		{name: "403 forbidden", status: 403, kind: connectors.KindForbidden},
		{name: "404 not found", status: 404, kind: connectors.KindNotFound},
		{name: "409 conflict", status: 409, kind: connectors.KindInvalid},
		{name: "408 request timeout", status: 408, kind: connectors.KindTransient, retryable: true},
		{name: "422 unprocessable", status: 422, kind: connectors.KindInvalid},
		{name: "429 without retry-after", status: 429, kind: connectors.KindRateLimited, retryable: true},
		{name: "429 retry-after seconds", status: 429, retryAfter: "30", kind: connectors.KindRateLimited, retryable: true, minWait: 30 * time.Second, maxWait: 30 * time.Second},
		{name: "429 retry-after http date", status: 429, retryAfter: future, kind: connectors.KindRateLimited, retryable: true, minWait: 110 * time.Second, maxWait: 2 * time.Minute},
		{name: "429 retry-after garbage", status: 429, retryAfter: "soon", kind: connectors.KindRateLimited, retryable: true},
		{name: "500 internal error", status: 500, kind: connectors.KindTransient, retryable: true},
		{name: "500 ignores retry-after", status: 500, retryAfter: "10", kind: connectors.KindTransient, retryable: true},
		{name: "502 bad gateway", status: 502, kind: connectors.KindTransient, retryable: true},
		{name: "503 retry-after seconds", status: 503, retryAfter: "120", kind: connectors.KindTransient, retryable: true, minWait: 2 * time.Minute, maxWait: 2 * time.Minute},
		{name: "504 gateway timeout", status: 504, kind: connectors.KindTransient, retryable: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tt.status, Header: http.Header{}}
			if tt.retryAfter != "" {
				resp.Header.Set("Retry-After", tt.retryAfter)
			}
			e := connectors.ClassifyHTTP("okta", "deactivate_user", resp, "")
			if tt.kind == "" {
				if e != nil {
					t.Fatalf("ClassifyHTTP = %v, want nil", e)
				}
				return
			}
			if e == nil {
				t.Fatalf("ClassifyHTTP = nil, want %s", tt.kind)
			}
			if e.Kind != tt.kind || e.Status != tt.status || e.Connector != "okta" || e.Op != "deactivate_user" {
				t.Fatalf("ClassifyHTTP = %+v, want kind %s status %d", e, tt.kind, tt.status)
			}
			var err error = e
			if connectors.IsRetryable(err) != tt.retryable || e.Retryable() != tt.retryable {
				t.Errorf("retryable = %t, want %t", connectors.IsRetryable(err), tt.retryable)
			}
			if connectors.KindOf(fmt.Errorf("wrapped: %w", err)) != tt.kind {
				t.Errorf("KindOf(wrapped) = %s", connectors.KindOf(fmt.Errorf("wrapped: %w", err)))
			}
			if e.RetryAfter < tt.minWait || e.RetryAfter > tt.maxWait {
				t.Errorf("RetryAfter = %s, want %s..%s", e.RetryAfter, tt.minWait, tt.maxWait)
			}
			if connectors.RetryAfterOf(err) != e.RetryAfter {
				t.Errorf("RetryAfterOf = %s", connectors.RetryAfterOf(err))
			}
			if want := http.StatusText(tt.status); !strings.Contains(e.Error(), want) {
				t.Errorf("Error() = %q, want the status text %q", e.Error(), want)
			}
		})
	}
	t.Run("nil response", func(t *testing.T) {
		if e := connectors.ClassifyHTTP("okta", "lookup", nil, ""); e != nil {
			t.Fatalf("ClassifyHTTP(nil) = %v", e)
		}
	})
	t.Run("message is used", func(t *testing.T) {
		e := connectors.ClassifyHTTP("okta", "lookup", &http.Response{StatusCode: 403, Header: http.Header{}}, "missing scope okta.users.manage")
		if want := "okta lookup: forbidden (status 403): missing scope okta.users.manage"; e.Error() != want {
			t.Fatalf("Error() = %q, want %q", e.Error(), want)
		}
	})
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"1", time.Second},
		{"120", 2 * time.Minute},
		{"-5", 0},
		{"1.5", 0},
		{"soon", 0},
		{"Sat, 01 Mar 2025 12:01:30 GMT", 90 * time.Second},
		{"Saturday, 01-Mar-25 12:00:10 GMT", 10 * time.Second}, // RFC 850
		{"Sat Mar  1 12:00:05 2025", 5 * time.Second},          // ANSI C asctime
		{"Sat, 01 Mar 2025 11:59:00 GMT", 0},                   // in the past
		{"Sat, 01 Mar 2025 12:00:00 GMT", 0},                   // now
	}
	for _, tt := range tests {
		if got := connectors.ParseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "-1", "Sat, 01 Mar 2025 12:01:30 GMT", "99999999999999999999"} {
		f.Add(s)
	}
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		if d := connectors.ParseRetryAfter(s, now); d < 0 {
			t.Fatalf("ParseRetryAfter(%q) = %s, negative", s, d)
		}
	})
}

// timeoutErr is a net.Error that timed out.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestKindOf(t *testing.T) {
	classified := connectors.NewError(connectors.KindForbidden, "ad", "disable_account", errors.New("insufficient access rights"))
	tests := []struct {
		name string
		err  error
		want connectors.Kind
	}{
		{"nil", nil, ""},
		{"classified", classified, connectors.KindForbidden},
		{"wrapped classified", fmt.Errorf("action 7: %w", classified), connectors.KindForbidden},
		{"joined classified", errors.Join(errors.New("other"), classified), connectors.KindForbidden},
		{"context canceled", context.Canceled, connectors.KindCanceled},
		{"deadline exceeded", context.DeadlineExceeded, connectors.KindCanceled},
		{"wrapped deadline", fmt.Errorf("calling graph: %w", context.DeadlineExceeded), connectors.KindCanceled},
		{"net timeout", timeoutErr{}, connectors.KindTransient},
		{"os deadline", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, connectors.KindTransient},
		{"net non-timeout", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, connectors.KindInvalid},
		{"unclassified", errors.New("boom"), connectors.KindInvalid},
		{"eof", io.EOF, connectors.KindInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := connectors.KindOf(tt.err); got != tt.want {
				t.Fatalf("KindOf = %q, want %q", got, tt.want)
			}
			if got, want := connectors.IsRetryable(tt.err), tt.want.Retryable(); got != want {
				t.Fatalf("IsRetryable = %t, want %t", got, want)
			}
		})
	}
}

func TestKindRetryable(t *testing.T) {
	want := map[connectors.Kind]bool{
		connectors.KindTransient:   true,
		connectors.KindRateLimited: true,
		connectors.KindCanceled:    true,
		connectors.KindAuth:        false,
		connectors.KindForbidden:   false,
		connectors.KindNotFound:    false,
		connectors.KindInvalid:     false,
		"":                         false,
	}
	for k, w := range want {
		if k.Retryable() != w {
			t.Errorf("%q.Retryable() = %t, want %t", k, k.Retryable(), w)
		}
	}
}

func TestClassify(t *testing.T) {
	existing := &connectors.Error{Kind: connectors.KindAuth, Connector: "ldap", Op: "lookup", Status: 49}
	tests := []struct {
		name string
		err  error
		want connectors.Kind
	}{
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, connectors.KindTransient},
		{"dns failure", &net.DNSError{Err: "no such host", Name: "graph.example", IsNotFound: true}, connectors.KindTransient},
		{"reset", io.ErrUnexpectedEOF, connectors.KindTransient},
		{"timeout", timeoutErr{}, connectors.KindTransient},
		{"canceled", fmt.Errorf("Get: %w", context.Canceled), connectors.KindCanceled},
		{"deadline", context.DeadlineExceeded, connectors.KindCanceled},
		{"unknown authority", x509.UnknownAuthorityError{}, connectors.KindInvalid},
		{"hostname mismatch", x509.HostnameError{Host: "okta.example"}, connectors.KindInvalid},
		{"expired", x509.CertificateInvalidError{Reason: x509.Expired}, connectors.KindInvalid},
		{"verification error", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, connectors.KindInvalid},
		{"already classified", fmt.Errorf("wrapped: %w", existing), connectors.KindAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := connectors.Classify("graph", "revoke_sessions", tt.err)
			if e == nil || e.Kind != tt.want {
				t.Fatalf("Classify = %+v, want kind %s", e, tt.want)
			}
			if !errors.Is(e, tt.err) && !errors.Is(tt.err, e) {
				t.Errorf("Classify lost the cause: %v", e)
			}
		})
	}
	if connectors.Classify("graph", "lookup", nil) != nil {
		t.Error("Classify(nil) != nil")
	}
	if e := connectors.Classify("x", "y", existing); e != existing {
		t.Errorf("Classify re-wrapped a classified error: %+v", e)
	}
}

// TestClassifyRealCertificateError checks the error a real TLS handshake
// with an untrusted certificate produces.
func TestClassifyRealCertificateError(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("an untrusted certificate was accepted")
	}
	e := connectors.Classify("okta", "lookup", err)
	if e.Kind != connectors.KindInvalid || connectors.IsRetryable(e) {
		t.Fatalf("Classify(%v) = %s, want invalid and not retryable", err, e.Kind)
	}
}

func TestErrorMessage(t *testing.T) {
	e := &connectors.Error{Kind: connectors.KindRateLimited, Connector: "okta", Op: "lookup", Status: 429, RetryAfter: 30 * time.Second, Err: errors.New("Too Many Requests")}
	if want := "okta lookup: rate_limited (status 429) (retry after 30s): Too Many Requests"; e.Error() != want {
		t.Errorf("Error() = %q, want %q", e.Error(), want)
	}
	if want := "ad disable_account: invalid"; connectors.NewError(connectors.KindInvalid, "ad", "disable_account", nil).Error() != want {
		t.Errorf("Error() without cause = %q", connectors.NewError(connectors.KindInvalid, "ad", "disable_account", nil).Error())
	}
}
