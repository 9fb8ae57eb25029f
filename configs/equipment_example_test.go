package configs

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/connectors"
)

// TestExampleEquipmentInstances uncomments the asset tracker and MDM
// instances of kinetic.example.yaml (snipe, intune-mdm, jamf-mdm) and
// checks that they load, build and offer the operations their comments
// describe.
func TestExampleEquipmentInstances(t *testing.T) {
	clearEnv(t)
	t.Setenv("KINETIC_SNIPEIT_TOKEN", "snipe-SECRET-example")
	t.Setenv("KINETIC_INTUNE_SECRET", "intune-SECRET-example")
	t.Setenv("KINETIC_JAMF_SECRET", "jamf-SECRET-example")
	t.Setenv("KINETIC_JAMF_LOCK_PIN", "482913")
	dir := t.TempDir()

	var src strings.Builder
	src.WriteString("policy: p.yaml\nredis: {embedded: true}\noutbound:\n  allow_hosts: [assets.corp.example, corp.jamfcloud.com]\nconnectors:\n")
	for _, name := range []string{"snipe", "intune-mdm", "jamf-mdm"} {
		block := exampleInstance(t, name)
		if len(block) < 6 {
			t.Fatalf("no commented %s instance found in kinetic.example.yaml (%d lines)", name, len(block))
		}
		src.WriteString(strings.Join(block, "\n") + "\n")
	}
	svc, err := parseServiceT(filepath.Join(dir, "example.yaml"), []byte(src.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, src.String())
	}
	pol := `version: 1
actions:
  asset_step: {connector: snipe, operation: record_equipment_step, phase: entitlements}
  lock_laptop: {connector: intune-mdm, operation: lock_devices, phase: critical}
  retire_phone: {connector: intune-mdm, operation: retire_devices, phase: entitlements}
  wipe_mac: {connector: jamf-mdm, operation: wipe_devices, phase: entitlements}
rules:
  - name: everyone
    add: [asset_step, lock_laptop, retire_phone, wipe_mac]
`
	if _, err := ParsePolicy("p.yaml", []byte(pol), svc); err != nil {
		t.Fatal(err)
	}
	reg, err := (&Config{Service: svc}).BuildConnectors(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if names := reg.Names(); !slices.Equal(names, []string{"intune-mdm", "jamf-mdm", "snipe"}) {
		t.Errorf("registry = %v", names)
	}
	for name, ops := range map[string][]connectors.Operation{
		"snipe":      {connectors.OpRecordEquipmentStep},
		"intune-mdm": {connectors.OpLockDevices, connectors.OpRetireDevices, connectors.OpWipeDevices},
		"jamf-mdm":   {connectors.OpLockDevices, connectors.OpWipeDevices},
	} {
		in, ok := reg.Get(name)
		if !ok {
			t.Errorf("%s not built", name)
			continue
		}
		if !slices.Equal(in.Operations, ops) {
			t.Errorf("%s offers %v, want %v", name, in.Operations, ops)
		}
	}
	if in, ok := reg.Get("snipe"); ok {
		if _, ok := in.Connector.(connectors.AssetLister); !ok {
			t.Error("snipe does not offer the AssetLister capability")
		}
	}
}
