package engine_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// equipmentBlock sends Berlin's laptops to it-berlin and everything else
// to it-assets.
const equipmentBlock = `equipment:
  categories: {LT: laptop, PH: phone}
  teams:
    - {category: laptop, location: Berlin, team: it-berlin}
    - {team: it-assets}
`

func taskTagged(t *testing.T, k *testkit.Kit, caseID int64, tag string) store.EquipmentTask {
	t.Helper()
	ts, err := k.Store.EquipmentTasks(context.Background(), caseID)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ts {
		if x.AssetTag == tag {
			return x
		}
	}
	t.Fatalf("no equipment task %s in %+v", tag, ts)
	return store.EquipmentTask{}
}

func eqAuditEvents(t *testing.T, k *testkit.Kit, caseID int64) int64 {
	return k.Count(t, &store.AuditEvent{}, "case_id = ?", caseID)
}

// The laptop goes open → return requested → received → wiped → disposed
// by its team; the phone is lost; every refused move changes nothing; the
// case reports access fully revoked first and closes only with the last
// device.
func TestEquipmentRecoveryToDisposition(t *testing.T) {
	k, rec := approvalsKit(t, testkit.Policy+equipmentBlock, nil)
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E7", Requester: "M1", Reason: "resigned"})
	testkit.Eventually(t, 30*time.Second, func() bool { return reload(t, k.Store, c.ID).RevokedAt != nil },
		func() string { return "access never fully revoked:\n" + engine.Summary(reload(t, k.Store, c.ID)) })
	got := reload(t, k.Store, c.ID)
	if got.Status != store.CaseRunning || got.ClosedAt != nil {
		t.Fatalf("case %s closed %v while two devices are out", got.Status, got.ClosedAt)
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		items, err := k.Engine.OpenItems(ctx, c.ID)
		return err == nil && len(items) == 2 && items[0].Kind == engine.OpenEquipment && items[1].Kind == engine.OpenEquipment
	}, func() string { items, err := k.Engine.OpenItems(ctx, c.ID); return "open items: " + sprint(items, err) })

	lt, ph := taskTagged(t, k, c.ID, "LT-7"), taskTagged(t, k, c.ID, "PH-7")
	if lt.Category != "laptop" || lt.AssigneeTeam != "it-berlin" || lt.Location != "Berlin" || ph.Category != "phone" || ph.AssigneeTeam != "it-assets" {
		t.Fatalf("assignment: %+v / %+v", lt, ph)
	}
	if lt.DueAt == nil || !lt.DueAt.Equal(c.EffectiveAt.Add(7*24*time.Hour)) {
		t.Fatalf("due %v, want the effective time + equipment_due", lt.DueAt)
	}
	if evs := rec.of(engine.EventEquipment); len(evs) != 2 || !slices.Contains(evs[0].Targets, "channel:it-berlin") && !slices.Contains(evs[1].Targets, "channel:it-berlin") {
		t.Fatalf("the teams were not told of their tasks: %+v", evs)
	}

	move := func(id int64, to, who, ref string) error {
		_, err := k.Engine.MoveEquipment(ctx, engine.EquipmentMove{TaskID: id, To: to, Actor: who, Reference: ref, Via: "test"})
		return err
	}
	refusals := []struct {
		name      string
		to, who   string
		ref       string
		wantKind  error
		wantInErr string
	}{
		{"the departing person", store.EquipmentReturnRequested, "E7", "", engine.ErrNotAllowed, "departing employee"},
		{"another team", store.EquipmentReturnRequested, "T1", "", engine.ErrNotAllowed, "it-berlin"},
		{"a colleague", store.EquipmentReceived, "X1", "", engine.ErrNotAllowed, "it-berlin"},
		{"a skipped step", store.EquipmentWiped, "T2", "", engine.ErrInvalidRequest, "moves to"},
		{"a disposal without its reference", store.EquipmentDisposed, "T2", "", engine.ErrInvalidRequest, "certificate"},
		{"a preservation without a hold", store.EquipmentPreserved, "T2", "", engine.ErrInvalidRequest, "moves to"},
		{"an unknown status", "shredded", "T2", "", engine.ErrInvalidRequest, "not an equipment status"},
	}
	for _, r := range refusals {
		t.Run("refused: "+r.name, func(t *testing.T) {
			before := eqAuditEvents(t, k, c.ID)
			err := move(lt.ID, r.to, r.who, r.ref)
			if !errors.Is(err, r.wantKind) || !strings.Contains(err.Error(), r.wantInErr) {
				t.Fatalf("got %v, want %v mentioning %q", err, r.wantKind, r.wantInErr)
			}
			if now := taskTagged(t, k, c.ID, "LT-7"); now.Status != store.EquipmentOpen || now.StatusBy != "" {
				t.Fatalf("a refused move changed the task: %+v", now)
			}
			if after := eqAuditEvents(t, k, c.ID); after != before {
				t.Fatalf("a refused move wrote %d audit events", after-before)
			}
		})
	}

	if err := move(lt.ID, store.EquipmentReturnRequested, "T2", ""); err != nil {
		t.Fatal(err)
	}
	evs := rec.of(engine.EventEquipment)
	if last := evs[len(evs)-1]; last.Status != store.EquipmentReturnRequested || !slices.Contains(last.Targets, "user:M1") {
		t.Fatalf("the return instructions went nowhere: %+v", last)
	}
	if err := move(lt.ID, store.EquipmentReceived, "T2", ""); err != nil {
		t.Fatal(err)
	}
	res, err := k.Engine.MoveEquipment(ctx, engine.EquipmentMove{TaskID: lt.ID, To: store.EquipmentReceived, Actor: "T2"})
	if err != nil || res.Changed {
		t.Fatalf("a repeated click: %+v %v (want no change, no error)", res, err)
	}
	if err := move(lt.ID, store.EquipmentReturnRequested, "T2", ""); !errors.Is(err, engine.ErrInvalidRequest) || !strings.Contains(err.Error(), "does not move back") {
		t.Fatalf("backwards: %v", err)
	}
	if err := move(lt.ID, store.EquipmentWiped, "T2", ""); err != nil {
		t.Fatal(err)
	}
	if err := move(lt.ID, store.EquipmentDisposed, "T2", "COD-2026-0042"); err != nil {
		t.Fatal(err)
	}
	if err := move(lt.ID, store.EquipmentLost, "T2", ""); !errors.Is(err, engine.ErrInvalidRequest) || !strings.Contains(err.Error(), "final") {
		t.Fatalf("out of a final disposition: %v", err)
	}
	if got := reload(t, k.Store, c.ID); got.Status != store.CaseRunning {
		t.Fatalf("case %s while the phone is out", got.Status)
	}
	if err := move(ph.ID, store.EquipmentLost, "A1", ""); err != nil { // an admin may move any team's task
		t.Fatal(err)
	}
	final := k.WaitClosed(t, c.ID, 10*time.Second)
	if final.Status != store.CaseCompletedWithExceptions {
		t.Fatalf("case %s, want completed_with_exceptions (a device was lost)", final.Status)
	}
	if final.RevokedAt == nil || final.ClosedAt == nil || !final.RevokedAt.Before(*final.ClosedAt) {
		t.Fatalf("revoked %v closed %v: want access fully revoked before closed", final.RevokedAt, final.ClosedAt)
	}
	for _, want := range []string{"access fully revoked", "2 devices: 1 disposed, 1 lost", "closed"} {
		if !strings.Contains(final.Summary, want) {
			t.Errorf("summary lacks %q: %s", want, final.Summary)
		}
	}
	if disposed := taskTagged(t, k, c.ID, "LT-7"); disposed.Reference != "COD-2026-0042" || disposed.StatusBy != "T2" {
		t.Fatalf("disposed task: %+v", disposed)
	}
	for _, ev := range []string{"case.access_revoked", "equipment.return_requested", "equipment.instructions_sent", "equipment.received",
		"equipment.wiped", "equipment.disposed", "equipment.lost", "case.closed"} {
		if n := k.Count(t, &store.AuditEvent{}, "case_id = ? AND event = ?", c.ID, ev); n != 1 {
			t.Errorf("%d %s audit events, want 1", n, ev)
		}
	}
	var closed store.AuditEvent
	k.Store.TestDB().Where("case_id = ? AND event = ?", c.ID, "case.closed").First(&closed)
	if !strings.Contains(closed.Detail, "access fully revoked") || !strings.Contains(closed.Detail, "closed") {
		t.Errorf("the audit record of the close lacks a figure: %s", closed.Detail)
	}
	rep, err := k.Store.VerifyAuditedState(ctx)
	if err != nil || !rep.OK {
		t.Fatalf("audited state: %+v %v", rep, err)
	}
}

// While a legal hold awaits its decision or covers the case, a received
// device is never wiped; under the approved hold it is preserved, which
// lets the case close; released, it is wiped like any other.
func TestLegalHoldBlocksTheWipe(t *testing.T) {
	k, _ := approvalsKit(t, testkit.ApprovalPolicy, nil)
	ctx := context.Background()
	o, err := k.Engine.Open(ctx, engine.Request{EmployeeID: "E7", Requester: "M1", Reason: "resigned", Trigger: store.TriggerCLI,
		Exceptions: []engine.ExceptionRequest{{Kind: "legal_hold", Reason: "litigation"}}})
	if err != nil {
		t.Fatal(err)
	}
	c := o.Case
	lt := taskTagged(t, k, c.ID, "LT-7")
	if lt.AssigneeTeam != "it-assets" || lt.Category != "other" {
		t.Fatalf("without an equipment block: %+v", lt)
	}
	move := func(to, ref string) error {
		_, err := k.Engine.MoveEquipment(ctx, engine.EquipmentMove{TaskID: lt.ID, To: to, Actor: "T1", Reference: ref})
		return err
	}
	if err := move(store.EquipmentReceived, ""); err != nil {
		t.Fatal(err)
	}
	if err := move(store.EquipmentWiped, ""); !errors.Is(err, engine.ErrNotAllowed) || !strings.Contains(err.Error(), "awaits its decision") {
		t.Fatalf("wiping while the hold is pending: %v", err)
	}
	aps, err := k.Engine.Approvals(ctx, store.ApprovalPending, "", c.ID)
	if err != nil || len(aps) != 1 {
		t.Fatalf("approvals: %+v %v", aps, err)
	}
	for _, who := range []string{"L1", "L2"} {
		if err := decide(k, aps[0].ID, who, true, "litigation"); err != nil {
			t.Fatal(err)
		}
	}
	before := eqAuditEvents(t, k, c.ID)
	if err := move(store.EquipmentWiped, ""); !errors.Is(err, engine.ErrNotAllowed) || !strings.Contains(err.Error(), "legal hold covers") {
		t.Fatalf("wiping under the hold: %v", err)
	}
	if taskTagged(t, k, c.ID, "LT-7").Status != store.EquipmentReceived || eqAuditEvents(t, k, c.ID) != before {
		t.Fatal("a refused wipe changed something")
	}
	if err := move(store.EquipmentPreserved, ""); err != nil {
		t.Fatal(err)
	}
	items, err := k.Engine.OpenItems(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.Kind == engine.OpenEquipment && it.Name == "LT-7" {
			t.Fatalf("a device preserved under an approved hold is still open: %+v", items)
		}
	}
}

// The completion gate lists every kind of open item: an action Kinetic
// runs, a manual step, an exception awaiting its decision and a device;
// each closes in turn and the case closes with the last.
func TestCompletionGateListsEveryKindOfOpenItem(t *testing.T) {
	policy := strings.Replace(testkit.ApprovalPolicy,
		"create_recovery_task: {connector: assets, operation: create_recovery_task, phase: notifications}",
		"create_recovery_task: {connector: assets, operation: create_recovery_task, phase: notifications}\n  collect_badge: {connector: badge, operation: deactivate_badge, phase: notifications, manual: true}", 1)
	policy = strings.Replace(policy, "delete_mailbox, create_recovery_task]", "delete_mailbox, create_recovery_task, collect_badge]", 1)
	k, _ := approvalsKit(t, policy, nil)
	ctx := context.Background()
	o, err := k.Engine.Open(ctx, engine.Request{EmployeeID: "E7", Requester: "M1", Reason: "resigned", Trigger: store.TriggerCLI,
		Exceptions: []engine.ExceptionRequest{{Kind: "late_laptop", Days: 14, Reason: "travelling"}}})
	if err != nil {
		t.Fatal(err)
	}
	c := o.Case
	items, err := k.Engine.OpenItems(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[engine.OpenItemKind][]string{}
	for _, it := range items {
		kinds[it.Kind] = append(kinds[it.Kind], it.Name)
	}
	for kind, want := range map[engine.OpenItemKind]string{engine.OpenAction: "disable_ad", engine.OpenManualStep: "collect_badge",
		engine.OpenApproval: "late_laptop", engine.OpenEquipment: "LT-7"} {
		if !slices.Contains(kinds[kind], want) {
			t.Errorf("open items of kind %s: %v, want %s among them", kind, kinds[kind], want)
		}
	}
	for _, it := range items {
		if it.Kind == engine.OpenEquipment && (it.Owner != "channel:it-assets" || it.DueAt == nil) {
			t.Errorf("an equipment item says who and by when: %+v", it)
		}
	}
	// The approval auto-approves on timeout only; A1 decides it now.
	aps, _ := k.Engine.Approvals(ctx, store.ApprovalPending, "", c.ID)
	if len(aps) != 1 {
		t.Fatalf("approvals: %+v", aps)
	}
	if err := decide(k, aps[0].ID, "A1", true, "fine"); err != nil {
		t.Fatal(err)
	}
	if due := taskTagged(t, k, c.ID, "LT-7").DueAt; due == nil || due.Before(time.Now().Add(13*24*time.Hour)) {
		t.Fatalf("the approved late return did not move the due date: %v", due)
	}
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, func() bool {
		items, err := k.Engine.OpenItems(ctx, c.ID)
		if err != nil {
			return false
		}
		for _, it := range items {
			if it.Kind == engine.OpenAction || it.Kind == engine.OpenApproval {
				return false
			}
		}
		return true
	}, func() string { items, err := k.Engine.OpenItems(ctx, c.ID); return sprint(items, err) })
	if err := k.Engine.MarkDone(ctx, actionStatus(t, k, c.ID, "collect_badge").ID, "A1", "badge at the desk"); err != nil {
		t.Fatal(err)
	}
	if got := reload(t, k.Store, c.ID); got.Status != store.CaseRunning || got.RevokedAt == nil {
		t.Fatalf("with only the devices out: %s revoked %v", got.Status, got.RevokedAt)
	}
	for _, tag := range []string{"LT-7", "PH-7"} {
		if _, err := k.Engine.MoveEquipment(ctx, engine.EquipmentMove{TaskID: taskTagged(t, k, c.ID, tag).ID, To: store.EquipmentLost, Actor: "T1"}); err != nil {
			t.Fatal(err)
		}
	}
	if final := k.WaitClosed(t, c.ID, 10*time.Second); final.ClosedAt == nil {
		t.Fatal("not closed")
	}
	if items, _ := k.Engine.OpenItems(ctx, c.ID); len(items) != 0 {
		t.Fatalf("a closed case has open items: %+v", items)
	}
}

// A device not back by its due time escalates by the policy's levels:
// first its team, then the security alerts channel, once each.
func TestOverdueEquipmentEscalates(t *testing.T) {
	clock := newClock()
	k, rec := approvalsKit(t, testkit.ApprovalPolicy, clock)
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E7", Requester: "M1", Reason: "resigned"})
	lt := taskTagged(t, k, c.ID, "LT-7")
	if _, err := k.Engine.MoveEquipment(ctx, engine.EquipmentMove{TaskID: taskTagged(t, k, c.ID, "PH-7").ID, To: store.EquipmentLost, Actor: "T1"}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(lt.DueAt.Sub(clock.Now()) + time.Minute)
	if _, err := k.Engine.Sweep(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	clock.Advance(31 * time.Minute)
	for range 2 {
		if _, err := k.Engine.Sweep(ctx, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	var levels []int
	for _, ev := range rec.of(engine.EventEquipmentOverdue) {
		if ev.EquipmentID == lt.ID {
			levels = append(levels, ev.Level)
			if ev.Level == 1 && !slices.Contains(ev.Targets, "channel:it-assets") || ev.Level == 2 && !slices.Contains(ev.Targets, "channel:security-alerts") {
				t.Errorf("level %d went to %v", ev.Level, ev.Targets)
			}
		}
		if ev.EquipmentID != lt.ID {
			t.Errorf("a lost device escalated: %+v", ev)
		}
	}
	if !slices.Equal(levels, []int{1, 2}) {
		t.Fatalf("levels %v, want [1 2] once each", levels)
	}
}

func sprint(items []engine.OpenItem, err error) string {
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, it := range items {
		b.WriteString(string(it.Kind) + ":" + it.Name + "(" + it.Status + ") ")
	}
	return b.String()
}
