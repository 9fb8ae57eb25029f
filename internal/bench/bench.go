package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	slackbot "github.com/kineticsec/kinetic/bot/slackbot"
	"github.com/kineticsec/kinetic/bot/slackbot/slacktest"
)

// Scenario names, for Options.Only.
const (
	ScenarioOne        = "one"
	ScenarioRate       = "rate"
	ScenarioThroughput = "throughput"
	ScenarioSlack      = "slack"
	ScenarioRecovery   = "recovery"
)

// Scenarios lists every scenario in the order Run runs them.
var Scenarios = []string{ScenarioOne, ScenarioRate, ScenarioThroughput, ScenarioSlack, ScenarioRecovery}

// Options configure Run. Zero sizes take the figures.
type Options struct {
	Backend Backend
	// Binary is the kinetic executable the multi-process scenarios start.
	Binary string
	// Only runs these scenarios (default: all).
	Only []string
	// Runs is how many single departures to time (default 10) and
	// Latency each sandbox call's latency in them (default 200ms).
	Runs    int
	Latency time.Duration
	// Departures and OktaRPM size the rate-limited run (defaults 5,000
	// and 600 requests a minute); Workers is how many kinetic worker
	// processes run beside kinetic serve on PostgreSQL + Redis, and in the
	// recovery run on every backend (default 2).
	Departures, OktaRPM, Workers int
	// FleetDepartures (default 200) per batch, Batches (default 3) and
	// FleetConcurrency (default 50) size the throughput run; NoopTasks
	// (default 2,000 per batch) the asynq run beside it.
	FleetDepartures, Batches, FleetConcurrency, NoopTasks int
	// SlackConcurrent signed slash commands at once (default 50), Rounds
	// times (default 5).
	SlackConcurrent, SlackRounds int
	// RecoveryDepartures (default 1,000) are opened while a random worker
	// process is killed with SIGKILL every KillEvery (default 7s) and
	// replaced, in the recovery run.
	RecoveryDepartures int
	KillEvery          time.Duration
	// Progress receives progress lines (nil: none).
	Progress io.Writer
}

func (o *Options) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Runs, 10)
	def(&o.Departures, 5000)
	def(&o.OktaRPM, 600)
	def(&o.Workers, 2)
	def(&o.FleetDepartures, 200)
	def(&o.Batches, 3)
	def(&o.FleetConcurrency, 50)
	def(&o.NoopTasks, 2000)
	def(&o.SlackConcurrent, 50)
	def(&o.SlackRounds, 5)
	def(&o.RecoveryDepartures, 1000)
	if o.KillEvery <= 0 {
		o.KillEvery = 7 * time.Second
	}
	if o.Latency <= 0 {
		o.Latency = 200 * time.Millisecond
	}
	if len(o.Only) == 0 {
		o.Only = Scenarios
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// Report is what Run measured; it is written as JSON.
type Report struct {
	Date         time.Time        `json:"date"`
	Machine      Machine          `json:"machine"`
	Backend      string           `json:"backend"`
	OneDeparture *OneDepartureRes `json:"one_departure,omitempty"`
	RateLimited  *RateRes         `json:"rate_limited,omitempty"`
	Throughput   *ThroughputRes   `json:"throughput,omitempty"`
	SlackAck     *SlackRes        `json:"slack_ack,omitempty"`
	Recovery     *RecoveryRes     `json:"recovery,omitempty"`
}

// Machine describes where the figures came from.
type Machine struct {
	CPUs      int     `json:"cpus"`
	CPUModel  string  `json:"cpu_model"`
	MemoryGiB float64 `json:"memory_gib"`
	OS        string  `json:"os"`
	GoVersion string  `json:"go_version"`
}

// OneDepartureRes: one departure from request to every action verified.
type OneDepartureRes struct {
	Employee  string  `json:"employee"`
	Actions   int     `json:"actions"`
	Steps     int     `json:"chain_steps"`
	LatencyMs float64 `json:"sandbox_latency_ms"`
	Runs      int     `json:"runs"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
	FloorMs   float64 `json:"floor_ms"`
}

// RateRes: many departures against a shared Okta-like limit, in separate
// processes.
type RateRes struct {
	Departures    int     `json:"departures"`
	Actions       int     `json:"actions"`
	LimitPerMin   int     `json:"okta_limit_per_minute"`
	Processes     int     `json:"processes"`
	TotalSec      float64 `json:"total_s"`
	OpenSec       float64 `json:"open_s"`
	OktaCalls     int64   `json:"okta_calls"`
	OktaRefused   int64   `json:"okta_429s"`
	FloorSec      float64 `json:"floor_s"`
	Lost          int     `json:"lost_effects"`
	Duplicated    int     `json:"duplicated_effects"`
	Incomplete    int     `json:"incomplete_cases"`
	PeakRSSMiB    []Peak  `json:"peak_rss"`
	ActionsPerSec float64 `json:"actions_per_s"`
}

// Peak is one process's peak resident set size.
type Peak struct {
	Process string  `json:"process"`
	MiB     float64 `json:"mib"`
}

// ThroughputRes: zero-latency actions per second beside asynq's ceiling.
type ThroughputRes struct {
	Departures   int     `json:"departures_per_batch"`
	Batches      int     `json:"batches"`
	Concurrency  int     `json:"worker_concurrency"`
	ActionsPerS  float64 `json:"actions_per_s"`
	NoopTasksPer float64 `json:"asynq_noop_tasks_per_s"`
}

// SlackRes: acknowledgement latency of signed slash commands sent to
// kinetic serve.
type SlackRes struct {
	Concurrent int     `json:"concurrent"`
	Commands   int     `json:"commands"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
}

// Run runs the selected scenarios one after another and returns the
// report; a scenario's failure (a case that did not complete, an effect
// lost or duplicated) is an error.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	r := &Report{Date: time.Now().UTC(), Machine: machine(), Backend: o.Backend.Name()}
	for _, s := range o.Only {
		fmt.Fprintf(o.Progress, "==> %s\n", s)
		var err error
		switch s {
		case ScenarioOne:
			r.OneDeparture, err = runOne(ctx, o)
		case ScenarioRate:
			r.RateLimited, err = runRate(ctx, o)
		case ScenarioThroughput:
			r.Throughput, err = runThroughput(ctx, o)
		case ScenarioSlack:
			r.SlackAck, err = runSlack(ctx, o)
		case ScenarioRecovery:
			r.Recovery, err = runRecovery(ctx, o)
		default:
			err = fmt.Errorf("unknown scenario %q (want %s)", s, strings.Join(Scenarios, ", "))
		}
		if err != nil {
			return r, fmt.Errorf("%s: %w", s, err)
		}
	}
	return r, nil
}

func runOne(ctx context.Context, o Options) (*OneDepartureRes, error) {
	d, err := NewDeparture(ctx, o.Backend, o.Latency, o.Progress)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	var times []time.Duration
	for i := 0; i < o.Runs; i++ {
		el, err := d.Run(ctx, 2*time.Minute)
		if err != nil {
			return nil, err
		}
		times = append(times, el)
		fmt.Fprintf(o.Progress, "  run %d: %.0f ms\n", i+1, Ms(el))
	}
	return &OneDepartureRes{Employee: DepartureEmployee, Actions: d.Actions, Steps: d.Steps, LatencyMs: Ms(d.Latency),
		Runs: len(times), P50Ms: Ms(Percentile(times, 50)), P99Ms: Ms(Percentile(times, 99)), FloorMs: Ms(d.Floor())}, nil
}

// RatePolicy is the rate-limited run's policy: three actions per
// departure, one of them on the Okta-like system (a Do and a read-back:
// two requests).
const RatePolicy = `version: 1
defaults:
  sla: {critical: 4h, entitlements: 8h, notifications: 24h}
  max_attempts: 10
  equipment_due: 7d
actions:
  disable_ad: {connector: ad, operation: disable_account, phase: critical}
  deactivate_okta: {connector: okta, operation: deactivate_user, phase: critical}
  convert_mailbox: {connector: m365, operation: convert_mailbox, phase: entitlements}
rules:
  - name: everyone
    when: "true"
    add: [disable_ad, deactivate_okta, convert_mailbox]
`

// rateActions is how many actions RatePolicy plans per departure.
const rateActions = 3

func runRate(ctx context.Context, o Options) (*RateRes, error) {
	cl, closeCluster, err := o.cluster(ctx, "rate", ClusterOptions{
		Employees: o.Departures, Policy: RatePolicy,
		Systems: []System{
			{Name: "okta", Latency: 90 * time.Millisecond, Jitter: 30 * time.Millisecond, VendorRPM: o.OktaRPM, BudgetRPM: o.OktaRPM},
			{Name: "ad", Latency: 20 * time.Millisecond, Jitter: 5 * time.Millisecond},
			{Name: "m365", Latency: 20 * time.Millisecond, Jitter: 5 * time.Millisecond},
		},
	})
	if err != nil {
		return nil, err
	}
	defer closeCluster()
	if err := cl.StartServe(ctx); err != nil {
		return nil, err
	}
	if o.Backend.RedisAddr != "" {
		for i := 0; i < o.Workers; i++ {
			if _, err := cl.StartWorker(ctx); err != nil {
				return nil, err
			}
		}
	}
	// The floor: every Okta request that got through, at the limit.
	oktaCalls := func() (calls, refused int64) {
		st := cl.Systems["okta"].Stats()
		return st.Calls, st.RateLimited
	}
	fmt.Fprintf(o.Progress, "  opening %d departures through the API\n", o.Departures)
	start := time.Now()
	opened, err := cl.OpenCases(ctx, o.Departures, 16, "rate")
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Progress, "  opened in %.1f s\n", opened.Elapsed.Seconds())
	// Generous: the floor twice over, plus ten minutes.
	floorAt := func() time.Duration {
		c, r := oktaCalls()
		return time.Duration(float64(c-r) / float64(o.OktaRPM) * float64(time.Minute))
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Duration(float64(o.Departures*2)/float64(o.OktaRPM)*float64(time.Minute))+10*time.Minute)
	defer cancel()
	lastPrint := time.Now()
	_, err = cl.WaitSettled(wctx, int64(o.Departures), func(p Progress) {
		if time.Since(lastPrint) >= 15*time.Second {
			lastPrint = time.Now()
			c, r := oktaCalls()
			fmt.Fprintf(o.Progress, "  %5.0f s: %s; okta %d calls, %d refused\n", time.Since(start).Seconds(), p, c, r)
		}
	})
	if err != nil {
		return nil, err
	}
	total := time.Since(start)
	out, err := cl.Check(ctx)
	if err != nil {
		return nil, err
	}
	calls, refused := oktaCalls()
	res := &RateRes{Departures: o.Departures, Actions: out.Actions, LimitPerMin: o.OktaRPM, Processes: 1 + len(cl.Workers),
		TotalSec: total.Seconds(), OpenSec: opened.Elapsed.Seconds(), OktaCalls: calls, OktaRefused: refused,
		FloorSec: floorAt().Seconds(), Lost: len(out.Lost), Duplicated: len(out.Duplicated), Incomplete: len(out.Incomplete),
		ActionsPerSec: float64(out.Actions) / total.Seconds()}
	for _, p := range append([]*Proc{cl.Serve}, cl.Workers...) {
		res.PeakRSSMiB = append(res.PeakRSSMiB, Peak{Process: p.Name, MiB: float64(p.PeakRSS()) / (1 << 20)})
	}
	if !out.OK() || out.Cases != o.Departures || out.Actions != o.Departures*rateActions {
		return res, fmt.Errorf("the run did not complete cleanly: %s", out)
	}
	return res, nil
}

func runThroughput(ctx context.Context, o Options) (*ThroughputRes, error) {
	f, err := NewFleet(ctx, o.Backend, o.FleetDepartures, o.FleetConcurrency, o.Progress)
	if err != nil {
		return nil, err
	}
	var actions int
	var elapsed time.Duration
	for i := 0; i < o.Batches; i++ {
		n, el, err := f.RunBatch(ctx, 5*time.Minute)
		if err == nil {
			err = f.CheckBatch(ctx)
		}
		if err != nil {
			f.Close()
			return nil, err
		}
		actions += n
		elapsed += el
		fmt.Fprintf(o.Progress, "  batch %d: %d actions in %.2f s\n", i+1, n, el.Seconds())
	}
	f.Close()
	q, err := NewNoopQueue(ctx, o.Backend, o.FleetConcurrency, o.Progress)
	if err != nil {
		return nil, err
	}
	defer q.Close()
	var tasks int
	var qel time.Duration
	for i := 0; i < o.Batches; i++ {
		el, err := q.Run(o.NoopTasks, 5*time.Minute)
		if err != nil {
			return nil, err
		}
		tasks += o.NoopTasks
		qel += el
	}
	return &ThroughputRes{Departures: o.FleetDepartures, Batches: o.Batches, Concurrency: o.FleetConcurrency,
		ActionsPerS: float64(actions) / elapsed.Seconds(), NoopTasksPer: float64(tasks) / qel.Seconds()}, nil
}

// cluster builds a Cluster for scenario name on the backend: a directory of
// its own, a fresh database, the Redis flushed (on the embedded default, the
// Redis co names, if any: else the one inside kinetic serve). The returned
// function stops it and drops the database.
func (o Options) cluster(ctx context.Context, name string, co ClusterOptions) (*Cluster, func(), error) {
	dir, err := os.MkdirTemp(o.Backend.Dir, name+"-")
	if err != nil {
		return nil, nil, err
	}
	dsn, _, dropDB, err := o.Backend.database(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	if o.Backend.RedisAddr != "" {
		if err := o.Backend.flushRedis(ctx); err != nil {
			dropDB()
			return nil, nil, err
		}
	}
	co.Binary, co.Dir, co.PostgresDSN, co.Log = o.Binary, dir, dsn, o.Progress
	if o.Backend.RedisAddr != "" {
		co.RedisAddr, co.RedisDB = o.Backend.RedisAddr, o.Backend.RedisDB
	}
	cl, err := NewCluster(co)
	if err != nil {
		dropDB()
		return nil, nil, err
	}
	return cl, func() { cl.Close(); dropDB() }, nil
}

// Slack settings of the acknowledgement run.
const (
	slackSecret   = "bench-signing-secret"
	slackChannel  = "COFFBOARD"
	slackAlerts   = "CALERTS"
	slackAdminID  = "UADMIN"
	slackEmployee = "UD%05d"
)

func runSlack(ctx context.Context, o Options) (*SlackRes, error) {
	fake := slacktest.Start()
	defer fake.Close()
	people := max(o.SlackConcurrent, 10)
	fake.AddUser(slackAdminID, "admin@bench.test", "Bench Admin")
	for i := 1; i <= people; i++ {
		fake.AddUser(fmt.Sprintf(slackEmployee, i), strings.ToLower(Employee(i))+"@bench.test", "Departing "+Employee(i))
	}
	cl, closeCluster, err := o.cluster(ctx, "slack", ClusterOptions{
		Employees: people, Policy: RatePolicy,
		Systems: []System{{Name: "okta"}, {Name: "ad"}, {Name: "m365"}},
		Env: []string{"KINETIC_SLACK_BOT_TOKEN=" + slacktest.BotToken, "KINETIC_SLACK_SIGNING_SECRET=" + slackSecret,
			"KINETIC_SLACK_API_URL=" + fake.URL(), "KINETIC_SLACK_CHANNEL=" + slackChannel, "KINETIC_SLACK_ALERTS_CHANNEL=" + slackAlerts},
	})
	if err != nil {
		return nil, err
	}
	defer closeCluster()
	if err := cl.StartServe(ctx); err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * o.SlackConcurrent}}
	var (
		mu   sync.Mutex
		lat  []time.Duration
		bad  firstError
		seq  atomic.Int64
		warm = 1
	)
	for round := -warm; round < o.SlackRounds; round++ {
		var wg sync.WaitGroup
		for j := 0; j < o.SlackConcurrent; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n := seq.Add(1)
				// Half ask for a status (a database read), half start an
				// offboarding (answered at once, planned in the
				// background).
				who := fmt.Sprintf(slackEmployee, 1+int(n)%people)
				text := "status <@" + who + ">"
				if n%2 == 1 {
					text = "<@" + who + "> end of contract"
				}
				body := url.Values{"team_id": {slacktest.TeamID}, "channel_id": {slackChannel}, "user_id": {slackAdminID},
					"command": {"/offboard"}, "text": {text}, "response_url": {"https://hooks.slack.invalid/x"},
					"trigger_id": {fmt.Sprintf("bench-%d", n)}}.Encode()
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, cl.ServeURL+"/slack/commands", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				slackbot.SignRequest(req, slackSecret, time.Now(), []byte(body))
				start := time.Now()
				resp, err := client.Do(req)
				el := time.Since(start)
				if err != nil {
					bad.set(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					bad.set(fmt.Errorf("slash command answered %d", resp.StatusCode))
					return
				}
				if round >= 0 {
					mu.Lock()
					lat = append(lat, el)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if err := bad.get(); err != nil {
			return nil, err
		}
	}
	return &SlackRes{Concurrent: o.SlackConcurrent, Commands: len(lat), P50Ms: Ms(Percentile(lat, 50)),
		P99Ms: Ms(Percentile(lat, 99)), MaxMs: Ms(Percentile(lat, 100))}, nil
}

// WriteTable prints the report for people.
func (r *Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "Kinetic bench, %s, backend %s\n", r.Date.Format("2006-01-02 15:04 MST"), r.Backend)
	m := r.Machine
	fmt.Fprintf(w, "machine: %s, %d CPUs, %.0f GiB, %s, %s\n\n", m.CPUModel, m.CPUs, m.MemoryGiB, m.OS, m.GoVersion)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tresult\tbeside")
	if d := r.OneDeparture; d != nil {
		fmt.Fprintf(tw, "one departure (%s, %d actions, %.0f ms a call)\tp50 %.0f ms, p99 %.0f ms\tfloor %.0f ms (%d steps), %d runs\n",
			d.Employee, d.Actions, d.LatencyMs, d.P50Ms, d.P99Ms, d.FloorMs, d.Steps, d.Runs)
	}
	if x := r.RateLimited; x != nil {
		fmt.Fprintf(tw, "%d departures, okta limit %d/min (%d processes)\ttotal %s, %d × 429\tfloor %s (%d okta calls); opened in %.0f s; %d lost, %d duplicated\n",
			x.Departures, x.LimitPerMin, x.Processes, secs(x.TotalSec), x.OktaRefused, secs(x.FloorSec), x.OktaCalls-x.OktaRefused, x.OpenSec, x.Lost, x.Duplicated)
		var peaks []string
		for _, p := range x.PeakRSSMiB {
			peaks = append(peaks, fmt.Sprintf("%s %.0f MiB", p.Process, p.MiB))
		}
		fmt.Fprintf(tw, "peak RSS during that run\t%s\t\n", strings.Join(peaks, ", "))
	}
	if t := r.Throughput; t != nil {
		fmt.Fprintf(tw, "zero-latency throughput (concurrency %d)\t%.0f actions/s\tasynq no-op %.0f tasks/s\n", t.Concurrency, t.ActionsPerS, t.NoopTasksPer)
	}
	if s := r.SlackAck; s != nil {
		fmt.Fprintf(tw, "slack ack, %d concurrent signed commands\tp99 %.1f ms\tp50 %.1f ms, max %.1f ms, %d commands\n", s.Concurrent, s.P99Ms, s.P50Ms, s.MaxMs, s.Commands)
	}
	if x := r.Recovery; x != nil {
		fmt.Fprintf(tw, "pick-up after kill -9 of a worker every %s, %d departures (serve + %d workers)\tmedian %.1f s, p90 %.1f s, p99 %.1f s, max %.1f s\t%d actions recovered after %d kills; lease %s, sweep %s; total %s; %d lost, %d duplicated\n",
			secs(x.KillEverySec), x.Departures, x.Workers, x.MedianSec, x.P90Sec, x.P99Sec, x.MaxSec, x.Recovered, x.Kills,
			secs(x.LeaseSec), secs(x.SweepSec), secs(x.TotalSec), x.Lost, x.Duplicated)
		fmt.Fprintf(tw, "processes of that run\t%s\t\n", x.Setup)
	}
	_ = tw.Flush()
}

func secs(s float64) string {
	d := time.Duration(s * float64(time.Second)).Round(time.Second)
	return d.String()
}

// WriteJSON writes the report to path.
func (r *Report) WriteJSON(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, GoVersion: runtime.Version(), CPUModel: "unknown CPU"}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		_ = f.Close()
	}
	m.MemoryGiB = float64(procKiB("/proc/meminfo", "MemTotal")) / (1 << 20)
	return m
}
