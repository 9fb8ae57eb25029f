package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/directory/bamboohr"
	"github.com/kineticsec/kinetic/directory/scim"
	"github.com/kineticsec/kinetic/directory/workday"
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
				b, _ := ds.Block.(*bamboohr.Config)
				if b == nil || b.Company != "acme" || b.APIKey.Value() != testBambooKey || ds.TTL.D() != 15*time.Minute ||
					b.Fields.ChatUserID != "customSlackUserID" || b.Attributes["cost_center"] != "customCostCenter" ||
					b.Values["type"]["Full-Time"] != "employee" || b.ManagerKey != "employeeNumber" {
					t.Errorf("bamboohr block = %+v", b)
				}
				if got := b.BaseURLs()["base_url"]; got != bamboohr.DefaultBaseURL {
					t.Errorf("base_url = %q, want the default", got)
				}
			case "valid-workday.yaml":
				w, _ := ds.Block.(*workday.Config)
				if w == nil || w.OAuth == nil || w.OAuth.ClientSecret.Value() != testWorkdaySecret ||
					w.OAuth.RefreshToken.Value() != testWorkdayToken || w.Fields.ID != "Employee_ID" {
					t.Errorf("workday block = %+v", w)
				}
			case "valid-scim.yaml":
				s, _ := ds.Block.(*scim.Config)
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
