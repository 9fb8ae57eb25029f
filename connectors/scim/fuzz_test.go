package scim

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kineticsec/kinetic/internal/secret"
)

// FuzzErrorMessage feeds arbitrary answers (status, content type, body)
// to the code that turns a service provider's answer into an error: it
// must not panic, must stay within maxMessage runes, and must never carry
// the token, even when the body quotes it (a provider echoing the request
// headers).
func FuzzErrorMessage(f *testing.F) {
	const token = "fuzz-TOKEN-value-1a2b3c"
	for _, s := range []struct {
		status int
		ct     string
		body   string
	}{
		{401, "application/scim+json", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"401","detail":"bad token fuzz-TOKEN-value-1a2b3c"}`},
		{400, "application/scim+json", `{"status":400,"scimType":"noTarget","detail":"no such member"}`},
		{502, "text/html", "<html>Bearer fuzz-TOKEN-value-1a2b3c</html>"},
		{429, "text/plain", "slow down"},
		{400, "application/json", `{"error":"invalid_client","error_description":"Authorization: Bearer abc.def"}`},
		{500, "application/json", `{"detail":"` + strings.Repeat("x", 500) + `"}`},
	} {
		f.Add(s.status, s.ct, s.body)
	}
	c, err := New("fuzz", Config{BaseURL: "https://app.example.com/scim/v2", Token: secret.FromValue(token)}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, status int, ct, body string) {
		if status < 100 || status > 999 {
			return
		}
		r := &response{status: status, header: http.Header{"Content-Type": {ct}}, body: []byte(body)}
		msg := c.message(r)
		if strings.Contains(msg, token) {
			t.Fatalf("message carries the token: %q", msg)
		}
		if utf8.RuneCountInString(msg) > maxMessage+1 {
			t.Fatalf("message is %d runes", utf8.RuneCountInString(msg))
		}
		if e := c.httpError("fuzz", r); e != nil && strings.Contains(e.Error(), token) {
			t.Fatalf("error carries the token: %v", e)
		}
		var u user
		_ = c.decode("fuzz", r, &u)
	})
}
