package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeskStepsAreManual: a desk instance (a facility without an API) runs
// nothing, so configuration refuses a step on it that is not manual, or
// that names an operation the desk does not declare, each at its key.
func TestDeskStepsAreManual(t *testing.T) {
	svc := "connectors:\n  desk-lagos:\n    type: desk\n    owner: security-desk-lagos\n    desk: {facility: Lagos office, doors: [Main entrance]}\n"
	for _, tt := range []struct {
		name, action, want string
	}{
		{"a manual badge step loads", "{connector: desk-lagos, operation: deactivate_badge, phase: critical, manual: true}", ""},
		{"a step that is not manual", "{connector: desk-lagos, operation: deactivate_badge, phase: critical}",
			`actions.collect.manual: connector "desk-lagos" (security desk at Lagos office) is manual-only (people do its steps by hand): set manual: true`},
		{"an operation the desk does not declare", "{connector: desk-lagos, operation: revoke_vpn, phase: critical, manual: true}",
			`actions.collect.operation: connector "desk-lagos" (security desk at Lagos office) declares no manual operation "revoke_vpn" (declared: deactivate_badge)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pol := "version: 1\nactions:\n  collect: " + tt.action + "\nrules:\n  - {name: all, when: \"true\", add: [collect]}\n"
			_, err := loadStrings(t, "simulated: true\nredis: {embedded: true}\npolicy: policy.yaml\n"+svc, pol)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("load: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("load error %v, want one containing %q", err, tt.want)
			}
		})
	}
	t.Run("the facility is required", func(t *testing.T) {
		_, err := loadStrings(t, "simulated: true\nredis: {embedded: true}\npolicy: policy.yaml\nconnectors:\n  d:\n    type: desk\n    desk: {doors: [Main entrance]}\n",
			"version: 1\nactions: {}\nrules: []\n")
		if err == nil || !strings.Contains(err.Error(), "desk.facility") {
			t.Fatalf("load error %v, want one at desk.facility", err)
		}
	})
}

// loadStrings writes a service file and a policy to a temporary directory
// and loads them with the table's types.
func loadStrings(t *testing.T, service, policy string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	for name, data := range map[string]string{"kinetic.yaml": service, "policy.yaml": policy} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return loadT(filepath.Join(dir, "kinetic.yaml"))
}
