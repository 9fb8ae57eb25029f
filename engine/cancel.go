package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/store"
	"gorm.io/gorm"
)

// Cancelling a case, and who may.

// ErrCaseStarted is returned (with ErrInvalidRequest) when a person asks to
// cancel a case whose revocation has already started.
var ErrCaseStarted = errors.New("has already started and cannot be cancelled")

// CancelRequest asks to cancel an open case on someone's behalf.
type CancelRequest struct {
	CaseID int64
	// By is the HR id of the person asking, or, with System set, a
	// principal the engine or a front end has already authenticated as a
	// system ("hr:SOURCE" rescinding a termination, "kinetic" dropping an
	// unconfirmed plan).
	By     string
	System bool
	Reason string
}

// Cancel cancels an open case for a system principal (actor): see
// CancelCase. People cancel through CancelCase, which authorizes them.
//
// With a principal in ctx acting for a person (not as itself), actor is
// that person and is authorized as CancelCase authorizes people.
func (e *Engine) Cancel(ctx context.Context, caseID int64, actor, reason string) error {
	p, ok := PrincipalFrom(ctx)
	system := !ok || actor == p.ID || p.System && systemActor(actor)
	return e.CancelCase(ctx, CancelRequest{CaseID: caseID, By: actor, System: system, Reason: reason})
}

// CancelCase cancels an open case: every action not yet running or final
// is cancelled (running ones finish and are recorded), pending exceptions
// are cancelled, and the case closes as cancelled. Cancelling a closed case
// is ErrInvalidRequest; an unknown one ErrNotFound.
//
// A person (System unset) may cancel only a case that has not started
// (scheduled, held, or awaiting confirmation, with its effective time still
// ahead; a plan awaiting confirmation at any time), and only if they are
// active in HR and are an admin, HR (hr_role or an HR role profile), the
// employee's manager or HR partner, or the case's requester; never the
// departing employee. Refusals are ErrNotAllowed (who) or ErrInvalidRequest
// (too late), and change nothing. Every front end (Slack, API, CLI) relies
// on this check.
func (e *Engine) CancelCase(ctx context.Context, r CancelRequest) error {
	if len(r.Reason) > 1000 {
		return fmt.Errorf("%w: reason is longer than 1000 characters", ErrInvalidRequest)
	}
	if r.By == "" {
		return fmt.Errorf("%w: who is cancelling?", ErrNotAllowed)
	}
	caseID, actor, reason := r.CaseID, r.By, r.Reason
	var evs []Event
	err := e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
		evs = nil
		c, err := store.LockCase(tx, caseID)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: case %d", ErrNotFound, caseID)
		}
		if err != nil {
			return err
		}
		if err := e.mayActOnCase(ctx, tx, OpCancel, actor, c); err != nil {
			return err
		}
		if !store.CaseOpen(c.Status) {
			return fmt.Errorf("%w: case %d is already %s", ErrInvalidRequest, caseID, c.Status)
		}
		if !r.System {
			if err := e.mayCancel(ctx, tx, c, actor); err != nil {
				return err
			}
		}
		now := e.clock()
		acts, err := store.CaseActions(tx, caseID)
		if err != nil {
			return err
		}
		for _, a := range acts {
			if store.ActionFinal(a.Status) || a.Status == store.ActionRunning {
				continue
			}
			fields := map[string]any{
				"status": store.ActionCancelled, "finished_at": now, "updated_at": now, "generation": a.Generation + 1,
			}
			if err := tx.Model(&store.Action{}).Where("id = ?", a.ID).Updates(fields).Error; err != nil {
				return err
			}
			au.st.ActionFields(caseID, a.ID, fields)
		}
		if err := tx.Model(c).Updates(map[string]any{"status": store.CaseCancelled, "closed_at": now, "updated_at": now,
			"summary": "cancelled by " + actor + ": " + reason}).Error; err != nil {
			return err
		}
		au.st.CaseStatus(caseID, store.CaseCancelled)
		var pending []int64
		if err := tx.Model(&store.Approval{}).Where("case_id = ? AND status = ?", caseID, store.ApprovalPending).Order("id").Pluck("id", &pending).Error; err != nil {
			return err
		}
		if len(pending) > 0 {
			if err := tx.Model(&store.Approval{}).Where("id IN ? AND status = ?", pending, store.ApprovalPending).
				Updates(map[string]any{"status": store.ApprovalCancelled, "decided_at": now, "outcome": "case cancelled", "updated_at": now}).Error; err != nil {
				return err
			}
			for _, id := range pending {
				au.st.ApprovalStatus(caseID, id, store.ApprovalCancelled)
			}
		}
		au.add(store.Entry{Time: now, CaseID: caseID, Actor: actor, Event: "case.cancelled", Result: "cancelled", Detail: reason})
		evs = append(evs, Event{Kind: EventCaseCancelled, CaseID: caseID, Status: store.CaseCancelled, Detail: reason, At: now})
		return nil
	})
	if err != nil {
		return err
	}
	e.emit(evs...)
	return nil
}

// mayCancel is CancelCase's check for a person.
func (e *Engine) mayCancel(ctx context.Context, tx *gorm.DB, c *store.Case, who string) error {
	if who == c.EmployeeID {
		return fmt.Errorf("%w: nobody may cancel their own offboarding", ErrNotAllowed)
	}
	emp, err := e.snapshot(tx, c.ID)
	if err != nil {
		return err
	}
	allowed := e.admins[who]
	if !allowed {
		p, err := e.dir.ByID(ctx, who)
		switch {
		case errors.Is(err, directory.ErrNotFound):
			return fmt.Errorf("%w: %q is not in the HR directory", ErrNotAllowed, who)
		case err != nil:
			return err
		case !p.Active():
			return fmt.Errorf("%w: %s is not active in HR", ErrNotAllowed, who)
		}
		allowed = p.HRRole || who == c.Requester || who == emp.Manager || who == emp.HRPartner
		for _, role := range p.RoleProfiles {
			allowed = allowed || e.hrRoles[role]
		}
	}
	if !allowed {
		return fmt.Errorf("%w: %s may not cancel case %d: only its requester, %s's manager or HR partner, HR or an admin may", ErrNotAllowed, who, c.ID, c.EmployeeID)
	}
	started := c.Status == store.CaseRunning || c.Status != store.CaseAwaitingConfirmation && !c.EffectiveAt.After(e.clock())
	if started {
		return fmt.Errorf("%w: case %d %w (effective %s); ask an admin if access must be restored",
			ErrInvalidRequest, c.ID, ErrCaseStarted, c.EffectiveAt.UTC().Format("2006-01-02 15:04 UTC"))
	}
	return nil
}
