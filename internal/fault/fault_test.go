// Package fault_test breaks a running Kinetic on purpose: during 1,000
// departures handled by separate kinetic serve and kinetic worker
// processes it kills workers with SIGKILL again and again, crashes and
// restarts Redis, flushes Redis, and crashes and restarts PostgreSQL. Then
// every action must be final, every case closed, and the simulated
// systems' record of effects (kept by a sandbox server in the test
// process, which no fault touches) must show every effect exactly once.
//
// It runs under CI=true (.ci/run) or with KINETIC_FAULT=1, and needs
// redis-server and the PostgreSQL server binaries (its own instances, so
// that restarting them disturbs no other test).
package fault_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/internal/bench"
	"github.com/kineticsec/kinetic/internal/testenv"
	"github.com/kineticsec/kinetic/store"
)

const (
	departures  = 1000
	workerProcs = 3
	killEvery   = 7 * time.Second
	// recoverySanity is no timing goal: pick-up after a kill takes about
	// 7–11 s (the 10 s lease renewed every 3.3 s, a lease check every
	// second, the taken-back task served first from kinetic-first; the
	// figures are logged below and measured by kinetic bench's recovery
	// scenario), more on a loaded machine. The test fails only past this bound, which no healthy run
	// approaches and which asynq's own redelivery of a dead worker's task
	// (85–100 s) would cross: that is the failure it guards against.
	recoverySanity = 75 * time.Second
)

func TestFaultsLoseAndDuplicateNothing(t *testing.T) {
	if !testenv.CI() && os.Getenv("KINETIC_FAULT") != "1" {
		t.Skip("fault-injection run (several minutes, own PostgreSQL and Redis): set KINETIC_FAULT=1; CI runs it")
	}
	rdb := startRedis(t)
	pg := startPostgres(t)
	bin := testenv.Binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()

	cl, err := bench.NewCluster(bench.ClusterOptions{
		Binary: bin, Dir: t.TempDir(), PostgresDSN: pg.DSN(), RedisAddr: rdb.Addr(),
		// Four actions per departure over two phases, one with a
		// dependency, on systems slow enough that a killed worker always
		// has calls in flight: the recovery scenario's setting.
		Employees: departures, Policy: bench.RecoveryPolicy, Concurrency: bench.RecoveryConcurrency,
		Systems: bench.RecoverySystems(),
		Log:     logWriter{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if err := cl.StartServe(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < workerProcs; i++ {
		if _, err := cl.StartWorker(ctx); err != nil {
			t.Fatal(err)
		}
	}

	start := time.Now()
	var (
		mu     sync.Mutex
		kills  []bench.Kill
		events []string
	)
	note := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		msg := fmt.Sprintf("%5.1f s  ", time.Since(start).Seconds()) + fmt.Sprintf(format, a...)
		events = append(events, msg)
		t.Log(msg)
	}

	// Departures arrive through the API while the faults happen; a request
	// that fails (PostgreSQL down) is retried with its idempotency key.
	opened := make(chan bench.OpenResult, 1)
	go func() {
		res, err := cl.OpenCases(ctx, departures, 8, "fault")
		if err != nil {
			t.Errorf("opening cases: %v", err)
		}
		opened <- res
	}()

	// The fault schedule: a worker killed every killEvery from the start;
	// Redis crashed and restarted when a fifth of the actions are done,
	// flushed at two fifths, PostgreSQL crashed and restarted at three
	// fifths — so every fault lands with work in flight.
	redisRestart, redisFlush, pgRestart := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var fired [3]bool
	onProgress := func(p bench.Progress) {
		done := float64(p.Actions[store.ActionSucceeded]) / float64(departures*bench.RecoveryActions)
		for i, at := range []float64{0.2, 0.4, 0.6} {
			if done >= at && !fired[i] {
				fired[i] = true
				close([]chan struct{}{redisRestart, redisFlush, pgRestart}[i])
			}
		}
	}
	stopFaults := make(chan struct{})
	faultsDone := make(chan struct{})
	go func() {
		defer close(faultsDone)
		rng := rand.New(rand.NewPCG(7, 7))
		tick := time.NewTicker(killEvery)
		defer tick.Stop()
		for {
			select {
			case <-stopFaults:
				return
			// Not t.Fatal: this is not the test's goroutine.
			case <-redisRestart:
				redisRestart = nil
				if err := rdb.crashRestart(); err != nil {
					t.Errorf("restarting redis: %v", err)
				}
				note("redis crashed (SIGKILL) and restarted")
			case <-redisFlush:
				redisFlush = nil
				if err := rdb.flushAll(); err != nil {
					t.Errorf("flushing redis: %v", err)
				}
				note("redis flushed (FLUSHALL): every queued task, rate-limit and slot key lost")
			case <-pgRestart:
				pgRestart = nil
				if err := pg.crashRestart(); err != nil {
					t.Errorf("restarting postgresql: %v", err)
				}
				note("postgresql crashed (stop -m immediate) and restarted")
			case <-tick.C:
				k, err := cl.KillRandomWorker(ctx, rng)
				if err != nil {
					note("kill: %v", err)
					continue
				}
				mu.Lock()
				kills = append(kills, k)
				mu.Unlock()
				note("kill -9 %s (pid %d) with %d actions running", k.Proc, k.PID, len(k.Running))
				if _, err := cl.StartWorker(ctx); err != nil {
					note("starting a replacement worker: %v", err)
				}
			}
		}
	}()

	lastLog := time.Now()
	var res bench.OpenResult
	prog, err := cl.WaitSettled(ctx, departures, func(p bench.Progress) {
		onProgress(p)
		select {
		case res = <-opened:
			note("all %d departures accepted in %.1f s (%d requests retried)", res.Opened, res.Elapsed.Seconds(), res.Retried)
		default:
		}
		if time.Since(lastLog) > 10*time.Second {
			lastLog = time.Now()
			note("%s", p)
		}
	})
	close(stopFaults)
	<-faultsDone
	if err != nil {
		t.Fatalf("stuck: %v", err)
	}
	note("settled: %s", prog)
	if !fired[0] || !fired[1] || !fired[2] {
		t.Fatalf("not every fault was injected: %v", fired)
	}
	if len(kills) < 5 {
		t.Fatalf("only %d workers were killed during the run; the run was too short to test anything", len(kills))
	}

	out, err := cl.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("outcome: %s", out)
	if !out.OK() || out.Cases != departures || out.Actions != departures*bench.RecoveryActions {
		t.Fatalf("lost or duplicated work: %s", out)
	}

	// Recovery: for every action running in a worker when it was killed
	// whose lease the sweep then took back, the time from the kill until
	// an attempt started again (measured as kinetic bench's recovery
	// scenario measures it).
	rec, err := cl.Recoveries(ctx, kills)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec) == 0 {
		t.Fatal("no action was recovered from a killed worker; the kills hit nothing")
	}
	pu := bench.SummarizePickUps(rec)
	t.Logf("FIGURES: %d departures, %d actions, %d effects; %d workers killed; %d actions recovered from killed workers: pick-up after kill -9 median %.1f s, p90 %.1f s, max %.1f s; 0 lost, 0 duplicated",
		out.Cases, out.Actions, out.Effects, len(kills), pu.Count, pu.Median.Seconds(), pu.P90.Seconds(), pu.Max.Seconds())
	if worst := pu.Max; worst > recoverySanity {
		t.Errorf("an action took %.1f s to be picked up again after its worker was killed: past the sanity bound %s, the sweep did not take it back (asynq's own redelivery takes 85–100 s)", worst.Seconds(), recoverySanity)
	}
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
