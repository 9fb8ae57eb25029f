package engine_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"gorm.io/gorm"

	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/jobs"
	"github.com/kineticsec/kinetic/store"
)

func actionNamed(t *testing.T, c *store.Case, name string) store.Action {
	t.Helper()
	for _, a := range c.Actions {
		if a.Name == name {
			return a
		}
	}
	t.Fatalf("case %d has no action %s", c.ID, name)
	return store.Action{}
}

func reload(t *testing.T, s *store.Store, id int64) *store.Case {
	t.Helper()
	c, err := s.CaseWithActions(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func countEvents(t *testing.T, s *store.Store, actionID int64, event string) int64 {
	t.Helper()
	var n int64
	if err := s.TestDB().Model(&store.AuditEvent{}).Where("action_id = ? AND event = ?", actionID, event).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// Eight workers receive the same task at once: exactly one runs it.
func TestRacingWorkersRunAnActionOnce(t *testing.T) {
	k := testkit.New(t, testkit.Options{RedisDB: redisDB, Latency: 30 * time.Millisecond})
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "M1"}) // no worker: tasks wait in Redis
	a := actionNamed(t, reload(t, k.Store, c.ID), "disable_ad")
	if a.Status != store.ActionQueued {
		t.Fatalf("disable_ad is %s, want queued", a.Status)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := k.Engine.RunAction(context.Background(), a.ID, a.Generation); err != nil {
				t.Errorf("RunAction: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	a = actionNamed(t, reload(t, k.Store, c.ID), "disable_ad")
	if a.Status != store.ActionSucceeded || a.Attempts != 1 {
		t.Fatalf("disable_ad %s after %d attempts, want succeeded after 1", a.Status, a.Attempts)
	}
	if n := countEvents(t, k.Store, a.ID, "action.started"); n != 1 {
		t.Fatalf("%d action.started events, want 1", n)
	}
	effects := 0
	for _, e := range k.Sandbox("ad").Effects() {
		if e.Operation == "disable_account" {
			effects++
		}
	}
	if effects != 1 {
		t.Fatalf("%d disable effects in AD, want 1", effects)
	}
	// A task of the same generation arriving again (asynq redelivery) is
	// dropped.
	if err := k.Engine.RunAction(context.Background(), a.ID, a.Generation); err != nil {
		t.Fatal(err)
	}
	if n := countEvents(t, k.Store, a.ID, "action.started"); n != 1 {
		t.Fatalf("a redelivered task ran again (%d starts)", n)
	}
}

// A worker claims an action and dies (its lease is never renewed). The
// sweep takes the action back under a new generation, a live worker runs it
// once, and the dead worker's task, delivered again later, is dropped.
func TestLeaseLapseAfterWorkerDeathRunsTheActionExactlyOnce(t *testing.T) {
	k := testkit.New(t, testkit.Options{RedisDB: redisDB, StateChangedBehindEngine: true}) // the dead worker's claim is not the engine's
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "M1"})
	a := actionNamed(t, reload(t, k.Store, c.ID), "disable_ad")
	deadGen := a.Generation

	// The dead worker's claim: moved to running with a lease that has
	// already ended, as if its process was killed mid-call.
	err := k.Store.Tx(ctx, func(tx *gorm.DB) error {
		ok, err := store.ClaimAction(tx, a.ID, deadGen, time.Now().UTC().Add(-time.Minute), 10*time.Second)
		if err == nil && !ok {
			t.Fatal("claim failed")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := k.Engine.Sweep(ctx, time.Second)
	if err != nil || st.LeasesExpired != 1 {
		t.Fatalf("sweep took back %d leases (%v), want 1", st.LeasesExpired, err)
	}
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	c = k.WaitClosed(t, c.ID, 30*time.Second)
	a = actionNamed(t, c, "disable_ad")
	if a.Status != store.ActionSucceeded || a.Generation <= deadGen {
		t.Fatalf("disable_ad %s gen %d (dead gen %d)", a.Status, a.Generation, deadGen)
	}
	if err := k.Engine.RunAction(ctx, a.ID, deadGen); err != nil { // the dead worker's task, redelivered
		t.Fatal(err)
	}
	if n := countEvents(t, k.Store, a.ID, "action.lease_expired"); n != 1 {
		t.Errorf("%d lease_expired events, want 1", n)
	}
	if d := k.DuplicateEffects(); len(d) > 0 {
		t.Fatalf("duplicate effects: %v", d)
	}
	if c.Status != store.CaseCompleted {
		t.Fatalf("case %s:\n%s", c.Status, engine.Summary(c))
	}
}

// Redis loses every task (flushed, or restarted without persistence): the
// database still says the actions are queued, and the sweep dispatches them
// again.
func TestFlushedRedisLosesNothing(t *testing.T) {
	k := testkit.New(t, testkit.Options{RedisDB: redisDB})
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E2", Requester: "M1"})
	if err := k.RDB.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	c = k.WaitClosed(t, c.ID, 30*time.Second)
	if c.Status != store.CaseCompleted {
		t.Fatalf("case %s:\n%s", c.Status, engine.Summary(c))
	}
	var n int64
	k.Store.TestDB().Model(&store.AuditEvent{}).Where("case_id = ? AND event = ?", c.ID, "action.redispatched").Count(&n)
	if n == 0 {
		t.Fatal("no action.redispatched events: the completion did not come from the sweep")
	}
}

func TestDispatchingTheSameGenerationTwiceIsHarmless(t *testing.T) {
	k := testkit.New(t, testkit.Options{RedisDB: redisDB})
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if err := k.Dispatcher.DispatchAction(ctx, 4242, 1, time.Now()); err != nil {
			t.Fatalf("dispatch %d: %v", i, err)
		}
	}
	info, err := k.Dispatcher.Inspector().GetQueueInfo(jobs.Queue)
	if err != nil {
		t.Fatal(err)
	}
	if info.Pending != 1 {
		t.Fatalf("%d pending tasks, want 1", info.Pending)
	}
	pending, err := k.Dispatcher.ActionTaskPending(ctx, 4242, 1)
	if err != nil || !pending {
		t.Fatalf("pending=%t err=%v", pending, err)
	}
	if pending, _ := k.Dispatcher.ActionTaskPending(ctx, 4242, 2); pending {
		t.Fatal("generation 2 was never dispatched")
	}
}

// A worker takes an action's task from the queue and dies before claiming
// it (kill -9 while it waited for a rate-limit slot): asynq holds the task
// as active until its own lease lapses, 85–100 s on. The sweep does not
// wait for that: the action is re-dispatched under the next generation and
// runs once; the orphan, when asynq hands it back, is dropped as stale.
func TestTaskTakenByADeadWorkerIsRedispatched(t *testing.T) {
	k := testkit.New(t, testkit.Options{RedisDB: redisDB})
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E2", Requester: "M1"}) // no worker yet
	a := actionNamed(t, reload(t, k.Store, c.ID), "disable_ad")

	// The "dead" worker: an asynq server whose handler takes tasks and
	// never returns, so they stay active and unclaimed.
	taken := make(chan struct{}, 64)
	hang := make(chan struct{})
	dead := asynq.NewServer(k.RedisOpt, asynq.Config{Concurrency: 64, Queues: map[string]int{jobs.Queue: 1},
		TaskCheckInterval: 20 * time.Millisecond, ShutdownTimeout: 100 * time.Millisecond, LogLevel: asynq.FatalLevel})
	if err := dead.Start(asynq.HandlerFunc(func(ctx context.Context, _ *asynq.Task) error {
		taken <- struct{}{}
		select {
		case <-hang:
		case <-ctx.Done():
		}
		return ctx.Err()
	})); err != nil {
		t.Fatal(err)
	}
	defer dead.Shutdown()
	defer close(hang)
	select {
	case <-taken:
	case <-time.After(10 * time.Second):
		t.Fatal("the hung worker took no task")
	}
	var infoErr error
	testkit.Eventually(t, 10*time.Second, func() bool {
		info, err := k.Dispatcher.Inspector().GetTaskInfo(jobs.Queue, jobs.ActionTaskID(a.ID, a.Generation))
		infoErr = err
		return err == nil && info.State == asynq.TaskStateActive
	}, func() string { return fmt.Sprintf("disable_ad's task never became active (%v)", infoErr) })
	// First sighting: a live worker may be about to claim it (waiting for
	// a rate-limit slot): still pending.
	k.Dispatcher.OrphanAfter = 50 * time.Millisecond
	if st, err := k.Engine.Sweep(ctx, 0); err != nil || st.Redispatched != 0 {
		t.Fatalf("first sweep re-dispatched a task a worker has just taken: %+v %v", st, err)
	}
	// Still active and unclaimed OrphanAfter later: its worker is gone.
	var last engine.SweepStats
	testkit.Eventually(t, 10*time.Second, func() bool {
		st, err := k.Engine.Sweep(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		last = st
		// The hung worker holds every task of the case; wait for
		// disable_ad's own re-dispatch, not just any (on a loaded machine
		// the others may be sighted twice first).
		return countEvents(t, k.Store, a.ID, "action.redispatched") > 0
	}, func() string { return fmt.Sprintf("sweep did not re-dispatch disable_ad: last sweep %+v", last) })
	dead.Shutdown() // the hung worker goes; a live one takes over
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	c = k.WaitClosed(t, c.ID, 30*time.Second)
	if c.Status != store.CaseCompleted {
		t.Fatalf("case %s:\n%s", c.Status, engine.Summary(c))
	}
	if n := countEvents(t, k.Store, a.ID, "action.redispatched"); n == 0 {
		t.Fatal("no action.redispatched event for disable_ad")
	}
	if d := k.DuplicateEffects(); len(d) > 0 {
		t.Fatalf("duplicated effects: %v", d)
	}
}
