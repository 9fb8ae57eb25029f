package hrpath

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func doc(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

const record = `{
	"data": {"userId": "u-1", "Email": "a@x"},
	"employees": [{"id": 7}, {"id": 8}],
	"Work Email": "w@x",
	"emails": [{"type": "home", "value": "h@x"}, {"type": "work", "value": "wk@x", "primary": true}],
	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "E1", "manager": {"value": "m-1"}}
}`

// TestModes resolves the same paths in both modes: exact keys and list
// indexes only, or SCIM-style lenient matching.
func TestModes(t *testing.T) {
	r := doc(t, record)
	cases := []struct {
		path         string
		exact, lenid any // nil: not found
	}{
		{"data.userId", "u-1", "u-1"},
		{"data.userid", nil, "u-1"},               // case: lenient only
		{"data.email", nil, "a@x"},                // case: lenient only
		{"employees.1.id", json.Number("8"), nil}, // index: exact only
		{"employees.id", nil, json.Number("7")},   // first element: lenient only
		{"Work Email", "w@x", "w@x"},              // a key with a space
		{"missing|data.userId", nil, "u-1"},       // alternatives: lenient only
		{"emails[type eq \"work\"].value", nil, "wk@x"},
		{"emails[primary].value", nil, "wk@x"},
		{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", nil, "E1"},
		{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value", nil, "m-1"},
		{"data.userId.more", nil, nil},
	}
	for _, c := range cases {
		for _, m := range []struct {
			mode Mode
			want any
		}{{Exact, c.exact}, {Lenient, c.lenid}} {
			p, err := Parse(c.path, m.mode)
			if err != nil {
				if m.want != nil {
					t.Errorf("Parse(%q, %d): %v", c.path, m.mode, err)
				}
				continue
			}
			v, ok := p.Lookup(r)
			if m.want == nil {
				if ok && v != nil {
					t.Errorf("mode %d: %q = %v, want not found", m.mode, c.path, v)
				}
				continue
			}
			if !ok || !reflect.DeepEqual(v, m.want) {
				t.Errorf("mode %d: %q = %v, %v; want %v", m.mode, c.path, v, ok, m.want)
			}
		}
	}
}

func TestParse(t *testing.T) {
	for _, s := range []string{"a..b", "a.", ".a", "a. .b"} {
		if _, err := Parse(s, Exact); err == nil {
			t.Errorf("Parse(%q, Exact) accepted it", s)
		}
	}
	for _, s := range []string{"a|", "emails[primary", "emails[type is work]", "urn:x:", "a."} {
		if _, err := Parse(s, Lenient); err == nil {
			t.Errorf("Parse(%q, Lenient) accepted it", s)
		}
	}
	for _, m := range []Mode{Exact, Lenient} {
		if p, err := Parse("", m); err != nil || !p.IsZero() {
			t.Errorf("Parse(\"\", %d) = %v, %v; want the zero Path", m, p, err)
		}
	}
	if p, _ := Parse("-", Lenient); !p.IsZero() {
		t.Error(`lenient "-" maps something`)
	}
	if p, _ := Parse("-", Exact); p.IsZero() {
		t.Error(`exact "-" is not the key "-"`)
	}
	p, _ := Parse("displayName|name.formatted|urn:x:y:employeeNumber", Lenient)
	if got := p.Heads(); !reflect.DeepEqual(got, []string{"displayName", "name", "urn:x:y"}) {
		t.Errorf("Heads = %v", got)
	}
	if n := len(p.Alternatives()); n != 3 {
		t.Errorf("%d alternatives, want 3", n)
	}
}

func TestMember(t *testing.T) {
	o := map[string]any{"workEmail": "a@x"}
	if _, ok := Member(o, "WORKEMAIL", Exact); ok {
		t.Error("exact Member matched another case")
	}
	if v, ok := Member(o, "WORKEMAIL", Lenient); !ok || v != "a@x" {
		t.Errorf("lenient Member = %v, %v", v, ok)
	}
}

func TestRenderers(t *testing.T) {
	r := doc(t, `{"n": 42, "s": " x ", "w": {"value": "v", "id": 1}, "o": {"a": 1}, "l": ["a", "b"], "z": null}`)
	for key, want := range map[string]string{"n": "42", "s": "x", "w": "v", "z": ""} {
		if got, err := Scalar(r[key]); err != nil || got != want {
			t.Errorf("Scalar(%s) = %q, %v; want %q", key, got, err, want)
		}
	}
	for _, key := range []string{"o", "l"} {
		if _, err := Scalar(r[key]); err == nil {
			t.Errorf("Scalar(%s) accepted an object or list", key)
		}
	}
	if got := Strings(r["l"]); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("Strings(list) = %v", got)
	}
	if got := Strings(r["w"]); !reflect.DeepEqual(got, []string{"v"}) {
		t.Errorf("Strings(wrapper) = %v", got)
	}
}
