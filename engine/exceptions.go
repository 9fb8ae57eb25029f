package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/mail"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/store"
)

// Exceptions: requesting one (or a hold release), checking it against the
// policy, and creating its approval chain's steps.

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
		return nil, fmt.Errorf("%w: exception kind %q is not in the policy (known: %s)", ErrInvalidRequest, r.Kind, strings.Join(slices.Sorted(maps.Keys(pol.File.Exceptions)), ", "))
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
	evs = append(evs, Event{Kind: EventApprovalRequested, CaseID: c.ID, ApprovalID: ap.ID, Name: r.Kind, Status: store.ApprovalPending,
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

// RequestRelease asks to release an approved legal hold; it is an approval
// of its own, through the hold's release chain. The hold's case may have
// closed (the hold was its disposition): the approved release reopens it,
// so a release is refused while another case is open for the person.
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
		if err := mayReopenForRelease(tx, c, hold.ID); err != nil {
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
		evs = append(evs, Event{Kind: EventApprovalRequested, CaseID: c.ID, ApprovalID: ap.ID, Name: "release " + hold.Kind, Status: store.ApprovalPending,
			Detail: fmt.Sprintf("%s asks to release legal hold %d", requester, hold.ID), Targets: e.targets(emp, refsOf(&steps[0])), At: now})
		return nil
	})
	if err != nil {
		return nil, err
	}
	e.emit(evs...)
	return ap, nil
}
