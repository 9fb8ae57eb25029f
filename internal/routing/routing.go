// Package routing resolves the engine's notification targets (view.Event
// Targets: channel:NAME, user:HR-ID, group:NAME) to the destinations of one
// chat platform: channels to post in, user groups to mention, and HR ids
// to message directly. It is platform-neutral: the Slack front end builds
// a Table from the service file's routing.NAME.slack blocks, and a
// Microsoft Teams front end builds its own from routing.NAME.teams; both
// deliver the same targets. It imports no chat or configuration package;
// the composition (internal/app) fills it from configs.
package routing

import (
	"slices"
	"strings"
)

// Route is where one target name (a connector's owning team, the security
// alerts channel) reaches people on one platform. Any of its fields may be
// empty; a Route with none reaches nobody.
type Route struct {
	// Channel is the platform's channel id to post in (Slack C…, a Teams
	// channel conversation 19:…@thread.tacv2).
	Channel string
	// UserGroup is the platform's user group id (Slack S…): mentioned in
	// Channel's post, or its members messaged directly when there is no
	// Channel.
	UserGroup string
	// People are HR ids messaged directly.
	People []string
	// Email are addresses sent the same text by email (routing.NAME.email:
	// people with no chat account, such as an HR partner on email only).
	// The email channel delivers them; a chat platform's table carries
	// them so that a route reached by email alone is not a missing route.
	Email []string
}

// Table maps target names to one platform's routes. The zero value and
// nil are empty tables: nothing is routed.
type Table struct {
	routes map[string]Route
	groups map[string][]string
	prefix string
}

// New returns the table of routes (by target name), with the approver
// groups (by name, as in the service file's approver_groups) that
// group:NAME targets name. platformPrefix marks a group entry that is a
// user group of this platform ("slack:" for "slack:S0123"); entries with
// another platform's prefix are left out.
func New(routes map[string]Route, groups map[string][]string, platformPrefix string) *Table {
	t := &Table{routes: map[string]Route{}, groups: map[string][]string{}, prefix: platformPrefix}
	for k, r := range routes {
		r.People = slices.Clone(r.People)
		r.Email = slices.Clone(r.Email)
		t.routes[k] = r
	}
	for k, ms := range groups {
		t.groups[k] = slices.Clone(ms)
	}
	return t
}

// Route returns the route of a target name and whether there is one.
func (t *Table) Route(name string) (Route, bool) {
	if t == nil {
		return Route{}, false
	}
	r, ok := t.routes[name]
	return r, ok
}

// Names returns every routed name, sorted.
func (t *Table) Names() []string {
	if t == nil {
		return nil
	}
	out := make([]string, 0, len(t.routes))
	for k := range t.routes {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// UserGroups returns every user group id the table names (routes and
// approver groups), sorted, without repeats: the ones a front end keeps
// the members of.
func (t *Table) UserGroups() []string {
	if t == nil {
		return nil
	}
	var out []string
	for _, r := range t.routes {
		if r.UserGroup != "" {
			out = append(out, r.UserGroup)
		}
	}
	for _, ms := range t.groups {
		for _, m := range ms {
			if id, ok := strings.CutPrefix(m, t.prefix); ok && t.prefix != "" && id != "" {
				out = append(out, id)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Kind is what a target names.
type Kind string

// Kinds of target.
const (
	KindChannel Kind = "channel" // channel:NAME, a routed team or channel
	KindUser    Kind = "user"    // user:HR-ID, one person
	KindGroup   Kind = "group"   // group:NAME, an approver group
	KindUnknown Kind = ""        // anything else
)

// Destination is one target resolved for a platform.
type Destination struct {
	// Target is the event's target as written ("channel:it-identity").
	Target string
	Kind   Kind
	// Name is the target's name: the team or channel name, the HR id, the
	// approver group's name.
	Name string
	// Routed is false when the target names nothing this platform can
	// reach: a channel:NAME without a route, an unknown approver group,
	// an unparseable target. Such a target is a delivery failure.
	Routed bool
	// Channel, UserGroup and People are where to deliver: a channel to
	// post in, a user group (mentioned in Channel's post, or its members
	// messaged when Channel is empty) and HR ids to message directly.
	Channel   string
	UserGroup string
	People    []string
	// UserGroups are an approver group's user groups of this platform,
	// whose members are messaged directly.
	UserGroups []string
	// Emails are addresses the email channel sends to (a channel target's
	// routing.NAME.email).
	Emails []string
}

// Resolve resolves one event target.
func (t *Table) Resolve(target string) Destination {
	kind, name, ok := strings.Cut(target, ":")
	d := Destination{Target: target, Name: name}
	if !ok || name == "" {
		d.Name = target
		return d
	}
	switch Kind(kind) {
	case KindChannel:
		d.Kind = KindChannel
		r, found := t.Route(name)
		d.Routed = found && (r.Channel != "" || r.UserGroup != "" || len(r.People) > 0 || len(r.Email) > 0)
		d.Channel, d.UserGroup, d.People, d.Emails = r.Channel, r.UserGroup, slices.Clone(r.People), slices.Clone(r.Email)
	case KindUser:
		d.Kind, d.Routed, d.People = KindUser, true, []string{name}
	case KindGroup:
		d.Kind = KindGroup
		if t == nil {
			return d
		}
		ms, found := t.groups[name]
		d.Routed = found
		for _, m := range ms {
			if i := strings.Index(m, ":"); i >= 0 {
				if t.prefix != "" && strings.HasPrefix(m, t.prefix) && len(m) > len(t.prefix) {
					d.UserGroups = append(d.UserGroups, m[len(t.prefix):])
				}
				continue
			}
			d.People = append(d.People, m)
		}
	}
	return d
}
