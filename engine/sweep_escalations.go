package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/store"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Sweep duty: overdue actions escalate level by level.

// sweepEscalations escalates overdue actions, level by level, once each.
// An action that completes is no longer overdue, so escalation stops.
func (e *Engine) sweepEscalations(ctx context.Context) (int, error) {
	levels := e.policy.Load().File.Escalation.Levels
	if len(levels) == 0 {
		return 0, nil
	}
	now := e.clock()
	overdue, err := e.store.OverdueActions(ctx, now, 500)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, a := range overdue {
		var evs []Event
		err := e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
			evs = nil
			done, err := store.EscalationLevels(tx, a.CaseID, a.ID, "sla")
			if err != nil {
				return err
			}
			var c store.Case
			if err := tx.First(&c, a.CaseID).Error; err != nil {
				return err
			}
			for i, l := range levels {
				level := i + 1
				if done[level] || now.Before(a.DueAt.Add(l.After.D())) {
					continue
				}
				targets := e.escalationTargets(&a, l.Notify)
				tj, _ := json.Marshal(targets)
				stuck := now.Sub(*a.DueAt).Round(time.Second)
				detail := fmt.Sprintf("%s (%s on %s) for %s is overdue by %s (due %s), status %s", a.Name, a.Operation, a.Connector,
					c.EmployeeName, stuck, a.DueAt.Format(time.RFC3339), a.Status)
				if a.LastError != "" {
					detail += "; last error: " + a.LastError
				} else if a.BlockedReason != "" {
					detail += "; " + a.BlockedReason
				}
				// ON CONFLICT DO NOTHING: another sweeper may have escalated this
				// level first (a unique violation would abort a PostgreSQL
				// transaction).
				res := tx.Clauses(clause.OnConflict{DoNothing: true}).
					Create(&store.Escalation{CaseID: a.CaseID, ActionID: a.ID, Level: level, Kind: "sla", Targets: string(tj), Detail: detail, At: now})
				if res.Error != nil {
					return res.Error
				}
				if res.RowsAffected == 0 {
					continue
				}
				au.add(store.Entry{Time: now, CaseID: a.CaseID, ActionID: a.ID, Actor: "sweep", System: a.Connector,
					Event: "action.escalated", Result: fmt.Sprintf("level %d", level), Detail: detail + " → " + strings.Join(targets, ", ")})
				evs = append(evs, Event{Kind: EventEscalation, CaseID: a.CaseID, ActionID: a.ID, Name: a.Name, Status: a.Status, Level: level,
					Targets: targets, Detail: detail, At: now})
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		n += len(evs)
		e.emit(evs...)
	}
	return n, nil
}

func (e *Engine) escalationTargets(a *store.Action, notify []string) []string {
	var out []string
	for _, t := range notify {
		switch {
		case t == configs.TargetOwner:
			if o := e.owners[a.Connector]; o != "" {
				out = append(out, "channel:"+strings.TrimPrefix(o, "channel:"))
			} else if e.secChan != "" {
				out = append(out, "channel:"+e.secChan) // no owner configured: the security team hears of it
			}
		case t == configs.TargetSecurityAlerts:
			if e.secChan != "" {
				out = append(out, "channel:"+e.secChan)
			}
		default:
			out = append(out, t)
		}
	}
	return out
}
