// Command kinetic offboards employees: it validates a request against HR
// data, plans every revocation the policy calls for, runs them in parallel
// through connectors with read-back verification, and keeps a hash-chained
// audit trail.
//
// Exit codes: 0 success; 1 the command ran and found a failure (a demo
// expectation not met, an audit chain that does not verify, a runtime
// error); 2 bad usage or invalid configuration.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/term"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/engine"
	extanchor "github.com/kineticsec/kinetic/internal/anchor"
	"github.com/kineticsec/kinetic/internal/app"
	"github.com/kineticsec/kinetic/internal/app/serve"
	"github.com/kineticsec/kinetic/internal/compose"
	"github.com/kineticsec/kinetic/internal/demo"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/reqid"
	"github.com/kineticsec/kinetic/internal/telemetry"
)

const usage = `kinetic — employee offboarding from chat, HR events and the API

Usage:
  kinetic <command> [flags]

Commands:
  serve            HTTP front ends, workers and the scheduler in one process
  worker           workers and the recovery sweep only (scale out)
  demo             offboard sample employees on the embedded default
  plan             dry run: the actions an employee would get (changes nothing)
  config validate  check the configuration and policy, listing every error
  audit verify     check the audit trail's hash chain, the latest external anchor,
                   and that the state matches it (--export FILE: one case's export alone)
  audit export     write one case's audit record (--case ID --format json|csv)
  audit report     signed evidence report (--case ID | --from DATE --to DATE, --format pdf|html)
  audit verify-report FILE   check a report's signature and its embedded chain excerpt
  reconcile        ask every connector whether closed cases' people still have
                   access (--case ID | --all [--days N]); prints the scan's report
  migrate          create or update the database schema
  bench            measure: one departure, 5,000 departures under a rate limit,
                   throughput, Slack acknowledgement, peak memory (--help)

Approvals (through a running kinetic serve: --server, KINETIC_API_TOKEN):
  approvals list     pending and decided approvals (--for ID: what ID may decide)
  approve ID         approve an approval's current step (--as HR-ID)
  deny ID            deny it (--as HR-ID --reason TEXT)
  exceptions request CASE KIND   ask for an exception (--as, --forward-to, --days, --action)
  approvals release ID           ask to release an approved legal hold
  batches list|approve|deny      mass-termination batches held by the guard
  actions retry|skip|done|escalate ID   the owning team's operations on an action
  actions confirm CASE           confirm a plan awaiting its requester's confirmation
  cases cancel CASE              cancel a case that has not started (--as HR-ID --reason TEXT)
  equipment move TASK STATUS     the recovering team moves a device (--as HR-ID, --reference to dispose)

Every command takes --config FILE (or KINETIC_CONFIG); without one it uses
the embedded default: SQLite file kinetic.db, in-process Redis, simulated
systems. Run "kinetic <command> --help" for a command's flags.

Exit codes: 0 success, 1 failure found or runtime error, 2 usage or configuration error.
`

// exitError carries an exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// Unwrap lets callers test the cause with errors.Is and errors.As.
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, a ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, a...)}
}

func main() {
	err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	if err == nil {
		return
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "kinetic:", err)
	} else {
		code = 0
	}
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return &exitError{code: 2, err: errors.New("a command is required")}
		}
		return nil
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, stdout, stderr, true)
	case "worker":
		return cmdServe(ctx, rest, stdout, stderr, false)
	case "demo":
		return cmdDemo(ctx, rest, stdout, stderr)
	case "plan":
		return cmdPlan(ctx, rest, stdout, stderr)
	case "migrate":
		return cmdMigrate(ctx, rest, stdout, stderr)
	case "bench":
		return cmdBench(ctx, rest, stdout, stderr)
	case "config":
		if len(rest) == 0 || rest[0] != "validate" {
			return usageErr("usage: kinetic config validate [--config FILE]")
		}
		return cmdValidate(rest[1:], stdout, stderr)
	case "approvals":
		return cmdApprovals(ctx, rest, stdout, stderr)
	case "approve", "deny":
		return cmdDecide(ctx, cmd, rest, stdout, stderr)
	case "exceptions":
		return cmdExceptions(ctx, rest, stdout, stderr)
	case "batches":
		return cmdBatches(ctx, rest, stdout, stderr)
	case "actions":
		return cmdActions(ctx, rest, stdout, stderr)
	case "cases":
		return cmdCases(ctx, rest, stdout, stderr)
	case "equipment":
		return cmdEquipment(ctx, rest, stdout, stderr)
	case "reconcile":
		return cmdReconcile(ctx, rest, stdout, stderr)
	case "audit":
		if len(rest) == 0 {
			return usageErr("usage: kinetic audit verify|export|report|verify-report [flags]")
		}
		switch rest[0] {
		case "verify":
			return cmdAuditVerify(ctx, rest[1:], stdout, stderr)
		case "export":
			return cmdAuditExport(ctx, rest[1:], stdout, stderr)
		case "report":
			return cmdAuditReport(ctx, rest[1:], stdout, stderr)
		case "verify-report":
			return cmdAuditVerifyReport(ctx, rest[1:], stdout, stderr)
		}
		return usageErr("unknown audit command %q (verify, export, report, verify-report)", rest[0])
	}
	return usageErr("unknown command %q; run kinetic --help", cmd)
}

// flags builds a command's flag set with the shared --config flag.
func flags(name, synopsis string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := fs.String("config", os.Getenv("KINETIC_CONFIG"), "service config file (default: the embedded default; env KINETIC_CONFIG)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: kinetic %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	return fs, cfg
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{code: 2, err: err}
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return nil
}

func loadConfig(path string) (*configs.Config, error) {
	var cfg *configs.Config
	var err error
	if path == "" {
		cfg, err = compose.Default()
	} else {
		cfg, err = compose.Load(path)
	}
	if err != nil {
		return nil, &exitError{code: 2, err: fmt.Errorf("invalid configuration:\n%w", err)}
	}
	return cfg, nil
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

// cmdServe runs kinetic serve (front set) or kinetic worker: flags, the
// configuration and its start-up checks here, the assembly in
// internal/app/serve.
func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer, front bool) error {
	name, synopsis := "worker", "worker [--config FILE]"
	if front {
		name, synopsis = "serve", "serve [--config FILE] [--addr HOST:PORT]"
	}
	fs, cfgPath := flags(name, synopsis, stderr)
	var addr *string
	if front {
		addr = fs.String("addr", os.Getenv("KINETIC_HTTP_ADDR"), "listen address (default from config, 127.0.0.1:8080; env KINETIC_HTTP_ADDR)")
	} else {
		// Not KINETIC_HTTP_ADDR: that is serve's address, and a worker started
		// beside serve would take its port.
		addr = fs.String("addr", os.Getenv("KINETIC_WORKER_ADDR"), "health and metrics listen address (default: none; env KINETIC_WORKER_ADDR)")
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	// Simulated systems can never pass for real: a sandbox connector is
	// refused unless the file says simulated: true (the embedded default
	// and configs/kinetic.demo.yaml do).
	if err := cfg.Service.CheckSimulated(); err != nil {
		return &exitError{code: 2, err: fmt.Errorf("kinetic %s refuses to start: %w", name, err)}
	}
	if !front && cfg.Service.Redis.Embedded {
		return usageErr("kinetic worker needs a shared Redis: the embedded one lives inside one process (set redis.addr or KINETIC_REDIS_ADDR)")
	}
	log := newLogger(cfg, stderr)
	warnSimulated(cfg.Service, log)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve.Run(ctx, cfg, serve.Options{Name: name, Front: front, Addr: *addr, Log: log, Getenv: os.Getenv})
}

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", "kinetic.db", "SQLite file to write (kept afterwards for kinetic audit verify/export)")
	plain := fs.Bool("plain", false, "print plain progress lines even on a terminal")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: kinetic demo [--db FILE] [--plain]\n\nOffboards several sample employees on the embedded default and checks the outcome.")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	tty, width := false, 0
	if f, ok := stdout.(*os.File); ok && !*plain && term.IsTerminal(int(f.Fd())) {
		tty = true
		width, _, _ = term.GetSize(int(f.Fd()))
	}
	ok, err := demo.Run(ctx, demo.Options{DBPath: *db, Out: stdout, TTY: tty, Width: width})
	if err != nil {
		return err
	}
	if !ok {
		return &exitError{code: 1, err: errors.New("demo: some expectations were not met (see above)")}
	}
	return nil
}

func cmdPlan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := flags("plan", "plan --employee ID|--email ADDR [--involuntary] [--reason TEXT] [--offline] [--json] [--config FILE]", stderr)
	id := fs.String("employee", "", "HR employee id")
	email := fs.String("email", "", "employee email (instead of --employee)")
	invol := fs.Bool("involuntary", false, "plan as an involuntary (immediate) termination")
	reason := fs.String("reason", "", "reason, as rules may test request.reason")
	offline := fs.Bool("offline", false, "skip connector lookups")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *id == "" && *email == "" {
		return usageErr("plan needs --employee or --email")
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	cfg.Service.Log.Level = "error"
	if cfg.Service.Database.Driver == "sqlite" {
		// A plan never reads the database; opening the configured file
		// would leave an empty, unmigrated kinetic.db behind, on which a
		// later `audit verify` fails with "no such table".
		cfg.Service.Database.Path = ":memory:"
	}
	a, err := app.Build(ctx, cfg, app.Options{Log: newLogger(cfg, stderr), NoRedis: true, SkipMigrate: true})
	if err != nil {
		return err
	}
	defer a.Close()
	p, err := a.Engine.Plan(ctx, engine.Request{EmployeeID: *id, Email: *email, Involuntary: *invol, Reason: *reason, Trigger: "cli"}, *offline)
	if err != nil {
		if errors.Is(err, engine.ErrUnknownEmployee) {
			return &exitError{code: 1, err: err}
		}
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	}
	fmt.Fprint(stdout, engine.FormatPlan(p))
	return nil
}

func cmdValidate(args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := flags("config validate", "config validate [--config FILE]", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	// The Slack front end's settings (chat.slack, KINETIC_SLACK_*): the
	// token prefixes, and its API URL against the outbound URL policy.
	urlPolicy, err := outbound.NewURLPolicy(cfg.Service.Outbound.AllowCIDRs, cfg.Service.Outbound.AllowHosts)
	if err != nil {
		return err
	}
	if _, err := app.SlackConfig(cfg.Service, urlPolicy, os.Getenv); err != nil {
		return &exitError{code: 2, err: err}
	}
	src := cfg.Service.File
	if src == "" {
		src = "the embedded default"
	}
	fmt.Fprintf(stdout, "%s is valid: %d connectors, %d catalog actions, %d rules, policy %s\n",
		src, len(cfg.Service.Connectors), len(cfg.Policy.File.Actions), len(cfg.Policy.File.Rules), cfg.Policy.Hash[:12])
	switch names := cfg.Service.SandboxConnectors(); {
	case len(names) > 0 && cfg.Service.Simulated:
		fmt.Fprintf(stdout, "simulated: connectors %s are sandbox simulations; nothing real is revoked on them\n", strings.Join(names, ", "))
	case len(names) > 0:
		fmt.Fprintf(stdout, "warning: kinetic serve and worker will refuse this file: %v\n", cfg.Service.CheckSimulated())
	}
	return nil
}

func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := flags("migrate", "migrate [--config FILE]", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	a, err := app.Build(ctx, cfg, app.Options{Log: newLogger(cfg, stderr), NoRedis: true})
	if err != nil {
		return err
	}
	a.Close()
	fmt.Fprintf(stdout, "database schema is up to date (%s)\n", cfg.Service.Database.Driver)
	return nil
}

func openForAudit(ctx context.Context, cfgPath string, stderr io.Writer) (*app.App, error) {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	if cfg.Service.Database.Driver == "sqlite" {
		if _, err := os.Stat(cfg.Service.Database.Path); err != nil {
			return nil, &exitError{code: 1, err: fmt.Errorf("no database at %s (run kinetic demo or serve first, or pass --config)", cfg.Service.Database.Path)}
		}
	}
	cfg.Service.Log.Level = "error"
	return app.Build(ctx, cfg, app.Options{Log: newLogger(cfg, stderr), NoRedis: true, SkipMigrate: true})
}

func cmdAuditVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := flags("audit verify", "audit verify [--anchor SEQ:HASH ...] [--anchor-file FILE] [--export FILE] [--config FILE]", stderr)
	exportFile := fs.String("export", "", "verify one case's export file (JSON or CSV, from audit export) on its own, without the database")
	anchorFile := fs.String("anchor-file", "", "an anchor file (JSON lines) to check the chain against; default audit.anchors.file")
	var anchors []string
	fs.Func("anchor", "a head recorded earlier outside the database (SEQ:HASH, as an earlier verify printed it); the chain must still hold that event with that hash (repeatable)", func(v string) error {
		anchors = append(anchors, v)
		return nil
	})
	if err := parse(fs, args); err != nil {
		return err
	}
	type anchor struct {
		seq  int64
		hash string
	}
	var want []anchor
	for _, v := range anchors {
		seq, hash, ok := strings.Cut(v, ":")
		n, err := strconv.ParseInt(seq, 10, 64)
		if !ok || err != nil || n <= 0 || len(hash) != 64 {
			return usageErr("--anchor %q: want SEQ:HASH, e.g. 1234:%s", v, strings.Repeat("0", 64))
		}
		want = append(want, anchor{n, strings.ToLower(hash)})
	}
	if *exportFile != "" {
		return verifyExportFile(*exportFile, stdout)
	}
	a, err := openForAudit(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	// The newest anchor published outside the database (audit.anchors.file,
	// or --anchor-file) is checked like an --anchor.
	if *anchorFile == "" {
		*anchorFile = a.Config.Service.Audit.Anchors.File
	}
	if *anchorFile != "" {
		r, err := extanchor.Latest(*anchorFile)
		switch {
		case errors.Is(err, extanchor.ErrNoAnchor) || (errors.Is(err, os.ErrNotExist) && *anchorFile == a.Config.Service.Audit.Anchors.File):
			fmt.Fprintf(stdout, "no external anchor yet in %s\n", *anchorFile)
		case err != nil:
			return &exitError{code: 1, err: err}
		default:
			fmt.Fprintf(stdout, "external anchor %d %s (published %s)\n", r.Seq, r.Hash, r.Time.Format(time.RFC3339))
			want = append(want, anchor{r.Seq, r.Hash})
		}
	}
	rep, err := a.Store.VerifyAudit(ctx)
	if err != nil {
		return err
	}
	if !rep.OK {
		fmt.Fprintf(stdout, "audit chain BROKEN at event %d: %s\n", rep.FirstBad, rep.Problem)
		return &exitError{code: 1, err: fmt.Errorf("audit chain does not verify (first broken event %d)", rep.FirstBad)}
	}
	// The chain and its head live in one database: whoever can rewrite
	// both can forge a consistent chain. A head recorded elsewhere earlier
	// (a SIEM, a ticket, a signed log line) catches that.
	for _, an := range want {
		if err := a.Store.CheckAuditAnchor(ctx, an.seq, an.hash); err != nil {
			fmt.Fprintf(stdout, "audit chain BROKEN at anchor %d: %v\n", an.seq, err)
			return &exitError{code: 1, err: fmt.Errorf("audit chain does not match anchor %d", an.seq)}
		}
	}
	fmt.Fprintf(stdout, "audit chain OK: %d events, head %d %s\n", rep.Events, rep.HeadSeq, rep.HeadHash)
	if len(want) > 0 {
		fmt.Fprintf(stdout, "anchors OK: %d\n", len(want))
	}
	fmt.Fprintf(stdout, "record this anchor outside the database: %d:%s\n", rep.HeadSeq, rep.HeadHash)
	// An intact chain says nothing of rows changed behind the engine's
	// back: the state must also be what the chain leads to.
	st, err := a.Store.VerifyAuditedState(ctx)
	if err != nil {
		return err
	}
	if !st.OK {
		for _, m := range st.Mismatches {
			fmt.Fprintf(stdout, "state MISMATCH: %s\n", m)
		}
		if more := st.MismatchCount - int64(len(st.Mismatches)); more > 0 {
			fmt.Fprintf(stdout, "state MISMATCH: %d more not listed\n", more)
		}
		return &exitError{code: 1, err: fmt.Errorf("the database's state does not match the audit trail (%d mismatches)", st.MismatchCount)}
	}
	fmt.Fprintf(stdout, "state matches the audit trail: %d cases, %d actions, %d approvals\n", st.Cases, st.Actions, st.Approvals)
	if st.Unrecorded > 0 {
		fmt.Fprintf(stdout, "not checked: %d cases created before state records began\n", st.Unrecorded)
	}
	return nil
}

func cmdAuditExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := flags("audit export", "audit export --case ID [--format json|csv] [--out FILE] [--config FILE]", stderr)
	caseID := fs.Int64("case", 0, "case id")
	format := fs.String("format", "json", "json or csv")
	out := fs.String("out", "", "write to FILE instead of standard output")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *caseID <= 0 {
		return usageErr("audit export needs --case ID")
	}
	if *format != "json" && *format != "csv" {
		return usageErr("--format must be json or csv")
	}
	a, err := openForAudit(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	w := stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	n, err := a.Store.ExportAudit(ctx, *caseID, *format, w)
	if err != nil {
		return err
	}
	if *out != "" {
		fmt.Fprintf(stdout, "wrote %d events of case %d to %s\n", n, *caseID, *out)
	}
	return nil
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
