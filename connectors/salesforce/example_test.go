package salesforce_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/salesforce"
	"github.com/kineticsec/kinetic/internal/compose"
)

// TestExampleInstance uncomments the salesforce-crm instance in
// configs/kinetic.example.yaml, loads it through the composition's table as
// `kinetic config validate` does (with a policy using every operation),
// and builds it.
func TestExampleInstance(t *testing.T) {
	data, err := os.ReadFile("../../configs/kinetic.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var block []string
lines:
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case len(block) == 0 && line == "  # salesforce-crm:":
			block = append(block, "  salesforce:")
		case len(block) == 0:
		case strings.HasPrefix(line, "  #   "):
			block = append(block, "  "+strings.TrimPrefix(line, "  # "))
		default:
			break lines
		}
	}
	if len(block) < 10 {
		t.Fatalf("no commented salesforce-crm instance in kinetic.example.yaml (%d lines)", len(block))
	}
	dir := t.TempDir()
	pol, err := os.ReadFile("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	for name, content := range map[string][]byte{
		"policy.yaml":        pol,
		"salesforce-jwt.pem": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		// allow_hosts lets the example's hosts pass the outbound policy
		// without a DNS lookup (tests do not depend on the network).
		"kinetic.yaml": []byte("redis: {embedded: true}\npolicy: policy.yaml\noutbound:\n  allow_hosts: [example.my.salesforce.com, login.salesforce.com]\nconnectors:\n" + strings.Join(block, "\n") + "\n"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := configs.Load(filepath.Join(dir, "kinetic.yaml"), compose.All().Types())
	if err != nil {
		t.Fatalf("%v\n%s", err, strings.Join(block, "\n"))
	}
	b, ok := cfg.Service.Connectors["salesforce"].Block.(*salesforce.Config)
	if !ok {
		t.Fatalf("block = %T", cfg.Service.Connectors["salesforce"].Block)
	}
	if b.InstanceURL != "https://example.my.salesforce.com" || b.PrivateKeyFile != filepath.Join(dir, "salesforce-jwt.pem") || b.MaxTransferRecords != 2000 {
		t.Errorf("block = %+v", b)
	}
	c, err := salesforce.New("salesforce", *b, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := connectors.OperationNames(c.Type().Operations); got != "deactivate_user, disable_account, revoke_sessions, transfer_ownership" {
		t.Errorf("operations = %s", got)
	}
}
