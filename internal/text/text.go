// Package text holds the small string helpers every package needs the same
// way: shortening a string for a message, a column or a card, and plurals.
// Each cut says so with "…".
package text

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// ClipBytes shortens s to at most n bytes of s, cut on a rune boundary, and
// marks the cut with "…" (so a cut string is up to n+3 bytes long). Use it
// for values bound by a byte limit (a database column, an HTTP answer).
func ClipBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n < 0 {
		n = 0
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// ClipRunes shortens s to its first n runes and marks the cut with "…".
func ClipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n < 0 {
		n = 0
	}
	return string([]rune(s)[:n]) + "…"
}

// Fit shortens s to at most n runes in all, "…" included, without
// trailing white space before the "…": for text shown in a field of n
// characters (a chat card).
func Fit(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, count := 0, 0
	for j := range s {
		if count == n-1 {
			i = j
			break
		}
		count++
	}
	return strings.TrimRightFunc(s[:i], unicode.IsSpace) + "…"
}

// OneLine folds every run of white space (line breaks included) into one
// space and trims the ends.
func OneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// DataLine is outside data made fit for one line of a chat message: every
// run of white space (line breaks included) folded into one space, the
// ends trimmed, control characters and invalid UTF-8 dropped.
func DataLine(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case unicode.IsControl(r) || r == utf8.RuneError:
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Plural is word for n == 1 and word+"s" otherwise.
func Plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// MaskEmail shows an email address without most of its local part, for
// chat and logs: "dana.w@gmail.com" is "d***@gmail.com". Something that
// is not name@domain is all masked ("***").
func MaskEmail(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "***"
	}
	r, _ := utf8.DecodeRuneInString(addr)
	return string(r) + "***" + addr[at:]
}
