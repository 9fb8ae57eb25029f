package configs

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/connectors"
)

// TestExampleITSMInstances uncomments the ticket connector instances of
// kinetic.example.yaml (servicenow, jira) and checks that they load and
// build into Ticketers that offer no revocation operation.
func TestExampleITSMInstances(t *testing.T) {
	clearEnv(t)
	t.Setenv("KINETIC_SNOW_PASSWORD", "snow-SECRET-example")
	t.Setenv("KINETIC_JIRA_TOKEN", "jira-SECRET-example")
	var src strings.Builder
	src.WriteString("policy: p.yaml\nredis: {embedded: true}\noutbound:\n  allow_hosts: [example.service-now.com, example.atlassian.net]\nconnectors:\n")
	for _, name := range []string{"snow-itsm", "jira-itsm"} {
		block := exampleInstance(t, name)
		if len(block) < 8 {
			t.Fatalf("no commented %s instance found in kinetic.example.yaml (%d lines)", name, len(block))
		}
		src.WriteString(strings.Join(block, "\n") + "\n")
	}
	svc, err := parseServiceT(filepath.Join(t.TempDir(), "example.yaml"), []byte(src.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, src.String())
	}
	pol := "version: 1\nactions:\n  noop: {connector: snow-itsm, operation: notify}\nrules: []\n"
	if _, err := ParsePolicy("p.yaml", []byte(pol), svc); err == nil || !strings.Contains(err.Error(), "notify") {
		t.Errorf("an action on a ticket connector must be refused: %v", err)
	}
	reg, err := (&Config{Service: svc}).BuildConnectors(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if names := reg.Names(); !slices.Equal(names, []string{"jira-itsm", "snow-itsm"}) {
		t.Errorf("registry = %v", names)
	}
	for _, name := range reg.Names() {
		in, _ := reg.Get(name)
		if _, ok := in.Connector.(connectors.Ticketer); !ok || len(in.Operations) != 0 {
			t.Errorf("%s: Ticketer %t, operations %v", name, ok, in.Operations)
		}
	}
}
