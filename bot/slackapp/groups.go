package slackapp

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kineticsec/kinetic/configs"
)

// userGroups keeps the members of the Slack user groups that approver
// groups name (approver_groups entries "slack:S0123ABCD") as HR ids, so the
// engine can check membership inside a transaction without calling Slack.
// One goroutine refreshes every watched group at start and then every
// interval (usergroups.users.list, each member mapped to an HR record by
// people); a group whose refresh fails keeps its last good members. Until a
// group's first refresh succeeds it has no members: nobody decides through
// it (fail closed).
type userGroups struct {
	a        *App
	interval time.Duration

	mu      sync.Mutex
	members map[string][]string // usergroup id → HR ids
	watched map[string]bool
	wake    chan struct{}
}

func newUserGroups(a *App, interval time.Duration) *userGroups {
	return &userGroups{a: a, interval: interval, members: map[string][]string{}, watched: map[string]bool{}, wake: make(chan struct{}, 1)}
}

// GroupMembers implements engine.Options.GroupMembers for approver_groups
// entries of the form slack:USERGROUP_ID: it returns the HR ids of the user
// group's members as of the last refresh, from memory, never blocking. An
// entry with another prefix has no members. A group not yet watched (see
// WatchGroups) is watched from now on and refreshed at once in the
// background; until then it has no members.
func (a *App) GroupMembers(entry string) []string {
	id, ok := strings.CutPrefix(entry, configs.SlackGroupPrefix)
	if !ok || id == "" {
		return nil
	}
	g := a.groups
	g.mu.Lock()
	m, known := g.members[id], g.watched[id]
	if !known {
		g.watched[id] = true
	}
	g.mu.Unlock()
	if !known {
		g.kick()
	}
	return slices.Clone(m)
}

// WatchGroups names the Slack user groups to keep, given as approver_groups
// entries; entries that are not slack:ID are ignored. Call it before Start
// (kinetic serve passes every entry of the service file) so the first
// refresh fetches them.
func (a *App) WatchGroups(entries ...string) {
	g := a.groups
	g.mu.Lock()
	added := false
	for _, e := range entries {
		if id, ok := strings.CutPrefix(e, configs.SlackGroupPrefix); ok && id != "" && !g.watched[id] {
			g.watched[id], added = true, true
		}
	}
	g.mu.Unlock()
	if added {
		g.kick()
	}
}

func (g *userGroups) kick() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// run refreshes the watched groups now, then every interval and whenever a
// new group is watched, until ctx ends.
func (g *userGroups) run(ctx context.Context) {
	tick := time.NewTicker(g.interval)
	defer tick.Stop()
	for {
		g.refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-g.wake:
		}
	}
}

// refresh fetches every watched group's members. Runs on the run goroutine.
func (g *userGroups) refresh(ctx context.Context) {
	g.mu.Lock()
	ids := make([]string, 0, len(g.watched))
	for id := range g.watched {
		ids = append(ids, id)
	}
	g.mu.Unlock()
	slices.Sort(ids)
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		hrIDs, err := g.fetch(ctx, id)
		if err != nil {
			if ctx.Err() == nil {
				g.a.log.WithError(err).WithField("usergroup", id).Warn("refreshing a Slack user group failed; keeping its last known members")
			}
			continue
		}
		g.mu.Lock()
		g.members[id] = hrIDs
		g.mu.Unlock()
	}
}

// fetch lists a user group's members and maps each to an HR id; members
// without an HR record are left out (and logged at debug level). Any other
// failure fails the whole group, so a partial answer never replaces the
// last good one.
func (g *userGroups) fetch(ctx context.Context, id string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	users, err := g.a.api.GetUserGroupMembersContext(ctx, id)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, u := range users {
		emp, err := g.a.ppl.hr(ctx, u)
		if errors.Is(err, errNoPerson) {
			g.a.log.WithFields(map[string]any{"usergroup": id, "slack_user": u}).Debug("Slack user group member has no HR record; not an approver")
			continue
		}
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, emp.ID) {
			out = append(out, emp.ID)
		}
	}
	return out, nil
}
