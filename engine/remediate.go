package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"gorm.io/gorm"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/text"
	"github.com/kineticsec/kinetic/store"
)

// Remediation of residual access: the alert's Remediate button adds an
// action to the case that runs the revoking operation again, through the
// normal job machinery (queued, run, read back, audited). The case
// reopens while it runs and closes again after it.

// OpRemediate is the operation of the Remediate button.
const OpRemediate Op = "remediate residual access"

// MayRemediate reports whether actor may remediate residual access: an
// admin or a security officer (alerts.security_officers), never the
// departing employee on their own case.
func (e *Engine) MayRemediate(actor string, c *store.Case) bool {
	if selfCheck(OpRemediate, actor, c.EmployeeID) != nil {
		return false
	}
	return e.admins[actor] || slices.Contains(e.officer, actor)
}

// Remediate adds to the residual's case an action that revokes it again
// and starts it: it copies the action whose effect no longer held (or,
// for a residual Lookup found, the case's account or session revocation
// on that connector). A second Remediate of the same residual is refused
// with ErrInvalidRequest and names the action already added. It returns
// the new action's id.
func (e *Engine) Remediate(ctx context.Context, residualID int64, actor string) (int64, error) {
	r, err := e.store.Residual(ctx, residualID)
	if errors.Is(err, store.ErrNotFound) {
		return 0, fmt.Errorf("%w: residual %d", ErrNotFound, residualID)
	}
	if err != nil {
		return 0, err
	}
	if r.CaseID == 0 {
		return 0, fmt.Errorf("%w: residual %d is an orphan account no case owns; offboard its person or revoke it by hand", ErrInvalidRequest, r.ID)
	}
	var newID int64
	var evs []Event
	var ds []dispatch
	err = e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
		evs, ds, newID = nil, nil, 0
		c, err := store.LockCase(tx, r.CaseID)
		if err != nil {
			return err
		}
		if err := e.mayActOnCase(ctx, tx, OpRemediate, actor, c); err != nil {
			return err
		}
		if !e.MayRemediate(actor, c) {
			return fmt.Errorf("%w: %s may not remediate residual access (admins and security officers may)", ErrNotAllowed, actor)
		}
		cur, err := store.ResidualByID(tx, r.ID)
		if err != nil {
			return err
		}
		if cur.Status != store.ResidualOpen {
			return fmt.Errorf("%w: residual %d is %s already (action %d)", ErrInvalidRequest, cur.ID, cur.Status, cur.RemediationID)
		}
		if c.Status == store.CaseCancelled {
			return fmt.Errorf("%w: case %d was cancelled", ErrInvalidRequest, c.ID)
		}
		orig, err := remediationSource(tx, cur)
		if err != nil {
			return err
		}
		now := e.clock()
		a := *orig
		a.ID, a.Generation, a.Attempts = 0, 0, 0
		a.Name = text.ClipBytes(fmt.Sprintf("%s_remediation_%d", orig.Name, cur.ID), 120)
		a.Description = text.ClipBytes("Remediate residual access: "+orig.Description, 250)
		a.Status, a.BlockedReason, a.DependsOn = store.ActionBlocked, "", "[]"
		a.LastError, a.ErrorKind, a.Outcome, a.ResultData, a.Verification, a.Verified = "", "", "", "", "", false
		a.NotBefore, a.RunAt, a.LeaseUntil, a.QueuedAt, a.StartedAt, a.FinishedAt = nil, nil, nil, nil, nil, nil
		a.Detail = text.ClipBytes(fmt.Sprintf("remediation of residual %d: %s", cur.ID, cur.Detail), 2000)
		due := now.Add(a.SLA)
		a.DueAt, a.CreatedAt, a.UpdatedAt = &due, now, now
		if !store.CaseOpen(c.Status) {
			if err := e.reopen(tx, au, c, now); err != nil {
				return err
			}
			au.add(store.Entry{Time: now, CaseID: c.ID, Actor: actor, Event: "case.reopened", Result: store.CaseRunning,
				Detail: fmt.Sprintf("residual access %d to remediate", cur.ID)})
		}
		if err := tx.Create(&a).Error; err != nil {
			return err
		}
		au.st.NewAction(&a)
		newID = a.ID
		ok, err := store.MarkResidualRemediating(tx, cur.ID, a.ID, actor, now)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: residual %d changed meanwhile; look again", ErrInvalidRequest, cur.ID)
		}
		au.add(store.Entry{Time: now, CaseID: c.ID, ActionID: a.ID, Actor: actor, System: a.Connector, Event: "action.added", Result: "ok",
			Detail: fmt.Sprintf("%s again to remediate residual %d (%s)", a.Operation, cur.ID, cur.Kind)})
		ds, evs, err = e.advance(tx, au, c, now, []Event{{Kind: EventAction, CaseID: c.ID, ActionID: a.ID, Name: a.Name,
			Status: a.Status, Detail: "remediation added by " + actor, Actor: actor, At: now}})
		return err
	})
	if err != nil {
		return 0, err
	}
	e.emit(evs...)
	e.dispatchAll(ctx, ds)
	return newID, nil
}

// remediationSource is the action a residual's remediation copies.
func remediationSource(tx *gorm.DB, r *store.Residual) (*store.Action, error) {
	if r.ActionID != 0 {
		var a store.Action
		if err := tx.First(&a, r.ActionID).Error; err != nil {
			return nil, err
		}
		return &a, nil
	}
	var acts []store.Action
	if err := tx.Where("case_id = ? AND connector = ? AND status = ? AND manual = ?", r.CaseID, r.Connector, store.ActionSucceeded, false).
		Order("phase, id").Find(&acts).Error; err != nil {
		return nil, err
	}
	want := accountOps
	if strings.Contains(r.Detail, "live sessions") {
		want = []string{string(connectors.OpRevokeSessions)}
	}
	for i := range acts {
		if slices.Contains(want, acts[i].Operation) {
			return &acts[i], nil
		}
	}
	return nil, fmt.Errorf("%w: case %d has no revocation on %s to run again; revoke by hand", ErrInvalidRequest, r.CaseID, r.Connector)
}
