package brivo_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/connectors/brivo"
	"github.com/kineticsec/kinetic/internal/compose"
)

// TestExampleInstance uncomments the brivo-us instance in
// configs/kinetic.example.yaml and checks that it loads and builds.
func TestExampleInstance(t *testing.T) {
	t.Setenv("KINETIC_BRIVO_API_KEY", "example-KEY-1")
	t.Setenv("KINETIC_BRIVO_CLIENT_SECRET", "example-SECRET-2")
	t.Setenv("KINETIC_BRIVO_PASSWORD", "example-PASSWORD-3")
	data, err := os.ReadFile("../../configs/kinetic.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var block []string
lines:
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case len(block) == 0 && line == "  # brivo-us:":
			block = append(block, "  badge:")
		case len(block) == 0:
		case strings.HasPrefix(line, "  #   "):
			block = append(block, "  "+strings.TrimPrefix(line, "  # "))
		default:
			break lines
		}
	}
	if len(block) < 8 {
		t.Fatalf("no commented brivo-us instance in kinetic.example.yaml (%d lines)", len(block))
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
	cfg, err := configs.Load(filepath.Join(dir, "kinetic.yaml"), compose.All().Types())
	if err != nil {
		t.Fatalf("%v\n%s", err, svc)
	}
	b := cfg.Service.Connectors["badge"].Block.(*brivo.Config)
	if b.Password.Value() != "example-PASSWORD-3" || b.Match != "employee_id" {
		t.Errorf("block = %+v", b)
	}
	if _, err := brivo.New("badge", *b, nil); err != nil {
		t.Fatal(err)
	}
}
