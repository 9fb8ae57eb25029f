package outbound

import (
	"strings"
	"testing"
)

func TestCheckURLForm(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		f    URLForm
		want string // "" = accepted
	}{
		{"https://hr.example.com/scim/v2", URLForm{}, ""},
		{"http://hr.example.com/", URLForm{}, ""},
		{"http://127.0.0.1:8080/", URLForm{HTTPSOnly: true}, ""},
		{"http://localhost/", URLForm{HTTPSOnly: true}, ""},
		{"https://x.example/report?format=json", URLForm{AllowQuery: true}, ""},
		{"", URLForm{}, "base_url is required"},
		{"hr.example.com/api", URLForm{}, "base_url has no scheme"},
		{"ftp://hr.example.com/", URLForm{}, `must use http or https (got scheme "ftp")`},
		{"http://hr.example.com/", URLForm{HTTPSOnly: true}, "base_url must use https"},
		{"https:///path", URLForm{}, "base_url has no host"},
		{"https://svc:hunter2@hr.example.com/", URLForm{CredentialsHint: "put credentials in auth"}, "must not carry user info: put credentials in auth"},
		{"https://hr.example.com/?api_key=hunter2", URLForm{}, "base_url must not have a query"},
		{"https://hr.example.com/#x", URLForm{}, "base_url must not have a fragment"},
		{"https://hr.example.com/%zz?k=hunter2", URLForm{}, "not a valid absolute URL"},
	} {
		_, err := CheckURLForm("base_url", tc.raw, tc.f)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q refused: %v", tc.raw, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: got %v, want %q", tc.raw, err, tc.want)
		case err != nil && strings.Contains(err.Error(), "hunter2"):
			t.Errorf("%q: the message repeats a credential: %v", tc.raw, err)
		}
	}
}
