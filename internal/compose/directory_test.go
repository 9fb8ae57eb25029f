package compose_test

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

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/directory/bamboohr"
	"github.com/kineticsec/kinetic/directory/scim"
	"github.com/kineticsec/kinetic/directory/workday"
	"github.com/kineticsec/kinetic/internal/compose"
	"github.com/kineticsec/kinetic/internal/outbound"
)

// These tests moved here from configs with OpenHRDirectory: configs
// decodes and validates the directory block, compose builds the source
// with the table's descriptor.

// Secret values the HR source examples read from the environment.
const (
	testBambooKey     = "bhr-KEY-value-7d1c"
	testWorkdaySecret = "wd-SECRET-value-0a9b"
	testSCIMToken     = "scim-TOKEN-value-3c4d"
)

func setHREnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{configs.EnvHTTPAddr, configs.EnvDatabaseDSN, configs.EnvRedisAddr} {
		t.Setenv(k, "")
	}
	t.Setenv("KINETIC_TEST_BAMBOOHR_KEY", testBambooKey)
	t.Setenv("KINETIC_TEST_WORKDAY_SECRET", testWorkdaySecret)
	t.Setenv("KINETIC_TEST_SCIM_TOKEN", testSCIMToken)
}

// writeService writes a service file into a temporary directory whose
// outbound policy allows the test servers on 127.0.0.1.
func writeService(t *testing.T, directoryBlock string) string {
	t.Helper()
	pol, err := filepath.Abs("../../configs/testdata/min/policy.yaml")
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
			cfg, err := compose.Load(writeService(t, tc.block(srv.URL)))
			if err != nil {
				t.Fatal(err)
			}
			d, err := compose.OpenHRDirectory(ctx, cfg, nil)
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
				_, err := compose.OpenHRDirectory(ctx, cfg, nil)
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
	cfg, err := compose.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := compose.OpenHRDirectory(ctx, cfg, nil)
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
		def, err := compose.Default()
		if err != nil {
			t.Fatal(err)
		}
		d, err := compose.OpenHRDirectory(ctx, def, nil)
		if err != nil {
			t.Fatal(err)
		}
		if l, ok := d.(directory.Lister); !ok || len(l.All()) == 0 {
			t.Errorf("the sample directory is empty or not a Lister: %T", d)
		}
	})
}
