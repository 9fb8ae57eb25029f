package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/store"
)

// Sweep duty: notices nobody acknowledged escalate level by level.

// sweepNotices escalates notices still unacknowledged past their due time
// (sent time plus the notify action's SLA) by the policy's escalation
// levels, once each: the owner level reaches the receiving team itself
// (channel:TEAM), the others as for overdue actions. An acknowledged
// notice stops escalating.
func (e *Engine) sweepNotices(ctx context.Context) (int, error) {
	levels := e.policy.Load().File.Escalation.Levels
	if len(levels) == 0 {
		return 0, nil
	}
	now := e.clock()
	open, err := e.store.UnacknowledgedSince(ctx, now, 500)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, nt := range open {
		if nt.EscalatedLevel >= len(levels) {
			continue
		}
		a, err := e.store.Action(ctx, nt.ActionID)
		if err != nil {
			return n, err
		}
		due := nt.SentAt.Add(a.SLA)
		l := levels[nt.EscalatedLevel]
		if now.Before(due.Add(l.After.D())) {
			continue
		}
		level := nt.EscalatedLevel + 1
		targets := noticeTargets(nt.Team, l.Notify, e.secChan)
		var evs []Event
		err = e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
			evs = nil
			ok, err := store.MarkNoticeEscalated(tx, nt.ID, nt.EscalatedLevel, now)
			if err != nil || !ok {
				return err // acknowledged meanwhile, or another sweeper fired this level
			}
			au.st.NoticeEscalated(nt.CaseID, nt.ID, level)
			detail := fmt.Sprintf("notice %d to %s (%s, sent %s) is unacknowledged %s after it was due", nt.ID, nt.Team, a.Name,
				nt.SentAt.Format(time.RFC3339), now.Sub(due).Round(time.Second))
			au.add(store.Entry{Time: now, CaseID: nt.CaseID, ActionID: nt.ActionID, Actor: "sweep", System: a.Connector,
				Event: "notice.escalated", Result: fmt.Sprintf("level %d", level), Detail: detail + " → " + strings.Join(targets, ", ")})
			evs = append(evs, Event{Kind: EventEscalation, CaseID: nt.CaseID, ActionID: nt.ActionID, Name: a.Name + " (notice to " + nt.Team + ")",
				Status: "unacknowledged", Level: level, Targets: targets, Detail: detail, At: now})
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

// noticeTargets resolves a level's targets for a notice: owner is the
// receiving team.
func noticeTargets(team string, notify []string, secChan string) []string {
	var out []string
	for _, t := range notify {
		switch t {
		case configs.TargetOwner:
			out = append(out, "channel:"+team)
		case configs.TargetSecurityAlerts:
			if secChan != "" {
				out = append(out, "channel:"+secChan)
			}
		default:
			out = append(out, t)
		}
	}
	return out
}
