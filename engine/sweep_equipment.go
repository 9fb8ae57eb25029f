package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/store"
)

// Sweep duty: devices not back by their due time escalate by the policy's
// escalation levels, as overdue actions do (sweep_escalations.go): level
// "owner" is the task's team, "security_alerts" the security alerts
// channel. Each level fires once per task (an Escalation row of kind
// escalationKindEquipment, whose ActionID holds the task's id). A device
// that reaches a disposition, or is preserved under a legal hold, is no
// longer overdue.

// escalationKindEquipment marks an equipment task's escalation rows.
const escalationKindEquipment = "equipment"

// sweepEquipment escalates overdue equipment tasks, level by level, once
// each.
func (e *Engine) sweepEquipment(ctx context.Context) (int, error) {
	levels := e.policy.Load().File.Escalation.Levels
	if len(levels) == 0 {
		return 0, nil
	}
	now := e.clock()
	overdue, err := e.store.OverdueEquipment(ctx, now, 500)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range overdue {
		var evs []Event
		err := e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
			evs = nil
			done, err := store.EscalationLevels(tx, t.CaseID, t.ID, escalationKindEquipment)
			if err != nil {
				return err
			}
			var c store.Case
			if err := tx.First(&c, t.CaseID).Error; err != nil {
				return err
			}
			for i, l := range levels {
				level := i + 1
				if done[level] || now.Before(t.DueAt.Add(l.After.D())) {
					continue
				}
				targets := e.equipmentTargets(&t, l.Notify)
				tj, _ := json.Marshal(targets)
				detail := fmt.Sprintf("%s (%s) of %s is not back: %s, overdue by %s (due %s)", t.AssetTag, t.Category, c.EmployeeName,
					equipmentWord(t.Status), now.Sub(*t.DueAt).Round(time.Second), t.DueAt.Format(time.RFC3339))
				res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&store.Escalation{CaseID: t.CaseID, ActionID: t.ID, Level: level,
					Kind: escalationKindEquipment, Targets: string(tj), Detail: detail, At: now})
				if res.Error != nil {
					return res.Error
				}
				if res.RowsAffected == 0 {
					continue // another sweeper escalated this level first
				}
				au.add(store.Entry{Time: now, CaseID: t.CaseID, Actor: "sweep", System: t.AssigneeTeam, Event: "equipment.escalated",
					Result: fmt.Sprintf("level %d", level), Detail: detail + " → " + strings.Join(targets, ", ")})
				evs = append(evs, Event{Kind: EventEquipmentOverdue, CaseID: t.CaseID, EquipmentID: t.ID, Name: t.AssetTag, Status: t.Status,
					Level: level, Targets: targets, Detail: detail, At: now})
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

// equipmentTargets resolves an escalation level's targets for task t:
// owner is the task's team.
func (e *Engine) equipmentTargets(t *store.EquipmentTask, notify []string) []string {
	var out []string
	for _, n := range notify {
		switch n {
		case configs.TargetOwner:
			out = append(out, "channel:"+t.AssigneeTeam)
		case configs.TargetSecurityAlerts:
			if e.secChan != "" {
				out = append(out, "channel:"+e.secChan)
			}
		default:
			out = append(out, n)
		}
	}
	return out
}
