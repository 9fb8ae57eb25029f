package engine

import (
	"context"
	"errors"

	"github.com/kineticsec/kinetic/store"
)

// Sweep duty: plans nobody confirmed are dropped.

// expireConfirmations cancels plans nobody confirmed within a day.
func (e *Engine) expireConfirmations(ctx context.Context) (int, error) {
	var cs []store.Case
	if err := e.store.Conn(ctx).Where("status = ? AND created_at < ?", store.CaseAwaitingConfirmation, e.clock().Add(-confirmationTTL)).
		Limit(100).Find(&cs).Error; err != nil {
		return 0, err
	}
	n := 0
	for _, c := range cs {
		if err := e.Cancel(ctx, c.ID, "kinetic", "the plan was not confirmed within 24 hours"); err != nil && !errors.Is(err, ErrInvalidRequest) {
			return n, err
		}
		n++
	}
	return n, nil
}
