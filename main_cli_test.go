package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/bot"
	"github.com/kineticsec/kinetic/configs"
)

// TestApprovalCLI runs `kinetic serve` on the embedded default and drives
// an email-forwarding exception through the approval commands, the way an
// HR operator without chat would: the example policy's manager_then_hr
// chain, where the manager (E0100 Sofia Alvarez) decides step 1 and, since
// the HR partner (E0002 Marcus Bell) asked, E1027 Fatima Haddad decides
// step 2.
//
// The embedded default is served from a copy with two more API clients:
// one principal is one approver (and never decides what it requested), so
// the case and its exception come in through "intake", the CLI's client
// decides step 1 as the manager, and E1027 decides step 2 through
// "hr-desk", a client acting for E1027 only.
func TestApprovalCLI(t *testing.T) {
	dir := inTempDir(t)
	const token = "cli-token-5d2e91"
	const intakeToken, hrDeskToken = "intake-token-0c4a77", "hr-desk-token-93be10"
	addr := freeAddr(t)
	base := "http://" + addr
	t.Setenv(configs.EnvHTTPAddr, addr)
	t.Setenv("KINETIC_API_TOKEN", token) // serve accepts it as the "cli" client's token
	t.Setenv("KINETIC_SERVER", base)
	t.Setenv("INTAKE_TOKEN", intakeToken)
	t.Setenv("HR_DESK_TOKEN", hrDeskToken)
	for _, name := range []string{"embedded.yaml", "policy.example.yaml", "directory.sample.json"} {
		b, err := configs.EmbeddedFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if name == "embedded.yaml" {
			b = []byte(strings.Replace(string(b), "\n  addr: 127.0.0.1:8080\n", `
  addr: 127.0.0.1:8080
  api_clients:
    intake: {token: {env: INTAKE_TOKEN}, scopes: [cases:create, cases:read], act_as: [role:hr, role:manager]}
    hr-desk: {token: {env: HR_DESK_TOKEN}, scopes: [approvals:decide, cases:read], act_as: [E1027]}
`, 1))
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("KINETIC_CONFIG", filepath.Join(dir, "embedded.yaml"))
	stop, done := background(t, "serve")
	waitHTTP(t, base+"/readyz", done, stop)

	code, body := call(t, "POST", base+"/api/v1/cases", intakeToken, `{"employee_id":"E1001","requested_by":"E0002","reason":"resigned",
		"exceptions":[{"kind":"email_forwarding","forward_to":"sofia.alvarez@example.com","days":30}]}`)
	if code != http.StatusCreated {
		t.Fatalf("opening the case: %d %s", code, body)
	}
	var c struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	code, body = call(t, "GET", fmt.Sprintf("%s/api/v1/approvals?case=%d", base, c.ID), token, "")
	var list []bot.ApprovalResponse
	if err := json.Unmarshal(body, &list); err != nil || code != http.StatusOK || len(list) != 1 {
		t.Fatalf("the case's approvals: %d %v %s", code, err, body)
	}
	id := fmt.Sprint(list[0].ID)
	caseID := fmt.Sprint(c.ID)

	t.Run("approvals list --for the manager shows the approval", func(t *testing.T) {
		r := kinetic(t, "approvals", "list", "--for", "E0100")
		r.want(t, 0, "ID", "MAY DECIDE", "email_forwarding", "Dana Whitfield", `step 1/2 "manager"`, "E0100")
		if !regexp.MustCompile(`(?m)^` + id + `\s+` + caseID + `\s+Dana Whitfield\s+email_forwarding\s+pending`).MatchString(r.stdout) {
			t.Errorf("no row for approval %s of case %s:\n%s", id, caseID, r.stdout)
		}
		kinetic(t, "approvals", "list", "--for", "E1027").want(t, 0, "no approvals") // step 2 is not open yet
	})

	t.Run("the requester cannot decide", func(t *testing.T) {
		r := kinetic(t, "approve", id, "--as", "E0002")
		r.want(t, 1, "cannot decide", "HTTP 403")
		var ee *exitError
		if !errors.As(r.err, &ee) || ee.code != 1 {
			t.Errorf("err = %#v, want an exitError with code 1", r.err)
		}
	})

	t.Run("the manager approves step 1", func(t *testing.T) {
		r := kinetic(t, "approve", id, "--as", "E0100")
		r.want(t, 0, "approval "+id+": email_forwarding for Dana Whitfield (E1001), case "+caseID+" — pending",
			"requested by E0002", "E0100 step 1 approve", "may decide now: E1027")
		if !regexp.MustCompile(`step 1 manager\s+approved`).MatchString(r.stdout) || !regexp.MustCompile(`step 2 hr\s+pending`).MatchString(r.stdout) {
			t.Errorf("want step 1 approved and step 2 pending:\n%s", r.stdout)
		}
	})

	t.Run("a denial needs --reason before any call", func(t *testing.T) {
		kinetic(t, "deny", id, "--as", "E1027").want(t, 2, "deny needs --reason")
	})

	t.Run("HR approves step 2 and the forwarding is applied", func(t *testing.T) {
		t.Setenv("KINETIC_API_TOKEN", hrDeskToken) // a second principal: the CLI's client decided step 1
		r := kinetic(t, "approve", id, "--as", "E1027")
		r.want(t, 0, "— approved", "E1027 step 2 approve", "outcome: forwarding to sofia.alvarez@example.com")
		if strings.Contains(r.stdout, "may decide now") {
			t.Errorf("a decided approval lists deciders:\n%s", r.stdout)
		}
		kinetic(t, "approve", id, "--as", "E1027").want(t, 1, "already approved", "HTTP 400")
	})

	t.Run("exceptions request", func(t *testing.T) {
		kinetic(t, "exceptions", "request", caseID, "late_laptop", "--as", "E0100", "--days", "10", "--reason", "travelling").
			want(t, 0, "late_laptop for Dana Whitfield (E1001), case "+caseID+" — pending", "requested by E0100", "may decide now: E1020, E1021")
		kinetic(t, "exceptions", "request", caseID, "nope", "--as", "E0100").
			want(t, 1, `exception kind "nope" is not in the policy`, "HTTP 400")
		kinetic(t, "exceptions", "request", caseID, "email_forwarding", "--as", "E0100", "--forward-to", "someone@gmail.com", "--days", "5").
			want(t, 1, "not allowed", "HTTP 403")
		kinetic(t, "exceptions", "request", "999999", "late_laptop", "--as", "E0100", "--days", "5").
			want(t, 1, "case 999999", "HTTP 404")
	})

	t.Run("releasing what is not a legal hold is refused", func(t *testing.T) {
		kinetic(t, "approvals", "release", id, "--as", "E0100", "--reason", "done").want(t, 1, "not an approved legal hold")
	})

	t.Run("batches list with none", func(t *testing.T) {
		kinetic(t, "batches", "list").want(t, 0, "no batches")
	})

	t.Run("approvals list --json", func(t *testing.T) {
		r := kinetic(t, "approvals", "list", "--json")
		r.want(t, 0)
		var got []bot.ApprovalResponse
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, r.stdout)
		}
		kinds := map[string]string{}
		for _, a := range got {
			kinds[a.Kind] = a.Status
		}
		if len(got) != 2 || kinds["email_forwarding"] != "approved" || kinds["late_laptop"] != "pending" {
			t.Errorf("approvals = %v, want forwarding approved and late_laptop pending", kinds)
		}
	})

	t.Run("the asset team moves a device; the departing person may not", func(t *testing.T) {
		code, body := call(t, "GET", base+"/api/v1/cases/"+caseID, token, "")
		var got bot.CaseResponse
		if err := json.Unmarshal(body, &got); err != nil || code != http.StatusOK || len(got.Equipment) == 0 {
			t.Fatalf("the case's equipment: %d %v %s", code, err, body)
		}
		task := fmt.Sprint(got.Equipment[0].ID)
		kinetic(t, "equipment", "move", task, "received", "--as", "E1001").want(t, 1, "departing employee")
		kinetic(t, "equipment", "move", task, "return_requested", "--as", "E1020", "--note", "label sent").want(t, 0, got.Equipment[0].AssetTag, "return_requested")
		kinetic(t, "equipment", "move", task, "return_requested", "--as", "E1020").want(t, 0, "already return_requested")
		kinetic(t, "equipment", "move", task, "open", "--as", "E1020").want(t, 1, "does not move back")
	})

	t.Run("without KINETIC_API_TOKEN the command names the variable", func(t *testing.T) {
		t.Setenv("KINETIC_API_TOKEN", "")
		kinetic(t, "approvals", "list").want(t, 2, "KINETIC_API_TOKEN")
		kinetic(t, "approve", id, "--as", "E0100").want(t, 2, "KINETIC_API_TOKEN")
	})

	t.Run("a wrong token is refused by the server", func(t *testing.T) {
		const wrong = "not-the-token-77"
		t.Setenv("KINETIC_API_TOKEN", wrong)
		r := kinetic(t, "approvals", "list")
		r.want(t, 1, "bearer token", "HTTP 401")
		if strings.Contains(r.String(), wrong) {
			t.Errorf("the output carries the token:\n%s", r)
		}
	})

	t.Run("--server must be an http(s) URL", func(t *testing.T) {
		kinetic(t, "approvals", "list", "--server", "ftp://x").want(t, 2, `--server must be an http(s) URL, got "ftp://x"`)
		kinetic(t, "batches", "list", "--server", "ftp://x").want(t, 2, "--server must be an http(s) URL")
	})

	r := stop()
	if r.err != nil {
		t.Fatalf("serve returned %v after its context was cancelled, want nil\n%s", r.err, r)
	}
	r.want(t, 0, "kinetic serve listening")
	if strings.Contains(r.stdout+r.stderr, token) {
		t.Errorf("serve's output carries the API token")
	}
}

// TestApprovalCLIUsage checks the approval commands' usage errors and
// help, which never reach a server.
func TestApprovalCLIUsage(t *testing.T) {
	cleanEnv(t)
	t.Setenv("KINETIC_API_TOKEN", "unused-token")
	t.Setenv("KINETIC_SERVER", "http://127.0.0.1:1") // nothing answers there

	t.Run("usage errors are exit 2", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"approvals"}, "usage: kinetic approvals list"},
			{[]string{"approvals", "show"}, "usage: kinetic approvals list"},
			{[]string{"approvals", "list", "--for"}, "flag needs an argument"},
			{[]string{"approvals", "list", "extra"}, "unexpected arguments: extra"},
			{[]string{"approve"}, "an id is required"},
			{[]string{"approve", "abc", "--as", "E0100"}, `"abc" is not an id`},
			{[]string{"approve", "0", "--as", "E0100"}, `"0" is not an id`},
			{[]string{"approve", "1"}, "approve needs --as HR-ID"},
			{[]string{"deny", "1", "--as", "E0100", "--reason", "  "}, "deny needs --reason"},
			{[]string{"approvals", "release", "1", "--as", "E0100"}, "release needs --reason"},
			{[]string{"exceptions"}, "usage: kinetic exceptions request"},
			{[]string{"exceptions", "request", "1"}, "exceptions request needs CASE and KIND"},
			{[]string{"exceptions", "request", "1", "late_laptop"}, "exceptions request needs --as HR-ID"},
			{[]string{"exceptions", "request", "1", "late_laptop", "--as", "E0100", "--days", "ten"}, `invalid argument "ten" for "--days" flag`},
			{[]string{"approve", "1", "2", "--as", "E0100"}, "unexpected arguments: 2"},
			{[]string{"actions", "retry"}, "an id is required"},
			{[]string{"actions", "skip", "1", "--as", "E0100"}, "actions skip needs --reason"},
			{[]string{"actions", "undo", "1"}, `unknown actions command "undo"`},
			{[]string{"batches"}, "usage: kinetic batches list"},
			{[]string{"batches", "release"}, "usage: kinetic batches list"},
			{[]string{"batches", "approve", "1"}, "batches approve needs --as HR-ID"},
			{[]string{"batches", "approve", "1", "--as", "E0001", "--case", "1,x"}, "--case takes case ids"},
			{[]string{"equipment"}, "usage: kinetic equipment move"},
			{[]string{"equipment", "move", "1"}, "needs the new status"},
			{[]string{"equipment", "move", "1", "received"}, "equipment move needs --as HR-ID"},
			{[]string{"equipment", "move", "1", "disposed", "--as", "E1020"}, "needs --reference"},
		} {
			t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
				kinetic(t, tc.args...).want(t, 2, tc.want)
			})
		}
	})

	t.Run("--help prints the command's usage", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want []string
		}{
			{[]string{"approve", "--help"}, []string{"Usage:\n  kinetic approve ID --as HR-ID", "--as", "--reason", "--server"}},
			{[]string{"approve", "1", "--help"}, []string{"Usage:\n  kinetic approve ID", "--as"}},
			{[]string{"deny", "--help"}, []string{"Usage:\n  kinetic deny ID --as HR-ID --reason TEXT", "--reason"}},
			{[]string{"approvals", "list", "--help"}, []string{"Usage:\n  kinetic approvals list", "--for", "--status", "--case", "--json", "--server"}},
			{[]string{"approvals", "release", "--help"}, []string{"Usage:\n  kinetic approvals release", "--as", "--reason"}},
			{[]string{"exceptions", "request", "--help"}, []string{"Usage:\n  kinetic exceptions request CASE KIND", "--forward-to", "--days", "--action"}},
			{[]string{"exceptions", "request", "1", "late_laptop", "--help"}, []string{"Usage:\n  kinetic exceptions request", "--days"}},
			{[]string{"batches", "list", "--help"}, []string{"Usage:\n  kinetic batches list", "--server"}},
			{[]string{"batches", "approve", "--help"}, []string{"Usage:\n  kinetic batches approve", "--as", "--case"}},
			{[]string{"batches", "approve", "1", "--help"}, []string{"Usage:\n  kinetic batches approve", "--as", "--case"}},
			{[]string{"batches", "deny", "--help"}, []string{"Usage:\n  kinetic batches deny", "--as", "--reason"}},
			{[]string{"actions", "skip", "--help"}, []string{"Usage:\n  kinetic actions skip ACTION-ID --as HR-ID", "--reason"}},
			{[]string{"cases", "restore", "--help"}, []string{"Usage:\n  kinetic cases restore CASE-ID", "--reason"}},
			{[]string{"equipment", "move", "--help"}, []string{"Usage:\n  kinetic equipment move TASK-ID STATUS", "--reference", "disposed"}},
		} {
			t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
				r := kinetic(t, tc.args...)
				r.want(t, 0, tc.want...)
				if r.stderr != "" {
					t.Errorf("help wrote to stderr:\n%s", r.stderr)
				}
				if strings.Contains(r.stdout, "--server") && !strings.Contains(r.stdout, "KINETIC_SERVER") {
					t.Errorf("--server's help does not name KINETIC_SERVER:\n%s", r.stdout)
				}
			})
		}
	})

	t.Run("a command group's --help lists its commands", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want []string
		}{
			{[]string{"approvals", "--help"}, []string{"Usage:\n  kinetic approvals <command> [flags]", "\n  list ", "\n  release "}},
			{[]string{"exceptions", "--help"}, []string{"Usage:\n  kinetic exceptions <command> [flags]", "\n  request "}},
			{[]string{"batches", "--help"}, []string{"Usage:\n  kinetic batches <command> [flags]", "\n  list ", "\n  approve ", "\n  deny "}},
		} {
			t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
				kinetic(t, tc.args...).want(t, 0, tc.want...)
			})
		}
	})

	t.Run("the top-level usage lists the approval commands", func(t *testing.T) {
		r := kinetic(t, "--help")
		for _, cmd := range []string{"approvals", "approve", "deny", "exceptions", "batches", "actions", "cases", "equipment"} {
			if !regexp.MustCompile(`(?m)^  ` + cmd + ` +\S`).MatchString(r.stdout) {
				t.Errorf("kinetic --help does not list %q", cmd)
			}
		}
		if !strings.Contains(r.stdout, "KINETIC_API_TOKEN") {
			t.Errorf("kinetic --help does not say the approval commands need KINETIC_API_TOKEN")
		}
	})
}
