package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

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
	// The asset tracker is listed alongside the lookups, not after them.
	tracked := make(chan *Plan, 1)
	if !offline {
		go func() {
			tp := &Plan{Employee: *emp}
			e.listTracked(ctx, tp, pol)
			tracked <- tp
		}()
		found = e.discover(ctx, emp, insts)
	}
	for _, name := range slices.Sorted(maps.Keys(insts)) {
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
		if s.Def.Manual {
			pa.Params = e.manualStepParams(s.Def.Connector, connectors.Operation(s.Def.Operation), pa.Params)
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
				if d.Accounts[0].Synced && isDisabling(s.Def.Operation) && e.syncedFrom(s.Def.Connector) == "" {
					pa.Ordering = fmt.Sprintf("%s reports the account synced from another directory, but no synced_from names its source: the next sync may undo this (set connectors.%s.synced_from)",
						s.Def.Connector, s.Def.Connector)
				}
				if connectors.Operation(s.Def.Operation) == connectors.OpCreateRecoveryTask {
					p.Equipment = d.Accounts
				}
			}
		}
		p.Actions = append(p.Actions, pa)
	}
	orderBySource(p.Actions, e.syncedFrom)
	p.RemoteAccess = planRemoteAccess(p.Actions, e.revokesOf)
	if !offline {
		tp := <-tracked
		p.Tracked, p.TrackerError = tp.Tracked, tp.TrackerError
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
	return slices.Sorted(maps.Keys(set))
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
			return fmt.Errorf("%w: exception kind %q is not in the policy (known: %s)", ErrInvalidRequest, x.Kind, strings.Join(slices.Sorted(maps.Keys(pol.File.Exceptions)), ", "))
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
