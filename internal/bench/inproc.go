package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/connectors/sandbox"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/app"
	"github.com/kineticsec/kinetic/internal/compose"
	"github.com/kineticsec/kinetic/jobs"
	"github.com/kineticsec/kinetic/store"
)

// Backend is where a scenario keeps its data: PostgreSQL and Redis, or
// the embedded default's SQLite file and in-process Redis.
type Backend struct {
	// PostgresDSN points at a server on which each scenario creates (and
	// afterwards drops) a scratch database. Empty: SQLite in Dir.
	PostgresDSN string
	// RedisAddr and RedisDB: a Redis database the benchmark may flush.
	// Empty RedisAddr: an in-process Redis per scenario.
	RedisAddr string
	RedisDB   int
	// Dir holds SQLite files and scenario files.
	Dir string
}

// Name is "postgres+redis" or "embedded (sqlite + in-process redis)".
func (b Backend) Name() string {
	if b.PostgresDSN != "" {
		return "postgres+redis"
	}
	return "embedded (sqlite + in-process redis)"
}

// database returns a fresh database for one scenario: its DSN (empty for
// SQLite) or SQLite path, and a cleanup.
func (b Backend) database(ctx context.Context, name string) (dsn, path string, cleanup func(), err error) {
	if b.PostgresDSN == "" {
		dir := filepath.Join(b.Dir, name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", "", nil, err
		}
		return "", filepath.Join(dir, "kinetic.db"), func() {}, nil
	}
	dsn, drop, err := store.CreateScratchDatabase(ctx, b.PostgresDSN, "kinetic_bench_")
	if err != nil {
		return "", "", nil, fmt.Errorf("creating a scratch database: %w", err)
	}
	return dsn, "", func() { _ = drop() }, nil
}

// openStore opens and migrates a fresh database for one scenario.
func (b Backend) openStore(ctx context.Context, name string, pool int) (*store.Store, func(), error) {
	dsn, path, cleanup, err := b.database(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	driver := store.DialectSQLite
	if dsn != "" {
		driver = store.DialectPostgres
	}
	st, err := store.Open(ctx, store.Options{Driver: driver, DSN: dsn, Path: path})
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	_ = st.SetPool(pool) // as before, a pool that cannot be sized keeps its defaults
	if err := st.Migrate(ctx); err != nil {
		_ = st.Close()
		cleanup()
		return nil, nil, err
	}
	return st, func() { _ = st.Close(); cleanup() }, nil
}

// redis returns a Redis for one scenario: the configured database, flushed
// first, or a new in-process one.
func (b Backend) redis(ctx context.Context) (addr string, db int, cleanup func(), err error) {
	if b.RedisAddr == "" {
		m, err := miniredis.Run()
		if err != nil {
			return "", 0, nil, err
		}
		return m.Addr(), 0, m.Close, nil
	}
	if err := b.flushRedis(ctx); err != nil {
		return "", 0, nil, err
	}
	return b.RedisAddr, b.RedisDB, func() {}, nil
}

func (b Backend) flushRedis(ctx context.Context) error {
	rdb := redis.NewClient(&redis.Options{Addr: b.RedisAddr, DB: b.RedisDB})
	defer func() { _ = rdb.Close() }()
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		return fmt.Errorf("flushing redis %s db %d: %w", b.RedisAddr, b.RedisDB, err)
	}
	return nil
}

// quietLog logs warnings and errors to w.
func quietLog(w io.Writer) *logrus.Entry {
	l := logrus.New()
	l.Out = w
	l.Level = logrus.WarnLevel
	return logrus.NewEntry(l)
}

// ---------------------------------------------------------------------------
// Throughput: a generated fleet of departures with zero-latency sandboxes.

// FleetActions is how many actions FleetPolicy plans per employee.
const FleetActions = 6

// fleetSystems are the sandbox systems every generated employee has an
// account in.
var fleetSystems = []System{{Name: "ad"}, {Name: "okta"}, {Name: "m365"}, {Name: "badge"}, {Name: "payroll"}}

// FleetPolicy gives every generated employee six actions, one or two in
// each fleet system, over three phases, with a dependency inside the
// critical phase.
const FleetPolicy = `version: 1
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

// Fleet is a Kinetic in this process with generated departing employees,
// zero-latency sandbox connectors and one worker.
type Fleet struct {
	inProc
	ids     []string
	closed  *closeCounter
	opened  int64
	caseIDs []int64
}

// inProc is a Kinetic built in this process on a scenario's own database
// and Redis.
type inProc struct {
	App     *app.App
	cleanup []func()
}

// backing opens a fresh database (with pool connections on PostgreSQL) and
// a Redis for the scenario; Close releases them.
func (p *inProc) backing(ctx context.Context, b Backend, name string, pool int) (*store.Store, string, int, error) {
	st, closeStore, err := b.openStore(ctx, name, pool)
	if err != nil {
		return nil, "", 0, err
	}
	p.cleanup = append(p.cleanup, closeStore)
	addr, db, closeRedis, err := b.redis(ctx)
	if err != nil {
		return nil, "", 0, err
	}
	p.cleanup = append(p.cleanup, closeRedis)
	return st, addr, db, nil
}

// Close stops the app's worker and releases its database and Redis.
func (p *inProc) Close() {
	if p.App != nil {
		p.App.Close()
	}
	for i := len(p.cleanup) - 1; i >= 0; i-- {
		p.cleanup[i]()
	}
	p.cleanup = nil
}

// productionPoolSize is store's PostgreSQL pool size in production: the
// throughput figures are for it, not for the smaller test pool.
const productionPoolSize = 20

// NewFleet builds a fleet of departures employees on backend b, the way a
// deployment's files would be loaded (service YAML, policy and directory
// written to a directory and read by compose.Load).
func NewFleet(ctx context.Context, b Backend, departures, concurrency int, log io.Writer) (f *Fleet, err error) {
	f = &Fleet{closed: newCloseCounter()}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	st, addr, db, err := f.backing(ctx, b, "fleet", productionPoolSize)
	if err != nil {
		return f, err
	}
	dir, err := os.MkdirTemp(b.Dir, "fleet-")
	if err != nil {
		return f, err
	}
	var conns strings.Builder
	for _, s := range fleetSystems {
		fmt.Fprintf(&conns, "  %s:\n    type: sandbox\n    sandbox: {system: %s}\n", s.Name, s.Name)
	}
	svc := fmt.Sprintf(`database: {driver: sqlite, path: %s}
redis: {addr: "%s", db: %d}
directory: {file: directory.json}
policy: policy.yaml
admins: [%s]
workers: {concurrency: %d}
log: {level: warn, format: text}
connectors:
%s`, filepath.Join(dir, "unused.db"), addr, db, ClusterAdmin, concurrency, conns.String())
	emps := generateDirectory(departures, fleetSystems)
	data, _ := json.MarshalIndent(emps, "", " ")
	for name, body := range map[string]string{"kinetic.yaml": svc, "policy.yaml": FleetPolicy, "directory.json": string(data)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			return f, err
		}
	}
	cfg, err := compose.Load(filepath.Join(dir, "kinetic.yaml"))
	if err != nil {
		return f, fmt.Errorf("loading the fleet's config: %w", err)
	}
	for i := 1; i <= departures; i++ {
		f.ids = append(f.ids, Employee(i))
	}
	f.App, err = app.Build(ctx, cfg, app.Options{Log: quietLog(log), Store: st, Observers: []engine.Observer{f.closed}})
	if err != nil {
		return f, fmt.Errorf("building the app: %w", err)
	}
	if _, err := f.App.StartWorker(); err != nil {
		return f, err
	}
	return f, nil
}

// openers is how many goroutines open cases at once (front ends and HR
// events arrive concurrently).
const openers = 4

// RunBatch opens a case for every employee and waits until all are closed
// (within timeout). It returns the number of actions planned and the time
// from the first Open to the last close.
func (f *Fleet) RunBatch(ctx context.Context, timeout time.Duration) (actions int, elapsed time.Duration, err error) {
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
				o, err := f.App.Engine.Open(ctx, engine.Request{
					EmployeeID: f.ids[i], Requester: ClusterAdmin, Trigger: store.TriggerCLI, Reason: "benchmark",
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
		return 0, 0, fmt.Errorf("%d of %d opens failed, first: %w", len(errs), len(f.ids), errs[0])
	}
	f.opened += int64(len(ids))
	f.caseIDs = ids
	if err := f.closed.wait(f.opened, timeout); err != nil {
		return 0, 0, fmt.Errorf("%v; %s", err, f.summary())
	}
	return int(total.Load()), time.Since(start), nil
}

// CheckBatch checks every case of the last batch completed with every
// action verified, and that no sandbox effect happened twice.
func (f *Fleet) CheckBatch(ctx context.Context) error {
	var bad []string
	for _, id := range f.caseIDs {
		c, err := f.App.Store.CaseWithActions(ctx, id)
		if err != nil {
			return fmt.Errorf("loading case %d: %w", id, err)
		}
		if msg := Incomplete(c, FleetActions); msg != "" {
			bad = append(bad, msg)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d of %d cases did not complete cleanly, first:\n%s", len(bad), len(f.caseIDs), bad[0])
	}
	if d := DuplicateEffects(f.App); len(d) > 0 {
		return fmt.Errorf("%d duplicated sandbox effects, e.g. %s", len(d), d[0])
	}
	return nil
}

func (f *Fleet) summary() string {
	counts, _ := f.App.Store.ActionStatusCounts(context.Background())
	return fmt.Sprintf("actions by status: %v", counts)
}

// DuplicateEffects lists effects an app's in-process sandboxes recorded
// twice (same system, operation, account and change); see
// sandbox.DuplicateEffects.
func DuplicateEffects(a *app.App) []string {
	return sandbox.DuplicateEffects(sandbox.InRegistry(a.Connectors))
}

// closeCounter is an engine observer counting closed cases.
type closeCounter struct {
	n  atomic.Int64
	ch chan struct{}
}

func newCloseCounter() *closeCounter { return &closeCounter{ch: make(chan struct{}, 1)} }

// Observe implements engine.Observer; it never blocks.
func (c *closeCounter) Observe(ev engine.Event) {
	if ev.Kind == engine.EventCaseClosed || ev.Kind == engine.EventCaseCancelled {
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

// NoopQueue is an asynq server configured like jobs.NewWorker (same queue,
// concurrency, TaskCheckInterval and DelayedTaskCheckInterval; asynq's
// defaults otherwise) whose handler only counts.
type NoopQueue struct {
	client  *asynq.Client
	srv     *asynq.Server
	done    atomic.Int64
	ch      chan struct{}
	target  atomic.Int64
	batch   int
	cleanup func()
}

// NewNoopQueue starts the no-op queue on backend b's Redis.
func NewNoopQueue(ctx context.Context, b Backend, concurrency int, log io.Writer) (*NoopQueue, error) {
	addr, db, cleanup, err := b.redis(ctx)
	if err != nil {
		return nil, err
	}
	opt := asynq.RedisClientOpt{Addr: addr, DB: db}
	q := &NoopQueue{client: asynq.NewClient(opt), ch: make(chan struct{}, 1), cleanup: cleanup}
	q.srv = asynq.NewServer(opt, asynq.Config{
		Concurrency:              concurrency,
		Queues:                   map[string]int{jobs.Queue: 1},
		TaskCheckInterval:        jobs.TaskCheckInterval,
		DelayedTaskCheckInterval: jobs.DelayedTaskCheckInterval,
		ShutdownTimeout:          10 * time.Second,
		Logger:                   quietLog(log).WithField("component", "asynq"),
		LogLevel:                 asynq.WarnLevel,
	})
	err = q.srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		if q.done.Add(1) >= q.target.Load() {
			select {
			case q.ch <- struct{}{}:
			default:
			}
		}
		return nil
	}))
	if err != nil {
		_ = q.client.Close()
		cleanup()
		return nil, fmt.Errorf("starting the asynq server: %w", err)
	}
	return q, nil
}

// Close stops the server.
func (q *NoopQueue) Close() {
	q.srv.Shutdown()
	_ = q.client.Close()
	q.cleanup()
}

// Run enqueues n no-op tasks (with the options the dispatcher uses) from a
// few goroutines and waits until the handler ran them all.
func (q *NoopQueue) Run(n int, timeout time.Duration) (time.Duration, error) {
	q.batch++
	target := q.done.Load() + int64(n)
	q.target.Store(target)
	var next atomic.Int64
	var firstErr firstError
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
					firstErr.set(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := firstErr.get(); err != nil {
		return 0, fmt.Errorf("enqueue: %w", err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for q.done.Load() < target {
		select {
		case <-q.ch:
		case <-t.C:
			return 0, fmt.Errorf("only %d of %d no-op tasks ran after %s", q.done.Load()-(target-int64(n)), n, timeout)
		}
	}
	return time.Since(start), nil
}

// ---------------------------------------------------------------------------
// One departure under the example policy.

// DepartureEmployee and departureRequester are from the sample directory:
// Dana Whitfield (Sales, 13 actions) and Priya Raman, the configured admin.
const (
	DepartureEmployee  = "E1001"
	departureRequester = "E0001"
)

// Departure is the embedded default configuration in this process with
// every sandbox call taking Latency and one worker (jobs.NewWorker,
// concurrency 20).
type Departure struct {
	inProc
	Latency time.Duration
	// Steps is the length of the plan's longest chain; Actions its size.
	Steps, Actions int
}

// NewDeparture builds it on backend b.
func NewDeparture(ctx context.Context, b Backend, latency time.Duration, log io.Writer) (d *Departure, err error) {
	d = &Departure{Latency: latency}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	cfg, err := compose.Default()
	if err != nil {
		return d, fmt.Errorf("loading the embedded configuration: %w", err)
	}
	st, addr, db, err := d.backing(ctx, b, "departure", 0)
	if err != nil {
		return d, err
	}
	cfg.Service.Redis.Embedded, cfg.Service.Redis.Addr, cfg.Service.Redis.DB = false, addr, db
	d.App, err = app.Build(ctx, cfg, app.Options{Log: quietLog(log), Store: st})
	if err != nil {
		return d, fmt.Errorf("building the app: %w", err)
	}
	for _, name := range d.App.Connectors.Names() {
		in, _ := d.App.Connectors.Get(name)
		sb, ok := in.Connector.(*sandbox.Connector)
		if !ok {
			return d, fmt.Errorf("connector %s is a %T, not a sandbox", name, in.Connector)
		}
		sb.SetLatency(latency, 0)
	}
	if _, err := d.App.StartWorker(); err != nil {
		return d, err
	}
	plan, err := d.App.Engine.Plan(ctx, departureRequest(), true)
	if err != nil {
		return d, fmt.Errorf("planning %s: %w", DepartureEmployee, err)
	}
	d.Steps, d.Actions = ChainSteps(plan), len(plan.Actions)
	return d, nil
}

func departureRequest() engine.Request {
	return engine.Request{EmployeeID: DepartureEmployee, Requester: departureRequester, Trigger: store.TriggerCLI, Reason: "benchmark"}
}

// Floor is the least time a departure can take: one discovery lookup at
// Open, then a Do and a Verify for each step of the longest chain.
func (d *Departure) Floor() time.Duration {
	return d.Latency * time.Duration(1+2*d.Steps)
}

// pollInterval is how often Run polls the store for the case's status.
const pollInterval = 5 * time.Millisecond

// Run opens the departure, polls until every action has settled (the
// access work), then recovers its devices untimed so the case closes, and
// checks it completed with every action verified and no effect twice. It
// returns the time from Open to the poll that saw every action settled. A
// case that does not settle within timeout is cancelled (so the next run
// can reopen the employee) and reported.
func (d *Departure) Run(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	o, err := d.App.Engine.Open(ctx, departureRequest())
	if err != nil {
		return 0, fmt.Errorf("opening %s: %w", DepartureEmployee, err)
	}
	id := o.Case.ID
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	deadline := time.Now().Add(timeout)
	for {
		status, err := d.App.Store.CaseStatus(ctx, id)
		if err != nil {
			return 0, fmt.Errorf("polling case %d: %w", id, err)
		}
		if !store.CaseOpen(status) {
			break
		}
		if status == store.CaseRunning {
			// Every action settled is the end of the access work (the
			// completion gate then waits for the person's devices,
			// which recoverEquipment returns below, untimed).
			if settled, err := d.App.Store.CaseActionsSettled(ctx, id); err != nil {
				return 0, fmt.Errorf("polling case %d: %w", id, err)
			} else if settled {
				break
			}
		}
		if time.Now().After(deadline) {
			_ = d.App.Engine.Cancel(ctx, id, "benchmark", "did not close in time")
			c, _ := d.App.Store.CaseWithActions(ctx, id)
			return 0, fmt.Errorf("case %d still %s after %s:\n%s", id, status, timeout, engine.Summary(c))
		}
		<-tick.C
	}
	elapsed := time.Since(start)
	if err := d.recoverEquipment(ctx, id, deadline); err != nil {
		return 0, err
	}
	c, err := d.App.Store.CaseWithActions(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("loading case %d: %w", id, err)
	}
	if msg := Incomplete(c, d.Actions); msg != "" {
		return 0, errors.New(msg)
	}
	if dups := DuplicateEffects(d.App); len(dups) > 0 {
		return 0, fmt.Errorf("%d duplicated sandbox effects, e.g. %s", len(dups), dups[0])
	}
	return elapsed, nil
}

// recoverEquipment records every device of case id returned and disposed
// of, as the requester (an admin may move any team's task), and waits
// until the case closes: the departure's devices keep it open (the
// completion gate), and the next run reopens the same employee.
func (d *Departure) recoverEquipment(ctx context.Context, id int64, deadline time.Time) error {
	tasks, err := d.App.Store.EquipmentTasks(ctx, id)
	if err != nil {
		return fmt.Errorf("loading case %d's equipment: %w", id, err)
	}
	for _, t := range tasks {
		for _, to := range []string{store.EquipmentReturnRequested, store.EquipmentReceived, store.EquipmentWiped, store.EquipmentDisposed} {
			m := engine.EquipmentMove{TaskID: t.ID, To: to, Actor: departureRequester, Note: "benchmark"}
			if to == store.EquipmentDisposed {
				m.Reference = "BENCH-" + t.AssetTag
			}
			if _, err := d.App.Engine.MoveEquipment(ctx, m); err != nil {
				return fmt.Errorf("case %d: moving %s to %s: %w", id, t.AssetTag, to, err)
			}
		}
	}
	for {
		status, err := d.App.Store.CaseStatus(ctx, id)
		if err != nil {
			return fmt.Errorf("polling case %d: %w", id, err)
		}
		if !store.CaseOpen(status) {
			return nil
		}
		if time.Now().After(deadline) {
			c, _ := d.App.Store.CaseWithActions(ctx, id)
			return fmt.Errorf("case %d still %s after its devices were disposed of:\n%s", id, status, engine.Summary(c))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

// ChainSteps is the number of sequential steps in a plan: phases run one
// after another, and inside a phase an action runs a step after the last of
// its same-phase dependencies (a dependency in an earlier phase is already
// settled when the phase opens).
func ChainSteps(p *engine.Plan) int {
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

// Incomplete describes what is wrong with a closed case that should have
// completed with want actions, all succeeded and verified; "" if nothing.
func Incomplete(c *store.Case, want int) string {
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

// Percentile returns the p-th percentile (nearest rank) of ds.
func Percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := (p*len(s) + 99) / 100 // ceil(p/100 × n)
	return s[max(rank, 1)-1]
}

// Ms is d in milliseconds.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
