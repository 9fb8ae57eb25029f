package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/store"
)

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
				evs = append(evs, Event{Kind: "escalation", CaseID: a.CaseID, ActionID: a.ID, Name: a.Name, Status: a.Status, Level: level,
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

// sweepBreaches raises a breach for each case past its compliance deadline
// without every critical action final.
func (e *Engine) sweepBreaches(ctx context.Context) (int, error) {
	now := e.clock()
	cs, err := e.store.BreachCandidates(ctx, now, 200)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range cs {
		var ev *Event
		err := e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
			ev = nil
			res := tx.Model(&store.Case{}).Where("id = ? AND breached_at IS NULL", c.ID).Update("breached_at", now)
			if res.Error != nil || res.RowsAffected == 0 {
				return res.Error
			}
			detail := fmt.Sprintf("compliance profile %s: every critical action had to be final by %s; not met for %s",
				c.ComplianceProfile, c.ComplianceDeadline.Format(time.RFC3339), c.EmployeeName)
			var targets []string
			if e.secChan != "" {
				targets = []string{"channel:" + e.secChan}
			}
			au.add(store.Entry{Time: now, CaseID: c.ID, Actor: "sweep", Event: "case.compliance_breach", Result: "breach", Detail: detail})
			ev = &Event{Kind: "breach", CaseID: c.ID, Status: c.Status, Detail: detail, Targets: targets, At: now}
			return nil
		})
		if err != nil {
			return n, err
		}
		if ev != nil {
			n++
			e.emit(*ev)
		}
	}
	return n, nil
}

// guard decides, inside the transaction recording a new case, whether the
// mass-termination guard holds it; it returns the batch to attach it to.
// On PostgreSQL an advisory lock serialises the count with other openers,
// so a burst cannot slip past the limit (SQLite has one writer anyway).
func (e *Engine) guard(tx *gorm.DB, now time.Time) (*store.Batch, error) {
	g := e.policy.Load().File.MassTermination
	if g == nil {
		return nil, nil
	}
	if e.store.Dialect == store.DialectPostgres {
		if err := tx.Exec("SELECT pg_advisory_xact_lock(7262012)").Error; err != nil {
			return nil, err
		}
	}
	var recent int64
	if err := tx.Model(&store.Case{}).Where("created_at >= ? AND status <> ?", now.Add(-g.Window.D()), store.CaseCancelled).Count(&recent).Error; err != nil {
		return nil, err
	}
	var b store.Batch
	err := tx.Where("status = ?", store.BatchPending).Order("id").First(&b).Error
	switch {
	case err == nil:
		return &b, nil // a batch is already held: later cases join it
	case !errors.Is(err, gorm.ErrRecordNotFound):
		return nil, err
	}
	if recent < int64(g.MaxCases) {
		return nil, nil
	}
	b = store.Batch{Status: store.BatchPending, CreatedAt: now, UpdatedAt: now,
		Reason: fmt.Sprintf("more than %d cases within %s", g.MaxCases, g.Window.D())}
	if err := tx.Create(&b).Error; err != nil {
		return nil, err
	}
	return &b, nil
}

// BatchView is a held batch with its cases.
type BatchView struct {
	store.Batch
	Cases []store.Case `json:"cases"`
}

// Batches lists batches (status "" = any), newest first, with their cases.
func (e *Engine) Batches(ctx context.Context, status string) ([]BatchView, error) {
	q := e.store.DB.WithContext(ctx).Order("id DESC").Limit(100)
	if status != "" {
		q = q.Where("status = ?", status)
	}
	var bs []store.Batch
	if err := q.Find(&bs).Error; err != nil {
		return nil, err
	}
	out := make([]BatchView, 0, len(bs))
	for _, b := range bs {
		v := BatchView{Batch: b}
		if err := e.store.DB.WithContext(ctx).Where("batch_id = ?", b.ID).Order("id").Find(&v.Cases).Error; err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// DecideBatch approves (every held case proceeds) or denies (none does:
// they are cancelled) a held batch, or with caseIDs releases just those
// cases. The approver must be one of the guard's approvers.
func (e *Engine) DecideBatch(ctx context.Context, batchID int64, approver string, approve bool, caseIDs []int64, reason string) (*store.Batch, error) {
	g := e.policy.Load().File.MassTermination
	if g == nil {
		return nil, fmt.Errorf("%w: the policy has no mass-termination guard", ErrInvalidRequest)
	}
	allowed := false
	for _, r := range g.Approvers {
		if (strings.HasPrefix(r, "user:") && r[5:] == approver) || (strings.HasPrefix(r, "group:") && slices.Contains(e.members(r[6:]), approver)) {
			allowed = true
		}
	}
	if !allowed {
		return nil, fmt.Errorf("%w: %s is not a mass-termination approver", ErrNotAllowed, approver)
	}
	if !approve && strings.TrimSpace(reason) == "" {
		return nil, fmt.Errorf("%w: a denial needs a reason", ErrInvalidRequest)
	}
	var b store.Batch
	var start []int64
	var evs []Event
	var lead []dispatch
	err := e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
		start, evs, lead = nil, nil, nil
		res := tx.Exec("UPDATE batches SET status = status WHERE id = ?", batchID)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("%w: batch %d", ErrNotFound, batchID)
		}
		if err := tx.First(&b, batchID).Error; err != nil {
			return err
		}
		// A decider is never in the batch they decide: releasing it would
		// offboard them, denying it would cancel their own case.
		all, err := store.BatchCases(tx, b.ID)
		if err != nil {
			return err
		}
		for _, c := range all {
			if err := selfCheck(OpBatch, approver, c.EmployeeID); err != nil {
				return fmt.Errorf("%w (case %d is in batch %d)", err, c.ID, b.ID)
			}
		}
		if err := e.mayAct(ctx, OpBatch, approver, nil); err != nil {
			return err
		}
		if b.Status != store.BatchPending && b.Status != store.BatchPartial {
			return fmt.Errorf("%w: batch %d is already %s", ErrInvalidRequest, b.ID, b.Status)
		}
		var held []store.Case
		if err := tx.Where("batch_id = ? AND status = ?", b.ID, store.CaseHeld).Order("id").Find(&held).Error; err != nil {
			return err
		}
		now := e.clock()
		pick := held
		if len(caseIDs) > 0 {
			pick = nil
			for _, id := range caseIDs {
				i := slices.IndexFunc(held, func(c store.Case) bool { return c.ID == id })
				if i < 0 {
					return fmt.Errorf("%w: case %d is not held in batch %d", ErrInvalidRequest, id, b.ID)
				}
				pick = append(pick, held[i])
			}
		}
		verdict := "released"
		for _, c := range pick {
			if approve {
				if err := tx.Model(&store.Case{}).Where("id = ?", c.ID).Updates(map[string]any{"status": store.CaseScheduled, "updated_at": now}).Error; err != nil {
					return err
				}
				c.Status = store.CaseScheduled
				au.st.CaseStatus(c.ID, c.Status)
				ds, err := e.queueLead(tx, au, &c, now)
				if err != nil {
					return err
				}
				lead = append(lead, ds...)
				start = append(start, c.ID)
			} else {
				verdict = "cancelled"
				acts, err := store.CaseActions(tx, c.ID)
				if err != nil {
					return err
				}
				fields := map[string]any{"status": store.ActionCancelled, "finished_at": now, "updated_at": now}
				for _, a := range acts {
					if err := tx.Model(&store.Action{}).Where("id = ?", a.ID).Updates(fields).Error; err != nil {
						return err
					}
					au.st.ActionFields(c.ID, a.ID, fields)
				}
				if err := tx.Model(&store.Case{}).Where("id = ?", c.ID).Updates(map[string]any{"status": store.CaseCancelled, "closed_at": now, "updated_at": now,
					"summary": "cancelled: mass-termination batch denied by " + approver + ": " + reason}).Error; err != nil {
					return err
				}
				au.st.CaseStatus(c.ID, store.CaseCancelled)
			}
			au.add(store.Entry{Time: now, CaseID: c.ID, Actor: approver, Event: "case.batch_" + verdict, Result: verdict,
				Detail: fmt.Sprintf("batch %d: %s", b.ID, reason)})
		}
		status := store.BatchPartial
		if len(pick) == len(held) {
			status = store.BatchApproved
			if !approve {
				status = store.BatchDenied
			}
		}
		if err := tx.Model(&b).Updates(map[string]any{"status": status, "decided_by": approver, "decided_at": now, "updated_at": now}).Error; err != nil {
			return err
		}
		b.Status = status
		evs = append(evs, Event{Kind: "batch_decided", BatchID: b.ID, Status: status,
			Detail: fmt.Sprintf("%s %s %d of %d held cases in batch %d", approver, verdict, len(pick), len(held), b.ID), At: now})
		return nil
	})
	if err != nil {
		return nil, err
	}
	e.emit(evs...)
	e.dispatchAll(ctx, lead)
	for _, id := range start {
		if err := e.StartCase(ctx, id); err != nil {
			e.log.WithError(err).WithField("case", id).Warn("starting a released case failed; the sweep will start it")
		}
	}
	return &b, nil
}
