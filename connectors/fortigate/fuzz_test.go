package fortigate

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/fortigate/fortigatetest"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

// FuzzDecode feeds the FortiOS answer decoder arbitrary answers: it must
// never panic, must return either a success envelope or a classified
// error, and must never repeat the token.
func FuzzDecode(f *testing.F) {
	f.Add(200, "application/json", `{"http_method":"GET","results":[{"name":"dana","status":"enable"}],"status":"success","http_status":200}`)
	f.Add(200, "application/json", `{"status":"error","http_status":424,"error":-23,"cli_error":"Bearer `+fortigatetest.Token+`"}`)
	f.Add(401, "text/html", "<html>login</html>")
	f.Add(200, "", `{"results": [`)
	f.Add(429, "", "")
	c, err := New("fgt-fuzz", Config{URL: "https://fw.example.com", APIToken: secret.FromValue(fortigatetest.Token)}, &outbound.URLPolicy{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, status int, contentType, body string) {
		if status < 100 || status > 599 {
			return
		}
		resp := &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {contentType}}}
		env, err := c.decode("fuzz", http.MethodGet, pathSSL, resp, []byte(body))
		if err == nil {
			if env == nil || status < 200 || status > 299 {
				t.Fatalf("success for status %d: %+v", status, env)
			}
			return
		}
		var ce *connectors.Error
		if !errors.As(err, &ce) || ce.Kind == "" {
			t.Fatalf("unclassified error %v", err)
		}
		if strings.Contains(err.Error(), fortigatetest.Token) {
			t.Fatalf("the token leaked: %v", err)
		}
	})
}
