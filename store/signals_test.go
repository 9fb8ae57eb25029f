package store

import (
	"context"
	"testing"
	"time"
)

// The outbox: a row is recorded once per (receiver, action, event); a due
// row is claimed by one caller at a time until its lease runs out; a
// retried row is not due before its next attempt; delivered rows are never
// claimed again; failed rows come back when requeued.
func TestSignalOutbox(t *testing.T) {
	ctx := context.Background()
	s := OpenTest(t)
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	c := Case{EmployeeID: "E1", EmployeeEmail: "erin@example.test", Trigger: TriggerAPI, Requester: "A1", EffectiveAt: now, Status: CaseRunning}
	if err := s.db.Create(&c).Error; err != nil {
		t.Fatal(err)
	}
	a := Action{CaseID: c.ID, Name: "revoke", Connector: "okta", Operation: "revoke_sessions", Phase: 1, Status: ActionSucceeded,
		Outcome: "done", FinishedAt: &now, MaxAttempts: 3}
	if err := s.db.Create(&a).Error; err != nil {
		t.Fatal(err)
	}
	src, ok, err := s.SignalSourceOf(ctx, a.ID)
	if err != nil || !ok || src.EmployeeEmail != "erin@example.test" || src.Operation != "revoke_sessions" || src.CaseID != c.ID {
		t.Fatalf("SignalSourceOf = %+v, %v, %v", src, ok, err)
	}
	if got, err := s.SignalSourcesSince(ctx, now.Add(-time.Minute), []string{"revoke_sessions"}); err != nil || len(got) != 1 {
		t.Fatalf("SignalSourcesSince = %+v, %v", got, err)
	}
	if got, err := s.SignalSourcesSince(ctx, now.Add(time.Minute), []string{"revoke_sessions"}); err != nil || len(got) != 0 {
		t.Fatalf("SignalSourcesSince after = %+v, %v", got, err)
	}
	sim := Action{CaseID: c.ID, Name: "revoke_sim", Connector: "okta-sim", Operation: "revoke_sessions", Phase: 1, Status: ActionSucceeded,
		Outcome: "done", FinishedAt: &now, MaxAttempts: 3, Simulated: true}
	if err := s.db.Create(&sim).Error; err != nil {
		t.Fatal(err)
	}
	row := SignalOutbox{Receiver: "siem", CaseID: c.ID, ActionID: a.ID, EventType: "session-revoked", JTI: "j1", Claims: "{}", NextAttemptAt: now}
	if n, err := s.RecordSignals(ctx, []SignalOutbox{row}); err != nil || n != 1 {
		t.Fatalf("RecordSignals = %d, %v", n, err)
	}
	row.JTI = "j2" // a second recording of the same signal: a new jti, still one row
	if n, err := s.RecordSignals(ctx, []SignalOutbox{row}); err != nil || n != 0 {
		t.Fatalf("RecordSignals again = %d, %v", n, err)
	}
	// Recorded (and simulated) actions are not the catch-up scan's.
	if got, err := s.SignalSourcesSince(ctx, now.Add(-time.Minute), []string{"revoke_sessions"}); err != nil || len(got) != 0 {
		t.Fatalf("SignalSourcesSince after recording = %+v, %v", got, err)
	}
	got, err := s.ClaimDueSignals(ctx, now, 30*time.Second, 10)
	if err != nil || len(got) != 1 || got[0].JTI != "j1" {
		t.Fatalf("claim = %+v, %v", got, err)
	}
	if again, err := s.ClaimDueSignals(ctx, now.Add(10*time.Second), 30*time.Second, 10); err != nil || len(again) != 0 {
		t.Fatalf("claim while leased = %+v, %v", again, err)
	}
	// A claimer that died: its lease runs out and the row is claimed again.
	again, err := s.ClaimDueSignals(ctx, now.Add(31*time.Second), 30*time.Second, 10)
	if err != nil || len(again) != 1 {
		t.Fatalf("claim after lease = %+v, %v", again, err)
	}
	id := again[0].ID
	if err := s.MarkSignalRetry(ctx, id, 1, now.Add(time.Minute), "signals/siem push: transient (status 503)", now); err != nil {
		t.Fatal(err)
	}
	if due, _ := s.ClaimDueSignals(ctx, now.Add(59*time.Second), 30*time.Second, 10); len(due) != 0 {
		t.Fatalf("claimed before its next attempt: %+v", due)
	}
	if due, _ := s.ClaimDueSignals(ctx, now.Add(time.Minute), 30*time.Second, 10); len(due) != 1 || due[0].Attempts != 1 {
		t.Fatalf("claim at its next attempt: %+v", due)
	}
	if err := s.MarkSignalFailed(ctx, id, 2, "invalid_key", now); err != nil {
		t.Fatal(err)
	}
	if due, _ := s.ClaimDueSignals(ctx, now.Add(time.Hour), 30*time.Second, 10); len(due) != 0 {
		t.Fatalf("failed row claimed: %+v", due)
	}
	if n, err := s.RequeueFailedSignals(ctx, "siem", now.Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("requeue = %d, %v", n, err)
	}
	due, _ := s.ClaimDueSignals(ctx, now.Add(2*time.Hour), 30*time.Second, 10)
	if len(due) != 1 {
		t.Fatalf("requeued row not due: %+v", due)
	}
	if err := s.MarkSignalDelivered(ctx, id, 3, now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if due, _ := s.ClaimDueSignals(ctx, now.Add(3*time.Hour), 30*time.Second, 10); len(due) != 0 {
		t.Fatalf("delivered row claimed: %+v", due)
	}
	counts, err := s.CountSignals(ctx)
	if err != nil || counts[SignalDelivered] != 1 || len(counts) != 1 {
		t.Fatalf("counts %v, %v", counts, err)
	}
	rows, err := s.SignalsOf(ctx, c.ID)
	if err != nil || len(rows) != 1 || rows[0].Attempts != 3 || rows[0].DeliveredAt == nil || rows[0].LeaseUntil != nil || rows[0].LastError != "" {
		t.Fatalf("rows %+v, %v", rows, err)
	}
}
