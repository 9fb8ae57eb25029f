package routing

import (
	"slices"
	"testing"
)

func TestResolve(t *testing.T) {
	tab := New(map[string]Route{
		"it-identity": {Channel: "C0ID", UserGroup: "S0ID", People: []string{"E1"}},
		"empty":       {},
	}, map[string][]string{"hr": {"E2", "slack:S0HR", "teams:abc"}}, "slack:")
	cases := []struct {
		target string
		want   Destination
	}{
		{"channel:it-identity", Destination{Target: "channel:it-identity", Kind: KindChannel, Name: "it-identity", Routed: true, Channel: "C0ID", UserGroup: "S0ID", People: []string{"E1"}}},
		{"channel:nowhere", Destination{Target: "channel:nowhere", Kind: KindChannel, Name: "nowhere"}},
		{"channel:empty", Destination{Target: "channel:empty", Kind: KindChannel, Name: "empty"}},
		{"user:E9", Destination{Target: "user:E9", Kind: KindUser, Name: "E9", Routed: true, People: []string{"E9"}}},
		{"group:hr", Destination{Target: "group:hr", Kind: KindGroup, Name: "hr", Routed: true, People: []string{"E2"}, UserGroups: []string{"S0HR"}}},
		{"group:none", Destination{Target: "group:none", Kind: KindGroup, Name: "none"}},
		{"owner", Destination{Target: "owner", Name: "owner"}},
	}
	for _, c := range cases {
		got := tab.Resolve(c.target)
		if got.Target != c.want.Target || got.Kind != c.want.Kind || got.Name != c.want.Name || got.Routed != c.want.Routed ||
			got.Channel != c.want.Channel || got.UserGroup != c.want.UserGroup || !slices.Equal(got.People, c.want.People) || !slices.Equal(got.UserGroups, c.want.UserGroups) {
			t.Errorf("Resolve(%q) = %+v, want %+v", c.target, got, c.want)
		}
	}
	if got := tab.UserGroups(); !slices.Equal(got, []string{"S0HR", "S0ID"}) {
		t.Errorf("UserGroups() = %v", got)
	}
	var none *Table
	if d := none.Resolve("channel:x"); d.Routed || none.UserGroups() != nil {
		t.Errorf("a nil table routes %+v", d)
	}
}
