package engine

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/store"
)

// Checking a request before it is planned: every check Open makes that
// needs neither a connector nor a write, so that a chat front end can
// refuse within its callback what would be refused anyway (Precheck,
// CheckException), and Open makes the same checks in the same order.

// maxReason is the most characters a request's reason may have (the
// cases.reason column holds 1024).
const maxReason = 1000

// Fields of a Request a FieldError names.
const (
	FieldReason    = "reason"
	FieldEffective = "effective_at"
	// FieldEmployee: the employee is unknown, inactive, the requester
	// themselves, or already has an open case.
	FieldEmployee = "employee"
	// FieldRequester: the requester may not offboard this employee.
	FieldRequester = "requester"
	// FieldExceptionPrefix followed by the exception's kind
	// ("exception:email_forwarding").
	FieldExceptionPrefix = "exception:"
)

// A FieldError is a refusal of one field of a request, so that a form can
// show it next to that field. Its text is the refusal's; it unwraps to the
// refusal (ErrInvalidRequest, ErrNotAllowed, ErrUnknownEmployee, a
// *CaseOpenError…), so errors.Is and errors.As see through it.
type FieldError struct {
	// Field is one of the Field constants.
	Field string
	Err   error
}

func (f *FieldError) Error() string { return f.Err.Error() }
func (f *FieldError) Unwrap() error { return f.Err }

func fieldErr(field string, err error) error {
	if err == nil {
		return nil
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return err
	}
	return &FieldError{Field: field, Err: err}
}

// validated is a request that passed validate.
type validated struct {
	emp *directory.Employee
	// dup is the case an earlier request with the same idempotency key
	// created; upgrade the employee's open voluntary case an involuntary
	// request upgrades. At most one is set; with either, emp and checked
	// may be nil.
	dup, upgrade *store.Case
	checked      []*checkedException
}

// Precheck runs every check Open makes before planning — the reason's
// length, the effective time, the exceptions against the policy, that the
// employee is in the directory and active, that the requester may
// offboard them (never themselves), and that no case is open for them —
// without a connector lookup or a write, and returns the first refusal as
// Open would (wrapped in a *FieldError naming the field), or nil when Open
// would go on to plan. It reads the directory and the database only, so a
// chat front end calls it within its 3-second callback. An involuntary
// request for an employee whose open case is voluntary passes (Open
// upgrades that case) unless it carries exceptions.
func (e *Engine) Precheck(ctx context.Context, req Request) error {
	_, err := e.validate(ctx, &req)
	return err
}

// CheckException runs the checks of one exception request that need no
// case: its kind is in the policy, its reason fits, a forwarding address
// is an address in an allowed domain, days are within the policy's
// maximum, a delayed action is one the kind may delay. The refusal is a
// *FieldError naming the exception.
func (e *Engine) CheckException(x ExceptionRequest) error {
	_, err := e.checkException(x)
	return fieldErr(FieldExceptionPrefix+x.Kind, err)
}

// validate is Open's checks, in order; it fills in the exceptions'
// requesters and principal.
func (e *Engine) validate(ctx context.Context, req *Request) (validated, error) {
	var v validated
	if req.Trigger == "" {
		return v, fmt.Errorf("%w: trigger is required", ErrInvalidRequest)
	}
	if n := utf8.RuneCountInString(req.Reason); n > maxReason {
		return v, fieldErr(FieldReason, fmt.Errorf("%w: the reason is at most %d characters (it has %d)", ErrInvalidRequest, maxReason, n))
	}
	if err := e.checkEffective(*req); err != nil {
		return v, fieldErr(FieldEffective, err)
	}
	if err := e.checkExceptionKinds(req.Exceptions); err != nil {
		field, seen := "", map[string]bool{}
		for _, x := range req.Exceptions {
			if _, ok := e.policy.Load().File.Exceptions[x.Kind]; !ok || seen[x.Kind] {
				field = x.Kind
				break
			}
			seen[x.Kind] = true
		}
		field = FieldExceptionPrefix + field
		return v, fieldErr(field, err)
	}
	if req.IdempotencyKey != "" {
		c, err := e.store.CaseByIdempotencyKey(ctx, req.IdempotencyKey)
		if err == nil {
			v.dup = c
			return v, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return v, err
		}
	}
	emp, err := e.findEmployee(ctx, req.EmployeeID, req.Email)
	if err != nil {
		if errors.Is(err, ErrUnknownEmployee) {
			return v, fieldErr(FieldEmployee, err)
		}
		return v, err
	}
	if !emp.Active() {
		return v, fieldErr(FieldEmployee, fmt.Errorf("%w: %s (%s) has HR status %q", ErrInactiveEmployee, emp.ID, emp.Name, emp.Status))
	}
	if !req.System {
		if err := selfCheck(OpOpen, req.Requester, emp.ID); err != nil {
			return v, fieldErr(FieldEmployee, err)
		}
		if err := e.mayAct(ctx, OpOpen, req.Requester, emp); err != nil {
			return v, fieldErr(FieldRequester, err)
		}
	}
	if err := e.authorize(ctx, *req, emp); err != nil {
		if errors.Is(err, ErrNotAllowed) {
			return v, fieldErr(FieldRequester, err)
		}
		return v, err
	}
	if c, err := e.store.OpenCaseFor(ctx, emp.ID); err == nil {
		if !req.Involuntary || c.Involuntary {
			return v, fieldErr(FieldEmployee, &CaseOpenError{CaseID: c.ID})
		}
		if len(req.Exceptions) > 0 {
			return v, fieldErr(FieldExceptionPrefix+req.Exceptions[0].Kind, fmt.Errorf(
				"%w: case %d is already open for this employee; an involuntary request for it carries no exceptions (request them on the case)", ErrInvalidRequest, c.ID))
		}
		v.upgrade = c
		return v, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return v, err
	}
	for i := range req.Exceptions {
		x := &req.Exceptions[i]
		if x.Requester == "" {
			x.Requester = req.Requester
		}
		if x.Requester != req.Requester {
			// Someone else named as the exception's requester is
			// authorized like a request of its own (see RequestException).
			if err := e.mayAct(ctx, OpException, x.Requester, emp); err != nil {
				return v, fieldErr(FieldExceptionPrefix+x.Kind, err)
			}
			if err := e.authorize(ctx, Request{Requester: x.Requester}, emp); err != nil {
				return v, fieldErr(FieldExceptionPrefix+x.Kind, fmt.Errorf("exception %s: %w", x.Kind, err))
			}
		}
		x.principal = principalID(ctx)
		chk, err := e.checkException(*x)
		if err != nil {
			return v, fieldErr(FieldExceptionPrefix+x.Kind, err)
		}
		v.checked = append(v.checked, chk)
	}
	v.emp = emp
	return v, nil
}
