package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/text"
	"github.com/kineticsec/kinetic/store"
)

// Reconciliation after close: ReconcileCase asks every connector a closed
// case touched whether the person still has access — it re-runs the
// read-back (Verify) of each succeeded revocation and looks the person up
// (Lookup: account status, live sessions) — stores the scan as a
// store.ReconcileRun with one store.Residual per access still in place,
// and raises each residual to the security alerts channel
// (EventResidualAccess), whose Remediate button calls Remediate. The
// sweep duty that schedules it is sweep_reconcile.go.

// reconcilable are the operations whose effect must still hold after
// close: a verification of one that no longer holds is residual access.
// Notifications, tickets and mailbox conversions are not access.
var reconcilable = map[connectors.Operation]bool{
	connectors.OpDisableAccount: true, connectors.OpRevokeSessions: true, connectors.OpRemoveGroupMemberships: true,
	connectors.OpDeactivateUser: true, connectors.OpRevokeVPN: true, connectors.OpDeleteAccessKeys: true,
	connectors.OpDeactivateBadge: true, connectors.OpRemoveForwarding: true, connectors.OpRemoveLicenses: true,
	connectors.OpRemoveSiteAccess: true, connectors.OpRemoveDriveAccess: true,
}

// accountOps are the operations after which Lookup must show no active
// account on that connector.
var accountOps = []string{string(connectors.OpDisableAccount), string(connectors.OpDeactivateUser)}

// ReconcileReport is one scan's stored run and what it found.
type ReconcileReport struct {
	Run       store.ReconcileRun
	Residuals []store.Residual
	// Problems are checks that could not be made (a connector's error,
	// classified); they are not residuals, and the next scan tries again.
	Problems []string
}

// ReconcileCase scans closed case caseID now. trigger is who asked
// ("sweep", "cli", "api"); stage names a scheduled scan ("after:1h",
// "nightly:2026-12-07") so that it runs once, or is "" for a manual scan.
// It returns nil, nil when stage was scanned already. An open or
// cancelled case is refused with ErrInvalidRequest. A connector's failure
// is recorded in the run and does not stop the other checks.
func (e *Engine) ReconcileCase(ctx context.Context, caseID int64, trigger, stage string) (*ReconcileReport, error) {
	c, err := e.store.CaseWithActions(ctx, caseID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: case %d", ErrNotFound, caseID)
	}
	if err != nil {
		return nil, err
	}
	if store.CaseOpen(c.Status) || c.Status == store.CaseCancelled {
		return nil, fmt.Errorf("%w: case %d is %s; only a closed case is reconciled", ErrInvalidRequest, caseID, c.Status)
	}
	now := e.clock()
	if stage == "" {
		stage = fmt.Sprintf("manual:%d", now.UnixNano())
	}
	if taken, err := e.store.ReconcileStageTaken(ctx, c.ID, stage); err != nil || taken {
		return nil, err
	}
	rep := &ReconcileReport{Run: store.ReconcileRun{CaseID: c.ID, Stage: stage, Trigger: trigger, StartedAt: now}}
	e.check(ctx, c, rep)
	recorded, err := e.recordRun(ctx, c, rep)
	if err != nil || !recorded {
		return nil, err
	}
	return rep, nil
}

// check makes the scan's calls: one Verify per succeeded revocation, one
// Lookup per connector whose account was disabled or whose sessions were
// revoked.
func (e *Engine) check(ctx context.Context, c *store.Case, rep *ReconcileReport) {
	found := map[string]bool{} // connector/operation with a verify residual
	looked := map[string][]string{}
	for i := range c.Actions {
		a := &c.Actions[i]
		if a.Status != store.ActionSucceeded || a.Manual || !reconcilable[connectors.Operation(a.Operation)] {
			continue
		}
		looked[a.Connector] = append(looked[a.Connector], a.Operation)
		in, ok := e.reg.Get(a.Connector)
		if !ok {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s: connector instance is not configured any more", a.Name))
			continue
		}
		v, ok := in.Connector.(connectors.Verifier)
		if !ok {
			continue // the Lookup below is all that can be asked
		}
		ver, err := e.reverify(ctx, in, v, a)
		rep.Run.Checked++
		if err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s on %s: %s (%s)", a.Operation, a.Connector, text.ClipBytes(err.Error(), 300), kindOf(err)))
			continue
		}
		if !ver.OK {
			found[a.Connector+"/"+a.Operation] = true
			rep.Residuals = append(rep.Residuals, store.Residual{CaseID: c.ID, ActionID: a.ID, Kind: store.ResidualVerify,
				Connector: a.Connector, Operation: a.Operation, Account: a.TargetAccount, Simulated: a.Simulated,
				Detail: text.ClipBytes(fmt.Sprintf("%s no longer holds: %s", a.Name, ver.Detail), 2000)})
		}
	}
	emp, err := e.snapshot(e.store.Conn(ctx), c.ID)
	if err != nil {
		rep.Problems = append(rep.Problems, "employee snapshot: "+err.Error())
		return
	}
	for _, name := range slices.Sorted(maps.Keys(looked)) {
		ops := looked[name]
		in, ok := e.reg.Get(name)
		if !ok {
			continue
		}
		if ok, err := e.gate.Take(ctx, in, e.lookupT); err != nil || !ok {
			rep.Problems = append(rep.Problems, name+": lookup: no request free in the rate limit")
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, e.lookupT)
		res, err := in.Connector.Lookup(lctx, Subject(emp))
		cancel()
		rep.Run.Checked++
		if err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("lookup on %s: %s (%s)", name, text.ClipBytes(err.Error(), 300), kindOf(err)))
			continue
		}
		for _, acct := range res.Accounts {
			var why string
			switch {
			case acct.Status == connectors.StatusActive && slices.ContainsFunc(accountOps, func(op string) bool { return slices.Contains(ops, op) && !found[name+"/"+op] }):
				why = "account is active again"
			case acct.Sessions > 0 && slices.Contains(ops, string(connectors.OpRevokeSessions)) && !found[name+"/"+string(connectors.OpRevokeSessions)]:
				why = fmt.Sprintf("%d live sessions", acct.Sessions)
			default:
				continue
			}
			rep.Residuals = append(rep.Residuals, store.Residual{CaseID: c.ID, Kind: store.ResidualLookup, Connector: name,
				Account: acct.ID, Simulated: c.Simulated, Detail: text.ClipBytes(fmt.Sprintf("%s %s: %s", name, acct.ID, why), 2000)})
		}
	}
}

// reverify re-runs the read-back of a succeeded action, under the
// connector's rate limit and timeout.
func (e *Engine) reverify(ctx context.Context, in *connectors.Instance, v connectors.Verifier, a *store.Action) (connectors.Verification, error) {
	if ok, err := e.gate.Take(ctx, in, in.Timeout); err != nil || !ok {
		if err == nil {
			err = connectors.NewError(connectors.KindRateLimited, a.Connector, "verify", errors.New("no request free in the rate limit"))
		}
		return connectors.Verification{}, err
	}
	req, err := e.request(ctx, a)
	if err != nil {
		return connectors.Verification{}, err
	}
	vctx, cancel := context.WithTimeout(ctx, in.Timeout)
	defer cancel()
	return v.Verify(vctx, req)
}

// kindOf says how a check's error is classified, for the report.
func kindOf(err error) string {
	if connectors.IsRetryable(err) {
		return "retryable"
	}
	return "permanent"
}

// recordRun stores the run, its residuals and their audit events in one
// transaction, then raises each residual to the security alerts channel.
// It records nothing and returns false when another sweeper recorded the
// same stage meanwhile (the unique (case, stage) row), so each residual
// is alerted once.
func (e *Engine) recordRun(ctx context.Context, c *store.Case, rep *ReconcileReport) (bool, error) {
	now := e.clock()
	var evs []Event
	var claimed bool
	rep.Run.Residuals, rep.Run.Errors, rep.Run.FinishedAt = len(rep.Residuals), len(rep.Problems), &now
	rep.Run.Detail = strings.Join(rep.Problems, "\n")
	err := e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
		evs = nil
		rep.Run.ID = 0
		var err error
		if claimed, err = store.ClaimReconcileStage(tx, &rep.Run); err != nil || !claimed {
			return err
		}
		for i := range rep.Residuals {
			r := &rep.Residuals[i]
			r.ID, r.RunID, r.Status, r.CreatedAt = 0, rep.Run.ID, store.ResidualOpen, now
			if err := tx.Create(r).Error; err != nil {
				return err
			}
			au.add(store.Entry{Time: now, CaseID: c.ID, ActionID: r.ActionID, Actor: rep.Run.Trigger, System: r.Connector,
				Event: "reconcile.residual", Result: "residual", Detail: fmt.Sprintf("residual %d (%s): %s", r.ID, r.Kind, r.Detail)})
			evs = append(evs, Event{Kind: EventResidualAccess, CaseID: c.ID, ActionID: r.ActionID, ResidualID: r.ID,
				Name: r.Connector, Status: r.Status, Detail: residualDetail(c, r), Targets: e.securityTargets(), At: now})
		}
		result := "clean"
		if len(rep.Residuals) > 0 {
			result = "residual"
		}
		au.add(store.Entry{Time: now, CaseID: c.ID, Actor: rep.Run.Trigger, Event: "reconcile.finished", Result: result,
			Detail: fmt.Sprintf("stage %s: %d checks, %d residual, %d could not be made", rep.Run.Stage, rep.Run.Checked, len(rep.Residuals), len(rep.Problems))})
		return nil
	})
	if err != nil || !claimed {
		return false, err
	}
	for _, r := range rep.Residuals {
		e.metrics.countResidual(r.Connector, r.Kind)
	}
	e.emit(evs...)
	return true, nil
}

// residualDetail is the alert's text.
func residualDetail(c *store.Case, r *store.Residual) string {
	s := fmt.Sprintf("Orphan account on %s: %s", r.Connector, r.Detail)
	if c.ID != 0 {
		s = fmt.Sprintf("Residual access for %s (case %d, closed %s) on %s: %s", c.EmployeeName, c.ID, fmtTime(c.ClosedAt), r.Connector, r.Detail)
	}
	if r.Simulated {
		s = "SIMULATED: " + s
	}
	return s
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// securityTargets routes an alert to the security alerts channel.
func (e *Engine) securityTargets() []string {
	if e.secChan == "" {
		return nil
	}
	return []string{"channel:" + e.secChan}
}

// ReconcileAll scans now every case closed at or after since (at most
// limit, oldest first) and returns one report per case scanned. A case
// whose scan fails is reported in the returned error, joined, and the
// others go on.
func (e *Engine) ReconcileAll(ctx context.Context, since time.Time, limit int, trigger string) ([]*ReconcileReport, error) {
	cs, err := e.store.ClosedCasesSince(ctx, since, limit)
	if err != nil {
		return nil, err
	}
	var reps []*ReconcileReport
	var errs []error
	for _, c := range cs {
		rep, err := e.ReconcileCase(ctx, c.ID, trigger, "")
		if err != nil {
			errs = append(errs, fmt.Errorf("case %d: %w", c.ID, err))
			continue
		}
		reps = append(reps, rep)
	}
	return reps, errors.Join(errs...)
}

// LastReconcile returns the report of the most recent scan; ErrNotFound
// when there has been none.
func (e *Engine) LastReconcile(ctx context.Context) (*ReconcileReport, error) {
	run, res, err := e.store.LastReconcileRun(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: no reconciliation has run yet", ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	rep := &ReconcileReport{Run: *run, Residuals: res}
	if run.Detail != "" {
		rep.Problems = strings.Split(run.Detail, "\n")
	}
	return rep, nil
}
