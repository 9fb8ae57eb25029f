package identitycenter

import (
	"slices"
	"testing"
)

// FuzzParseDenyPolicy feeds SCP contents (outside input) to the parser: it
// must never panic, and adding an id to a policy it accepts must give a
// policy that parses back with that id and every id it had (but AWS's
// placeholder).
func FuzzParseDenyPolicy(f *testing.F) {
	f.Add(awsExampleSCP)
	f.Add(`{"Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"identitystore:userId":["a","b"]}}}}`)
	f.Add(`{"Statement":[{"Effect":"Deny","Action":["*"],"Resource":"*","Condition":{"StringEquals":{"identitystore:userId":7}}}]}`)
	f.Fuzz(func(t *testing.T, content string) {
		d, err := parseDenyPolicy(content)
		if err != nil {
			return
		}
		before := slices.DeleteFunc(slices.Clone(d.ids), func(s string) bool { return s == placeholder })
		const id = "94482488-3041-7026-18f3-be45837cd0e4"
		again, err := parseDenyPolicy(d.add(id))
		if err != nil {
			t.Fatalf("policy with the id added does not parse: %v", err)
		}
		if !slices.Contains(again.ids, id) {
			t.Fatalf("id not in %v", again.ids)
		}
		for _, x := range before {
			if !slices.Contains(again.ids, x) {
				t.Fatalf("id %q lost: %v", x, again.ids)
			}
		}
	})
}
