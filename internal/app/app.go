// Package app assembles a running Kinetic from configuration: the store, the
// Redis (real or in-process), the connector registry, the engine, the job
// layer and the metrics registry. The kinetic command, the demo, the
// benchmarks and the integration tests all build through it, so they run
// the same wiring.
package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/bot/emailroute"
	"github.com/kineticsec/kinetic/bot/hr/hrconfig"
	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/compose"
	"github.com/kineticsec/kinetic/internal/noticeack"
	"github.com/kineticsec/kinetic/internal/reqid"
	"github.com/kineticsec/kinetic/jobs"
	"github.com/kineticsec/kinetic/store"
)

// Options tune Build beyond the configuration.
type Options struct {
	Log *logrus.Entry
	// Now overrides the clock (tests).
	Now func() time.Time
	// Observers are passed to the engine.
	Observers []engine.Observer
	// SkipMigrate leaves the schema alone (audit commands on a read-only
	// copy).
	SkipMigrate bool
	// NoRedis builds without a queue (plan, audit, migrate): dispatching
	// then fails, which those commands never do.
	NoRedis bool
	// GroupMembers expands approver_groups entries that name a chat
	// platform's user group (engine.Options.GroupMembers); the Slack front
	// end's App.GroupMembers. Nil: such entries have no members.
	GroupMembers func(entry string) []string
	// Store, when set, is used instead of opening the configured database
	// (tests share one fresh database between apps). Close leaves it open.
	Store *store.Store
}

// App is a built Kinetic.
type App struct {
	Config *configs.Config
	Log    *logrus.Entry
	Store  *store.Store
	// Directory is the HR directory (a file, BambooHR, Workday or SCIM).
	Directory  directory.Directory
	Connectors *connectors.Registry
	Engine     *engine.Engine
	Dispatcher *jobs.Dispatcher
	Gate       *jobs.Gate
	Metrics    *prometheus.Registry
	// RedisOpt is the queue's connection: a single Redis, a Sentinel
	// master or a cluster (configs.Redis).
	RedisOpt asynq.RedisConnOpt
	// RDB is a client built from RedisOpt, for the rate-limit gate, the
	// replay stores and readiness.
	RDB         redis.UniversalClient
	miniredis   *miniredis.Miniredis
	workers     []*jobs.Worker
	sharedStore bool
	email       *emailroute.Notifier // the routing model's email channel; nil without chat.email
}

// Build opens everything the configuration names. Close releases it.
func Build(ctx context.Context, cfg *configs.Config, o Options) (a *App, err error) {
	if o.Log == nil {
		o.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	a = &App{Config: cfg, Log: o.Log, Metrics: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	svc := cfg.Service
	if o.Store != nil {
		a.Store, a.sharedStore = o.Store, true
	} else {
		a.Store, err = store.Open(ctx, store.Options{
			Driver: svc.Database.Driver, DSN: svc.Database.DSN.Value(), Path: svc.Database.Path,
			Log: o.Log.WithField("component", "store"),
		})
		if err != nil {
			return a, fmt.Errorf("opening the database: %w", err)
		}
	}
	if !o.SkipMigrate {
		if err = a.Store.Migrate(ctx); err != nil {
			return a, fmt.Errorf("migrating the database: %w", err)
		}
	}
	a.Directory, err = compose.OpenHRDirectory(ctx, cfg, o.Log.WithField("component", "directory"))
	if err != nil {
		return a, fmt.Errorf("loading the HR directory: %w", err)
	}
	a.Connectors, err = compose.BuildConnectors(cfg, seedDirectory(ctx, a.Directory, o.Log), o.Log.WithField("component", "connectors"))
	if err != nil {
		return a, fmt.Errorf("building connectors: %w", err)
	}
	var disp engine.Dispatcher = noQueue{}
	var gate engine.Gate
	if !o.NoRedis {
		addr := svc.Redis.Addr
		if svc.Redis.Embedded {
			a.miniredis, err = miniredis.Run()
			if err != nil {
				return a, fmt.Errorf("starting the embedded Redis: %w", err)
			}
			addr = a.miniredis.Addr()
		}
		// go-redis has one process-wide logger (asynq's clients use it
		// too): route it through logrus.
		redis.SetLogger(jobs.RedisLogger{Log: o.Log})
		a.RedisOpt = redisConnOpt(svc.Redis, addr)
		if a.RDB, err = universalClient(a.RedisOpt); err != nil {
			return a, err
		}
		a.Dispatcher = jobs.NewDispatcher(a.RedisOpt)
		a.Gate = jobs.NewGate(a.RDB, a.Metrics)
		a.Metrics.MustRegister(jobs.QueueCollector{D: a.Dispatcher})
		disp, gate = a.Dispatcher, a.Gate
	}
	a.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var mo engine.MetricsOptions
	if a.RDB != nil {
		// Only the process holding the metrics lease exports
		// kinetic_actions, so sum() over processes is right.
		mo.Leader = jobs.MetricsLeader{RDB: a.RDB, ID: reqid.New()}.Hold
	}
	observers := append([]engine.Observer{engine.LogObserver{Log: o.Log.WithField("component", "notify")}}, o.Observers...)
	if a.email, err = emailNotifier(svc, o.Log); err != nil {
		return a, err
	} else if a.email != nil {
		observers = append(observers, a.email)
	}
	var ackSigner *noticeack.Signer
	if n := svc.Notices; n != nil {
		if ackSigner, err = noticeack.NewSigner([]byte(n.AckKey.Value()), n.AckPage, n.AckTTL.D()); err != nil {
			return a, fmt.Errorf("notices: %w", err)
		}
	}
	a.Engine, err = engine.New(engine.Options{
		Store: a.Store, Directory: a.Directory, Policy: cfg.Policy, Connectors: a.Connectors,
		Dispatcher: disp, Gate: gate, Now: o.Now, Log: o.Log.WithField("component", "engine"),
		Metrics: engine.NewMetricsWith(a.Metrics, a.Store, mo), Admins: svc.Admins, HRRoles: svc.HRRoles,
		Lease: svc.Workers.Lease.D(), MaxFuture: maxFuture(svc), Observers: observers,
		ApproverGroups: svc.ApproverGroups, GroupMembers: o.GroupMembers, Owners: owners(svc), SecurityChannel: svc.Alerts.SecurityChannel, SecurityOfficers: svc.Alerts.SecurityOfficers,
		NoticeAck: ackSigner, EmailChannel: a.email != nil,
	})
	if err != nil {
		return a, err
	}
	if a.email != nil {
		a.email.Bind(a.Engine) // the outcome of return instructions emails
	}
	return a, nil
}

// StartWorker starts a worker (task processing plus the recovery sweep) in
// this process.
func (a *App) StartWorker() (*jobs.Worker, error) {
	if a.Dispatcher == nil {
		return nil, errors.New("no queue configured")
	}
	w := jobs.NewWorker(jobs.WorkerOptions{
		Redis: a.RedisOpt, Engine: a.Engine, Concurrency: a.Config.Service.Workers.Concurrency,
		SweepInterval: a.Config.Service.Workers.SweepInterval.D(), ShutdownGrace: a.Config.Service.Workers.ShutdownGrace.D(), Log: a.Log.WithField("component", "worker"),
	})
	if err := w.Start(); err != nil {
		return nil, err
	}
	a.workers = append(a.workers, w)
	return w, nil
}

// Ready checks the database and Redis. Its error is a *DownError naming
// the dependency that failed.
func (a *App) Ready(ctx context.Context) error {
	if err := a.Store.Ping(ctx); err != nil {
		return &DownError{Name: "database", Err: err}
	}
	if a.RDB != nil {
		if err := a.RDB.Ping(ctx).Err(); err != nil {
			return &DownError{Name: "redis", Err: err}
		}
	}
	return nil
}

// DownError says which dependency a readiness check found down: /readyz
// shows the name (Dependency), the log the error.
type DownError struct {
	// Name is "database" or "redis".
	Name string
	Err  error
}

func (e *DownError) Error() string { return e.Name + ": " + e.Err.Error() }

// Unwrap returns the dependency's error.
func (e *DownError) Unwrap() error { return e.Err }

// Dependency returns the name of the dependency that is down.
func (e *DownError) Dependency() string { return e.Name }

// Close stops workers and releases every connection.
func (a *App) Close() {
	for _, w := range a.workers {
		w.Shutdown()
	}
	a.workers = nil
	if a.email != nil {
		a.email.Close() // deliveries in flight finish
	}
	if a.Dispatcher != nil {
		_ = a.Dispatcher.Close()
	}
	if a.RDB != nil {
		_ = a.RDB.Close()
	}
	if a.miniredis != nil {
		a.miniredis.Close()
	}
	if a.Connectors != nil {
		_ = a.Connectors.Close()
	}
	if a.Store != nil && !a.sharedStore {
		_ = a.Store.Close()
	}
}

// seedDirectory is the directory sandbox connectors are seeded from: the
// file itself, or a snapshot of an HR system's listing (sandboxes are for
// demos and tests; real connectors ignore it).
func seedDirectory(ctx context.Context, d directory.Directory, log *logrus.Entry) *directory.File {
	if f, ok := d.(*directory.File); ok {
		return f
	}
	if r, ok := d.(directory.Refresher); ok {
		if err := r.Refresh(ctx); err != nil {
			log.WithError(err).Warn("reading the HR directory for sandbox seeding failed")
		}
	}
	if l, ok := d.(directory.Lister); ok {
		return directory.NewMemory(l.All())
	}
	return directory.NewMemory(nil)
}

func owners(svc *configs.Service) map[string]string {
	m := map[string]string{}
	for name, ci := range svc.Connectors {
		if ci != nil && ci.Owner != "" {
			m[name] = ci.Owner
		}
	}
	return m
}

// noQueue is the dispatcher of an App built without Redis.
type noQueue struct{}

var errNoQueue = errors.New("this command runs without a queue")

func (noQueue) DispatchAction(context.Context, int64, int, time.Time) error { return errNoQueue }
func (noQueue) DispatchCaseStart(context.Context, int64, time.Time) error   { return errNoQueue }
func (noQueue) ActionTaskPending(context.Context, int64, int) (bool, error) { return false, errNoQueue }

// maxFuture is the HR timing's max_future (hr.timing.max_future), which
// bounds every front end's effective times; zero leaves the engine's
// default.
func maxFuture(svc *configs.Service) time.Duration {
	hc := hrconfig.ConfigOf(svc.HR)
	if hc == nil {
		return 0
	}
	return hc.Timing.MaxFuture.D()
}
