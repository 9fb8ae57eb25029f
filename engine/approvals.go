package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/engine/view"
	"github.com/kineticsec/kinetic/store"
)

// ErrNotFound is returned for a case, approval or batch id that does not
// exist.
var ErrNotFound = errors.New("not found")

// ExceptionRequest asks for an exception on an open case.
type ExceptionRequest struct {
	CaseID int64
	// Kind names an exception kind in the policy.
	Kind string
	// Requester is the HR id asking; they must be allowed to offboard the
	// employee (manager, HR, admin).
	Requester string
	Reason    string
	// Via is where the request came from (cli, api, slack).
	Via string
	// ForwardTo and Days: forwarding (days also for delays).
	ForwardTo string
	Days      int
	// Action names the action a delay_action request delays.
	Action string
	// principal is the authenticated principal asking (set by the engine
	// from the context).
	principal string
}

// exceptionFields is what Approval.Request stores.
type exceptionFields struct {
	ForwardTo string `json:"forward_to,omitempty"`
	Days      int    `json:"days,omitempty"`
	Action    string `json:"action,omitempty"`
	// HoldOf is the legal hold approval a release approval releases.
	HoldOf int64 `json:"hold_of,omitempty"`
}

// Effect of a release approval (not a policy kind: it is created by
// RequestRelease for an approved legal hold).
const effectReleaseHold = "release_legal_hold"

// snapshot returns the HR record a case was opened with. It never changes
// once written, so every worker's action path reads it from the database
// once per case, then from a small cache. Callers only read it (its maps
// and slices are shared with the cache).
func (e *Engine) snapshot(tx *gorm.DB, caseID int64) (*directory.Employee, error) {
	if emp, ok := e.snaps.get(caseID); ok {
		return &emp, nil
	}
	var snap store.EmployeeSnapshot
	if err := tx.Where("case_id = ?", caseID).First(&snap).Error; err != nil {
		return nil, fmt.Errorf("loading employee snapshot: %w", err)
	}
	var emp directory.Employee
	if err := json.Unmarshal([]byte(snap.Data), &emp); err != nil {
		return nil, fmt.Errorf("decoding employee snapshot: %w", err)
	}
	e.snaps.put(caseID, emp)
	return &emp, nil
}

// snapCache holds recent cases' snapshots; it forgets everything when it
// grows past its bound, which is simpler than an LRU and just as good for a
// working set of cases in flight.
type snapCache struct {
	mu sync.Mutex
	m  map[int64]directory.Employee
}

const snapCacheMax = 4096

func (c *snapCache) get(id int64) (directory.Employee, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	emp, ok := c.m[id]
	return emp, ok
}

func (c *snapCache) put(id int64, emp directory.Employee) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= snapCacheMax {
		c.m = make(map[int64]directory.Employee)
	}
	c.m[id] = emp
}

func (e *Engine) conditions(c *store.Case, emp *directory.Employee) (configs.Conditions, error) {
	return e.policy.Load().Conditions(emp, configs.Facts{Reason: c.Reason, Involuntary: c.Involuntary, Trigger: c.Trigger})
}

// RequestException records an exception request: it validates it against
// the policy, holds the actions it touches (everything else proceeds) and
// opens the approval chain's first step. Nothing changes when a check fails.
func (e *Engine) RequestException(ctx context.Context, r ExceptionRequest) (*store.Approval, error) {
	chk, err := e.checkException(r)
	if err != nil {
		return nil, err
	}
	var ap *store.Approval
	var evs []Event
	err = e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
		evs = nil
		c, err := store.LockCase(tx, r.CaseID)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: case %d", ErrNotFound, r.CaseID)
		}
		if err != nil {
			return err
		}
		if !store.CaseOpen(c.Status) {
			return fmt.Errorf("%w: case %d is %s; exceptions apply to open cases", ErrInvalidRequest, c.ID, c.Status)
		}
		emp, err := e.snapshot(tx, c.ID)
		if err != nil {
			return err
		}
		if err := e.mayAct(ctx, OpException, r.Requester, emp); err != nil {
			return err
		}
		if err := e.authorize(ctx, Request{Requester: r.Requester}, emp); err != nil {
			return err
		}
		r.principal = principalID(ctx)
		ap, evs, err = e.applyException(tx, au, c, emp, r, chk, evs)
		return err
	})
	if err != nil {
		return nil, err
	}
	e.emit(evs...)
	return ap, nil
}

// checkedException is an exception request that passed the checks that
// need no case.
type checkedException struct {
	ex     *configs.ExceptionDef
	fields exceptionFields
	holds  []string
}

func (e *Engine) checkException(r ExceptionRequest) (*checkedException, error) {
	pol := e.policy.Load()
	ex, ok := pol.File.Exceptions[r.Kind]
	if !ok {
		return nil, fmt.Errorf("%w: exception kind %q is not in the policy (known: %s)", ErrInvalidRequest, r.Kind, strings.Join(mapKeys(pol.File.Exceptions), ", "))
	}
	if len(r.Reason) > 1000 {
		return nil, fmt.Errorf("%w: reason is longer than 1000 characters", ErrInvalidRequest)
	}
	fields := exceptionFields{}
	switch ex.Effect {
	case configs.EffectForwarding:
		addr, err := mail.ParseAddress(r.ForwardTo)
		if err != nil || addr.Address != r.ForwardTo {
			return nil, fmt.Errorf("%w: forward_to %q is not an email address", ErrInvalidRequest, r.ForwardTo)
		}
		domain := strings.ToLower(r.ForwardTo[strings.LastIndex(r.ForwardTo, "@")+1:])
		if len(ex.AllowedDomains) > 0 && !slices.ContainsFunc(ex.AllowedDomains, func(d string) bool { return strings.EqualFold(d, domain) }) {
			return nil, fmt.Errorf("%w: forwarding to %s is not allowed (allowed domains: %s)", ErrNotAllowed, domain, strings.Join(ex.AllowedDomains, ", "))
		}
		fields.ForwardTo = r.ForwardTo
		fallthrough
	case configs.EffectDelayEquipment, configs.EffectDelayAction:
		if r.Days <= 0 || r.Days > ex.MaxDays {
			return nil, fmt.Errorf("%w: days must be between 1 and %d (policy maximum for %s)", ErrInvalidRequest, ex.MaxDays, r.Kind)
		}
		fields.Days = r.Days
	}
	holds := append([]string(nil), ex.Holds...)
	if ex.Effect == configs.EffectDelayAction {
		if !slices.Contains(ex.Actions, r.Action) {
			return nil, fmt.Errorf("%w: %s may delay only %s, not %q", ErrInvalidRequest, r.Kind, strings.Join(ex.Actions, ", "), r.Action)
		}
		fields.Action = r.Action
		holds = append(holds, r.Action)
	}
	return &checkedException{ex: ex, fields: fields, holds: holds}, nil
}

// applyException records a checked exception on case c inside tx (the
// case's lock held): it holds the touched actions and opens the chain.
func (e *Engine) applyException(tx *gorm.DB, au *auditBuf, c *store.Case, emp *directory.Employee, r ExceptionRequest, chk *checkedException, evs []Event) (*store.Approval, []Event, error) {
	ex, fields := chk.ex, chk.fields
	cond, err := e.conditions(c, emp)
	if err != nil {
		return nil, evs, err
	}
	acts, err := store.CaseActions(tx, c.ID)
	if err != nil {
		return nil, evs, err
	}
	byName := map[string]*store.Action{}
	for i := range acts {
		byName[acts[i].Name] = &acts[i]
	}
	var held []*store.Action
	for _, name := range chk.holds {
		a, ok := byName[name]
		if !ok {
			if ex.Effect == configs.EffectDelayAction {
				return nil, evs, fmt.Errorf("%w: case %d has no action %s", ErrInvalidRequest, c.ID, name)
			}
			continue // not planned for this employee: nothing to hold
		}
		if cond.ForbidCriticalExceptions && a.Phase == 1 {
			return nil, evs, fmt.Errorf("%w: policy forbids exceptions to critical revocations for this case (%s)", ErrNotAllowed, name)
		}
		switch {
		case a.Status == store.ActionHeld:
			return nil, evs, fmt.Errorf("%w: %s is already held by another exception", ErrInvalidRequest, name)
		case store.ActionFinal(a.Status) || a.Status == store.ActionRunning:
			if ex.Effect == configs.EffectDelayAction || ex.Effect == configs.EffectLegalHold {
				return nil, evs, fmt.Errorf("%w: %s is already %s", ErrInvalidRequest, name, a.Status)
			}
			continue
		}
		held = append(held, a)
	}
	now := e.clock()
	req, _ := json.Marshal(fields)
	names := make([]string, 0, len(held))
	for _, a := range held {
		names = append(names, a.Name)
	}
	heldJSON, _ := json.Marshal(orEmptySlice(names))
	ap := &store.Approval{CaseID: c.ID, Kind: r.Kind, Effect: ex.Effect, Status: store.ApprovalPending,
		Requester: r.Requester, RequesterPrincipal: r.principal, Reason: r.Reason, Request: string(req), Held: string(heldJSON), CreatedAt: now, UpdatedAt: now}
	if err := tx.Create(ap).Error; err != nil {
		return nil, evs, err
	}
	au.st.ApprovalStatus(c.ID, ap.ID, ap.Status)
	steps, err := e.createSteps(tx, ap, e.policy.Load().File.Chains[ex.Chain], cond, now)
	if err != nil {
		return nil, evs, err
	}
	for _, a := range held {
		fields := map[string]any{
			"status": store.ActionHeld, "blocked_reason": fmt.Sprintf("held for approval %d (%s)", ap.ID, r.Kind),
			"generation": a.Generation + 1, "updated_at": now,
		}
		if err := tx.Model(&store.Action{}).Where("id = ?", a.ID).Updates(fields).Error; err != nil {
			return nil, evs, err
		}
		au.st.ActionFields(c.ID, a.ID, fields)
	}
	au.add(store.Entry{Time: now, CaseID: c.ID, Actor: r.Requester, Event: "approval.requested", Result: "pending",
		Detail: fmt.Sprintf("approval %d: %s %s; holds %s; reason %q; chain %s", ap.ID, r.Kind, describe(fields), strings.Join(names, ","), r.Reason, ex.Chain)})
	evs = append(evs, Event{Kind: "approval_requested", CaseID: c.ID, ApprovalID: ap.ID, Name: r.Kind, Status: store.ApprovalPending,
		Detail:  fmt.Sprintf("%s requested %s %s for %s: step %q", r.Requester, r.Kind, describe(fields), emp.Name, steps[0].Name),
		Targets: e.targets(emp, refsOf(&steps[0])), At: now})
	return ap, evs, nil
}

// createSteps writes a chain's steps; the first opens now.
func (e *Engine) createSteps(tx *gorm.DB, ap *store.Approval, ch *configs.Chain, cond configs.Conditions, now time.Time) ([]store.ApprovalStep, error) {
	var out []store.ApprovalStep
	for i, st := range ch.Steps {
		mode, req := st.Mode, 1
		switch mode {
		case "", "any":
			mode = "any"
		case "n_of":
			req = st.N
		case "all":
			req = 0
		}
		if cond.TwoPersonRule && len(ch.Steps) == 1 && req < 2 && mode != "all" {
			mode, req = "n_of", 2 // two distinct approvers for any exception
		}
		apps, _ := json.Marshal(st.Approvers)
		fb, _ := json.Marshal(orEmptySlice(st.Fallback))
		onTimeout := st.OnTimeout
		if onTimeout == "" {
			onTimeout = "deny"
		}
		s := store.ApprovalStep{ApprovalID: ap.ID, Index: i, Name: st.Name, Approvers: string(apps), Fallback: string(fb),
			Mode: mode, Required: req, Status: store.StepWaiting, OnTimeout: onTimeout,
			Timeout: st.StepTimeout(), RemindBefore: st.RemindBefore.D(), CreatedAt: now, UpdatedAt: now}
		if i == 0 {
			due := now.Add(s.Timeout)
			s.Status, s.DueAt = store.StepPending, &due
		}
		if err := tx.Create(&s).Error; err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func refsOf(s *store.ApprovalStep) []string {
	var refs, fb []string
	_ = json.Unmarshal([]byte(s.Approvers), &refs)
	if s.Escalated {
		_ = json.Unmarshal([]byte(s.Fallback), &fb)
		refs = append(refs, fb...)
	}
	return refs
}

// resolve turns approver references into HR ids, as of now.
func (e *Engine) resolve(emp *directory.Employee, refs []string) []string {
	var ids []string
	add := func(id string) {
		if id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	for _, r := range refs {
		switch {
		case r == configs.ApproverManager:
			add(emp.Manager)
		case r == configs.ApproverHRPartner:
			add(emp.HRPartner)
		case strings.HasPrefix(r, "user:"):
			add(r[5:])
		case strings.HasPrefix(r, "group:"):
			for _, id := range e.members(r[6:]) {
				add(id)
			}
		}
	}
	return ids
}

// targets renders approver references as notification targets.
func (e *Engine) targets(emp *directory.Employee, refs []string) []string {
	var out []string
	for _, r := range refs {
		if strings.HasPrefix(r, "group:") || strings.HasPrefix(r, "channel:") {
			out = append(out, r)
			continue
		}
		for _, id := range e.resolve(emp, []string{r}) {
			out = append(out, "user:"+id)
		}
	}
	return out
}

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
			evs, ds, err = e.conclude(tx, au, c, ap, cur, false, fmt.Sprintf("denied by %s: %s", d.Approver, d.Reason), now, evs)
			return err
		}
		approvals := 1
		for _, prev := range decisions {
			if prev.StepIndex == cur.Index && prev.Decision == "approve" {
				approvals++
			}
		}
		if !stepComplete(cur, approvals, e.eligible(emp, cur, ap, c)) {
			evs = append(evs, Event{Kind: "approval_decided", CaseID: c.ID, ApprovalID: ap.ID, Name: ap.Kind, Status: store.ApprovalPending,
				Detail: fmt.Sprintf("%s approved step %q (%d so far)", d.Approver, cur.Name, approvals), At: now})
			return nil
		}
		evs, ds, err = e.completeStep(tx, au, c, ap, steps, cur, emp, fmt.Sprintf("approved by %s", d.Approver), now, evs)
		return err
	})
	if err != nil {
		return nil, err
	}
	e.emit(evs...)
	e.dispatchAll(ctx, ds)
	return ap, nil
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
		evs = append(evs, Event{Kind: "approval_requested", CaseID: c.ID, ApprovalID: ap.ID, Name: ap.Kind, Status: store.ApprovalPending,
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
	if err := tx.Model(ap).Updates(map[string]any{"status": status, "decided_at": now, "outcome": clip(outcome, 2000), "updated_at": now}).Error; err != nil {
		return evs, nil, err
	}
	au.st.ApprovalStatus(c.ID, ap.ID, status)
	ap.Status, ap.Outcome = status, outcome
	au.add(store.Entry{Time: now, CaseID: c.ID, Actor: "kinetic", Event: "approval." + status, Result: status,
		Detail: fmt.Sprintf("approval %d (%s) %s; %s", ap.ID, ap.Kind, why, outcome)})
	kind := "approval_decided"
	if status == store.ApprovalExpired {
		kind = "approval_expired"
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
				Update("blocked_reason", fmt.Sprintf("legal hold (approval %d) until released", ap.ID)).Error; err != nil {
				return "", err
			}
		}
		return fmt.Sprintf("data preserved (%s); destroying actions blocked until the hold is released: %s", strings.Join(ex.Add, ","), strings.Join(held, ", ")), nil
	case effectReleaseHold:
		return fmt.Sprintf("legal hold %d released; destroying actions proceed: %s", f.HoldOf, strings.Join(held, ", ")), release(held, nil)
	case configs.EffectDelayEquipment:
		due := now.Add(time.Duration(f.Days) * 24 * time.Hour)
		if err := tx.Model(&store.EquipmentTask{}).Where("case_id = ? AND status = ?", c.ID, store.EquipmentOpen).
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
		return "restore approved: run the compensating actions listed in the request (restoring is not automated yet)", nil
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
		pa := PlannedAction{Name: n, Connector: def.Connector, Operation: def.Operation, Phase: configs.PhaseNumber(def.Phase),
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

// RequestRelease asks to release an approved legal hold; it is an approval
// of its own, through the hold's release chain.
func (e *Engine) RequestRelease(ctx context.Context, holdID int64, requester, reason string) (*store.Approval, error) {
	var ap *store.Approval
	var evs []Event
	err := e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
		evs = nil
		hold, err := store.LockApproval(tx, holdID)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: approval %d", ErrNotFound, holdID)
		}
		if err != nil {
			return err
		}
		if hold.Effect != configs.EffectLegalHold || hold.Status != store.ApprovalApproved {
			return fmt.Errorf("%w: approval %d is not an approved legal hold", ErrInvalidRequest, holdID)
		}
		var pending int64
		if err := tx.Model(&store.Approval{}).Where("effect = ? AND status = ? AND request LIKE ?", effectReleaseHold, store.ApprovalPending,
			fmt.Sprintf(`%%"hold_of":%d}%%`, holdID)).Count(&pending).Error; err != nil {
			return err
		}
		if pending > 0 {
			return fmt.Errorf("%w: a release of hold %d is already pending", ErrInvalidRequest, holdID)
		}
		c, err := store.LockCase(tx, hold.CaseID)
		if err != nil {
			return err
		}
		emp, err := e.snapshot(tx, c.ID)
		if err != nil {
			return err
		}
		if err := e.mayAct(ctx, OpRelease, requester, emp); err != nil {
			return err
		}
		if err := e.authorize(ctx, Request{Requester: requester}, emp); err != nil {
			return err
		}
		cond, err := e.conditions(c, emp)
		if err != nil {
			return err
		}
		pol := e.policy.Load()
		ex := pol.File.Exceptions[hold.Kind]
		now := e.clock()
		req, _ := json.Marshal(exceptionFields{HoldOf: hold.ID})
		ap = &store.Approval{CaseID: c.ID, Kind: hold.Kind, Effect: effectReleaseHold, Status: store.ApprovalPending, Requester: requester,
			RequesterPrincipal: principalID(ctx), Reason: reason, Request: string(req), Held: hold.Held, CreatedAt: now, UpdatedAt: now}
		if err := tx.Create(ap).Error; err != nil {
			return err
		}
		au.st.ApprovalStatus(c.ID, ap.ID, ap.Status)
		steps, err := e.createSteps(tx, ap, pol.File.Chains[ex.ReleaseChain], cond, now)
		if err != nil {
			return err
		}
		au.add(store.Entry{Time: now, CaseID: c.ID, Actor: requester, Event: "approval.requested", Result: "pending",
			Detail: fmt.Sprintf("approval %d: release of legal hold %d; reason %q", ap.ID, hold.ID, reason)})
		evs = append(evs, Event{Kind: "approval_requested", CaseID: c.ID, ApprovalID: ap.ID, Name: "release " + hold.Kind, Status: store.ApprovalPending,
			Detail: fmt.Sprintf("%s asks to release legal hold %d", requester, hold.ID), Targets: e.targets(emp, refsOf(&steps[0])), At: now})
		return nil
	})
	if err != nil {
		return nil, err
	}
	e.emit(evs...)
	return ap, nil
}

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
				evs = append(evs, Event{Kind: "approval_reminder", CaseID: c.ID, ApprovalID: ap.ID, Name: ap.Kind, Status: store.ApprovalPending,
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
				evs = append(evs, Event{Kind: "approval_escalated", CaseID: c.ID, ApprovalID: ap.ID, Name: ap.Kind, Status: store.ApprovalPending,
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
						evs = append(evs, Event{Kind: "approval_escalated", CaseID: c.ID, ApprovalID: ap.ID, Name: ap.Kind, Status: store.ApprovalPending,
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

// ApprovalView is an approval with its steps and decisions (view.ApprovalView).
type ApprovalView = view.ApprovalView

// Approval returns one approval with its steps and decisions.
func (e *Engine) Approval(ctx context.Context, id int64) (*ApprovalView, error) {
	var ap store.Approval
	if err := e.store.DB.WithContext(ctx).First(&ap, id).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, fmt.Errorf("%w: approval %d", ErrNotFound, id)
		}
		return nil, err
	}
	return e.view(ctx, ap)
}

func (e *Engine) view(ctx context.Context, ap store.Approval) (*ApprovalView, error) {
	db := e.store.DB.WithContext(ctx)
	v := &ApprovalView{Approval: ap}
	var err error
	if v.Steps, err = store.ApprovalSteps(db, ap.ID); err != nil {
		return nil, err
	}
	if v.Decisions, err = store.ApprovalDecisions(db, ap.ID); err != nil {
		return nil, err
	}
	var c store.Case
	if err := db.First(&c, ap.CaseID).Error; err == nil {
		v.EmployeeID, v.EmployeeName = c.EmployeeID, c.EmployeeName
	}
	if cur := currentStep(v.Steps); cur != nil && ap.Status == store.ApprovalPending {
		if emp, err := e.snapshot(db, ap.CaseID); err == nil {
			for _, id := range e.resolve(emp, refsOf(cur)) {
				if id != ap.Requester && id != c.EmployeeID {
					v.Approvers = append(v.Approvers, id)
				}
			}
		}
	}
	return v, nil
}

// Approvals lists approvals (status "" = any), newest first; with forUser
// set, only pending ones that person may decide now.
func (e *Engine) Approvals(ctx context.Context, status, forUser string, caseID int64) ([]ApprovalView, error) {
	if forUser != "" && status == "" {
		status = store.ApprovalPending
	}
	aps, err := e.store.Approvals(ctx, status, caseID, 500)
	if err != nil {
		return nil, err
	}
	var out []ApprovalView
	for _, ap := range aps {
		v, err := e.view(ctx, ap)
		if err != nil {
			return nil, err
		}
		if forUser != "" && !slices.Contains(v.Approvers, forUser) {
			continue
		}
		out = append(out, *v)
	}
	return out, nil
}

func describe(f exceptionFields) string {
	var parts []string
	if f.ForwardTo != "" {
		parts = append(parts, "to "+f.ForwardTo)
	}
	if f.Days > 0 {
		parts = append(parts, fmt.Sprintf("for %d days", f.Days))
	}
	if f.Action != "" {
		parts = append(parts, "of "+f.Action)
	}
	return strings.Join(parts, " ")
}

func describeParams(m map[string]string) string {
	keys := mapKeys(m)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, " ")
}

func whenStr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return " at " + t.Format(time.RFC3339)
}

func mapKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
