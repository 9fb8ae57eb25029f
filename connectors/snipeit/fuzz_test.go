package snipeit

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

// FuzzDecode feeds the Snipe-IT answer decoder arbitrary answers: it must
// never panic, must succeed only for a 2xx that is not an error envelope,
// must otherwise return a classified error, and must never repeat the
// token.
func FuzzDecode(f *testing.F) {
	f.Add(200, "application/json", `{"total":1,"rows":[{"id":5,"email":"dana@example.com"}]}`)
	f.Add(200, "application/json", `{"status":"error","messages":"Asset does not exist."}`)
	f.Add(200, "application/json", `{"status":"error","messages":{"status_id":["Bearer `+tok+`"]}}`)
	f.Add(401, "application/json", `{"status":"error","message":"Unauthorized."}`)
	f.Add(200, "text/html", "<html>login</html>")
	f.Add(429, "", "")
	c, err := New("fuzz", Config{URL: "https://assets.example.com", APIToken: secret.FromValue(tok)}, &outbound.URLPolicy{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, status int, contentType, body string) {
		if status < 100 || status > 599 {
			return
		}
		resp := &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {contentType}}}
		var out page[user]
		err := c.decode("fuzz", "GET /api/v1/users", resp, []byte(body), &out)
		if err == nil {
			if status < 200 || status > 299 {
				t.Fatalf("success for status %d", status)
			}
			return
		}
		var ce *connectors.Error
		if !errors.As(err, &ce) || ce.Kind == "" {
			t.Fatalf("unclassified error %v", err)
		}
		if strings.Contains(err.Error(), tok) {
			t.Fatalf("the token leaked: %v", err)
		}
	})
}
