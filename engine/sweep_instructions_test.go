package engine_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/smtptest"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// crashBeforeSend is an observer that, while it has crashes left, panics
// on the return instructions email event: the process dies after the
// move's (or the sweep's) transaction committed and before the email is
// sent. Observers run in order and the email channel comes after the
// test's, so the email channel never sees the event.
type crashBeforeSend struct {
	left atomic.Int32
	mu   sync.Mutex
	lost []engine.Event
}

type crash struct{}

func (c *crashBeforeSend) Observe(ev engine.Event) {
	if ev.Kind != engine.EventReturnInstructions || c.left.Add(-1) < 0 {
		return
	}
	c.mu.Lock()
	c.lost = append(c.lost, ev)
	c.mu.Unlock()
	panic(crash{})
}

// crashes runs fn, which must die by crashBeforeSend.
func crashes(t *testing.T, fn func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != (crash{}) {
			t.Fatalf("want the simulated crash before the send, got %v", r)
		}
	}()
	fn()
	t.Fatal("no crash before the send")
}

func instructionsOf(t *testing.T, k *testkit.Kit, id int64) (string, store.ReturnInstructions) {
	t.Helper()
	x, err := k.Store.EquipmentTask(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return x.Status, x.Instructions
}

func sweepNow(t *testing.T, k *testkit.Kit) engine.SweepStats {
	t.Helper()
	st, err := k.Engine.Sweep(context.Background(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// The process dies between the commit of Request return and the email:
// the instructions stay pending on the task; the recovery sweep leaves
// them alone while the attempt may still be under way, then emails them
// (to the real SMTP server: exactly one message) and the audit trail
// records them sent. The lost attempt reporting late records nothing
// more, and later sweeps send nothing more.
func TestReturnInstructionsLostInACrashAreSentByTheSweep(t *testing.T) {
	log, clock, crash := &eventLog{}, newClock(), &crashBeforeSend{}
	crash.left.Store(1)
	k, mail := mailKitAt(t, "gia.home@mail.example", clock.Now, log, crash)
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E7", Requester: "M1", Reason: "resigned"})
	ph := taskTagged(t, k, c.ID, "PH-7")
	crashes(t, func() {
		_, _ = k.Engine.MoveEquipment(ctx, engine.EquipmentMove{TaskID: ph.ID, To: store.EquipmentReturnRequested, Actor: "T1", Via: "test"})
	})
	status, in := instructionsOf(t, k, ph.ID)
	if status != store.EquipmentReturnRequested || in.State != store.InstructionsPending || in.Tries != 1 {
		t.Fatalf("after the crash: %s, %+v", status, in)
	}
	if got := auditDetails(t, k, c.ID, "equipment.instructions_sending"); len(got) != 1 {
		t.Fatalf("audit: %q", got)
	}

	clock.Advance(9 * time.Minute) // the attempt may still be retrying
	if st := sweepNow(t, k); st.Instructions != 0 {
		t.Fatalf("the sweep took over an attempt within its lease: %+v", st)
	}
	if _, in := instructionsOf(t, k, ph.ID); in.State != store.InstructionsPending || in.Tries != 1 {
		t.Fatalf("within the lease: %+v", in)
	}

	clock.Advance(2 * time.Minute)
	if st := sweepNow(t, k); st.Instructions != 1 {
		t.Fatalf("the sweep did not send the lost instructions: %+v", st)
	}
	d := mail.Next()
	if len(d.Rcpts) != 1 || d.Rcpts[0] != "gia.home@mail.example" {
		t.Fatalf("delivered to %v", d.Rcpts)
	}
	m, body := smtptest.Parse(t, d.Data)
	if m.Header.Get("Subject") != "Returning PH-7 (phone) after your last day" || !strings.Contains(strings.Join(strings.Fields(body), " "), returnInstructions) {
		t.Fatalf("the message: %v\n%s", m.Header, body)
	}
	sent, ok := waitEvent(t, log, ph.ID, "return instructions sent to g***@mail.example (Gia Gadget's private email)")
	if !ok || len(sent.Targets) != 1 || sent.Targets[0] != "channel:it-assets" {
		t.Fatalf("the outcome's event: %+v", sent)
	}
	if got := auditDetails(t, k, c.ID, "equipment.instructions_sent"); len(got) != 1 || !strings.HasPrefix(got[0], "sent: return instructions for PH-7 sent by email to gia.home@mail.example") {
		t.Fatalf("audit: %q", got)
	}
	got := auditDetails(t, k, c.ID, "equipment.instructions_sending")
	if len(got) != 2 || !strings.HasPrefix(got[1], "email again: ") || !strings.Contains(got[1], "again, attempt 2") || !strings.Contains(got[1], "arrive twice") {
		t.Fatalf("audit: %q", got)
	}
	if _, in := instructionsOf(t, k, ph.ID); in.State != store.InstructionsSent || in.Tries != 2 {
		t.Fatalf("after the send: %+v", in)
	}
	mail.None()

	// The lost attempt reports after all (it had got through): already
	// recorded, nothing more is.
	crash.mu.Lock()
	lost := crash.lost[0]
	crash.mu.Unlock()
	if err := k.Engine.ReturnInstructionsSent(ctx, lost, nil); err != nil {
		t.Fatal(err)
	}
	if got := auditDetails(t, k, c.ID, "equipment.instructions_sent"); len(got) != 1 {
		t.Fatalf("audit: %q", got)
	}
	clock.Advance(time.Hour)
	if st := sweepNow(t, k); st.Instructions != 0 {
		t.Fatalf("sent instructions were taken up again: %+v", st)
	}
	mail.None()
}

// Every attempt dies before the send: after instructionsMaxTries (3)
// attempts with no outcome, the manager is told in chat instead, with
// the instructions, and nothing is emailed.
func TestReturnInstructionsWithNoOutcomeGoToTheManager(t *testing.T) {
	log, clock, crash := &eventLog{}, newClock(), &crashBeforeSend{}
	crash.left.Store(3)
	k, mail := mailKitAt(t, "gia.home@mail.example", clock.Now, log, crash)
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E7", Requester: "M1", Reason: "resigned"})
	ph := taskTagged(t, k, c.ID, "PH-7")
	crashes(t, func() {
		_, _ = k.Engine.MoveEquipment(ctx, engine.EquipmentMove{TaskID: ph.ID, To: store.EquipmentReturnRequested, Actor: "T1", Via: "test"})
	})
	for try := 2; try <= 3; try++ {
		clock.Advance(11 * time.Minute)
		crashes(t, func() { _, _ = k.Engine.Sweep(ctx, time.Minute) })
		if _, in := instructionsOf(t, k, ph.ID); in.State != store.InstructionsPending || in.Tries != try {
			t.Fatalf("attempt %d: %+v", try, in)
		}
	}
	clock.Advance(11 * time.Minute)
	if st := sweepNow(t, k); st.Instructions != 1 {
		t.Fatalf("the sweep did not tell the manager: %+v", st)
	}
	ev, ok := log.equipmentEvent(ph.ID, "could not be confirmed emailed")
	if !ok || len(ev.Targets) != 2 || ev.Targets[0] != "channel:it-assets" || ev.Targets[1] != "user:M1" ||
		!strings.Contains(ev.Detail, "the manager Mia Manager is told instead: "+returnInstructions) || strings.Contains(ev.Detail, "gia.home@") {
		t.Fatalf("the manager's event: %+v", ev)
	}
	got := auditDetails(t, k, c.ID, "equipment.instructions_failed")
	if len(got) != 1 || !strings.Contains(got[0], "no outcome reported after 3 attempts") || !strings.Contains(got[0], "M1 is told in chat instead") {
		t.Fatalf("audit: %q", got)
	}
	if _, in := instructionsOf(t, k, ph.ID); in.State != store.InstructionsChat {
		t.Fatalf("after telling the manager: %+v", in)
	}
	mail.None()
}

// A device received before the lost instructions are taken up needs
// none: they are dropped, the audit trail says so, nothing is emailed.
func TestReturnInstructionsLostForADeviceBackAreDropped(t *testing.T) {
	log, clock, crash := &eventLog{}, newClock(), &crashBeforeSend{}
	crash.left.Store(1)
	k, mail := mailKitAt(t, "gia.home@mail.example", clock.Now, log, crash)
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E7", Requester: "M1", Reason: "resigned"})
	ph := taskTagged(t, k, c.ID, "PH-7")
	crashes(t, func() {
		_, _ = k.Engine.MoveEquipment(ctx, engine.EquipmentMove{TaskID: ph.ID, To: store.EquipmentReturnRequested, Actor: "T1", Via: "test"})
	})
	if _, err := k.Engine.MoveEquipment(ctx, engine.EquipmentMove{TaskID: ph.ID, To: store.EquipmentReceived, Actor: "T1", Via: "test"}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(11 * time.Minute)
	if st := sweepNow(t, k); st.Instructions != 0 {
		t.Fatalf("%+v", st)
	}
	got := auditDetails(t, k, c.ID, "equipment.instructions_dropped")
	if len(got) != 1 || !strings.HasPrefix(got[0], "not sent: return instructions for PH-7 were not sent") || !strings.HasSuffix(got[0], "PH-7 is received now") {
		t.Fatalf("audit: %q", got)
	}
	if _, in := instructionsOf(t, k, ph.ID); in.State != store.InstructionsDropped {
		t.Fatalf("%+v", in)
	}
	mail.None()
}

// Two processes of one deployment (one database, one queue) sweep at once
// after the crash: one of them claims the attempt and emails the
// instructions, once. On SQLite their transactions take turns, so this
// shows that a claim is seen by the other process; that two claims of
// one attempt cannot both succeed is store's
// TestReturnInstructionsClaimedOnceAndFinishedOnce.
func TestReturnInstructionsLostInACrashAreSentOnceByRacingSweeps(t *testing.T) {
	log, clock, crash := &eventLog{}, newClock(), &crashBeforeSend{}
	crash.left.Store(1)
	k, mail := mailKitAt(t, "gia.home@mail.example", clock.Now, log, crash)
	k2 := mailKitOn(t, mail, k, "gia.home@mail.example", clock.Now, log)
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E7", Requester: "M1", Reason: "resigned"})
	ph := taskTagged(t, k, c.ID, "PH-7")
	crashes(t, func() {
		_, _ = k.Engine.MoveEquipment(ctx, engine.EquipmentMove{TaskID: ph.ID, To: store.EquipmentReturnRequested, Actor: "T1", Via: "test"})
	})
	clock.Advance(11 * time.Minute)
	start := make(chan struct{})
	stats := make(chan engine.SweepStats, 2)
	errs := make(chan error, 2)
	for _, kit := range []*testkit.Kit{k, k2} {
		go func() {
			<-start
			st, err := kit.Engine.Sweep(ctx, time.Minute)
			stats <- st
			errs <- err
		}()
	}
	close(start)
	sent := 0
	for range 2 {
		select {
		case st := <-stats:
			sent += st.Instructions
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a sweep did not return")
		}
	}
	if sent != 1 {
		t.Fatalf("the racing sweeps sent the instructions %d times", sent)
	}
	if d := mail.Next(); len(d.Rcpts) != 1 || d.Rcpts[0] != "gia.home@mail.example" {
		t.Fatalf("delivered to %v", d.Rcpts)
	}
	waitEvent(t, log, ph.ID, "return instructions sent to g***@mail.example")
	if got := auditDetails(t, k, c.ID, "equipment.instructions_sending"); len(got) != 2 {
		t.Fatalf("audit: %q", got)
	}
	if got := auditDetails(t, k, c.ID, "equipment.instructions_sent"); len(got) != 1 {
		t.Fatalf("audit: %q", got)
	}
	mail.None()
}
