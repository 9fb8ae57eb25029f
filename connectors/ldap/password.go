package ldap

import (
	"crypto/rand"
	"encoding/binary"
	"math/big"
	"strings"
	"unicode/utf16"

	goldap "github.com/go-ldap/ldap/v3"
)

// passwordLength is the length of the random passwords reset_password sets.
const passwordLength = 32

const (
	lowers  = "abcdefghijkmnopqrstuvwxyz"
	uppers  = "ABCDEFGHJKLMNPQRSTUVWXYZ"
	digits  = "23456789"
	symbols = "!#%+-.:=?@_~"
)

// randomPassword returns a random password that meets Active Directory's
// complexity rules: all four character classes, and no part of the account
// name or of the entry's name (tokens of three or more characters) in it.
func randomPassword(sam string, dn *goldap.DN) (string, error) {
	var tokens []string
	add := func(s string) {
		for _, t := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
			return strings.ContainsRune(",.-_# \t", r)
		}) {
			if len(t) >= 3 {
				tokens = append(tokens, t)
			}
		}
	}
	if len(sam) >= 3 {
		tokens = append(tokens, strings.ToLower(sam))
	}
	if dn != nil && len(dn.RDNs) > 0 {
		for _, a := range dn.RDNs[0].Attributes {
			add(a.Value)
		}
	}
	classes := []string{lowers, uppers, digits, symbols}
	all := strings.Join(classes, "")
	for {
		b := make([]byte, passwordLength)
		for i := range b {
			set := all
			if i < len(classes) {
				set = classes[i] // one of each class, shuffled below
			}
			n, err := randN(len(set))
			if err != nil {
				return "", err
			}
			b[i] = set[n]
		}
		for i := len(b) - 1; i > 0; i-- { // Fisher–Yates
			j, err := randN(i + 1)
			if err != nil {
				return "", err
			}
			b[i], b[j] = b[j], b[i]
		}
		pw := string(b)
		lower := strings.ToLower(pw)
		if !containsAny(lower, tokens) {
			return pw, nil
		}
	}
}

// randN returns a uniform random number in [0, n).
func randN(n int) (int, error) {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		return 0, err
	}
	return int(v.Int64()), nil
}

func containsAny(s string, tokens []string) bool {
	for _, t := range tokens {
		if strings.Contains(s, t) {
			return true
		}
	}
	return false
}

// encodeUnicodePwd encodes a password the way Active Directory's unicodePwd
// takes it: enclosed in double quotes, in UTF-16LE.
func encodeUnicodePwd(pw string) string {
	u := utf16.Encode([]rune(`"` + pw + `"`))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	return string(b)
}
