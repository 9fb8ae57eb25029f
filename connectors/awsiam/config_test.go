package awsiam_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/awsiam"
	"github.com/kineticsec/kinetic/internal/compose"
)

func specs() configs.Types { return compose.All().Types() }

func setEnv(t *testing.T) {
	t.Setenv("KINETIC_AWSIAM_TEST_KEY_ID", "AKIDCONFIGTEST000001")
	t.Setenv("KINETIC_AWSIAM_TEST_SECRET", "cfg-SECRET-5a1b")
	t.Setenv("KINETIC_AWSIAM_TEST_EXTERNAL_ID", "cfg-EXTERNAL-77c2")
}

// TestConfigLoads loads an awsiam instance through the composition's
// table, as `kinetic config validate` does.
func TestConfigLoads(t *testing.T) {
	setEnv(t)
	cfg, err := configs.Load("testdata/valid.yaml", specs())
	if err != nil {
		t.Fatal(err)
	}
	b, ok := cfg.Service.Connectors["aws"].Block.(*awsiam.Config)
	if !ok {
		t.Fatalf("block = %T", cfg.Service.Connectors["aws"].Block)
	}
	if len(b.Accounts) != 2 || b.Accounts[1].ExternalID.Value() != "cfg-EXTERNAL-77c2" || b.SecretAccessKey.Value() != "cfg-SECRET-5a1b" {
		t.Errorf("block = %+v", b)
	}
	if b.AccessKeyDeleteAfter.D().Hours() != 72 || b.MatchTags["employee_id"] != "hr-id" {
		t.Errorf("block = %+v", b)
	}
	if _, err := awsiam.New("aws", *b, nil); err != nil {
		t.Fatalf("New: %v", err)
	}
}

// TestConfigErrors: each problem is reported with file, line and key, and
// no secret appears.
func TestConfigErrors(t *testing.T) {
	setEnv(t)
	for file, want := range map[string][]string{
		"invalid-fields.yaml": {
			`invalid-fields.yaml:9: connectors.aws.awsiam.region: "US East" is not an AWS region name`,
			`invalid-fields.yaml:10: connectors.aws.awsiam.access_key_id: set both access_key_id and secret_access_key, or neither`,
			`connectors.aws.awsiam.accounts[0].id: "2222" is not a 12-digit AWS account id`,
			`connectors.aws.awsiam.accounts[0].role_arn: "arn:aws:iam::222222222222:user/kinetic" is not an IAM role ARN`,
			`connectors.aws.awsiam.accounts[1].role_arn: the role is in account 444444444444, not 333333333333`,
			`connectors.aws.awsiam.accounts[2].id: account 333333333333 is listed twice`,
			`connectors.aws.awsiam.match_tags.employee_id: "aws:hr-id" is not a user tag key`,
			`connectors.aws.awsiam.path_prefix: "staff" must begin and end with /`,
			`invalid-fields.yaml:19: connectors.aws.awsiam.access_key_delete_after: negative duration "-1h"`,
			`connectors.aws.awsiam.max_attempts: max_attempts must be between 1 and 20`,
		},
		"invalid-metadata.yaml": {
			`invalid-metadata.yaml:9: connectors.aws.awsiam.iam_endpoint: outbound URL refused by policy: https://169.254.169.254/: host resolves to 169.254.169.254 (link-local/cloud metadata)`,
		},
		"invalid-unknown-key.yaml": {
			`invalid-unknown-key.yaml:8: connectors.aws.awsiam.role_arn: unknown key "role_arn"`,
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
			for _, s := range []string{"cfg-SECRET-5a1b", "cfg-EXTERNAL-77c2"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("secret %q in error", s)
				}
			}
		})
	}
}

// TestExampleInstance uncomments the aws-iam instance in
// configs/kinetic.example.yaml and checks that it loads, builds and offers
// the three operations.
func TestExampleInstance(t *testing.T) {
	setEnv(t)
	t.Setenv("KINETIC_AWS_ACCESS_KEY_ID", "AKIDEXAMPLE000000001")
	t.Setenv("KINETIC_AWS_SECRET_ACCESS_KEY", "example-SECRET-2b9c")
	t.Setenv("KINETIC_AWS_EXTERNAL_ID", "example-EXTERNAL-1d4e")
	data, err := os.ReadFile("../../configs/kinetic.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var block []string
lines:
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case len(block) == 0 && line == "  # aws-iam:":
			block = append(block, "  aws:")
		case len(block) == 0:
		case strings.HasPrefix(line, "  #   "):
			block = append(block, "  "+strings.TrimPrefix(line, "  # "))
		default:
			break lines
		}
	}
	if len(block) < 10 {
		t.Fatalf("no commented aws-iam instance in kinetic.example.yaml (%d lines)", len(block))
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
	b := cfg.Service.Connectors["aws"].Block.(*awsiam.Config)
	if len(b.Accounts) != 2 || b.Accounts[1].ExternalID.Value() != "example-EXTERNAL-1d4e" || b.MatchTags["email"] != "email" || b.AccessKeyDeleteAfter.D().Hours() != 72 {
		t.Errorf("block = %+v", b)
	}
	c, err := awsiam.New("aws", *b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := connectors.OperationNames(c.Type().Operations); got != "delete_access_keys, disable_account, remove_group_memberships, revoke_sessions" {
		t.Errorf("operations = %s", got)
	}
}
