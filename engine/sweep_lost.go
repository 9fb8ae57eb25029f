package engine

import (
	"context"
	"time"

	"github.com/kineticsec/kinetic/store"
	"gorm.io/gorm"
)

// Sweep duty: re-dispatch of queued actions whose task was lost or orphaned
// (the forwarder).

// redispatchLost is the sweep's forwarder for lost and orphaned tasks: a
// queued action that has waited longer than grace and whose task the queue
// will not run (jobs.Dispatcher.ActionTaskPending: the task is gone after
// Redis was flushed or restarted without persistence, or it is orphaned,
// active in a worker that died before claiming it) is dispatched again
// under a new generation. It returns how many it re-dispatched.
func (e *Engine) redispatchLost(ctx context.Context, now time.Time, grace time.Duration) (n int, err error) {
	stale, err := e.store.StaleQueued(ctx, now.Add(-grace), 500)
	if err != nil {
		return n, err
	}
	for i := range stale {
		a := &stale[i]
		pending, err := e.disp.ActionTaskPending(ctx, a.ID, a.Generation)
		if err != nil {
			return n, err
		}
		if pending {
			continue
		}
		var ok bool
		err = e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
			var err error
			ok, err = store.UpdateActionIf(tx, a.ID, store.ActionQueued, a.Generation, map[string]any{
				"generation": a.Generation + 1, "queued_at": now, "not_before": nil, "updated_at": now,
			})
			if err != nil || !ok {
				return err
			}
			au.add(store.Entry{Time: now, CaseID: a.CaseID, ActionID: a.ID, Actor: "sweep", System: a.Connector,
				Event: "action.redispatched", Result: "ok", Detail: "the queue no longer held the action's task"})
			return nil
		})
		if err != nil {
			return n, err
		}
		if ok {
			n++
			e.metrics.countRecovered(RecoveredTaskLost)
			e.dispatchAll(ctx, []dispatch{{id: a.ID, gen: a.Generation + 1, at: now, first: true}})
		}
	}
	return n, nil
}
