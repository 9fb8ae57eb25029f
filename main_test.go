package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"gopkg.in/yaml.v3"

	"github.com/kineticsec/kinetic/bot"
	slackbot "github.com/kineticsec/kinetic/bot/slackbot"
	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/compose"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// repoRoot is the module root, where `go test` starts this package; tests
// that t.Chdir elsewhere use it to find repository files.
var repoRoot = func() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return wd
}()

// mainArgsEnv makes the test binary run main() with these arguments (a
// JSON array) instead of the tests, so exit codes can be checked.
const mainArgsEnv = "KINETIC_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if v, ok := os.LookupEnv(mainArgsEnv); ok {
		var args []string
		if err := json.Unmarshal([]byte(v), &args); err != nil {
			fmt.Fprintln(os.Stderr, "bad", mainArgsEnv, err)
			os.Exit(99)
		}
		os.Args = append([]string{"kinetic"}, args...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// cleanEnv clears the environment variables that change which
// configuration the commands use, so the developer's shell cannot.
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{"KINETIC_CONFIG", configs.EnvHTTPAddr, configs.EnvDatabaseDSN, configs.EnvRedisAddr, "KINETIC_API_TOKEN", "KINETIC_REDIS_PASSWORD"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

// inTempDir runs the test in a fresh working directory, so the embedded
// default's kinetic.db never lands in the repository.
func inTempDir(t *testing.T) string {
	t.Helper()
	cleanEnv(t)
	dir := t.TempDir()
	t.Chdir(dir)
	return dir
}

type result struct {
	err            error
	stdout, stderr string
}

// code is the exit status main() gives err.
func (r result) code() int {
	if r.err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(r.err, &ee) {
		return ee.code
	}
	return 1
}

func (r result) String() string {
	return fmt.Sprintf("err: %v\n--- stdout:\n%s--- stderr:\n%s", r.err, r.stdout, r.stderr)
}

// kinetic runs the command line args in this process. Its output goes to
// goroutine-safe buffers, as a terminal or file would be: the demo and
// serve write from several goroutines.
func kinetic(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr syncBuffer
	// Generous: the demo takes about 25 s alone, and several times that on
	// a 2-core machine running every package's tests at once.
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	err := run(ctx, args, &stdout, &stderr)
	return result{err: err, stdout: stdout.String(), stderr: stderr.String()}
}

// want fails the test unless r exited with code and its output (stdout,
// stderr and the error main prints) contains every string in contains.
func (r result) want(t *testing.T, code int, contains ...string) {
	t.Helper()
	if r.code() != code {
		t.Fatalf("exit code %d, want %d\n%s", r.code(), code, r)
	}
	all := r.stdout + r.stderr
	if r.err != nil {
		all += r.err.Error()
	}
	for _, s := range contains {
		if !strings.Contains(all, s) {
			t.Errorf("output lacks %q\n%s", s, r)
		}
	}
}

func TestUsage(t *testing.T) {
	cleanEnv(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "Usage:\n  kinetic <command> [flags]"},
		{[]string{"--help"}, 0, "Usage:\n  kinetic <command> [flags]"},
		{[]string{"-h"}, 0, "Commands:"},
		{[]string{"help"}, 0, "Exit codes:"},
		{[]string{"offboard"}, 2, `unknown command "offboard"`},
		{[]string{"config"}, 2, "usage: kinetic config validate"},
		{[]string{"config", "check"}, 2, "usage: kinetic config validate"},
		{[]string{"audit"}, 2, "usage: kinetic audit verify|export"},
		{[]string{"audit", "delete"}, 2, `unknown audit command "delete"`},
		{[]string{"audit", "export"}, 2, "needs --case ID"},
		{[]string{"audit", "export", "--case", "1", "--format", "xml"}, 2, "--format must be json or csv"},
		{[]string{"plan"}, 2, "plan needs --employee or --email"},
		{[]string{"plan", "--employee", "E1001", "extra"}, 2, "unexpected arguments: extra"},
		{[]string{"serve", "--port", "80"}, 2, "unknown flag: --port"},
		{[]string{"serve", "-port", "80"}, 2, "unknown shorthand flag: 'p' in -port"},
		{[]string{"plan", "--employee"}, 2, "flag needs an argument: --employee"},
		{[]string{"version", "extra"}, 2, "unexpected arguments: extra"},
		{[]string{"migrate", "--config"}, 2, "flag needs an argument"},
		{[]string{"worker"}, 2, "needs a shared Redis"},
		{[]string{"reconcile"}, 2, "usage: kinetic reconcile (--case ID | --all"},
		{[]string{"reconcile", "--case", "1", "--all"}, 2, "usage: kinetic reconcile"},
		{[]string{"reconcile", "--all", "--days", "0"}, 2, "--days must be positive"},
	} {
		t.Run(strings.Join(append([]string{"kinetic"}, tc.args...), " "), func(t *testing.T) {
			kinetic(t, tc.args...).want(t, tc.code, tc.want)
		})
	}
}

// commands are every subcommand, as typed.
var commands = [][]string{
	{"serve"}, {"worker"}, {"demo"}, {"plan"}, {"migrate"},
	{"config", "validate"}, {"audit", "verify"}, {"audit", "export"}, {"reconcile"},
}

func TestSubcommandHelp(t *testing.T) {
	cleanEnv(t)
	for _, cmd := range commands {
		name := strings.Join(cmd, " ")
		t.Run(name, func(t *testing.T) {
			r := kinetic(t, append(slices.Clone(cmd), "--help")...)
			r.want(t, 0, "Usage:\n  kinetic "+name)
			if cmd[0] != "demo" && !strings.Contains(r.stdout, "--config") {
				t.Errorf("usage does not list --config:\n%s", r.stdout)
			}
		})
	}
}

// TestMainExitCodes runs the real main() in a child process: the exit
// status and what reaches the terminal.
func TestMainExitCodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	cleanEnv(t)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("htp: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args       []string
		code       int
		stdout     string
		stderr     string
		notStderr  string
		emptyError bool
	}{
		{args: []string{}, code: 2, stdout: "Usage:", stderr: "kinetic: a command is required"},
		{args: []string{"--help"}, code: 0, stdout: "Usage:", emptyError: true},
		{args: []string{"plan", "--help"}, code: 0, stdout: "Usage:\n  kinetic plan", emptyError: true},
		{args: []string{"config", "--help"}, code: 0, stdout: "Usage:\n  kinetic config <command>", emptyError: true},
		{args: []string{"serve", "--port", "80"}, code: 2, stderr: "kinetic: unknown flag: --port\nrun 'kinetic serve --help' for usage"},
		{args: []string{"version"}, code: 0, stdout: "module       github.com/kineticsec/kinetic", emptyError: true},
		{args: []string{"launch"}, code: 2, stderr: `kinetic: unknown command "launch"`},
		{args: []string{"audit", "verify"}, code: 1, stderr: "kinetic: no database at kinetic.db"},
		{args: []string{"config", "validate", "--config", bad}, code: 2, stderr: bad + `:1: htp: unknown key "htp"`},
		{args: []string{"plan", "--employee", "NOPE"}, code: 1, stderr: "unknown employee"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			enc, _ := json.Marshal(tc.args)
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Dir = t.TempDir()
			cmd.Env = append(os.Environ(), mainArgsEnv+"="+string(enc))
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var xe *exec.ExitError
			if errors.As(err, &xe) {
				code = xe.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, &stdout, &stderr)
			}
			if !strings.Contains(stdout.String(), tc.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.stdout, &stdout)
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, &stderr)
			}
			if tc.notStderr != "" && strings.Contains(stderr.String(), tc.notStderr) {
				t.Errorf("stderr has %q:\n%s", tc.notStderr, &stderr)
			}
			if tc.emptyError && stderr.Len() > 0 {
				t.Errorf("stderr is not empty:\n%s", &stderr)
			}
			if _, err := os.Stat(filepath.Join(cmd.Dir, "kinetic.db")); err == nil {
				t.Errorf("kinetic %s left a kinetic.db behind", strings.Join(tc.args, " "))
			}
		})
	}
}

// kitConfig is a small file configuration: the test kit's HR directory and
// policy, sandbox systems without latency, SQLite kinetic.db in the working
// directory, the embedded Redis, marked simulated: true. httpExtra is added
// under http:.
func kitConfig(t *testing.T, dir, httpExtra string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("simulated: true\nhttp:\n  addr: 127.0.0.1:8080\n" + httpExtra)
	b.WriteString(`database: {driver: sqlite, path: kinetic.db}
redis: {embedded: true}
directory: {file: directory.json}
policy: policy.yaml
admins: [A1]
workers: {concurrency: 8, lease: 5s, sweep_interval: 200ms}
log: {level: info, format: json}
connectors:
`)
	for _, sys := range []string{"ad", "okta", "badge", "assets", "payroll"} {
		fmt.Fprintf(&b, "  %s: {type: sandbox, sandbox: {system: %s}}\n", sys, sys)
	}
	for name, data := range map[string]string{"kinetic.yaml": b.String(), "policy.yaml": testkit.Policy, "directory.json": testkit.Directory} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "kinetic.yaml")
}

func TestConfigValidate(t *testing.T) {
	example := filepath.Join(repoRoot, "configs", "kinetic.example.yaml")

	t.Run("the embedded default is valid", func(t *testing.T) {
		inTempDir(t)
		kinetic(t, "config", "validate").want(t, 0, "the embedded default is valid: ")
	})

	t.Run("the example file is valid with its secrets in the environment", func(t *testing.T) {
		inTempDir(t)
		secrets := map[string]string{
			"KINETIC_API_TOKEN":      "tok-3f9a1c-example",
			"KINETIC_DATABASE_DSN":   "postgres://kinetic:pw-77e1b2-example@db:5432/kinetic",
			"KINETIC_REDIS_PASSWORD": "redis-5c0d9e-example",
			// The connectors' credentials.
			"KINETIC_AD_BIND_PASSWORD":       "ad-0a1b2c-example",
			"KINETIC_M365_CLIENT_CREDENTIAL": "m365-1b2c3d-example",
			"KINETIC_OKTA_TOKEN":             "okta-3d4e5f-example",
			"KINETIC_FORTIGATE_TOKEN":        "fortigate-4e5f6a-example",
			"KINETIC_SALESFORCE_PRIVATE_KEY": "salesforce-6a7b8c-example",
			"KINETIC_BRIVO_API_KEY":          "brivo-7b8c9d-example",
			"KINETIC_BRIVO_CLIENT_SECRET":    "brivo-8b9c0d-example",
			"KINETIC_BRIVO_PASSWORD":         "brivo-9c0d1e-example",
			"KINETIC_ASSETS_TOKEN":           "assets-8c9d0e-example",
			"KINETIC_PAYROLL_TOKEN":          "payroll-9d0e1f-example",
		}
		for k, v := range secrets {
			t.Setenv(k, v)
		}
		r := kinetic(t, "config", "validate", "--config", example)
		r.want(t, 0, example+" is valid")
		for _, v := range secrets {
			if strings.Contains(r.stdout+r.stderr, v) {
				t.Errorf("output shows a secret value %q:\n%s", v, r)
			}
		}
	})

	t.Run("the example file names every missing secret", func(t *testing.T) {
		inTempDir(t)
		r := kinetic(t, "config", "validate", "--config", example)
		r.want(t, 2, "invalid configuration",
			"http.api_clients.hris.token: environment variable KINETIC_API_TOKEN is not set",
			"database.dsn: environment variable KINETIC_DATABASE_DSN is not set",
			"redis.password: environment variable KINETIC_REDIS_PASSWORD is not set")
	})

	t.Run("KINETIC_CONFIG names the file", func(t *testing.T) {
		dir := inTempDir(t)
		t.Setenv("KINETIC_CONFIG", kitConfig(t, dir, ""))
		kinetic(t, "config", "validate").want(t, 0, filepath.Join(dir, "kinetic.yaml")+" is valid: 5 connectors")
	})

	t.Run("every typo is reported with its file, line and key", func(t *testing.T) {
		dir := inTempDir(t)
		kitConfig(t, dir, "")
		bad := filepath.Join(dir, "typos.yaml")
		src := `http:
  adr: 127.0.0.1:8080
database: {driver: sqlite, path: kinetic.db}
redis: {embedded: true}
directory: {file: directory.json}
policy: policy.yaml
connectors:
  ad: {type: sandbox, sandbox: {system: ad}}
  okta: {type: sandbox, sandbox: {system: okta}}
  badge: {type: sandbox, sandbox: {system: badge}}
  assets: {type: sandbox, sandbox: {system: assets}}
  payroll:
    type: sandbox
    sandbox: {system: payroll, latncy: 5ms}
`
		if err := os.WriteFile(bad, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		r := kinetic(t, "config", "validate", "--config", bad)
		r.want(t, 2,
			bad+`:2: http.adr: unknown key "adr"`,
			bad+`:14: connectors.payroll.sandbox.latncy: unknown key "latncy"`)
		if strings.Contains(r.stdout, "is valid") {
			t.Errorf("an invalid file was called valid:\n%s", r)
		}
	})

	t.Run("a missing file is a configuration error", func(t *testing.T) {
		inTempDir(t)
		kinetic(t, "config", "validate", "--config", "nope.yaml").want(t, 2, "nope.yaml")
	})
}

func TestPlan(t *testing.T) {
	t.Run("lists the actions the embedded policy gives an employee", func(t *testing.T) {
		dir := inTempDir(t)
		r := kinetic(t, "plan", "--employee", "E1001")
		r.want(t, 0, "Plan for Dana Whitfield", "(E1001, employee, Sales)", "rules matched: everyone, sales",
			"disable_ad", "revoke_okta_sessions", "deactivate_salesforce", "after revoke_okta_sessions", "user dwhitfield (active)")
		if _, err := os.Stat(filepath.Join(dir, "kinetic.db")); err == nil {
			t.Error("plan, a dry run, created kinetic.db")
		}
	})

	t.Run("by email, offline, as JSON", func(t *testing.T) {
		inTempDir(t)
		r := kinetic(t, "plan", "--email", "dana.whitfield@example.com", "--offline", "--json", "--involuntary")
		r.want(t, 0)
		// The engine's plan, with SLAs as durations (planJSON).
		var p struct {
			Employee struct{ ID string }
			Rules    []string
			Actions  []struct {
				Name, Found, SLA string
				SLASeconds       int64 `json:"sla_seconds"`
			}
		}
		if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
			t.Fatalf("not a JSON plan: %v\n%s", err, r)
		}
		if p.Employee.ID != "E1001" || len(p.Actions) == 0 || !slices.Contains(p.Rules, "involuntary") {
			t.Fatalf("plan for %s with %d actions and rules %v", p.Employee.ID, len(p.Actions), p.Rules)
		}
		for _, a := range p.Actions {
			if a.Found != "not looked up" {
				t.Errorf("%s: found %q offline", a.Name, a.Found)
			}
		}
	})

	t.Run("an unknown employee is exit 1", func(t *testing.T) {
		inTempDir(t)
		r := kinetic(t, "plan", "--employee", "NOPE")
		r.want(t, 1, `"NOPE" is not in the HR directory`)
		if !errors.Is(r.err, engine.ErrUnknownEmployee) {
			t.Errorf("err = %v, want ErrUnknownEmployee", r.err)
		}
	})
}

func TestMigrateAndAuditWithoutCases(t *testing.T) {
	dir := inTempDir(t)
	kinetic(t, "audit", "verify").want(t, 1, "no database at kinetic.db", "run kinetic demo or serve first")
	kinetic(t, "audit", "export", "--case", "1").want(t, 1, "no database at kinetic.db")
	if _, err := os.Stat(filepath.Join(dir, "kinetic.db")); err == nil {
		t.Fatal("audit commands created kinetic.db")
	}

	kinetic(t, "migrate").want(t, 0, "database schema is up to date (sqlite)")
	if _, err := os.Stat(filepath.Join(dir, "kinetic.db")); err != nil {
		t.Fatalf("migrate did not create kinetic.db: %v", err)
	}
	kinetic(t, "migrate").want(t, 0, "up to date")
	kinetic(t, "audit", "verify").want(t, 0, "audit chain OK: 0 events")
	r := kinetic(t, "audit", "export", "--case", "1")
	r.want(t, 1)
	if !errors.Is(r.err, store.ErrNoAuditEvents) {
		t.Errorf("err = %v, want ErrNoAuditEvents", r.err)
	}
}

// TestReconcileWithoutCases: kinetic reconcile on an empty database scans
// no case but runs the orphan scan, and names a case that does not exist.
func TestReconcileWithoutCases(t *testing.T) {
	inTempDir(t)
	kinetic(t, "reconcile", "--all").want(t, 1, "no database at kinetic.db")
	kinetic(t, "migrate").want(t, 0, "up to date")
	// The embedded sandbox keeps an enabled Okta account of someone who
	// left: the orphan scan finds it (exit 1: residual access found).
	kinetic(t, "reconcile", "--all").want(t, 1, "0 cases scanned, 1 residual access found", "orphan okta", "Former Person (E1099) is inactive in HR")
	r := kinetic(t, "reconcile", "--case", "7")
	r.want(t, 2, "case 7")
	if !errors.Is(r.err, engine.ErrNotFound) {
		t.Errorf("err = %v, want ErrNotFound", r.err)
	}
}

// TestDemoThenAudit is the README's path: the demo, then a compliance
// officer verifying and exporting the record, then someone editing it.
func TestDemoThenAudit(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo takes about 25 s")
	}
	dir := inTempDir(t)
	r := kinetic(t, "demo", "--db", "kinetic.db", "--plain")
	r.want(t, 0, "Requests that must be refused:", "audit chain verifies")
	if strings.Contains(r.stdout, "[FAIL]") {
		t.Errorf("the demo reports a failed expectation:\n%s", r.stdout)
	}

	kinetic(t, "audit", "verify").want(t, 0, "audit chain OK: ")

	t.Run("csv export", func(t *testing.T) {
		r := kinetic(t, "audit", "export", "--case", "1", "--format", "csv")
		r.want(t, 0)
		rows, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
		if err != nil {
			t.Fatalf("not CSV: %v\n%s", err, r.stdout)
		}
		if len(rows) < 4 {
			t.Fatalf("%d rows, want a header and the case's events", len(rows))
		}
		// The demo runs on sandbox connectors, so its export ends each row
		// with the simulated column (store.ExportAudit).
		wantHeader := []string{"seq", "time", "case_id", "action_id", "actor", "system", "event", "result", "detail", "prev_hash", "hash", "links", "simulated"}
		if !slices.Equal(rows[0], wantHeader) {
			t.Errorf("header = %v, want %v", rows[0], wantHeader)
		}
		for _, row := range rows[1:] {
			if row[len(row)-1] != "true" {
				t.Errorf("a row of the simulated demo case is not marked simulated: %v", row)
			}
		}
		events := map[string]bool{}
		for _, row := range rows[1:] {
			if row[2] != "1" {
				t.Errorf("row of case %s in case 1's export: %v", row[2], row)
			}
			events[row[6]] = true
		}
		for _, e := range []string{"case.created", "case.validated", "case.planned"} {
			if !events[e] {
				t.Errorf("export lacks a %s event", e)
			}
		}
	})

	t.Run("json export to a file", func(t *testing.T) {
		out := filepath.Join(dir, "case1.json")
		kinetic(t, "audit", "export", "--case", "1", "--out", out).want(t, 0, "events of case 1 to "+out)
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var evs []store.AuditEvent
		if err := json.Unmarshal(data, &evs); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, data)
		}
		if len(evs) < 3 || evs[0].CaseID != 1 || evs[0].Hash == "" {
			t.Errorf("export has %d events, first %+v", len(evs), evs[0])
		}
		// The demo's cases run at once, so case 1's events are interleaved
		// with others': the export still verifies alone, through its links.
		kinetic(t, "audit", "verify", "--export", out).want(t, 0, "export OK: ")
	})

	t.Run("evidence report of a demo case", func(t *testing.T) {
		out := filepath.Join(dir, "case1.pdf")
		kinetic(t, "audit", "report", "--case", "1", "--unsigned", "--out", out).want(t, 0, "wrote "+out, "UNSIGNED")
		data, err := os.ReadFile(out)
		if err != nil || !bytes.HasPrefix(data, []byte("%PDF-")) {
			t.Fatalf("not a PDF (%v)", err)
		}
	})

	kinetic(t, "audit", "export", "--case", "1", "--format", "xml").want(t, 2, "--format must be json or csv")

	t.Run("an edited event breaks the chain", func(t *testing.T) {
		ctx := context.Background()
		st, err := store.Open(ctx, store.Options{Driver: store.DialectSQLite, Path: filepath.Join(dir, "kinetic.db")})
		if err != nil {
			t.Fatal(err)
		}
		res := st.TestDB().Exec("UPDATE audit_events SET detail = detail || ' (edited)' WHERE seq = 5")
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		if res.Error != nil || res.RowsAffected != 1 {
			t.Fatalf("tampering: %v, %d rows", res.Error, res.RowsAffected)
		}
		r := kinetic(t, "audit", "verify")
		r.want(t, 1, "audit chain BROKEN at event 5", "audit chain does not verify (first broken event 5)")
	})
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// background runs kinetic in a goroutine until stop is called, which
// cancels its context and returns its result.
func background(t *testing.T, args ...string) (stop func() result, done <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	var err error
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		err = run(ctx, args, &stdout, &stderr)
	}()
	stopped := false
	stop = func() result {
		cancel()
		if !stopped {
			stopped = true
			select {
			case <-ch:
			case <-time.After(30 * time.Second):
				t.Fatalf("kinetic %s did not stop within 30s of its context ending", strings.Join(args, " "))
			}
		}
		return result{err: err, stdout: stdout.String(), stderr: stderr.String()}
	}
	t.Cleanup(func() { stop() })
	return stop, ch
}

// waitHTTP polls url until it answers 200; done ending first fails.
func waitHTTP(t *testing.T, url string, done <-chan struct{}, stop func() result) {
	t.Helper()
	var err error
	testkit.Eventually(t, 30*time.Second, func() bool {
		var res *http.Response
		if res, err = http.Get(url); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return true
			}
		}
		select {
		case <-done:
			t.Fatalf("kinetic exited before %s answered:\n%s", url, stop())
		default:
		}
		return false
	}, func() string { return fmt.Sprintf("%s did not answer 200 (last: %v)\n%s", url, err, stop()) })
}

func call(t *testing.T, method, url, token, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, b
}

func TestServe(t *testing.T) {
	t.Run("the embedded default serves probes and metrics and refuses the API", func(t *testing.T) {
		dir := inTempDir(t)
		addr := freeAddr(t)
		stop, done := background(t, "serve", "--addr", addr)
		base := "http://" + addr
		waitHTTP(t, base+"/healthz", done, stop)
		for path, want := range map[string]string{"/readyz": `"ready"`, "/metrics": "kinetic_queue_tasks"} {
			if code, body := call(t, "GET", base+path, "", ""); code != 200 || !strings.Contains(string(body), want) {
				t.Errorf("GET %s: %d %s", path, code, body)
			}
		}
		if code, _ := call(t, "POST", base+"/api/v1/cases", "anything", `{"employee_id":"E1001"}`); code != http.StatusUnauthorized {
			t.Errorf("POST without configured tokens: %d, want 401", code)
		}
		r := stop()
		r.want(t, 0, `"msg":"kinetic serve listening"`, addr)
		if _, err := os.Stat(filepath.Join(dir, "kinetic.db")); err != nil {
			t.Errorf("serve on the embedded default did not create kinetic.db: %v", err)
		}
	})

	t.Run("a file configuration with an API token runs a case end to end", func(t *testing.T) {
		dir := inTempDir(t)
		const token = "serve-token-8b1f0e"
		t.Setenv("KINETIC_API_TOKEN", token)
		cfg := kitConfig(t, dir, "  api_tokens:\n    hris: {env: KINETIC_API_TOKEN}\n")
		addr := freeAddr(t)
		t.Setenv(configs.EnvHTTPAddr, addr) // the environment overrides http.addr
		stop, done := background(t, "serve", "--config", cfg)
		base := "http://" + addr
		waitHTTP(t, base+"/readyz", done, stop)

		code, body := call(t, "POST", base+"/api/v1/cases", token, `{"employee_id":"E1","reason":"resigned"}`)
		if code != http.StatusCreated {
			t.Fatalf("POST: %d %s", code, body)
		}
		var c struct {
			ID      int64            `json:"id"`
			Status  string           `json:"status"`
			Actions []bot.ActionView `json:"actions"`
		}
		if err := json.Unmarshal(body, &c); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, 30*time.Second, func() bool {
			if !store.CaseOpen(c.Status) {
				return true
			}
			code, body = call(t, "GET", fmt.Sprintf("%s/api/v1/cases/%d", base, c.ID), token, "")
			if code != http.StatusOK {
				t.Fatalf("GET: %d %s", code, body)
			}
			if err := json.Unmarshal(body, &c); err != nil {
				t.Fatal(err)
			}
			return !store.CaseOpen(c.Status)
		}, func() string { return fmt.Sprintf("case %d still %s", c.ID, c.Status) })
		if c.Status != store.CaseCompleted || len(c.Actions) == 0 {
			t.Fatalf("case %d %s with %d actions, want completed:\n%s", c.ID, c.Status, len(c.Actions), body)
		}
		for _, a := range c.Actions {
			// E1 holds no equipment in testkit's directory (cases with
			// devices wait for their disposition): nothing to recover.
			if a.Name == "create_recovery_task" && a.Status == store.ActionSkipped {
				continue
			}
			if a.Status != store.ActionSucceeded {
				t.Errorf("action %s: %s (%s), want succeeded", a.Name, a.Status, a.LastError)
			}
		}
		_, metrics := call(t, "GET", base+"/metrics", "", "")
		if !strings.Contains(string(metrics), `kinetic_actions{connector="ad",status="succeeded"}`) {
			t.Errorf("/metrics does not count ad's succeeded actions:\n%s", grepLines(string(metrics), "kinetic_actions{"))
		}

		r := stop()
		r.want(t, 0, "listening")
		if strings.Contains(r.stdout+r.stderr, token) {
			t.Errorf("serve's output carries the API token:\n%s", r)
		}
		// The record the case left verifies.
		kinetic(t, "audit", "verify", "--config", cfg).want(t, 0, "audit chain OK")
	})
}

func TestWorker(t *testing.T) {
	inTempDir(t)
	// A Redis of its own: the embedded default's database 0 must not mix
	// with other packages' tests on a shared server.
	mr := miniredis.RunT(t)
	t.Setenv(configs.EnvRedisAddr, mr.Addr())
	// serve's address in the environment is not the worker's: a worker
	// started beside serve must not take serve's port.
	serveAddr := freeAddr(t)
	t.Setenv("KINETIC_HTTP_ADDR", serveAddr)
	addr := freeAddr(t)
	stop, done := background(t, "worker", "--addr", addr)
	waitHTTP(t, "http://"+addr+"/readyz", done, stop)
	if code, body := call(t, "GET", "http://"+addr+"/metrics", "", ""); code != 200 || !strings.Contains(string(body), "kinetic_queue_tasks") {
		t.Errorf("worker /metrics: %d", code)
	}
	// Probes and metrics only: the API is serve's.
	if code, _ := call(t, "POST", "http://"+addr+"/api/v1/cases", "", `{}`); code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
		t.Errorf("worker serves the API: POST /api/v1/cases answered %d", code)
	}
	if ln, err := net.Listen("tcp", serveAddr); err != nil {
		t.Errorf("the worker took serve's address %s: %v", serveAddr, err)
	} else {
		ln.Close()
	}
	stop().want(t, 0, "kinetic worker listening")
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestDeployments keeps deployments/ honest without a container engine:
// every YAML parses, the Dockerfile starts a command this binary has, every
// kinetic command line in compose and Kubernetes parses, the probes point
// at the real endpoints, and the Kubernetes configuration loads.
func TestDeployments(t *testing.T) {
	cleanEnv(t)
	root := filepath.Join(repoRoot, "deployments")
	docs := map[string][]map[string]any{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "templates" {
				return fs.SkipDir // Helm templates: rendered and checked by deployments/check
			}
			return nil
		}
		if ext := filepath.Ext(path); ext != ".yaml" && ext != ".yml" {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		rel, _ := filepath.Rel(root, path)
		dec := yaml.NewDecoder(f)
		for i := 0; ; i++ {
			var doc map[string]any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Errorf("%s: document %d: %v", rel, i+1, err)
				break
			}
			if len(doc) == 0 {
				t.Errorf("%s: document %d is empty", rel, i+1)
			}
			docs[filepath.ToSlash(rel)] = append(docs[filepath.ToSlash(rel)], doc)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"docker-compose.yaml", "slack/manifest.yaml", "kubernetes/kustomization.yaml", "kubernetes/kinetic.yaml", "kubernetes/pdb.yaml", "kubernetes/networkpolicy.yaml", "kubernetes/serve.yaml", "kubernetes/worker.yaml", "kubernetes/migrate-job.yaml"} {
		if len(docs[want]) == 0 {
			t.Errorf("deployments/%s is missing or empty", want)
		}
	}

	// parses checks that a kinetic command line names a real command
	// whose flags all exist, by asking it for --help.
	parses := func(t *testing.T, where string, args []string) {
		t.Helper()
		if len(args) == 0 {
			t.Errorf("%s: no kinetic command", where)
			return
		}
		r := kinetic(t, append(slices.Clone(args), "--help")...)
		if r.err != nil || !strings.Contains(r.stdout, "Usage:\n  kinetic "+args[0]) {
			t.Errorf("%s: kinetic %s is not a valid command line: %v", where, strings.Join(args, " "), r.err)
		}
	}

	t.Run("Dockerfile", func(t *testing.T) {
		data, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
		if err != nil {
			t.Fatal(err)
		}
		instr := map[string][]string{}
		for _, line := range strings.Split(string(data), "\n") {
			for _, k := range []string{"ENTRYPOINT", "CMD"} {
				if rest, ok := strings.CutPrefix(line, k+" "); ok {
					var v []string
					if err := json.Unmarshal([]byte(rest), &v); err != nil {
						t.Errorf("%s is not in exec (JSON) form: %s", k, line)
					}
					instr[k] = v
				}
			}
		}
		if !slices.Equal(instr["ENTRYPOINT"], []string{"/kinetic"}) {
			t.Errorf("ENTRYPOINT = %q, want [/kinetic]", instr["ENTRYPOINT"])
		}
		parses(t, "Dockerfile CMD", instr["CMD"])
		for _, want := range []string{"FROM golang:1.26 AS build", "CGO_ENABLED=0", "gcr.io/distroless/static", ":nonroot", "USER 65532:65532"} {
			if !strings.Contains(string(data), want) {
				t.Errorf("Dockerfile lacks %q", want)
			}
		}
		// The files the image copies exist.
		for _, m := range regexp.MustCompile(`(?m)^COPY (configs/[^\n]+) /etc/kinetic/`).FindAllStringSubmatch(string(data), -1) {
			for _, src := range strings.Fields(m[1]) {
				if _, err := os.Stat(filepath.Join(repoRoot, src)); err != nil {
					t.Errorf("Dockerfile copies %s: %v", src, err)
				}
			}
		}
	})

	t.Run("compose", func(t *testing.T) {
		compose := docs["docker-compose.yaml"]
		if len(compose) != 1 {
			t.Fatalf("%d documents", len(compose))
		}
		services, _ := compose[0]["services"].(map[string]any)
		for _, name := range []string{"postgres", "redis", "migrate", "kinetic", "worker"} {
			if services[name] == nil {
				t.Errorf("no %s service", name)
			}
		}
		subcommands := map[string]bool{}
		for name, s := range services {
			svc := s.(map[string]any)
			if svc["build"] == nil {
				continue // postgres, redis
			}
			args := stringList(svc["command"])
			parses(t, "compose service "+name, args)
			if len(args) > 0 {
				subcommands[args[0]] = true
			}
			env, _ := svc["environment"].(map[string]any)
			for _, k := range []string{"KINETIC_DATABASE_DSN", "KINETIC_REDIS_ADDR", "KINETIC_API_TOKEN", "KINETIC_REDIS_PASSWORD"} {
				if env[k] == nil {
					t.Errorf("service %s: no %s", name, k)
				}
			}
			vols := stringList(svc["volumes"])
			if !slices.Contains(vols, "../configs:/etc/kinetic:ro") {
				t.Errorf("service %s does not mount ../configs: %v", name, vols)
			}
		}
		for _, c := range []string{"migrate", "serve", "worker"} {
			if !subcommands[c] {
				t.Errorf("no service runs kinetic %s", c)
			}
		}
		if w, _ := services["worker"].(map[string]any); w != nil {
			if deploy, _ := w["deploy"].(map[string]any); deploy["replicas"] != 2 {
				t.Errorf("worker replicas = %v, want 2", deploy["replicas"])
			}
		}
	})

	t.Run("kubernetes", func(t *testing.T) {
		kinds := map[string]map[string]any{}
		for file, ds := range docs {
			if !strings.HasPrefix(file, "kubernetes/") {
				continue
			}
			for _, d := range ds {
				kind, _ := d["kind"].(string)
				if kind == "Kustomization" {
					continue
				}
				meta, _ := d["metadata"].(map[string]any)
				kinds[kind+"/"+fmt.Sprint(meta["name"])] = d
				if kind == "Secret" {
					t.Errorf("%s: secrets are created from a secret store, never kept here", file)
				}
			}
		}
		serve := containerOf(t, kinds["Deployment/kinetic-serve"])
		worker := containerOf(t, kinds["Deployment/kinetic-worker"])
		job := kinds["Job/kinetic-migrate"]
		if job == nil {
			t.Fatal("no Job/kinetic-migrate")
		}
		migrate := firstContainer(t, dig(job, "spec", "template", "spec"))
		for name, c := range map[string]map[string]any{"serve": serve, "worker": worker, "migrate": migrate} {
			args := stringList(c["args"])
			parses(t, "kubernetes "+name, args)
			if len(args) == 0 || args[0] != name {
				t.Errorf("the %s container runs %v", name, args)
			}
			env, _ := c["env"].([]any)
			if len(env) == 0 {
				t.Errorf("%s: no environment", name)
			}
			for _, e := range env {
				e, _ := e.(map[string]any)
				if e["value"] != nil {
					t.Errorf("%s: env %v has a literal value; use secretKeyRef", name, e["name"])
				}
				if dig(e, "valueFrom", "secretKeyRef", "name") != "kinetic-secrets" {
					t.Errorf("%s: env %v is not from the kinetic-secrets Secret", name, e["name"])
				}
			}
		}
		for name, c := range map[string]map[string]any{"serve": serve, "worker": worker} {
			if p := dig(c, "livenessProbe", "httpGet", "path"); p != "/healthz" {
				t.Errorf("%s liveness probe path %v, want /healthz", name, p)
			}
			if p := dig(c, "readinessProbe", "httpGet", "path"); p != "/readyz" {
				t.Errorf("%s readiness probe path %v, want /readyz", name, p)
			}
		}
		if r := dig(kinds["Deployment/kinetic-worker"], "spec", "replicas"); r != 3 {
			t.Errorf("worker replicas = %v, want 3", r)
		}
		if kinds["Service/kinetic"] == nil {
			t.Error("no Service/kinetic")
		}

		// The ConfigMap's configuration loads, policy included, with the
		// secrets the pods get from the Secret. The ConfigMap is generated
		// (configMapGenerator) from kubernetes/kinetic.yaml and
		// configs/policy.production.yaml; deployments/check renders the
		// kustomization and checks it holds exactly these two files.
		dir := t.TempDir()
		for name, src := range map[string]string{"kinetic.yaml": filepath.Join(root, "kubernetes", "kinetic.yaml"), "policy.yaml": filepath.Join(repoRoot, "configs", "policy.production.yaml")} {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			s := string(b)
			if name == "kinetic.yaml" {
				const inImage = "/etc/kinetic/directory.sample.json"
				if !strings.Contains(s, inImage) {
					t.Fatalf("kinetic.yaml does not use the image's %s", inImage)
				}
				s = strings.ReplaceAll(s, inImage, filepath.Join(repoRoot, "configs", "directory.sample.json"))
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		t.Setenv("KINETIC_DATABASE_DSN", "postgres://kinetic:x@postgres:5432/kinetic")
		t.Setenv("KINETIC_REDIS_PASSWORD", "x")
		t.Setenv("KINETIC_API_TOKEN", "x")
		// The connectors' credentials, from kinetic-connector-secrets.
		for _, k := range []string{"KINETIC_AD_BIND_PASSWORD", "KINETIC_M365_CLIENT_CREDENTIAL", "KINETIC_EXCHANGE_TOKEN", "KINETIC_OKTA_TOKEN",
			"KINETIC_VPN_TOKEN", "KINETIC_AWS_AUTOMATION_TOKEN", "KINETIC_SALESFORCE_TOKEN", "KINETIC_BADGE_API_KEY", "KINETIC_ASSETS_TOKEN", "KINETIC_PAYROLL_TOKEN"} {
			t.Setenv(k, "x")
		}
		if cfg, err := compose.Load(filepath.Join(dir, "kinetic.yaml")); err != nil {
			t.Errorf("the ConfigMap's configuration does not load:\n%v", err)
		} else if cfg.Service.Simulated || cfg.Service.SandboxConnectors() != nil {
			// Simulated systems never pass for real in a shipped deployment.
			t.Errorf("the ConfigMap runs simulated systems: simulated %t, sandbox connectors %v", cfg.Service.Simulated, cfg.Service.SandboxConnectors())
		}
		for name, c := range map[string]map[string]any{"serve": serve, "worker": worker, "migrate": migrate} {
			from, _ := c["envFrom"].([]any)
			if len(from) != 1 || dig(from[0], "secretRef", "name") != "kinetic-connector-secrets" {
				t.Errorf("%s does not load the connectors' credentials from kinetic-connector-secrets: %v", name, from)
			}
		}
		for _, c := range []map[string]any{serve, worker, migrate} {
			mounted := false
			mounts, _ := c["volumeMounts"].([]any)
			for _, m := range mounts {
				if dig(m, "mountPath") == "/etc/kinetic/config" {
					mounted = true
				}
			}
			args := stringList(c["args"])
			if !mounted || len(args) < 3 || !slices.Equal(args[1:3], []string{"--config", "/etc/kinetic/config/kinetic.yaml"}) {
				t.Errorf("container %v does not run on the mounted ConfigMap", c["name"])
			}
		}
	})

	t.Run("slack manifest", func(t *testing.T) {
		// Scopes, the command and the URL paths are pinned to the code by
		// bot/slackapp's TestManifestMatchesTheCode; here, that it parses
		// and points at one public host.
		m := docs["slack/manifest.yaml"][0]
		cmds, _ := dig(m, "features", "slash_commands").([]any)
		if len(cmds) != 1 || dig(cmds[0].(map[string]any), "command") != "/offboard" {
			t.Errorf("slash commands = %v", cmds)
		}
		for _, u := range []any{dig(cmds[0].(map[string]any), "url"), dig(m, "settings", "interactivity", "request_url"), dig(m, "settings", "event_subscriptions", "request_url")} {
			if s, _ := u.(string); !strings.HasPrefix(s, "https://") || !strings.Contains(s, "/slack/") {
				t.Errorf("manifest URL %v", u)
			}
		}
	})
}

// dig walks nested maps.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func stringList(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

func containerOf(t *testing.T, deploy map[string]any) map[string]any {
	t.Helper()
	if deploy == nil {
		t.Fatal("missing Deployment")
	}
	return firstContainer(t, dig(deploy, "spec", "template", "spec"))
}

func firstContainer(t *testing.T, podSpec any) map[string]any {
	t.Helper()
	cs, _ := dig(podSpec, "containers").([]any)
	if len(cs) != 1 {
		t.Fatalf("%d containers, want 1", len(cs))
	}
	return cs[0].(map[string]any)
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestServeRefusesSlackGroupsWithoutSlack: an approver group naming a Slack
// user group needs the Slack front end; without it serve and worker refuse
// to start rather than run with a group nobody is in.
func TestServeRefusesSlackGroupsWithoutSlack(t *testing.T) {
	dir := inTempDir(t)
	for _, k := range []string{slackbot.EnvBotToken, slackbot.EnvAppToken, slackbot.EnvSigningSecret} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	path := kitConfig(t, dir, "")
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, `approver_groups: {legal: ["slack:S0LEGAL"]}`)
	f.Close()
	var stdout, stderr bytes.Buffer
	err = run(context.Background(), []string{"serve", "--config", path}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), `approver group "legal" lists slack:S0LEGAL`) || !strings.Contains(err.Error(), "Slack is not configured") {
		t.Fatalf("serve: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "kinetic.db")); err == nil {
		t.Error("the refused serve created a database")
	}
}

// TestServeRefusesSandboxWithoutSimulated: a file whose connectors are
// sandbox simulations and that does not say simulated: true would report
// "completed, verified" while revoking nothing; serve and worker refuse to
// start on it (exit 2) and name the connectors, before opening anything.
// config validate accepts the file but warns.
func TestServeRefusesSandboxWithoutSimulated(t *testing.T) {
	dir := inTempDir(t)
	path := kitConfig(t, dir, "")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	unflagged := strings.Replace(string(data), "simulated: true\n", "", 1)
	if err := os.WriteFile(path, []byte(unflagged), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"serve", "worker"} {
		var stdout, stderr bytes.Buffer
		// Bounded: a serve that wrongly starts returns when this ends.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := run(ctx, []string{cmd, "--config", path, "--addr", freeAddr(t)}, &stdout, &stderr)
		cancel()
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 2 {
			t.Fatalf("%s: err = %v, want exit code 2", cmd, err)
		}
		var list *configs.Errors
		if !errors.Is(err, configs.ErrSimulatedNotDeclared) || !errors.As(err, &list) {
			t.Errorf("%s: err = %v, want ErrSimulatedNotDeclared with the configs.Errors naming each instance", cmd, err)
		}
		// The message is the operator's contract: what is refused, and where.
		for _, want := range []string{
			"kinetic " + cmd + " refuses to start: connectors ad, assets, badge, okta, payroll are sandbox simulations",
			"the configuration does not say simulated: true",
			path + ":11: connectors.ad.type: sandbox simulates its system: nothing real is revoked",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error lacks %q:\n%v", cmd, want, err)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "kinetic.db")); err == nil {
		t.Error("a refused start created a database")
	}
	r := kinetic(t, "config", "validate", "--config", path)
	r.want(t, 0, "is valid", "warning: kinetic serve and worker will refuse this file")

	// With the flag (kitConfig's own file), validate says what is simulated.
	kinetic(t, "config", "validate", "--config", kitConfig(t, dir, "")).want(t, 0, "simulated: connectors ad, assets, badge, okta, payroll are sandbox simulations")
}
