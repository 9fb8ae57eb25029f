package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/internal/text"
	"github.com/kineticsec/kinetic/store"
	"gorm.io/gorm"
)

// Approval decisions: an approver's Decide, step completion, and applying
// an approval's outcome to the case. Slightly over 400 lines: the decision
// and the outcome it applies are one path and read together.

// Decision is one approver's decision.
type Decision struct {
	ApprovalID int64
	// Approver is the deciding person's HR id.
	Approver string
	Approve  bool
	Reason   string
	Via      string
}

// Decide records a decision on an approval's current step. The approver
// must be entitled to the step now (group membership is checked at this
// moment), must be neither the requester nor the departing employee, must
// not have filled a slot of this step (or, under the two-person rule, of
// any step) already; a deny always needs a reason, an approve where the
// step says so. A step that completes opens the next one; the last
// approval, or any denial, applies the outcome to the plan.
func (e *Engine) Decide(ctx context.Context, d Decision) (*store.Approval, error) {
	if len(d.Reason) > 1000 {
		return nil, fmt.Errorf("%w: reason is longer than 1000 characters", ErrInvalidRequest)
	}
	var ap *store.Approval
	var evs []Event
	var ds []dispatch
	err := e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
		evs, ds = nil, nil
		var err error
		ap, err = store.LockApproval(tx, d.ApprovalID)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: approval %d", ErrNotFound, d.ApprovalID)
		}
		if err != nil {
			return err
		}
		if ap.Status != store.ApprovalPending {
			return fmt.Errorf("%w: approval %d is already %s", ErrInvalidRequest, ap.ID, ap.Status)
		}
		c, err := store.LockCase(tx, ap.CaseID)
		if err != nil {
			return err
		}
		emp, err := e.snapshot(tx, c.ID)
		if err != nil {
			return err
		}
		cond, err := e.conditions(c, emp)
		if err != nil {
			return err
		}
		steps, err := store.ApprovalSteps(tx, ap.ID)
		if err != nil {
			return err
		}
		cur := currentStep(steps)
		if cur == nil {
			return fmt.Errorf("%w: approval %d has no open step", ErrInvalidRequest, ap.ID)
		}
		decisions, err := store.ApprovalDecisions(tx, ap.ID)
		if err != nil {
			return err
		}
		op := OpDeny
		if d.Approve {
			op = OpApprove
		}
		if err := e.mayAct(ctx, op, d.Approver, emp); err != nil {
			if d.Approver == c.EmployeeID {
				return fmt.Errorf("%w: the departing employee cannot decide their own exception", err)
			}
			return err
		}
		pid := principalID(ctx)
		if pid != "" && pid == ap.RequesterPrincipal {
			return fmt.Errorf("%w: %s requested this exception and cannot decide it, for anyone", ErrNotAllowed, pid)
		}
		for _, prev := range decisions {
			if pid != "" && prev.Principal == pid && prev.Approver != d.Approver {
				return fmt.Errorf("%w: %s already decided this approval as %s; one principal is one approver, and acts for one person per approval",
					ErrNotAllowed, pid, prev.Approver)
			}
		}
		switch {
		case d.Approver == "":
			return fmt.Errorf("%w: who is deciding?", ErrNotAllowed)
		case d.Approver == ap.Requester:
			return fmt.Errorf("%w: %s requested this exception and cannot decide it", ErrNotAllowed, d.Approver)
		case d.Approver == c.EmployeeID:
			return fmt.Errorf("%w: the departing employee cannot decide their own exception", ErrNotAllowed)
		case !slices.Contains(e.resolve(emp, refsOf(cur)), d.Approver):
			return fmt.Errorf("%w: %s is not an approver of step %q (%s)", ErrNotAllowed, d.Approver, cur.Name, strings.Join(refsOf(cur), ", "))
		}
		for _, prev := range decisions {
			if prev.Approver != d.Approver {
				continue
			}
			if prev.StepIndex == cur.Index {
				return fmt.Errorf("%w: %s already decided step %q; one person fills one slot", ErrNotAllowed, d.Approver, cur.Name)
			}
			if cond.TwoPersonRule {
				return fmt.Errorf("%w: two-person rule: %s already decided step %d of this exception", ErrNotAllowed, d.Approver, prev.StepIndex)
			}
		}
		if !d.Approve && strings.TrimSpace(d.Reason) == "" {
			return fmt.Errorf("%w: a denial needs a reason", ErrInvalidRequest)
		}
		if d.Approve && strings.TrimSpace(d.Reason) == "" && stepNeedsReason(e.policy.Load(), ap, cur.Index) {
			return fmt.Errorf("%w: policy requires a reason to approve step %q", ErrInvalidRequest, cur.Name)
		}
		now := e.clock()
		verdict := "deny"
		if d.Approve {
			verdict = "approve"
		}
		if err := tx.Create(&store.ApprovalDecision{ApprovalID: ap.ID, StepIndex: cur.Index, Approver: d.Approver,
			Decision: verdict, Reason: d.Reason, Via: d.Via, Principal: pid, At: now}).Error; err != nil {
			if store.IsUniqueViolation(err) {
				return fmt.Errorf("%w: %s already decided step %q", ErrNotAllowed, d.Approver, cur.Name)
			}
			return err
		}
		au.add(store.Entry{Time: now, CaseID: c.ID, Actor: d.Approver, Event: "approval.decision", Result: verdict,
			Detail: fmt.Sprintf("approval %d (%s) step %q via %s: %s", ap.ID, ap.Kind, cur.Name, orDash(d.Via), d.Reason)})
		if !d.Approve {
			evs, ds, err = e.conclude(tx, au, c, ap, cur, false, fmt.Sprintf("denied by %s: %s", e.personLabel(ctx, d.Approver), d.Reason), now, evs)
			return err
		}
		approvals := 1
		for _, prev := range decisions {
			if prev.StepIndex == cur.Index && prev.Decision == "approve" {
				approvals++
			}
		}
		if !stepComplete(cur, approvals, e.eligible(emp, cur, ap, c)) {
			evs = append(evs, Event{Kind: EventApprovalDecided, CaseID: c.ID, ApprovalID: ap.ID, Name: ap.Kind, Status: store.ApprovalPending,
				Detail: fmt.Sprintf("%s approved step %q (%d so far)%s", e.personLabel(ctx, d.Approver), cur.Name, approvals, because(d.Reason)), At: now})
			return nil
		}
		evs, ds, err = e.completeStep(tx, au, c, ap, steps, cur, emp, fmt.Sprintf("approved by %s%s", e.personLabel(ctx, d.Approver), because(d.Reason)), now, evs)
		return err
	})
	if err != nil {
		return nil, err
	}
	e.emit(evs...)
	e.dispatchAll(ctx, ds)
	return ap, nil
}

// personLabel names an HR id for people and auditors alike: "Lee Legal
// (L1)", or the id alone when the directory has no name for it.
func (e *Engine) personLabel(ctx context.Context, id string) string {
	if p, err := e.dir.ByID(ctx, id); err == nil && p.Name != "" && p.Name != id {
		return p.Name + " (" + id + ")"
	}
	return id
}

// because is ": reason", or nothing without one.
func because(reason string) string {
	if strings.TrimSpace(reason) == "" {
		return ""
	}
	return ": " + reason
}

func stepNeedsReason(p *configs.Policy, ap *store.Approval, idx int) bool {
	ex, ok := p.File.Exceptions[ap.Kind]
	if !ok {
		return false
	}
	chain := ex.Chain
	if ap.Effect == effectReleaseHold {
		chain = ex.ReleaseChain
	}
	ch, ok := p.File.Chains[chain]
	if !ok || idx >= len(ch.Steps) {
		return false
	}
	return ch.Steps[idx].ReasonRequiredOnApprove
}

// eligible counts the people who may still approve the step, for mode all.
func (e *Engine) eligible(emp *directory.Employee, st *store.ApprovalStep, ap *store.Approval, c *store.Case) int {
	n := 0
	for _, id := range e.resolve(emp, refsOf(st)) {
		if id != ap.Requester && id != c.EmployeeID {
			n++
		}
	}
	return n
}

func stepComplete(st *store.ApprovalStep, approvals, eligible int) bool {
	switch st.Mode {
	case "all":
		return approvals >= eligible && eligible > 0
	default:
		return approvals >= max(st.Required, 1)
	}
}

func currentStep(steps []store.ApprovalStep) *store.ApprovalStep {
	for i := range steps {
		if steps[i].Status == store.StepPending {
			return &steps[i]
		}
	}
	return nil
}

// completeStep marks a step approved and opens the next, or concludes the
// approval.
func (e *Engine) completeStep(tx *gorm.DB, au *auditBuf, c *store.Case, ap *store.Approval, steps []store.ApprovalStep, cur *store.ApprovalStep,
	emp *directory.Employee, why string, now time.Time, evs []Event) ([]Event, []dispatch, error) {
	if err := tx.Model(cur).Updates(map[string]any{"status": store.StepApproved, "decided_at": now, "updated_at": now}).Error; err != nil {
		return evs, nil, err
	}
	if next := cur.Index + 1; next < len(steps) {
		ns := &steps[next]
		due := now.Add(ns.Timeout)
		if err := tx.Model(ns).Updates(map[string]any{"status": store.StepPending, "due_at": due, "updated_at": now}).Error; err != nil {
			return evs, nil, err
		}
		evs = append(evs, Event{Kind: EventApprovalRequested, CaseID: c.ID, ApprovalID: ap.ID, Name: ap.Kind, Status: store.ApprovalPending,
			Detail: fmt.Sprintf("step %q %s; step %q is next", cur.Name, why, ns.Name), Targets: e.targets(emp, refsOf(ns)), At: now})
		return evs, nil, nil
	}
	return e.conclude(tx, au, c, ap, cur, true, why, now, evs)
}

// conclude ends an approval and applies its outcome to the plan.
func (e *Engine) conclude(tx *gorm.DB, au *auditBuf, c *store.Case, ap *store.Approval, cur *store.ApprovalStep, approved bool, why string,
	now time.Time, evs []Event) ([]Event, []dispatch, error) {
	status, stepStatus := store.ApprovalApproved, store.StepApproved
	if !approved {
		status, stepStatus = store.ApprovalDenied, store.StepDenied
		if strings.HasPrefix(why, "timed out") {
			status = store.ApprovalExpired
		}
	}
	if cur != nil {
		if err := tx.Model(cur).Updates(map[string]any{"status": stepStatus, "decided_at": now, "updated_at": now}).Error; err != nil {
			return evs, nil, err
		}
	}
	outcome, err := e.applyOutcome(tx, au, c, ap, approved, now)
	if err != nil {
		return evs, nil, err
	}
	if err := tx.Model(ap).Updates(map[string]any{"status": status, "decided_at": now, "outcome": text.ClipBytes(outcome, 2000), "updated_at": now}).Error; err != nil {
		return evs, nil, err
	}
	au.st.ApprovalStatus(c.ID, ap.ID, status)
	ap.Status, ap.Outcome = status, outcome
	au.add(store.Entry{Time: now, CaseID: c.ID, Actor: "kinetic", Event: "approval." + status, Result: status,
		Detail: fmt.Sprintf("approval %d (%s) %s; %s", ap.ID, ap.Kind, why, outcome)})
	kind := EventApprovalDecided
	if status == store.ApprovalExpired {
		kind = EventApprovalExpired
	}
	evs = append(evs, Event{Kind: kind, CaseID: c.ID, ApprovalID: ap.ID, Name: ap.Kind, Status: status, Detail: why + "; " + outcome, At: now})
	ds, evs, err := e.advance(tx, au, c, now, evs)
	return evs, ds, err
}

// applyOutcome changes the plan for a concluded approval and says how.
func (e *Engine) applyOutcome(tx *gorm.DB, au *auditBuf, c *store.Case, ap *store.Approval, approved bool, now time.Time) (string, error) {
	var held []string
	_ = json.Unmarshal([]byte(ap.Held), &held)
	var f exceptionFields
	_ = json.Unmarshal([]byte(ap.Request), &f)
	pol := e.policy.Load()
	ex := pol.File.Exceptions[ap.Kind]
	release := func(names []string, notBefore *time.Time) error {
		if len(names) == 0 {
			return nil
		}
		var acts []store.Action
		if err := tx.Where("case_id = ? AND name IN ? AND status = ?", c.ID, names, store.ActionHeld).Order("id").Find(&acts).Error; err != nil {
			return err
		}
		for _, a := range acts {
			fields := map[string]any{"status": store.ActionBlocked, "blocked_reason": "", "updated_at": now}
			if notBefore != nil {
				fields["not_before"] = *notBefore
			}
			if err := tx.Model(&store.Action{}).Where("id = ? AND status = ?", a.ID, store.ActionHeld).Updates(fields).Error; err != nil {
				return err
			}
			au.st.ActionFields(c.ID, a.ID, fields)
		}
		return nil
	}
	if !approved {
		if ap.Effect == effectReleaseHold {
			return "the legal hold stays in place", nil
		}
		return fmt.Sprintf("held actions proceed as planned: %s", strings.Join(held, ", ")), release(held, nil)
	}
	switch ap.Effect {
	case configs.EffectForwarding:
		until := now.Add(time.Duration(f.Days) * 24 * time.Hour)
		params := map[string]string{"forward_to": f.ForwardTo, "days": fmt.Sprint(f.Days)}
		if err := e.addActions(tx, au, c, ex.Add, params, nil, now); err != nil {
			return "", err
		}
		if err := e.addActions(tx, au, c, ex.AtExpiry, params, &until, now); err != nil {
			return "", err
		}
		return fmt.Sprintf("forwarding to %s now (%s), removed at %s (%s); held actions proceed: %s", f.ForwardTo,
			strings.Join(ex.Add, ","), until.Format(time.RFC3339), strings.Join(ex.AtExpiry, ","), strings.Join(held, ", ")), release(held, nil)
	case configs.EffectLegalHold:
		if err := e.addActions(tx, au, c, ex.Add, nil, nil, now); err != nil {
			return "", err
		}
		for _, n := range held {
			if err := tx.Model(&store.Action{}).Where("case_id = ? AND name = ? AND status = ?", c.ID, n, store.ActionHeld).
				Update("blocked_reason", fmt.Sprintf("preserved under legal hold %d until released", ap.ID)).Error; err != nil {
				return "", err
			}
		}
		return fmt.Sprintf("data preserved (%s); destroying actions blocked until the hold is released: %s", strings.Join(ex.Add, ","), strings.Join(held, ", ")), nil
	case effectReleaseHold:
		if err := e.reopenForRelease(tx, au, c, f.HoldOf, held, now); err != nil {
			return "", err
		}
		return fmt.Sprintf("legal hold %d released; destroying actions proceed: %s", f.HoldOf, strings.Join(held, ", ")), release(held, nil)
	case configs.EffectDelayEquipment:
		due := now.Add(time.Duration(f.Days) * 24 * time.Hour)
		if err := tx.Model(&store.EquipmentTask{}).Where("case_id = ? AND status IN ?", c.ID, []string{store.EquipmentOpen, store.EquipmentReturnRequested}).
			Updates(map[string]any{"due_at": due, "updated_at": now}).Error; err != nil {
			return "", err
		}
		return fmt.Sprintf("equipment now due %s", due.Format("2006-01-02")), release(held, nil)
	case configs.EffectDelayAction:
		at := now.Add(time.Duration(f.Days) * 24 * time.Hour)
		var a store.Action
		if err := tx.Where("case_id = ? AND name = ?", c.ID, f.Action).First(&a).Error; err != nil {
			return "", err
		}
		if err := tx.Model(&a).Update("due_at", at.Add(a.SLA)).Error; err != nil {
			return "", err
		}
		return fmt.Sprintf("%s delayed until %s", f.Action, at.Format(time.RFC3339)), release(held, &at)
	case effectRestore:
		return e.applyRestore(tx, au, c, ap, now)
	}
	return "", fmt.Errorf("unknown effect %q", ap.Effect)
}

// effectRestore is a rehire's restore request (see requestRestore).
const effectRestore = "restore"

// addActions adds catalog actions to a case (an approved exception's
// outcome). notBefore delays them; they run once the case's phases allow.
func (e *Engine) addActions(tx *gorm.DB, au *auditBuf, c *store.Case, names []string, params map[string]string, notBefore *time.Time, now time.Time) error {
	pol := e.policy.Load()
	for _, n := range names {
		def := pol.File.Actions[n]
		merged := map[string]string{}
		for k, v := range def.Params {
			merged[k] = v
		}
		for k, v := range params {
			merged[k] = v
		}
		base := now
		if notBefore != nil {
			base = *notBefore
		}
		sla := def.SLA.D()
		if sla <= 0 {
			sla = pol.File.Defaults.SLA[def.Phase].D()
		}
		pa := PlannedAction{Name: n, Description: def.Description, Connector: def.Connector, Operation: def.Operation, Phase: configs.PhaseNumber(def.Phase),
			PhaseName: def.Phase, SLA: sla, DueAt: base.Add(sla), Params: merged,
			MaxAttempts: max(def.MaxAttempts, pol.File.Defaults.MaxAttempts), Found: "added by an approved exception",
			Simulated: e.simulated(def.Connector)}
		a := newAction(c, pa, now)
		if a.Simulated && !c.Simulated {
			if err := tx.Model(c).Update("simulated", true).Error; err != nil {
				return err
			}
			c.Simulated = true
		}
		a.Status, a.BlockedReason, a.NotBefore, a.RunAt = store.ActionBlocked, "", notBefore, notBefore
		if err := tx.Create(&a).Error; err != nil {
			return err
		}
		au.st.NewAction(&a)
		au.add(store.Entry{Time: now, CaseID: c.ID, ActionID: a.ID, Actor: "kinetic", System: a.Connector,
			Event: "action.added", Result: "ok", Detail: fmt.Sprintf("%s %s%s", a.Operation, describeParams(merged), whenStr(notBefore))})
	}
	return nil
}

// clockMayNotApprove says why a timeout may not approve step st of an
// exception for emp under cond, or "" when it may: the two-person rule
// applies to the case, the employee holds a clearance (the policy's
// clearance rules are for people, not clocks), or the step needs more than
// one approver.
func clockMayNotApprove(cond configs.Conditions, emp *directory.Employee, st *store.ApprovalStep) string {
	switch {
	case cond.TwoPersonRule:
		return "the two-person rule applies to this case"
	case emp.Clearance != "":
		return fmt.Sprintf("the employee holds a %s clearance", emp.Clearance)
	case st.Mode == "all" || st.Required >= 2:
		return fmt.Sprintf("step %q needs more than one approver", st.Name)
	}
	return ""
}
