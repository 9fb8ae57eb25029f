// Package pause holds Sleep, the one wait that a context can cut short.
package pause

import (
	"context"
	"time"
)

// Sleep waits d, or until ctx ends, whichever is first; it returns
// ctx.Err() when ctx ended first and nil otherwise.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
