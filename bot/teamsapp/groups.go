package teamsapp

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kineticsec/kinetic/bot/teams/graph"
	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/directory"
)

// GroupReader lists the users of an Entra group, nested groups
// flattened; *graph.Client implements it. Any failure fails the whole
// listing.
type GroupReader interface {
	GroupUsers(ctx context.Context, groupID string) ([]graph.User, error)
}

// DefaultGroupRefresh is Options.GroupRefresh's default.
const DefaultGroupRefresh = 5 * time.Minute

// entraGroups keeps the members of the Entra groups approver groups name
// (approver_groups entries "entra:OBJECT_ID") as HR ids, so the engine
// checks membership inside a transaction without calling Graph. One
// goroutine reads every watched group at Start and then every interval
// (GroupReader, each user mapped to an HR record by people: chat_user_id,
// then email). A group whose read fails keeps its last good members; until
// its first read succeeds it has none: nobody decides through it (fail
// closed), as with Slack user groups.
type entraGroups struct {
	a        *App
	reader   GroupReader
	interval time.Duration

	mu      sync.Mutex
	members map[string][]string // group object id → HR ids
	watched map[string]bool
	wake    chan struct{}
}

func newEntraGroups(a *App, r GroupReader, interval time.Duration) *entraGroups {
	if interval <= 0 {
		interval = DefaultGroupRefresh
	}
	return &entraGroups{a: a, reader: r, interval: interval, members: map[string][]string{}, watched: map[string]bool{}, wake: make(chan struct{}, 1)}
}

// GroupMembers implements engine.Options.GroupMembers for approver_groups
// entries of the form entra:OBJECT_ID: the HR ids of the group's users as
// of the last read, from memory, never blocking. Other entries, and every
// entry when no GroupReader is configured, have no members. A group not
// yet watched is watched from now on and read at once in the background.
func (a *App) GroupMembers(entry string) []string {
	id, ok := strings.CutPrefix(entry, configs.EntraGroupPrefix)
	g := a.groups
	if !ok || id == "" || g == nil {
		return nil
	}
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

// WatchGroups names the Entra groups to keep, as approver_groups entries
// (others are ignored). Call it before Start (kinetic serve passes every
// entry of the service file) so the first read fetches them.
func (a *App) WatchGroups(entries ...string) {
	g := a.groups
	if g == nil {
		return
	}
	g.mu.Lock()
	added := false
	for _, e := range entries {
		if id, ok := strings.CutPrefix(e, configs.EntraGroupPrefix); ok && id != "" && !g.watched[id] {
			g.watched[id], added = true, true
		}
	}
	g.mu.Unlock()
	if added {
		g.kick()
	}
}

func (g *entraGroups) kick() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

func (g *entraGroups) run(ctx context.Context) {
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

func (g *entraGroups) refresh(ctx context.Context) {
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
				g.a.log.WithError(err).WithField("entra_group", id).Warn("reading an Entra approver group failed; keeping its last known members")
			}
			continue
		}
		g.mu.Lock()
		g.members[id] = hrIDs
		g.mu.Unlock()
	}
}

// fetch lists the group's users and maps each to an HR id: by the
// directory's chat_user_id (their object id), else by the email Graph
// gave. Users without an HR record are left out; any other failure fails
// the group, so a partial answer never replaces the last good one.
func (g *entraGroups) fetch(ctx context.Context, id string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	users, err := g.reader.GroupUsers(ctx, id)
	if err != nil {
		return nil, err
	}
	dir := g.a.ppl.dir
	var out []string
	for _, u := range users {
		emp, err := dir.ByChatUserID(ctx, u.ID)
		if errors.Is(err, directory.ErrNotFound) && u.Email() != "" {
			emp, err = dir.ByEmail(ctx, u.Email())
		}
		switch {
		case errors.Is(err, directory.ErrNotFound):
			g.a.log.WithField("entra_group", id).WithField("user", u.ID).Debug("an Entra group member has no HR record")
			continue
		case err != nil:
			return nil, err
		}
		out = append(out, emp.ID)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
