package engine

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"gorm.io/gorm"

	"github.com/kineticsec/kinetic/internal/text"
	"github.com/kineticsec/kinetic/store"
)

// Graceful hand-back: a worker that is stopping (SIGTERM) interrupts the
// connector calls still in flight after its grace and hands their actions
// back — requeued at once under a new generation, lease released, the
// interrupted attempt not counted — so another worker picks them up within
// seconds instead of waiting for the lease to lapse and the sweep.

type handBackKey struct{}

// WithHandBack returns ctx carrying a hand-back signal: when signal is
// closed, an action RunAction is running under ctx that is still in its
// connector call has the call cancelled and is handed back (requeued
// without counting the attempt, audited as action.handed_back). A call
// that completes anyway is recorded as usual: its effect happened. An
// action not yet claimed when signal closes is not claimed; RunAction
// returns ErrHandedBack so the queue runs its task again elsewhere.
// Recording outcomes uses ctx itself, which the signal does not cancel.
func WithHandBack(ctx context.Context, signal <-chan struct{}) context.Context {
	return context.WithValue(ctx, handBackKey{}, signal)
}

// ErrHandedBack is RunAction's error for a task that arrived after its
// worker began to hand work back: the action was left queued, untouched.
var ErrHandedBack = errors.New("worker is shutting down: action left queued for another worker")

func handBackSignal(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(handBackKey{}).(<-chan struct{})
	return ch
}

func handingBack(ctx context.Context) bool {
	ch := handBackSignal(ctx)
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// watchHandBack cancels the call (cancel) when ctx's hand-back signal
// closes before stop is called, and records that it did in fired.
func watchHandBack(ctx context.Context, cancel func(), fired *atomic.Bool) (stop func()) {
	ch := handBackSignal(ctx)
	if ch == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case <-ch:
			fired.Store(true)
			cancel()
		case <-done:
		}
	}()
	return func() { close(done); <-finished }
}

// handBack returns a claimed action whose call was interrupted by the
// worker's shutdown to the queue: running → queued under generation gen+1,
// lease released, attempts back to what they were before this claim, the
// interruption audited. What the interrupted call reported changing is
// kept with the action, as finish keeps a failed attempt's changes.
func (e *Engine) handBack(ctx context.Context, a *store.Action, gen int, out outcome, log interface{ Warn(...any) }) error {
	// The process is stopping; the record must still be written.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dispatchTimeout)
	defer cancel()
	now := e.clock()
	prior := a.Attempts - 1 // RunAction counted this claim
	var ok bool
	err := e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
		fields := map[string]any{
			"status": store.ActionQueued, "generation": gen + 1, "lease_until": nil, "attempts": prior,
			"queued_at": now, "not_before": nil, "updated_at": now,
			"last_error": "attempt interrupted: its worker shut down and handed it back (not counted)",
		}
		detail := fmt.Sprintf("attempt %d interrupted by the worker's shutdown; requeued at once, not counted (attempts stay %d)", prior+1, prior)
		if len(out.res.Data) > 0 {
			fields["result_data"] = mergeResultData(a.ResultData, out.res.Data)
			detail += fmt.Sprintf(" (changed before the interruption: %s)", describeParams(out.res.Data))
		}
		var err error
		ok, err = store.UpdateActionIf(tx, a.ID, store.ActionRunning, gen, fields)
		if err != nil || !ok {
			return err
		}
		au.st.ActionFields(a.CaseID, a.ID, fields)
		au.add(store.Entry{Time: now, CaseID: a.CaseID, ActionID: a.ID, Actor: "worker", System: a.Connector,
			Event: "action.handed_back", Result: "requeued", Detail: text.ClipBytes(detail, 2000)})
		return nil
	})
	if err != nil {
		return err
	}
	if !ok {
		return nil // the sweep took it back first; the newer generation decides
	}
	log.Warn(fmt.Sprintf("shutting down: attempt %d interrupted and handed back", prior+1))
	e.metrics.countRecovered(RecoveredHandedBack)
	e.emit(Event{Kind: EventAction, CaseID: a.CaseID, ActionID: a.ID, Name: a.Name, Status: store.ActionQueued, At: now})
	e.dispatchAll(ctx, []dispatch{{id: a.ID, gen: gen + 1, at: now, first: true}})
	return nil
}
