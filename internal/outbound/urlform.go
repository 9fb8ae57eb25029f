package outbound

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// URLForm says what a configured URL (a base URL, a token endpoint, a
// report URL) may look like. CheckURLForm checks it; URLPolicy decides
// separately where the URL may point.
type URLForm struct {
	// AllowQuery accepts a query (a report URL carries its prompts).
	AllowQuery bool
	// HTTPSOnly refuses plain http except for loopback hosts (tests):
	// the URL receives credentials.
	HTTPSOnly bool
	// CredentialsHint ends the user-info message, saying where
	// credentials go instead (e.g. "put credentials in auth").
	CredentialsHint string
	// QueryHint ends the query message.
	QueryHint string
}

// CheckURLForm checks that raw is an absolute http(s) URL with a host and
// no user info or fragment, and no query unless f allows one. what names
// the URL in the message ("base_url"). Messages never repeat the URL: its
// user info or query may hold a credential.
func CheckURLForm(what, raw string, f URLForm) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, fmt.Errorf("%s is required", what)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		// url.Error repeats the URL.
		return nil, fmt.Errorf("%s is not a valid absolute URL", what)
	}
	hint := func(h string) string {
		if h == "" {
			return ""
		}
		return ": " + h
	}
	switch u.Scheme {
	case "https":
	case "http":
		if f.HTTPSOnly && !IsLoopbackHost(u.Hostname()) {
			return nil, fmt.Errorf("%s must use https (http is accepted only for localhost)", what)
		}
	case "":
		return nil, fmt.Errorf("%s has no scheme: write it as https://HOST/… (it must use http or https)", what)
	default:
		return nil, fmt.Errorf("%s must use http or https (got scheme %q)", what, u.Scheme)
	}
	switch {
	case u.Host == "":
		return nil, fmt.Errorf("%s has no host", what)
	case u.User != nil:
		return nil, fmt.Errorf("%s must not carry user info%s", what, hint(f.CredentialsHint))
	case !f.AllowQuery && (u.RawQuery != "" || u.ForceQuery):
		return nil, fmt.Errorf("%s must not have a query%s", what, hint(f.QueryHint))
	case u.Fragment != "":
		return nil, fmt.Errorf("%s must not have a fragment", what)
	}
	return u, nil
}

// IsLoopbackHost reports whether host is localhost or a loopback address.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
