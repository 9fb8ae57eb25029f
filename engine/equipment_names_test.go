package engine

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/store"
)

// The names of the actions equipment recovery adds fit the action name
// column whatever the asset tag: a 200-byte tag (and one of multi-byte
// characters) is cut and hashed, deterministically; two long tags that
// differ only at their end keep their own names; a short tag is kept
// as it is; every step name of one task shares the prefix the step
// before is found by, and no other task's name matches it.
func TestEquipmentActionNamesFitTheColumn(t *testing.T) {
	f, _ := reflect.TypeOf(store.Action{}).FieldByName("Name")
	if tag := f.Tag.Get("gorm"); !strings.Contains(tag, "size:128;") || maxActionName != 128 {
		t.Fatalf("store.Action.Name is %q; maxActionName is %d", tag, maxActionName)
	}
	for _, s := range EquipmentStatuses() {
		if len(s) > maxEquipmentState {
			t.Fatalf("status %s is longer than maxEquipmentState", s)
		}
	}
	long := strings.Repeat("LT-", 66) + "A1" // 200 bytes
	twin := strings.Repeat("LT-", 66) + "A2"
	wide := strings.Repeat("ü", 100) // 200 bytes, 2 a character
	if len(long) != 200 || len(wide) != 200 {
		t.Fatal("test tags are not 200 bytes")
	}
	seen := map[string]string{}
	for _, tag := range []string{long, twin, wide, "LT-7", "LT-7.received"} {
		var names []string
		for _, s := range EquipmentStatuses()[1:] {
			names = append(names, equipmentStepAction(tag, s))
		}
		names = append(names, deviceAction(connectors.OpLockDevices, tag), deviceAction(connectors.OpWipeDevices, tag))
		for i, n := range names {
			if len(n) > maxActionName {
				t.Errorf("%d bytes: %s", len(n), n)
			}
			if !utf8.ValidString(n) {
				t.Errorf("not valid UTF-8 (a character was cut): %q", n)
			}
			if other, dup := seen[n]; dup {
				t.Errorf("tags %q and %q share the name %s", other, tag, n)
			}
			seen[n] = tag
			if i < len(EquipmentStatuses())-1 && !stepOf(n, tag) {
				t.Errorf("%s is not recognised as a step of its own task", n)
			}
		}
		if equipmentStepAction(tag, store.EquipmentWiped) != equipmentStepAction(strings.Clone(tag), store.EquipmentWiped) {
			t.Errorf("names of %q are not deterministic", tag)
		}
	}
	if got := equipmentStepAction("LT-7", store.EquipmentReceived); got != "equipment_step.LT-7.received" {
		t.Errorf("a short tag's step is named %s", got)
	}
	if got := deviceAction(connectors.OpWipeDevices, "PH-7"); got != "wipe_devices.PH-7" {
		t.Errorf("a short tag's wipe is named %s", got)
	}
	if stepOf(equipmentStepAction("LT-7.received", store.EquipmentLost), "LT-7") {
		t.Error("a step of task LT-7.received is taken for one of LT-7")
	}
	if stepOf(equipmentStepAction(twin, store.EquipmentLost), long) {
		t.Error("a step of one long tag is taken for one of its twin")
	}
}
