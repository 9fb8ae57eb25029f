package frontend

import (
	"context"
	"slices"
	"time"

	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/store"
)

// Zone is the employee's time zone, UTC when unknown.
func Zone(emp *directory.Employee) *time.Location {
	if emp != nil && emp.TimeZone != "" {
		if loc, err := time.LoadLocation(emp.TimeZone); err == nil {
			return loc
		}
	}
	return time.UTC
}

// StatusView is what a status card shows of case c (with its actions)
// beyond the case itself, for either platform's builder: people's names
// (name gives an HR id's display name), the employee's time zone, the
// exceptions still pending, and the policy's descriptions of actions
// planned before descriptions were stored on them (acts is c's actions
// with those filled in).
func StatusView(ctx context.Context, eng *engine.Engine, dir directory.Directory, c *store.Case,
	name func(ctx context.Context, hrID string) string) (acts []store.Action, x blocks.StatusExtras) {
	x.Kinds = map[string]string{}
	acts = slices.Clone(c.Actions)
	if pol := eng.Policy(); pol != nil {
		for i := range acts {
			if def := pol.File.Actions[acts[i].Name]; acts[i].Description == "" && def != nil {
				acts[i].Description = def.Description
			}
		}
		for kind, def := range pol.File.Exceptions {
			if def != nil && def.Description != "" {
				x.Kinds[kind] = def.Description
			}
		}
	}
	if c.Status != store.CaseCancelled && c.ClosedAt == nil {
		if aps, err := eng.Store().Approvals(ctx, store.ApprovalPending, c.ID, 20); err == nil {
			x.Pending = aps
		}
	}
	if c.RevokedAt != nil && store.CaseOpen(c.Status) {
		if items, err := eng.OpenItems(ctx, c.ID); err == nil {
			x.Open = items
		}
	}
	ids := []string{c.Requester}
	for _, ap := range x.Pending {
		ids = append(ids, ap.Requester)
	}
	x.Names = Names(ctx, name, ids...)
	if dir != nil {
		if emp, err := dir.ByID(ctx, c.EmployeeID); err == nil {
			x.Zone = Zone(emp)
		}
	}
	return acts, x
}

// Names maps HR ids to display names (name gives one; an id it cannot name
// is left out, and builders show the id).
func Names(ctx context.Context, name func(ctx context.Context, hrID string) string, hrIDs ...string) map[string]string {
	out := make(map[string]string, len(hrIDs))
	for _, id := range hrIDs {
		if _, done := out[id]; done || id == "" {
			continue
		}
		if n := name(ctx, id); n != id {
			out[id] = n
		}
	}
	return out
}
