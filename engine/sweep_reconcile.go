package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/kineticsec/kinetic/configs"
)

// Sweep duty: closed cases are reconciled at the policy's offsets after
// their close (reconcile.after) and once a night while they closed within
// reconcile.nightly_days.

// reconcileBatch bounds the cases one sweep reconciles; the next sweep
// takes the rest.
const reconcileBatch = 50

// reconcileGrace is how late an offset's scan still runs after the last
// offset or the nightly window (a sweeper that was down).
const reconcileGrace = 7 * 24 * time.Hour

// sweepReconcile scans each closed case whose offset or night has come and
// that was not scanned at that stage yet (the stage row makes each scan
// happen once, however many processes sweep). It returns the residuals
// found. A case whose scan fails is logged and the others go on.
func (e *Engine) sweepReconcile(ctx context.Context) (int, error) {
	rp := e.Policy().File.Reconcile
	if rp == nil || (len(rp.After) == 0 && rp.NightlyDays == 0) {
		return 0, nil
	}
	now := e.clock()
	// A sweep that was down runs an offset's scan late, within a week.
	horizon := time.Duration(rp.NightlyDays) * 24 * time.Hour
	if n := len(rp.After); n > 0 && rp.After[n-1].D() > horizon {
		horizon = rp.After[n-1].D()
	}
	horizon += reconcileGrace
	cs, err := e.store.ClosedCasesSince(ctx, now.Add(-horizon), 1000)
	if err != nil {
		return 0, err
	}
	found, scanned := 0, 0
	for _, c := range cs {
		if c.ClosedAt == nil {
			continue
		}
		stage := ""
		for _, s := range dueStages(rp.After, rp.NightlyDays, *c.ClosedAt, now) {
			taken, err := e.store.ReconcileStageTaken(ctx, c.ID, s)
			if err != nil {
				return found, err
			}
			if !taken {
				stage = s
				break
			}
		}
		if stage == "" {
			continue
		}
		rep, err := e.ReconcileCase(ctx, c.ID, "sweep", stage)
		if err != nil {
			e.log.WithError(err).WithField("case", c.ID).Warn("reconciliation failed; the next sweep tries again")
			continue
		}
		if rep != nil {
			found += len(rep.Residuals)
			if scanned++; scanned >= reconcileBatch {
				break
			}
		}
	}
	return found, nil
}

// dueStages names the scans a case closed at closed is due for at now,
// in order: the latest offset passed ("after:24h0m0s"; offsets passed
// earlier whose scan never ran are not caught up one by one, the latest
// stands for them), then tonight's scan ("nightly:2026-12-07") while
// within nightly days of the close.
func dueStages(after []configs.Duration, nightlyDays int, closed, now time.Time) []string {
	since := now.Sub(closed)
	if since < 0 {
		return nil
	}
	var st []string
	for i := len(after) - 1; i >= 0; i-- {
		if since >= after[i].D() {
			st = append(st, fmt.Sprintf("after:%s", after[i].D()))
			break
		}
	}
	if nightlyDays > 0 && since < time.Duration(nightlyDays)*24*time.Hour {
		st = append(st, "nightly:"+now.UTC().Format(time.DateOnly))
	}
	return st
}
