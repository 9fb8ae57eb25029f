package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kineticsec/kinetic/store"
	"gorm.io/gorm"
)

// Sweep duty: approval reminders, escalations and timeouts.

// sweepApprovals sends due reminders and applies step timeouts.
func (e *Engine) sweepApprovals(ctx context.Context) (reminded, timedOut int, err error) {
	now := e.clock()
	steps, err := e.store.DueSteps(ctx, now, 200)
	if err != nil {
		return 0, 0, err
	}
	for _, s := range steps {
		remind := s.RemindedAt == nil && s.RemindBefore > 0 && !now.Before(s.DueAt.Add(-s.RemindBefore))
		if s.DueAt.After(now) && !remind {
			continue
		}
		var evs []Event
		var ds []dispatch
		var did string
		err := e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
			evs, ds, did = nil, nil, ""
			ap, err := store.LockApproval(tx, s.ApprovalID)
			if err != nil {
				return err
			}
			var st store.ApprovalStep
			if err := tx.First(&st, s.ID).Error; err != nil {
				return err
			}
			if ap.Status != store.ApprovalPending || st.Status != store.StepPending {
				return nil
			}
			c, err := store.LockCase(tx, ap.CaseID)
			if err != nil {
				return err
			}
			emp, err := e.snapshot(tx, c.ID)
			if err != nil {
				return err
			}
			if st.DueAt.After(now) { // reminder
				if err := tx.Model(&st).Updates(map[string]any{"reminded_at": now, "updated_at": now}).Error; err != nil {
					return err
				}
				au.add(store.Entry{Time: now, CaseID: c.ID, Actor: "kinetic", Event: "approval.reminder", Result: "sent",
					Detail: fmt.Sprintf("approval %d step %q times out at %s", ap.ID, st.Name, st.DueAt.Format(time.RFC3339))})
				evs = append(evs, Event{Kind: EventApprovalReminder, CaseID: c.ID, ApprovalID: ap.ID, Name: ap.Kind, Status: store.ApprovalPending,
					Detail:  fmt.Sprintf("reminder: %s for %s awaits step %q until %s", ap.Kind, c.EmployeeName, st.Name, st.DueAt.Format(time.RFC3339)),
					Targets: e.targets(emp, refsOf(&st)), At: now})
				did = "reminded"
				return nil
			}
			did = "timed_out"
			switch {
			case st.OnTimeout == "escalate" && !st.Escalated:
				due := now.Add(st.Timeout)
				if err := tx.Model(&st).Updates(map[string]any{"escalated": true, "due_at": due, "reminded_at": nil, "updated_at": now}).Error; err != nil {
					return err
				}
				st.Escalated = true
				au.add(store.Entry{Time: now, CaseID: c.ID, Actor: "kinetic", Event: "approval.escalated", Result: "escalated",
					Detail: fmt.Sprintf("approval %d step %q timed out; fallback approvers added until %s", ap.ID, st.Name, due.Format(time.RFC3339))})
				evs = append(evs, Event{Kind: EventApprovalEscalated, CaseID: c.ID, ApprovalID: ap.ID, Name: ap.Kind, Status: store.ApprovalPending,
					Detail:  fmt.Sprintf("step %q of %s for %s timed out; escalated", st.Name, ap.Kind, c.EmployeeName),
					Targets: e.targets(emp, refsOf(&st)), At: now})
				return nil
			case st.OnTimeout == "approve" && !st.Escalated:
				// A clock never satisfies the two-person rule or a
				// clearance rule: where one applies, the step escalates to
				// its fallback approvers (once) or expires instead.
				cond, err := e.conditions(c, emp)
				if err != nil {
					return err
				}
				if why := clockMayNotApprove(cond, emp, &st); why != "" {
					au.add(store.Entry{Time: now, CaseID: c.ID, Actor: "kinetic", Event: "approval.auto_approve_refused", Result: "refused",
						Detail: fmt.Sprintf("approval %d step %q would approve on timeout, but %s: a timeout never approves there", ap.ID, st.Name, why)})
					var fb []string
					_ = json.Unmarshal([]byte(st.Fallback), &fb)
					if len(fb) > 0 {
						due := now.Add(st.Timeout)
						if err := tx.Model(&st).Updates(map[string]any{"escalated": true, "due_at": due, "reminded_at": nil, "updated_at": now}).Error; err != nil {
							return err
						}
						st.Escalated = true
						au.add(store.Entry{Time: now, CaseID: c.ID, Actor: "kinetic", Event: "approval.escalated", Result: "escalated",
							Detail: fmt.Sprintf("approval %d step %q timed out; fallback approvers added until %s", ap.ID, st.Name, due.Format(time.RFC3339))})
						evs = append(evs, Event{Kind: EventApprovalEscalated, CaseID: c.ID, ApprovalID: ap.ID, Name: ap.Kind, Status: store.ApprovalPending,
							Detail:  fmt.Sprintf("step %q of %s for %s timed out; escalated (%s, so it is not approved by the clock)", st.Name, ap.Kind, c.EmployeeName, why),
							Targets: e.targets(emp, refsOf(&st)), At: now})
						return nil
					}
					evs, ds, err = e.conclude(tx, au, c, ap, &st, false, fmt.Sprintf("timed out at step %q (%s: not approved by the clock)", st.Name, why), now, evs)
					return err
				}
				steps, err := store.ApprovalSteps(tx, ap.ID)
				if err != nil {
					return err
				}
				au.add(store.Entry{Time: now, CaseID: c.ID, Actor: "policy", Event: "approval.decision", Result: "approve",
					Detail: fmt.Sprintf("approval %d step %q approved on timeout, as policy allows", ap.ID, st.Name)})
				evs, ds, err = e.completeStep(tx, au, c, ap, steps, &st, emp, "approved on timeout by policy", now, evs)
				return err
			default:
				evs, ds, err = e.conclude(tx, au, c, ap, &st, false, fmt.Sprintf("timed out at step %q", st.Name), now, evs)
				return err
			}
		})
		if err != nil {
			return reminded, timedOut, err
		}
		switch did {
		case "reminded":
			reminded++
		case "timed_out":
			timedOut++
		}
		e.emit(evs...)
		e.dispatchAll(ctx, ds)
	}
	return reminded, timedOut, nil
}
