package configs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/directory/bamboohr"
	"github.com/kineticsec/kinetic/directory/scim"
	"github.com/kineticsec/kinetic/directory/workday"
	"github.com/kineticsec/kinetic/internal/outbound"
)

// Secret values the HR source examples read from the environment.
const (
	testBambooKey     = "bhr-KEY-value-7d1c"
	testWorkdaySecret = "wd-SECRET-value-0a9b"
	testWorkdayToken  = "wd-REFRESH-value-5e6f"
	testSCIMToken     = "scim-TOKEN-value-3c4d"
)

func setHREnv(t *testing.T) {
	t.Helper()
	clearEnv(t)
	t.Setenv("KINETIC_TEST_BAMBOOHR_KEY", testBambooKey)
	t.Setenv("KINETIC_TEST_WORKDAY_SECRET", testWorkdaySecret)
	t.Setenv("KINETIC_TEST_WORKDAY_REFRESH", testWorkdayToken)
	t.Setenv("KINETIC_TEST_SCIM_TOKEN", testSCIMToken)
	t.Setenv("KINETIC_TEST_UNSET_HR_TOKEN", "")
	os.Unsetenv("KINETIC_TEST_UNSET_HR_TOKEN")
}

// TestHRSourceExamples loads every testdata/hrsources/valid-*.yaml.
func TestHRSourceExamples(t *testing.T) {
	setHREnv(t)
	files, err := filepath.Glob("testdata/hrsources/valid-*.yaml")
	if err != nil || len(files) != 4 {
		t.Fatalf("examples: %v, %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := loadT(f)
			if err != nil {
				t.Fatal(err)
			}
			ds := cfg.Service.Directory
			switch filepath.Base(f) {
			case "valid-file.yaml":
				if ds.Reload.D() != 30*time.Second || ds.File != "people.csv" {
					t.Errorf("directory = %+v", ds)
				}
			case "valid-bamboohr.yaml":
				b := ds.BambooHR
				if b == nil || b.Company != "acme" || b.APIKey.Value() != testBambooKey || ds.TTL.D() != 15*time.Minute ||
					b.Fields.ChatUserID != "customSlackUserID" || b.Attributes["cost_center"] != "customCostCenter" ||
					b.Values["type"]["Full-Time"] != "employee" || b.ManagerKey != "employeeNumber" {
					t.Errorf("bamboohr block = %+v", b)
				}
				if got := b.BaseURLs()["base_url"]; got != bamboohr.DefaultBaseURL {
					t.Errorf("base_url = %q, want the default", got)
				}
			case "valid-workday.yaml":
				w := ds.Workday
				if w == nil || w.OAuth == nil || w.OAuth.ClientSecret.Value() != testWorkdaySecret ||
					w.OAuth.RefreshToken.Value() != testWorkdayToken || w.Fields.ID != "Employee_ID" {
					t.Errorf("workday block = %+v", w)
				}
			case "valid-scim.yaml":
				s := ds.SCIM
				if s == nil || s.Token.Value() != testSCIMToken || s.Filter != `userType ne "Service"` || s.Attributes["title"] != "title" {
					t.Errorf("scim block = %+v", s)
				}
			}
		})
	}
}

// TestHRSourceInvalid loads every testdata/hrsources/invalid-*.yaml: each
// must fail with every expected message, naming file, line and key, and
// with no secret in the messages.
func TestHRSourceInvalid(t *testing.T) {
	setHREnv(t)
	const dir = "testdata/hrsources/"
	cases := map[string][]string{
		"invalid-unknown-key.yaml": {
			dir + `invalid-unknown-key.yaml:11: directory.bamboohr.compnay: unknown key "compnay" (known keys: api_key, attributes, base_url, company, default_type, fields, manager_key, use_directory, values)`,
			dir + `invalid-unknown-key.yaml:14: directory.bamboohr.fields.emial: unknown key "emial" (known keys: chat_user_id, clearance,`,
			dir + `invalid-unknown-key.yaml:10: directory.bamboohr.company: company is required`,
		},
		"invalid-missing-secret.yaml": {
			dir + `invalid-missing-secret.yaml:12: directory.workday.oauth.client_secret: client_secret is required ({env: NAME} or {file: PATH})`,
			dir + `invalid-missing-secret.yaml:15: directory.workday.oauth.refresh_token: environment variable KINETIC_TEST_UNSET_HR_TOKEN is not set`,
		},
		"invalid-bad-url.yaml": {
			dir + `invalid-bad-url.yaml:11: directory.workday.report_url: report_url has no scheme: write it as https://HOST/…`,
			dir + `invalid-bad-url.yaml:13: directory.workday.oauth.token_url: token_url must not carry user info: credentials go in their secret`,
		},
		"invalid-refused-url.yaml": {
			dir + `invalid-refused-url.yaml:13: directory.scim.base_url: outbound URL refused by policy: http://169.254.169.254/: host resolves to 169.254.169.254 (link-local/cloud metadata); add it to outbound.allow_cidrs to allow`,
		},
		"invalid-wrong-block.yaml": {
			dir + `invalid-wrong-block.yaml:8: directory: type scim needs a scim: block`,
			dir + `invalid-wrong-block.yaml:10: directory.file: file is for type file; type scim reads the HR system`,
			dir + `invalid-wrong-block.yaml:11: directory.reload: reload is for type file; type scim refreshes after ttl`,
			dir + `invalid-wrong-block.yaml:12: directory.bamboohr: a bamboohr block does not belong in a directory of type "scim"`,
		},
		"invalid-unknown-type.yaml": {
			dir + `invalid-unknown-type.yaml:9: directory.type: unknown directory type "personio" (known: file, bamboohr, workday, scim)`,
		},
		"invalid-mapping.yaml": {
			dir + `invalid-mapping.yaml:12: directory.bamboohr.company: company "acme.bamboohr.com" must be the bare subdomain`,
			dir + `invalid-mapping.yaml:15: directory.bamboohr.fields.email: "emails[type = work]": selector [type = work] of "emails" must be [primary] or [attr eq "value"]`,
			dir + `invalid-mapping.yaml:16: directory.bamboohr.fields.status: the status field must be mapped`,
			dir + `invalid-mapping.yaml:18: directory.bamboohr.values.kind: unknown field "kind"`,
			dir + `invalid-mapping.yaml:19: directory.bamboohr.values.type.Contractor: maps to an empty type`,
		},
		"invalid-file-ttl.yaml": {
			dir + `invalid-file-ttl.yaml:10: directory.ttl: ttl is for the HR system types (bamboohr, workday, scim); type file uses reload`,
			dir + `invalid-file-ttl.yaml:11: directory.scim: a scim block does not belong in a directory of type "file"`,
		},
	}
	files, _ := filepath.Glob(dir + "invalid-*.yaml")
	if len(files) != len(cases) {
		t.Errorf("%d invalid files, %d cases: keep them in step", len(files), len(cases))
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := loadT(dir + name)
			var ce *Errors
			if !errors.As(err, &ce) {
				t.Fatalf("Load = %v, want *Errors", err)
			}
			msg := err.Error()
			for _, w := range want {
				if !strings.Contains(msg, w) {
					t.Errorf("missing %q in:\n%s", w, msg)
				}
			}
			for _, secret := range []string{testBambooKey, testWorkdaySecret, testWorkdayToken, testSCIMToken, "hunter2"} {
				if strings.Contains(msg, secret) {
					t.Errorf("a secret leaked: %s", msg)
				}
			}
		})
	}
}

// writeService writes a service file into a temporary directory whose
// outbound policy allows the test servers on 127.0.0.1.
func writeService(t *testing.T, directoryBlock string) string {
	t.Helper()
	pol, err := filepath.Abs("testdata/min/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	data := fmt.Sprintf(`redis: {embedded: true}
policy: %s
outbound:
  allow_cidrs: [127.0.0.1/32]
connectors:
  ad: {type: sandbox, sandbox: {system: ad}}
directory:
%s`, pol, directoryBlock)
	path := filepath.Join(dir, "kinetic.yaml")
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// hrServer answers one path with body after checking method and
// Authorization, counting requests.
func hrServer(t *testing.T, method, path, auth, body string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Method != method || r.URL.Path != path || r.Header.Get("Authorization") != auth {
			t.Errorf("unexpected request %s %s (Authorization %q)", r.Method, r.URL, r.Header.Get("Authorization"))
			http.Error(w, "no", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func basic(user, pw string) string {
	r, _ := http.NewRequest("GET", "http://x/", nil)
	r.SetBasicAuth(user, pw)
	return r.Header.Get("Authorization")
}

func TestOpenHRDirectory(t *testing.T) {
	setHREnv(t)
	ctx := context.Background()
	type check func(t *testing.T, d directory.Directory)
	lookup := func(id, email string) check {
		return func(t *testing.T, d directory.Directory) {
			e, err := d.ByEmail(ctx, strings.ToUpper(email))
			if err != nil || e.ID != id {
				t.Fatalf("ByEmail(%s) = %+v, %v", email, e, err)
			}
			if _, ok := d.(directory.Lister); !ok {
				t.Error("an HR source is a Lister")
			}
			if r, ok := d.(directory.Refresher); !ok || r.Refresh(ctx) != nil {
				t.Error("an HR source is a Refresher and refreshes")
			}
		}
	}
	for _, tc := range []struct {
		name  string
		serve func(t *testing.T) (*httptest.Server, *atomic.Int32)
		block func(url string) string
		want  any
		check check
	}{
		{
			name: "bamboohr",
			serve: func(t *testing.T) (*httptest.Server, *atomic.Int32) {
				return hrServer(t, http.MethodPost, "/api/gateway.php/acme/v1/reports/custom", basic(testBambooKey, "x"),
					`{"employees": [{"id": "7", "workEmail": "ada@example.com", "status": "Active", "employmentHistoryStatus": "Full-Time"}]}`)
			},
			block: func(url string) string {
				return fmt.Sprintf("  type: bamboohr\n  bamboohr:\n    company: acme\n    base_url: %s\n    api_key: {env: KINETIC_TEST_BAMBOOHR_KEY}\n", url)
			},
			want:  &bamboohr.Source{},
			check: lookup("7", "ada@example.com"),
		},
		{
			name: "workday",
			serve: func(t *testing.T) (*httptest.Server, *atomic.Int32) {
				return hrServer(t, http.MethodGet, "/ccx/service/customreport2/acme/ISU/Workers", basic("ISU_Kinetic", testWorkdaySecret),
					`{"Report_Entry": [{"Employee_ID": "21001", "Email": "logan@example.com", "Active": "1"}]}`)
			},
			block: func(url string) string {
				return fmt.Sprintf("  type: workday\n  workday:\n    report_url: %s/ccx/service/customreport2/acme/ISU/Workers\n"+
					"    username: ISU_Kinetic\n    password: {env: KINETIC_TEST_WORKDAY_SECRET}\n"+
					"    fields: {id: Employee_ID, email: Email, status: Active}\n", url)
			},
			want:  &workday.Source{},
			check: lookup("21001", "logan@example.com"),
		},
		{
			name: "scim",
			serve: func(t *testing.T) (*httptest.Server, *atomic.Int32) {
				return hrServer(t, http.MethodGet, "/scim/v2/Users", "Bearer "+testSCIMToken,
					`{"totalResults": 1, "startIndex": 1, "Resources": [{"id": "s1", "active": true,
					  "emails": [{"value": "bj@example.com", "primary": true}],
					  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "E9"}}]}`)
			},
			block: func(url string) string {
				return fmt.Sprintf("  type: scim\n  scim:\n    base_url: %s/scim/v2\n    token: {env: KINETIC_TEST_SCIM_TOKEN}\n", url)
			},
			want:  &scim.Source{},
			check: lookup("E9", "bj@example.com"),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, calls := tc.serve(t)
			cfg, err := loadT(writeService(t, tc.block(srv.URL)))
			if err != nil {
				t.Fatal(err)
			}
			d, err := cfg.OpenHRDirectory(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%T", d) != fmt.Sprintf("%T", tc.want) {
				t.Errorf("OpenHRDirectory returned %T, want %T", d, tc.want)
			}
			if calls.Load() != 0 {
				t.Errorf("opening fetched (%d calls); the first lookup should", calls.Load())
			}
			tc.check(t, d)

			t.Run("a base URL the policy now refuses is an error", func(t *testing.T) {
				cfg.Service.Outbound.AllowCIDRs = nil
				_, err := cfg.OpenHRDirectory(ctx, nil)
				if !errors.Is(err, outbound.ErrURLRefused) || !strings.Contains(err.Error(), "directory."+tc.name+".") {
					t.Errorf("OpenHRDirectory = %v, want a refusal naming the key", err)
				}
			})
		})
	}
}

func TestOpenHRDirectoryFile(t *testing.T) {
	setHREnv(t)
	ctx := context.Background()
	path := writeService(t, "  file: people.csv\n  reload: 1ns\n")
	people := filepath.Join(filepath.Dir(path), "people.csv")
	write := func(data string, mod time.Time) {
		if err := os.WriteFile(people, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(people, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Now().Add(-time.Hour)
	write("id,email,type,status\nE1,a@example.com,employee,active\n", t0)
	cfg, err := loadT(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := cfg.OpenHRDirectory(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.(*directory.File); !ok {
		t.Fatalf("type file opens a *directory.File, got %T", d)
	}
	write("id,email,type,status\nE2,b@example.com,employee,active\n", t0.Add(time.Minute))
	if e, err := d.ByEmail(ctx, "b@example.com"); err != nil || e.ID != "E2" {
		t.Errorf("with reload set, a rewritten file is re-read: %+v, %v", e, err)
	}

	t.Run("the embedded default opens the bundled sample", func(t *testing.T) {
		def, err := defaultT()
		if err != nil {
			t.Fatal(err)
		}
		d, err := def.OpenHRDirectory(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if l, ok := d.(directory.Lister); !ok || len(l.All()) == 0 {
			t.Errorf("the sample directory is empty or not a Lister: %T", d)
		}
	})
}
