package jira

import (
	"encoding/json"
	"testing"
)

// FuzzADF checks the ADF rendering of any note: it never has an empty
// text node (Jira refuses one), survives a JSON round trip, and reads back
// as the note with white space folded — the comparison that keeps a
// retried note from being added twice.
func FuzzADF(f *testing.F) {
	for _, s := range []string{"", "a", "a\nb", "a\r\n\r\nb", "\n\n\n", "  x  \n\n  y", "tab\there", "é\u2028ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		doc := toADF(s)
		var walk func(adfNode)
		walk = func(n adfNode) {
			if n.Type == "text" && n.Text == "" {
				t.Fatalf("empty text node for %q", s)
			}
			for _, c := range n.Content {
				walk(c)
			}
		}
		walk(doc)
		b, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		var back adfNode
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if got, want := adfText(back), fold(s); got != want {
			t.Fatalf("adfText(toADF(%q)) = %q, want %q", s, got, want)
		}
	})
}
