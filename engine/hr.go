package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/internal/text"
	"github.com/kineticsec/kinetic/store"
)

// HR event kinds.
const (
	HRTerminate = "terminate"
	HRRescind   = "rescind"
	HRRehire    = "rehire"
)

// HR event outcomes.
const (
	HROpened           = "opened"            // a case was opened (scheduled or started)
	HRRescheduled      = "rescheduled"       // the open case's effective time moved (an involuntary event: it also became involuntary)
	HRUpgraded         = "upgraded"          // an involuntary event for a voluntary case already running: it became involuntary
	HRUnchanged        = "unchanged"         // a repeat of what the open case already says
	HRDuplicate        = "duplicate"         // the same event id again: nothing done
	HRCancelled        = "cancelled"         // a rescinded termination cancelled the case
	HRTooLate          = "too_late"          // rescinded or moved after revocation started: raised, not applied
	HRRestoreRequested = "restore_requested" // a rehire opened a restore request
	HRUnknownEmployee  = "unknown_employee"  // recorded and raised to the alerts channel
	HRIgnored          = "ignored"           // nothing to do (e.g. rescind with no case)
)

// HREvent is a termination-related event from an HR system, already
// authenticated and parsed by the front end (webhook or poller).
type HREvent struct {
	// Source is the configured HR source's name ("bamboohr").
	Source string
	// EventID is the source's id for the event; empty means one is derived
	// from the event's content, so a repeated delivery is still a no-op.
	EventID string
	// Kind is terminate, rescind or rehire.
	Kind string
	// EmployeeID or Email identifies the person (EmployeeID wins).
	EmployeeID string
	Email      string
	// Date is the last day, YYYY-MM-DD, in the employee's time zone; Time,
	// optional, is HH:MM[:SS] on that day (default: the policy's revoke
	// time).
	Date string
	Time string
	// Involuntary terminations start at once, whatever the date.
	Involuntary bool
	Reason      string
	// Payload is the event as received, kept for the record.
	Payload []byte
}

// HRResult says what an event did.
type HRResult struct {
	Outcome string `json:"outcome"`
	CaseID  int64  `json:"case_id,omitempty"`
	// EffectiveAt is the case's effective time (UTC).
	EffectiveAt *time.Time `json:"effective_at,omitempty"`
	Detail      string     `json:"detail"`
}

// HRTiming is the policy for turning HR dates into effective times.
type HRTiming struct {
	// RevokeAt is the local time of day revocation starts on the last day
	// when the event gives none; default 17:00.
	RevokeAt string
	// MaxFuture refuses dates further ahead; default 365 days.
	MaxFuture time.Duration
	// MaxPast refuses dates further back (a late event for someone already
	// gone starts at once); default 30 days.
	MaxPast time.Duration
}

func (t HRTiming) withDefaults() HRTiming {
	if t.RevokeAt == "" {
		t.RevokeAt = "17:00"
	}
	if t.MaxFuture <= 0 {
		t.MaxFuture = DefaultMaxFuture
	}
	if t.MaxPast <= 0 {
		t.MaxPast = 30 * 24 * time.Hour
	}
	return t
}

// EffectiveTime turns an HR date (and optional time) in the employee's
// time zone into UTC. DST is handled by the zone database: 17:00 on a day
// after the clocks change is still 17:00 local.
func EffectiveTime(emp *directory.Employee, date, clock string, timing HRTiming) (time.Time, error) {
	timing = timing.withDefaults()
	loc := time.UTC
	if emp.TimeZone != "" {
		l, err := time.LoadLocation(emp.TimeZone)
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: employee %s has an unknown time zone %q", ErrInvalidRequest, emp.ID, emp.TimeZone)
		}
		loc = l
	}
	if clock == "" {
		clock = timing.RevokeAt
	}
	layout := "2006-01-02 15:04"
	if strings.Count(clock, ":") == 2 {
		layout += ":05"
	}
	t, err := time.ParseInLocation(layout, date+" "+clock, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: date %q and time %q must be YYYY-MM-DD and HH:MM[:SS]", ErrInvalidRequest, date, clock)
	}
	return t.UTC(), nil
}

// HandleHREvent applies one HR event. Every valid event is recorded first
// (nothing accepted is lost), deduplicated by (source, event id) and, for
// terminations, by (employee, date): a repeat is a no-op. A termination opens
// a case effective at the local time on the last day (involuntary: now); a
// changed date for an open case that has not started reschedules it; a
// rescinded termination before the effective time cancels the case; a
// rehire after a completed case opens a restore request. An unknown employee
// is recorded and raised to the alerts channel, never dropped. The error is
// for invalid events and infrastructure failures; an invalid event is not
// recorded.
func (e *Engine) HandleHREvent(ctx context.Context, ev HREvent, timing HRTiming) (HRResult, error) {
	timing = timing.withDefaults()
	switch ev.Kind {
	case HRTerminate, HRRescind, HRRehire:
	default:
		return HRResult{}, fmt.Errorf("%w: event kind %q (want terminate, rescind or rehire)", ErrInvalidRequest, ev.Kind)
	}
	if ev.Source == "" {
		return HRResult{}, fmt.Errorf("%w: event has no source", ErrInvalidRequest)
	}
	if ev.EmployeeID == "" && ev.Email == "" {
		return HRResult{}, fmt.Errorf("%w: event names no employee (id or email)", ErrInvalidRequest)
	}
	if ev.Kind == HRTerminate && ev.Date == "" && !ev.Involuntary {
		return HRResult{}, fmt.Errorf("%w: a termination needs its date", ErrInvalidRequest)
	}
	if len(ev.Reason) > 1000 {
		ev.Reason = text.ClipBytes(strings.ToValidUTF8(ev.Reason, "\uFFFD"), 990) // on a rune boundary: PostgreSQL refuses broken UTF-8
	}
	if ev.EventID == "" {
		sum := sha256.Sum256([]byte(strings.Join([]string{ev.Kind, ev.EmployeeID, ev.Email, ev.Date, ev.Time, fmt.Sprint(ev.Involuntary)}, "|")))
		ev.EventID = "derived-" + hex.EncodeToString(sum[:12])
	}

	emp, lookupErr := e.findEmployee(ctx, ev.EmployeeID, ev.Email)
	var eff time.Time
	if lookupErr == nil && ev.Date != "" {
		t, err := EffectiveTime(emp, ev.Date, ev.Time, timing)
		if err != nil {
			return HRResult{}, err
		}
		now := e.clock()
		if t.After(now.Add(timing.MaxFuture)) {
			return HRResult{}, fmt.Errorf("%w: date %s is more than %s ahead", ErrInvalidRequest, ev.Date, timing.MaxFuture)
		}
		if t.Before(now.Add(-timing.MaxPast)) {
			return HRResult{}, fmt.Errorf("%w: date %s is more than %s in the past", ErrInvalidRequest, ev.Date, timing.MaxPast)
		}
		eff = t
	}

	// Record the event first: a repeat is a no-op, and an event whose
	// handling fails is kept and can be replayed.
	rec := store.HREventRecord{Source: ev.Source, EventID: ev.EventID, Kind: ev.Kind, EmployeeID: ev.EmployeeID, Email: ev.Email,
		Date: ev.Date, Time: ev.Time, Involuntary: ev.Involuntary, Reason: ev.Reason, Payload: string(ev.Payload), ReceivedAt: e.clock(), Outcome: "received"}
	res := e.store.Conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&rec)
	if res.Error != nil {
		return HRResult{}, fmt.Errorf("recording HR event: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		var prev store.HREventRecord
		e.store.Conn(ctx).Where("source = ? AND event_id = ?", ev.Source, ev.EventID).First(&prev)
		return HRResult{Outcome: HRDuplicate, CaseID: prev.CaseID, Detail: fmt.Sprintf("event %s from %s was already handled (%s)", ev.EventID, ev.Source, prev.Outcome)}, nil
	}
	out, err := e.applyHREvent(ctx, ev, emp, lookupErr, eff)
	if err != nil {
		e.store.Conn(ctx).Model(&rec).Updates(map[string]any{"outcome": "error", "detail": text.ClipBytes(err.Error(), 2000)})
		return HRResult{}, err
	}
	e.store.Conn(ctx).Model(&rec).Updates(map[string]any{"outcome": out.Outcome, "case_id": out.CaseID, "detail": text.ClipBytes(out.Detail, 2000)})
	return out, nil
}

func (e *Engine) applyHREvent(ctx context.Context, ev HREvent, emp *directory.Employee, lookupErr error, eff time.Time) (HRResult, error) {
	who := "hr:" + ev.Source
	if lookupErr != nil {
		if !errors.Is(lookupErr, ErrUnknownEmployee) {
			return HRResult{}, lookupErr
		}
		detail := fmt.Sprintf("%s event %s from %s names %s%s, who is not in the HR directory", ev.Kind, ev.EventID, ev.Source, ev.EmployeeID, ev.Email)
		var targets []string
		if e.secChan != "" {
			targets = []string{"channel:" + e.secChan}
		}
		e.emit(Event{Kind: EventHRUnknownEmployee, Detail: detail, Targets: targets, At: e.clock()})
		e.log.WithContext(ctx).WithField("source", ev.Source).Warn(detail)
		return HRResult{Outcome: HRUnknownEmployee, Detail: detail}, nil
	}
	open, err := e.store.OpenCaseFor(ctx, emp.ID)
	hasOpen := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return HRResult{}, err
	}
	switch ev.Kind {
	case HRTerminate:
		if !hasOpen {
			req := Request{EmployeeID: emp.ID, Requester: who, System: true, Trigger: store.TriggerHR, Reason: ev.Reason,
				Involuntary: ev.Involuntary, EffectiveAt: eff, IdempotencyKey: fmt.Sprintf("hr:%s:%s", emp.ID, ev.Date)}
			if ev.Involuntary {
				req.IdempotencyKey = fmt.Sprintf("hr:%s:involuntary:%s", emp.ID, ev.EventID)
			}
			o, err := e.Open(ctx, req)
			if err != nil {
				return HRResult{}, err
			}
			if !o.Created {
				return HRResult{Outcome: HRUnchanged, CaseID: o.Case.ID, EffectiveAt: &o.Case.EffectiveAt, Detail: "a case for this termination date already exists"}, nil
			}
			return HRResult{Outcome: HROpened, CaseID: o.Case.ID, EffectiveAt: &o.Case.EffectiveAt,
				Detail: fmt.Sprintf("case %d %s, effective %s", o.Case.ID, o.Case.Status, o.Case.EffectiveAt.Format(time.RFC3339))}, nil
		}
		if ev.Involuntary && !open.Involuntary {
			return e.hrUpgrade(ctx, open, who, ev)
		}
		if eff.IsZero() || eff.Equal(open.EffectiveAt) {
			return HRResult{Outcome: HRUnchanged, CaseID: open.ID, EffectiveAt: &open.EffectiveAt, Detail: "the open case already has this effective time"}, nil
		}
		return e.reschedule(ctx, open, eff, who, fmt.Sprintf("HR changed the termination date to %s", ev.Date))
	case HRRescind:
		if !hasOpen {
			return HRResult{Outcome: HRIgnored, Detail: "no open case to rescind"}, nil
		}
		if open.Status != store.CaseScheduled && open.Status != store.CaseHeld && open.Status != store.CaseAwaitingConfirmation {
			e.raiseLateHR(open, "rescinded after revocation started: access was already being removed; restore through a rehire if needed")
			return HRResult{Outcome: HRTooLate, CaseID: open.ID, Detail: "revocation had already started; the rescission is recorded and raised"}, nil
		}
		if err := e.Cancel(ctx, open.ID, who, "termination rescinded in HR: "+ev.Reason); err != nil {
			return HRResult{}, err
		}
		return HRResult{Outcome: HRCancelled, CaseID: open.ID, Detail: fmt.Sprintf("case %d cancelled before its effective time", open.ID)}, nil
	default: // HRRehire
		return e.requestRestore(ctx, emp, who, ev)
	}
}

// hrUpgrade applies an involuntary termination to an open voluntary case:
// the case becomes involuntary and starts now (see upgradeInvoluntary).
func (e *Engine) hrUpgrade(ctx context.Context, open *store.Case, who string, ev HREvent) (HRResult, error) {
	up, err := e.upgradeInvoluntary(ctx, open.ID, who, fmt.Sprintf("involuntary termination in HR (event %s)", ev.EventID))
	if err != nil {
		return HRResult{}, err
	}
	c, err := e.store.CaseWithActions(ctx, open.ID)
	if err != nil {
		return HRResult{}, err
	}
	if !up.Done {
		return HRResult{Outcome: HRUnchanged, CaseID: c.ID, EffectiveAt: &c.EffectiveAt, Detail: "the open case is already involuntary or closed"}, nil
	}
	detail := fmt.Sprintf("case %d is now involuntary, effective %s", c.ID, c.EffectiveAt.Format(time.RFC3339))
	if len(up.Cancelled) > 0 {
		detail += fmt.Sprintf("; %d exception(s) the policy forbids for involuntary terminations cancelled", len(up.Cancelled))
	}
	outcome := HRUpgraded
	if up.Moved {
		outcome = HRRescheduled
	}
	return HRResult{Outcome: outcome, CaseID: c.ID, EffectiveAt: &c.EffectiveAt, Detail: detail}, nil
}

// reschedule moves a scheduled case's effective time (and its actions' due
// times) with an audit event; a case already running is not moved.
func (e *Engine) reschedule(ctx context.Context, c *store.Case, eff time.Time, who, why string) (HRResult, error) {
	var rescheduled bool
	var moved []dispatch
	err := e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
		rescheduled, moved = false, nil
		cur, err := store.LockCase(tx, c.ID)
		if err != nil {
			return err
		}
		if cur.Status != store.CaseScheduled && cur.Status != store.CaseHeld && cur.Status != store.CaseAwaitingConfirmation {
			return nil
		}
		delta := eff.Sub(cur.EffectiveAt)
		fields := map[string]any{"effective_at": eff, "updated_at": e.clock()}
		if cur.Status == store.CaseAwaitingConfirmation && !eff.After(e.clock()) {
			// HR says it starts now (involuntary): no confirmation to wait for.
			fields["status"] = store.CaseScheduled
			au.add(store.Entry{Time: e.clock(), CaseID: c.ID, Actor: who, Event: "case.confirmed", Result: "ok", Detail: why})
		}
		if err := tx.Model(cur).Updates(fields).Error; err != nil {
			return err
		}
		if st, ok := fields["status"].(string); ok {
			au.st.CaseStatus(cur.ID, st)
		}
		acts, err := store.CaseActions(tx, c.ID)
		if err != nil {
			return err
		}
		for _, a := range acts {
			if a.DueAt != nil {
				if err := tx.Model(&store.Action{}).Where("id = ?", a.ID).Update("due_at", a.DueAt.Add(delta)).Error; err != nil {
					return err
				}
			}
			// A lead-time action not yet run moves with the case (a queued one
			// is re-dispatched under a new generation).
			if a.NotBefore != nil && a.NotBefore.After(e.clock()) && !store.ActionFinal(a.Status) && a.Status != store.ActionRunning {
				nb := a.NotBefore.Add(delta)
				fields := map[string]any{"not_before": nb}
				if a.Status == store.ActionQueued {
					fields["generation"] = a.Generation + 1
					moved = append(moved, dispatch{id: a.ID, gen: a.Generation + 1, at: nb})
				}
				if err := tx.Model(&store.Action{}).Where("id = ?", a.ID).Updates(fields).Error; err != nil {
					return err
				}
			}
		}
		if cur.ComplianceDeadline != nil {
			if err := tx.Model(cur).Update("compliance_deadline", cur.ComplianceDeadline.Add(delta)).Error; err != nil {
				return err
			}
		}
		au.add(store.Entry{Time: e.clock(), CaseID: c.ID, Actor: who, Event: "case.rescheduled", Result: "ok",
			Detail: fmt.Sprintf("%s: effective %s → %s", why, cur.EffectiveAt.Format(time.RFC3339), eff.Format(time.RFC3339))})
		rescheduled = true
		return nil
	})
	if err != nil {
		return HRResult{}, err
	}
	e.dispatchAll(ctx, moved)
	if !rescheduled {
		e.raiseLateHR(c, "HR changed the termination date after revocation started: "+why)
		return HRResult{Outcome: HRTooLate, CaseID: c.ID, Detail: "revocation had already started; the change is recorded and raised"}, nil
	}
	e.emit(Event{Kind: EventCaseRescheduled, CaseID: c.ID, Status: store.CaseScheduled, Detail: why, At: e.clock()})
	if !eff.After(e.clock()) {
		if err := e.StartCase(ctx, c.ID); err != nil {
			e.log.WithContext(ctx).WithError(err).WithField("case", c.ID).Warn("starting a rescheduled case failed; the sweep will start it")
		}
	} else if err := e.disp.DispatchCaseStart(ctx, c.ID, eff); err != nil {
		e.log.WithContext(ctx).WithError(err).WithField("case", c.ID).Warn("scheduling a rescheduled case failed; the sweep will start it on time")
	}
	return HRResult{Outcome: HRRescheduled, CaseID: c.ID, EffectiveAt: &eff, Detail: fmt.Sprintf("case %d now effective %s", c.ID, eff.Format(time.RFC3339))}, nil
}

func (e *Engine) raiseLateHR(c *store.Case, detail string) {
	var targets []string
	if e.secChan != "" {
		targets = []string{"channel:" + e.secChan}
	}
	e.emit(Event{Kind: EventHRLateChange, CaseID: c.ID, Status: c.Status, Detail: fmt.Sprintf("%s (%s): %s", c.EmployeeName, c.EmployeeID, detail), Targets: targets, At: e.clock()})
}
