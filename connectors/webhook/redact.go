package webhook

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
)

// redacted replaces anything resembling a secret in messages.
const redacted = "<redacted>"

// minFragment is the shortest piece of a secret that is removed on its own:
// a system that echoes part of a token ("invalid key sk_live_4f9a…") must
// not leak that part either. Secrets shorter than this are removed whole.
const minFragment = 8

// redactor removes the configured secrets, in the forms a system may echo
// them (raw, JSON-escaped, URL-escaped, base64) and any fragment of them of
// minFragment bytes or more, from text.
type redactor struct {
	grams map[int]map[string]bool // fragment length → fragments
}

func newRedactor(secrets []string) *redactor {
	r := &redactor{grams: map[int]map[string]bool{}}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		js, _ := json.Marshal(s)
		for _, v := range []string{
			s,
			strings.Trim(string(js), `"`),
			url.QueryEscape(s),
			url.PathEscape(s),
			base64.StdEncoding.EncodeToString([]byte(s)),
			base64.RawURLEncoding.EncodeToString([]byte(s)),
		} {
			r.add(v)
		}
	}
	return r
}

func (r *redactor) add(v string) {
	k := min(len(v), minFragment)
	if k == 0 {
		return
	}
	set := r.grams[k]
	if set == nil {
		set = map[string]bool{}
		r.grams[k] = set
	}
	for i := 0; i+k <= len(v); i++ {
		set[v[i:i+k]] = true
	}
}

// apply returns text with every run covered by a secret fragment replaced
// by "<redacted>".
func (r *redactor) apply(text string) string {
	if r == nil || len(r.grams) == 0 || text == "" {
		return text
	}
	var mark []bool
	for k, set := range r.grams {
		for i := 0; i+k <= len(text); i++ {
			if set[text[i:i+k]] {
				if mark == nil {
					mark = make([]bool, len(text))
				}
				for j := i; j < i+k; j++ {
					mark[j] = true
				}
			}
		}
	}
	if mark == nil {
		return text
	}
	var b strings.Builder
	for i := 0; i < len(text); {
		if !mark[i] {
			b.WriteByte(text[i])
			i++
			continue
		}
		b.WriteString(redacted)
		for i < len(text) && mark[i] {
			i++
		}
	}
	return strings.ToValidUTF8(b.String(), "?")
}
