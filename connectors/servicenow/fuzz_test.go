package servicenow

import (
	"encoding/json"
	"testing"
)

// FuzzRecord decodes any Table API answer into records: it never panics,
// and a field given as a plain string reads the same as value and display
// value (the form searches and writes answer in).
func FuzzRecord(f *testing.F) {
	for _, s := range []string{
		`{"result":[{"sys_id":"a","state":"6","active":"false"}]}`,
		`{"result":{"state":{"value":"2","display_value":"In Progress"},"work_notes":{"value":"","display_value":"x (Work notes)\nnote\n"}}}`,
		`{"result":{"assignment_group":{"value":"d6","link":"https://x/api/now/table/sys_user_group/d6"},"n":3,"b":true,"z":null}}`,
		`{"result":[`, `[]`, `{"result":{"state":[1,2]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var list struct {
			Result []record `json:"result"`
		}
		_ = json.Unmarshal(b, &list)
		var one struct {
			Result record `json:"result"`
		}
		if json.Unmarshal(b, &one) != nil {
			return
		}
		var raw struct {
			Result map[string]json.RawMessage `json:"result"`
		}
		if json.Unmarshal(b, &raw) != nil {
			return
		}
		for k, v := range raw.Result {
			var s string
			if json.Unmarshal(v, &s) == nil {
				if f := one.Result[k]; f.Value != s || f.Display != s {
					t.Fatalf("field %s = %+v, want %q both ways", k, f, s)
				}
			}
		}
	})
}
