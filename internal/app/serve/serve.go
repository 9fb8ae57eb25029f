// Package serve assembles and runs Kinetic's long-running processes, kinetic
// serve and kinetic worker: the Slack front end, the HR webhooks and
// pollers, the API's clients and the outbound URL policy around the App
// that internal/app builds, then the listeners. The kinetic command only
// parses flags, loads the configuration and calls Run.
//
// It is a package of its own, not part of internal/app, because it imports
// the front ends (bot, bot/hr), whose tests build through internal/app.
package serve

import (
	"context"
	"crypto/x509"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/bot"
	"github.com/kineticsec/kinetic/bot/hr"
	"github.com/kineticsec/kinetic/bot/hr/hrconfig"
	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/app"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/replay"
	"github.com/kineticsec/kinetic/internal/telemetry"
	"github.com/kineticsec/kinetic/signals"
)

// Options tune Run.
type Options struct {
	// Name is how the log names the process: "serve" or "worker".
	Name string
	// Front runs the front ends (kinetic serve): the API, the HR webhooks
	// and pollers and Slack's receiving side. Without it (kinetic worker)
	// the listener answers probes and metrics only.
	Front bool
	// Addr is the listen address; empty means http.addr with Front, and no
	// listener without it.
	Addr string
	Log  *logrus.Entry
	// Getenv reads KINETIC_SLACK_* (without a chat.slack block) and
	// KINETIC_API_TOKEN; nil reads nothing (every variable unset).
	Getenv func(string) string
	// RootCAs replaces the system roots of every outbound connection
	// (outbound.URLPolicy.RootCAs). The kinetic command never sets it:
	// tests do, to run serve against https fakes.
	RootCAs *x509.CertPool
}

// Run builds everything cfg names and runs it until ctx ends.
func Run(ctx context.Context, cfg *configs.Config, o Options) error {
	if o.Getenv == nil {
		o.Getenv = func(string) string { return "" }
	}
	log, serve := o.Log, o.Front
	stopTracing, err := telemetry.Setup(ctx, o.Getenv, "kinetic-"+o.Name)
	if err != nil {
		return err
	}
	defer func() { _ = stopTracing(context.WithoutCancel(ctx)) }()
	// The Slack front end (docs/slack.md), when chat.slack or KINETIC_SLACK_*
	// configure it.
	urlPolicy, err := outbound.NewURLPolicy(cfg.Service.Outbound.AllowCIDRs, cfg.Service.Outbound.AllowHosts)
	if err != nil {
		return err
	}
	urlPolicy.RootCAs = o.RootCAs
	sa, err := app.Slack(cfg.Service, urlPolicy, o.Getenv, log.WithField("component", "slack"))
	if err != nil {
		return err
	}
	// The Microsoft Teams front end (bot/teamsapp), when chat.teams
	// configures it; beside Slack or alone.
	ta, err := app.Teams(cfg.Service, urlPolicy, log.WithField("component", "teams"))
	if err != nil {
		return err
	}
	var observers []engine.Observer
	if ta != nil {
		observers = append(observers, ta)
	}
	var slackMembers, teamsMembers func(string) []string
	if sa != nil {
		observers = append(observers, sa)
		slackMembers = sa.GroupMembers
		for _, name := range slices.Sorted(maps.Keys(cfg.Service.ApproverGroups)) {
			sa.WatchGroups(cfg.Service.ApproverGroups[name]...)
		}
	} else if name, entry := slackApproverGroup(cfg.Service); entry != "" {
		return fmt.Errorf("approver group %q lists %s, a Slack user group, but Slack is not configured (set chat.slack or KINETIC_SLACK_*, docs/slack.md)", name, entry)
	}
	if ta != nil {
		// entra:ID entries are Entra groups read through Graph
		// (chat.teams.graph, which configs requires for them).
		teamsMembers = ta.GroupMembers
		for _, name := range slices.Sorted(maps.Keys(cfg.Service.ApproverGroups)) {
			ta.WatchGroups(cfg.Service.ApproverGroups[name]...)
		}
	}
	groupMembers := func(entry string) []string {
		switch {
		case strings.HasPrefix(entry, configs.SlackGroupPrefix) && slackMembers != nil:
			return slackMembers(entry)
		case strings.HasPrefix(entry, configs.EntraGroupPrefix) && teamsMembers != nil:
			return teamsMembers(entry)
		}
		return nil
	}
	// The Shared Signals transmitter (docs/signals.md), when signals
	// configures it: it observes succeeded actions like the chat front
	// ends, and every process delivers the outbox (claims are leased).
	var tx *signals.Transmitter
	if cfg.Service.Signals != nil {
		if tx, err = signals.New(cfg.Service.Signals, signals.Options{Policy: urlPolicy, Log: log.WithField("component", "signals")}); err != nil {
			return err
		}
		observers = append(observers, tx)
	}
	a, err := app.Build(ctx, cfg, app.Options{Log: log, Observers: observers, GroupMembers: groupMembers})
	if err != nil {
		return err
	}
	defer a.Close()
	if tx != nil {
		tx.Bind(a.Store)
		a.Metrics.MustRegister(signals.OutboxCollector{Store: a.Store})
		sctx, stopSignals := context.WithCancel(ctx)
		waitSignals := tx.Start(sctx)
		defer func() { stopSignals(); waitSignals() }()
	}
	w, err := a.StartWorker()
	if err != nil {
		return err
	}
	// On SIGTERM the worker stops taking tasks at once and hands back what
	// is still running after workers.shutdown_grace, while the HTTP
	// listener drains beside it (a.Close waits for the hand-back).
	stopWorker := context.AfterFunc(ctx, w.Shutdown)
	defer stopWorker()
	// The audit head, published outside the database (audit.anchors).
	defer a.StartAnchors(ctx, urlPolicy)()
	var slackRoutes func(*http.ServeMux)
	if sa != nil {
		var stopSlack func()
		slackRoutes, stopSlack = sa.Run(ctx, a.Engine, a.Directory, a.RDB, serve)
		defer stopSlack()
	}
	var teamsRoutes func(*http.ServeMux)
	if ta != nil {
		ta.Bind(a.Engine, a.Directory)
		tctx, stopTeams := context.WithCancel(ctx)
		waitTeams := ta.Start(tctx)
		defer func() { stopTeams(); waitTeams() }()
		teamsRoutes = ta.Routes()
	}
	listen := o.Addr
	if listen == "" && serve {
		listen = cfg.Service.HTTP.Addr
	}
	if listen == "" {
		log.Info("worker running")
		<-ctx.Done()
		return nil
	}
	clients := APIClients(cfg.Service.HTTP, o.Getenv("KINETIC_API_TOKEN"))
	// HR webhooks and pollers (docs/hr.md), in kinetic serve only: the
	// pollers need not run in every worker.
	var routes []func(*http.ServeMux)
	if hc := hrconfig.ConfigOf(cfg.Service.HR); hc != nil && serve {
		hrLog := log.WithField("component", "hr")
		// Accepted signatures are remembered in Redis, so a replay is
		// refused by every replica and after a restart.
		routes = append(routes, hr.Routes(hc, a.Engine, hrLog, replay.NewRedis(a.RDB, replay.HRPrefix)))
		defer hr.StartPollers(ctx, hc, a.Engine, urlPolicy, hrLog)()
	}
	if tx != nil && serve {
		// The transmitter's metadata and JWKS, public.
		routes = append(routes, tx.Routes())
	}
	if slackRoutes != nil {
		routes = append(routes, slackRoutes)
	}
	if teamsRoutes != nil {
		routes = append(routes, teamsRoutes)
	}
	hc := cfg.Service.HTTP
	metricsToken := hc.MetricsToken.Value()
	opts := bot.ServerOptions{Engine: a.Engine, Ready: a.Ready, Metrics: a.Metrics, MetricsToken: metricsToken, APIClients: clients, Log: log, Routes: routes}
	if !serve {
		// A worker answers probes and metrics only; the API, HR webhooks and
		// chat front ends are served by kinetic serve.
		opts = bot.ServerOptions{Engine: a.Engine, Ready: a.Ready, Metrics: a.Metrics, MetricsToken: metricsToken, Log: log, ProbesOnly: true}
	}
	opts.HTTPMetrics = a.Metrics
	if serve && a.Dispatcher != nil {
		q := queueDashboard(a.RedisOpt)
		defer q.Close()
		opts.Queues = q
	}
	limits := bot.ServerLimits{
		ReadHeaderTimeout: hc.ReadHeaderTimeout.D(), ReadTimeout: hc.ReadTimeout.D(), WriteTimeout: hc.WriteTimeout.D(),
		IdleTimeout: hc.IdleTimeout.D(), MaxConnections: hc.MaxConnections, MaxConnectionsPerClient: hc.MaxConnectionsPerClient,
	}
	var metricsLn net.Listener
	if serve && hc.MetricsAddr != "" {
		// /metrics on a listener of its own, not beside the API.
		opts.Metrics = nil
		if metricsLn, err = net.Listen("tcp", hc.MetricsAddr); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		if metricsLn != nil {
			metricsLn.Close()
		}
		return err
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	fields := logrus.Fields{"addr": ln.Addr().String(), "database": cfg.Service.Database.Driver, "embedded_redis": cfg.Service.Redis.Embedded}
	errc := make(chan error, 1)
	if metricsLn != nil {
		fields["metrics_addr"] = metricsLn.Addr().String()
		go func() { errc <- bot.Serve(ctx, metricsLn, bot.MetricsMux(a.Metrics, metricsToken), limits, log) }()
	}
	log.WithFields(fields).Info("kinetic " + o.Name + " listening")
	err = bot.Serve(ctx, ln, bot.NewHandler(opts), limits, log)
	if metricsLn != nil {
		stop() // the metrics listener ends with the main one
		if merr := <-errc; err == nil {
			err = merr
		}
	}
	return err
}

// slackApproverGroup returns an approver group and its first entry that
// names a Slack user group ("" when none does).
func slackApproverGroup(svc *configs.Service) (name, entry string) {
	for _, name := range slices.Sorted(maps.Keys(svc.ApproverGroups)) {
		for _, e := range svc.ApproverGroups[name] {
			if strings.HasPrefix(e, configs.SlackGroupPrefix) {
				return name, e
			}
		}
	}
	return "", ""
}

// APIClients builds the API's clients from http.api_clients and the legacy
// http.api_tokens (every scope, may act for anyone). cliToken
// (KINETIC_API_TOKEN) is also accepted as the "cli" client's token
// (principal "cli:cli"), so the approval commands work against the embedded
// default too: whoever holds the server's environment operates it, so that
// client has every scope and may act for anyone — still one approver per
// approval.
func APIClients(h configs.HTTP, cliToken string) map[string]bot.APIClient {
	clients := map[string]bot.APIClient{}
	for name, s := range h.APITokens {
		clients[name] = bot.LegacyClient(s.Value())
	}
	for name, c := range h.APIClients {
		clients[name] = bot.APIClient{Token: c.Token.Value(), Scopes: c.Scopes, ActAs: c.ActAs}
	}
	t := cliToken
	if t == "" {
		return clients
	}
	for _, c := range clients {
		if c.Token == t {
			return clients // the token of a configured client: that client
		}
	}
	if _, taken := clients["cli"]; !taken {
		cli := bot.LegacyClient(t)
		cli.Via = "cli"
		clients["cli"] = cli
	}
	return clients
}
