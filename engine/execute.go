package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/gorm"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/pause"
	"github.com/kineticsec/kinetic/internal/text"
	"github.com/kineticsec/kinetic/store"
)

// Action execution: RunAction claims an action, calls its connector under
// the lease heartbeat, reads the effect back and records the outcome
// (finish), with the retry backoff and result merging it uses. It is kept
// in one file so one action can be followed from claim to outcome without
// leaving it.

// RunAction executes one action's task: claim (queued → running, exactly
// one worker wins), call the connector under the shared limits with a
// renewed lease, read the effect back, and record the outcome with its audit
// events, releasing dependents. A stale task (older generation, or an action
// no longer queued) is dropped. The returned error is for infrastructure
// failures only (database unreachable): the queue may retry the task.
func (e *Engine) RunAction(ctx context.Context, actionID int64, gen int) (err error) {
	ctx, span := tracer.Start(ctx, "action", trace.WithAttributes(attribute.Int64("kinetic.action_id", actionID), attribute.Int("kinetic.action_gen", gen)))
	defer func() { endSpan(span, err) }()
	a, err := e.store.Action(ctx, actionID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	log := e.log.WithFields(map[string]any{"case": a.CaseID, "action": a.ID, "name": a.Name, "connector": a.Connector})
	if a.Generation != gen || a.Status != store.ActionQueued {
		log.WithFields(map[string]any{"status": a.Status, "task_gen": gen, "gen": a.Generation}).Debug("stale task dropped")
		return nil
	}
	// asynq keeps ProcessAt in whole seconds, so a delayed task may arrive
	// up to a second early: wait out a short remainder here, re-dispatch a
	// long one. Back-off and Retry-After are never cut short.
	if a.NotBefore != nil {
		if wait := a.NotBefore.Sub(e.clock()); wait > 1500*time.Millisecond {
			return e.defer_(ctx, a, wait)
		} else if wait > 0 {
			if err := pause.Sleep(ctx, wait); err != nil {
				return err
			}
		}
	}
	now := e.clock()
	in, ok := e.reg.Get(a.Connector)
	if !ok {
		return e.finish(ctx, a, gen, outcome{err: connectors.NewError(connectors.KindInvalid, a.Connector, a.Operation,
			errors.New("connector instance is not configured"))}, log)
	}
	if handingBack(ctx) {
		return ErrHandedBack
	}
	release, wait, err := e.gate.Acquire(ctx, in)
	if err != nil {
		return fmt.Errorf("acquiring %s limits: %w", a.Connector, err)
	}
	if wait > 0 {
		return e.defer_(ctx, a, wait)
	}
	defer release()

	var claimed bool
	if handingBack(ctx) {
		return ErrHandedBack
	}
	err = e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
		now = e.clock()
		ok, err := store.ClaimAction(tx, a.ID, gen, now, e.lease)
		if err != nil || !ok {
			claimed = false
			return err
		}
		claimed = true
		au.st.ActionClaimed(a.CaseID, a.ID)
		au.add(store.Entry{Time: now, CaseID: a.CaseID, ActionID: a.ID, Actor: "worker", System: a.Connector,
			Event: "action.started", Result: "ok", Detail: fmt.Sprintf("%s attempt %d", a.Operation, a.Attempts+1)})
		return nil
	})
	if err != nil {
		return err
	}
	if !claimed {
		log.Debug("another worker claimed the action")
		return nil
	}
	a.Attempts++
	e.emit(Event{Kind: EventAction, CaseID: a.CaseID, ActionID: a.ID, Name: a.Name, Status: store.ActionRunning, At: now})

	callCtx, cancel := context.WithTimeout(ctx, in.Timeout)
	defer cancel()
	lost := make(chan struct{})
	stopBeat := e.heartbeat(callCtx, a.ID, gen, cancel, lost)
	var handedBack atomic.Bool
	stopWatch := watchHandBack(ctx, cancel, &handedBack)
	started := time.Now()
	out := e.call(callCtx, in, a)
	stopWatch()
	stopBeat()
	e.metrics.observeCall(a.Connector, a.Operation, time.Since(started))
	select {
	case <-lost:
		log.Warn("lease lost during the call; the result is discarded and the action runs again")
		return nil
	default:
	}
	if handedBack.Load() && out.err != nil {
		return e.handBack(ctx, a, gen, out, log)
	}
	return e.finish(ctx, a, gen, out, log)
}

// heartbeat renews the lease every third of its length until stopped. If
// the lease was taken back (the sweep decided this worker was gone), it
// cancels the call and closes lost.
func (e *Engine) heartbeat(ctx context.Context, id int64, gen int, cancel func(), lost chan struct{}) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(e.lease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				ok, err := e.store.RenewLease(context.WithoutCancel(ctx), id, gen, e.clock().Add(e.lease))
				if err == nil && !ok {
					close(lost)
					cancel()
					return
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

type outcome struct {
	res connectors.Result
	ver *connectors.Verification
	err error
}

func (e *Engine) callDo(ctx context.Context, in *connectors.Instance, a *store.Action) outcome {
	req, err := e.request(ctx, a)
	if err != nil {
		return outcome{err: err}
	}
	callCtx, span := tracer.Start(ctx, "connector.do", trace.WithAttributes(
		attribute.String("kinetic.connector", a.Connector), attribute.String("kinetic.operation", a.Operation), attribute.Int64("kinetic.action_id", a.ID)))
	res, err := in.Connector.Do(callCtx, req)
	endSpan(span, err)
	if err != nil {
		// A partly done operation (two groups removed, then refused on the
		// third) reports what it changed in res beside the error: keep it.
		return outcome{res: res, err: err}
	}
	out := outcome{res: res}
	if v, ok := in.Connector.(connectors.Verifier); ok {
		// The read-back is a request too, and counts against the
		// system's rate limit like the Do did.
		wait := in.Timeout
		if dl, ok := ctx.Deadline(); ok {
			wait = time.Until(dl)
		}
		if ok, err := e.gate.Take(ctx, in, wait); err != nil || !ok {
			if err == nil {
				err = errors.New("no request free in the rate limit before the call's timeout")
			}
			return outcome{res: res, err: connectors.NewError(connectors.KindRateLimited, a.Connector, "verify",
				fmt.Errorf("read-back: %w", err))}
		}
		vctx, vspan := tracer.Start(ctx, "connector.verify", trace.WithAttributes(
			attribute.String("kinetic.connector", a.Connector), attribute.String("kinetic.operation", a.Operation), attribute.Int64("kinetic.action_id", a.ID)))
		ver, err := v.Verify(vctx, req)
		endSpan(vspan, err)
		if err != nil {
			return outcome{res: res, err: fmt.Errorf("read-back verification: %w", err)}
		}
		if !ver.OK {
			return outcome{res: res, err: connectors.NewError(connectors.KindTransient, a.Connector, "verify",
				fmt.Errorf("read-back shows the change did not hold: %s", ver.Detail))}
		}
		out.ver = &ver
	}
	return out
}

// request builds the connector request from the action and the employee
// snapshot taken when the case was opened.
func (e *Engine) request(ctx context.Context, a *store.Action) (connectors.Request, error) {
	emp, err := e.snapshot(e.store.Conn(ctx), a.CaseID)
	if err != nil {
		return connectors.Request{}, err
	}
	params := map[string]string{}
	if a.Params != "" {
		_ = json.Unmarshal([]byte(a.Params), &params)
	}
	if a.Operation == string(connectors.OpNotify) {
		if err := e.noticeParams(ctx, a, emp, params); err != nil {
			return connectors.Request{}, err
		}
	}
	return connectors.Request{
		Operation: connectors.Operation(a.Operation), Subject: Subject(emp), Account: a.TargetAccount,
		Params: params, IdempotencyKey: fmt.Sprintf("kinetic-action-%d", a.ID),
	}, nil
}

// finish records the outcome of an attempt.
func (e *Engine) finish(ctx context.Context, a *store.Action, gen int, out outcome, log interface {
	Warn(...any)
	Info(...any)
}) error {
	var ds []dispatch
	var evs []Event
	var final string
	err := e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
		ds, evs, final = nil, nil, ""
		c, err := store.LockCase(tx, a.CaseID)
		if err != nil {
			return err
		}
		now := e.clock()
		from := store.ActionRunning
		if a.Attempts == 0 { // failed before it was claimed (no connector)
			from = store.ActionQueued
		}
		fields := map[string]any{"lease_until": nil, "updated_at": now}
		var entries []store.Entry
		base := store.Entry{Time: now, CaseID: a.CaseID, ActionID: a.ID, Actor: "worker", System: a.Connector}
		var retryAt time.Time
		switch {
		case out.err == nil:
			final = store.ActionSucceeded
			if out.res.Outcome == connectors.OutcomeNoneFound {
				final = store.ActionSkipped
			}
			fields["status"], fields["outcome"], fields["detail"] = final, string(out.res.Outcome), text.ClipBytes(out.res.Detail, 2000)
			fields["result_data"], fields["finished_at"], fields["last_error"], fields["error_kind"] = mergeResultData(a.ResultData, out.res.Data), now, "", ""
			ev := base
			ev.Event, ev.Result, ev.Detail = "action.succeeded", string(out.res.Outcome), out.res.Detail
			if final == store.ActionSkipped {
				ev.Event = "action.skipped"
			}
			entries = append(entries, ev)
			if out.ver != nil {
				fields["verified"], fields["verification"] = true, text.ClipBytes(out.ver.Detail, 1000)
				v := base
				v.Event, v.Result, v.Detail = "action.verified", "ok", out.ver.Detail
				entries = append(entries, v)
			}
		case connectors.IsRetryable(out.err) && a.Attempts < a.MaxAttempts:
			final = store.ActionQueued
			delay := backoff(a.Attempts, connectors.RetryAfterOf(out.err))
			retryAt = now.Add(delay)
			fields["status"], fields["generation"], fields["not_before"], fields["queued_at"] = store.ActionQueued, gen+1, retryAt, now
			fields["last_error"], fields["error_kind"] = text.ClipBytes(out.err.Error(), 2000), string(connectors.KindOf(out.err))
			ev := base
			ev.Event, ev.Result = "action.retry_scheduled", string(connectors.KindOf(out.err))
			ev.Detail = fmt.Sprintf("attempt %d/%d failed: %s; next attempt in %s", a.Attempts, a.MaxAttempts, out.err, delay.Round(time.Millisecond))
			entries = append(entries, ev)
		default:
			final = store.ActionFailed
			fields["status"], fields["finished_at"] = store.ActionFailed, now
			fields["last_error"], fields["error_kind"] = text.ClipBytes(out.err.Error(), 2000), string(connectors.KindOf(out.err))
			why := "permanent error"
			if connectors.IsRetryable(out.err) {
				why = fmt.Sprintf("retries exhausted after %d attempts", a.Attempts)
			}
			ev := base
			ev.Event, ev.Result, ev.Detail = "action.failed", string(connectors.KindOf(out.err)), fmt.Sprintf("%s: %s", why, out.err)
			entries = append(entries, ev)
		}
		if out.err != nil && len(out.res.Data) > 0 {
			// What a failed attempt did change is kept with the action (and
			// said in its audit event), so a rehire's restore finds it and
			// a retry adds to it instead of forgetting it.
			fields["result_data"] = mergeResultData(a.ResultData, out.res.Data)
			entries[0].Detail += fmt.Sprintf(" (changed before the error: %s)", describeParams(out.res.Data))
		}
		ok, err := store.UpdateActionIf(tx, a.ID, from, gen, fields)
		if err != nil {
			return err
		}
		if !ok {
			final = "" // the sweep took it back; the newer generation decides
			return nil
		}
		au.add(entries...)
		if err := recordNotices(tx, au, a, out.res.Data, now, &evs); err != nil {
			return err
		}
		if err := recordTicket(tx, au, a, final, out.res, now); err != nil { // ticket.go
			return err
		}
		au.st.ActionFields(a.CaseID, a.ID, fields)
		evs = append(evs, Event{Kind: EventAction, CaseID: a.CaseID, ActionID: a.ID, Name: a.Name, Status: final, Detail: entries[0].Detail, At: now})
		if final == store.ActionQueued {
			ds = []dispatch{{id: a.ID, gen: gen + 1, at: retryAt}}
			return nil
		}
		var more []dispatch
		more, evs, err = e.advance(tx, au, c, now, evs)
		ds = append(ds, more...)
		return err
	})
	if err != nil {
		return err
	}
	switch final {
	case "":
	case store.ActionQueued:
		log.Warn(fmt.Sprintf("attempt %d failed, retrying: %v", a.Attempts, out.err))
	case store.ActionFailed:
		log.Warn(fmt.Sprintf("action failed: %v", out.err))
	default:
		log.Info("action " + final)
	}
	if final != "" && final != store.ActionQueued {
		e.metrics.countAction(a.Connector, a.Operation, final)
	}
	e.emit(evs...)
	e.dispatchAll(ctx, ds)
	return nil
}

// defer_ puts a queued action back for later (rate limit or concurrency cap
// reached, or a task that arrived early) under a new generation.
func (e *Engine) defer_(ctx context.Context, a *store.Action, wait time.Duration) error {
	now := e.clock()
	at := now.Add(wait)
	var ok bool
	err := e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
		var err error
		ok, err = store.UpdateActionIf(tx, a.ID, store.ActionQueued, a.Generation, map[string]any{
			"generation": a.Generation + 1, "not_before": at, "queued_at": now, "updated_at": now,
		})
		return err
	})
	if err != nil || !ok {
		return err
	}
	e.dispatchAll(ctx, []dispatch{{id: a.ID, gen: a.Generation + 1, at: at}})
	return nil
}

// backoff returns the delay before attempt n+1: exponential from 1 s,
// capped at 5 min, ±20 % jitter, and never shorter than what the system
// asked for.
func backoff(attempts int, retryAfter time.Duration) time.Duration {
	d := time.Second << min(attempts-1, 9)
	if d > 5*time.Minute {
		d = 5 * time.Minute
	}
	d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	if retryAfter > d {
		d = retryAfter
	}
	return d
}
