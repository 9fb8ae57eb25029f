package main

import (
	"context"
	"errors"
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
	"github.com/spf13/cobra"

	"github.com/kineticsec/kinetic/internal/bench"
)

// newBenchCmd returns kinetic bench: the benchmark suite (internal/bench),
// printed as a table; the figures are also written as JSON.
func newBenchCmd() *cobra.Command {
	// No --config: the bench writes the configurations of the Kinetics it
	// measures.
	cmd := &cobra.Command{
		Use:   "bench [--postgres DSN --redis ADDR [--redis-db N]] [--only LIST] [--json FILE] [flags]",
		Short: "measure: one departure, departures under a rate limit, throughput, Slack, recovery",
		Long: "Runs the benchmark suite (internal/bench) on the embedded default, or on PostgreSQL + Redis,\nprints a table and writes the figures as JSON. The full run takes about 27 minutes\n(5,000 departures at 600 Okta requests a minute need about 17 of them).\n\n" +
			"Scenarios: one (a single departure's latency), rate (departures against an Okta-like rate limit),\nthroughput (zero-latency actions per second), slack (slash command acknowledgement latency),\nrecovery (pick-up after kill -9: --recovery-departures run by serve and --workers worker processes\nwhile a random worker is killed every --kill-every and replaced; on the embedded default the\nprocesses share the SQLite file and a Redis in the bench process).",
		GroupID: groupRun,
		Args:    noArgs,
	}
	fs := cmd.Flags()
	var bf benchFlags
	fs.StringVar(&bf.pg, "postgres", os.Getenv("KINETIC_BENCH_POSTGRES_DSN"), "PostgreSQL server DSN; each scenario creates and drops a scratch database on it (env KINETIC_BENCH_POSTGRES_DSN; default: the embedded SQLite)")
	fs.StringVar(&bf.rds, "redis", os.Getenv("KINETIC_BENCH_REDIS_ADDR"), "Redis address (env KINETIC_BENCH_REDIS_ADDR; default: an in-process Redis)")
	fs.IntVar(&bf.rdb, "redis-db", 15, "Redis database the bench uses and FLUSHES between scenarios; it must be empty at start unless --flush-redis")
	fs.BoolVar(&bf.flush, "flush-redis", false, "flush --redis-db even if it holds keys at start")
	fs.StringVar(&bf.only, "only", strings.Join(bench.Scenarios, ","), "scenarios to run, comma separated: "+strings.Join(bench.Scenarios, ", "))
	fs.StringVar(&bf.jsonPath, "json", "bench.json", "write the figures as JSON here (empty: do not)")
	fs.StringVar(&bf.dir, "dir", "", "working directory for SQLite files, configs and process logs (default: a temporary directory, removed afterwards)")
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
	_ = cmd.RegisterFlagCompletionFunc("only", cobra.FixedCompletions(bench.Scenarios, cobra.ShellCompDirectiveNoFileComp))
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return runBench(cmd.Context(), o, bf, cmd.OutOrStdout(), cmd.ErrOrStderr())
	}
	return cmd
}

// benchFlags are kinetic bench's flags that are not bench.Options fields.
type benchFlags struct {
	pg, rds        string
	rdb            int
	flush          bool
	only, jsonPath string
	dir            string
}

func runBench(ctx context.Context, o bench.Options, bf benchFlags, stdout, stderr io.Writer) error {
	if (bf.pg == "") != (bf.rds == "") {
		return usageErr("--postgres and --redis go together (the embedded default is SQLite with an in-process Redis)")
	}
	for _, s := range strings.Split(bf.only, ",") {
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
	o.Backend = bench.Backend{PostgresDSN: bf.pg, RedisAddr: bf.rds, RedisDB: bf.rdb, Dir: bf.dir}
	if bf.rds != "" {
		c := redis.NewClient(&redis.Options{Addr: bf.rds, DB: bf.rdb})
		n, err := c.DBSize(ctx).Result()
		_ = c.Close()
		if err != nil {
			return fmt.Errorf("redis %s: %w", bf.rds, err)
		}
		if n > 0 && !bf.flush {
			return usageErr("redis %s db %d holds %d keys; the bench flushes its database: pick an empty one (--redis-db) or pass --flush-redis", bf.rds, bf.rdb, n)
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
		if bf.jsonPath != "" {
			if jerr := rep.WriteJSON(bf.jsonPath); jerr != nil {
				err = errors.Join(err, jerr)
			} else {
				fmt.Fprintf(stdout, "\nfigures written to %s\n", bf.jsonPath)
			}
		}
	}
	return err
}
