// Package bench holds Kinetic's end-to-end benchmarks. It has no code of its
// own: everything is in bench_test.go, built through internal/app exactly as
// `kinetic serve` builds, so the figures cover the real path — engine Open
// (validation, discovery, planning, the case transaction) → asynq → worker →
// sandbox Do and read-back Verify → the store with its hash-chained audit
// trail → release of dependents → case close.
//
// The benchmarks:
//
//   - BenchmarkActionThroughput/concurrency=N: actions per second
//     ("actions/s") with zero-latency sandbox connectors. Each iteration
//     opens 200 departures of a generated directory (accounts in five
//     sandbox systems, six actions each over three phases) and waits until
//     every case is closed; the next iteration reopens the same people. Run
//     with worker concurrency 20 and 50. The database pool is set to the
//     production size (20 connections), not the test cap.
//   - BenchmarkAsynqNoop/concurrency=N: the queue's ceiling on the same
//     Redis ("tasks/s"): 2000 no-op tasks per iteration enqueued with
//     asynq.Client (the dispatcher's options) and run by an asynq.Server
//     configured like jobs.NewWorker, timed from the first enqueue until
//     the handler has run them all.
//   - BenchmarkOneDeparture: latency of one departure under the embedded
//     example configuration (configs.Default: the example policy, the sample
//     directory, employee E1001, 13 actions) with every sandbox call taking
//     200 ms. Each iteration opens the case and polls the store every 5 ms
//     until it is closed with every action verified. It reports the median
//     and 99th percentile over the iterations ("ms/p50", "ms/p99") and the
//     floor no scheduler could beat ("ms/floor"): one discovery lookup at
//     Open plus, for each step of the longest chain (phases run one after
//     another; a dependency inside a phase adds a step), a Do and a Verify —
//     200 ms × (1 + 2 × steps). "steps" is that chain's length.
//
// TestBenchmarksSmoke runs a tiny version of each on every `go test`, so the
// code paths stay exercised; it checks every case completed with every
// action verified and that no sandbox effect happened twice.
//
// Backends: with KINETIC_TEST_POSTGRES_DSN and KINETIC_TEST_REDIS_ADDR set,
// the benchmarks run on that PostgreSQL (a fresh database per run) and that
// Redis (database 7, flushed first); without them, on SQLite in a temporary
// directory and an in-process miniredis (under CI=true a missing variable is
// a failure). Running them:
//
//	KINETIC_TEST_POSTGRES_DSN='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	KINETIC_TEST_REDIS_ADDR=127.0.0.1:6379 \
//	go test -run XXX -bench 'ActionThroughput|AsynqNoop' -benchtime 3x ./internal/bench/
//
//	KINETIC_TEST_POSTGRES_DSN=... KINETIC_TEST_REDIS_ADDR=... \
//	go test -run XXX -bench OneDeparture -benchtime 10x ./internal/bench/
//
//	go test -run XXX -bench . -benchtime 3x ./internal/bench/   # SQLite + miniredis
//
// Each iteration of BenchmarkActionThroughput is a batch of 200 departures,
// and each of BenchmarkOneDeparture a whole departure (a few seconds), so
// pass an iteration count (-benchtime Nx), not a duration. Add
// -cpuprofile cpu.out and read it with `go tool pprof -top cpu.out`.
package bench
