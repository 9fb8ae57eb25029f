// Package jobs carries Kinetic's work over asynq (Redis): one task per
// action attempt and one per scheduled case start, the worker that runs
// them through the engine, the per-connector rate limits and concurrency
// caps shared by every worker process through Redis, and the recovery sweep.
//
// The queue only carries work; the database is the truth. A task id is
// derived from (action id, generation), so dispatching the same generation
// twice is harmless, and a task left over from an older generation is
// dropped by the engine when it arrives.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/engine"
)

// Task types.
const (
	TypeRunAction = "kinetic:action:run"
	TypeStartCase = "kinetic:case:start"
)

// Queue is the asynq queue Kinetic uses.
const Queue = "kinetic"

// QueueFirst holds the tasks of actions taken back from a dead or stopping
// worker (engine.FirstDispatcher); workers serve it strictly before Queue,
// so a recovery never waits behind the backlog.
const QueueFirst = "kinetic-first"

type actionPayload struct {
	ActionID int64 `json:"action_id"`
	Gen      int   `json:"gen"`
}

type casePayload struct {
	CaseID int64 `json:"case_id"`
}

// ActionTaskID is the task id for one generation of an action.
func ActionTaskID(actionID int64, gen int) string { return fmt.Sprintf("action-%d-g%d", actionID, gen) }

// CaseStartTaskID is the task id for starting a case.
func CaseStartTaskID(caseID int64) string { return fmt.Sprintf("case-start-%d", caseID) }

// Dispatcher implements engine.Dispatcher with asynq.
type Dispatcher struct {
	client    *asynq.Client
	inspector *asynq.Inspector
	// OrphanAfter overrides the package's OrphanAfter (tests).
	OrphanAfter time.Duration
	mu          sync.Mutex
	activeSeen  map[string]time.Time // task id → first seen active and unclaimed
}

// NewDispatcher connects a dispatcher to Redis.
func NewDispatcher(opt asynq.RedisConnOpt) *Dispatcher {
	return &Dispatcher{client: asynq.NewClient(opt), inspector: asynq.NewInspector(opt)}
}

// Close releases the Redis connections.
func (d *Dispatcher) Close() error {
	err := d.client.Close()
	if e2 := d.inspector.Close(); err == nil {
		err = e2
	}
	return err
}

// Inspector exposes the queue inspector (queue depth, task lookups).
func (d *Dispatcher) Inspector() *asynq.Inspector { return d.inspector }

// DispatchAction enqueues one generation of an action. A duplicate of an
// already-enqueued generation is a success.
func (d *Dispatcher) DispatchAction(ctx context.Context, actionID int64, gen int, at time.Time) error {
	p, _ := json.Marshal(actionPayload{ActionID: actionID, Gen: gen})
	opts := []asynq.Option{asynq.Queue(Queue), asynq.TaskID(ActionTaskID(actionID, gen)), asynq.MaxRetry(20)}
	if time.Until(at) > 0 {
		opts = append(opts, asynq.ProcessAt(at))
	}
	_, err := d.client.EnqueueContext(ctx, asynq.NewTask(TypeRunAction, p), opts...)
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil
	}
	return err
}

// DispatchActionFirst enqueues one generation of an action for now on
// QueueFirst, ahead of every task waiting on Queue. A duplicate is a
// success.
func (d *Dispatcher) DispatchActionFirst(ctx context.Context, actionID int64, gen int) error {
	p, _ := json.Marshal(actionPayload{ActionID: actionID, Gen: gen})
	_, err := d.client.EnqueueContext(ctx, asynq.NewTask(TypeRunAction, p),
		asynq.Queue(QueueFirst), asynq.TaskID(ActionTaskID(actionID, gen)), asynq.MaxRetry(20))
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil
	}
	return err
}

// DispatchCaseStart enqueues a case's start at its effective time.
func (d *Dispatcher) DispatchCaseStart(ctx context.Context, caseID int64, at time.Time) error {
	p, _ := json.Marshal(casePayload{CaseID: caseID})
	_, err := d.client.EnqueueContext(ctx, asynq.NewTask(TypeStartCase, p),
		asynq.Queue(Queue), asynq.TaskID(CaseStartTaskID(caseID)), asynq.ProcessAt(at), asynq.MaxRetry(20))
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil
	}
	return err
}

// OrphanAfter is how long a task must stay active — taken by a worker —
// while its action is still queued (unclaimed) in the database before
// ActionTaskPending counts it as orphaned: a live worker claims an action
// within about two seconds of taking its task (at most Gate.MaxWait for a
// rate limit or slot, 1.5 s of an early delayed task, then one
// transaction).
const OrphanAfter = 5 * time.Second

// ActionTaskPending reports whether the queue still holds the task for
// this generation and will run it: pending, scheduled or retrying, or
// active in a worker that is alive.
//
// A task that stays active while its action is still queued in the
// database — seen so at two sweeps at least OrphanAfter apart — was taken
// by a worker that died before claiming it (kill -9 while it waited for a
// rate-limit slot). asynq would hand it back only when its own 30 s lease
// has lapsed and its recoverer has run, 85–100 s after the crash; reporting
// it as not pending lets the sweep re-dispatch it under the next
// generation at once, and the orphan, if it ever runs, is dropped as
// stale.
func (d *Dispatcher) ActionTaskPending(ctx context.Context, actionID int64, gen int) (bool, error) {
	id := ActionTaskID(actionID, gen)
	info, err := d.inspector.GetTaskInfo(Queue, id)
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		info, err = d.inspector.GetTaskInfo(QueueFirst, id)
	}
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	switch info.State {
	case asynq.TaskStatePending, asynq.TaskStateScheduled, asynq.TaskStateRetry, asynq.TaskStateAggregating:
		return true, nil
	case asynq.TaskStateActive:
		return !d.orphaned(id), nil
	}
	return false, nil
}

// orphaned records that task id was seen active and unclaimed, and reports
// whether it was first seen so at least OrphanAfter ago.
func (d *Dispatcher) orphaned(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	if d.activeSeen == nil {
		d.activeSeen = map[string]time.Time{}
	}
	first, ok := d.activeSeen[id]
	if !ok {
		if len(d.activeSeen) >= 4096 {
			for k, t := range d.activeSeen {
				if now.Sub(t) > 10*d.orphanAfter() {
					delete(d.activeSeen, k)
				}
			}
		}
		d.activeSeen[id] = now
		return false
	}
	if now.Sub(first) < d.orphanAfter() {
		return false
	}
	delete(d.activeSeen, id)
	return true
}

func (d *Dispatcher) orphanAfter() time.Duration {
	if d.OrphanAfter > 0 {
		return d.OrphanAfter
	}
	return OrphanAfter
}

// Handler returns the asynq handler that runs Kinetic's tasks through eng,
// as this host's worker principal (the audit names it).
func Handler(eng *engine.Engine) asynq.Handler {
	mux := asynq.NewServeMux()
	me := workerPrincipal()
	mux.HandleFunc(TypeRunAction, func(ctx context.Context, t *asynq.Task) error {
		var p actionPayload
		if err := json.Unmarshal(t.Payload(), &p); err != nil || p.ActionID == 0 {
			return fmt.Errorf("malformed action task payload: %w", asynq.SkipRetry)
		}
		return eng.RunAction(engine.WithPrincipal(ctx, me), p.ActionID, p.Gen)
	})
	mux.HandleFunc(TypeStartCase, func(ctx context.Context, t *asynq.Task) error {
		var p casePayload
		if err := json.Unmarshal(t.Payload(), &p); err != nil || p.CaseID == 0 {
			return fmt.Errorf("malformed case task payload: %w", asynq.SkipRetry)
		}
		return eng.StartCase(engine.WithPrincipal(ctx, me), p.CaseID)
	})
	return mux
}

// workerPrincipal is this process's principal: worker:HOSTNAME.
func workerPrincipal() engine.Principal {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return engine.WorkerPrincipal(host)
}

// TaskCheckInterval is how long a worker's asynq server waits before it
// looks at an empty queue again (asynq has no blocking pop: it sleeps 0.5–1.5
// × this, its default 1 s). A task enqueued meanwhile waits out the rest of
// the sleep — on average about half the interval — and an offboarding pays
// that wait at each release wave (six for the demo's departure: 50 ms cost
// it about 160 ms). 10 ms costs about 100 cheap Redis calls a second per
// idle process.
const TaskCheckInterval = 10 * time.Millisecond

// DelayedTaskCheckInterval is how often scheduled tasks (back-offs,
// effective times) are forwarded to their queue.
const DelayedTaskCheckInterval = 200 * time.Millisecond

// WorkerOptions configure a Worker.
type WorkerOptions struct {
	Redis  asynq.RedisConnOpt
	Engine *engine.Engine
	// Concurrency is the number of tasks run at once; default 20.
	Concurrency int
	// SweepInterval is how often the recovery sweep runs; default 5s. A
	// negative value disables the sweep in this process.
	SweepInterval time.Duration
	// ShutdownGrace is how long Shutdown lets running tasks finish before
	// it hands back the actions still in their connector calls; default
	// 20s (workers.shutdown_grace).
	ShutdownGrace time.Duration
	Log           *logrus.Entry
}

// handBackWait bounds the hand-back after the grace: interrupted calls
// return at once (their context is cancelled) and each hand-back is one
// transaction and one enqueue. asynq's ShutdownTimeout is the grace plus
// this, so asynq never quits a task the engine is still handing back.
const handBackWait = 5 * time.Second

// Worker runs tasks and the recovery sweep.
type Worker struct {
	srv    *asynq.Server
	o      WorkerOptions
	cancel context.CancelFunc
	done   chan struct{}
	// handBack closes when the grace is over: running actions are handed
	// back (engine.WithHandBack).
	handBack chan struct{}
	mu       sync.Mutex
	inflight int
	idle     chan struct{} // closed and replaced when inflight drops to 0
	shutdown sync.Once
}

// NewWorker builds a worker.
func NewWorker(o WorkerOptions) *Worker {
	if o.Concurrency <= 0 {
		o.Concurrency = 20
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = 5 * time.Second
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = 20 * time.Second
	}
	if o.Log == nil {
		o.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	srv := asynq.NewServer(o.Redis, asynq.Config{
		Concurrency: o.Concurrency,
		// Work taken back from a dead or stopping worker first.
		Queues:                   map[string]int{QueueFirst: 2, Queue: 1},
		StrictPriority:           true,
		TaskCheckInterval:        TaskCheckInterval,
		DelayedTaskCheckInterval: DelayedTaskCheckInterval,
		// Shutdown waits out the grace and the hand-back itself
		// (Worker.Shutdown) before asynq's own timeout would quit a task
		// and leave its action running under a lease.
		ShutdownTimeout: o.ShutdownGrace + handBackWait,
		Logger:          o.Log.WithField("component", "asynq"),
		LogLevel:        asynq.WarnLevel,
		RetryDelayFunc: func(n int, err error, t *asynq.Task) time.Duration {
			// Infrastructure errors only (the engine owns connector retries):
			// 1 s, 2 s, 4 s … capped at 30 s.
			return min(time.Second<<min(n, 5), 30*time.Second)
		},
	})
	return &Worker{srv: srv, o: o, handBack: make(chan struct{}), idle: make(chan struct{})}
}

// track wraps h so Shutdown knows how many tasks are running and can hand
// their actions back (engine.WithHandBack) when the grace is over.
func (w *Worker) track(h asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		w.mu.Lock()
		w.inflight++
		w.mu.Unlock()
		defer func() {
			w.mu.Lock()
			if w.inflight--; w.inflight == 0 {
				close(w.idle)
				w.idle = make(chan struct{})
			}
			w.mu.Unlock()
		}()
		return h.ProcessTask(engine.WithHandBack(ctx, w.handBack), t)
	})
}

// waitIdle waits until no task is running or timeout passes, and reports
// whether none is.
func (w *Worker) waitIdle(timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		n, idle := w.inflight, w.idle
		w.mu.Unlock()
		if n == 0 {
			return true
		}
		select {
		case <-idle:
		case <-deadline.C:
			return false
		}
	}
}

// Start starts processing and the sweep loop.
func (w *Worker) Start() error {
	if err := w.srv.Start(w.track(Handler(w.o.Engine))); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel, w.done = cancel, make(chan struct{})
	go func() {
		defer close(w.done)
		if w.o.SweepInterval < 0 {
			return
		}
		SweepLoop(ctx, w.o.Engine, w.o.SweepInterval, w.o.Log)
	}()
	return nil
}

// Shutdown hands the worker's work back gracefully: it stops the sweep and
// stops taking tasks, lets the running ones finish for up to
// ShutdownGrace, then interrupts the connector calls still in flight and
// hands their actions back — requeued at once under a new generation,
// lease released, the attempt not counted — for another worker, and
// closes the queue connection. It returns within about the grace plus 5 s.
// Calls after the first (or beside it) wait for the first to finish.
func (w *Worker) Shutdown() { w.shutdown.Do(w.stop) }

func (w *Worker) stop() {
	if w.cancel != nil {
		w.cancel()
		<-w.done
	}
	w.srv.Stop()
	if !w.waitIdle(w.o.ShutdownGrace) {
		w.mu.Lock()
		n := w.inflight
		w.mu.Unlock()
		w.o.Log.WithFields(logrus.Fields{"running": n, "grace": w.o.ShutdownGrace.String()}).Warn("shutdown grace over: handing back the actions still running")
		close(w.handBack)
		w.waitIdle(handBackWait)
	}
	w.srv.Shutdown()
}

// LeaseCheckEvery is how often SweepLoop looks for expired leases between
// full sweeps (at most every sweep interval): one indexed query, so a dead
// worker's actions are taken back within about a second of their lease
// lapsing. With the default 10 s lease (renewed every 3.3 s) and the
// taken-back task served first (QueueFirst), pick-up after kill -9 is
// bounded by about 11 s instead of lease + sweep interval + the backlog.
const LeaseCheckEvery = time.Second

// SweepLoop runs eng.Sweep every interval, and the lease recovery alone
// every LeaseCheckEvery in between, until ctx ends. The grace period
// before a queued action counts as lost is twice the interval.
func SweepLoop(ctx context.Context, eng *engine.Engine, interval time.Duration, log *logrus.Entry) {
	t := time.NewTicker(interval)
	defer t.Stop()
	lt := time.NewTicker(min(interval, LeaseCheckEvery))
	defer lt.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-lt.C:
			n, err := eng.RecoverLeases(engine.WithPrincipal(ctx, workerPrincipal()))
			if err != nil && ctx.Err() == nil {
				log.WithError(err).Warn("lease recovery failed")
			} else if n > 0 {
				log.WithField("leases_expired", n).Info("recovery sweep")
			}
			continue
		case <-t.C:
			st, err := eng.Sweep(engine.WithPrincipal(ctx, workerPrincipal()), 2*interval)
			if err != nil && ctx.Err() == nil {
				log.WithError(err).Warn("recovery sweep failed")
				continue
			}
			if st.LeasesExpired+st.Redispatched+st.CasesStarted > 0 {
				log.WithFields(logrus.Fields{"leases_expired": st.LeasesExpired, "redispatched": st.Redispatched, "cases_started": st.CasesStarted}).Info("recovery sweep")
			}
		}
	}
}
