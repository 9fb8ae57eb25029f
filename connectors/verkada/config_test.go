package verkada_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/connectors/verkada"
	"github.com/kineticsec/kinetic/internal/compose"
)

// TestExampleInstance uncomments the verkada-eu instance in
// configs/kinetic.example.yaml and checks that it loads and builds.
func TestExampleInstance(t *testing.T) {
	t.Setenv("KINETIC_VERKADA_API_KEY", "example-KEY-1")
	data, err := os.ReadFile("../../configs/kinetic.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var block []string
lines:
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case len(block) == 0 && line == "  # verkada-eu:":
			block = append(block, "  badge:")
		case len(block) == 0:
		case strings.HasPrefix(line, "  #   "):
			block = append(block, "  "+strings.TrimPrefix(line, "  # "))
		default:
			break lines
		}
	}
	if len(block) < 8 {
		t.Fatalf("no commented verkada-eu instance in kinetic.example.yaml (%d lines)", len(block))
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
	b := cfg.Service.Connectors["badge"].Block.(*verkada.Config)
	if b.APIKey.Value() != "example-KEY-1" || b.Match != "email" || b.APIURL != "https://api.eu.verkada.com" {
		t.Errorf("block = %+v", b)
	}
	if _, err := verkada.New("badge", *b, nil); err != nil {
		t.Fatal(err)
	}
}
