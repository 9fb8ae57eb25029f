package sandbox_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/sandbox"
	"github.com/kineticsec/kinetic/directory"
)

// The simulated tracker lists dana's devices with serials, records a step
// on her asset and reads it back, and refuses a step on fox's asset for
// dana without changing anything.
func TestAssetsTrackerSteps(t *testing.T) {
	ctx := context.Background()
	c := newSeeded(t, "assets", sandbox.Config{System: "assets"})
	f := fox
	f.Equipment = []string{"LAP-0009"}
	c.SeedEmployees([]directory.Employee{f})
	got, err := c.ListAssets(ctx, present)
	if err != nil || len(got) != 2 || got[0].Tag != "LAP-0001" || got[0].Serial != sandbox.SerialOf("LAP-0001") || got[0].Kind != "hardware" {
		t.Fatalf("ListAssets = %+v, %v", got, err)
	}
	req := connectors.Request{Operation: connectors.OpRecordEquipmentStep, Subject: present,
		Params: connectors.EquipmentStepParams("lap-0001", connectors.EquipmentReceived, "kinetic case 7", "")}
	if v, _ := c.Verify(ctx, req); v.OK {
		t.Fatalf("verified before the step: %+v", v)
	}
	if res, err := c.Do(ctx, req); err != nil || res.Outcome != connectors.OutcomeDone {
		t.Fatalf("Do = %+v, %v", res, err)
	}
	if v, err := c.Verify(ctx, req); err != nil || !v.OK || !strings.Contains(v.Detail, "step=received") {
		t.Fatalf("Verify = %+v, %v", v, err)
	}
	if res, _ := c.Do(ctx, req); res.Outcome != connectors.OutcomeAlreadyDone {
		t.Fatalf("second Do = %+v", res)
	}
	effects := len(c.Effects())
	other := req
	other.Params = connectors.EquipmentStepParams("LAP-0001", connectors.EquipmentWiped, "kinetic case 8", "")
	other.Subject = connectors.Subject{EmployeeID: fox.ID, Email: fox.Email}
	if _, err := c.Do(ctx, other); connectors.KindOf(err) != connectors.KindInvalid {
		t.Fatalf("a step on someone else's asset: %v, want KindInvalid", err)
	}
	disposed := req
	disposed.Params = connectors.EquipmentStepParams("LAP-0001", connectors.EquipmentDisposed, "kinetic case 7", "")
	if _, err := c.Do(ctx, disposed); connectors.KindOf(err) != connectors.KindInvalid {
		t.Fatalf("a disposal without reference: %v", err)
	}
	if n := len(c.Effects()); n != effects {
		t.Fatalf("refused steps changed %d things", n-effects)
	}
}

// The simulated MDM locks, retires and wipes the person's devices (by
// serial, or all), reads each back, refuses a serial that is not theirs
// and a wipe under a legal hold, changing nothing.
func TestMDMDevices(t *testing.T) {
	ctx := context.Background()
	c := newSeeded(t, "mdm", sandbox.Config{System: "mdm"})
	lock := connectors.Request{Operation: connectors.OpLockDevices, Subject: present,
		Params: connectors.DeviceParams([]string{sandbox.SerialOf("MON-0002")}, time.Time{}, false)}
	if res, err := c.Do(ctx, lock); err != nil || res.Outcome != connectors.OutcomeDone || res.Account != sandbox.SerialOf("MON-0002") {
		t.Fatalf("lock = %+v, %v", res, err)
	}
	if v, err := c.Verify(ctx, lock); err != nil || !v.OK {
		t.Fatalf("lock read back %+v, %v", v, err)
	}
	if res, _ := c.Do(ctx, lock); res.Outcome != connectors.OutcomeAlreadyDone {
		t.Fatalf("second lock = %+v", res)
	}
	all := connectors.Request{Operation: connectors.OpWipeDevices, Subject: present, Params: connectors.DeviceParams(nil, time.Time{}, false)}
	if v, _ := c.Verify(ctx, all); v.OK {
		t.Fatalf("wipe verified before it was issued: %+v", v)
	}
	n := len(c.Effects())
	for name, req := range map[string]connectors.Request{
		"someone else's serial": {Operation: connectors.OpLockDevices, Subject: present, Params: connectors.DeviceParams([]string{"SN-NOT-HERS"}, time.Time{}, false)},
		"a wipe under a hold":   {Operation: connectors.OpWipeDevices, Subject: present, Params: connectors.DeviceParams(nil, time.Time{}, true)},
	} {
		if _, err := c.Do(ctx, req); connectors.KindOf(err) != connectors.KindInvalid {
			t.Errorf("%s: %v, want KindInvalid", name, err)
		}
	}
	if len(c.Effects()) != n {
		t.Fatal("a refused device operation changed something")
	}
	if res, err := c.Do(ctx, all); err != nil || res.Outcome != connectors.OutcomeDone {
		t.Fatalf("wipe = %+v, %v", res, err)
	}
	if v, err := c.Verify(ctx, all); err != nil || !v.OK {
		t.Fatalf("wipe read back %+v, %v", v, err)
	}
	if res, _ := c.Do(ctx, connectors.Request{Operation: connectors.OpLockDevices, Subject: missing}); res.Outcome != connectors.OutcomeNoneFound {
		t.Fatalf("a person without devices: %+v", res)
	}
}
