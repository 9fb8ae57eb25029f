package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/store"
)

// Undo: a restore request on a closed case (a rehire, or a case opened by
// mistake) and, once approved, the compensating actions it runs.
//
// A restore action is an ordinary action of the case: its operation is
// "restore:" and the original operation, its parameters name the action it
// undoes and carry that action's recorded result data, and it runs through
// the normal job machinery (claim, limits, lease, audit). The worker calls
// the connector's connectors.Restorer instead of Do, and VerifyRestore
// instead of Verify. A compensation whose connector cannot restore is a
// manual step for people to do and confirm.

// restorePrefix marks a restore action's operation.
const restorePrefix = "restore:"

// Parameters of a restore action.
const (
	paramRestores     = "restores"      // the name of the action undone
	paramOriginalData = "original_data" // its Result.Data as JSON
	paramRestoreHow   = "how"           // what a person does (manual steps)
)

// PhaseRestore names the phase of restore actions; they run after
// everything the offboarding did and never count as revocations.
const PhaseRestore = "restore"

// OpRestore is requesting a restore of a closed case.
const OpRestore Op = "request a restore"

// restoredOperation returns the original operation of a restore action.
func restoredOperation(op string) (connectors.Operation, bool) {
	o, ok := strings.CutPrefix(op, restorePrefix)
	return connectors.Operation(o), ok
}

// IsRestoreAction reports whether a is a compensating action of a restore.
func IsRestoreAction(a *store.Action) bool {
	_, ok := restoredOperation(a.Operation)
	return ok
}

// RequestRestore opens a restore request on closed case caseID (a case
// opened by mistake, or a rehire): an approval of kind "restore" listing,
// per succeeded action, its compensation. Approving it runs them. It
// returns the approval's ID.
//
// actor must be an admin, HR (hr_role or an HR role profile), the
// employee's manager or HR partner, or the case's requester, and never the
// employee; the case must be closed and not cancelled; one restore request
// may be pending at a time. Refusals are ErrNotAllowed or
// ErrInvalidRequest; an unknown case is ErrNotFound.
func (e *Engine) RequestRestore(ctx context.Context, caseID int64, actor, reason string) (int64, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return 0, fmt.Errorf("%w: a restore needs a reason", ErrInvalidRequest)
	}
	if len(reason) > 1000 {
		return 0, fmt.Errorf("%w: reason is longer than 1000 characters", ErrInvalidRequest)
	}
	var ap store.Approval
	var emp *directory.Employee
	err := e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
		c, err := store.LockCase(tx, caseID)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: case %d", ErrNotFound, caseID)
		}
		if err != nil {
			return err
		}
		if err := e.mayActOnCase(ctx, tx, OpRestore, actor, c); err != nil {
			return err
		}
		if err := e.mayRequestRestore(ctx, tx, c, actor); err != nil {
			return err
		}
		if store.CaseOpen(c.Status) || c.Status == store.CaseCancelled {
			return fmt.Errorf("%w: case %d is %s; only a closed offboarding can be restored", ErrInvalidRequest, c.ID, c.Status)
		}
		if emp, err = e.snapshot(tx, c.ID); err != nil {
			return err
		}
		acts, err := store.CaseActions(tx, c.ID)
		if err != nil {
			return err
		}
		ap, err = e.openRestore(tx, au, c, acts, actor, reason)
		return err
	})
	if err != nil {
		return 0, err
	}
	e.emit(Event{Kind: EventRestoreRequested, CaseID: caseID, ApprovalID: ap.ID,
		Detail: fmt.Sprintf("%s asks to restore %s's access (%s): restore request %d awaits approval", actor, emp.Name, reason, ap.ID), At: e.clock()})
	return ap.ID, nil
}

// mayRequestRestore is the "who" rule of RequestRestore.
func (e *Engine) mayRequestRestore(ctx context.Context, tx *gorm.DB, c *store.Case, who string) error {
	emp, err := e.snapshot(tx, c.ID)
	if err != nil {
		return err
	}
	if e.admins[who] {
		return nil
	}
	p, err := e.dir.ByID(ctx, who)
	switch {
	case errors.Is(err, directory.ErrNotFound):
		return fmt.Errorf("%w: %q is not in the HR directory", ErrNotAllowed, who)
	case err != nil:
		return err
	case !p.Active():
		return fmt.Errorf("%w: %s is not active in HR", ErrNotAllowed, who)
	}
	if p.HRRole || who == c.Requester || who == emp.Manager || who == emp.HRPartner || e.hasHRRole(ctx, who) {
		return nil
	}
	return fmt.Errorf("%w: %s may not request a restore of case %d: only its requester, %s's manager or HR partner, HR or an admin may",
		ErrNotAllowed, who, c.ID, c.EmployeeID)
}

// openRestore creates the restore approval on closed case c, inside tx.
func (e *Engine) openRestore(tx *gorm.DB, au *auditBuf, c *store.Case, acts []store.Action, who, reason string) (store.Approval, error) {
	now := e.clock()
	var pending int64
	if err := tx.Model(&store.Approval{}).Where("case_id = ? AND kind = ? AND status = ?", c.ID, "restore", store.ApprovalPending).Count(&pending).Error; err != nil {
		return store.Approval{}, err
	}
	if pending > 0 {
		return store.Approval{}, fmt.Errorf("%w: a restore of case %d is already pending", ErrInvalidRequest, c.ID)
	}
	comp := e.compensations(acts)
	cj, _ := json.Marshal(comp)
	ap := store.Approval{CaseID: c.ID, Kind: "restore", Effect: effectRestore, Status: store.ApprovalPending, Requester: who,
		Reason: reason, Request: string(cj), Held: "[]", CreatedAt: now, UpdatedAt: now}
	if err := tx.Create(&ap).Error; err != nil {
		return store.Approval{}, err
	}
	au.st.ApprovalStatus(c.ID, ap.ID, ap.Status)
	// The policy's "restore" chain decides; without one, the employee's
	// HR partner or manager does.
	chain := e.policy.Load().File.Chains["restore"]
	if chain == nil {
		chain = &configs.Chain{Steps: []*configs.ChainStep{{Name: "hr", Approvers: []string{configs.ApproverHRPartner, configs.ApproverManager}}}}
	}
	if _, err := e.createSteps(tx, &ap, chain, configs.Conditions{}, now); err != nil {
		return store.Approval{}, err
	}
	auto, manual := 0, 0
	for _, x := range comp {
		switch {
		case x.Restorable && x.Automatic:
			auto++
		case x.Restorable:
			manual++
		}
	}
	au.add(store.Entry{Time: now, CaseID: c.ID, Actor: who, Event: "case.restore_requested", Result: "pending",
		Detail: fmt.Sprintf("restore request %d (%s): %d of %d actions restored automatically, %d by hand", ap.ID, reason, auto, len(comp), manual)})
	return ap, nil
}

// applyRestore is an approved restore's outcome: the case reopens and
// gains one action per compensation: automatic where the connector
// restores the operation, a manual step otherwise. The rest (sessions,
// deleted keys) is listed in the outcome.
func (e *Engine) applyRestore(tx *gorm.DB, au *auditBuf, c *store.Case, ap *store.Approval, now time.Time) (string, error) {
	if store.CaseOpen(c.Status) || c.Status == store.CaseCancelled {
		return "", fmt.Errorf("%w: case %d is %s; only a closed offboarding can be restored", ErrInvalidRequest, c.ID, c.Status)
	}
	acts, err := store.CaseActions(tx, c.ID)
	if err != nil {
		return "", err
	}
	names := map[string]bool{}
	byName := map[string]store.Action{}
	for _, a := range acts {
		names[a.Name] = true
		byName[a.Name] = a
	}
	// Recompute from the actions (the request's list is what approvers
	// saw; a connector may have changed since).
	comp := e.compensations(acts)
	var auto, manual, none []string
	var created []store.Action
	for _, x := range comp {
		if !x.Restorable {
			none = append(none, fmt.Sprintf("%s (%s)", x.Action, x.Restore))
			continue
		}
		orig := byName[x.Action]
		name := "undo_" + x.Action
		if names[name] {
			name = fmt.Sprintf("undo_%s_%d", x.Action, ap.ID)
		}
		names[name] = true
		params := map[string]string{paramRestores: x.Action, paramOriginalData: orEmptyJSON(orig.ResultData), paramRestoreHow: x.Restore}
		pj, _ := json.Marshal(params)
		sla := e.policy.Load().File.Defaults.SLA[configs.PhaseNotifications].D()
		if sla <= 0 {
			sla = 24 * time.Hour
		}
		due := now.Add(sla)
		a := store.Action{CaseID: c.ID, Name: name, Description: "Undo " + x.Action + ": " + x.Restore,
			Connector: orig.Connector, Operation: restorePrefix + orig.Operation, Phase: 3, PhaseName: PhaseRestore,
			TargetAccount: orig.TargetAccount, Params: string(pj), DependsOn: "[]", Status: store.ActionPending,
			SLA: sla, DueAt: &due, MaxAttempts: max(orig.MaxAttempts, 1), Detail: "restore request " + fmt.Sprint(ap.ID),
			Manual: !x.Automatic, Simulated: orig.Simulated, CreatedAt: now, UpdatedAt: now}
		if x.Automatic {
			auto = append(auto, name)
		} else {
			manual = append(manual, name)
		}
		created = append(created, a)
	}
	if len(created) == 0 {
		return "restore approved: nothing to restore" + listed("; not restorable: ", none), nil
	}
	was := c.Status
	if err := e.reopen(tx, au, c, now); err != nil {
		return "", err
	}
	au.add(store.Entry{Time: now, CaseID: c.ID, Actor: "kinetic", Event: "case.reopened", Result: store.CaseRunning,
		Detail: fmt.Sprintf("was %s; restore request %d approved", was, ap.ID)})
	for i := range created {
		a := &created[i]
		if err := tx.Create(a).Error; err != nil {
			return "", err
		}
		au.st.NewAction(a)
		how := "automatic"
		if a.Manual {
			how = "manual step"
		}
		au.add(store.Entry{Time: now, CaseID: c.ID, ActionID: a.ID, Actor: "kinetic", System: a.Connector,
			Event: "action.added", Result: "ok", Detail: fmt.Sprintf("%s (%s) for restore request %d", a.Operation, how, ap.ID)})
	}
	return "restore approved: restoring " + orNoneStr(auto) + listed("; by hand: ", manual) + listed("; not restorable: ", none), nil
}

func listed(prefix string, xs []string) string {
	if len(xs) == 0 {
		return ""
	}
	return prefix + strings.Join(xs, ", ")
}

func orNoneStr(xs []string) string {
	if len(xs) == 0 {
		return "nothing automatically"
	}
	return strings.Join(xs, ", ")
}

func orEmptyJSON(s string) string {
	if strings.TrimSpace(s) == "" {
		return "{}"
	}
	return s
}

// call runs action a on its connector: Do and Verify (callDo, in
// execute.go), or for a restore action Restore and VerifyRestore.
func (e *Engine) call(ctx context.Context, in *connectors.Instance, a *store.Action) outcome {
	if isTicketAction(a) {
		return e.callTicket(ctx, in, a)
	}
	if !IsRestoreAction(a) {
		return e.callDo(ctx, in, a)
	}
	req, err := e.request(ctx, a)
	if err != nil {
		return outcome{err: err}
	}
	return e.callRestore(ctx, in, a, restoreRequest(req, a))
}

// restoreRequest turns restore action a's request into the Restorer's:
// the original operation and its recorded data.
func restoreRequest(req connectors.Request, a *store.Action) connectors.Request {
	orig, _ := restoredOperation(a.Operation)
	data := map[string]string{}
	_ = json.Unmarshal([]byte(req.Params[paramOriginalData]), &data)
	req.Operation, req.Data = orig, data
	delete(req.Params, paramOriginalData)
	return req
}

// callRestore runs restore action a: Restore, then VerifyRestore (under the
// same rate limit as any read-back).
func (e *Engine) callRestore(ctx context.Context, in *connectors.Instance, a *store.Action, req connectors.Request) outcome {
	r, ok := in.Connector.(connectors.Restorer)
	if !ok || !r.RestoresOperation(req.Operation) {
		return outcome{err: connectors.NewError(connectors.KindInvalid, a.Connector, a.Operation,
			errors.New("the connector cannot restore this operation; do it by hand and mark the step done"))}
	}
	res, err := r.Restore(ctx, req)
	if err != nil {
		return outcome{res: res, err: err}
	}
	if ok, err := e.gate.Take(ctx, in, in.Timeout); err != nil || !ok {
		if err == nil {
			err = errors.New("no request free in the rate limit before the call's timeout")
		}
		return outcome{res: res, err: connectors.NewError(connectors.KindRateLimited, a.Connector, "verify restore", fmt.Errorf("read-back: %w", err))}
	}
	ver, err := r.VerifyRestore(ctx, req)
	if err != nil {
		return outcome{res: res, err: fmt.Errorf("read-back verification: %w", err)}
	}
	if !ver.OK {
		return outcome{res: res, err: connectors.NewError(connectors.KindTransient, a.Connector, "verify restore",
			fmt.Errorf("read-back shows the restore did not hold: %s", ver.Detail))}
	}
	return outcome{res: res, ver: &ver}
}
