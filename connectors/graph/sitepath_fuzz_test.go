package graph

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzSitePath: whatever a policy's sites parameter holds, the Graph path
// built from it stays under /sites/, keeps no user info, has no . or ..
// segment and no query or fragment.
func FuzzSitePath(f *testing.F) {
	for _, s := range []string{
		"https://contoso.sharepoint.com/sites/sales",
		"https://contoso.sharepoint.com",
		"contoso.sharepoint.com,1c2d,3e4f",
		"https://u:p@contoso.sharepoint.com/sites/x",
		"https://contoso.sharepoint.com/sites/../users",
		"https://contoso.sharepoint.com/sites/a%2F..%2Fb?x=1#f",
		"..",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		p, err := sitePath(ref)
		var userinfo string
		if strings.Contains(ref, "://") {
			if u, perr := url.Parse(strings.TrimSpace(ref)); perr == nil && u.User != nil {
				userinfo = u.User.String() + "@" + u.Host
			}
		}
		if err != nil {
			if userinfo != "" && strings.Contains(err.Error(), userinfo) {
				t.Fatalf("error %q repeats user info", err)
			}
			return
		}
		if userinfo != "" {
			t.Fatalf("sitePath(%q) accepted a URL with user info", ref)
		}
		if !strings.HasPrefix(p, "/sites/") || strings.ContainsAny(p, "?#") {
			t.Fatalf("sitePath(%q) = %q", ref, p)
		}
		for _, seg := range strings.Split(strings.TrimPrefix(p, "/sites/"), "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("sitePath(%q) = %q has a dot segment", ref, p)
			}
		}
	})
}
