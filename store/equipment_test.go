package store

import (
	"context"
	"testing"
	"time"
)

// Return instructions pending on a task: an attempt is claimed once per
// attempt count (two sweepers, one wins), the first outcome is recorded
// and later ones change nothing, and only pending ones whose attempt is
// older than the bound are stale.
func TestReturnInstructionsClaimedOnceAndFinishedOnce(t *testing.T) {
	s := OpenTest(t)
	ctx := context.Background()
	db := s.Conn(ctx)
	now := time.Date(2026, 3, 18, 9, 0, 0, 0, time.UTC)
	c := Case{EmployeeID: "E1", Trigger: TriggerAPI, Requester: "E2", EffectiveAt: now, Status: CaseRunning}
	if err := db.Create(&c).Error; err != nil {
		t.Fatal(err)
	}
	pending := EquipmentTask{CaseID: c.ID, AssetTag: "LT-1", AssigneeTeam: "it", Status: EquipmentReturnRequested}
	told := EquipmentTask{CaseID: c.ID, AssetTag: "PH-1", AssigneeTeam: "it", Status: EquipmentReturnRequested}
	open := EquipmentTask{CaseID: c.ID, AssetTag: "MO-1", AssigneeTeam: "it", Status: EquipmentOpen}
	for _, x := range []*EquipmentTask{&pending, &told, &open} {
		if err := db.Create(x).Error; err != nil {
			t.Fatal(err)
		}
	}
	if err := SetInstructions(db, pending.ID, InstructionsPending, now); err != nil {
		t.Fatal(err)
	}
	if err := SetInstructions(db, told.ID, InstructionsChat, now); err != nil {
		t.Fatal(err)
	}
	stale := func(before time.Time) []int64 {
		t.Helper()
		ts, err := s.StaleInstructions(ctx, before, 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, x := range ts {
			ids = append(ids, x.ID)
		}
		return ids
	}
	if got := stale(now); len(got) != 0 {
		t.Fatalf("stale before the attempt began: %v", got)
	}
	if got := stale(now.Add(time.Second)); len(got) != 1 || got[0] != pending.ID {
		t.Fatalf("stale: %v, want [%d]", got, pending.ID)
	}
	later := now.Add(time.Hour)
	if ok, err := ClaimInstructions(db, pending.ID, 1, later); err != nil || !ok {
		t.Fatalf("first claim: %v %v", ok, err)
	}
	if ok, err := ClaimInstructions(db, pending.ID, 1, later); err != nil || ok {
		t.Fatalf("a second claim of the same attempt: %v %v", ok, err)
	}
	if ok, err := ClaimInstructions(db, told.ID, 0, later); err != nil || ok {
		t.Fatalf("claimed instructions told in chat: %v %v", ok, err)
	}
	if got := stale(later); len(got) != 0 {
		t.Fatalf("stale within the new attempt: %v", got)
	}
	if ok, err := FinishInstructions(db, pending.ID, InstructionsSent, later); err != nil || !ok {
		t.Fatalf("first outcome: %v %v", ok, err)
	}
	if ok, err := FinishInstructions(db, pending.ID, InstructionsChat, later); err != nil || ok {
		t.Fatalf("a second outcome: %v %v", ok, err)
	}
	got, err := s.EquipmentTask(ctx, pending.ID)
	if err != nil {
		t.Fatal(err)
	}
	if in := got.Instructions; in.State != InstructionsSent || in.Tries != 2 || in.At == nil || !in.At.Equal(later) {
		t.Fatalf("recorded: %+v", in)
	}
	if got := stale(later.Add(24 * time.Hour)); len(got) != 0 {
		t.Fatalf("stale after the outcome: %v", got)
	}
}
