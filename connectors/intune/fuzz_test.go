package intune

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

// FuzzDecode feeds the answer decoder arbitrary answers: it must never
// panic, must succeed only for a 2xx, must otherwise return a classified
// error, and must never repeat a token.
func FuzzDecode(f *testing.F) {
	f.Add(200, "application/json", `{"value":[{"id":"dev-1","deviceActionResults":[]}]}`)
	f.Add(403, "application/json", `{"error":{"code":"Forbidden","message":"Bearer `+fakeToken+`"}}`)
	f.Add(200, "text/html", "<html>login</html>")
	f.Add(429, "", "")
	c, err := New("fuzz", Config{TenantID: "t", ClientID: "c", ClientSecret: secret.FromValue(fakeSecret)}, &outbound.URLPolicy{})
	if err != nil {
		f.Fatal(err)
	}
	c.addSecret(fakeToken)
	f.Fuzz(func(t *testing.T, status int, contentType, body string) {
		if status < 100 || status > 599 {
			return
		}
		resp := &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {contentType}}}
		var out struct {
			Value []managedDevice `json:"value"`
		}
		err := c.decode("fuzz", "GET /users/x/managedDevices", resp, []byte(body), &out)
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
		if strings.Contains(err.Error(), fakeToken) || strings.Contains(err.Error(), fakeSecret) {
			t.Fatalf("a secret leaked: %v", err)
		}
	})
}
