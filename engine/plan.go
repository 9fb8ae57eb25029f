package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/engine/view"
	"github.com/kineticsec/kinetic/store"
)

// Request asks for one offboarding.
type Request struct {
	// EmployeeID or Email identifies the person (EmployeeID wins).
	EmployeeID string
	Email      string
	// Requester is the requester's HR id, or for system triggers (API
	// clients, HR sources, already authenticated by their credentials) a
	// principal such as "api:hris" with System set.
	Requester string
	System    bool
	// Trigger is one of the store.Trigger* values.
	Trigger     string
	Reason      string
	Involuntary bool
	// EffectiveAt is when revocation starts; zero means now. Involuntary
	// requests always start now.
	EffectiveAt time.Time
	// IdempotencyKey dedupes repeated requests from systems: a second
	// request with the same key returns the first case.
	IdempotencyKey string
	// Exceptions are requested together with the case, atomically: if one
	// is refused, no case is opened. Their Requester defaults to the
	// case's.
	Exceptions []ExceptionRequest
	// AwaitConfirmation records the case as awaiting the requester's
	// confirmation of the plan (chat's plan preview); nothing runs until
	// Confirm. Ignored for involuntary requests, which run at once.
	AwaitConfirmation bool
}

// The plan's types are the engine's read side (package view), so front
// ends render them without importing the engine.
type (
	Discovery     = view.Discovery
	PlannedAction = view.PlannedAction
	Plan          = view.Plan
)

// Subject builds the connector subject for an employee.
func Subject(emp *directory.Employee) connectors.Subject {
	attrs := make(map[string]string, len(emp.Attributes))
	for k, v := range emp.Attributes {
		attrs[k] = v
	}
	return connectors.Subject{
		EmployeeID: emp.ID, Email: emp.Email, Username: emp.Username,
		DisplayName: emp.Name, Attributes: attrs,
	}
}

func (e *Engine) findEmployee(ctx context.Context, id, email string) (*directory.Employee, error) {
	var emp *directory.Employee
	var err error
	switch {
	case id != "":
		emp, err = e.dir.ByID(ctx, id)
	case email != "":
		emp, err = e.dir.ByEmail(ctx, email)
	default:
		return nil, fmt.Errorf("%w: an employee id or email is required", ErrInvalidRequest)
	}
	if errors.Is(err, directory.ErrNotFound) {
		key := id
		if key == "" {
			key = email
		}
		return nil, fmt.Errorf("%w: %q is not in the HR directory", ErrUnknownEmployee, key)
	}
	return emp, err
}

// authorize checks the requester may offboard emp: their manager, someone
// with an HR role, or a configured admin. Nobody offboards themselves.
func (e *Engine) authorize(ctx context.Context, req Request, emp *directory.Employee) error {
	if req.System {
		if req.Requester == "" {
			return fmt.Errorf("%w: a system request needs a principal", ErrInvalidRequest)
		}
		return nil
	}
	if req.Requester == "" {
		return fmt.Errorf("%w: no requester", ErrNotAllowed)
	}
	if req.Requester == emp.ID {
		return fmt.Errorf("%w: nobody may offboard themselves", ErrNotAllowed)
	}
	if e.admins[req.Requester] {
		return nil
	}
	who, err := e.dir.ByID(ctx, req.Requester)
	if errors.Is(err, directory.ErrNotFound) {
		return fmt.Errorf("%w: requester %q is not in the HR directory", ErrNotAllowed, req.Requester)
	}
	if err != nil {
		return err
	}
	if !who.Active() {
		return fmt.Errorf("%w: requester %s is not active in HR", ErrNotAllowed, who.ID)
	}
	if emp.Manager == who.ID || who.HRRole {
		return nil
	}
	for _, r := range who.RoleProfiles {
		if e.hrRoles[r] {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is not %s's manager, HR or an admin", ErrNotAllowed, who.ID, emp.ID)
}

// Plan computes what req would do without changing anything. Connector
// lookups (reads) are made unless offline is set.
func (e *Engine) Plan(ctx context.Context, req Request, offline bool) (*Plan, error) {
	if err := e.checkEffective(req); err != nil {
		return nil, err
	}
	emp, err := e.findEmployee(ctx, req.EmployeeID, req.Email)
	if err != nil {
		return nil, err
	}
	return e.plan(ctx, req, emp, offline)
}

func (e *Engine) plan(ctx context.Context, req Request, emp *directory.Employee, offline bool) (*Plan, error) {
	pol := e.policy.Load()
	sel, err := pol.Select(emp, configs.Facts{Reason: req.Reason, Involuntary: req.Involuntary, Trigger: req.Trigger})
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	eff := e.effectiveAt(req)
	p := &Plan{Employee: *emp, Rules: sel.Rules, PolicyHash: pol.Hash, EffectiveAt: eff}

	// Discovery: one lookup per connector instance the plan touches, in
	// parallel.
	insts := map[string]bool{}
	for _, s := range sel.Actions {
		insts[s.Def.Connector] = true
	}
	found := map[string]Discovery{}
	if !offline {
		found = e.discover(ctx, emp, insts)
	}
	for _, name := range sortedKeys(insts) {
		if d, ok := found[name]; ok {
			p.Discovery = append(p.Discovery, d)
		}
	}
	for _, s := range sel.Actions {
		pa := PlannedAction{
			Name: s.Name, Description: s.Def.Description, Connector: s.Def.Connector,
			Operation: s.Def.Operation, Phase: s.Phase, PhaseName: s.PhaseName,
			SLA: s.SLA, DueAt: eff.Add(s.SLA), DependsOn: s.DependsOn, Params: s.Params,
			MaxAttempts: s.MaxAttempts, TargetAccount: emp.Accounts[s.Def.Connector],
			Manual: s.Def.Manual, Skippable: s.Def.Skippable && s.Phase > 1,
			Found: "not looked up", Simulated: e.simulated(s.Def.Connector),
		}
		if lead := s.Def.Lead.D(); lead > 0 && !s.Def.Manual && eff.Add(-lead).After(e.clock()) {
			at := eff.Add(-lead)
			pa.RunAt, pa.DueAt = &at, at.Add(s.SLA)
		}
		if d, ok := found[s.Def.Connector]; ok {
			switch {
			case d.Error != "":
				pa.Found = "lookup failed: " + d.Error
			case len(d.Accounts) == 0:
				pa.Found = "none found"
			default:
				var parts []string
				for _, a := range d.Accounts {
					parts = append(parts, fmt.Sprintf("%s %s (%s)", kindOr(a.Kind), a.ID, a.Status))
				}
				pa.Found = strings.Join(parts, ", ")
				if d.Accounts[0].Kind == "" || d.Accounts[0].Kind == "user" {
					pa.TargetAccount = d.Accounts[0].ID
				}
				if connectors.Operation(s.Def.Operation) == connectors.OpCreateRecoveryTask {
					p.Equipment = d.Accounts
				}
			}
		}
		p.Actions = append(p.Actions, pa)
	}
	return p, nil
}

// simulated reports whether the named connector instance simulates its
// system (connectors.Instance.Simulated).
func (e *Engine) simulated(connector string) bool {
	in, ok := e.reg.Get(connector)
	return ok && in.Simulated
}

// SimulatedConnectors returns the connectors of c's simulated actions,
// sorted and without repeats; nil when none is.
func SimulatedConnectors(c *store.Case) []string {
	return simulatedConnectors(c.Actions, func(a store.Action) (string, bool) { return a.Connector, a.Simulated })
}

func simulatedConnectors[A any](acts []A, f func(A) (string, bool)) []string {
	set := map[string]bool{}
	for _, a := range acts {
		if name, sim := f(a); sim {
			set[name] = true
		}
	}
	if len(set) == 0 {
		return nil
	}
	return sortedKeys(set)
}

func kindOr(k string) string {
	if k == "" {
		return "user"
	}
	return k
}

// checkEffective refuses an effective time further ahead than the HR
// timing's max_future, as HR events are refused: a date in year 9999 would
// hold the employee's one open case for ever.
func (e *Engine) checkEffective(req Request) error {
	if req.EffectiveAt.IsZero() {
		return nil
	}
	if limit := e.clock().Add(e.maxFut); req.EffectiveAt.After(limit) {
		return fmt.Errorf("%w: effective_at %s is more than %s ahead (timing.max_future)", ErrInvalidRequest,
			req.EffectiveAt.UTC().Format(time.RFC3339), days(e.maxFut))
	}
	return nil
}

// checkExceptionKinds refuses exceptions the policy does not allow: an
// unknown kind, or a kind asked for twice (a request carries at most one
// exception of each kind). It needs no database, so a request carrying
// thousands of exceptions is refused before anything is looked up.
func (e *Engine) checkExceptionKinds(xs []ExceptionRequest) error {
	pol := e.policy.Load()
	seen := make(map[string]bool, len(xs))
	for _, x := range xs {
		if _, ok := pol.File.Exceptions[x.Kind]; !ok {
			return fmt.Errorf("%w: exception kind %q is not in the policy (known: %s)", ErrInvalidRequest, x.Kind, strings.Join(mapKeys(pol.File.Exceptions), ", "))
		}
		if seen[x.Kind] {
			return fmt.Errorf("%w: at most one %s exception per request (%d exceptions asked for)", ErrInvalidRequest, x.Kind, len(xs))
		}
		seen[x.Kind] = true
	}
	return nil
}

// days renders a duration of whole days as "365d".
func days(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// openUpgrade answers an involuntary request for an employee whose open
// case c is voluntary: c is upgraded (see upgradeInvoluntary).
func (e *Engine) openUpgrade(ctx context.Context, req Request, c *store.Case) (*Opened, error) {
	if len(req.Exceptions) > 0 {
		return nil, fmt.Errorf("%w: case %d is already open for this employee; an involuntary request for it carries no exceptions (request them on the case)", ErrInvalidRequest, c.ID)
	}
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
	e.log.WithFields(map[string]any{"case": c.ID, "employee": c.EmployeeID, "cancelled_exceptions": len(up.Cancelled)}).Info("case made involuntary")
	return &Opened{Case: fresh, Upgraded: true}, nil
}

func (e *Engine) effectiveAt(req Request) time.Time {
	now := e.clock()
	if req.Involuntary || req.EffectiveAt.IsZero() || req.EffectiveAt.Before(now) {
		return now
	}
	return req.EffectiveAt.UTC().Truncate(time.Microsecond)
}

func (e *Engine) discover(ctx context.Context, emp *directory.Employee, insts map[string]bool) map[string]Discovery {
	subj := Subject(emp)
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := map[string]Discovery{}
	for name := range insts {
		in, ok := e.reg.Get(name)
		if !ok {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			lctx, cancel := context.WithTimeout(ctx, e.lookupT)
			defer cancel()
			d := Discovery{Connector: name}
			// A lookup is a hint and takes a request from the system's
			// rate limit only when one is free now: during a mass
			// termination the budget goes to revocations, and the action
			// finds the accounts itself when it runs.
			if ok, err := e.gate.Take(lctx, in, 0); err != nil || !ok {
				d.Error = "not looked up: " + name + "'s rate limit has no request free now; the action finds the accounts when it runs"
				if err != nil {
					d.Error = "not looked up: " + err.Error()
				}
				mu.Lock()
				out[name] = d
				mu.Unlock()
				return
			}
			res, err := in.Connector.Lookup(lctx, subj)
			if err != nil {
				d.Error = err.Error()
			} else {
				d.Accounts = viewAccounts(res.Accounts)
			}
			mu.Lock()
			out[name] = d
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

func sortedKeys(m map[string]bool) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
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

// Open validates req, plans it, and records the case, its actions and their
// audit events in one transaction. A case whose effective time has come
// starts at once; a later one is scheduled. Nothing is written when any
// check fails: an effective time more than the HR timing's max_future
// ahead, an exception kind the policy does not define, or the same kind
// twice, is ErrInvalidRequest.
//
// An involuntary request for an employee whose open case is voluntary does
// not answer CaseOpenError: the open case is upgraded (it becomes
// involuntary and starts now, exceptions the policy forbids for
// involuntary terminations are cancelled and the critical revocations they
// held run at once) and returned with Upgraded set. Such a request may not
// carry exceptions.
func (e *Engine) Open(ctx context.Context, req Request) (*Opened, error) {
	if req.Trigger == "" {
		return nil, fmt.Errorf("%w: trigger is required", ErrInvalidRequest)
	}
	if len(req.Reason) > 1000 {
		return nil, fmt.Errorf("%w: reason is longer than 1000 characters", ErrInvalidRequest)
	}
	if err := e.checkEffective(req); err != nil {
		return nil, err
	}
	if err := e.checkExceptionKinds(req.Exceptions); err != nil {
		return nil, err
	}
	if req.IdempotencyKey != "" {
		c, err := e.store.CaseByIdempotencyKey(ctx, req.IdempotencyKey)
		if err == nil {
			return &Opened{Case: c}, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	emp, err := e.findEmployee(ctx, req.EmployeeID, req.Email)
	if err != nil {
		return nil, err
	}
	if !emp.Active() {
		return nil, fmt.Errorf("%w: %s (%s) has HR status %q", ErrInactiveEmployee, emp.ID, emp.Name, emp.Status)
	}
	if !req.System {
		if err := e.mayAct(ctx, OpOpen, req.Requester, emp); err != nil {
			return nil, err
		}
	}
	if err := e.authorize(ctx, req, emp); err != nil {
		return nil, err
	}
	if c, err := e.store.OpenCaseFor(ctx, emp.ID); err == nil {
		if req.Involuntary && !c.Involuntary {
			return e.openUpgrade(ctx, req, c)
		}
		return nil, &CaseOpenError{CaseID: c.ID}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	var checked []*checkedException
	for i := range req.Exceptions {
		x := &req.Exceptions[i]
		if x.Requester == "" {
			x.Requester = req.Requester
		}
		if x.Requester != req.Requester {
			// Someone else named as the exception's requester is
			// authorized like a request of its own (see RequestException).
			if err := e.mayAct(ctx, OpException, x.Requester, emp); err != nil {
				return nil, err
			}
			if err := e.authorize(ctx, Request{Requester: x.Requester}, emp); err != nil {
				return nil, fmt.Errorf("exception %s: %w", x.Kind, err)
			}
		}
		x.principal = principalID(ctx)
		chk, err := e.checkException(*x)
		if err != nil {
			return nil, err
		}
		checked = append(checked, chk)
	}
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
	e.emit(Event{Kind: "case_opened", CaseID: c.ID, Status: c.Status, At: c.CreatedAt,
		Detail: fmt.Sprintf("%s (%s) requested by %s: %d actions, effective %s", emp.Name, emp.ID, req.Requester, len(plan.Actions), c.EffectiveAt.Format(time.RFC3339))})
	e.emit(evs...)
	e.log.WithFields(map[string]any{"case": c.ID, "employee": emp.ID, "actions": len(plan.Actions), "effective_at": c.EffectiveAt}).Info("case opened")
	if c.Status == store.CaseHeld || c.Status == store.CaseAwaitingConfirmation {
		// Held by the guard, or awaiting the requester's confirmation: it
		// starts when released or confirmed.
	} else if !c.EffectiveAt.After(e.clock()) {
		if err := e.StartCase(ctx, c.ID); err != nil {
			// The case is recorded; the sweep starts it if this failed.
			e.log.WithError(err).WithField("case", c.ID).Warn("starting case failed; the sweep will retry")
		}
	} else if err := e.disp.DispatchCaseStart(ctx, c.ID, c.EffectiveAt); err != nil {
		e.log.WithError(err).WithField("case", c.ID).Warn("scheduling case start failed; the sweep will start it on time")
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
		for _, dev := range plan.Equipment {
			due := plan.EffectiveAt.Add(pol.File.Defaults.EquipmentDue.D())
			t := store.EquipmentTask{CaseID: c.ID, AssetTag: dev.ID, Description: dev.Detail, AssigneeTeam: "it-assets", Status: store.EquipmentOpen, DueAt: &due, CreatedAt: now, UpdatedAt: now}
			if err := tx.Create(&t).Error; err != nil {
				return err
			}
		}
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
			evs = append(evs, Event{Kind: "batch_held", CaseID: c.ID, BatchID: batch.ID, Status: store.BatchPending, Targets: targets,
				Detail: fmt.Sprintf("%s (%s) held in batch %d: %s; approve, deny or release by id", emp.Name, emp.ID, batch.ID, batch.Reason), At: now})
		}
		if cond.NotifySecurityOfficer && len(e.officer) > 0 {
			var targets []string
			for _, id := range e.officer {
				targets = append(targets, "user:"+id)
			}
			au.add(store.Entry{Time: now, CaseID: c.ID, Actor: "kinetic", Event: "case.security_officer_notified", Result: "ok",
				Detail: strings.Join(targets, ",")})
			evs = append(evs, Event{Kind: "security_officer_notice", CaseID: c.ID, Status: c.Status, Targets: targets,
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
		CaseID: c.ID, Name: pa.Name, Connector: pa.Connector, Operation: pa.Operation,
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

// viewAccounts converts what a lookup found into the plan's read-side type.
func viewAccounts(found []connectors.Account) []view.Account {
	if found == nil {
		return nil
	}
	out := make([]view.Account, len(found))
	for i, a := range found {
		out[i] = view.Account(a)
	}
	return out
}
