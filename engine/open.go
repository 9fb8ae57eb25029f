package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/internal/text"
	"github.com/kineticsec/kinetic/store"
	"gorm.io/gorm"
)

// Opening a case: Open, which plans (plan.go), checks and records the case
// with its actions, and the involuntary upgrade of an open case.

// openUpgrade answers an involuntary request (without exceptions: see
// validate) for an employee whose open case c is voluntary: c is upgraded
// (see upgradeInvoluntary).
func (e *Engine) openUpgrade(ctx context.Context, req Request, c *store.Case) (*Opened, error) {
	why := fmt.Sprintf("involuntary request by %s: %s", req.Requester, req.Reason)
	up, err := e.upgradeInvoluntary(ctx, c.ID, req.Requester, why)
	if err != nil {
		return nil, err
	}
	if !up.Done {
		// Closed or upgraded meanwhile.
		return nil, &CaseOpenError{CaseID: c.ID}
	}
	fresh, err := e.store.CaseWithActions(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	e.log.WithContext(ctx).WithFields(map[string]any{"case": c.ID, "employee": c.EmployeeID, "cancelled_exceptions": len(up.Cancelled)}).Info("case made involuntary")
	return &Opened{Case: fresh, Upgraded: true}, nil
}

func (e *Engine) effectiveAt(req Request) time.Time {
	now := e.clock()
	if req.Involuntary || req.EffectiveAt.IsZero() || req.EffectiveAt.Before(now) {
		return now
	}
	return req.EffectiveAt.UTC().Truncate(time.Microsecond)
}

// Opened is the result of Open.
type Opened struct {
	Case *store.Case
	Plan *Plan
	// Created is false when an earlier request with the same idempotency
	// key already created the case (a repeated HR event is a no-op), and
	// when an involuntary request upgraded the employee's open voluntary
	// case instead (Upgraded).
	Created bool
	// Upgraded is true when the request was involuntary and the employee
	// already had an open voluntary case: that case became involuntary and
	// starts now (see Open).
	Upgraded bool
}

// Open validates req (the checks Precheck makes), plans it, and records
// the case, its actions and their audit events in one transaction. A case
// whose effective time has come starts at once; a later one is scheduled.
// Nothing is written when any check fails: an effective time more than
// the HR timing's max_future ahead, an exception kind the policy does not
// define, or the same kind twice, is ErrInvalidRequest. A refusal of one
// field of req is a *FieldError naming it.
//
// An involuntary request for an employee whose open case is voluntary does
// not answer CaseOpenError: the open case is upgraded (it becomes
// involuntary and starts now, exceptions the policy forbids for
// involuntary terminations are cancelled and the critical revocations they
// held run at once) and returned with Upgraded set. Such a request may not
// carry exceptions.
func (e *Engine) Open(ctx context.Context, req Request) (*Opened, error) {
	v, err := e.validate(ctx, &req)
	if err != nil {
		return nil, err
	}
	switch {
	case v.dup != nil:
		return &Opened{Case: v.dup}, nil
	case v.upgrade != nil:
		return e.openUpgrade(ctx, req, v.upgrade)
	}
	emp, checked := v.emp, v.checked
	plan, err := e.plan(ctx, req, emp, false)
	if err != nil {
		return nil, err
	}
	cond, err := e.policy.Load().Conditions(emp, configs.Facts{Reason: req.Reason, Involuntary: req.Involuntary, Trigger: req.Trigger})
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	c, evs, err := e.record(ctx, req, emp, plan, cond, checked)
	if err != nil {
		return nil, err
	}
	e.emit(Event{Kind: EventCaseOpened, CaseID: c.ID, Status: c.Status, At: c.CreatedAt,
		Detail: fmt.Sprintf("%s (%s) requested by %s: %d actions, effective %s", emp.Name, emp.ID, req.Requester, len(plan.Actions), c.EffectiveAt.Format(time.RFC3339))})
	e.emit(evs...)
	e.log.WithContext(ctx).WithFields(map[string]any{"case": c.ID, "employee": emp.ID, "actions": len(plan.Actions), "effective_at": c.EffectiveAt}).Info("case opened")
	if c.Status == store.CaseHeld || c.Status == store.CaseAwaitingConfirmation {
		// Held by the guard, or awaiting the requester's confirmation: it
		// starts when released or confirmed.
	} else if !c.EffectiveAt.After(e.clock()) {
		if err := e.StartCase(ctx, c.ID); err != nil {
			// The case is recorded; the sweep starts it if this failed.
			e.log.WithContext(ctx).WithError(err).WithField("case", c.ID).Warn("starting case failed; the sweep will retry")
		}
	} else if err := e.disp.DispatchCaseStart(ctx, c.ID, c.EffectiveAt); err != nil {
		e.log.WithContext(ctx).WithError(err).WithField("case", c.ID).Warn("scheduling case start failed; the sweep will start it on time")
	}
	if fresh, err := e.store.CaseWithActions(ctx, c.ID); err == nil {
		c = fresh
	}
	return &Opened{Case: c, Plan: plan, Created: true}, nil
}

func (e *Engine) record(ctx context.Context, req Request, emp *directory.Employee, plan *Plan, cond configs.Conditions, checked []*checkedException) (*store.Case, []Event, error) {
	now := e.clock()
	var evs []Event
	c := &store.Case{
		EmployeeID: emp.ID, EmployeeEmail: emp.Email, EmployeeName: emp.Name,
		Trigger: req.Trigger, Requester: req.Requester, OpenedBy: principalID(ctx), Reason: req.Reason,
		Involuntary: req.Involuntary, EffectiveAt: plan.EffectiveAt,
		Status: store.CaseScheduled, PolicyHash: plan.PolicyHash,
		CreatedAt: now, UpdatedAt: now,
	}
	if req.IdempotencyKey != "" {
		k := req.IdempotencyKey
		c.IdempotencyKey = &k
	}
	sim := plan.Simulated()
	c.Simulated = len(sim) > 0
	if cond.Compliance != nil {
		dl := plan.EffectiveAt.Add(cond.Compliance.CriticalWithin.D())
		c.ComplianceProfile, c.ComplianceDeadline = cond.Compliance.Name, &dl
	}
	snap, err := json.Marshal(emp)
	if err != nil {
		return nil, nil, err
	}
	pol := e.policy.Load()
	var early []dispatch // lead-time actions, dispatched after commit
	err = e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
		c.ID, c.Status, c.BatchID, evs, early = 0, store.CaseScheduled, nil, nil, nil // the store may run this function again after a deadlock
		batch, err := e.guard(tx, now)
		if err != nil {
			return err
		}
		switch {
		case batch != nil:
			c.Status, c.BatchID = store.CaseHeld, &batch.ID
		case req.AwaitConfirmation && !req.Involuntary:
			c.Status = store.CaseAwaitingConfirmation
		}
		if err := tx.Create(c).Error; err != nil {
			return err
		}
		au.st.NewCase(c)
		if err := tx.Create(&store.EmployeeSnapshot{CaseID: c.ID, EmployeeID: emp.ID, Data: string(snap), TakenAt: now}).Error; err != nil {
			return err
		}
		names := make([]string, 0, len(plan.Actions))
		for _, pa := range plan.Actions {
			a := newAction(c, pa, now)
			if pa.RunAt != nil {
				// A lead-time action runs at its own time, before the case
				// starts: queued now, or once the case is confirmed or
				// released (see queueLead).
				a.NotBefore, a.RunAt = pa.RunAt, pa.RunAt
				if c.Status == store.CaseScheduled {
					a.Status, a.BlockedReason, a.QueuedAt, a.Generation = store.ActionQueued, "", &now, 1
				}
			}
			if err := tx.Create(&a).Error; err != nil {
				return err
			}
			au.st.NewAction(&a)
			if a.Status == store.ActionQueued {
				early = append(early, dispatch{id: a.ID, gen: a.Generation, at: *a.NotBefore})
			}
			names = append(names, pa.Name)
		}
		eqEvs, err := e.newEquipmentTasks(tx, au, c, plan, pol, now)
		if err != nil {
			return err
		}
		evs = append(evs, eqEvs...)
		detail := fmt.Sprintf("trigger=%s reason=%q involuntary=%t effective_at=%s", req.Trigger, req.Reason, req.Involuntary, plan.EffectiveAt.Format(time.RFC3339))
		au.add(store.Entry{Time: now, CaseID: c.ID, Actor: req.Requester, Event: "case.created", Result: "ok", Detail: detail},
			store.Entry{Time: now, CaseID: c.ID, Actor: "kinetic", Event: "case.validated", Result: "ok",
				Detail: fmt.Sprintf("employee %s (%s) active; requester %s authorized; no open case", emp.ID, emp.Email, req.Requester)},
			store.Entry{Time: now, CaseID: c.ID, Actor: "kinetic", Event: "case.planned", Result: "ok",
				Detail: fmt.Sprintf("policy %s; rules %s; %d actions: %s; %d devices%s", shortHash(pol.Hash), strings.Join(plan.Rules, ","), len(names), strings.Join(names, ","), len(plan.Equipment), simulatedNote(sim))})
		if batch != nil {
			au.add(store.Entry{Time: now, CaseID: c.ID, Actor: "kinetic", Event: "case.held_by_guard", Result: "held",
				Detail: fmt.Sprintf("mass-termination guard: batch %d (%s)", batch.ID, batch.Reason)})
			var targets []string
			for _, r := range pol.File.MassTermination.Approvers {
				targets = append(targets, r)
			}
			evs = append(evs, Event{Kind: EventBatchHeld, CaseID: c.ID, BatchID: batch.ID, Status: store.BatchPending, Targets: targets,
				Detail: fmt.Sprintf("%s (%s) held in batch %d: %s; approve, deny or release by id", emp.Name, emp.ID, batch.ID, batch.Reason), At: now})
		}
		if cond.NotifySecurityOfficer && len(e.officer) > 0 {
			var targets []string
			for _, id := range e.officer {
				targets = append(targets, "user:"+id)
			}
			au.add(store.Entry{Time: now, CaseID: c.ID, Actor: "kinetic", Event: "case.security_officer_notified", Result: "ok",
				Detail: strings.Join(targets, ",")})
			evs = append(evs, Event{Kind: EventSecurityOfficerNotice, CaseID: c.ID, Status: c.Status, Targets: targets,
				Detail: fmt.Sprintf("offboarding opened for %s (%s), clearance %s, effective %s", emp.Name, emp.ID, emp.Clearance, plan.EffectiveAt.Format(time.RFC3339)), At: now})
		}
		for i, chk := range checked {
			x := req.Exceptions[i]
			x.CaseID = c.ID
			var err error
			if _, evs, err = e.applyException(tx, au, c, emp, x, chk, evs); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if store.IsUniqueViolation(err) {
			if other, err2 := e.store.OpenCaseFor(ctx, emp.ID); err2 == nil {
				return nil, nil, &CaseOpenError{CaseID: other.ID}
			}
			if req.IdempotencyKey != "" {
				if other, err2 := e.store.CaseByIdempotencyKey(ctx, req.IdempotencyKey); err2 == nil {
					return nil, nil, &CaseOpenError{CaseID: other.ID}
				}
			}
		}
		if errors.Is(err, ErrInvalidRequest) || errors.Is(err, ErrNotAllowed) {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("recording case: %w", err)
	}
	e.dispatchAll(ctx, early)
	return c, evs, nil
}

func newAction(c *store.Case, pa PlannedAction, now time.Time) store.Action {
	params, _ := json.Marshal(orEmpty(pa.Params))
	deps, _ := json.Marshal(orEmptySlice(pa.DependsOn))
	due := pa.DueAt
	a := store.Action{
		CaseID: c.ID, Name: pa.Name, Description: text.ClipBytes(pa.Description, 250), Connector: pa.Connector, Operation: pa.Operation,
		Phase: pa.Phase, PhaseName: pa.PhaseName, TargetAccount: pa.TargetAccount,
		Params: string(params), DependsOn: string(deps), Status: store.ActionPending,
		SLA: pa.SLA, DueAt: &due, MaxAttempts: pa.MaxAttempts, Detail: "discovery: " + pa.Found,
		Manual: pa.Manual, Skippable: pa.Skippable, Simulated: pa.Simulated,
		CreatedAt: now, UpdatedAt: now,
	}
	if len(pa.DependsOn) > 0 {
		a.Status = store.ActionBlocked
		a.BlockedReason = "waits for " + strings.Join(pa.DependsOn, ", ")
	} else if pa.Phase > 1 {
		a.Status = store.ActionBlocked
		a.BlockedReason = "waits for earlier phases"
	}
	return a
}

// simulatedNote is the words the audit trail and summaries add for a case
// with actions on simulated systems: "; SIMULATED on ad, okta (sandbox
// connectors: nothing real was done)"; "" when none is simulated.
func simulatedNote(connectors []string) string {
	if len(connectors) == 0 {
		return ""
	}
	return "; SIMULATED on " + strings.Join(connectors, ", ") + " (sandbox connectors: nothing real was done)"
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func orEmptySlice(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
