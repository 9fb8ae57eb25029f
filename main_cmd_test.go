package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	slackbot "github.com/kineticsec/kinetic/bot/slackbot"
	"github.com/kineticsec/kinetic/configs"
)

// commandPaths lists every command of the kinetic command tree, as typed
// after "kinetic", the help and completion commands cobra adds included.
func commandPaths(t *testing.T) [][]string {
	t.Helper()
	root := newCommand(io.Discard, io.Discard)
	root.InitDefaultHelpCmd()
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		for _, sub := range c.Commands() {
			if sub.Hidden {
				continue
			}
			p := append(slices.Clone(path), sub.Name())
			paths = append(paths, p)
			walk(sub, p)
		}
	}
	walk(root, nil)
	if len(paths) < 40 {
		t.Fatalf("only %d commands in the tree: %v", len(paths), paths)
	}
	return paths
}

// TestHelpAtEveryLevel: --help on the root, on every group and on every
// command prints its usage on standard output and exits 0; a group's help
// lists its commands, and "kinetic help PATH" prints the same.
func TestHelpAtEveryLevel(t *testing.T) {
	cleanEnv(t)
	r := kinetic(t, "--help")
	r.want(t, 0, "Usage:\n  kinetic <command> [flags]", "Exit codes: 0 success, 1 failure found or runtime error, 2 usage or configuration error.")
	for _, path := range commandPaths(t) {
		name := strings.Join(path, " ")
		t.Run(name, func(t *testing.T) {
			r := kinetic(t, append(slices.Clone(path), "--help")...)
			r.want(t, 0, "Usage:\n  kinetic "+name)
			if r.stderr != "" {
				t.Errorf("help wrote to stderr:\n%s", r.stderr)
			}
			if strings.Contains(r.stdout, "Exit codes:") {
				t.Errorf("a command's help repeats the root's footer:\n%s", r.stdout)
			}
			if path[0] == "help" {
				return
			}
			if again := kinetic(t, append([]string{"help"}, path...)...); again.stdout != r.stdout {
				t.Errorf("kinetic help %s differs from kinetic %s --help:\n%s\n---\n%s", name, name, again.stdout, r.stdout)
			}
		})
	}
	for group, subs := range map[string][]string{
		"config":    {"validate"},
		"audit":     {"verify", "export", "report", "verify-report"},
		"approvals": {"list", "release"},
		"actions":   {"retry", "skip", "done", "escalate", "confirm"},
		"cases":     {"cancel", "restore"},
	} {
		r := kinetic(t, group, "--help")
		r.want(t, 0, "Usage:\n  kinetic "+group+" <command> [flags]")
		for _, sub := range subs {
			if !regexp.MustCompile(`(?m)^  ` + sub + ` +\S`).MatchString(r.stdout) {
				t.Errorf("kinetic %s --help does not list %s:\n%s", group, sub, r.stdout)
			}
		}
	}
	// worker's usage shows its --addr (the health and metrics listener).
	kinetic(t, "worker", "--help").want(t, 0, "kinetic worker [--addr HOST:PORT]", "--addr HOST:PORT", "KINETIC_WORKER_ADDR")
}

// TestUsageErrorsExit2: an unknown command or flag, a flag without its
// value, a group without a command: exit 2 with a message that says what
// was wrong and where the help is.
func TestUsageErrorsExit2(t *testing.T) {
	cleanEnv(t)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"offboard"}, []string{`unknown command "offboard" for "kinetic"`, "run 'kinetic --help' for usage"}},
		{[]string{"servve"}, []string{`unknown command "servve"`, "Did you mean this?", "serve"}},
		{[]string{"audit", "delete"}, []string{`unknown audit command "delete"`, "usage: kinetic audit verify|export|report|verify-report"}},
		{[]string{"audit"}, []string{"usage: kinetic audit verify|export|report|verify-report [flags]; run 'kinetic audit --help'"}},
		{[]string{"plan", "--employe", "E1001"}, []string{"unknown flag: --employe", "run 'kinetic plan --help' for usage"}},
		{[]string{"audit", "export", "--case"}, []string{"flag needs an argument: --case", "run 'kinetic audit export --help'"}},
		{[]string{"audit", "export", "--case", "x"}, []string{`invalid argument "x" for "--case" flag`}},
		{[]string{"audit", "verify-report"}, []string{"audit verify-report needs one FILE"}},
		{[]string{"version", "--json=maybe"}, []string{`invalid argument "maybe" for "--json" flag`}},
		{[]string{"completion", "tcsh"}, []string{`unknown completion command "tcsh"`, "usage: kinetic completion bash|"}},
		{[]string{"completion"}, []string{"usage: kinetic completion bash|"}},
		{[]string{"help", "offboard"}, []string{`unknown help topic "offboard"`}},
		{[]string{"help", "audit", "delete"}, []string{`unknown help topic "audit delete"`}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			kinetic(t, tc.args...).want(t, 2, tc.want...)
		})
	}
}

// TestLegacySingleDashFlags: the command took Go flag package syntax
// (-config FILE) before it moved to cobra; those command lines mean what
// they meant, while a flag's value is never rewritten.
func TestLegacySingleDashFlags(t *testing.T) {
	inTempDir(t)
	kinetic(t, "config", "validate", "-config", "nope.yaml").want(t, 2, "invalid configuration", "nope.yaml")
	kinetic(t, "config", "validate", "-config=nope.yaml").want(t, 2, "nope.yaml")
	kinetic(t, "reconcile", "-all", "-days", "0").want(t, 2, "--days must be positive")
	kinetic(t, "plan", "-help").want(t, 0, "Usage:\n  kinetic plan")
	// "-as" is --reason's value here, not the --as flag.
	kinetic(t, "deny", "1", "--reason", "-as").want(t, 2, "deny needs --as HR-ID")
}

// TestVersion: kinetic version prints what the build recorded: the module
// path and the Go version at least (a test binary has no VCS stamp).
func TestVersion(t *testing.T) {
	cleanEnv(t)
	r := kinetic(t, "version")
	r.want(t, 0, "module       github.com/kineticsec/kinetic\n", "go           "+runtime.Version()+"\n", "platform     "+runtime.GOOS+"/"+runtime.GOARCH, "revision ")

	r = kinetic(t, "version", "--json")
	r.want(t, 0)
	var v map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r)
	}
	if v["module"] != "github.com/kineticsec/kinetic" || v["go_version"] != runtime.Version() || v["version"] == "" {
		t.Errorf("version --json = %v", v)
	}
	if _, ok := v["modified"].(bool); !ok {
		t.Errorf("version --json has no modified flag: %v", v)
	}

	kinetic(t, "--version").want(t, 0, "kinetic ", runtime.Version())
}

// TestCompletion: cobra's completion scripts for each shell, and the
// completions they ask the command for (flag values with a fixed set).
func TestCompletion(t *testing.T) {
	cleanEnv(t)
	for shell, marker := range map[string]string{
		"bash":       "complete -o default -F __start_kinetic kinetic",
		"zsh":        "#compdef kinetic",
		"fish":       "complete -c kinetic",
		"powershell": "Register-ArgumentCompleter -CommandName 'kinetic'",
	} {
		t.Run(shell, func(t *testing.T) {
			r := kinetic(t, "completion", shell)
			r.want(t, 0, marker)
			if len(r.stdout) < 1000 {
				t.Errorf("a %d-byte %s script:\n%s", len(r.stdout), shell, r.stdout)
			}
		})
	}
	// What the scripts run at a <TAB>.
	r := kinetic(t, "__complete", "audit", "export", "--format", "")
	r.want(t, 0, "json\ncsv\n:4\n")
	r = kinetic(t, "__complete", "au")
	r.want(t, 0, "audit\t")
	r = kinetic(t, "__complete", "equipment", "move", "12", "")
	r.want(t, 0, "received\n", "disposed\n")
}

// TestPlanPrintsSLAsAsDurations: an SLA of 10 minutes is "10m" in the plan
// table and in --json (with sla_seconds), never "1" or nanoseconds.
func TestPlanPrintsSLAsAsDurations(t *testing.T) {
	inTempDir(t)
	// E0101 Wen Li has a secret clearance: the example policy's "cleared
	// staff" rule gives revoke_aws_keys_now 10m and critical actions 15m.
	r := kinetic(t, "plan", "--employee", "E0101", "--offline")
	r.want(t, 0)
	if !regexp.MustCompile(`(?m)^  critical +revoke_aws_keys_now +\S+ +\S+ +10m +`).MatchString(r.stdout) {
		t.Errorf("no revoke_aws_keys_now row with SLA 10m:\n%s", r.stdout)
	}
	if !regexp.MustCompile(`(?m)^  entitlements +\S+ +\S+ +\S+ +1h +`).MatchString(r.stdout) {
		t.Errorf("no entitlements row with SLA 1h:\n%s", r.stdout)
	}

	r = kinetic(t, "plan", "--employee", "E0101", "--offline", "--json")
	r.want(t, 0)
	var p struct {
		Employee struct{ ID string }
		Actions  []struct {
			Name       string
			SLA        json.RawMessage
			SLASeconds int64 `json:"sla_seconds"`
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	if p.Employee.ID != "E0101" || len(p.Actions) == 0 {
		t.Fatalf("plan for %q with %d actions", p.Employee.ID, len(p.Actions))
	}
	slas := map[string]string{}
	for _, a := range p.Actions {
		var s string
		if err := json.Unmarshal(a.SLA, &s); err != nil {
			t.Fatalf("%s: sla %s is not a string", a.Name, a.SLA)
		}
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 || int64(d/time.Second) != a.SLASeconds {
			t.Errorf("%s: sla %q, sla_seconds %d", a.Name, s, a.SLASeconds)
		}
		slas[a.Name] = s
	}
	if slas["revoke_aws_keys_now"] != "10m" || slas["disable_ad"] != "15m" {
		t.Errorf("SLAs %v, want revoke_aws_keys_now 10m and disable_ad 15m", slas)
	}
}

// TestConfigurationErrorsExit2: a service file that does not load, and
// chat settings that load but cannot be used (a Slack token of the wrong
// kind, a Teams metadata URL the outbound policy refuses), are exit 2 for
// config validate and for serve and worker, which start nothing.
func TestConfigurationErrorsExit2(t *testing.T) {
	dir := inTempDir(t)
	for _, k := range []string{slackbot.EnvBotToken, slackbot.EnvSigningSecret, slackbot.EnvAppToken, slackbot.EnvAPIURL, slackbot.EnvMode, slackbot.EnvChannel, slackbot.EnvAlertsChannel} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	bad := writeEmbeddedWith(t, dir, "\nhtp: {}\n")
	for _, cmd := range [][]string{{"config", "validate"}, {"serve"}, {"worker"}, {"migrate"}, {"plan", "--employee", "E1001"}} {
		kinetic(t, append(slices.Clone(cmd), "--config", bad)...).want(t, 2, "invalid configuration", `htp: unknown key "htp"`)
	}

	t.Setenv("SLACK_BOT", "xoxb-1")
	t.Setenv("SLACK_SIGNING", "s")
	t.Setenv("TEAMS_PASSWORD", "teams-pw-4d1f")
	slack := writeEmbeddedWith(t, mkdir(t, dir, "slack"), `
chat:
  slack:
    bot_token: {env: SLACK_BOT}
    signing_secret: {env: SLACK_SIGNING}
    offboarding_channel: C0123ABCD
`)
	teams := writeEmbeddedWith(t, mkdir(t, dir, "teams"), `
chat:
  teams:
    app_id: 00000000-0000-0000-0000-000000000001
    app_password: {env: TEAMS_PASSWORD}
    openid_metadata_url: https://login.example.com/openid?tenant=x
`)
	kinetic(t, "config", "validate", "--config", slack).want(t, 0, "is valid")
	// A worker needs a shared Redis; nothing listens there, and nothing
	// may be dialled before the settings are checked.
	t.Setenv(configs.EnvRedisAddr, "127.0.0.1:1")
	t.Setenv(slackbot.EnvBotToken, "xapp-not-a-bot-token")
	for _, cmd := range []string{"validate", "serve", "worker"} {
		args := []string{cmd, "--config", slack}
		if cmd == "validate" {
			args = append([]string{"config"}, args...)
		}
		r := kinetic(t, args...)
		r.want(t, 2, "slack configuration", "bot_token must be a bot token")
		if strings.Contains(r.String(), "xapp-not-a-bot-token") {
			t.Errorf("the token's value is shown:\n%s", r)
		}
		if strings.Contains(r.stderr, "listening") {
			t.Errorf("kinetic %s started:\n%s", cmd, r)
		}
	}
	t.Setenv(slackbot.EnvBotToken, "")
	os.Unsetenv(slackbot.EnvBotToken)
	for _, cmd := range []string{"validate", "serve", "worker"} {
		args := []string{cmd, "--config", teams}
		if cmd == "validate" {
			args = append([]string{"config"}, args...)
		}
		r := kinetic(t, args...)
		r.want(t, 2, "teams configuration (chat.teams in ", "metadata_url must not have a query")
		if strings.Contains(r.String(), "teams-pw-4d1f") {
			t.Errorf("the password is shown:\n%s", r)
		}
	}
}

// mkdir makes dir/name and returns it.
func mkdir(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.Mkdir(p, 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}
