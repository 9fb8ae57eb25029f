package conformance

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/connectors"
)

// TicketHarness describes a connectors.Ticketer under test, backed by a
// stateful fake of its system (a scripted sequence cannot answer the
// kit's free order of calls).
type TicketHarness struct {
	// New returns a fresh Ticketer on an empty system.
	New func(t *testing.T) connectors.Ticketer
	// Delete removes a filed ticket from the system behind the Ticketer's
	// back (a team deleting it).
	Delete func(t *testing.T, c connectors.Ticketer, ref connectors.TicketRef)
	// InjectFailure makes the next request to the system fail with kind;
	// nil skips the subtests that need it.
	InjectFailure func(t *testing.T, c connectors.Ticketer, kind connectors.Kind)
	// Secrets must appear in no error or detail.
	Secrets []string
}

// RunTicketer checks the contract written on connectors.Ticketer.
func RunTicketer(t *testing.T, h TicketHarness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("conformance: TicketHarness.New is required")
	}
	var seen []string
	note := func(res connectors.TicketResult, err error) {
		seen = append(seen, res.Detail)
		if err != nil {
			seen = append(seen, err.Error())
		}
	}
	req := connectors.TicketRequest{CaseID: "conformance-case", TaskID: "task-1", Summary: "Recover laptop LT-1", Description: "Conformance ticket.\n\nSecond paragraph."}

	t.Run("open files one ticket per case and task", func(t *testing.T) {
		c := h.New(t)
		first, err := c.OpenTicket(ctxT(t), req)
		note(first, err)
		if err != nil || first.Outcome != connectors.OutcomeDone {
			t.Fatalf("first OpenTicket = %+v, %v; want done", first, err)
		}
		if first.Ref.ID == "" || first.Ref.Key == "" || !strings.HasPrefix(first.Ref.URL, "http") {
			t.Fatalf("ref %+v lacks an ID, a Key or a URL", first.Ref)
		}
		second, err := c.OpenTicket(ctxT(t), req)
		note(second, err)
		if err != nil || second.Outcome != connectors.OutcomeAlreadyDone || second.Ref != first.Ref {
			t.Fatalf("second OpenTicket = %+v, %v; want already_done with %+v", second, err, first.Ref)
		}
		other := req
		other.TaskID = "task-2"
		third, err := c.OpenTicket(ctxT(t), other)
		note(third, err)
		if err != nil || third.Outcome != connectors.OutcomeDone || third.Ref.ID == first.Ref.ID {
			t.Fatalf("another task's OpenTicket = %+v, %v; want a new ticket", third, err)
		}
	})
	t.Run("update adds a note once and moves the state", func(t *testing.T) {
		c := h.New(t)
		open, err := c.OpenTicket(ctxT(t), req)
		if err != nil {
			t.Fatal(err)
		}
		u := connectors.TicketUpdate{Note: "Laptop received by IT.", State: connectors.TicketInProgress}
		first, err := c.UpdateTicket(ctxT(t), open.Ref, u)
		note(first, err)
		if err != nil || first.Outcome != connectors.OutcomeDone || first.State != connectors.TicketInProgress {
			t.Fatalf("first UpdateTicket = %+v, %v", first, err)
		}
		second, err := c.UpdateTicket(ctxT(t), open.Ref, u)
		note(second, err)
		if err != nil || second.Outcome != connectors.OutcomeAlreadyDone {
			t.Fatalf("second UpdateTicket = %+v, %v; want already_done", second, err)
		}
		_, err = c.UpdateTicket(ctxT(t), open.Ref, connectors.TicketUpdate{State: connectors.TicketClosed})
		if connectors.KindOf(err) != connectors.KindInvalid {
			t.Fatalf("UpdateTicket to closed = %v; want invalid (CloseTicket closes)", err)
		}
	})
	t.Run("close is idempotent and final", func(t *testing.T) {
		c := h.New(t)
		open, err := c.OpenTicket(ctxT(t), req)
		if err != nil {
			t.Fatal(err)
		}
		first, err := c.CloseTicket(ctxT(t), open.Ref, "Laptop disposed, certificate COD-1.")
		note(first, err)
		if err != nil || first.Outcome != connectors.OutcomeDone || first.State != connectors.TicketClosed {
			t.Fatalf("first CloseTicket = %+v, %v", first, err)
		}
		second, err := c.CloseTicket(ctxT(t), open.Ref, "Laptop disposed, certificate COD-1.")
		note(second, err)
		if err != nil || second.Outcome != connectors.OutcomeAlreadyDone {
			t.Fatalf("second CloseTicket = %+v, %v; want already_done", second, err)
		}
		after, err := c.UpdateTicket(ctxT(t), open.Ref, connectors.TicketUpdate{Note: "late note", State: connectors.TicketInProgress})
		note(after, err)
		if err != nil || after.State != connectors.TicketClosed {
			t.Fatalf("UpdateTicket after close = %+v, %v; want the ticket to stay closed", after, err)
		}
		again, err := c.OpenTicket(ctxT(t), req)
		if err != nil || again.Outcome != connectors.OutcomeAlreadyDone || again.State != connectors.TicketClosed {
			t.Fatalf("OpenTicket after close = %+v, %v; want the closed ticket, not a new one", again, err)
		}
	})
	t.Run("a deleted ticket is none found", func(t *testing.T) {
		if h.Delete == nil {
			t.Skip("TicketHarness.Delete is nil")
		}
		c := h.New(t)
		open, err := c.OpenTicket(ctxT(t), req)
		if err != nil {
			t.Fatal(err)
		}
		h.Delete(t, c, open.Ref)
		for name, call := range map[string]func() (connectors.TicketResult, error){
			"UpdateTicket": func() (connectors.TicketResult, error) {
				return c.UpdateTicket(ctxT(t), open.Ref, connectors.TicketUpdate{Note: "x"})
			},
			"CloseTicket": func() (connectors.TicketResult, error) { return c.CloseTicket(ctxT(t), open.Ref, "x") },
		} {
			res, err := call()
			note(res, err)
			if err != nil || res.Outcome != connectors.OutcomeNoneFound {
				t.Errorf("%s of a deleted ticket = %+v, %v; want none_found", name, res, err)
			}
		}
	})
	t.Run("errors say whether to retry", func(t *testing.T) {
		if h.InjectFailure == nil {
			t.Skip("TicketHarness.InjectFailure is nil")
		}
		for _, tc := range []struct {
			kind      connectors.Kind
			retryable bool
		}{{connectors.KindTransient, true}, {connectors.KindRateLimited, true}, {connectors.KindAuth, false}, {connectors.KindForbidden, false}, {connectors.KindInvalid, false}} {
			t.Run(string(tc.kind), func(t *testing.T) {
				c := h.New(t)
				h.InjectFailure(t, c, tc.kind)
				res, err := c.OpenTicket(ctxT(t), req)
				note(res, err)
				assertKind(t, err, tc.kind, tc.retryable)
			})
		}
	})
	t.Run("cancelled context stops the call", func(t *testing.T) {
		c := h.New(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.OpenTicket(ctx, req)
		if err != nil {
			seen = append(seen, err.Error())
		}
		assertCanceled(t, err)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v does not wrap context.Canceled", err)
		}
	})
	t.Run("no secret appears in any error or detail", func(t *testing.T) {
		for _, text := range seen {
			for _, s := range h.Secrets {
				if s != "" && strings.Contains(text, s) {
					t.Errorf("secret %q appears in %q", redact(s), strings.ReplaceAll(text, s, "<secret>"))
				}
			}
		}
	})
}
