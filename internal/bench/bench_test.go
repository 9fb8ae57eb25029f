package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/connectors/sandbox"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/app"
	"github.com/kineticsec/kinetic/internal/testenv"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/jobs"
	"github.com/kineticsec/kinetic/store"
)

// Redis database for this package (see testenv.RedisAddr).
const redisDB = 7

// Sizes of the benchmarks (the smoke test uses smaller ones).
const (
	benchDepartures = 200
	benchNoopTasks  = 2000
	benchLatency    = 200 * time.Millisecond
	// batchTimeout bounds one batch of departures or one departure.
	batchTimeout = 2 * time.Minute
	// productionPoolSize is store's pgMaxOpenConns: the benchmarks measure
	// the production pool, not the cap store.OpenTest puts on test
	// databases so that packages tested in parallel fit the server.
	productionPoolSize = 20
)

// concurrencies are the worker concurrencies the throughput benchmarks try.
var concurrencies = []int{20, 50}

// fleetAdmin is the admin of the generated directory, who opens the cases.
const fleetAdmin = "A0000"

// fleetSystems are the sandbox systems every generated employee has an
// account in.
var fleetSystems = []string{"ad", "okta", "m365", "badge", "payroll"}

// fleetPolicy gives every generated employee six actions, one or two in
// each fleet system, over three phases, with a dependency inside the
// critical phase.
const fleetPolicy = `version: 1
defaults:
  sla: {critical: 1h, entitlements: 4h, notifications: 24h}
  max_attempts: 4
  equipment_due: 7d
actions:
  disable_ad: {connector: ad, operation: disable_account, phase: critical}
  revoke_okta_sessions: {connector: okta, operation: revoke_sessions, phase: critical}
  deactivate_okta: {connector: okta, operation: deactivate_user, phase: critical, depends_on: [revoke_okta_sessions]}
  convert_mailbox: {connector: m365, operation: convert_mailbox, phase: entitlements}
  deactivate_badge: {connector: badge, operation: deactivate_badge, phase: entitlements}
  notify_payroll: {connector: payroll, operation: notify, phase: notifications, params: {template: final_pay}}
rules:
  - name: everyone
    when: "true"
    add: [disable_ad, revoke_okta_sessions, deactivate_okta, convert_mailbox, deactivate_badge, notify_payroll]
`

// fleetActions is how many actions fleetPolicy plans per employee.
const fleetActions = 6

// ---------------------------------------------------------------------------
// Benchmarks

// BenchmarkActionThroughput measures actions per second through the whole
// path with zero-latency sandbox connectors; one iteration is a batch of
// benchDepartures departures.
func BenchmarkActionThroughput(b *testing.B) {
	for _, c := range concurrencies {
		b.Run(fmt.Sprintf("concurrency=%d", c), func(b *testing.B) {
			f := newFleet(b, benchDepartures, c, true)
			b.ResetTimer()
			var actions int
			var elapsed time.Duration
			for i := 0; i < b.N; i++ {
				n, d := f.runBatch(b)
				actions += n
				elapsed += d
				b.StopTimer()
				f.checkBatch(b)
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(float64(actions)/elapsed.Seconds(), "actions/s")
			b.ReportMetric(float64(elapsed.Milliseconds())/float64(b.N), "ms/batch")
		})
	}
}

// BenchmarkAsynqNoop measures the queue's own ceiling on the same Redis:
// no-op tasks per second from the first enqueue to the last handler run.
func BenchmarkAsynqNoop(b *testing.B) {
	for _, c := range concurrencies {
		b.Run(fmt.Sprintf("concurrency=%d", c), func(b *testing.B) {
			q := newNoopQueue(b, c)
			b.ResetTimer()
			var elapsed time.Duration
			for i := 0; i < b.N; i++ {
				elapsed += q.run(b, benchNoopTasks)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*benchNoopTasks)/elapsed.Seconds(), "tasks/s")
		})
	}
}

// BenchmarkOneDeparture measures one departure of the example policy with
// 200 ms sandbox latency, from Engine.Open to the case closed with every
// action verified.
func BenchmarkOneDeparture(b *testing.B) {
	d := newDeparture(b, benchLatency)
	b.ResetTimer()
	times := make([]time.Duration, 0, b.N)
	for i := 0; i < b.N; i++ {
		times = append(times, d.run(b))
	}
	b.StopTimer()
	b.ReportMetric(ms(percentile(times, 50)), "ms/p50")
	b.ReportMetric(ms(percentile(times, 99)), "ms/p99")
	b.ReportMetric(ms(d.floor()), "ms/floor")
	b.ReportMetric(float64(d.steps), "steps")
}

// TestBenchmarksSmoke runs a small version of every benchmark so `go test`
// keeps their code paths working.
func TestBenchmarksSmoke(t *testing.T) {
	t.Run("throughput", func(t *testing.T) {
		f := newFleet(t, 5, 8, false)
		for i := 0; i < 2; i++ { // the second batch reopens the same people
			n, _ := f.runBatch(t)
			if n != 5*fleetActions {
				t.Fatalf("batch %d planned %d actions, want %d", i, n, 5*fleetActions)
			}
			f.checkBatch(t)
		}
		if f.kit().TotalEffects() == 0 {
			t.Fatal("no sandbox effects recorded")
		}
	})
	t.Run("asynq noop", func(t *testing.T) {
		q := newNoopQueue(t, 4)
		q.run(t, 50)
		q.run(t, 50)
	})
	t.Run("one departure", func(t *testing.T) {
		d := newDeparture(t, 10*time.Millisecond)
		// BenchmarkOneDeparture is meant as a typical departure of about a
		// dozen actions with dependencies (13 in 5 steps when written).
		if d.actions < 10 || d.steps < 3 {
			t.Fatalf("%s's plan under the example policy has %d actions in %d steps; pick another employee for the benchmark", departureEmployee, d.actions, d.steps)
		}
		d.run(t)
		d.run(t)
	})
}

// ---------------------------------------------------------------------------
// Throughput: a generated fleet of departures.

type fleet struct {
	app    *app.App
	ids    []string
	closed *closeCounter
	// opened counts the cases opened so far (the close target).
	opened int64
	// caseIDs are the cases of the last batch.
	caseIDs []int64
}

// newFleet builds a Kinetic with departures generated employees, zero
// sandbox latency and one worker of the given concurrency, the way a
// deployment's files would: service YAML, policy and directory written to a
// temporary directory and loaded with configs.Load.
func newFleet(tb testing.TB, departures, concurrency int, productionPool bool) *fleet {
	tb.Helper()
	st := store.OpenTest(tb)
	if productionPool && st.Dialect == store.DialectPostgres {
		sqlDB, err := st.DB.DB()
		if err != nil {
			tb.Fatal(err)
		}
		sqlDB.SetMaxOpenConns(productionPoolSize)
		sqlDB.SetMaxIdleConns(productionPoolSize / 2)
	}
	addr, db := testenv.RedisAddr(tb, redisDB)
	dir := tb.TempDir()
	var conns strings.Builder
	for _, sys := range fleetSystems {
		fmt.Fprintf(&conns, "  %s:\n    type: sandbox\n    sandbox: {system: %s}\n", sys, sys)
	}
	svc := fmt.Sprintf(`database: {driver: sqlite, path: %s}
redis: {addr: "%s", db: %d}
directory: {file: directory.json}
policy: policy.yaml
admins: [%s]
workers: {concurrency: %d}
log: {level: warn, format: text}
connectors:
%s`, filepath.Join(dir, "unused.db"), addr, db, fleetAdmin, concurrency, conns.String())
	emps, ids := fleetDirectory(departures)
	writeFile(tb, dir, "kinetic.yaml", svc)
	writeFile(tb, dir, "policy.yaml", fleetPolicy)
	writeFile(tb, dir, "directory.json", emps)
	cfg, err := configs.Load(filepath.Join(dir, "kinetic.yaml"))
	if err != nil {
		tb.Fatalf("loading the benchmark config: %v", err)
	}
	f := &fleet{ids: ids, closed: newCloseCounter()}
	f.app, err = app.Build(context.Background(), cfg, app.Options{Log: testLog(tb), Store: st, Observers: []engine.Observer{f.closed}})
	if err != nil {
		tb.Fatalf("building the app: %v", err)
	}
	tb.Cleanup(f.app.Close)
	if _, err := f.app.StartWorker(); err != nil {
		tb.Fatal(err)
	}
	return f
}

// fleetDirectory generates the admin and n employees with an account in
// every fleet system, as JSON, and returns the employees' ids.
func fleetDirectory(n int) (string, []string) {
	emps := []directory.Employee{{
		ID: fleetAdmin, Email: "admin@bench.test", Name: "Bench Admin", Type: "employee",
		Status: "active", Department: "IT", RoleProfiles: []string{"it-admin"},
	}}
	ids := make([]string, 0, n)
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("D%04d", i)
		user := fmt.Sprintf("user%04d", i)
		email := user + "@bench.test"
		emps = append(emps, directory.Employee{
			ID: id, Email: email, Name: "Departing " + id, Username: user, Type: "employee",
			Status: "active", Manager: fleetAdmin, Department: "Sales",
			Accounts: map[string]string{
				"ad": user, "okta": email, "m365": email,
				"badge": fmt.Sprintf("BDG-%04d", i), "payroll": fmt.Sprintf("PAY-%04d", i),
			},
		})
		ids = append(ids, id)
	}
	data, err := json.MarshalIndent(emps, "", " ")
	if err != nil {
		panic(err) // plain structs always marshal
	}
	return string(data), ids
}

// openers is how many goroutines open cases at once (front ends and HR
// events arrive concurrently).
const openers = 4

// runBatch opens a case for every employee and waits until all are closed.
// It returns the number of actions planned and the time from the first Open
// to the last close.
func (f *fleet) runBatch(tb testing.TB) (actions int, elapsed time.Duration) {
	tb.Helper()
	ctx := context.Background()
	var (
		next  atomic.Int64
		total atomic.Int64
		mu    sync.Mutex
		ids   []int64
		errs  []error
		wg    sync.WaitGroup
	)
	start := time.Now()
	for g := 0; g < openers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(f.ids) {
					return
				}
				o, err := f.app.Engine.Open(ctx, engine.Request{
					EmployeeID: f.ids[i], Requester: fleetAdmin, Trigger: store.TriggerCLI, Reason: "benchmark",
				})
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("opening %s: %w", f.ids[i], err))
				} else {
					ids = append(ids, o.Case.ID)
					total.Add(int64(len(o.Case.Actions)))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		tb.Fatalf("%d of %d opens failed, first: %v", len(errs), len(f.ids), errs[0])
	}
	f.opened += int64(len(ids))
	f.caseIDs = ids
	if err := f.closed.wait(f.opened, batchTimeout); err != nil {
		tb.Fatalf("%v; %s", err, f.openSummary())
	}
	return int(total.Load()), time.Since(start)
}

// checkBatch checks every case of the last batch completed with every
// action verified, and that no sandbox effect happened twice.
func (f *fleet) checkBatch(tb testing.TB) {
	tb.Helper()
	var bad []string
	for _, id := range f.caseIDs {
		c, err := f.app.Store.CaseWithActions(context.Background(), id)
		if err != nil {
			tb.Fatalf("loading case %d: %v", id, err)
		}
		if msg := incomplete(c, fleetActions); msg != "" {
			bad = append(bad, msg)
		}
	}
	if len(bad) > 0 {
		tb.Fatalf("%d of %d cases did not complete cleanly, first:\n%s", len(bad), len(f.caseIDs), bad[0])
	}
	if d := f.kit().DuplicateEffects(); len(d) > 0 {
		tb.Fatalf("%d duplicated sandbox effects, e.g. %s", len(d), d[0])
	}
}

func (f *fleet) kit() *testkit.Kit { return &testkit.Kit{App: f.app} }

func (f *fleet) openSummary() string {
	var rows []struct {
		Status string
		N      int64
	}
	f.app.Store.DB.Model(&store.Action{}).Select("status, count(*) AS n").Group("status").Scan(&rows)
	return fmt.Sprintf("actions by status: %+v", rows)
}

// closeCounter is an engine observer counting closed cases.
type closeCounter struct {
	n  atomic.Int64
	ch chan struct{}
}

func newCloseCounter() *closeCounter { return &closeCounter{ch: make(chan struct{}, 1)} }

// Observe implements engine.Observer; it never blocks.
func (c *closeCounter) Observe(ev engine.Event) {
	if ev.Kind == "case_closed" || ev.Kind == "case_cancelled" {
		c.n.Add(1)
		select {
		case c.ch <- struct{}{}:
		default:
		}
	}
}

// wait blocks until target cases have closed in all.
func (c *closeCounter) wait(target int64, within time.Duration) error {
	timeout := time.NewTimer(within)
	defer timeout.Stop()
	for c.n.Load() < target {
		select {
		case <-c.ch:
		case <-timeout.C:
			return fmt.Errorf("only %d of %d cases closed after %s", c.n.Load(), target, within)
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// The queue's ceiling: asynq no-op tasks.

type noopQueue struct {
	client *asynq.Client
	done   atomic.Int64
	ch     chan struct{}
	target atomic.Int64
	batch  int
}

// newNoopQueue starts an asynq server configured like jobs.NewWorker (same
// queue, concurrency, TaskCheckInterval and DelayedTaskCheckInterval;
// asynq's defaults otherwise) whose handler only counts.
func newNoopQueue(tb testing.TB, concurrency int) *noopQueue {
	tb.Helper()
	addr, db := testenv.RedisAddr(tb, redisDB)
	opt := asynq.RedisClientOpt{Addr: addr, DB: db}
	q := &noopQueue{client: asynq.NewClient(opt), ch: make(chan struct{}, 1)}
	tb.Cleanup(func() { _ = q.client.Close() })
	srv := asynq.NewServer(opt, asynq.Config{
		Concurrency:              concurrency,
		Queues:                   map[string]int{jobs.Queue: 1},
		TaskCheckInterval:        50 * time.Millisecond,
		DelayedTaskCheckInterval: 200 * time.Millisecond,
		ShutdownTimeout:          10 * time.Second,
		Logger:                   testLog(tb).WithField("component", "asynq"),
		LogLevel:                 asynq.WarnLevel,
	})
	err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		if q.done.Add(1) >= q.target.Load() {
			select {
			case q.ch <- struct{}{}:
			default:
			}
		}
		return nil
	}))
	if err != nil {
		tb.Fatalf("starting the asynq server: %v", err)
	}
	tb.Cleanup(srv.Shutdown)
	return q
}

// run enqueues n no-op tasks (with the options the dispatcher uses) from a
// few goroutines and waits until the handler ran them all.
func (q *noopQueue) run(tb testing.TB, n int) time.Duration {
	tb.Helper()
	q.batch++
	target := q.done.Load() + int64(n)
	q.target.Store(target)
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for g := 0; g < openers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				_, err := q.client.Enqueue(asynq.NewTask("bench:noop", []byte(`{"action_id":1,"gen":1}`)),
					asynq.Queue(jobs.Queue), asynq.TaskID(fmt.Sprintf("noop-%d-%d", q.batch, i)), asynq.MaxRetry(20))
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		tb.Fatalf("enqueue: %v", err)
	}
	timeout := time.NewTimer(batchTimeout)
	defer timeout.Stop()
	for q.done.Load() < target {
		select {
		case <-q.ch:
		case <-timeout.C:
			tb.Fatalf("only %d of %d no-op tasks ran after %s", q.done.Load()-(target-int64(n)), n, batchTimeout)
		}
	}
	return time.Since(start)
}

// ---------------------------------------------------------------------------
// One departure under the example policy.

// departureEmployee and departureRequester are from the sample directory:
// Dana Whitfield (Sales, 13 actions) and Priya Raman, the configured admin.
const (
	departureEmployee  = "E1001"
	departureRequester = "E0001"
)

type departure struct {
	app     *app.App
	latency time.Duration
	// steps is the length of the plan's longest chain; actions its size.
	steps, actions int
}

// newDeparture builds the embedded default configuration on the test
// database and Redis, with every sandbox call taking latency and one worker
// (jobs.NewWorker, concurrency 20).
func newDeparture(tb testing.TB, latency time.Duration) *departure {
	tb.Helper()
	cfg, err := configs.Default()
	if err != nil {
		tb.Fatalf("loading the embedded configuration: %v", err)
	}
	addr, db := testenv.RedisAddr(tb, redisDB)
	cfg.Service.Redis.Embedded, cfg.Service.Redis.Addr, cfg.Service.Redis.DB = false, addr, db
	log := testLog(tb)
	a, err := app.Build(context.Background(), cfg, app.Options{Log: log, Store: store.OpenTest(tb)})
	if err != nil {
		tb.Fatalf("building the app: %v", err)
	}
	tb.Cleanup(a.Close)
	for _, name := range a.Connectors.Names() {
		in, _ := a.Connectors.Get(name)
		sb, ok := in.Connector.(*sandbox.Connector)
		if !ok {
			tb.Fatalf("connector %s is a %T, not a sandbox", name, in.Connector)
		}
		sb.SetLatency(latency, 0)
	}
	if _, err := a.StartWorker(); err != nil {
		tb.Fatal(err)
	}
	plan, err := a.Engine.Plan(context.Background(), departureRequest(), true)
	if err != nil {
		tb.Fatalf("planning %s: %v", departureEmployee, err)
	}
	return &departure{app: a, latency: latency, steps: chainSteps(plan), actions: len(plan.Actions)}
}

func departureRequest() engine.Request {
	return engine.Request{EmployeeID: departureEmployee, Requester: departureRequester, Trigger: store.TriggerCLI, Reason: "benchmark"}
}

// floor is the least time a departure can take: one discovery lookup at
// Open, then a Do and a Verify for each step of the longest chain.
func (d *departure) floor() time.Duration {
	return d.latency * time.Duration(1+2*d.steps)
}

// pollInterval is how often run polls the store for the case's status.
const pollInterval = 5 * time.Millisecond

// run opens the departure, polls until the case is closed and checks it
// completed with every action verified. It returns the time from Open to
// the poll that saw the case closed. The case must be closed before the
// next run reopens the same employee; if it does not close in time it is
// cancelled and the benchmark fails.
func (d *departure) run(tb testing.TB) time.Duration {
	tb.Helper()
	ctx := context.Background()
	start := time.Now()
	o, err := d.app.Engine.Open(ctx, departureRequest())
	if err != nil {
		tb.Fatalf("opening %s: %v", departureEmployee, err)
	}
	id := o.Case.ID
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	deadline := time.Now().Add(batchTimeout)
	for {
		var status string
		if err := d.app.Store.DB.WithContext(ctx).Model(&store.Case{}).Select("status").Where("id = ?", id).Scan(&status).Error; err != nil {
			tb.Fatalf("polling case %d: %v", id, err)
		}
		if !store.CaseOpen(status) {
			break
		}
		if time.Now().After(deadline) {
			_ = d.app.Engine.Cancel(ctx, id, "benchmark", "did not close in time")
			c, _ := d.app.Store.CaseWithActions(ctx, id)
			tb.Fatalf("case %d still %s after %s:\n%s", id, status, batchTimeout, engine.Summary(c))
		}
		<-tick.C
	}
	elapsed := time.Since(start)
	if b, ok := tb.(*testing.B); ok {
		b.StopTimer()
		defer b.StartTimer()
	}
	c, err := d.app.Store.CaseWithActions(ctx, id)
	if err != nil {
		tb.Fatalf("loading case %d: %v", id, err)
	}
	if msg := incomplete(c, d.actions); msg != "" {
		tb.Fatal(msg)
	}
	if dups := (&testkit.Kit{App: d.app}).DuplicateEffects(); len(dups) > 0 {
		tb.Fatalf("%d duplicated sandbox effects, e.g. %s", len(dups), dups[0])
	}
	return elapsed
}

// chainSteps is the number of sequential steps in a plan: phases run one
// after another, and inside a phase an action runs a step after the last of
// its same-phase dependencies (a dependency in an earlier phase is already
// settled when the phase opens).
func chainSteps(p *engine.Plan) int {
	phase := map[string]int{}
	deps := map[string][]string{}
	for _, a := range p.Actions {
		phase[a.Name], deps[a.Name] = a.Phase, a.DependsOn
	}
	depth := map[string]int{}
	var depthOf func(name string) int
	depthOf = func(name string) int {
		if d, ok := depth[name]; ok {
			return d
		}
		depth[name] = 1 // the policy loader refuses cycles; this only guards
		d := 1
		for _, dep := range deps[name] {
			if pd, ok := phase[dep]; ok && pd == phase[name] {
				d = max(d, 1+depthOf(dep))
			}
		}
		depth[name] = d
		return d
	}
	longest := map[int]int{}
	for name, ph := range phase {
		longest[ph] = max(longest[ph], depthOf(name))
	}
	steps := 0
	for _, n := range longest {
		steps += n
	}
	return steps
}

// ---------------------------------------------------------------------------
// Helpers

// incomplete describes what is wrong with a closed case that should have
// completed with want actions, all succeeded and verified; "" if nothing.
func incomplete(c *store.Case, want int) string {
	var bad []string
	if c.Status != store.CaseCompleted {
		bad = append(bad, "status "+c.Status)
	}
	if len(c.Actions) != want {
		bad = append(bad, fmt.Sprintf("%d actions, want %d", len(c.Actions), want))
	}
	for _, a := range c.Actions {
		if a.Status != store.ActionSucceeded || !a.Verified {
			bad = append(bad, fmt.Sprintf("%s %s verified=%t", a.Name, a.Status, a.Verified))
		}
	}
	if len(bad) == 0 {
		return ""
	}
	return fmt.Sprintf("case %d (%s): %s\n%s", c.ID, c.EmployeeID, strings.Join(bad, "; "), engine.Summary(c))
}

// percentile returns the p-th percentile (nearest rank) of ds.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := (p*len(s) + 99) / 100 // ceil(p/100 × n)
	return s[max(rank, 1)-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func writeFile(tb testing.TB, dir, name, data string) {
	tb.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// testLog logs warnings and errors to the test's log.
func testLog(tb testing.TB) *logrus.Entry {
	l := logrus.New()
	l.Out = tbWriter{tb}
	l.Level = logrus.WarnLevel
	return logrus.NewEntry(l)
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
