package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/kineticsec/kinetic/store"
)

// A person's escalation of an action (the Escalate now button, the API):
// the next level of the policy's escalation, once per request. The sweep's
// own escalation of overdue actions is sweep_escalations.go.

// EscalateNow fires the next escalation level of an action that is not
// done — pending, running or failed — now: the first level of the policy's
// escalation that has not fired for it yet (a level fired this way is not
// fired again by the SLA sweep), once. When every level has fired it says
// so. The escalation says what is stuck and since when, and goes to that
// level's targets (with no levels in the policy: the owning team and the
// security alerts channel, as level 1).
func (e *Engine) EscalateNow(ctx context.Context, actionID int64, actor string) error {
	levels := e.policy.Load().File.Escalation.Levels
	var ev *Event
	err := e.operate(ctx, actionID, actor, OpEscalate, func(tx *gorm.DB, au *auditBuf, c *store.Case, a *store.Action, now time.Time) error {
		if store.ActionFinal(a.Status) && a.Status != store.ActionFailed {
			return fmt.Errorf("%w: %s is already %s", ErrInvalidRequest, a.Name, a.Status)
		}
		done, err := store.EscalationLevels(tx, c.ID, a.ID, "sla")
		if err != nil {
			return err
		}
		level := 1
		for done[level] {
			level++
		}
		last := max(len(levels), 1)
		if level > last {
			return fmt.Errorf("%w: %s was already escalated to its last level (%d)", ErrInvalidRequest, a.Name, last)
		}
		notify := []string{"owner", "security_alerts"}
		if level <= len(levels) {
			notify = levels[level-1].Notify
		}
		targets := e.escalationTargets(a, notify)
		tj, _ := json.Marshal(targets)
		detail := fmt.Sprintf("%s (%s on %s) for %s is %s%s; escalated to level %d by %s", a.Name, a.Operation, a.Connector, c.EmployeeName,
			a.Status, stuckSince(a, now), level, actor)
		if a.LastError != "" {
			detail += "; last error: " + a.LastError
		} else if a.BlockedReason != "" {
			detail += "; " + a.BlockedReason
		}
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&store.Escalation{CaseID: c.ID, ActionID: a.ID, Level: level, Kind: "sla",
			Targets: string(tj), Detail: detail, At: now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("%w: level %d of %s was escalated a moment ago", ErrInvalidRequest, level, a.Name)
		}
		au.add(store.Entry{Time: now, CaseID: c.ID, ActionID: a.ID, Actor: actor, System: a.Connector, Event: "action.escalated", Result: fmt.Sprintf("level %d", level),
			Detail: detail + " → " + strings.Join(targets, ", ")})
		ev = &Event{Kind: EventEscalation, CaseID: c.ID, ActionID: a.ID, Name: a.Name, Status: a.Status, Level: level, Targets: targets, Detail: detail, Actor: actor, At: now}
		return nil
	})
	if err == nil && ev != nil {
		e.emit(*ev)
	}
	return err
}

// stuckSince says since when an action has been in its status, and by how
// much it is overdue: " since 2026-12-07T15:02:00Z (12m0s), overdue by 2m0s".
func stuckSince(a *store.Action, now time.Time) string {
	var since *time.Time
	switch a.Status {
	case store.ActionFailed:
		since = a.FinishedAt
	case store.ActionRunning:
		since = a.StartedAt
	case store.ActionQueued:
		since = a.QueuedAt
	}
	if since == nil {
		t := a.CreatedAt
		since = &t
	}
	out := fmt.Sprintf(" since %s (%s)", since.UTC().Format(time.RFC3339), now.Sub(*since).Round(time.Second))
	if a.DueAt != nil && now.After(*a.DueAt) {
		out += fmt.Sprintf(", overdue by %s (due %s)", now.Sub(*a.DueAt).Round(time.Second), a.DueAt.UTC().Format(time.RFC3339))
	}
	return out
}
