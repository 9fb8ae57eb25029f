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

// A Teams table resolves the same targets to its own routes: a channel
// target to the route's conversation and people, an approver group to its
// people and its teams: groups (slack: entries left out).
func TestResolveTeams(t *testing.T) {
	tab := New(map[string]Route{
		"it-identity": {Channel: "19:id@thread.tacv2", People: []string{"E1"}},
	}, map[string][]string{"hr": {"E2", "slack:S0HR", "teams:0b1c"}}, "teams:")
	d := tab.Resolve("channel:it-identity")
	if !d.Routed || d.Kind != KindChannel || d.Channel != "19:id@thread.tacv2" || !slices.Equal(d.People, []string{"E1"}) {
		t.Errorf("channel:it-identity = %+v", d)
	}
	if d := tab.Resolve("channel:network"); d.Routed || d.Channel != "" {
		t.Errorf("an unrouted team resolves to %+v", d)
	}
	d = tab.Resolve("group:hr")
	if !d.Routed || !slices.Equal(d.People, []string{"E2"}) || !slices.Equal(d.UserGroups, []string{"0b1c"}) {
		t.Errorf("group:hr = %+v", d)
	}
	if got := tab.UserGroups(); !slices.Equal(got, []string{"0b1c"}) {
		t.Errorf("UserGroups() = %v", got)
	}
}

// A route reached by email alone is routed (not a missing route) and gives
// the email channel its addresses; a chat platform finds nothing of its
// own in it.
func TestEmailOnlyRouteIsRouted(t *testing.T) {
	tb := New(map[string]Route{"hr-partners": {Email: []string{"hrbp@example.test"}}}, nil, "slack:")
	d := tb.Resolve("channel:hr-partners")
	if !d.Routed || d.Channel != "" || d.UserGroup != "" || len(d.People) != 0 || len(d.Emails) != 1 || d.Emails[0] != "hrbp@example.test" {
		t.Fatalf("%+v", d)
	}
	if d := tb.Resolve("channel:payroll"); d.Routed {
		t.Fatalf("unrouted name resolved: %+v", d)
	}
}
