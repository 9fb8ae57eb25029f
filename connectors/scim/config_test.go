package scim_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/scim"
	"github.com/kineticsec/kinetic/internal/compose"
)

func specs() configs.Types { return compose.All().Types() }

const (
	cfgToken        = "cfg-TOKEN-3a4b5c"
	cfgClientSecret = "cfg-CLIENT-SECRET-6d7e"
)

func setEnv(t *testing.T) {
	t.Setenv("KINETIC_SCIM_TEST_TOKEN", cfgToken)
	t.Setenv("KINETIC_SCIM_TEST_CLIENT_SECRET", cfgClientSecret)
}

// TestConfigLoads loads scim instances through the composition's table,
// as `kinetic config validate` does, and builds them.
func TestConfigLoads(t *testing.T) {
	setEnv(t)
	for file, check := range map[string]func(*scim.Config) bool{
		"valid-token.yaml": func(b *scim.Config) bool {
			return b.Token.Value() == cfgToken && b.Match == scim.MatchEmailAsUserName && b.PageSize == 200 && b.Timeout.D().Seconds() == 20
		},
		"valid-oauth.yaml": func(b *scim.Config) bool {
			return b.OAuth != nil && b.OAuth.ClientSecret.Value() == cfgClientSecret && b.DeactivateMode == scim.ModeDelete && len(b.OAuth.Scopes) == 2
		},
	} {
		t.Run(file, func(t *testing.T) {
			cfg, err := configs.Load("testdata/"+file, specs())
			if err != nil {
				t.Fatal(err)
			}
			b, ok := cfg.Service.Connectors["app"].Block.(*scim.Config)
			if !ok || !check(b) {
				t.Fatalf("block = %+v", cfg.Service.Connectors["app"].Block)
			}
			c, err := scim.New("app", *b, nil)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			c.Close()
		})
	}
}

// TestConfigErrors: each problem is reported with file, line and key, and
// no secret appears.
func TestConfigErrors(t *testing.T) {
	setEnv(t)
	for file, want := range map[string][]string{
		"invalid-fields.yaml": {
			`connectors.app.scim.base_url: base_url must use https (http is accepted only for localhost)`,
			`connectors.app.scim.token: set only one of token and oauth`,
			`connectors.app.scim.oauth.token_url: oauth.token_url must use http or https`,
			`connectors.app.scim.oauth.client_id: oauth.client_id is required`,
			`invalid-fields.yaml:11: connectors.app.scim.oauth: oauth.client_secret is required`,
			`invalid-fields.yaml:14: connectors.app.scim.oauth.scopes[0]: "two words" is not a scope name`,
			`connectors.app.scim.oauth.auth_style: oauth.auth_style "basic" is not one of header, params`,
			`connectors.app.scim.match: match "employee_id" is not one of username, email_as_username, email`,
			`connectors.app.scim.deactivate_mode: deactivate_mode "suspend" is not one of active, delete`,
			`connectors.app.scim.keep_groups[0]: keep_groups[0] is empty`,
			`connectors.app.scim.page_size: page_size must be between 1 and 1000`,
			`invalid-fields.yaml:20: connectors.app.scim.timeout: negative duration "-1s"`,
		},
		"invalid-metadata.yaml": {
			`invalid-metadata.yaml:8: connectors.app.scim.base_url: outbound URL refused by policy: https://169.254.169.254/: host resolves to 169.254.169.254 (link-local/cloud metadata)`,
		},
		"invalid-inline-token.yaml": {
			`invalid-inline-token.yaml:9:`, "inline secrets are not allowed",
		},
		"invalid-unknown-key.yaml": {
			`invalid-unknown-key.yaml:10: connectors.app.scim.filter: unknown key "filter"`,
		},
	} {
		t.Run(file, func(t *testing.T) {
			_, err := configs.Load("testdata/"+file, specs())
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in:\n%v", w, err)
				}
			}
			for _, s := range []string{cfgToken, cfgClientSecret, "scim-INLINE-secret-0f1e"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("secret %q in error", s)
				}
			}
		})
	}
}

// TestExampleInstance uncomments the scim instance in
// configs/kinetic.example.yaml and checks that it loads, builds and offers
// both operations.
func TestExampleInstance(t *testing.T) {
	t.Setenv("KINETIC_SCIM_APP_TOKEN", "example-TOKEN-8f9a")
	data, err := os.ReadFile("../../configs/kinetic.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var block []string
lines:
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case len(block) == 0 && line == "  # scim-app:":
			block = append(block, "  app:")
		case len(block) == 0:
		case strings.HasPrefix(line, "  #   "):
			block = append(block, "  "+strings.TrimPrefix(line, "  # "))
		default:
			break lines
		}
	}
	if len(block) < 8 {
		t.Fatalf("no commented scim-app instance in kinetic.example.yaml (%d lines)", len(block))
	}
	dir := t.TempDir()
	pol, err := os.ReadFile("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), pol, 0o600); err != nil {
		t.Fatal(err)
	}
	svc := "redis: {embedded: true}\npolicy: policy.yaml\nconnectors:\n" + strings.Join(block, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "kinetic.yaml"), []byte(svc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Load(filepath.Join(dir, "kinetic.yaml"), specs())
	if err != nil {
		t.Fatalf("%v\n%s", err, svc)
	}
	b := cfg.Service.Connectors["app"].Block.(*scim.Config)
	if b.Token.Value() != "example-TOKEN-8f9a" || b.Match != scim.MatchEmailAsUserName {
		t.Errorf("block = %+v", b)
	}
	if _, err := scim.New("app", *b, nil); err != nil {
		t.Fatal(err)
	}
	if got := connectors.OperationNames(scim.Operations()); got != "deactivate_user, remove_group_memberships" {
		t.Errorf("operations = %s", got)
	}
}
