package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/internal/text"
	"github.com/kineticsec/kinetic/store"
)

// upgraded is what upgradeInvoluntary did.
type upgraded struct {
	// Done is false when the case was already involuntary or closed.
	Done bool
	// Moved is true when the effective time moved to now.
	Moved bool
	// From is the effective time before the upgrade.
	From time.Time
	// Cancelled are the exceptions (approval ids) cancelled.
	Cancelled []int64
}

// upgradeInvoluntary turns an open voluntary case into an involuntary one
// (an involuntary HR event or request for someone whose voluntary case is
// already open): the case starts now if it had not, its SLAs become the
// involuntary ones, actions the policy selects only for involuntary
// terminations are added, exceptions the policy forbids for the case as
// involuntary (those holding or delaying a critical revocation) are
// cancelled with an audit event and a notice to their requesters, and the
// critical revocations they held run at once. who is the principal asking,
// already authorized.
func (e *Engine) upgradeInvoluntary(ctx context.Context, caseID int64, who, why string) (upgraded, error) {
	var up upgraded
	var evs []Event
	var ds []dispatch
	var status string
	err := e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
		up, evs, ds, status = upgraded{}, nil, nil, ""
		c, err := store.LockCase(tx, caseID)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: case %d", ErrNotFound, caseID)
		}
		if err != nil {
			return err
		}
		if !store.CaseOpen(c.Status) || c.Involuntary {
			return nil
		}
		emp, err := e.snapshot(tx, c.ID)
		if err != nil {
			return err
		}
		pol := e.policy.Load()
		facts := configs.Facts{Reason: c.Reason, Involuntary: true, Trigger: c.Trigger}
		cond, err := pol.Conditions(emp, facts)
		if err != nil {
			return fmt.Errorf("policy: %w", err)
		}
		sel, err := pol.Select(emp, facts)
		if err != nil {
			return fmt.Errorf("policy: %w", err)
		}
		now := e.clock()
		up.Done, up.From = true, c.EffectiveAt
		eff := c.EffectiveAt
		if eff.After(now) {
			eff, up.Moved = now, true
		}
		delta := eff.Sub(c.EffectiveAt)
		fields := map[string]any{"involuntary": true, "effective_at": eff, "updated_at": now}
		if c.Status == store.CaseAwaitingConfirmation {
			// Involuntary terminations never wait for a confirmation.
			fields["status"] = store.CaseScheduled
			au.add(store.Entry{Time: now, CaseID: c.ID, Actor: who, Event: "case.confirmed", Result: "ok", Detail: why})
			c.Status = store.CaseScheduled
		}
		switch {
		case c.ComplianceDeadline != nil:
			fields["compliance_deadline"] = c.ComplianceDeadline.Add(delta)
		case cond.Compliance != nil:
			dl := eff.Add(cond.Compliance.CriticalWithin.D())
			fields["compliance_profile"], fields["compliance_deadline"] = cond.Compliance.Name, dl
		}
		if err := tx.Model(c).Updates(fields).Error; err != nil {
			return err
		}
		if st, ok := fields["status"].(string); ok {
			au.st.CaseStatus(c.ID, st)
		}
		c.Involuntary, c.EffectiveAt = true, eff

		acts, err := store.CaseActions(tx, c.ID)
		if err != nil {
			return err
		}
		byName := map[string]*store.Action{}
		for i := range acts {
			byName[acts[i].Name] = &acts[i]
		}
		// Exceptions the policy forbids once the case is involuntary.
		var aps []store.Approval
		if err := tx.Where("case_id = ? AND status IN ?", c.ID, []string{store.ApprovalPending, store.ApprovalApproved}).Order("id").Find(&aps).Error; err != nil {
			return err
		}
		release := map[string]bool{} // critical actions to run at once
		if cond.ForbidCriticalExceptions {
			for i := range aps {
				ap := &aps[i]
				if ap.Effect == effectReleaseHold || ap.Effect == effectRestore {
					continue
				}
				var held []string
				_ = json.Unmarshal([]byte(ap.Held), &held)
				var f exceptionFields
				_ = json.Unmarshal([]byte(ap.Request), &f)
				touched := slices.Clone(held)
				if f.Action != "" && !slices.Contains(touched, f.Action) {
					touched = append(touched, f.Action)
				}
				var critical []string
				for _, n := range touched {
					if a, ok := byName[n]; ok && a.Phase == 1 {
						critical = append(critical, n)
					}
				}
				if len(critical) == 0 {
					continue
				}
				outcome := fmt.Sprintf("cancelled: the case became involuntary and the policy forbids exceptions to critical revocations (%s); held actions proceed: %s",
					strings.Join(critical, ", "), strings.Join(held, ", "))
				if err := tx.Model(&store.Approval{}).Where("id = ?", ap.ID).Updates(map[string]any{
					"status": store.ApprovalCancelled, "decided_at": now, "outcome": text.ClipBytes(outcome, 2000), "updated_at": now}).Error; err != nil {
					return err
				}
				au.st.ApprovalStatus(c.ID, ap.ID, store.ApprovalCancelled)
				for _, n := range touched {
					release[n] = true
				}
				up.Cancelled = append(up.Cancelled, ap.ID)
				au.add(store.Entry{Time: now, CaseID: c.ID, Actor: who, Event: "approval.cancelled", Result: store.ApprovalCancelled,
					Detail: fmt.Sprintf("approval %d (%s, %s): %s", ap.ID, ap.Kind, ap.Status, outcome)})
				var targets []string
				if ap.Requester != "" && !strings.Contains(ap.Requester, ":") {
					targets = []string{"user:" + ap.Requester}
				}
				evs = append(evs, Event{Kind: EventApprovalCancelled, CaseID: c.ID, ApprovalID: ap.ID, Name: ap.Kind, Status: store.ApprovalCancelled,
					Detail: fmt.Sprintf("your %s exception for %s was cancelled: the offboarding became involuntary, and the policy allows no exception to critical revocations (%s)",
						ap.Kind, c.EmployeeName, strings.Join(critical, ", ")),
					Targets: targets, At: now})
			}
		}
		sla := map[string]time.Duration{}
		for _, s := range sel.Actions {
			sla[s.Name] = s.SLA
		}
		oldEff := up.From
		for i := range acts {
			a := &acts[i]
			if store.ActionFinal(a.Status) || a.Status == store.ActionRunning {
				continue
			}
			// A lead-time action runs at its own time before the effective
			// time; it moves with the case, as in reschedule.
			lead := a.NotBefore != nil && a.RunAt != nil && a.NotBefore.Equal(*a.RunAt) && a.NotBefore.Before(oldEff)
			upd := map[string]any{}
			if d, ok := sla[a.Name]; ok && a.NotBefore == nil {
				upd["sla"], upd["due_at"] = d, eff.Add(d) // the involuntary SLA
			} else if a.DueAt != nil && delta != 0 {
				upd["due_at"] = a.DueAt.Add(delta)
			}
			switch {
			case release[a.Name]:
				if a.Status == store.ActionHeld {
					upd["status"], upd["blocked_reason"], upd["generation"] = store.ActionBlocked, "", a.Generation+1
				}
				if a.NotBefore != nil {
					upd["not_before"], upd["run_at"] = nil, nil
					if a.Status == store.ActionQueued {
						upd["generation"] = a.Generation + 1
						ds = append(ds, dispatch{id: a.ID, gen: a.Generation + 1, at: now})
					}
				}
				if d, ok := sla[a.Name]; ok {
					upd["sla"], upd["due_at"] = d, eff.Add(d)
				}
				au.add(store.Entry{Time: now, CaseID: c.ID, ActionID: a.ID, Actor: "kinetic", System: a.Connector, Event: "action.released", Result: "ok",
					Detail: "no longer held or delayed: the exception is forbidden for involuntary terminations"})
			case lead && delta != 0:
				nb := a.NotBefore.Add(delta)
				upd["not_before"], upd["run_at"] = nb, nb
				if a.Status == store.ActionQueued {
					upd["generation"] = a.Generation + 1
					ds = append(ds, dispatch{id: a.ID, gen: a.Generation + 1, at: nb})
				}
			}
			if len(upd) == 0 {
				continue
			}
			upd["updated_at"] = now
			if err := tx.Model(&store.Action{}).Where("id = ?", a.ID).Updates(upd).Error; err != nil {
				return err
			}
			au.st.ActionFields(c.ID, a.ID, upd)
		}
		// Actions the policy selects only for involuntary terminations.
		var added []string
		for _, s := range sel.Actions {
			if _, ok := byName[s.Name]; ok {
				continue
			}
			pa := PlannedAction{Name: s.Name, Description: s.Def.Description, Connector: s.Def.Connector, Operation: s.Def.Operation,
				Phase: s.Phase, PhaseName: s.PhaseName, SLA: s.SLA, DueAt: eff.Add(s.SLA), DependsOn: s.DependsOn, Params: s.Params,
				MaxAttempts: s.MaxAttempts, TargetAccount: emp.Accounts[s.Def.Connector], Manual: s.Def.Manual,
				Skippable: s.Def.Skippable && s.Phase > 1, Found: "added when the case became involuntary"}
			a := newAction(c, pa, now)
			if err := tx.Create(&a).Error; err != nil {
				return err
			}
			au.st.NewAction(&a)
			added = append(added, s.Name)
		}
		detail := fmt.Sprintf("%s: involuntary; effective %s → %s", why, up.From.Format(time.RFC3339), eff.Format(time.RFC3339))
		if len(up.Cancelled) > 0 {
			detail += fmt.Sprintf("; %d exception(s) cancelled", len(up.Cancelled))
		}
		if len(added) > 0 {
			detail += "; actions added: " + strings.Join(added, ",")
		}
		au.add(store.Entry{Time: now, CaseID: c.ID, Actor: who, Event: "case.made_involuntary", Result: "ok", Detail: detail})
		evs = append(evs, Event{Kind: EventCaseRescheduled, CaseID: c.ID, Status: c.Status, Detail: detail, At: now})
		status = c.Status
		if c.Status == store.CaseRunning {
			more, evs2, err := e.advance(tx, au, c, now, evs)
			if err != nil {
				return err
			}
			ds, evs = append(ds, more...), evs2
		}
		return nil
	})
	if err != nil {
		return upgraded{}, err
	}
	e.emit(evs...)
	e.dispatchAll(ctx, ds)
	if up.Done && status == store.CaseScheduled {
		if err := e.StartCase(ctx, caseID); err != nil {
			e.log.WithContext(ctx).WithError(err).WithField("case", caseID).Warn("starting a case made involuntary failed; the sweep will start it")
		}
	}
	return up, nil
}
