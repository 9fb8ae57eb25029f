package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/internal/app"
	"github.com/kineticsec/kinetic/internal/app/serve"
	"github.com/kineticsec/kinetic/internal/reqid"
	"github.com/kineticsec/kinetic/internal/telemetry"
)

// newServeCmd returns kinetic serve (front set) or kinetic worker: flags,
// the configuration and its start-up checks here, the assembly in
// internal/app/serve.
func newServeCmd(front bool) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "worker [--addr HOST:PORT] [flags]",
		Short:   "workers and the recovery sweep only (scale out)",
		Long:    "Runs workers and the recovery sweep only, beside a kinetic serve, on a shared database and Redis.\nWith --addr it answers probes and metrics there.",
		GroupID: groupRun,
		Args:    noArgs,
	}
	if front {
		cmd.Use = "serve [--addr HOST:PORT] [flags]"
		cmd.Short = "HTTP front ends, workers and the scheduler in one process"
		cmd.Long = "Runs the HTTP front ends (the API, HR webhooks and pollers, Slack and Teams), workers and the scheduler in one process."
	}
	name := cmd.Name()
	cfgPath := configFlag(cmd)
	var addr *string
	if front {
		addr = cmd.Flags().String("addr", os.Getenv("KINETIC_HTTP_ADDR"), "`HOST:PORT` to listen on (default from config, 127.0.0.1:8080; env KINETIC_HTTP_ADDR)")
	} else {
		// Not KINETIC_HTTP_ADDR: that is serve's address, and a worker started
		// beside serve would take its port.
		addr = cmd.Flags().String("addr", os.Getenv("KINETIC_WORKER_ADDR"), "`HOST:PORT` to answer health and metrics on (default: none; env KINETIC_WORKER_ADDR)")
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			return err
		}
		// Simulated systems can never pass for real: a sandbox connector is
		// refused unless the file says simulated: true (the embedded default
		// and configs/kinetic.demo.yaml do).
		if err := cfg.Service.CheckSimulated(); err != nil {
			return configErr(fmt.Errorf("kinetic %s refuses to start: %w", name, err))
		}
		if !front && cfg.Service.Redis.Embedded {
			return usageErr("kinetic worker needs a shared Redis: the embedded one lives inside one process (set redis.addr or KINETIC_REDIS_ADDR)")
		}
		// The chat front ends' settings are configuration: a fault there
		// is exit 2, found before anything starts.
		if err := checkChat(cfg); err != nil {
			return err
		}
		stderr := cmd.ErrOrStderr()
		log := newLogger(cfg, stderr)
		warnSimulated(cfg.Service, log)
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return serve.Run(ctx, cfg, serve.Options{Name: name, Front: front, Addr: *addr, Log: log, Getenv: os.Getenv})
	}
	return cmd
}

func newMigrateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "migrate [flags]",
		Short:   "create or update the database schema",
		GroupID: groupRun,
		Args:    noArgs,
	}
	cfgPath := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			return err
		}
		a, err := app.Build(cmd.Context(), cfg, app.Options{Log: newLogger(cfg, cmd.ErrOrStderr()), NoRedis: true})
		if err != nil {
			return err
		}
		a.Close()
		fmt.Fprintf(cmd.OutOrStdout(), "database schema is up to date (%s)\n", cfg.Service.Database.Driver)
		return nil
	}
	return cmd
}

// logTimeFormat is RFC 3339 with milliseconds, so lines within one second
// keep their order and line up with traces.
const logTimeFormat = "2006-01-02T15:04:05.000Z07:00"

func newLogger(cfg *configs.Config, stderr io.Writer) *logrus.Entry {
	l := logrus.New()
	l.Out = stderr
	if lvl, err := logrus.ParseLevel(cfg.Service.Log.Level); err == nil {
		l.Level = lvl
	}
	format := cfg.Service.Log.Format
	if format == "" || format == "auto" {
		format = "json"
		if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	}
	if format == "json" {
		l.Formatter = &logrus.JSONFormatter{TimestampFormat: logTimeFormat}
	} else {
		l.Formatter = &logrus.TextFormatter{FullTimestamp: true, TimestampFormat: logTimeFormat}
	}
	l.AddHook(reqid.LogHook{})
	l.AddHook(telemetry.LogHook{})
	return logrus.NewEntry(l)
}

// warnSimulated says, at start, that a simulated service's sandbox
// connectors revoke nothing real, or that simulated: true is set with no
// sandbox connector (harmless, but probably left over from a demo file).
func warnSimulated(svc *configs.Service, log *logrus.Entry) {
	if !svc.Simulated {
		return
	}
	if names := svc.SandboxConnectors(); len(names) > 0 {
		log.WithField("connectors", strings.Join(names, ",")).Warn("SIMULATED: these connectors are sandbox simulations; nothing real is revoked on them, and every case says so")
		return
	}
	log.Warn("simulated: true is set but no connector is a sandbox simulation; remove the flag from a production file")
}
