package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/kineticsec/kinetic/store"
)

// The mass-termination guard: holding a batch and deciding it.

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
		evs = append(evs, Event{Kind: EventBatchDecided, BatchID: b.ID, Status: status,
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
			e.log.WithContext(ctx).WithError(err).WithField("case", id).Warn("starting a released case failed; the sweep will start it")
		}
	}
	return &b, nil
}
