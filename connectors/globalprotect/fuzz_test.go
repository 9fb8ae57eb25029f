package globalprotect

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/globalprotect/globalprotecttest"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

// FuzzParse feeds the XML API answer parser arbitrary answers: it must
// never panic, must return either a success response or a classified
// error, and must never repeat the API key.
func FuzzParse(f *testing.F) {
	f.Add(200, "application/xml", `<response status="success" code="19"><result><job>5</job></result></response>`)
	f.Add(403, "application/xml", `<response status = 'error' code = '403'><result><msg>Invalid Credential</msg></result></response>`)
	f.Add(200, "text/html", "<!DOCTYPE html><html></html>")
	f.Add(200, "application/xml", `<response status="error" code="16"><msg><line>key=`+globalprotecttest.Key+`</line></msg></response>`)
	f.Add(502, "", "")
	c, err := New("pa-fuzz", Config{URL: "https://fw.example.com", APIKey: secret.FromValue(globalprotecttest.Key), Gateways: []string{"gw"}, CommitAdmin: "api"}, &outbound.URLPolicy{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, status int, contentType, body string) {
		if status < 100 || status > 599 {
			return
		}
		resp := &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {contentType}}}
		r, err := c.parse("fuzz", "type=op", resp, []byte(body))
		if err == nil {
			if r == nil || r.Status != "success" || status >= 400 {
				t.Fatalf("success for status %d: %+v", status, r)
			}
			return
		}
		var ce *connectors.Error
		if !errors.As(err, &ce) || ce.Kind == "" {
			t.Fatalf("unclassified error %v", err)
		}
		if strings.Contains(err.Error(), globalprotecttest.Key) {
			t.Fatalf("the key leaked: %v", err)
		}
	})
}
