package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kineticsec/kinetic/internal/bench"
)

// cmdBench runs the benchmark suite (internal/bench) and prints a table;
// the figures are also written as JSON.
func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// No --config: the bench writes the configurations of the Kinetics it
	// measures.
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: kinetic bench [--postgres DSN --redis ADDR [--redis-db N]] [--only LIST] [--json FILE]\n\n")
		fmt.Fprintf(stderr, "Runs the benchmark suite (internal/bench) on the embedded default, or on PostgreSQL + Redis,\nprints a table and writes the figures as JSON. The full run takes about 27 minutes\n(5,000 departures at 600 Okta requests a minute need about 17 of them).\n\n")
		fmt.Fprintf(stderr, "Scenarios: one (a single departure's latency), rate (departures against an Okta-like rate limit),\nthroughput (zero-latency actions per second), slack (slash command acknowledgement latency),\nrecovery (pick-up after kill -9: --recovery-departures run by serve and --workers worker processes\nwhile a random worker is killed every --kill-every and replaced; on the embedded default the\nprocesses share the SQLite file and a Redis in the bench process).\n\n")
		fs.PrintDefaults()
	}
	pg := fs.String("postgres", os.Getenv("KINETIC_BENCH_POSTGRES_DSN"), "PostgreSQL server DSN; each scenario creates and drops a scratch database on it (env KINETIC_BENCH_POSTGRES_DSN; default: the embedded SQLite)")
	rds := fs.String("redis", os.Getenv("KINETIC_BENCH_REDIS_ADDR"), "Redis address (env KINETIC_BENCH_REDIS_ADDR; default: an in-process Redis)")
	rdb := fs.Int("redis-db", 15, "Redis database the bench uses and FLUSHES between scenarios; it must be empty at start unless --flush-redis")
	flush := fs.Bool("flush-redis", false, "flush --redis-db even if it holds keys at start")
	only := fs.String("only", strings.Join(bench.Scenarios, ","), "scenarios to run, comma separated: "+strings.Join(bench.Scenarios, ", "))
	jsonPath := fs.String("json", "bench.json", "write the figures as JSON here (empty: do not)")
	dir := fs.String("dir", "", "working directory for SQLite files, configs and process logs (default: a temporary directory, removed afterwards)")
	var o bench.Options
	fs.IntVar(&o.Runs, "runs", 10, "single departures to time")
	fs.DurationVar(&o.Latency, "latency", 0, "sandbox latency of every call in the single departures (default 200ms)")
	fs.IntVar(&o.Departures, "departures", 5000, "departures in the rate-limited run")
	fs.IntVar(&o.OktaRPM, "okta-rpm", 600, "the Okta-like system's limit (requests a minute) in the rate-limited run")
	fs.IntVar(&o.Workers, "workers", 2, "kinetic worker processes beside kinetic serve (rate: PostgreSQL + Redis only; recovery: every backend)")
	fs.IntVar(&o.FleetDepartures, "fleet", 200, "departures per throughput batch")
	fs.IntVar(&o.SlackConcurrent, "slack-concurrent", 50, "signed slash commands sent at once")
	fs.IntVar(&o.RecoveryDepartures, "recovery-departures", 1000, "departures (4 actions each, 250 ms a call) in the recovery run")
	fs.DurationVar(&o.KillEvery, "kill-every", 7*time.Second, "kill -9 a random worker (and start a replacement) this often in the recovery run")
	if err := parse(fs, args); err != nil {
		return err
	}
	if (*pg == "") != (*rds == "") {
		return usageErr("--postgres and --redis go together (the embedded default is SQLite with an in-process Redis)")
	}
	for _, s := range strings.Split(*only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			if !slices.Contains(bench.Scenarios, s) {
				return usageErr("--only: unknown scenario %q (want %s)", s, strings.Join(bench.Scenarios, ", "))
			}
			o.Only = append(o.Only, s)
		}
	}
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the kinetic executable: %w", err)
	}
	o.Binary = bin
	o.Backend = bench.Backend{PostgresDSN: *pg, RedisAddr: *rds, RedisDB: *rdb, Dir: *dir}
	if *rds != "" {
		c := redis.NewClient(&redis.Options{Addr: *rds, DB: *rdb})
		n, err := c.DBSize(ctx).Result()
		_ = c.Close()
		if err != nil {
			return fmt.Errorf("redis %s: %w", *rds, err)
		}
		if n > 0 && !*flush {
			return usageErr("redis %s db %d holds %d keys; the bench flushes its database: pick an empty one (--redis-db) or pass --flush-redis", *rds, *rdb, n)
		}
	}
	if o.Backend.Dir == "" {
		tmp, err := os.MkdirTemp("", "kinetic-bench-")
		if err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(tmp) }()
		o.Backend.Dir = tmp
	} else if err := os.MkdirAll(o.Backend.Dir, 0o700); err != nil {
		return err
	} else if abs, err := filepath.Abs(o.Backend.Dir); err == nil {
		o.Backend.Dir = abs
	}
	o.Progress = stderr
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench.Run(ctx, o)
	if rep != nil {
		fmt.Fprintln(stdout)
		rep.WriteTable(stdout)
		if *jsonPath != "" {
			if jerr := rep.WriteJSON(*jsonPath); jerr != nil {
				err = errors.Join(err, jerr)
			} else {
				fmt.Fprintf(stdout, "\nfigures written to %s\n", *jsonPath)
			}
		}
	}
	return err
}
