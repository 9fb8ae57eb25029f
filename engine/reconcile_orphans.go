package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/internal/text"
	"github.com/kineticsec/kinetic/store"
)

// The organization-wide orphan scan: every connector that can list its
// accounts (connectors.AccountLister) is compared with HR. An enabled
// account whose person HR records as no longer active, or whose person HR
// does not know, is a residual of kind orphan (case 0: no case owns it;
// it is revoked by hand or by offboarding the person).

// ReconcileOrphans scans every listing connector now and records one run
// (case 0) with a residual per orphan, each raised to the security alerts
// channel. A connector that fails to list is a problem of the run; the
// others go on.
func (e *Engine) ReconcileOrphans(ctx context.Context, trigger string) (*ReconcileReport, error) {
	now := e.clock()
	rep := &ReconcileReport{Run: store.ReconcileRun{Stage: fmt.Sprintf("orphans:%d", now.UnixNano()), Trigger: trigger, StartedAt: now}}
	for _, name := range e.reg.Names() {
		in, _ := e.reg.Get(name)
		l, ok := in.Connector.(connectors.AccountLister)
		if !ok {
			continue
		}
		if ok, err := e.gate.Take(ctx, in, e.lookupT); err != nil || !ok {
			rep.Problems = append(rep.Problems, name+": list: no request free in the rate limit")
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, in.Timeout)
		accts, err := l.ListAccounts(lctx)
		cancel()
		rep.Run.Checked++
		if err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("list on %s: %s (%s)", name, text.ClipBytes(err.Error(), 300), kindOf(err)))
			continue
		}
		for _, a := range accts {
			if a.Status != connectors.StatusActive {
				continue
			}
			why, err := e.orphanReason(ctx, a.Subject)
			if err != nil {
				rep.Problems = append(rep.Problems, fmt.Sprintf("HR lookup for %s on %s: %s", a.ID, name, text.ClipBytes(err.Error(), 200)))
				continue
			}
			if why == "" {
				continue
			}
			rep.Residuals = append(rep.Residuals, store.Residual{Kind: store.ResidualOrphan, Connector: name, Account: a.ID,
				Simulated: in.Simulated, Detail: text.ClipBytes(fmt.Sprintf("%s %s is enabled: %s", name, a.ID, why), 2000)})
		}
	}
	if _, err := e.recordRun(ctx, &store.Case{}, rep); err != nil {
		return nil, err
	}
	return rep, nil
}

// orphanReason says why an enabled account with owner s is an orphan, or
// "" when its person is active in HR.
func (e *Engine) orphanReason(ctx context.Context, s connectors.Subject) (string, error) {
	var emp *directory.Employee
	var err error
	switch {
	case strings.TrimSpace(s.EmployeeID) != "":
		emp, err = e.dir.ByID(ctx, s.EmployeeID)
	case strings.TrimSpace(s.Email) != "":
		emp, err = e.dir.ByEmail(ctx, s.Email)
	default:
		return "the account names no person", nil
	}
	if errors.Is(err, directory.ErrNotFound) {
		return "no HR person owns it", nil
	}
	if err != nil {
		return "", err
	}
	if !emp.Active() {
		return fmt.Sprintf("%s (%s) is %s in HR", emp.Name, emp.ID, emp.Status), nil
	}
	return "", nil
}
