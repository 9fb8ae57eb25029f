// Package bench is Kinetic's benchmark suite, run by `kinetic bench` (and
// at a tiny size by TestBenchSmoke on every `go test`), and the
// multi-process harness and the recovery measure (Kill, Recoveries) the
// fault tests (internal/fault) use.
//
// Every scenario goes through the real path — engine Open (validation,
// discovery, planning, the case transaction) → asynq → worker → connector
// Do and read-back Verify → the store with its hash-chained audit trail →
// release of dependents → case close — and fails if a case does not
// complete with every action verified, or if a simulated system saw an
// effect twice (or, in the multi-process runs, never saw one).
//
// The scenarios (Run, in this order):
//
//   - one: one departure under the embedded example configuration
//     (employee E1001, 13 actions) with every sandbox call taking 200 ms,
//     timed from Open until the case is closed with every action verified,
//     repeated; p50 and p99 beside the floor no scheduler could beat: one
//     discovery lookup, then a Do and a Verify for each step of the longest
//     dependency chain, 200 ms × (1 + 2 × steps). In this process.
//   - rate: 5,000 departures (three actions each, one on an Okta-like
//     system limited to 600 requests a minute, as Okta counts: a sliding
//     window) opened through kinetic serve's API and run by kinetic serve
//     and two kinetic worker processes (one process on the embedded
//     default); total time beside the limit's floor (the Okta requests
//     made, at 600 a minute), the 429s the simulated Okta returned, and
//     each process's peak resident set (VmHWM).
//   - throughput: actions per second with zero-latency sandboxes (batches of
//     200 departures of six actions, worker concurrency 50), beside asynq
//     no-op tasks per second on the same Redis with the same worker
//     settings. In this process.
//   - slack: acknowledgement latency of signed /offboard slash commands, 50
//     at once, sent to a kinetic serve process whose Slack Web API is a
//     fake (bot/slackbot/slacktest) in this process; half ask for a status,
//     half start an offboarding.
//   - recovery: pick-up after kill -9. 1,000 departures (RecoveryPolicy: four
//     actions each, every sandbox call 250 ms ± 100 ms) opened through the
//     API and run by kinetic serve and two kinetic worker processes
//     (concurrency 10, lease 10 s, sweep every 5 s) while a random worker is
//     killed with SIGKILL every 7 s and replaced; for each action running
//     in a killed worker that the sweep took back (its lease checked every
//     second, the taken-back task served first from kinetic-first), the
//     time from the kill until an attempt started again (Cluster.Recoveries, which the fault
//     tests use too): median, p90, p99, max and count, and nothing lost or
//     duplicated. On the embedded default the processes share the SQLite
//     file and a Redis in this process, since kinetic serve's in-process
//     Redis is out of a worker's reach.
//
// The multi-process scenarios use a Cluster: the kinetic binary started as
// serve and worker processes over one database and one Redis, with their
// downstream systems hosted by a sandbox.Server in this process (sandbox
// connectors with a url), so the record of effects outlives any Kinetic
// process.
//
// Backends: the embedded default (SQLite files and an in-process Redis per
// scenario) or PostgreSQL + Redis (a scratch database per scenario, created
// and dropped; the Redis database is flushed between scenarios).
//
// The go test benchmarks (BenchmarkActionThroughput, BenchmarkAsynqNoop,
// BenchmarkOneDeparture) run the in-process scenarios under `go test
// -bench`, on PostgreSQL and Redis when KINETIC_TEST_POSTGRES_DSN and
// KINETIC_TEST_REDIS_ADDR are set; add -cpuprofile to profile them.
package bench
