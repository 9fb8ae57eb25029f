package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kineticsec/kinetic/connectors/sandbox"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/internal/dur"
	"github.com/kineticsec/kinetic/store"
)

// System is one simulated downstream system of a Cluster: a sandbox
// instance hosted by the cluster's sandbox server, and the budget Kinetic
// is configured to keep to.
type System struct {
	// Name is the connector instance name (and the sandbox system unless
	// Kind says otherwise).
	Name, Kind string
	// Latency and Jitter of every call, on the server side.
	Latency, Jitter time.Duration
	// VendorRPM is the simulated system's own limit (requests per minute,
	// sliding window; past it calls get 429). Zero: none.
	VendorRPM int
	// BudgetRPM is Kinetic's rate_limit for the connector (requests per
	// minute, shared by every worker). Zero: none.
	BudgetRPM int
}

// ClusterOptions describe a Cluster.
type ClusterOptions struct {
	// Binary is the kinetic executable the processes run.
	Binary string
	// Dir holds the configuration, the directory, the SQLite file and the
	// processes' logs.
	Dir string
	// PostgresDSN is the database (which the cluster owns: it is not
	// emptied); empty means SQLite in Dir.
	PostgresDSN string
	// RedisAddr and RedisDB are the shared Redis; empty RedisAddr means the
	// embedded one, which lives inside kinetic serve, so such a cluster
	// has no separate worker processes.
	RedisAddr string
	RedisDB   int
	// Employees is how many departing employees the generated directory
	// holds (ids from Employee(1)).
	Employees int
	Systems   []System
	// Policy is the policy YAML.
	Policy string
	// Concurrency, Lease and Sweep are the workers' settings (defaults 20,
	// 10s, 5s).
	Concurrency  int
	Lease, Sweep time.Duration
	// ShutdownGrace is workers.shutdown_grace; zero leaves the default
	// (20s).
	ShutdownGrace time.Duration
	// Env is added to every process's environment (the Slack front end's
	// KINETIC_SLACK_*).
	Env []string
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Cluster is a Kinetic deployment of separate processes — kinetic serve
// and kinetic worker, started from Binary — over one database and one
// Redis. Its downstream systems are sandbox instances hosted by this
// process (a sandbox.Server reached over HTTP), so their record of effects
// outlives any Kinetic process: killing a worker cannot lose or hide an
// effect.
type Cluster struct {
	o          ClusterOptions
	ConfigPath string
	// Sandbox hosts the systems; its connectors' Effects and Stats are the
	// ground truth of what happened downstream.
	Sandbox *sandbox.Server
	// Systems are the sandbox server's instances by name.
	Systems map[string]*sandbox.Connector
	sbSrv   *http.Server
	// Token is the API token the processes accept (as client "cli").
	Token string
	// ServeURL is kinetic serve's base URL once started.
	ServeURL string
	Serve    *Proc
	Workers  []*Proc
	store    *store.Store
	client   *http.Client
	nextProc atomic.Int64
}

// Employee is the id of the i-th generated departing employee (from 1).
func Employee(i int) string { return fmt.Sprintf("D%05d", i) }

// ClusterAdmin is the generated directory's admin.
const ClusterAdmin = "A0000"

// NewCluster writes the configuration and starts the sandbox server. No
// Kinetic process runs until StartServe.
func NewCluster(o ClusterOptions) (*Cluster, error) {
	if o.Concurrency == 0 {
		o.Concurrency = 20
	}
	if o.Lease == 0 {
		o.Lease = 10 * time.Second
	}
	if o.Sweep == 0 {
		o.Sweep = 5 * time.Second
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	c := &Cluster{o: o, Token: "bench-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	emps := generateDirectory(o.Employees, o.Systems)
	data, err := json.MarshalIndent(emps, "", " ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(o.Dir, "directory.json"), data, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(o.Dir, "policy.yaml"), []byte(o.Policy), 0o600); err != nil {
		return nil, err
	}
	var conns []*sandbox.Connector
	c.Systems = map[string]*sandbox.Connector{}
	for _, s := range o.Systems {
		sc, err := sandbox.New(s.Name, sandbox.Config{System: s.kind(), Latency: dur.Duration(s.Latency),
			Jitter: dur.Duration(s.Jitter), RateLimit: s.VendorRPM})
		if err != nil {
			return nil, err
		}
		sc.SeedEmployees(emps)
		conns = append(conns, sc)
		c.Systems[s.Name] = sc
	}
	c.Sandbox = sandbox.NewServer(conns...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c.sbSrv = &http.Server{Handler: c.Sandbox, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = c.sbSrv.Serve(ln) }()
	sbURL := "http://" + ln.Addr().String()

	var cfg strings.Builder
	// simulated: every system is a sandbox instance, which kinetic serve
	// and worker accept only from a file that says so.
	fmt.Fprintf(&cfg, "# Written by kinetic bench.\nsimulated: true\nhttp: {addr: 127.0.0.1:0}\n")
	if o.PostgresDSN != "" {
		cfg.WriteString("database: {driver: postgres, dsn: {env: KINETIC_BENCH_DATABASE_DSN}}\n")
	} else {
		fmt.Fprintf(&cfg, "database: {driver: sqlite, path: %s}\n", filepath.Join(o.Dir, "kinetic.db"))
	}
	if o.RedisAddr != "" {
		fmt.Fprintf(&cfg, "redis: {addr: %q, db: %d}\n", o.RedisAddr, o.RedisDB)
	} else {
		cfg.WriteString("redis: {embedded: true}\n")
	}
	grace := ""
	if o.ShutdownGrace > 0 {
		grace = ", shutdown_grace: " + o.ShutdownGrace.String()
	}
	fmt.Fprintf(&cfg, `directory: {file: directory.json}
policy: policy.yaml
admins: [%s]
workers: {concurrency: %d, lease: %s, sweep_interval: %s%s}
outbound: {allow_cidrs: [127.0.0.1/32]}
log: {level: warn, format: json}
connectors:
`, ClusterAdmin, o.Concurrency, o.Lease, o.Sweep, grace)
	for _, s := range o.Systems {
		fmt.Fprintf(&cfg, "  %s:\n    type: sandbox\n", s.Name)
		if s.BudgetRPM > 0 {
			fmt.Fprintf(&cfg, "    rate_limit: {requests: %d, per: 1m}\n", s.BudgetRPM)
		}
		fmt.Fprintf(&cfg, "    sandbox: {system: %s, url: %q}\n", s.kind(), sbURL)
	}
	c.ConfigPath = filepath.Join(o.Dir, "kinetic.yaml")
	if err := os.WriteFile(c.ConfigPath, []byte(cfg.String()), 0o600); err != nil {
		return nil, err
	}
	return c, nil
}

func (s System) kind() string {
	if s.Kind != "" {
		return s.Kind
	}
	return s.Name
}

// generateDirectory is the admin and n departing employees, each with an
// account in every system.
func generateDirectory(n int, systems []System) []directory.Employee {
	emps := []directory.Employee{{
		ID: ClusterAdmin, Email: "admin@bench.test", Name: "Bench Admin", Type: "employee",
		Status: "active", Department: "IT", RoleProfiles: []string{"it-admin"},
	}}
	for i := 1; i <= n; i++ {
		id := Employee(i)
		user := strings.ToLower(id)
		email := user + "@bench.test"
		accts := map[string]string{}
		for _, s := range systems {
			switch s.kind() {
			case "ad", "vpn", "aws":
				accts[s.Name] = user
			case "badge":
				accts[s.Name] = "BDG-" + id
			case "payroll":
				accts[s.Name] = "PAY-" + id
			default:
				accts[s.Name] = email
			}
		}
		emps = append(emps, directory.Employee{
			ID: id, Email: email, Name: "Departing " + id, Username: user, Type: "employee",
			Status: "active", Manager: ClusterAdmin, Department: "Sales", Accounts: accts,
		})
	}
	return emps
}

// Proc is one Kinetic process of a cluster.
type Proc struct {
	Name string
	// Addr is its HTTP address (probes and metrics; the API for serve).
	Addr string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	// peak resident set size seen, in KiB (VmHWM, sampled).
	peakKiB atomic.Int64
}

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// PeakRSS is the highest resident set size the process reached, in bytes
// (the kernel's VmHWM, read while it ran).
func (p *Proc) PeakRSS() int64 { return p.peakKiB.Load() * 1024 }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// StartServe starts kinetic serve and waits until it answers /readyz.
func (c *Cluster) StartServe(ctx context.Context) error {
	p, err := c.start(ctx, "serve")
	if err != nil {
		return err
	}
	c.Serve, c.ServeURL = p, "http://"+p.Addr
	if c.store == nil {
		if c.store, err = c.openStore(ctx); err != nil {
			return err
		}
	}
	return nil
}

// StartWorker starts one more kinetic worker process.
func (c *Cluster) StartWorker(ctx context.Context) (*Proc, error) {
	if c.o.RedisAddr == "" {
		return nil, errors.New("a cluster on the embedded Redis has no worker processes")
	}
	p, err := c.start(ctx, "worker")
	if err != nil {
		return nil, err
	}
	c.Workers = append(c.Workers, p)
	return p, nil
}

func (c *Cluster) start(ctx context.Context, cmd string) (*Proc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	n := c.nextProc.Add(1)
	p := &Proc{Name: fmt.Sprintf("%s-%d", cmd, n), Addr: addr, done: make(chan struct{})}
	logf, err := os.Create(filepath.Join(c.o.Dir, p.Name+".log"))
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(c.o.Binary, cmd, "--config", c.ConfigPath, "--addr", addr)
	p.cmd.Dir = c.o.Dir
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.Env = append(cleanEnv(), "KINETIC_API_TOKEN="+c.Token, "KINETIC_BENCH_DATABASE_DSN="+c.o.PostgresDSN)
	p.cmd.Env = append(p.cmd.Env, c.o.Env...)
	p.cmd.SysProcAttr = procAttr()
	if err := p.cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("starting %s: %w", p.Name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		_ = logf.Close()
		close(p.done)
	}()
	go p.sampleRSS()
	if err := c.waitHealthy(ctx, p); err != nil {
		c.Kill(p)
		return nil, err
	}
	fmt.Fprintf(c.o.Log, "  started %s (pid %d) on %s\n", p.Name, p.PID(), addr)
	return p, nil
}

// cleanEnv is this process's environment without KINETIC_* variables, so
// a developer's settings do not leak into the cluster's processes.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KINETIC_") {
			env = append(env, kv)
		}
	}
	return env
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// waitHealthy polls the process's /readyz (serve) or /healthz (worker)
// until it answers 200, the process exits or a minute passes.
func (c *Cluster) waitHealthy(ctx context.Context, p *Proc) error {
	path := "/healthz"
	if strings.HasPrefix(p.Name, "serve") {
		path = "/readyz"
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if p.Exited() {
			return fmt.Errorf("%s exited at start (%v); its log:\n%s", p.Name, p.err, c.tail(p, 20))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.Addr+path, nil)
		if resp, err := c.client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not healthy after a minute; its log:\n%s", p.Name, c.tail(p, 20))
}

// tail returns the last n lines of the process's log.
func (c *Cluster) tail(p *Proc, n int) string {
	data, _ := os.ReadFile(filepath.Join(c.o.Dir, p.Name+".log"))
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// sampleRSS reads the kernel's high-water mark of the process's resident
// set every 200 ms until it exits.
func (p *Proc) sampleRSS() {
	path := fmt.Sprintf("/proc/%d/status", p.PID())
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if kib := procKiB(path, "VmHWM"); kib > p.peakKiB.Load() {
			p.peakKiB.Store(kib)
		}
		select {
		case <-p.done:
			return
		case <-tick.C:
		}
	}
}

// procKiB reads a "Key:   1234 kB" line of a /proc file (status, meminfo);
// 0 when the file or the key is missing.
func procKiB(path, key string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			kib, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kib
		}
	}
	return 0
}

// Kill sends SIGKILL (kill -9) and waits until the process is gone.
func (c *Cluster) Kill(p *Proc) {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Terminate sends SIGTERM (Kubernetes' stop signal) and returns at once;
// Exited and Wait tell when the process has gone.
func (c *Cluster) Terminate(p *Proc) error { return p.cmd.Process.Signal(syscall.SIGTERM) }

// Wait waits until the process has exited or ctx ends, and returns its
// exit error (nil for exit status 0).
func (p *Proc) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop asks the process to stop (SIGTERM) and waits up to 30 s before
// killing it.
func (c *Cluster) Stop(p *Proc) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		c.Kill(p)
	}
}

// Close stops every process and the sandbox server and closes the
// cluster's database connection.
func (c *Cluster) Close() {
	var wg sync.WaitGroup
	for _, p := range append(slices.Clone(c.Workers), c.Serve) {
		if p == nil || p.Exited() {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); c.Stop(p) }()
	}
	wg.Wait()
	if c.sbSrv != nil {
		_ = c.sbSrv.Close()
	}
	if c.store != nil {
		_ = c.store.Close()
	}
}

// Store is the cluster's own connection to its database (for reading
// progress and results).
func (c *Cluster) Store() *store.Store { return c.store }

func (c *Cluster) openStore(ctx context.Context) (*store.Store, error) {
	if c.o.PostgresDSN != "" {
		return store.Open(ctx, store.Options{Driver: store.DialectPostgres, DSN: c.o.PostgresDSN})
	}
	return store.Open(ctx, store.Options{Driver: store.DialectSQLite, Path: filepath.Join(c.o.Dir, "kinetic.db")})
}

// OpenResult counts what OpenCases did.
type OpenResult struct {
	Opened int
	// Retried counts requests sent again after a connection error or a
	// 5xx (each carries the same idempotency key, so a retry never opens a
	// second case).
	Retried int
	Elapsed time.Duration
}

// OpenCases asks kinetic serve's API to offboard employees 1..n, from
// concurrency clients at once, as an HR system would: each request carries
// an idempotency key and is retried until it is answered 201 or 200 (the
// case exists) or ctx ends. key distinguishes rounds over the same people.
func (c *Cluster) OpenCases(ctx context.Context, n, concurrency int, key string) (OpenResult, error) {
	var (
		next    atomic.Int64
		retried atomic.Int64
		opened  atomic.Int64
		first   firstError
		wg      sync.WaitGroup
	)
	start := time.Now()
	for g := 0; g < concurrency; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i > n || ctx.Err() != nil {
					return
				}
				body, _ := json.Marshal(map[string]any{"employee_id": Employee(i), "reason": "bench",
					"idempotency_key": fmt.Sprintf("%s-%d", key, i)})
				for attempt := 0; ; attempt++ {
					status, msg, err := c.post(ctx, "/api/v1/cases", body)
					if err == nil && (status == http.StatusCreated || status == http.StatusOK) {
						opened.Add(1)
						break
					}
					if err == nil && status < 500 && status != http.StatusTooManyRequests {
						first.set(fmt.Errorf("opening %s: %d %s", Employee(i), status, msg))
						return
					}
					if ctx.Err() != nil {
						first.set(fmt.Errorf("opening %s: %w (last: %v %d %s)", Employee(i), ctx.Err(), err, status, msg))
						return
					}
					retried.Add(1)
					select {
					case <-ctx.Done():
					case <-time.After(time.Duration(min(attempt+1, 10)) * 100 * time.Millisecond):
					}
				}
			}
		}()
	}
	wg.Wait()
	res := OpenResult{Opened: int(opened.Load()), Retried: int(retried.Load()), Elapsed: time.Since(start)}
	if err := first.get(); err != nil {
		return res, err
	}
	return res, nil
}

func (c *Cluster) post(ctx context.Context, path string, body []byte) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.ServeURL+path, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, strings.TrimSpace(string(msg)), nil
}

// Progress counts cases and actions by status.
type Progress struct {
	Cases, OpenCases int64
	Actions          map[string]int64
}

// Progress reads the database. Errors (the database restarting) are
// returned, not fatal.
func (c *Cluster) Progress(ctx context.Context) (Progress, error) {
	var p Progress
	var err error
	if p.Cases, p.OpenCases, err = c.store.CaseCounts(ctx); err != nil {
		return p, err
	}
	if p.Actions, err = c.store.ActionStatusCounts(ctx); err != nil {
		p.Actions = nil
		return p, err
	}
	return p, nil
}

func (p Progress) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(p.Actions)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, p.Actions[k]))
	}
	return fmt.Sprintf("%d cases (%d open); actions: %s", p.Cases, p.OpenCases, strings.Join(parts, ", "))
}

// WaitSettled polls until want cases exist and none is open, or ctx ends.
// every is called with each reading (progress lines, fault injection).
func (c *Cluster) WaitSettled(ctx context.Context, want int64, every func(Progress)) (Progress, error) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var last Progress
	for {
		p, err := c.Progress(ctx)
		if err == nil {
			last = p
			if every != nil {
				every(p)
			}
			if p.Cases >= want && p.OpenCases == 0 {
				return p, nil
			}
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("not settled: %s: %w", last, ctx.Err())
		case <-tick.C:
		}
	}
}

// Outcome is the check of a finished run against the sandbox's record.
type Outcome struct {
	Cases, Actions int
	// Incomplete lists cases that did not complete with every action
	// succeeded and verified.
	Incomplete []string
	// Lost lists succeeded actions whose effect the downstream system never
	// saw; Duplicated lists effects the system saw more than once.
	Lost, Duplicated []string
	Effects          int
}

// OK reports whether nothing was incomplete, lost or duplicated.
func (o Outcome) OK() bool {
	return len(o.Incomplete) == 0 && len(o.Lost) == 0 && len(o.Duplicated) == 0
}

func (o Outcome) String() string {
	s := fmt.Sprintf("%d cases, %d actions, %d effects; %d incomplete, %d lost, %d duplicated",
		o.Cases, o.Actions, o.Effects, len(o.Incomplete), len(o.Lost), len(o.Duplicated))
	for _, l := range [][]string{o.Incomplete, o.Lost, o.Duplicated} {
		if len(l) > 0 {
			s += "\n  e.g. " + l[0]
		}
	}
	return s
}

// Check compares every case with the sandbox's record of effects: each
// case completed with every action succeeded and verified; each action's
// effect is in its system's record (nothing lost); no effect is there
// twice (nothing duplicated).
func (c *Cluster) Check(ctx context.Context) (Outcome, error) {
	var out Outcome
	cases, err := c.store.AllCasesWithActions(ctx)
	if err != nil {
		return out, err
	}
	out.Duplicated = sandbox.DuplicateEffects(c.Systems)
	touched := map[string]bool{} // system, operation, account
	for name, sc := range c.Systems {
		for _, e := range sc.Effects() {
			out.Effects++
			touched[name+" "+e.Operation+" "+e.Account] = true
		}
	}
	accounts := map[string]map[string]string{}
	for _, e := range generateDirectory(c.o.Employees, c.o.Systems) {
		accounts[e.ID] = e.Accounts
	}
	for _, cs := range cases {
		out.Cases++
		bad := cs.Status != store.CaseCompleted
		for _, a := range cs.Actions {
			out.Actions++
			if a.Status != store.ActionSucceeded || !a.Verified {
				bad = true
				continue
			}
			if acct := accounts[cs.EmployeeID][a.Connector]; !touched[a.Connector+" "+a.Operation+" "+acct] {
				out.Lost = append(out.Lost, fmt.Sprintf("case %d %s: %s %s on %s succeeded but %s has no such effect",
					cs.ID, cs.EmployeeID, a.Connector, a.Operation, acct, a.Connector))
			}
		}
		if bad {
			out.Incomplete = append(out.Incomplete, fmt.Sprintf("case %d %s: %s", cs.ID, cs.EmployeeID, cs.Status))
		}
	}
	return out, nil
}

// firstError keeps the first error set from several goroutines.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (f *firstError) set(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
}

func (f *firstError) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}
