package engine

import (
	"context"
	"time"
)

// Sweep duty: timers, starting scheduled cases whose effective time has come.

// startDue fires the scheduled cases' timers: a case whose effective time
// (not_before) has come is started. It returns how many it started.
func (e *Engine) startDue(ctx context.Context, now time.Time) (n int, err error) {
	due, err := e.store.DueScheduledCases(ctx, now, 200)
	if err != nil {
		return n, err
	}
	for _, c := range due {
		if err := e.StartCase(ctx, c.ID); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
