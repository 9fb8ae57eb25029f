package bench_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/internal/bench"
	"github.com/kineticsec/kinetic/internal/testenv"
	"github.com/kineticsec/kinetic/store"
)

// Redis database for this package (see testenv.RedisAddr).
const redisDB = 7

// backend is the tests' PostgreSQL and Redis when KINETIC_TEST_POSTGRES_DSN
// and KINETIC_TEST_REDIS_ADDR are set (required under CI=true), else the
// embedded default.
func backend(tb testing.TB) bench.Backend {
	tb.Helper()
	dsn, addr := os.Getenv(store.TestPostgresDSNEnv), os.Getenv("KINETIC_TEST_REDIS_ADDR")
	if testenv.CI() && (dsn == "" || addr == "") {
		tb.Fatalf("%s and KINETIC_TEST_REDIS_ADDR must be set under CI", store.TestPostgresDSNEnv)
	}
	if dsn == "" || addr == "" {
		dsn, addr = "", ""
	}
	return bench.Backend{PostgresDSN: dsn, RedisAddr: addr, RedisDB: redisDB, Dir: tb.TempDir()}
}

// TestBenchSmoke runs every scenario of `kinetic bench` at a tiny size —
// the multi-process ones with the kinetic binary built from this tree — so
// the suite keeps working; each scenario fails on an incomplete case or an
// effect lost or duplicated. The recovery scenario kills worker processes
// for about half a minute.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kinetic processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	o := bench.Options{
		Backend: backend(t), Binary: testenv.Binary(t),
		Runs: 2, Latency: 10 * time.Millisecond,
		Departures: 40, OktaRPM: 6000, Workers: 2,
		FleetDepartures: 5, Batches: 2, FleetConcurrency: 8, NoopTasks: 50,
		SlackConcurrent: 10, SlackRounds: 2,
		RecoveryDepartures: 40, KillEvery: 2 * time.Second,
		Progress: testWriter{t},
	}
	rep, err := bench.Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if d := rep.OneDeparture; d.Actions < 10 || d.Steps < 3 {
		// The single departure is meant as a typical departure of about
		// a dozen actions with dependencies (13 in 5 steps when written).
		t.Fatalf("%s's plan under the example policy has %d actions in %d steps; pick another employee for the benchmark", d.Employee, d.Actions, d.Steps)
	}
	if r := rep.RateLimited; r.Departures != 40 || r.Lost+r.Duplicated+r.Incomplete != 0 || len(r.PeakRSSMiB) == 0 || r.PeakRSSMiB[0].MiB <= 0 {
		t.Fatalf("rate-limited run: %+v", r)
	}
	if s := rep.SlackAck; s.Commands != 20 || s.P99Ms <= 0 {
		t.Fatalf("slack: %+v", s)
	}
	// Workers killed with departures in flight; the run itself fails on
	// a lost or duplicated effect, or when no kill hit a running action.
	if r := rep.Recovery; r.Departures != 40 || r.Kills == 0 || r.Recovered == 0 || r.MedianSec <= 0 || r.MaxSec < r.MedianSec {
		t.Fatalf("recovery: %+v", r)
	}
	var table strings.Builder
	rep.WriteTable(&table)
	t.Log("\n" + table.String())
	if err := rep.WriteJSON(t.TempDir() + "/bench.json"); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkActionThroughput measures actions per second through the whole
// path (engine Open → asynq → worker → sandbox Do and read-back Verify → the
// store and its audit chain → dependents → close) with zero-latency sandbox
// connectors; one iteration is a batch of 200 departures of six actions.
func BenchmarkActionThroughput(b *testing.B) {
	for _, c := range []int{20, 50} {
		b.Run("concurrency="+itoa(c), func(b *testing.B) {
			ctx := context.Background()
			f, err := bench.NewFleet(ctx, backend(b), 200, c, testWriter{b})
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			var actions int
			var elapsed time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				n, el, err := f.RunBatch(ctx, 5*time.Minute)
				if err != nil {
					b.Fatal(err)
				}
				actions += n
				elapsed += el
			}
			b.StopTimer()
			if err := f.CheckBatch(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(actions)/elapsed.Seconds(), "actions/s")
		})
	}
}

// BenchmarkAsynqNoop is the queue's ceiling on the same Redis: 2,000 no-op
// tasks per iteration through an asynq server configured like the workers.
func BenchmarkAsynqNoop(b *testing.B) {
	for _, c := range []int{20, 50} {
		b.Run("concurrency="+itoa(c), func(b *testing.B) {
			q, err := bench.NewNoopQueue(context.Background(), backend(b), c, testWriter{b})
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			var elapsed time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				el, err := q.Run(2000, 5*time.Minute)
				if err != nil {
					b.Fatal(err)
				}
				elapsed += el
			}
			b.ReportMetric(float64(2000*b.N)/elapsed.Seconds(), "tasks/s")
		})
	}
}

// BenchmarkOneDeparture is one departure under the embedded example
// configuration with every sandbox call taking 200 ms, from Open until the
// case is closed with every action verified; it reports p50, p99 and the
// floor (a lookup, then a Do and a Verify per step of the longest chain).
func BenchmarkOneDeparture(b *testing.B) {
	ctx := context.Background()
	d, err := bench.NewDeparture(ctx, backend(b), 200*time.Millisecond, testWriter{b})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	var times []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		el, err := d.Run(ctx, 2*time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		times = append(times, el)
	}
	b.ReportMetric(bench.Ms(bench.Percentile(times, 50)), "ms/p50")
	b.ReportMetric(bench.Ms(bench.Percentile(times, 99)), "ms/p99")
	b.ReportMetric(bench.Ms(d.Floor()), "ms/floor")
	b.ReportMetric(float64(d.Steps), "steps")
}

func itoa(n int) string { return strconv.Itoa(n) }

type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
