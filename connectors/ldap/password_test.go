package ldap

import (
	"strings"
	"testing"
	"unicode"

	goldap "github.com/go-ldap/ldap/v3"
)

func TestRandomPassword(t *testing.T) {
	dn, _ := goldap.ParseDN("CN=Dana Scully,OU=Staff,DC=corp,DC=example")
	seen := map[string]bool{}
	for range 200 {
		pw, err := randomPassword("dscully", dn)
		if err != nil {
			t.Fatal(err)
		}
		if len(pw) != passwordLength || seen[pw] {
			t.Fatalf("password %d chars, repeated %t", len(pw), seen[pw])
		}
		seen[pw] = true
		var lower, upper, digit, symbol bool
		for _, r := range pw {
			switch {
			case unicode.IsLower(r):
				lower = true
			case unicode.IsUpper(r):
				upper = true
			case unicode.IsDigit(r):
				digit = true
			default:
				symbol = true
			}
		}
		if !lower || !upper || !digit || !symbol {
			t.Fatalf("password lacks a character class")
		}
		for _, tok := range []string{"dscully", "dana", "scully"} {
			if strings.Contains(strings.ToLower(pw), tok) {
				t.Fatalf("password contains %q", tok)
			}
		}
	}
}

func TestEncodeUnicodePwd(t *testing.T) {
	got := encodeUnicodePwd("Pä1")
	want := "\"\x00P\x00\xe4\x001\x00\"\x00"
	if got != want {
		t.Fatalf("encodeUnicodePwd = %q, want %q", got, want)
	}
}
