package engine

import (
	"context"
	"time"
)

// The hand-off of committed work to the queue.

// dispatchTimeout bounds one hand-off of committed work to the queue.
const dispatchTimeout = 10 * time.Second

// dispatch is an action to hand to the queue once the transaction that
// queued it has committed.
type dispatch struct {
	id  int64
	gen int
	at  time.Time
	// first: work taken back from another worker, run ahead of the
	// backlog when the dispatcher can (FirstDispatcher).
	first bool
}

// dispatchAll hands committed work to the queue.
//
// The transaction is committed, so the hand-off is no longer the caller's
// to cancel: an API client that hangs up, or a Slack click whose job
// deadline passes, right after the commit must not leave its actions
// waiting for the recovery sweep. It runs on a context detached from the
// caller's, bounded by dispatchTimeout.
func (e *Engine) dispatchAll(ctx context.Context, ds []dispatch) {
	if len(ds) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dispatchTimeout)
	defer cancel()
	for _, d := range ds {
		var err error
		if fd, ok := e.disp.(FirstDispatcher); ok && d.first {
			err = fd.DispatchActionFirst(ctx, d.id, d.gen)
		} else {
			err = e.disp.DispatchAction(ctx, d.id, d.gen, d.at)
		}
		if err != nil {
			// The action stays queued in the database; the recovery sweep
			// notices the missing task and dispatches it again.
			e.log.WithContext(ctx).WithError(err).WithField("action", d.id).Warn("dispatch failed; the sweep will retry")
		}
	}
}
