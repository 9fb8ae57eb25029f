package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/store"
)

// dispatchTimeout bounds one hand-off of committed work to the queue.
const dispatchTimeout = 10 * time.Second

// dispatch is an action to hand to the queue once the transaction that
// queued it has committed.
type dispatch struct {
	id  int64
	gen int
	at  time.Time
}

// dispatchAll hands committed work to the queue.
//
// The transaction is committed, so the hand-off is no longer the caller's
// to cancel: an API client that hangs up, or a Slack click whose job
// deadline passes, right after the commit must not leave its actions
// waiting for the recovery sweep. It runs on a context detached from the
// caller's, bounded by dispatchTimeout.
func (e *Engine) dispatchAll(ctx context.Context, ds []dispatch) {
	if len(ds) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dispatchTimeout)
	defer cancel()
	for _, d := range ds {
		if err := e.disp.DispatchAction(ctx, d.id, d.gen, d.at); err != nil {
			// The action stays queued in the database; the recovery sweep
			// notices the missing task and dispatches it again.
			e.log.WithError(err).WithField("action", d.id).Warn("dispatch failed; the sweep will retry")
		}
	}
}

// StartCase moves a scheduled case to running and queues its first ready
// actions. Starting a case that already started is a no-op.
func (e *Engine) StartCase(ctx context.Context, caseID int64) error {
	// A start task may arrive up to a second early (asynq schedules in whole
	// seconds): wait out the remainder rather than leave the start to the
	// next sweep. Anything earlier is left to the sweep, which starts every
	// due case.
	if c, err := e.store.CaseWithActions(ctx, caseID); err == nil && c.Status == store.CaseScheduled {
		if wait := c.EffectiveAt.Sub(e.clock()); wait > 0 && wait <= 1500*time.Millisecond {
			if err := sleepCtx(ctx, wait); err != nil {
				return err
			}
		}
	}
	var ds []dispatch
	var evs []Event
	err := e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
		ds, evs = nil, nil
		c, err := store.LockCase(tx, caseID)
		if err != nil {
			return err
		}
		if c.Status != store.CaseScheduled {
			return nil
		}
		now := e.clock()
		if c.EffectiveAt.After(now) {
			return nil // too early (a stale or early task); the real one comes
		}
		if err := tx.Model(c).Updates(map[string]any{"status": store.CaseRunning, "started_at": now, "updated_at": now}).Error; err != nil {
			return err
		}
		c.Status, c.StartedAt = store.CaseRunning, &now
		au.st.CaseStatus(c.ID, c.Status)
		au.add(store.Entry{Time: now, CaseID: c.ID, Actor: "kinetic", Event: "case.started", Result: "ok",
			Detail: fmt.Sprintf("effective_at=%s", c.EffectiveAt.Format(time.RFC3339))})
		evs = append(evs, Event{Kind: "case_started", CaseID: c.ID, Status: store.CaseRunning, At: now})
		ds, evs, err = e.advance(tx, au, c, now, evs)
		return err
	})
	if err != nil {
		return err
	}
	e.emit(evs...)
	e.dispatchAll(ctx, ds)
	return nil
}

// advance releases every action of a running case whose dependencies and
// earlier phases allow it, marks actions stuck behind a failed dependency,
// records the moment all critical actions were final, and closes the case
// when nothing more can happen. It must run under the case's lock (see
// store.LockCase).
func (e *Engine) advance(tx *gorm.DB, au *auditBuf, c *store.Case, now time.Time, evs []Event) ([]dispatch, []Event, error) {
	if c.Status != store.CaseRunning {
		return nil, evs, nil
	}
	acts, err := store.CaseActions(tx, c.ID)
	if err != nil {
		return nil, evs, err
	}
	byName := make(map[string]*store.Action, len(acts))
	for i := range acts {
		byName[acts[i].Name] = &acts[i]
	}
	// dead: waiting actions that can never run because a dependency failed
	// or was cancelled, directly or through another dead action.
	dead := map[string]string{}
	for changed := true; changed; {
		changed = false
		for i := range acts {
			a := &acts[i]
			if a.Status != store.ActionBlocked && a.Status != store.ActionPending {
				continue
			}
			if _, ok := dead[a.Name]; ok {
				continue
			}
			for _, d := range deps(a) {
				da, ok := byName[d]
				if !ok {
					continue
				}
				_, deadDep := dead[d]
				if da.Status == store.ActionFailed || da.Status == store.ActionCancelled || deadDep {
					dead[a.Name] = d
					changed = true
					break
				}
			}
		}
	}
	settled := func(a *store.Action) bool {
		_, isDead := dead[a.Name]
		return store.ActionFinal(a.Status) || isDead
	}
	// The lowest phase that still has unsettled actions gates later phases.
	// An action held for an approval does not: while an exception is
	// pending only the actions it touches wait. Nor does one timed for a
	// later time of its own that has not come yet (the forwarding removal
	// at the end of an exception's 30 days): the rest of the offboarding
	// does not wait a month for it.
	gate := 1 << 30
	for i := range acts {
		a := &acts[i]
		timed := a.RunAt != nil && a.Attempts == 0 && now.Before(*a.RunAt)
		if !settled(a) && a.Status != store.ActionHeld && !timed && a.Phase < gate {
			gate = a.Phase
		}
	}
	var ds []dispatch
	for i := range acts {
		a := &acts[i]
		if a.Status != store.ActionBlocked && a.Status != store.ActionPending {
			continue
		}
		reason := ""
		if d, isDead := dead[a.Name]; isDead {
			reason = fmt.Sprintf("blocked: dependency %s did not succeed", d)
		} else if waiting := waitingOn(a, byName); len(waiting) > 0 {
			reason = "waits for " + strings.Join(waiting, ", ")
		} else if a.Phase > gate {
			reason = "waits for earlier phases"
		}
		if reason == "" && a.Manual {
			// A manual step is never sent to a connector: it waits for a
			// person to mark it done (and escalates when overdue).
			const manualReason = "manual step: waiting for someone to mark it done"
			if a.Status != store.ActionPending || a.BlockedReason != manualReason {
				fields := map[string]any{"status": store.ActionPending, "blocked_reason": manualReason, "updated_at": now}
				if err := tx.Model(a).Updates(fields).Error; err != nil {
					return nil, evs, err
				}
				au.st.ActionFields(c.ID, a.ID, fields)
				a.Status, a.BlockedReason = store.ActionPending, manualReason
				var targets []string
				if o := e.owners[a.Connector]; o != "" {
					targets = []string{"channel:" + o}
				}
				evs = append(evs, Event{Kind: "manual_step", CaseID: c.ID, ActionID: a.ID, Name: a.Name, Status: store.ActionPending,
					Detail: fmt.Sprintf("%s for %s is a manual step: mark it done when finished", a.Name, c.EmployeeName), Targets: targets, At: now})
			}
			continue
		}
		if reason != "" {
			if a.Status != store.ActionBlocked || a.BlockedReason != reason {
				fields := map[string]any{"status": store.ActionBlocked, "blocked_reason": reason, "updated_at": now}
				if err := tx.Model(a).Updates(fields).Error; err != nil {
					return nil, evs, err
				}
				au.st.ActionFields(c.ID, a.ID, fields)
				if _, isDead := dead[a.Name]; isDead {
					au.add(store.Entry{Time: now, CaseID: c.ID, ActionID: a.ID, Actor: "kinetic", System: a.Connector,
						Event: "action.blocked", Result: "blocked", Detail: reason})
					evs = append(evs, Event{Kind: "action", CaseID: c.ID, ActionID: a.ID, Name: a.Name, Status: store.ActionBlocked, Detail: reason, At: now})
				}
				a.Status, a.BlockedReason = store.ActionBlocked, reason
			}
			continue
		}
		gen := a.Generation + 1
		at := now
		var notBefore any // a delay from an approved exception is kept
		if a.NotBefore != nil && a.NotBefore.After(now) {
			at, notBefore = *a.NotBefore, *a.NotBefore
		}
		fields := map[string]any{
			"status": store.ActionQueued, "blocked_reason": "", "generation": gen,
			"queued_at": now, "not_before": notBefore, "updated_at": now,
		}
		ok, err := store.UpdateActionIf(tx, a.ID, a.Status, a.Generation, fields)
		if err != nil {
			return nil, evs, err
		}
		if !ok {
			continue
		}
		au.st.ActionFields(c.ID, a.ID, fields)
		au.add(store.Entry{Time: now, CaseID: c.ID, ActionID: a.ID, Actor: "kinetic", System: a.Connector,
			Event: "action.queued", Result: "ok", Detail: fmt.Sprintf("%s %s", a.Operation, targetOf(a))})
		a.Status, a.Generation = store.ActionQueued, gen
		ds = append(ds, dispatch{id: a.ID, gen: gen, at: at})
		evs = append(evs, Event{Kind: "action", CaseID: c.ID, ActionID: a.ID, Name: a.Name, Status: store.ActionQueued, At: now})
	}

	if c.CriticalDoneAt == nil && c.StartedAt != nil {
		critical := true
		for i := range acts {
			if acts[i].Phase == 1 && !settled(&acts[i]) {
				critical = false
			}
		}
		if critical {
			if err := tx.Model(c).Updates(map[string]any{"critical_done_at": now}).Error; err != nil {
				return nil, evs, err
			}
			c.CriticalDoneAt = &now
			e.metrics.observeCritical(now.Sub(*c.StartedAt))
		}
	}
	for i := range acts {
		if !settled(&acts[i]) {
			return ds, evs, nil
		}
	}
	// A pending approval may still change the plan: the case stays open.
	var pending int64
	if err := tx.Model(&store.Approval{}).Where("case_id = ? AND status = ?", c.ID, store.ApprovalPending).Count(&pending).Error; err != nil {
		return nil, evs, err
	}
	if pending > 0 {
		return ds, evs, nil
	}
	evs, err = e.closeCase(tx, au, c, acts, dead, now, evs)
	return ds, evs, err
}

func deps(a *store.Action) []string {
	var ds []string
	if a.DependsOn != "" {
		_ = json.Unmarshal([]byte(a.DependsOn), &ds)
	}
	return ds
}

func waitingOn(a *store.Action, byName map[string]*store.Action) []string {
	var w []string
	for _, d := range deps(a) {
		da, ok := byName[d]
		if !ok {
			continue // not selected for this employee
		}
		if da.Status != store.ActionSucceeded && da.Status != store.ActionSkipped {
			w = append(w, d)
		}
	}
	return w
}

func targetOf(a *store.Action) string {
	if a.TargetAccount == "" {
		return "(subject)"
	}
	return a.TargetAccount
}

func (e *Engine) closeCase(tx *gorm.DB, au *auditBuf, c *store.Case, acts []store.Action, dead map[string]string, now time.Time, evs []Event) ([]Event, error) {
	counts := map[string]int{}
	unverified := 0
	for _, a := range acts {
		if _, isDead := dead[a.Name]; isDead {
			counts["blocked"]++
			continue
		}
		counts[a.Status]++
		if a.Status == store.ActionSucceeded && !a.Verified {
			unverified++
		}
	}
	status := store.CaseCompleted
	switch {
	case counts[store.ActionFailed] > 0 || counts["blocked"] > 0:
		status = store.CaseFailed
	case unverified > 0 || counts[store.ActionCancelled] > 0:
		status = store.CaseCompletedWithExceptions
	}
	var parts []string
	for _, k := range []string{store.ActionSucceeded, store.ActionSkipped, store.ActionFailed, "blocked", store.ActionCancelled} {
		if counts[k] > 0 {
			label := k
			if k == store.ActionSkipped {
				label = "skipped (no account)"
			}
			if k == "blocked" {
				label = "blocked by a failed dependency"
			}
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], label))
		}
	}
	summary := fmt.Sprintf("%d actions: %s", len(acts), strings.Join(parts, ", "))
	if sim := simulatedConnectors(acts, func(a store.Action) (string, bool) { return a.Connector, a.Simulated }); sim != nil {
		// First, so that no reader (a card, a truncated line) takes the
		// outcome for real.
		summary = "SIMULATED: nothing real was done on " + strings.Join(sim, ", ") + " (sandbox connectors). " + summary
	}
	if unverified > 0 {
		summary += fmt.Sprintf("; %d succeeded without read-back verification", unverified)
	}
	if c.StartedAt != nil {
		summary += fmt.Sprintf("; full revocation took %s", now.Sub(*c.StartedAt).Round(time.Millisecond))
	}
	if c.CriticalDoneAt != nil && c.StartedAt != nil {
		summary += fmt.Sprintf(" (critical phase %s)", c.CriticalDoneAt.Sub(*c.StartedAt).Round(time.Millisecond))
	}
	if err := tx.Model(c).Updates(map[string]any{"status": status, "closed_at": now, "summary": summary, "updated_at": now}).Error; err != nil {
		return evs, err
	}
	c.Status, c.ClosedAt, c.Summary = status, &now, summary
	au.st.CaseStatus(c.ID, status)
	au.add(store.Entry{Time: now, CaseID: c.ID, Actor: "kinetic", Event: "case.closed", Result: status, Detail: summary})
	if c.StartedAt != nil {
		e.metrics.observeCase(status, now.Sub(*c.StartedAt))
	}
	e.log.WithFields(map[string]any{"case": c.ID, "status": status}).Info(summary)
	return append(evs, Event{Kind: "case_closed", CaseID: c.ID, Status: status, Detail: summary, At: now}), nil
}

// RunAction executes one action's task: claim (queued → running, exactly
// one worker wins), call the connector under the shared limits with a
// renewed lease, read the effect back, and record the outcome with its audit
// events, releasing dependents. A stale task (older generation, or an action
// no longer queued) is dropped. The returned error is for infrastructure
// failures only (database unreachable): the queue may retry the task.
func (e *Engine) RunAction(ctx context.Context, actionID int64, gen int) error {
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
			if err := sleepCtx(ctx, wait); err != nil {
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
	release, wait, err := e.gate.Acquire(ctx, in)
	if err != nil {
		return fmt.Errorf("acquiring %s limits: %w", a.Connector, err)
	}
	if wait > 0 {
		return e.defer_(ctx, a, wait)
	}
	defer release()

	var claimed bool
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
	e.emit(Event{Kind: "action", CaseID: a.CaseID, ActionID: a.ID, Name: a.Name, Status: store.ActionRunning, At: now})

	callCtx, cancel := context.WithTimeout(ctx, in.Timeout)
	defer cancel()
	lost := make(chan struct{})
	stopBeat := e.heartbeat(callCtx, a.ID, gen, cancel, lost)
	started := time.Now()
	out := e.call(callCtx, in, a)
	stopBeat()
	e.metrics.observeCall(a.Connector, a.Operation, time.Since(started))
	select {
	case <-lost:
		log.Warn("lease lost during the call; the result is discarded and the action runs again")
		return nil
	default:
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

func (e *Engine) call(ctx context.Context, in *connectors.Instance, a *store.Action) outcome {
	req, err := e.request(ctx, a)
	if err != nil {
		return outcome{err: err}
	}
	res, err := in.Connector.Do(ctx, req)
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
		ver, err := v.Verify(ctx, req)
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
	emp, err := e.snapshot(e.store.DB.WithContext(ctx), a.CaseID)
	if err != nil {
		return connectors.Request{}, err
	}
	params := map[string]string{}
	if a.Params != "" {
		_ = json.Unmarshal([]byte(a.Params), &params)
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
			fields["status"], fields["outcome"], fields["detail"] = final, string(out.res.Outcome), clip(out.res.Detail, 2000)
			fields["result_data"], fields["finished_at"], fields["last_error"], fields["error_kind"] = mergeResultData(a.ResultData, out.res.Data), now, "", ""
			ev := base
			ev.Event, ev.Result, ev.Detail = "action.succeeded", string(out.res.Outcome), out.res.Detail
			if final == store.ActionSkipped {
				ev.Event = "action.skipped"
			}
			entries = append(entries, ev)
			if out.ver != nil {
				fields["verified"], fields["verification"] = true, clip(out.ver.Detail, 1000)
				v := base
				v.Event, v.Result, v.Detail = "action.verified", "ok", out.ver.Detail
				entries = append(entries, v)
			}
		case connectors.IsRetryable(out.err) && a.Attempts < a.MaxAttempts:
			final = store.ActionQueued
			delay := backoff(a.Attempts, connectors.RetryAfterOf(out.err))
			retryAt = now.Add(delay)
			fields["status"], fields["generation"], fields["not_before"], fields["queued_at"] = store.ActionQueued, gen+1, retryAt, now
			fields["last_error"], fields["error_kind"] = clip(out.err.Error(), 2000), string(connectors.KindOf(out.err))
			ev := base
			ev.Event, ev.Result = "action.retry_scheduled", string(connectors.KindOf(out.err))
			ev.Detail = fmt.Sprintf("attempt %d/%d failed: %s; next attempt in %s", a.Attempts, a.MaxAttempts, out.err, delay.Round(time.Millisecond))
			entries = append(entries, ev)
		default:
			final = store.ActionFailed
			fields["status"], fields["finished_at"] = store.ActionFailed, now
			fields["last_error"], fields["error_kind"] = clip(out.err.Error(), 2000), string(connectors.KindOf(out.err))
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
		au.st.ActionFields(a.CaseID, a.ID, fields)
		evs = append(evs, Event{Kind: "action", CaseID: a.CaseID, ActionID: a.ID, Name: a.Name, Status: final, Detail: entries[0].Detail, At: now})
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
// mergeResultData adds an attempt's result data to what earlier attempts
// of the action recorded (prev, a JSON object) and returns the JSON to
// store: a key both have keeps the union of their values when both are
// JSON arrays or comma-separated lists (groups removed by each attempt),
// else the newer value.
func mergeResultData(prev string, next map[string]string) string {
	merged := map[string]string{}
	if prev != "" {
		_ = json.Unmarshal([]byte(prev), &merged)
	}
	for k, v := range next {
		old, ok := merged[k]
		if !ok || old == v || old == "" {
			merged[k] = v
			continue
		}
		var a, b []string
		if json.Unmarshal([]byte(old), &a) == nil && json.Unmarshal([]byte(v), &b) == nil {
			for _, x := range b {
				if !slices.Contains(a, x) {
					a = append(a, x)
				}
			}
			out, _ := json.Marshal(a)
			merged[k] = string(out)
			continue
		}
		a = strings.Split(old, ",")
		for _, x := range strings.Split(v, ",") {
			if !slices.Contains(a, x) {
				a = append(a, x)
			}
		}
		merged[k] = strings.Join(a, ",")
	}
	if len(merged) == 0 {
		return ""
	}
	out, _ := json.Marshal(merged)
	return string(out)
}

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

// clip shortens s to at most n bytes, on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// SweepStats counts what one recovery sweep did.
type SweepStats struct {
	LeasesExpired    int
	Redispatched     int
	CasesStarted     int
	Reminders        int
	ApprovalTimeouts int
	Escalations      int
	Breaches         int
	Unconfirmed      int // plans nobody confirmed, dropped
}

// Sweep recovers work the queue lost and fires the durable timers: running
// actions whose lease lapsed (their worker died) go back to queued under a
// new generation; queued actions whose task is no longer in the queue (Redis
// flushed or restarted without persistence) are dispatched again; scheduled
// cases whose effective time has come are started; approval steps send
// their reminders and apply their timeouts; overdue actions escalate level
// by level; cases past their compliance deadline raise a breach. Every
// timer lives in the database and every step is a conditional update, so
// any number of processes may sweep at once and a restart loses nothing.
func (e *Engine) Sweep(ctx context.Context, grace time.Duration) (SweepStats, error) {
	var st SweepStats
	now := e.clock()
	expired, err := e.store.ExpiredLeases(ctx, now, 500)
	if err != nil {
		return st, err
	}
	for i := range expired {
		a := &expired[i]
		var ok bool
		err := e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
			var err error
			fields := map[string]any{
				"status": store.ActionQueued, "generation": a.Generation + 1, "lease_until": nil,
				"queued_at": now, "not_before": nil, "updated_at": now,
				"last_error": "worker lease expired (worker lost); running again",
			}
			ok, err = store.UpdateActionIf(tx, a.ID, store.ActionRunning, a.Generation, fields)
			if err != nil || !ok {
				return err
			}
			au.st.ActionFields(a.CaseID, a.ID, fields)
			au.add(store.Entry{Time: now, CaseID: a.CaseID, ActionID: a.ID, Actor: "sweep", System: a.Connector,
				Event: "action.lease_expired", Result: "requeued", Detail: fmt.Sprintf("lease ended %s; attempt %d re-run", a.LeaseUntil.Format(time.RFC3339Nano), a.Attempts)})
			return nil
		})
		if err != nil {
			return st, err
		}
		if ok {
			st.LeasesExpired++
			e.metrics.countRecovered("lease_expired")
			e.dispatchAll(ctx, []dispatch{{id: a.ID, gen: a.Generation + 1, at: now}})
		}
	}

	stale, err := e.store.StaleQueued(ctx, now.Add(-grace), 500)
	if err != nil {
		return st, err
	}
	for i := range stale {
		a := &stale[i]
		pending, err := e.disp.ActionTaskPending(ctx, a.ID, a.Generation)
		if err != nil {
			return st, err
		}
		if pending {
			continue
		}
		var ok bool
		err = e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
			var err error
			ok, err = store.UpdateActionIf(tx, a.ID, store.ActionQueued, a.Generation, map[string]any{
				"generation": a.Generation + 1, "queued_at": now, "not_before": nil, "updated_at": now,
			})
			if err != nil || !ok {
				return err
			}
			au.add(store.Entry{Time: now, CaseID: a.CaseID, ActionID: a.ID, Actor: "sweep", System: a.Connector,
				Event: "action.redispatched", Result: "ok", Detail: "the queue no longer held the action's task"})
			return nil
		})
		if err != nil {
			return st, err
		}
		if ok {
			st.Redispatched++
			e.metrics.countRecovered("task_lost")
			e.dispatchAll(ctx, []dispatch{{id: a.ID, gen: a.Generation + 1, at: now}})
		}
	}

	due, err := e.store.DueScheduledCases(ctx, now, 200)
	if err != nil {
		return st, err
	}
	for _, c := range due {
		if err := e.StartCase(ctx, c.ID); err != nil {
			return st, err
		}
		st.CasesStarted++
	}
	if st.Reminders, st.ApprovalTimeouts, err = e.sweepApprovals(ctx); err != nil {
		return st, err
	}
	if st.Escalations, err = e.sweepEscalations(ctx); err != nil {
		return st, err
	}
	if st.Breaches, err = e.sweepBreaches(ctx); err != nil {
		return st, err
	}
	if st.Unconfirmed, err = e.expireConfirmations(ctx); err != nil {
		return st, err
	}
	return st, nil
}

// ErrCaseStarted is returned (with ErrInvalidRequest) when a person asks to
// cancel a case whose revocation has already started.
var ErrCaseStarted = errors.New("has already started and cannot be cancelled")

// CancelRequest asks to cancel an open case on someone's behalf.
type CancelRequest struct {
	CaseID int64
	// By is the HR id of the person asking, or, with System set, a
	// principal the engine or a front end has already authenticated as a
	// system ("hr:SOURCE" rescinding a termination, "kinetic" dropping an
	// unconfirmed plan).
	By     string
	System bool
	Reason string
}

// Cancel cancels an open case for a system principal (actor): see
// CancelCase. People cancel through CancelCase, which authorizes them.
//
// With a principal in ctx acting for a person (not as itself), actor is
// that person and is authorized as CancelCase authorizes people.
func (e *Engine) Cancel(ctx context.Context, caseID int64, actor, reason string) error {
	p, ok := PrincipalFrom(ctx)
	system := !ok || actor == p.ID || p.System && systemActor(actor)
	return e.CancelCase(ctx, CancelRequest{CaseID: caseID, By: actor, System: system, Reason: reason})
}

// CancelCase cancels an open case: every action not yet running or final
// is cancelled (running ones finish and are recorded), pending exceptions
// are cancelled, and the case closes as cancelled. Cancelling a closed case
// is ErrInvalidRequest; an unknown one ErrNotFound.
//
// A person (System unset) may cancel only a case that has not started
// (scheduled, held, or awaiting confirmation, with its effective time still
// ahead; a plan awaiting confirmation at any time), and only if they are
// active in HR and are an admin, HR (hr_role or an HR role profile), the
// employee's manager or HR partner, or the case's requester; never the
// departing employee. Refusals are ErrNotAllowed (who) or ErrInvalidRequest
// (too late), and change nothing. Every front end (Slack, API, CLI) relies
// on this check.
func (e *Engine) CancelCase(ctx context.Context, r CancelRequest) error {
	if len(r.Reason) > 1000 {
		return fmt.Errorf("%w: reason is longer than 1000 characters", ErrInvalidRequest)
	}
	if r.By == "" {
		return fmt.Errorf("%w: who is cancelling?", ErrNotAllowed)
	}
	caseID, actor, reason := r.CaseID, r.By, r.Reason
	var evs []Event
	err := e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
		evs = nil
		c, err := store.LockCase(tx, caseID)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: case %d", ErrNotFound, caseID)
		}
		if err != nil {
			return err
		}
		if err := e.mayActOnCase(ctx, tx, OpCancel, actor, c); err != nil {
			return err
		}
		if !store.CaseOpen(c.Status) {
			return fmt.Errorf("%w: case %d is already %s", ErrInvalidRequest, caseID, c.Status)
		}
		if !r.System {
			if err := e.mayCancel(ctx, tx, c, actor); err != nil {
				return err
			}
		}
		now := e.clock()
		acts, err := store.CaseActions(tx, caseID)
		if err != nil {
			return err
		}
		for _, a := range acts {
			if store.ActionFinal(a.Status) || a.Status == store.ActionRunning {
				continue
			}
			fields := map[string]any{
				"status": store.ActionCancelled, "finished_at": now, "updated_at": now, "generation": a.Generation + 1,
			}
			if err := tx.Model(&store.Action{}).Where("id = ?", a.ID).Updates(fields).Error; err != nil {
				return err
			}
			au.st.ActionFields(caseID, a.ID, fields)
		}
		if err := tx.Model(c).Updates(map[string]any{"status": store.CaseCancelled, "closed_at": now, "updated_at": now,
			"summary": "cancelled by " + actor + ": " + reason}).Error; err != nil {
			return err
		}
		au.st.CaseStatus(caseID, store.CaseCancelled)
		var pending []int64
		if err := tx.Model(&store.Approval{}).Where("case_id = ? AND status = ?", caseID, store.ApprovalPending).Order("id").Pluck("id", &pending).Error; err != nil {
			return err
		}
		if len(pending) > 0 {
			if err := tx.Model(&store.Approval{}).Where("id IN ? AND status = ?", pending, store.ApprovalPending).
				Updates(map[string]any{"status": store.ApprovalCancelled, "decided_at": now, "outcome": "case cancelled", "updated_at": now}).Error; err != nil {
				return err
			}
			for _, id := range pending {
				au.st.ApprovalStatus(caseID, id, store.ApprovalCancelled)
			}
		}
		au.add(store.Entry{Time: now, CaseID: caseID, Actor: actor, Event: "case.cancelled", Result: "cancelled", Detail: reason})
		evs = append(evs, Event{Kind: "case_cancelled", CaseID: caseID, Status: store.CaseCancelled, Detail: reason, At: now})
		return nil
	})
	if err != nil {
		return err
	}
	e.emit(evs...)
	return nil
}

// mayCancel is CancelCase's check for a person.
func (e *Engine) mayCancel(ctx context.Context, tx *gorm.DB, c *store.Case, who string) error {
	if who == c.EmployeeID {
		return fmt.Errorf("%w: nobody may cancel their own offboarding", ErrNotAllowed)
	}
	emp, err := e.snapshot(tx, c.ID)
	if err != nil {
		return err
	}
	allowed := e.admins[who]
	if !allowed {
		p, err := e.dir.ByID(ctx, who)
		switch {
		case errors.Is(err, directory.ErrNotFound):
			return fmt.Errorf("%w: %q is not in the HR directory", ErrNotAllowed, who)
		case err != nil:
			return err
		case !p.Active():
			return fmt.Errorf("%w: %s is not active in HR", ErrNotAllowed, who)
		}
		allowed = p.HRRole || who == c.Requester || who == emp.Manager || who == emp.HRPartner
		for _, role := range p.RoleProfiles {
			allowed = allowed || e.hrRoles[role]
		}
	}
	if !allowed {
		return fmt.Errorf("%w: %s may not cancel case %d: only its requester, %s's manager or HR partner, HR or an admin may", ErrNotAllowed, who, c.ID, c.EmployeeID)
	}
	started := c.Status == store.CaseRunning || c.Status != store.CaseAwaitingConfirmation && !c.EffectiveAt.After(e.clock())
	if started {
		return fmt.Errorf("%w: case %d %w (effective %s); ask an admin if access must be restored",
			ErrInvalidRequest, c.ID, ErrCaseStarted, c.EffectiveAt.UTC().Format("2006-01-02 15:04 UTC"))
	}
	return nil
}

// Summary renders a case's actions as "name: status" lines, for the CLI.
// An action on a simulated system says "(simulated)" after its status, and
// a simulated case starts with a line saying which connectors simulated
// their systems.
func Summary(c *store.Case) string {
	acts := append([]store.Action(nil), c.Actions...)
	sort.Slice(acts, func(i, j int) bool {
		if acts[i].Phase != acts[j].Phase {
			return acts[i].Phase < acts[j].Phase
		}
		return acts[i].Name < acts[j].Name
	})
	var b strings.Builder
	switch sim := SimulatedConnectors(c); {
	case sim != nil:
		fmt.Fprintf(&b, "  SIMULATED: sandbox connectors %s simulate their systems; nothing real was done there\n", strings.Join(sim, ", "))
	case c.Simulated:
		b.WriteString("  SIMULATED: this case ran on sandbox simulations; nothing real was done\n")
	}
	for _, a := range acts {
		status := a.Status
		if a.Simulated {
			status += " (simulated)"
		}
		fmt.Fprintf(&b, "  %-28s %-10s %s\n", a.Name, status, firstNonEmpty(a.Verification, a.LastError, a.BlockedReason, a.Detail))
	}
	return b.String()
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
