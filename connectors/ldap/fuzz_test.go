package ldap

import (
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// Fuzz targets for the LDAP connector's configuration values (the url and
// keep_groups entries of the service file). Seeds live in
// testdata/fuzz/<target>.

// FuzzParseURL checks parseURL: an accepted URL is ldap or ldaps with a
// host and a port from 1 to 65535 (the scheme's default when none is
// given) and nothing else; a refusal never repeats the URL's user info,
// which may hold a password.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"ldaps://dc1.corp.example.com:636", "ldap://10.0.0.5", " ldaps://[2001:db8::1]/ ", "ldaps://dc1:ldaps",
		"ldaps://admin:Hunter2-pass@dc1.corp.example.com", "ldap://dc1:0", "ldaps://dc1/dc=corp,dc=example?sub",
		"https://dc1.corp.example.com", "ldaps:dc1", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := parseURL(raw)
		if err != nil {
			if p, perr := url.Parse(strings.TrimSpace(raw)); perr == nil && p.User != nil {
				if pw, ok := p.User.Password(); ok && len(pw) >= 4 && strings.Contains(err.Error(), pw) {
					// The password may be a word of the message itself ("pass"
					// in bind_password): it is repeated only if the same URL
					// with another password is refused with fewer of it.
					q := *p
					q.User = url.UserPassword(p.User.Username(), "x")
					if _, qerr := parseURL(q.String()); qerr == nil || strings.Count(qerr.Error(), pw) < strings.Count(err.Error(), pw) {
						t.Fatalf("refusal %q repeats the password", err)
					}
				}
			}
			return
		}
		if u.Scheme != "ldap" && u.Scheme != "ldaps" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
			t.Fatalf("accepted %q as %#v", raw, u)
		}
		host, port, err := net.SplitHostPort(u.Host)
		n, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			t.Fatalf("accepted %q with host %q", raw, u.Host)
		}
		if again, err := parseURL(u.String()); err != nil || again.String() != u.String() {
			t.Fatalf("%q parsed as %q, which parses as %v, %v", raw, u, again, err)
		}
	})
}

// FuzzParseGroupRef checks parseGroupRef: an entry with '=' is a DN with at
// least one RDN, anything else a trimmed, non-empty CN; never both.
func FuzzParseGroupRef(f *testing.F) {
	for _, s := range []string{"CN=Sales,OU=Groups,DC=corp,DC=example,DC=com", "Domain Users", " VPN Users ", "cn=x+uid=y,dc=a", "=", "CN=", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseGroupRef(s)
		if err != nil {
			if r.dn != nil || r.cn != "" {
				t.Fatalf("a refusal with a result: %+v", r)
			}
			return
		}
		switch {
		case r.dn != nil && r.cn != "", r.dn == nil && r.cn == "":
			t.Fatalf("%q parsed as %+v", s, r)
		case r.dn != nil && (len(r.dn.RDNs) == 0 || !strings.Contains(s, "=")):
			t.Fatalf("%q parsed as DN %v", s, r.dn)
		case r.dn == nil && (r.cn != strings.TrimSpace(r.cn) || strings.Contains(r.cn, "=")):
			t.Fatalf("%q parsed as CN %q", s, r.cn)
		}
	})
}
