package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"gorm.io/gorm"

	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/internal/text"
	"github.com/kineticsec/kinetic/store"
)

// Principal is who acts, as a front end authenticated it: a chat user
// ("slack:U0123"), an API client ("api:ticketing"), the CLI's client
// ("cli:cli"), an HR source ("hr:workday"), the policy ("policy") or a
// worker ("worker:host"). Front ends put it in the context with
// WithPrincipal after they authenticate a request; the engine then checks
// every person named as the actor against it and names it in every audit
// event the request writes.
//
// A call without a principal in its context is an in-process caller (the
// engine's own sweeps, the demo, tests): it acts as the person it names.
type Principal struct {
	// ID names the principal; it is recorded in the audit trail and on
	// approval decisions.
	ID string
	// ActAs lists the people this principal may act for: HR ids;
	// "role:hr" (anyone with an HR role), "role:manager" (the departing
	// employee's manager), "role:admin" (a configured admin); or "*"
	// (anyone: a trusted front end that authenticates its own users). A
	// chat user's principal lists their own HR id only. The principal may
	// always act as itself (ID), e.g. an HR source cancelling a case.
	ActAs []string
	// System marks Kinetic's own process (a worker): it acts as Kinetic
	// ("kinetic", "sweep", "policy"), never for a person.
	System bool
}

// WorkerPrincipal is the principal of a worker process on host: the
// actions it runs and the sweeps it makes are recorded as
// "kinetic on worker:HOST".
func WorkerPrincipal(host string) Principal {
	return Principal{ID: "worker:" + host, System: true}
}

// Roles a Principal's ActAs may name besides HR ids and "*".
const (
	ActAsAny     = "*"
	ActAsHR      = "role:hr"
	ActAsManager = "role:manager"
	ActAsAdmin   = "role:admin"
)

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal ctx carries, if any.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok && p.ID != ""
}

// Op names an operation on a case, for refusals.
type Op string

// The operations the engine authorizes.
const (
	OpOpen      Op = "open"
	OpConfirm   Op = "confirm"
	OpCancel    Op = "cancel"
	OpRetry     Op = "retry"
	OpSkip      Op = "skip"
	OpDone      Op = "mark done"
	OpEscalate  Op = "escalate"
	OpApprove   Op = "approve"
	OpDeny      Op = "deny"
	OpRelease   Op = "release a hold"
	OpException Op = "request an exception"
	OpBatch     Op = "decide a batch"
	OpView      Op = "view"
)

// mayAct is the check every operation on a case makes before anything
// else, whatever front end it came from:
//
//   - nobody acts on their own offboarding: actor is never the departing
//     employee (emp) of any case the operation touches;
//   - the authenticated principal in ctx may act for actor (see
//     Principal.ActAs).
//
// The operation's own rules (who may decide a step, operate an action,
// confirm a plan) are checked after it. emp may be nil when the operation
// touches several cases (a batch): the caller checks each case's employee
// with selfCheck.
func (e *Engine) mayAct(ctx context.Context, op Op, actor string, emp *directory.Employee) error {
	if strings.TrimSpace(actor) == "" {
		return fmt.Errorf("%w: who is acting? (%s)", ErrNotAllowed, op)
	}
	if emp != nil {
		if err := selfCheck(op, actor, emp.ID); err != nil {
			return err
		}
	}
	p, ok := PrincipalFrom(ctx)
	if !ok || actor == p.ID || p.System && systemActor(actor) {
		return nil
	}
	for _, a := range p.ActAs {
		switch {
		case a == ActAsAny, a == actor:
			return nil
		case a == ActAsAdmin && e.admins[actor]:
			return nil
		case a == ActAsManager && emp != nil && emp.Manager != "" && emp.Manager == actor:
			return nil
		case a == ActAsHR && e.hasHRRole(ctx, actor):
			return nil
		}
	}
	return fmt.Errorf("%w: %s may not act for %s (it may act for: %s)", ErrNotAllowed, p.ID, actor, orNone(p.ActAs))
}

// selfCheck refuses an operation by the departing employee on their own
// case.
func selfCheck(op Op, actor, employeeID string) error {
	if actor != "" && actor == employeeID {
		if op == OpOpen {
			return fmt.Errorf("%w: nobody may offboard themselves", ErrNotAllowed)
		}
		return fmt.Errorf("%w: %s is the departing employee; nobody may %s on their own offboarding", ErrNotAllowed, actor, op)
	}
	return nil
}

// mayActOnCase is mayAct for an operation on case c, inside tx (the
// employee comes from the case's snapshot).
func (e *Engine) mayActOnCase(ctx context.Context, tx *gorm.DB, op Op, actor string, c *store.Case) error {
	if err := selfCheck(op, actor, c.EmployeeID); err != nil {
		return err
	}
	emp, err := e.snapshot(tx, c.ID)
	if err != nil {
		return err
	}
	if err := e.mayAct(ctx, op, actor, emp); err != nil {
		return err
	}
	return nil
}

// hasHRRole reports whether id is an active employee with an HR role.
func (e *Engine) hasHRRole(ctx context.Context, id string) bool {
	who, err := e.dir.ByID(ctx, id)
	if err != nil || !who.Active() {
		return false
	}
	if who.HRRole {
		return true
	}
	return slices.ContainsFunc(who.RoleProfiles, func(r string) bool { return e.hrRoles[r] })
}

// principalID is the ID of ctx's principal, or "" for an in-process caller.
func principalID(ctx context.Context) string {
	p, _ := PrincipalFrom(ctx)
	return p.ID
}

// auditActor is how an audit event names who acted: the principal, and
// the person it acted for ("api:ticketing as M1"); the engine's own
// follow-up events in the same transaction say on whose request they
// happened ("kinetic for slack:U1"), and a worker's events where they ran
// ("kinetic on worker:web-1"). Without a principal the actor
// is unchanged. The result fits the audit's 256-character actor column.
func auditActor(p Principal, ok bool, actor string) string {
	if !ok {
		return actor
	}
	var s string
	switch {
	case actor == "" || actor == p.ID:
		s = p.ID
	case strings.HasPrefix(actor, p.ID+" "):
		s = actor
	case p.System && systemActor(actor):
		s = actor + " on " + p.ID
	case systemActor(actor):
		s = actor + " for " + p.ID
	default:
		s = p.ID + " as " + actor
	}
	return text.ClipBytes(s, 255) // clip may add "…"
}

// systemActor reports whether an audit actor is Kinetic itself rather
// than a person.
func systemActor(a string) bool {
	switch a {
	case "kinetic", "sweep", "policy":
		return true
	}
	return false
}

func orNone(ss []string) string {
	if len(ss) == 0 {
		return "nobody"
	}
	return strings.Join(ss, ", ")
}
