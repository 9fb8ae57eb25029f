package engine

import (
	"context"
	"time"
)

// The recovery sweep: SweepStats and Sweep, which runs each duty below in turn.

// SweepStats counts what one recovery sweep did.
type SweepStats struct {
	LeasesExpired     int
	Redispatched      int
	CasesStarted      int
	Reminders         int
	ApprovalTimeouts  int
	Escalations       int
	NoticeEscalations int // unacknowledged notices escalated
	Breaches          int
	Unconfirmed       int // plans nobody confirmed, dropped
	// EquipmentOverdue counts escalations of devices not back in time.
	EquipmentOverdue int
	// Residuals counts residual access found by the reconciliation of
	// closed cases (sweep_reconcile.go).
	Residuals int
	// EquipmentLocked counts overdue devices whose lock was requested.
	EquipmentLocked int
	// Instructions counts return instructions left pending by a lost
	// attempt that were emailed again or told to the manager instead.
	Instructions int
}

// Sweep recovers work the queue lost and fires the durable timers: running
// actions whose lease lapsed (their worker died) go back to queued under a
// new generation; queued actions whose task is no longer in the queue (Redis
// flushed or restarted without persistence) are dispatched again; scheduled
// cases whose effective time has come are started; approval steps send
// their reminders and apply their timeouts; overdue actions escalate level
// by level; cases past their compliance deadline raise a breach. Every
// timer lives in the database and every step is a conditional update, so
// any number of processes may sweep at once and a restart loses nothing.
//
// Each duty has its own file, named for it as asynq names its recoverer and
// forwarder: sweep_leases.go (lease recovery), sweep_lost.go (lost and
// orphaned task re-dispatch), sweep_timers.go (scheduled cases whose time has come),
// sweep_approvals.go (reminders and timeouts), sweep_escalations.go,
// sweep_notices.go (unacknowledged notices), sweep_breaches.go,
// sweep_equipment.go (devices not back in time),
// sweep_equipment_locks.go (overdue devices locked through the MDM),
// sweep_instructions.go (return instructions accepted but never sent),
// sweep_unconfirmed.go (plans nobody confirmed) and sweep_reconcile.go
// (closed cases asked again whether access is still gone). A
// duty that fails stops this sweep; the next sweep runs every duty again.
func (e *Engine) Sweep(ctx context.Context, grace time.Duration) (SweepStats, error) {
	var st SweepStats
	now := e.clock()
	var err error
	if st.LeasesExpired, err = e.recoverLeases(ctx, now); err != nil {
		return st, err
	}
	if st.Redispatched, err = e.redispatchLost(ctx, now, grace); err != nil {
		return st, err
	}
	if st.CasesStarted, err = e.startDue(ctx, now); err != nil {
		return st, err
	}
	if st.Reminders, st.ApprovalTimeouts, err = e.sweepApprovals(ctx); err != nil {
		return st, err
	}
	if st.Escalations, err = e.sweepEscalations(ctx); err != nil {
		return st, err
	}
	if st.NoticeEscalations, err = e.sweepNotices(ctx); err != nil {
		return st, err
	}
	if st.Breaches, err = e.sweepBreaches(ctx); err != nil {
		return st, err
	}
	if st.EquipmentOverdue, err = e.sweepEquipment(ctx); err != nil {
		return st, err
	}
	if st.EquipmentLocked, err = e.sweepEquipmentLocks(ctx); err != nil {
		return st, err
	}
	if st.Instructions, err = e.sweepInstructions(ctx); err != nil {
		return st, err
	}
	if st.Unconfirmed, err = e.expireConfirmations(ctx); err != nil {
		return st, err
	}
	if st.Residuals, err = e.sweepReconcile(ctx); err != nil {
		return st, err
	}
	return st, nil
}
