package view

import "testing"

// Only an absolute http(s) URL that cannot end or break a chat link is
// linked.
func TestLinkURL(t *testing.T) {
	for u, want := range map[string]bool{
		"https://corp.service-now.com/incident.do?sys_id=9d38": true,
		"http://127.0.0.1:8080/browse/OPS-1":                   true,
		"HTTPS://corp.atlassian.net/browse/FAC-42":             true,
		"javascript:alert(1)":                                  false,
		"ftp://files.corp.example/x":                           false,
		"https:///nohost":                                      false,
		"//corp.example/x":                                     false,
		"https://x.example/a|<!channel>":                       false,
		"https://x.example/a>b":                                false,
		"https://x.example/a)(b":                               false,
		"https://x.example/a b":                                false,
		"https://x.example/a\nb":                               false,
		"https://x.example/é":                                  false,
		"":                                                     false,
	} {
		if got := LinkURL(u) != ""; got != want {
			t.Errorf("LinkURL(%q) links %t; want %t", u, got, want)
		}
	}
}
