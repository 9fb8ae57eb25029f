package engine_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// A device whose asset tag is 200 bytes long: its task's tag fits the
// 128-byte column, and every action recovery adds for it (each step on
// the tracker, the wipe of the lost device) has a name that fits the
// action name column, the later step waiting on the earlier by that name.
func TestLongAssetTagFitsEveryColumn(t *testing.T) {
	long := "LT-" + strings.Repeat("9", 197)
	dir := strings.Replace(testkit.Directory, `"equipment":["LT-7","PH-7"]`, `"equipment":["LT-7","PH-7","`+long+`"]`, 1)
	k := testkit.New(t, testkit.Options{RedisDB: redisDB, Policy: testkit.Policy + wiredEquipment, Connectors: mdmInstance, Directory: dir})
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E7", Requester: "M1", Reason: "resigned"})
	var task store.EquipmentTask
	ts, err := k.Store.EquipmentTasks(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ts {
		if strings.HasPrefix(x.AssetTag, "LT-999") {
			task = x
		}
	}
	if task.ID == 0 || len(task.AssetTag) > 128 || !utf8.ValidString(task.AssetTag) {
		t.Fatalf("the long tag's task: %q (%d bytes) in %+v", task.AssetTag, len(task.AssetTag), ts)
	}
	for _, to := range []string{store.EquipmentReturnRequested, store.EquipmentReceived, store.EquipmentLost} {
		if _, err := k.Engine.MoveEquipment(ctx, engine.EquipmentMove{TaskID: task.ID, To: to, Actor: "T2", Via: "test"}); err != nil {
			t.Fatalf("%s: %v", to, err)
		}
	}
	var names []string
	deps := map[string][]string{}
	for _, a := range reload(t, k.Store, c.ID).Actions {
		op := connectors.Operation(a.Operation)
		if op != connectors.OpRecordEquipmentStep && op != connectors.OpWipeDevices || strings.Contains(a.Name, "LT-7") || strings.Contains(a.Name, "PH-7") {
			continue
		}
		if len(a.Name) > 128 {
			t.Errorf("%d bytes: %s", len(a.Name), a.Name)
		}
		names = append(names, a.Name)
		var d []string
		_ = json.Unmarshal([]byte(a.DependsOn), &d)
		deps[a.Name] = d
	}
	if len(names) != 4 { // three steps and the wipe
		t.Fatalf("actions for the long tag: %q", names)
	}
	step := map[string]string{}
	for _, n := range names {
		for _, st := range []string{store.EquipmentReturnRequested, store.EquipmentReceived, store.EquipmentLost} {
			if strings.HasPrefix(n, "equipment_step.") && strings.HasSuffix(n, "."+st) {
				step[st] = n
			}
		}
	}
	if len(step) != 3 {
		t.Fatalf("steps: %q", names)
	}
	if d := deps[step[store.EquipmentReceived]]; len(d) != 1 || d[0] != step[store.EquipmentReturnRequested] {
		t.Errorf("%s waits on %v, want %s", step[store.EquipmentReceived], d, step[store.EquipmentReturnRequested])
	}
	if d := deps[step[store.EquipmentLost]]; len(d) != 1 || d[0] != step[store.EquipmentReceived] {
		t.Errorf("%s waits on %v, want %s", step[store.EquipmentLost], d, step[store.EquipmentReceived])
	}
}
