package signals

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzAnswerError: whatever a receiver answers, reading it never panics,
// stays bounded and on one line, and never carries the authorization
// header's value.
func FuzzAnswerError(f *testing.F) {
	for _, seed := range []struct {
		ctype string
		body  string
	}{
		{"application/json", `{"err":"invalid_key","description":"Key ID 12345 has been revoked."}`},
		{"application/json", `{"err":"authentication_failed","description":"` + authz + `"}`},
		{"text/html", "<html><body>502 Bad Gateway</body></html>"},
		{"application/json", `{"err":`},
		{"text/plain", "rcv-token-0123456789abcdef\n\x00\x1b[31m"},
	} {
		f.Add(seed.ctype, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		resp := &http.Response{StatusCode: 400, Header: http.Header{"Content-Type": {ctype}}}
		pe := answerError(resp, body, authz)
		msg := pe.Error()
		if strings.Contains(msg, "rcv-token-0123456789abcdef") {
			t.Fatalf("the token leaked: %q", msg)
		}
		if len(pe.Code) > 64+3 || len(pe.Description) > 300+3 {
			t.Fatalf("unbounded: code %d, description %d bytes", len(pe.Code), len(pe.Description))
		}
		if strings.ContainsAny(msg, "\n\r\x00") {
			t.Fatalf("not one line: %q", msg)
		}
		if utf8.ValidString(string(body)) && !utf8.ValidString(msg) {
			t.Fatalf("valid UTF-8 in, invalid out: %q", msg)
		}
	})
}
