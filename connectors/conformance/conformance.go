// Package conformance is the shared test kit every connector must pass
// (the sandbox, its remote form, LDAP, Microsoft Graph, Okta and the
// webhook templates run it in their tests). It checks
// the contract written on connectors.Connector: idempotent operations,
// "none found" for missing accounts, classified errors that say whether to
// retry, prompt cancellation, and no secret in any error or detail.
//
// A connector's own test builds a Harness and calls Run:
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, conformance.Harness{New: …, Present: …, Missing: …, Ops: …})
//	}
//
// Ticket connectors (servicenow, jira), which hold no accounts, run
// RunTicketer instead: the contract written on connectors.Ticketer.
package conformance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
)

// Harness describes the connector under test.
type Harness struct {
	// New returns a fresh connector with a subject Present that holds an
	// active account supporting every operation in Ops, and no account for
	// Missing. It is called once per subtest that changes state.
	New func(t *testing.T) connectors.Connector
	// Present and Missing are the subjects described above.
	Present, Missing connectors.Subject
	// Ops are the operations to exercise (at least one).
	Ops []connectors.Operation
	// Params are optional per-operation parameters passed in Request.Params.
	Params map[connectors.Operation]map[string]string
	// InjectFailure makes the next call about Present fail with the given
	// kind. Nil if the connector cannot do that; the subtests that need it
	// are then skipped with a reason.
	InjectFailure func(t *testing.T, c connectors.Connector, kind connectors.Kind)
	// Slow makes later calls on c block long enough that a context cancelled
	// while the call is in flight is observable (for example by setting a
	// latency or stalling the test server). Nil means cancellation is only
	// checked with an already-cancelled context.
	Slow func(t *testing.T, c connectors.Connector)
	// Secrets are strings (tokens, passwords) that must never appear in any
	// error text or detail. Empty strings are ignored.
	Secrets []string
}

// callTimeout bounds every call the kit makes, so a hung connector fails the
// test instead of hanging it.
const callTimeout = 30 * time.Second

// cancelBound is how long a call may take to return once its context is
// cancelled.
const cancelBound = 5 * time.Second

// Run checks the connector described by h against the connectors contract.
// Subtests read like a spec and can be selected with -run.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("conformance: Harness.New is required")
	}
	if len(h.Ops) == 0 {
		t.Fatal("conformance: Harness.Ops lists no operation")
	}
	r := &runner{h: h}

	t.Run("name is set", func(t *testing.T) {
		c := h.New(t)
		if c.Name() == "" {
			t.Error("Name() is empty")
		}
	})
	t.Run("lookup of present subject finds an active account", r.lookupPresent)
	t.Run("lookup of missing subject is none found", r.lookupMissing)
	t.Run("second call is an idempotent success", r.idempotent)
	t.Run("missing account is none found", r.missing)
	t.Run("unsupported operation is invalid", r.unsupported)
	t.Run("transient errors are retryable", func(t *testing.T) {
		for _, k := range []connectors.Kind{connectors.KindTransient, connectors.KindRateLimited} {
			t.Run(string(k), func(t *testing.T) { r.injected(t, k, true) })
		}
	})
	t.Run("permanent errors are not retryable", func(t *testing.T) {
		for _, k := range []connectors.Kind{connectors.KindAuth, connectors.KindForbidden, connectors.KindInvalid} {
			t.Run(string(k), func(t *testing.T) { r.injected(t, k, false) })
		}
	})
	t.Run("cancelled context stops the call", r.cancelled)
	t.Run("no secret appears in any error", r.noSecrets)
}

type runner struct {
	h Harness

	mu   sync.Mutex
	seen []string // every error text and detail produced so far
}

func (r *runner) note(texts ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range texts {
		if s != "" {
			r.seen = append(r.seen, s)
		}
	}
}

func (r *runner) noteErr(err error) {
	if err != nil {
		r.note(err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%v", errors.Unwrap(err)))
	}
}

func (r *runner) req(op connectors.Operation, s connectors.Subject) connectors.Request {
	return connectors.Request{
		Operation:      op,
		Subject:        s,
		Params:         r.h.Params[op],
		IdempotencyKey: "conformance-" + string(op),
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	t.Cleanup(cancel)
	return ctx
}

func (r *runner) do(t *testing.T, c connectors.Connector, req connectors.Request) (connectors.Result, error) {
	t.Helper()
	res, err := c.Do(ctxT(t), req)
	r.noteErr(err)
	r.note(res.Detail)
	for _, v := range res.Data {
		r.note(v)
	}
	return res, err
}

func (r *runner) lookup(t *testing.T, c connectors.Connector, s connectors.Subject) (connectors.LookupResult, error) {
	t.Helper()
	res, err := c.Lookup(ctxT(t), s)
	r.noteErr(err)
	for _, a := range res.Accounts {
		r.note(a.Detail)
	}
	return res, err
}

func (r *runner) verify(t *testing.T, v connectors.Verifier, req connectors.Request) (connectors.Verification, error) {
	t.Helper()
	res, err := v.Verify(ctxT(t), req)
	r.noteErr(err)
	r.note(res.Detail)
	return res, err
}

func (r *runner) lookupPresent(t *testing.T) {
	c := r.h.New(t)
	res, err := r.lookup(t, c, r.h.Present)
	if err != nil {
		t.Fatalf("Lookup(present) error: %v", err)
	}
	if len(res.Accounts) == 0 {
		t.Fatal("Lookup(present) found no account")
	}
	active := false
	for _, a := range res.Accounts {
		if a.ID == "" {
			t.Errorf("account %+v has no ID", a)
		}
		if a.Status == connectors.StatusActive {
			active = true
		}
	}
	if !active {
		t.Errorf("Lookup(present) found no active account: %+v", res.Accounts)
	}
}

func (r *runner) lookupMissing(t *testing.T) {
	c := r.h.New(t)
	res, err := r.lookup(t, c, r.h.Missing)
	if err != nil {
		t.Fatalf("Lookup(missing) = error %v, want an empty result and nil error", err)
	}
	if len(res.Accounts) != 0 {
		t.Fatalf("Lookup(missing) found %d accounts, want none: %+v", len(res.Accounts), res.Accounts)
	}
}

func (r *runner) idempotent(t *testing.T) {
	for _, op := range r.h.Ops {
		t.Run(string(op), func(t *testing.T) {
			c := r.h.New(t)
			req := r.req(op, r.h.Present)
			v, canVerify := c.(connectors.Verifier)
			satisfied := false
			if canVerify {
				before, err := r.verify(t, v, req)
				if err != nil {
					t.Fatalf("Verify before Do: %v", err)
				}
				satisfied = before.OK
			}

			first, err := r.do(t, c, req)
			if err != nil {
				t.Fatalf("first Do: %v", err)
			}
			switch first.Outcome {
			case connectors.OutcomeDone:
			case connectors.OutcomeAlreadyDone:
				if !satisfied {
					if canVerify {
						t.Fatalf("first Do = already_done, but Verify said the seeded state did not satisfy %s", op)
					}
					t.Logf("first Do = already_done; cannot tell whether the seeded state satisfied %s (no Verifier)", op)
				}
			default:
				t.Fatalf("first Do outcome = %q (%s), want done", first.Outcome, first.Detail)
			}

			second, err := r.do(t, c, req)
			if err != nil {
				t.Fatalf("second Do: %v (want an idempotent success)", err)
			}
			if second.Outcome != connectors.OutcomeAlreadyDone {
				t.Fatalf("second Do outcome = %q (%s), want %q", second.Outcome, second.Detail, connectors.OutcomeAlreadyDone)
			}

			if canVerify {
				after, err := r.verify(t, v, req)
				if err != nil {
					t.Fatalf("Verify after Do: %v", err)
				}
				if !after.OK {
					t.Fatalf("Verify after Do = not OK (%s)", after.Detail)
				}
			}
		})
	}
}

func (r *runner) missing(t *testing.T) {
	c := r.h.New(t)
	v, canVerify := c.(connectors.Verifier)
	for _, op := range r.h.Ops {
		t.Run(string(op), func(t *testing.T) {
			req := r.req(op, r.h.Missing)
			res, err := r.do(t, c, req)
			if err != nil {
				t.Fatalf("Do(missing) = error %v, want outcome %q", err, connectors.OutcomeNoneFound)
			}
			if res.Outcome != connectors.OutcomeNoneFound {
				t.Fatalf("Do(missing) outcome = %q (%s), want %q", res.Outcome, res.Detail, connectors.OutcomeNoneFound)
			}
			if canVerify {
				ver, err := r.verify(t, v, req)
				if err != nil {
					t.Fatalf("Verify(missing) = error %v, want OK", err)
				}
				if !ver.OK {
					t.Fatalf("Verify(missing) = not OK (%s): nothing to revoke should verify", ver.Detail)
				}
			}
		})
	}
}

func (r *runner) unsupported(t *testing.T) {
	c := r.h.New(t)
	_, err := r.do(t, c, r.req("conformance_no_such_operation", r.h.Present))
	assertKind(t, err, connectors.KindInvalid, false)
}

// injected checks that a failure of kind reaches the caller from each method
// as a classified error with the right retryability.
func (r *runner) injected(t *testing.T, kind connectors.Kind, retryable bool) {
	if r.h.InjectFailure == nil {
		t.Skip("the connector cannot inject failures (Harness.InjectFailure is nil)")
	}
	c := r.h.New(t)
	op := r.h.Ops[0]

	t.Run("Do", func(t *testing.T) {
		r.h.InjectFailure(t, c, kind)
		_, err := r.do(t, c, r.req(op, r.h.Present))
		assertKind(t, err, kind, retryable)
	})
	t.Run("Lookup", func(t *testing.T) {
		r.h.InjectFailure(t, c, kind)
		_, err := r.lookup(t, c, r.h.Present)
		assertKind(t, err, kind, retryable)
	})
	if v, ok := c.(connectors.Verifier); ok {
		t.Run("Verify", func(t *testing.T) {
			r.h.InjectFailure(t, c, kind)
			_, err := r.verify(t, v, r.req(op, r.h.Present))
			assertKind(t, err, kind, retryable)
		})
	}
}

func assertKind(t *testing.T, err error, kind connectors.Kind, retryable bool) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want a %s error", kind)
	}
	var ce *connectors.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %q (%T) is not a *connectors.Error", err, err)
	}
	if ce.Kind != kind {
		t.Fatalf("error kind = %q, want %q (%v)", ce.Kind, kind, err)
	}
	if got := connectors.KindOf(err); got != kind {
		t.Fatalf("KindOf = %q, want %q", got, kind)
	}
	if got := connectors.IsRetryable(err); got != retryable {
		t.Fatalf("IsRetryable = %t, want %t (%v)", got, retryable, err)
	}
}

func assertCanceled(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("call with a cancelled context succeeded")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %q does not wrap context.Canceled", err)
	}
	if k := connectors.KindOf(err); k != connectors.KindCanceled {
		t.Errorf("KindOf = %q, want %q", k, connectors.KindCanceled)
	}
	if !connectors.IsRetryable(err) {
		t.Errorf("a cancelled call must be retryable (the work is not known to be done)")
	}
}

func (r *runner) cancelled(t *testing.T) {
	op := r.h.Ops[0]
	t.Run("already cancelled", func(t *testing.T) {
		c := r.h.New(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.Lookup(ctx, r.h.Present)
		r.noteErr(err)
		assertCanceled(t, err)
		_, err = c.Do(ctx, r.req(op, r.h.Present))
		r.noteErr(err)
		assertCanceled(t, err)
		if v, ok := c.(connectors.Verifier); ok {
			_, err = v.Verify(ctx, r.req(op, r.h.Present))
			r.noteErr(err)
			assertCanceled(t, err)
		}
	})
	t.Run("cancelled in flight", func(t *testing.T) {
		if r.h.Slow == nil {
			t.Skip("the connector cannot be slowed down (Harness.Slow is nil); checked with an already-cancelled context only")
		}
		c := r.h.New(t)
		r.h.Slow(t, c)
		calls := map[string]func(context.Context) error{
			"Lookup": func(ctx context.Context) error { _, err := c.Lookup(ctx, r.h.Present); return err },
			"Do":     func(ctx context.Context) error { _, err := c.Do(ctx, r.req(op, r.h.Present)); return err },
		}
		if v, ok := c.(connectors.Verifier); ok {
			calls["Verify"] = func(ctx context.Context) error { _, err := v.Verify(ctx, r.req(op, r.h.Present)); return err }
		}
		for name, call := range calls {
			t.Run(name, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				done := make(chan error, 1)
				go func() { done <- call(ctx) }()
				// Give the call a moment to get in flight, then cancel it.
				select {
				case err := <-done:
					t.Fatalf("call returned before it was cancelled (is Slow slow enough?): %v", err)
				case <-time.After(20 * time.Millisecond):
				}
				cancel()
				select {
				case err := <-done:
					r.noteErr(err)
					assertCanceled(t, err)
				case <-time.After(cancelBound):
					t.Fatalf("call did not return within %s of its context being cancelled", cancelBound)
				}
			})
		}
	})
}

// noSecrets provokes every error the kit knows how to provoke, then checks
// every error text and detail seen during the whole run.
func (r *runner) noSecrets(t *testing.T) {
	var secrets []string
	for _, s := range r.h.Secrets {
		if s != "" {
			secrets = append(secrets, s)
		}
	}
	if len(secrets) == 0 {
		t.Skip("Harness.Secrets lists no secret to look for")
	}
	c := r.h.New(t)
	op := r.h.Ops[0]
	v, canVerify := c.(connectors.Verifier)
	if r.h.InjectFailure != nil {
		for _, k := range []connectors.Kind{connectors.KindTransient, connectors.KindRateLimited, connectors.KindAuth, connectors.KindForbidden, connectors.KindInvalid, connectors.KindNotFound} {
			r.h.InjectFailure(t, c, k)
			r.do(t, c, r.req(op, r.h.Present))
			r.h.InjectFailure(t, c, k)
			r.lookup(t, c, r.h.Present)
			if canVerify {
				r.h.InjectFailure(t, c, k)
				r.verify(t, v, r.req(op, r.h.Present))
			}
		}
	}
	r.do(t, c, r.req("conformance_no_such_operation", r.h.Present))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Do(ctx, r.req(op, r.h.Present))
	r.noteErr(err)

	r.mu.Lock()
	seen := append([]string(nil), r.seen...)
	r.mu.Unlock()
	if len(seen) == 0 {
		t.Fatal("no error or detail was produced to check")
	}
	reported := map[string]bool{}
	for _, text := range seen {
		if reported[text] {
			continue
		}
		reported[text] = true
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("secret %q appears in %q", redact(s), strings.ReplaceAll(text, s, "<secret>"))
			}
		}
	}
}

// redact shows enough of a secret to identify which one leaked without
// printing it whole in the test log.
func redact(s string) string {
	if len(s) <= 4 {
		return "****"
	}
	return s[:2] + "…" + s[len(s)-2:]
}
