package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"strings"
	"time"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/internal/pause"
	"github.com/kineticsec/kinetic/internal/text"
	"github.com/kineticsec/kinetic/store"
	"gorm.io/gorm"
)

// The case state machine: starting a case, advance (which releases, blocks and
// queues actions by dependency and phase) and closing it. It runs a little
// over 400 lines because advance's named steps read best next to each other.

// StartCase moves a scheduled case to running and queues its first ready
// actions. Starting a case that already started is a no-op.
func (e *Engine) StartCase(ctx context.Context, caseID int64) (err error) {
	ctx, span := tracer.Start(ctx, "case.transition", trace.WithAttributes(attribute.Int64("kinetic.case_id", caseID), attribute.String("kinetic.to", store.CaseRunning)))
	defer func() { endSpan(span, err) }()
	// A start task may arrive up to a second early (asynq schedules in whole
	// seconds): wait out the remainder rather than leave the start to the
	// next sweep. Anything earlier is left to the sweep, which starts every
	// due case.
	if c, err := e.store.CaseWithActions(ctx, caseID); err == nil && c.Status == store.CaseScheduled {
		if wait := c.EffectiveAt.Sub(e.clock()); wait > 0 && wait <= 1500*time.Millisecond {
			if err := pause.Sleep(ctx, wait); err != nil {
				return err
			}
		}
	}
	var ds []dispatch
	var evs []Event
	err = e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
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
		evs = append(evs, Event{Kind: EventCaseStarted, CaseID: c.ID, Status: store.CaseRunning, At: now})
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
//
// Its steps, in order: load the case's actions (loadCaseActions), find the
// dead ones (findDead), compute the phase gate (phaseGate), move each
// waiting action (releaseAction: a manual step, blocked, or queued), note
// when the critical phase settled (noteCriticalDone), and close the case
// once everything settled and no approval is pending (closeIfSettled).
func (e *Engine) advance(tx *gorm.DB, au *auditBuf, c *store.Case, now time.Time, evs []Event) ([]dispatch, []Event, error) {
	if c.Status != store.CaseRunning {
		return nil, evs, nil
	}
	cas, err := loadCaseActions(tx, c.ID)
	if err != nil {
		return nil, evs, err
	}
	gate := cas.phaseGate(now)
	var ds []dispatch
	for i := range cas.acts {
		a := &cas.acts[i]
		if a.Status != store.ActionBlocked && a.Status != store.ActionPending {
			continue
		}
		var d *dispatch
		if d, evs, err = e.releaseAction(tx, au, c, cas, a, gate, now, evs); err != nil {
			return nil, evs, err
		}
		if d != nil {
			ds = append(ds, *d)
		}
	}
	more, evs, err := e.syncTickets(tx, au, c, cas, gate, now, evs) // ticket.go
	if err != nil {
		return nil, evs, err
	}
	ds = append(ds, more...)
	if err := e.noteCriticalDone(tx, c, cas, now); err != nil {
		return nil, evs, err
	}
	if evs, err = e.noteRevoked(tx, au, c, cas, now, evs); err != nil {
		return nil, evs, err
	}
	return e.closeIfSettled(tx, au, c, cas, now, ds, evs)
}

// caseActions are a case's actions as advance sees them.
type caseActions struct {
	acts   []store.Action
	byName map[string]*store.Action
	// dead: waiting actions that can never run because a dependency failed
	// or was cancelled, directly or through another dead action; the value
	// names that dependency.
	dead map[string]string
	// preserved: actions held under an approved legal hold, and waiting
	// actions that depend on one; the value is the hold's approval id.
	// They wait for the hold's release, which may never come: the case
	// closes without them (see closeIfSettled).
	preserved map[string]int64
}

// loadCaseActions reads the case's actions (inside tx) and finds the dead.
func loadCaseActions(tx *gorm.DB, caseID int64) (*caseActions, error) {
	acts, err := store.CaseActions(tx, caseID)
	if err != nil {
		return nil, err
	}
	cas := &caseActions{acts: acts, byName: make(map[string]*store.Action, len(acts))}
	for i := range acts {
		cas.byName[acts[i].Name] = &acts[i]
	}
	cas.dead = cas.findDead()
	holds, err := store.ApprovedOfEffect(tx, caseID, configs.EffectLegalHold)
	if err != nil {
		return nil, err
	}
	cas.preserved = cas.findPreserved(holds)
	return cas, nil
}

// settled reports whether a is final or dead.
func (cas *caseActions) settled(a *store.Action) bool {
	_, isDead := cas.dead[a.Name]
	return store.ActionFinal(a.Status) || isDead
}

// allSettled reports whether every action is final, dead or preserved
// under an approved legal hold.
func (cas *caseActions) allSettled() bool {
	for i := range cas.acts {
		if _, kept := cas.preserved[cas.acts[i].Name]; !kept && !cas.settled(&cas.acts[i]) {
			return false
		}
	}
	return true
}

// phaseGate returns the lowest phase that still has unsettled actions: it
// gates later phases. An action held for an approval does not: while an
// exception is pending only the actions it touches wait. Nor does one timed
// for a later time of its own that has not come yet (the forwarding removal
// at the end of an exception's 30 days): the rest of the offboarding does
// not wait a month for it. Nor does one preserved under a legal hold.
func (cas *caseActions) phaseGate(now time.Time) int {
	gate := 1 << 30
	for i := range cas.acts {
		a := &cas.acts[i]
		timed := a.RunAt != nil && a.Attempts == 0 && now.Before(*a.RunAt)
		_, kept := cas.preserved[a.Name]
		if !cas.settled(a) && a.Status != store.ActionHeld && !kept && !timed && a.Phase < gate {
			gate = a.Phase
		}
	}
	return gate
}

// releaseAction moves one waiting (blocked or pending) action: blocked
// with its reason when a dependency or an earlier phase holds it, pending
// for a person when it is a manual step, else queued, in which case it
// returns the dispatch to make after the commit.
func (e *Engine) releaseAction(tx *gorm.DB, au *auditBuf, c *store.Case, cas *caseActions, a *store.Action, gate int, now time.Time, evs []Event) (*dispatch, []Event, error) {
	reason := ""
	if d, isDead := cas.dead[a.Name]; isDead {
		reason = fmt.Sprintf("blocked: dependency %s did not succeed", d)
	} else if waiting := waitingOn(a, cas.byName); len(waiting) > 0 {
		reason = "waits for " + strings.Join(waiting, ", ")
	} else if a.Phase > gate && !isTicketAction(a) { // a team's ticket does not wait for the revocations
		reason = "waits for earlier phases"
	}
	if reason == "" && a.Manual {
		evs, err := e.awaitManual(tx, au, c, a, now, evs)
		return nil, evs, err
	}
	if reason != "" {
		evs, err := e.markBlocked(tx, au, c, cas, a, reason, now, evs)
		return nil, evs, err
	}
	return e.queueAction(tx, au, c, a, now, evs)
}

// awaitManual leaves a manual step pending: it is never sent to a
// connector, it waits for a person to mark it done (and escalates when
// overdue). Its owner hears of it once.
func (e *Engine) awaitManual(tx *gorm.DB, au *auditBuf, c *store.Case, a *store.Action, now time.Time, evs []Event) ([]Event, error) {
	const manualReason = "manual step: waiting for someone to mark it done"
	if a.Status == store.ActionPending && a.BlockedReason == manualReason {
		return evs, nil
	}
	fields := map[string]any{"status": store.ActionPending, "blocked_reason": manualReason, "updated_at": now}
	if err := tx.Model(a).Updates(fields).Error; err != nil {
		return evs, err
	}
	au.st.ActionFields(c.ID, a.ID, fields)
	a.Status, a.BlockedReason = store.ActionPending, manualReason
	var targets []string
	if o := e.owners[a.Connector]; o != "" {
		targets = []string{"channel:" + o}
	}
	evs = append(evs, Event{Kind: EventManualStep, CaseID: c.ID, ActionID: a.ID, Name: a.Name, Status: store.ActionPending,
		Detail: manualTask(c, a), Targets: targets, At: now})
	return evs, nil
}

// markBlocked records why a waits; an action blocked for good (a dead
// dependency) is audited and announced.
func (e *Engine) markBlocked(tx *gorm.DB, au *auditBuf, c *store.Case, cas *caseActions, a *store.Action, reason string, now time.Time, evs []Event) ([]Event, error) {
	if a.Status == store.ActionBlocked && a.BlockedReason == reason {
		return evs, nil
	}
	fields := map[string]any{"status": store.ActionBlocked, "blocked_reason": reason, "updated_at": now}
	if err := tx.Model(a).Updates(fields).Error; err != nil {
		return evs, err
	}
	au.st.ActionFields(c.ID, a.ID, fields)
	if _, isDead := cas.dead[a.Name]; isDead {
		au.add(store.Entry{Time: now, CaseID: c.ID, ActionID: a.ID, Actor: "kinetic", System: a.Connector,
			Event: "action.blocked", Result: "blocked", Detail: reason})
		evs = append(evs, Event{Kind: EventAction, CaseID: c.ID, ActionID: a.ID, Name: a.Name, Status: store.ActionBlocked, Detail: reason, At: now})
	}
	a.Status, a.BlockedReason = store.ActionBlocked, reason
	return evs, nil
}

// queueAction queues a under a new generation (a conditional update: a
// lost race queues nothing) and returns its dispatch, delayed to the
// not_before an approved exception set.
func (e *Engine) queueAction(tx *gorm.DB, au *auditBuf, c *store.Case, a *store.Action, now time.Time, evs []Event) (*dispatch, []Event, error) {
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
		return nil, evs, nil
	}
	au.st.ActionFields(c.ID, a.ID, fields)
	au.add(store.Entry{Time: now, CaseID: c.ID, ActionID: a.ID, Actor: "kinetic", System: a.Connector,
		Event: "action.queued", Result: "ok", Detail: fmt.Sprintf("%s %s", a.Operation, targetOf(a))})
	a.Status, a.Generation = store.ActionQueued, gen
	evs = append(evs, Event{Kind: EventAction, CaseID: c.ID, ActionID: a.ID, Name: a.Name, Status: store.ActionQueued, At: now})
	return &dispatch{id: a.ID, gen: gen, at: at}, evs, nil
}

// noteCriticalDone keeps the moment the last phase-1 action became final
// (the revocation SLA's end): set when every phase-1 action is final (or
// dead behind a failed one), and cleared again when one of them is no
// longer final — a person retried it — so the time recorded is that of
// the last attempt, retries included.
func (e *Engine) noteCriticalDone(tx *gorm.DB, c *store.Case, cas *caseActions, now time.Time) error {
	if c.StartedAt == nil {
		return nil
	}
	done := true
	for i := range cas.acts {
		if cas.acts[i].Phase == 1 && !cas.settled(&cas.acts[i]) {
			done = false
			break
		}
	}
	switch {
	case done && c.CriticalDoneAt == nil:
		if err := tx.Model(c).Updates(map[string]any{"critical_done_at": now}).Error; err != nil {
			return err
		}
		c.CriticalDoneAt = &now
		e.metrics.observeCritical(max(0, now.Sub(c.EffectiveAt)))
	case !done && c.CriticalDoneAt != nil:
		if err := tx.Model(c).Updates(map[string]any{"critical_done_at": nil}).Error; err != nil {
			return err
		}
		c.CriticalDoneAt = nil
	}
	return nil
}

// criticalSummary says how long after the effective time the critical
// phase ended, counting every attempt: "critical access revoked 2m27s
// after the effective time, including retries", or, when a critical
// action did not succeed, "critical phase ended … with 1 critical action
// not done". "" when the phase has not ended.
func criticalSummary(c *store.Case, acts []store.Action, dead map[string]string) string {
	if c.CriticalDoneAt == nil {
		return ""
	}
	retried, notDone := false, 0
	for _, a := range acts {
		if a.Phase != 1 {
			continue
		}
		if _, isDead := dead[a.Name]; isDead || (a.Status != store.ActionSucceeded && a.Status != store.ActionSkipped) {
			notDone++
		}
		if a.Generation > 1 || a.Attempts > 1 {
			retried = true
		}
	}
	d := c.CriticalDoneAt.Sub(c.EffectiveAt).Round(time.Millisecond)
	when := d.String() + " after the effective time"
	if d < 0 {
		when = (-d).String() + " before the effective time"
	}
	s := "critical access revoked " + when
	if notDone > 0 {
		s = fmt.Sprintf("critical phase ended %s with %d critical %s not done", when, notDone, text.Plural(notDone, "action"))
	}
	if retried {
		s += ", including retries"
	}
	return s
}

// closeIfSettled closes the case when nothing is open any more (see
// OpenItems in completion.go): every action settled, no approval pending
// (it may still change the plan), every device disposed of, every notice
// acknowledged. An approved legal hold is a disposition: the actions and
// devices it preserves stay as they are, and the case closes without them
// (completed with exceptions); the hold's release reopens it (see
// reopenForRelease).
func (e *Engine) closeIfSettled(tx *gorm.DB, au *auditBuf, c *store.Case, cas *caseActions, now time.Time, ds []dispatch, evs []Event) ([]dispatch, []Event, error) {
	if !cas.allSettled() {
		return ds, evs, nil
	}
	open, err := e.openItems(tx, c, cas)
	if err != nil || len(open) > 0 {
		return ds, evs, err
	}
	evs, err = e.closeCase(tx, au, c, cas, now, evs)
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

func (e *Engine) closeCase(tx *gorm.DB, au *auditBuf, c *store.Case, cas *caseActions, now time.Time, evs []Event) ([]Event, error) {
	acts, dead := cas.acts, cas.dead
	counts := map[string]int{}
	unverified, confirmed := 0, 0
	// A notice action cannot be read back (mail has no read-back), but
	// every notice it sent was acknowledged by its receiving team before
	// the gate let the case close: that confirmation stands for the
	// read-back, and the summary says so.
	acked, ackErr := store.AcknowledgedNoticeActions(tx, c.ID)
	if ackErr != nil {
		return evs, ackErr
	}
	for _, a := range acts {
		if _, kept := cas.preserved[a.Name]; kept {
			counts["preserved"]++
			continue
		}
		if _, isDead := dead[a.Name]; isDead {
			counts["blocked"]++
			continue
		}
		if a.Status == store.ActionSkipped && a.Outcome == outcomeSkippedByPerson {
			counts[outcomeSkippedByPerson]++
			continue // said with the people who skipped (skippedByPeople)
		}
		counts[a.Status]++
		if a.Status == store.ActionSucceeded && !a.Verified {
			if acked[a.ID] {
				confirmed++
				continue
			}
			unverified++
		}
	}
	eqSummary, eqException, err := equipmentSummary(tx, c.ID)
	if err != nil {
		return evs, err
	}
	status := store.CaseCompleted
	switch {
	case counts[store.ActionFailed] > 0 || counts["blocked"] > 0:
		status = store.CaseFailed
	case unverified > 0 || counts[store.ActionCancelled] > 0 || counts[outcomeSkippedByPerson] > 0 || counts["preserved"] > 0 || eqException:
		status = store.CaseCompletedWithExceptions
	}
	var parts []string
	for _, k := range []string{store.ActionSucceeded, store.ActionSkipped, store.ActionFailed, "blocked", store.ActionCancelled, "preserved"} {
		if counts[k] > 0 {
			label := k
			if k == store.ActionSkipped {
				label = "skipped (no account)"
			}
			if k == "blocked" {
				label = "blocked by a failed dependency"
			}
			if k == "preserved" {
				label = "held under legal hold"
			}
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], label))
		}
		if k == store.ActionSkipped {
			if by := skippedByPeople(acts, dead); by != "" {
				parts = append(parts, by)
			}
		}
	}
	summary := fmt.Sprintf("%d actions: %s", len(acts), strings.Join(parts, ", "))
	if access := accessSummary(c, cas); access != "" {
		summary = access + "; " + summary
	}
	if sim := simulatedConnectors(acts, func(a store.Action) (string, bool) { return a.Connector, a.Simulated }); sim != nil {
		// First, so that no reader (a card, a truncated line) takes the
		// outcome for real.
		summary = "SIMULATED: nothing real was done on " + strings.Join(sim, ", ") + " (sandbox connectors). " + summary
	}
	if confirmed > 0 {
		summary += fmt.Sprintf("; %d %s confirmed by the receiving team's acknowledgement (mail has no read-back)", confirmed, text.Plural(confirmed, "notice"))
	}
	if unverified > 0 {
		summary += fmt.Sprintf("; %d succeeded without read-back verification", unverified)
	}
	if c.StartedAt != nil {
		end := now
		if c.RevokedAt != nil {
			end = *c.RevokedAt // not the wait for devices and notices after it
		}
		summary += fmt.Sprintf("; full revocation took %s", end.Sub(*c.StartedAt).Round(time.Millisecond))
	}
	if crit := criticalSummary(c, acts, dead); crit != "" {
		summary += "; " + crit
	}
	summary += "; " + remoteAccessSummary(acts, e.revokesOf)
	summary += preservedSummary(cas)
	if eqSummary != "" {
		summary += "; " + eqSummary
	}
	if c.StartedAt != nil {
		summary += "; closed " + sinceEffective(c, now)
	}
	if err := tx.Model(c).Updates(map[string]any{"status": status, "closed_at": now, "summary": summary, "updated_at": now}).Error; err != nil {
		return evs, err
	}
	c.Status, c.ClosedAt, c.Summary = status, &now, summary
	_, span := tracer.Start(tx.Statement.Context, "case.transition", trace.WithAttributes(attribute.Int64("kinetic.case_id", c.ID), attribute.String("kinetic.to", status)))
	span.End()
	au.st.CaseStatus(c.ID, status)
	au.add(store.Entry{Time: now, CaseID: c.ID, Actor: "kinetic", Event: "case.closed", Result: status, Detail: summary})
	if c.StartedAt != nil {
		e.metrics.observeCase(status, now.Sub(*c.StartedAt))
	}
	e.log.WithFields(map[string]any{"case": c.ID, "status": status}).Info(summary)
	return append(evs, Event{Kind: EventCaseClosed, CaseID: c.ID, Status: status, Detail: summary, At: now}), nil
}
