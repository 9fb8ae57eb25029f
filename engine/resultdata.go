package engine

import (
	"encoding/json"
	"slices"
	"strings"
)

// Result merging: what each attempt of an action changed, kept across
// attempts (finish, handBack).

// mergeResultData adds an attempt's result data to what earlier attempts
// of the action recorded (prev, a JSON object) and returns the JSON to
// store: a key both have keeps the union of their values when both are
// JSON arrays or comma-separated lists (groups removed by each attempt),
// else the newer value.
func mergeResultData(prev string, next map[string]string) string {
	merged := map[string]string{}
	if prev != "" {
		_ = json.Unmarshal([]byte(prev), &merged)
	}
	for k, v := range next {
		old, ok := merged[k]
		if !ok || old == v || old == "" {
			merged[k] = v
			continue
		}
		var a, b []string
		if json.Unmarshal([]byte(old), &a) == nil && json.Unmarshal([]byte(v), &b) == nil {
			for _, x := range b {
				if !slices.Contains(a, x) {
					a = append(a, x)
				}
			}
			out, _ := json.Marshal(a)
			merged[k] = string(out)
			continue
		}
		a = strings.Split(old, ",")
		for _, x := range strings.Split(v, ",") {
			if !slices.Contains(a, x) {
				a = append(a, x)
			}
		}
		merged[k] = strings.Join(a, ",")
	}
	if len(merged) == 0 {
		return ""
	}
	out, _ := json.Marshal(merged)
	return string(out)
}
