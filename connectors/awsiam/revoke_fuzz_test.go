package awsiam

import (
	"net/url"
	"testing"
	"time"
)

// FuzzParseRevocation feeds GetUserPolicy/GetRolePolicy documents (outside
// input, URL-encoded JSON) to the parser: it must never panic, and a
// document it accepts must carry a deny-all time that survives a rewrite.
func FuzzParseRevocation(f *testing.F) {
	f.Add(url.PathEscape(revokeDocument("KineticRevoke0123456789abcdef", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))))
	f.Add(`%7B%22Statement%22%3A%5B%5D%7D`)
	f.Add(`{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-01-02T03:04:05Z"}}}]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		rv, ok := parseRevocation(doc)
		if !ok {
			return
		}
		again, ok := parseRevocation(url.PathEscape(revokeDocument(rv.sid, rv.before)))
		if !ok || !again.before.Equal(rv.before.UTC().Truncate(time.Second)) && !again.before.Equal(rv.before) {
			t.Fatalf("rewritten revocation %+v does not parse back (%+v, %t)", rv, again, ok)
		}
	})
}
