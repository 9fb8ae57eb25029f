package identitycenter_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/awsiam/identitycenter"
	"github.com/kineticsec/kinetic/internal/compose"
)

func specs() configs.Types { return compose.All().Types() }

func setEnv(t *testing.T) {
	t.Setenv("KINETIC_SSO_TEST_KEY_ID", "AKIDCONFIGTEST000002")
	t.Setenv("KINETIC_SSO_TEST_SECRET", "cfg-SECRET-9d3e")
	t.Setenv("KINETIC_SSO_TEST_EXTERNAL_ID", "cfg-EXTERNAL-4f1a")
}

// TestConfigLoads loads an instance through the composition's table, as
// `kinetic config validate` does, and builds it.
func TestConfigLoads(t *testing.T) {
	setEnv(t)
	cfg, err := configs.Load("testdata/valid.yaml", specs())
	if err != nil {
		t.Fatal(err)
	}
	b, ok := cfg.Service.Connectors["aws-sso"].Block.(*identitycenter.Config)
	if !ok {
		t.Fatalf("block = %T", cfg.Service.Connectors["aws-sso"].Block)
	}
	if b.ExternalID.Value() != "cfg-EXTERNAL-4f1a" || b.SecretAccessKey.Value() != "cfg-SECRET-9d3e" || len(b.Accounts) != 2 || !b.DeleteUser || b.DeletionTimeout.D().Seconds() != 90 {
		t.Errorf("block = %+v", b)
	}
	c, err := identitycenter.New("aws-sso", *b, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if got := connectors.OperationNames(c.Type().Operations); got != "deactivate_user, disable_account, remove_group_memberships, revoke_sessions" {
		t.Errorf("operations = %s", got)
	}
}

// TestConfigErrors: each problem is reported with file, line and key, and
// no secret appears.
func TestConfigErrors(t *testing.T) {
	setEnv(t)
	for file, want := range map[string][]string{
		"invalid-fields.yaml": {
			`invalid-fields.yaml:8: connectors.aws-sso.aws_identity_center.region: "Ireland" is not an AWS region name`,
			`invalid-fields.yaml:9: connectors.aws-sso.aws_identity_center.instance_arn: "arn:aws:sso:::instance/ins-short" is not an Identity Center instance ARN`,
			`invalid-fields.yaml:10: connectors.aws-sso.aws_identity_center.identity_store_id: "store-1" is not an identity store id`,
			`invalid-fields.yaml:11: connectors.aws-sso.aws_identity_center.access_key_id: set both access_key_id and secret_access_key, or neither`,
			`invalid-fields.yaml:12: connectors.aws-sso.aws_identity_center.role_arn: "arn:aws:iam::111122223333:user/kinetic" is not an IAM role ARN`,
			`invalid-fields.yaml:13: connectors.aws-sso.aws_identity_center.external_id_issuer: external_id_issuer and external_id_from go together`,
			`invalid-fields.yaml:14: connectors.aws-sso.aws_identity_center.accounts[0]: "1111" is not a 12-digit AWS account id`,
			`invalid-fields.yaml:15: connectors.aws-sso.aws_identity_center.permission_sets[0]: "ps-aaaaaaaaaaaaaaaa" is not a permission set ARN`,
			`invalid-fields.yaml:16: connectors.aws-sso.aws_identity_center.keep_groups[0]: keep_groups[0] is empty`,
			`invalid-fields.yaml:17: connectors.aws-sso.aws_identity_center.poll_interval: negative duration "-1s"`,
			`connectors.aws-sso.aws_identity_center.max_attempts: max_attempts must be between 1 and 20`,
			`invalid-fields.yaml:19: connectors.aws-sso.aws_identity_center.deny_policy_id: "scp-1" is not an Organizations policy id`,
		},
		"invalid-missing.yaml": {
			`invalid-missing.yaml:7: connectors.aws-sso.aws_identity_center: region is required`,
			`instance_arn is required`,
			`identity_store_id is required`,
			`invalid-missing.yaml:8: connectors.aws-sso.aws_identity_center.external_id: external_id needs a role_arn`,
		},
		"invalid-metadata.yaml": {
			`invalid-metadata.yaml:11: connectors.aws-sso.aws_identity_center.identity_store_endpoint: outbound URL refused by policy: https://169.254.169.254/`,
		},
		"invalid-unknown-key.yaml": {
			`invalid-unknown-key.yaml:11: connectors.aws-sso.aws_identity_center.disable_user: unknown key "disable_user"`,
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
			for _, s := range []string{"cfg-SECRET-9d3e", "cfg-EXTERNAL-4f1a"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("secret %q in error", s)
				}
			}
		})
	}
}

// TestExampleInstance uncomments the aws-identity-center instance in
// configs/kinetic.example.yaml and checks that it loads and builds.
func TestExampleInstance(t *testing.T) {
	t.Setenv("KINETIC_AWS_ACCESS_KEY_ID", "AKIDEXAMPLE000000001")
	t.Setenv("KINETIC_AWS_SECRET_ACCESS_KEY", "example-SECRET-2b9c")
	t.Setenv("KINETIC_AWS_SSO_EXTERNAL_ID", "example-EXTERNAL-6a7b")
	data, err := os.ReadFile("../../../configs/kinetic.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var block []string
lines:
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case len(block) == 0 && line == "  # aws-identity-center:":
			block = append(block, "  aws-sso:")
		case len(block) == 0:
		case strings.HasPrefix(line, "  #   "):
			block = append(block, "  "+strings.TrimPrefix(line, "  # "))
		default:
			break lines
		}
	}
	if len(block) < 8 {
		t.Fatalf("no commented aws-identity-center instance in kinetic.example.yaml (%d lines)", len(block))
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
	b := cfg.Service.Connectors["aws-sso"].Block.(*identitycenter.Config)
	if b.ExternalID.Value() != "example-EXTERNAL-6a7b" || b.InstanceARN == "" || b.IdentityStoreID == "" {
		t.Errorf("block = %+v", b)
	}
	if _, err := identitycenter.New("aws-sso", *b, nil); err != nil {
		t.Fatal(err)
	}
}
