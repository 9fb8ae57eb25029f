package engine_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/sandbox"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// wiredEquipment names the sandbox assets system as the tracker and a
// sandbox mdm system as the MDM.
const wiredEquipment = `equipment:
  categories: {LT: laptop, PH: phone}
  tracker: assets
  mdm: {connector: mdm, lock_when: [involuntary], lock_overdue_after: 3d, wipe_when_lost: true}
  teams:
    - {category: laptop, location: Berlin, team: it-berlin}
    - {team: it-assets}
`

const mdmInstance = "  mdm:\n    type: sandbox\n    sandbox: {system: mdm}\n"

func wiredKit(t *testing.T, policy string, clock *fakeClock) *testkit.Kit {
	t.Helper()
	o := testkit.Options{RedisDB: redisDB, Policy: policy, Connectors: mdmInstance}
	if clock != nil {
		o.Now = clock.Now
	}
	return testkit.New(t, o)
}

// waitSettled waits until case caseID has an action named name in a final
// status, and returns it.
func waitSettled(t *testing.T, k *testkit.Kit, caseID int64, name string) store.Action {
	t.Helper()
	var got store.Action
	testkit.Eventually(t, 30*time.Second, func() bool {
		for _, a := range reload(t, k.Store, caseID).Actions {
			if a.Name == name {
				got = a
				return store.ActionFinal(a.Status)
			}
		}
		return false
	}, func() string { return name + " never settled:\n" + engine.Summary(reload(t, k.Store, caseID)) })
	return got
}

func hasEffect(k *testkit.Kit, system, account, change string) bool {
	for _, e := range k.Sandbox(system).Effects() {
		if e.Account == account && strings.Contains(e.Change, change) {
			return true
		}
	}
	return false
}

// The tracker's assets are merged with the HR list by tag (serials kept);
// each move is recorded on the tracker by an action that runs, is verified
// and audited; a device marked lost is wiped by its serial.
func TestEquipmentStepsReachTheTrackerAndLostIsWiped(t *testing.T) {
	k := wiredKit(t, testkit.Policy+wiredEquipment, nil)
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E7", Requester: "M1", Reason: "resigned"})
	lt, ph := taskTagged(t, k, c.ID, "LT-7"), taskTagged(t, k, c.ID, "PH-7")
	if lt.Source != string(connectors.SourceBoth) || lt.Serial != sandbox.SerialOf("LT-7") || ph.Serial != sandbox.SerialOf("PH-7") {
		t.Fatalf("merge: %+v / %+v", lt, ph)
	}
	for _, a := range reload(t, k.Store, c.ID).Actions {
		if a.Operation == string(connectors.OpLockDevices) {
			t.Fatalf("a voluntary case locked devices: %+v", a)
		}
	}
	if _, err := k.Engine.MoveEquipment(ctx, engine.EquipmentMove{TaskID: lt.ID, To: store.EquipmentReturnRequested, Actor: "T2", Via: "test"}); err != nil {
		t.Fatal(err)
	}
	step := waitSettled(t, k, c.ID, "equipment_step.LT-7.return_requested")
	if step.Status != store.ActionSucceeded || !step.Verified || step.Connector != "assets" || step.Phase != 3 {
		t.Fatalf("step action: %+v", step)
	}
	var params map[string]string
	_ = json.Unmarshal([]byte(step.Params), &params)
	if params[connectors.ParamAssetTag] != "LT-7" || params[connectors.ParamEquipmentState] != "return_requested" || params[connectors.ParamCaseRef] == "" {
		t.Fatalf("step params: %v", params)
	}
	if !hasEffect(k, "assets", "LT-7", "step deployed->return_requested") {
		t.Fatalf("the tracker was not updated: %+v", k.Sandbox("assets").Effects())
	}
	// A repeated click adds nothing.
	if res, err := k.Engine.MoveEquipment(ctx, engine.EquipmentMove{TaskID: lt.ID, To: store.EquipmentReturnRequested, Actor: "T2"}); err != nil || res.Changed {
		t.Fatalf("repeat: %+v %v", res, err)
	}
	if n := k.Count(t, &store.Action{}, "case_id = ? AND name LIKE ?", c.ID, "equipment_step.LT-7.%"); n != 1 {
		t.Fatalf("%d step actions after a repeated click", n)
	}

	if _, err := k.Engine.MoveEquipment(ctx, engine.EquipmentMove{TaskID: ph.ID, To: store.EquipmentLost, Actor: "T1", Via: "test"}); err != nil {
		t.Fatal(err)
	}
	wipe := waitSettled(t, k, c.ID, "wipe_devices.PH-7")
	_ = json.Unmarshal([]byte(wipe.Params), &params)
	if wipe.Status != store.ActionSucceeded || !wipe.Verified || wipe.Connector != "mdm" || params[connectors.ParamSerials] != sandbox.SerialOf("PH-7") {
		t.Fatalf("wipe action: %+v %v", wipe, params)
	}
	if !hasEffect(k, "mdm", sandbox.SerialOf("PH-7"), "->wiped") || hasEffect(k, "mdm", sandbox.SerialOf("LT-7"), "wiped") {
		t.Fatalf("mdm effects: %+v", k.Sandbox("mdm").Effects())
	}
	if waitSettled(t, k, c.ID, "equipment_step.PH-7.lost").Status != store.ActionSucceeded {
		t.Fatal("the loss was not recorded on the tracker")
	}
}

// An involuntary case locks every managed device at once, in the
// critical phase.
func TestInvoluntaryCaseLocksDevices(t *testing.T) {
	k := wiredKit(t, testkit.Policy+wiredEquipment, nil)
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	c := open(t, k, engine.Request{EmployeeID: "E7", Requester: "M1", Reason: "terminated", Involuntary: true})
	lock := waitSettled(t, k, c.ID, "lock_devices.involuntary")
	if lock.Status != store.ActionSucceeded || !lock.Verified || lock.Phase != 1 {
		t.Fatalf("lock: %+v", lock)
	}
	for _, tag := range []string{"LT-7", "PH-7"} {
		if !hasEffect(k, "mdm", sandbox.SerialOf(tag), "managed->locked") {
			t.Errorf("%s not locked: %+v", tag, k.Sandbox("mdm").Effects())
		}
	}
}

// A device overdue by lock_overdue_after is locked by the sweep, once; a
// device back in time is not.
func TestOverdueDeviceIsLocked(t *testing.T) {
	clock := newClock()
	k := wiredKit(t, testkit.Policy+wiredEquipment, clock)
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E7", Requester: "M1", Reason: "resigned"})
	testkit.Eventually(t, 30*time.Second, func() bool { return reload(t, k.Store, c.ID).RevokedAt != nil },
		func() string { return "access never fully revoked:\n" + engine.Summary(reload(t, k.Store, c.ID)) })
	lt := taskTagged(t, k, c.ID, "LT-7")
	if _, err := k.Engine.MoveEquipment(ctx, engine.EquipmentMove{TaskID: lt.ID, To: store.EquipmentReceived, Actor: "T2"}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(lt.DueAt.Sub(clock.Now()) + 2*24*time.Hour)
	// The worker sweeps too (on the same clock): count the actions.
	locks := func() int64 {
		return k.Count(t, &store.Action{}, "case_id = ? AND operation = ?", c.ID, string(connectors.OpLockDevices))
	}
	if _, err := k.Engine.Sweep(ctx, time.Minute); err != nil || locks() != 0 {
		t.Fatalf("locked before lock_overdue_after: %d %v", locks(), err)
	}
	clock.Advance(24*time.Hour + time.Minute)
	for range 2 {
		if _, err := k.Engine.Sweep(ctx, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if n := locks(); n != 1 {
		t.Fatalf("%d lock actions after two sweeps, want 1", n)
	}
	// The queue holds the task until the fake clock's time in real time:
	// run it as the worker's handler would.
	q := actionNamed(t, reload(t, k.Store, c.ID), "lock_devices.PH-7")
	if q.Status != store.ActionQueued || q.Phase != 2 {
		t.Fatalf("lock: %+v", q)
	}
	if err := k.Engine.RunAction(ctx, q.ID, q.Generation); err != nil {
		t.Fatal(err)
	}
	lock := actionNamed(t, reload(t, k.Store, c.ID), "lock_devices.PH-7")
	var params map[string]string
	_ = json.Unmarshal([]byte(lock.Params), &params)
	if lock.Status != store.ActionSucceeded || !lock.Verified || params[connectors.ParamSerials] != sandbox.SerialOf("PH-7") {
		t.Fatalf("lock: %+v %v", lock, params)
	}
	if k.Count(t, &store.Action{}, "case_id = ? AND name = ?", c.ID, "lock_devices.LT-7") != 0 {
		t.Fatal("a device back in time was locked")
	}
	if !hasEffect(k, "mdm", sandbox.SerialOf("PH-7"), "managed->locked") || hasEffect(k, "mdm", sandbox.SerialOf("LT-7"), "locked") {
		t.Fatalf("mdm effects: %+v", k.Sandbox("mdm").Effects())
	}
}

// A device the tracker shows assigned to someone else: the step's action
// fails permanently with the tracker's reason, and the tracker is left as
// it was.
func TestStepOnSomeoneElsesAssetFails(t *testing.T) {
	k := wiredKit(t, testkit.Policy+wiredEquipment, nil)
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E7", Requester: "M1", Reason: "resigned"})
	lt := taskTagged(t, k, c.ID, "LT-7")
	k.Sandbox("assets").AddAccount(connectors.Subject{EmployeeID: "E1", Email: "ann@example.test"}, connectors.Account{ID: "LT-7", Kind: "device"})
	steps := func() (n int) {
		for _, e := range k.Sandbox("assets").Effects() {
			if e.Operation == string(connectors.OpRecordEquipmentStep) {
				n++
			}
		}
		return n
	}
	if _, err := k.Engine.MoveEquipment(ctx, engine.EquipmentMove{TaskID: lt.ID, To: store.EquipmentReceived, Actor: "T2"}); err != nil {
		t.Fatal(err)
	}
	step := waitSettled(t, k, c.ID, "equipment_step.LT-7.received")
	if step.Status != store.ActionFailed || step.ErrorKind != string(connectors.KindInvalid) || !strings.Contains(step.LastError, "assigned to someone else") {
		t.Fatalf("step: %+v", step)
	}
	if steps() != 0 {
		t.Fatal("the tracker changed")
	}
}

// A device marked lost while a legal hold awaits its decision is not
// wiped: no wipe action, and the audit trail says why.
func TestLostUnderLegalHoldIsNotWiped(t *testing.T) {
	k := wiredKit(t, testkit.ApprovalPolicy+wiredEquipment, nil)
	ctx := context.Background()
	o, err := k.Engine.Open(ctx, engine.Request{EmployeeID: "E7", Requester: "M1", Reason: "resigned", Trigger: store.TriggerCLI,
		Exceptions: []engine.ExceptionRequest{{Kind: "legal_hold", Reason: "litigation"}}})
	if err != nil {
		t.Fatal(err)
	}
	ph := taskTagged(t, k, o.Case.ID, "PH-7")
	if _, err := k.Engine.MoveEquipment(ctx, engine.EquipmentMove{TaskID: ph.ID, To: store.EquipmentLost, Actor: "T1"}); err != nil {
		t.Fatal(err)
	}
	if n := k.Count(t, &store.Action{}, "case_id = ? AND operation = ?", o.Case.ID, string(connectors.OpWipeDevices)); n != 0 {
		t.Fatalf("%d wipe actions under a legal hold", n)
	}
	if n := k.Count(t, &store.AuditEvent{}, "case_id = ? AND event = ?", o.Case.ID, "equipment.wipe_withheld"); n != 1 {
		t.Fatalf("%d wipe_withheld audit events, want 1", n)
	}
	if n := k.Count(t, &store.Action{}, "case_id = ? AND name = ?", o.Case.ID, "equipment_step.PH-7.lost"); n != 1 {
		t.Fatal("the loss is not recorded on the tracker")
	}
}

// Steps reach the tracker in the order they were made: each step's action
// waits for the one before it, so the tracker ends at the last step.
func TestStepsReachTheTrackerInOrder(t *testing.T) {
	k := wiredKit(t, testkit.Policy+wiredEquipment, nil)
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E7", Requester: "M1", Reason: "resigned"})
	lt := taskTagged(t, k, c.ID, "LT-7")
	steps := []string{store.EquipmentReturnRequested, store.EquipmentReceived, store.EquipmentWiped, store.EquipmentDisposed}
	for _, to := range steps {
		ref := ""
		if to == store.EquipmentDisposed {
			ref = "COD-7"
		}
		if _, err := k.Engine.MoveEquipment(ctx, engine.EquipmentMove{TaskID: lt.ID, To: to, Actor: "T2", Reference: ref}); err != nil {
			t.Fatal(err)
		}
	}
	for i, to := range steps {
		a := waitSettled(t, k, c.ID, "equipment_step.LT-7."+to)
		var deps []string
		_ = json.Unmarshal([]byte(a.DependsOn), &deps)
		if a.Status != store.ActionSucceeded || i > 0 && (len(deps) != 1 || deps[0] != "equipment_step.LT-7."+steps[i-1]) {
			t.Fatalf("%s: %+v deps %v", to, a, deps)
		}
	}
	var order []string
	for _, e := range k.Sandbox("assets").Effects() {
		if e.Operation == string(connectors.OpRecordEquipmentStep) {
			order = append(order, e.Change)
		}
	}
	if len(order) != 4 || !strings.Contains(order[3], "wiped->disposed") {
		t.Fatalf("tracker steps: %v", order)
	}
}
