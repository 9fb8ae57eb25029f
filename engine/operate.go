package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/kineticsec/kinetic/internal/text"
	"github.com/kineticsec/kinetic/store"
)

// How long a plan shown for confirmation waits before it is dropped.
const confirmationTTL = 24 * time.Hour

// Confirm starts a case that awaits its requester's confirmation of the
// plan. Only the requester (or an admin) confirms; confirming twice is an
// error that says so.
func (e *Engine) Confirm(ctx context.Context, caseID int64, actor string) (*store.Case, error) {
	var c *store.Case
	var evs []Event
	var lead []dispatch
	err := e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
		evs, lead = nil, nil
		var err error
		c, err = store.LockCase(tx, caseID)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: case %d", ErrNotFound, caseID)
		}
		if err != nil {
			return err
		}
		if err := e.mayActOnCase(ctx, tx, OpConfirm, actor, c); err != nil {
			return err
		}
		if c.Status != store.CaseAwaitingConfirmation {
			return fmt.Errorf("%w: case %d is %s, not awaiting confirmation", ErrInvalidRequest, caseID, c.Status)
		}
		if actor != c.Requester && !e.admins[actor] {
			return fmt.Errorf("%w: only the requester (%s) confirms this plan", ErrNotAllowed, c.Requester)
		}
		now := e.clock()
		if err := tx.Model(c).Updates(map[string]any{"status": store.CaseScheduled, "updated_at": now}).Error; err != nil {
			return err
		}
		c.Status = store.CaseScheduled
		au.st.CaseStatus(c.ID, c.Status)
		if lead, err = e.queueLead(tx, au, c, now); err != nil {
			return err
		}
		au.add(store.Entry{Time: now, CaseID: c.ID, Actor: actor, Event: "case.confirmed", Result: "ok", Detail: "plan confirmed by the requester"})
		evs = append(evs, Event{Kind: EventCaseConfirmed, CaseID: c.ID, Status: store.CaseScheduled, At: now})
		return nil
	})
	if err != nil {
		return nil, err
	}
	e.emit(evs...)
	e.dispatchAll(ctx, lead)
	if !c.EffectiveAt.After(e.clock()) {
		if err := e.StartCase(ctx, c.ID); err != nil {
			e.log.WithContext(ctx).WithError(err).WithField("case", c.ID).Warn("starting a confirmed case failed; the sweep will start it")
		}
	} else if err := e.disp.DispatchCaseStart(ctx, c.ID, c.EffectiveAt); err != nil {
		e.log.WithContext(ctx).WithError(err).WithField("case", c.ID).Warn("scheduling a confirmed case failed; the sweep will start it on time")
	}
	return e.store.CaseWithActions(ctx, c.ID)
}

// queueLead queues the lead-time actions of a case that has just become
// scheduled (confirmed, or released by the guard) whose time has not come.
func (e *Engine) queueLead(tx *gorm.DB, au *auditBuf, c *store.Case, now time.Time) ([]dispatch, error) {
	var acts []store.Action
	if err := tx.Where("case_id = ? AND status IN ? AND not_before > ? AND not_before < ?", c.ID,
		[]string{store.ActionPending, store.ActionBlocked}, now, c.EffectiveAt).Find(&acts).Error; err != nil {
		return nil, err
	}
	var ds []dispatch
	for _, a := range acts {
		fields := map[string]any{
			"status": store.ActionQueued, "blocked_reason": "", "generation": a.Generation + 1, "queued_at": now, "updated_at": now}
		ok, err := store.UpdateActionIf(tx, a.ID, a.Status, a.Generation, fields)
		if err != nil {
			return nil, err
		}
		if ok {
			au.st.ActionFields(c.ID, a.ID, fields)
			ds = append(ds, dispatch{id: a.ID, gen: a.Generation + 1, at: *a.NotBefore})
		}
	}
	return ds, nil
}

// MayOperate reports whether actor may use an action's buttons (retry,
// skip, mark done, escalate): an admin, someone with an HR role, or a
// member of the approver group named like the system's owning team; never
// the departing employee on their own case. The operations themselves
// also check the principal (see mayAct).
func (e *Engine) MayOperate(ctx context.Context, actor string, a *store.Action) bool {
	if c, err := store.CaseByID(e.store.Conn(ctx), a.CaseID); err != nil || selfCheck(OpRetry, actor, c.EmployeeID) != nil {
		return false
	}
	if e.admins[actor] {
		return true
	}
	if e.ownsSystem(actor, a.Connector) {
		return true
	}
	who, err := e.dir.ByID(ctx, actor)
	if err != nil || !who.Active() {
		return false
	}
	if who.HRRole {
		return true
	}
	for _, r := range who.RoleProfiles {
		if e.hrRoles[r] {
			return true
		}
	}
	return false
}

// ownsSystem reports whether actor is a member of the approver group named
// like connector's owning team.
func (e *Engine) ownsSystem(actor, connector string) bool {
	o := e.owners[connector]
	return o != "" && slices.Contains(e.members(strings.TrimPrefix(o, "channel:")), actor)
}

// operable loads an action and checks that actor may use op on it: the
// principal may act for actor, actor is not the departing employee, and
// MayOperate.
func (e *Engine) operable(ctx context.Context, actionID int64, actor string, op Op) (*store.Action, *store.Case, error) {
	a, err := e.store.Action(ctx, actionID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, fmt.Errorf("%w: action %d", ErrNotFound, actionID)
	}
	if err != nil {
		return nil, nil, err
	}
	db := e.store.Conn(ctx)
	c, err := store.CaseByID(db, a.CaseID)
	if err != nil {
		return nil, nil, err
	}
	if err := e.mayActOnCase(ctx, db, op, actor, c); err != nil {
		return nil, nil, err
	}
	if !e.MayOperate(ctx, actor, a) {
		return nil, nil, fmt.Errorf("%w: %s may not %s actions on %s (admins, HR and the system's owning team may)", ErrNotAllowed, actor, op, a.Connector)
	}
	return a, c, nil
}

// operate runs one button's change on an action under its case's lock,
// after the authorization check.
func (e *Engine) operate(ctx context.Context, actionID int64, actor string, op Op,
	change func(tx *gorm.DB, au *auditBuf, c *store.Case, a *store.Action, now time.Time) error) error {
	verb := string(op)
	a, _, err := e.operable(ctx, actionID, actor, op)
	if err != nil {
		return err
	}
	var evs []Event
	var ds []dispatch
	err = e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
		evs, ds = nil, nil
		c, err := store.LockCase(tx, a.CaseID)
		if err != nil {
			return err
		}
		var cur store.Action
		if err := tx.First(&cur, actionID).Error; err != nil {
			return err
		}
		now := e.clock()
		if err := change(tx, au, c, &cur, now); err != nil {
			return err
		}
		var err2 error
		ds, evs, err2 = e.advance(tx, au, c, now, []Event{{Kind: EventAction, CaseID: c.ID, ActionID: cur.ID, Name: cur.Name, Status: cur.Status,
			Detail: fmt.Sprintf("%s by %s", verb, actor), Actor: actor, At: now}})
		return err2
	})
	if err != nil {
		return err
	}
	e.emit(evs...)
	e.dispatchAll(ctx, ds)
	return nil
}

// RetryAction runs a failed action again with a fresh attempt budget. A
// failed case reopens (its blocked dependents wait again).
func (e *Engine) RetryAction(ctx context.Context, actionID int64, actor string) error {
	return e.operate(ctx, actionID, actor, OpRetry, func(tx *gorm.DB, au *auditBuf, c *store.Case, a *store.Action, now time.Time) error {
		if a.Status != store.ActionFailed {
			return fmt.Errorf("%w: %s is %s; only a failed action can be retried", ErrInvalidRequest, a.Name, a.Status)
		}
		if c.Status == store.CaseCancelled {
			return fmt.Errorf("%w: case %d was cancelled", ErrInvalidRequest, c.ID)
		}
		if c.Status == store.CaseFailed {
			if err := tx.Model(c).Updates(map[string]any{"status": store.CaseRunning, "closed_at": nil, "summary": "", "updated_at": now}).Error; err != nil {
				if store.IsUniqueViolation(err) {
					return fmt.Errorf("%w: another case is open for %s; retry there", ErrInvalidRequest, c.EmployeeID)
				}
				return err
			}
			c.Status, c.ClosedAt = store.CaseRunning, nil
			au.st.CaseStatus(c.ID, c.Status)
		}
		fields := map[string]any{
			"status": store.ActionBlocked, "attempts": 0, "finished_at": nil, "generation": a.Generation + 1, "updated_at": now,
		}
		ok, err := store.UpdateActionIf(tx, a.ID, store.ActionFailed, a.Generation, fields)
		if err != nil || !ok {
			return err
		}
		au.st.ActionFields(c.ID, a.ID, fields)
		a.Status = store.ActionBlocked
		au.add(store.Entry{Time: now, CaseID: c.ID, ActionID: a.ID, Actor: actor, System: a.Connector, Event: "action.retry_requested", Result: "ok",
			Detail: "a person asked to retry after: " + a.LastError})
		return nil
	})
}

// SkipAction skips an action the policy lets the owning team skip (never a
// critical revocation), with a reason: one still waiting (blocked, pending
// or held) or one that failed. Skipping a failed action reopens its case
// if it had closed as failed, and releases what waited on it; the case
// then closes as completed with exceptions. See CheckSkip for the checks.
func (e *Engine) SkipAction(ctx context.Context, actionID int64, actor, reason string) error {
	if strings.TrimSpace(reason) == "" {
		return fmt.Errorf("%w: skipping needs a reason", ErrInvalidRequest)
	}
	return e.operate(ctx, actionID, actor, OpSkip, func(tx *gorm.DB, au *auditBuf, c *store.Case, a *store.Action, now time.Time) error {
		if err := skippable(c, a); err != nil {
			return err
		}
		if c.Status == store.CaseFailed {
			if err := e.reopen(tx, au, c, now); err != nil {
				return err
			}
		}
		fields := map[string]any{"status": store.ActionSkipped, "outcome": "skipped_by_person", "finished_at": now,
			"detail": text.ClipBytes("skipped by "+actor+": "+reason, 2000), "blocked_reason": "", "generation": a.Generation + 1, "updated_at": now}
		ok, err := store.UpdateActionIf(tx, a.ID, a.Status, a.Generation, fields)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: %s changed meanwhile; look again", ErrInvalidRequest, a.Name)
		}
		au.st.ActionFields(c.ID, a.ID, fields)
		was := a.Status
		a.Status = store.ActionSkipped
		au.add(store.Entry{Time: now, CaseID: c.ID, ActionID: a.ID, Actor: actor, System: a.Connector, Event: "action.skipped_by_person", Result: "skipped",
			Detail: fmt.Sprintf("was %s: %s", was, reason)})
		return nil
	})
}

// CheckSkip runs every check SkipAction makes but the reason's, changing
// nothing: actor may operate the action (see MayOperate), and the action
// can be skipped now. Front ends call it before asking for a reason, so
// that nobody fills in a form for a skip that would be refused.
func (e *Engine) CheckSkip(ctx context.Context, actionID int64, actor string) (*store.Action, *store.Case, error) {
	a, c, err := e.operable(ctx, actionID, actor, OpSkip)
	if err != nil {
		return nil, nil, err
	}
	if err := skippable(c, a); err != nil {
		return nil, nil, err
	}
	return a, c, nil
}

// skippable says whether a may be skipped now: never in phase 1 (a
// critical revocation), only when the policy marks it skippable, and only
// while it waits or after it failed, in a case that was not cancelled.
func skippable(c *store.Case, a *store.Action) error {
	switch {
	case a.Phase == 1:
		return fmt.Errorf("%w: %s is a critical revocation and is never skipped", ErrNotAllowed, a.Name)
	case !a.Skippable:
		return fmt.Errorf("%w: policy does not let %s be skipped", ErrNotAllowed, a.Name)
	case c.Status == store.CaseCancelled:
		return fmt.Errorf("%w: case %d was cancelled", ErrInvalidRequest, c.ID)
	case a.Status == store.ActionFailed:
		return nil
	case store.ActionFinal(a.Status) || a.Status == store.ActionRunning:
		return fmt.Errorf("%w: %s is %s", ErrInvalidRequest, a.Name, a.Status)
	}
	return nil
}

// reopen moves a case that closed as failed back to running, so that a
// person's retry or skip of a failed action lets it finish.
func (e *Engine) reopen(tx *gorm.DB, au *auditBuf, c *store.Case, now time.Time) error {
	if err := tx.Model(c).Updates(map[string]any{"status": store.CaseRunning, "closed_at": nil, "summary": "", "updated_at": now}).Error; err != nil {
		if store.IsUniqueViolation(err) {
			return fmt.Errorf("%w: another case is open for %s; act there", ErrInvalidRequest, c.EmployeeID)
		}
		return err
	}
	c.Status, c.ClosedAt = store.CaseRunning, nil
	au.st.CaseStatus(c.ID, c.Status)
	return nil
}

// MarkDone records a manual step as done by a person. It counts as
// succeeded but unverified (a person attested it), so the case closes as
// completed with exceptions.
func (e *Engine) MarkDone(ctx context.Context, actionID int64, actor, note string) error {
	return e.operate(ctx, actionID, actor, OpDone, func(tx *gorm.DB, au *auditBuf, c *store.Case, a *store.Action, now time.Time) error {
		if err := markable(a); err != nil {
			return err
		}
		fields := map[string]any{"status": store.ActionSucceeded, "outcome": "done_by_person", "finished_at": now,
			"verification": text.ClipBytes("marked done by "+actor+": "+note, 1000), "blocked_reason": "", "updated_at": now}
		if err := tx.Model(a).Updates(fields).Error; err != nil {
			return err
		}
		au.st.ActionFields(c.ID, a.ID, fields)
		a.Status = store.ActionSucceeded
		au.add(store.Entry{Time: now, CaseID: c.ID, ActionID: a.ID, Actor: actor, System: a.Connector, Event: "action.marked_done", Result: "done_by_person", Detail: note})
		return nil
	})
}
