package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/kineticsec/kinetic/store"
	"gorm.io/gorm"
)

// Sweep duty: lease recovery (the recoverer).

// RecoverLeases runs the sweep's lease recovery alone (recoverLeases): the
// cheap, frequent check jobs.SweepLoop makes between full sweeps, so a dead
// worker's actions are taken back within about a second of their lease
// lapsing rather than at the next full sweep. It returns how many actions
// it took back.
func (e *Engine) RecoverLeases(ctx context.Context) (int, error) {
	return e.recoverLeases(ctx, e.clock())
}

// recoverLeases is the sweep's recoverer: a running action whose lease
// lapsed (its worker died, or lost the database long enough) goes back to
// queued under a new generation and is dispatched again, so the dead
// worker's late result is refused by the generation check. It returns how
// many actions it took back.
func (e *Engine) recoverLeases(ctx context.Context, now time.Time) (n int, err error) {
	expired, err := e.store.ExpiredLeases(ctx, now, 500)
	if err != nil {
		return n, err
	}
	for i := range expired {
		a := &expired[i]
		var ok bool
		err := e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
			var err error
			fields := map[string]any{
				"status": store.ActionQueued, "generation": a.Generation + 1, "lease_until": nil,
				"queued_at": now, "not_before": nil, "updated_at": now,
				"last_error": "worker lease expired (worker lost); running again",
			}
			ok, err = store.UpdateActionIf(tx, a.ID, store.ActionRunning, a.Generation, fields)
			if err != nil || !ok {
				return err
			}
			au.st.ActionFields(a.CaseID, a.ID, fields)
			au.add(store.Entry{Time: now, CaseID: a.CaseID, ActionID: a.ID, Actor: "sweep", System: a.Connector,
				Event: "action.lease_expired", Result: "requeued", Detail: fmt.Sprintf("lease ended %s; attempt %d re-run", a.LeaseUntil.Format(time.RFC3339Nano), a.Attempts)})
			return nil
		})
		if err != nil {
			return n, err
		}
		if ok {
			n++
			e.metrics.countRecovered(RecoveredLeaseExpired)
			e.dispatchAll(ctx, []dispatch{{id: a.ID, gen: a.Generation + 1, at: now, first: true}})
		}
	}
	return n, nil
}
