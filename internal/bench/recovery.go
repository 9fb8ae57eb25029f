package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/kineticsec/kinetic/store"
)

// RecoveryPolicy is the policy of the recovery scenario and of the fault
// tests (internal/fault): four actions per departure over two phases, one
// with a dependency, on systems slow enough (RecoverySystems) that a killed
// worker always has calls in flight.
const RecoveryPolicy = `version: 1
defaults:
  sla: {critical: 4h, entitlements: 8h, notifications: 24h}
  max_attempts: 20
  equipment_due: 7d
actions:
  disable_ad: {connector: ad, operation: disable_account, phase: critical}
  revoke_okta_sessions: {connector: okta, operation: revoke_sessions, phase: critical}
  deactivate_okta: {connector: okta, operation: deactivate_user, phase: critical, depends_on: [revoke_okta_sessions]}
  convert_mailbox: {connector: m365, operation: convert_mailbox, phase: entitlements}
rules:
  - name: everyone
    when: "true"
    add: [disable_ad, revoke_okta_sessions, deactivate_okta, convert_mailbox]
`

// RecoveryActions is how many actions RecoveryPolicy plans per departure.
const RecoveryActions = 4

// RecoverySystems are RecoveryPolicy's systems: every call takes 250 ms
// ± 100 ms.
func RecoverySystems() []System {
	return []System{
		{Name: "ad", Latency: 250 * time.Millisecond, Jitter: 100 * time.Millisecond},
		{Name: "okta", Latency: 250 * time.Millisecond, Jitter: 100 * time.Millisecond},
		{Name: "m365", Latency: 250 * time.Millisecond, Jitter: 100 * time.Millisecond},
	}
}

// RecoveryConcurrency is each process's worker concurrency in the recovery
// scenario and the fault tests.
const RecoveryConcurrency = 10

// The engine's audit events a recovery is read from: the sweep writes
// eventLeaseExpired when it takes back a running action whose lease ran
// out, a worker writes eventStarted when it claims an attempt.
const (
	eventLeaseExpired = "action.lease_expired"
	eventStarted      = "action.started"
)

// recoveryWindow bounds a pick-up: an attempt that starts again later than
// this after a kill is not a recovery from it (a lease is 10 s, a sweep 5 s).
const recoveryWindow = 2 * time.Minute

// Kill records one kill -9 of a worker process: when, which process, and
// which actions were running (in any process) just before.
type Kill struct {
	At      time.Time
	Proc    string
	PID     int
	Running []int64
}

// KillRandomWorker notes the actions running at this moment, then kills a
// random live worker process with SIGKILL and waits until it is gone. It
// starts no replacement.
func (c *Cluster) KillRandomWorker(ctx context.Context, rng *rand.Rand) (Kill, error) {
	var live []*Proc
	for _, w := range c.Workers {
		if !w.Exited() {
			live = append(live, w)
		}
	}
	if len(live) == 0 {
		return Kill{}, errors.New("no live worker")
	}
	victim := live[rng.IntN(len(live))]
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	// Best effort: with the database down (a fault test) the kill still
	// happens, and measures nothing.
	running, _ := c.store.RunningActionIDs(qctx)
	k := Kill{At: time.Now(), Proc: victim.Name, PID: victim.PID(), Running: running}
	c.Kill(victim)
	return k, nil
}

// Recoveries measures pick-up after kill -9: for each kill, each action
// running then whose attempt ended by the sweep taking back its lease (so it
// was the dead worker's), the time from the kill until an attempt started
// again. See pickUps for how an action is attributed to a kill.
func (c *Cluster) Recoveries(ctx context.Context, kills []Kill) ([]time.Duration, error) {
	if len(kills) == 0 {
		return nil, nil
	}
	var ids []int64
	from := kills[0].At
	for _, k := range kills {
		ids = append(ids, k.Running...)
		if k.At.Before(from) {
			from = k.At
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var evs []store.AuditEvent
	for chunk := range slices.Chunk(ids, 500) {
		part, err := c.store.AuditEventsOfActionsSince(ctx, chunk, from)
		if err != nil {
			return nil, fmt.Errorf("reading the audit trail: %w", err)
		}
		evs = append(evs, part...)
	}
	return pickUps(kills, evs), nil
}

// pickUps is Recoveries on the audit events of the actions the kills
// found running (every event from the first kill on, in chain order).
//
// An action running at a kill counts for it when its first audit event
// after the kill is the sweep's lease_expired: the attempt running then
// neither finished nor failed, its worker was dead. The pick-up is the
// time from the kill to the next action.started, if within two minutes.
// A dead worker's actions stay "running" until the sweep takes them back
// (a lease of 10 s, a sweep every 5 s), so the next kill finds them running
// too: each take-back counts once, for the earliest kill that found the
// action running — the one that killed its worker.
func pickUps(kills []Kill, evs []store.AuditEvent) []time.Duration {
	byAction := map[int64][]store.AuditEvent{}
	for _, e := range evs {
		byAction[e.ActionID] = append(byAction[e.ActionID], e)
	}
	for _, l := range byAction {
		slices.SortFunc(l, func(a, b store.AuditEvent) int { return int(a.Seq - b.Seq) })
	}
	order := slices.Clone(kills)
	slices.SortStableFunc(order, func(a, b Kill) int { return a.At.Compare(b.At) })
	claimed := map[int64]bool{} // lease_expired events already attributed
	var out []time.Duration
	for _, k := range order {
		for _, id := range k.Running {
			l := byAction[id]
			i := slices.IndexFunc(l, func(e store.AuditEvent) bool { return !e.Time.Before(k.At) })
			if i < 0 || l[i].Event != eventLeaseExpired || claimed[l[i].Seq] {
				continue
			}
			claimed[l[i].Seq] = true
			for _, e := range l[i+1:] {
				if e.Event == eventStarted {
					if d := e.Time.Sub(k.At); d < recoveryWindow {
						out = append(out, d)
					}
					break
				}
			}
		}
	}
	return out
}

// PickUp summarises pick-up times after kill -9.
type PickUp struct {
	Count                 int
	Median, P90, P99, Max time.Duration
}

// SummarizePickUps is the count, median, p90, p99 and maximum of ds.
func SummarizePickUps(ds []time.Duration) PickUp {
	return PickUp{Count: len(ds), Median: Percentile(ds, 50), P90: Percentile(ds, 90), P99: Percentile(ds, 99), Max: Percentile(ds, 100)}
}

// RecoveryRes: pick-up after kill -9 of worker processes, with departures
// in flight.
type RecoveryRes struct {
	// Setup names the processes and where they keep their state.
	Setup        string  `json:"setup"`
	Departures   int     `json:"departures"`
	Actions      int     `json:"actions"`
	Workers      int     `json:"worker_processes"`
	KillEverySec float64 `json:"kill_every_s"`
	LeaseSec     float64 `json:"lease_s"`
	SweepSec     float64 `json:"sweep_s"`
	Kills        int     `json:"kills"`
	Recovered    int     `json:"actions_recovered"`
	MedianSec    float64 `json:"pickup_median_s"`
	P90Sec       float64 `json:"pickup_p90_s"`
	P99Sec       float64 `json:"pickup_p99_s"`
	MaxSec       float64 `json:"pickup_max_s"`
	TotalSec     float64 `json:"total_s"`
	Lost         int     `json:"lost_effects"`
	Duplicated   int     `json:"duplicated_effects"`
	Incomplete   int     `json:"incomplete_cases"`
}

// Lease and sweep interval of the recovery scenario's processes (the
// service defaults).
const (
	recoveryLease = 10 * time.Second
	recoverySweep = 5 * time.Second
)

func runRecovery(ctx context.Context, o Options) (*RecoveryRes, error) {
	co := ClusterOptions{
		Employees: o.RecoveryDepartures, Policy: RecoveryPolicy, Systems: RecoverySystems(),
		Concurrency: RecoveryConcurrency, Lease: recoveryLease, Sweep: recoverySweep,
	}
	setup := fmt.Sprintf("kinetic serve + %d kinetic worker processes on PostgreSQL + Redis", o.Workers)
	if o.Backend.RedisAddr == "" {
		// The embedded default's Redis lives inside kinetic serve, out of
		// a worker's reach: the processes share a Redis in this process
		// and the SQLite file instead.
		addr, _, stop, err := o.Backend.redis(ctx)
		if err != nil {
			return nil, err
		}
		defer stop()
		co.RedisAddr = addr
		setup = fmt.Sprintf("kinetic serve + %d kinetic worker processes on one SQLite file and a Redis in the bench process", o.Workers)
	}
	cl, closeCluster, err := o.cluster(ctx, "recovery", co)
	if err != nil {
		return nil, err
	}
	defer closeCluster()
	if err := cl.StartServe(ctx); err != nil {
		return nil, err
	}
	for i := 0; i < o.Workers; i++ {
		if _, err := cl.StartWorker(ctx); err != nil {
			return nil, err
		}
	}
	res := &RecoveryRes{Setup: setup, Departures: o.RecoveryDepartures, Workers: o.Workers,
		KillEverySec: o.KillEvery.Seconds(), LeaseSec: recoveryLease.Seconds(), SweepSec: recoverySweep.Seconds()}

	start := time.Now()
	opened := make(chan error, 1)
	go func() {
		_, err := cl.OpenCases(ctx, o.RecoveryDepartures, 8, "recovery")
		opened <- err
	}()
	// Kill a random worker every KillEvery, and start a replacement, until
	// every case has settled.
	var kills []Kill
	stopKills, killsDone := make(chan struct{}), make(chan error, 1)
	go func() {
		rng := rand.New(rand.NewPCG(7, 7))
		tick := time.NewTicker(o.KillEvery)
		defer tick.Stop()
		for {
			select {
			case <-stopKills:
				killsDone <- nil
				return
			case <-tick.C:
			}
			k, err := cl.KillRandomWorker(ctx, rng)
			if err != nil {
				killsDone <- err
				return
			}
			kills = append(kills, k)
			fmt.Fprintf(o.Progress, "  %5.1f s: kill -9 %s (pid %d) with %d actions running\n", time.Since(start).Seconds(), k.Proc, k.PID, len(k.Running))
			if _, err := cl.StartWorker(ctx); err != nil {
				killsDone <- fmt.Errorf("starting a replacement worker: %w", err)
				return
			}
		}
	}()
	wctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	lastPrint := time.Now()
	var openErr error
	_, err = cl.WaitSettled(wctx, int64(o.RecoveryDepartures), func(p Progress) {
		select {
		case openErr = <-opened:
			if openErr != nil {
				cancel()
			}
		default:
		}
		if time.Since(lastPrint) >= 10*time.Second {
			lastPrint = time.Now()
			fmt.Fprintf(o.Progress, "  %5.1f s: %s\n", time.Since(start).Seconds(), p)
		}
	})
	res.TotalSec = time.Since(start).Seconds()
	close(stopKills)
	killErr := <-killsDone
	if err = errors.Join(openErr, killErr, err); err != nil {
		return nil, err
	}
	out, err := cl.Check(ctx)
	if err != nil {
		return nil, err
	}
	res.Actions, res.Lost, res.Duplicated, res.Incomplete = out.Actions, len(out.Lost), len(out.Duplicated), len(out.Incomplete)
	rec, err := cl.Recoveries(ctx, kills)
	if err != nil {
		return res, err
	}
	s := SummarizePickUps(rec)
	res.Kills, res.Recovered = len(kills), s.Count
	res.MedianSec, res.P90Sec, res.P99Sec, res.MaxSec = s.Median.Seconds(), s.P90.Seconds(), s.P99.Seconds(), s.Max.Seconds()
	if !out.OK() || out.Cases != o.RecoveryDepartures || out.Actions != o.RecoveryDepartures*RecoveryActions {
		return res, fmt.Errorf("the run did not complete cleanly: %s", out)
	}
	if len(kills) == 0 || s.Count == 0 {
		return res, fmt.Errorf("%d workers killed, no action recovered from one: the run was too short to measure anything (raise --recovery-departures or lower --kill-every)", len(kills))
	}
	return res, nil
}
