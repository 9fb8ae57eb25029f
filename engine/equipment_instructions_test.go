package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/smtptest"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

const returnInstructions = "Bring it to the IT desk, floor 2, weekdays 9-17, or ask for a prepaid label."

// eventLog keeps the events the engine emits.
type eventLog struct {
	mu  sync.Mutex
	evs []engine.Event
}

func (l *eventLog) Observe(ev engine.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, ev)
}

// equipmentEvent returns the newest equipment event of task id whose
// detail holds want.
func (l *eventLog) equipmentEvent(id int64, want string) (engine.Event, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.evs) - 1; i >= 0; i-- {
		if ev := l.evs[i]; ev.Kind == engine.EventEquipment && ev.EquipmentID == id && strings.Contains(ev.Detail, want) {
			return ev, true
		}
	}
	return engine.Event{}, false
}

// mailKit is a kit whose email channel (chat.email) is a real SMTP
// server, and whose E7 has privateEmail on her HR record.
func mailKit(t *testing.T, privateEmail string, log *eventLog) (*testkit.Kit, *smtptest.Server) {
	t.Helper()
	return mailKitAt(t, privateEmail, nil, log)
}

// mailKitAt is mailKit with the engine's clock now (nil: the real one)
// and further observers, called after log and before the email channel.
func mailKitAt(t *testing.T, privateEmail string, now func() time.Time, log *eventLog, more ...engine.Observer) (*testkit.Kit, *smtptest.Server) {
	t.Helper()
	mail := smtptest.Start(t, false, false)
	return mailKitOn(t, mail, nil, privateEmail, now, log, more...), mail
}

// mailKitOn is mailKitAt whose email channel is mail, on the store and
// queue of kit (nil: its own): a second process of one deployment.
func mailKitOn(t *testing.T, mail *smtptest.Server, kit *testkit.Kit, privateEmail string, now func() time.Time, log *eventLog, more ...engine.Observer) *testkit.Kit {
	t.Helper()
	pw := filepath.Join(t.TempDir(), "smtp.pw")
	if err := os.WriteFile(pw, []byte(smtptest.Password), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := testkit.Directory
	if privateEmail != "" {
		dir = strings.Replace(dir, `"equipment":["LT-7","PH-7"]`, `"equipment":["LT-7","PH-7"],"private_email":"`+privateEmail+`"`, 1)
	}
	o := testkit.Options{RedisDB: redisDB, Directory: dir, Now: now, Observers: append([]engine.Observer{log}, more...),
		Policy: testkit.Policy + equipmentBlock + "  return_instructions: " + returnInstructions + "\n",
		Service: fmt.Sprintf("outbound: {allow_cidrs: [127.0.0.1/32]}\nchat:\n  email: {host: 127.0.0.1, port: %d, ca_file: %s, username: kinetic, password: {file: %s}, from: \"Kinetic <offboarding@example.test>\"}",
			mail.Port, mail.CAFile, pw)}
	if kit != nil {
		o.Store, o.RedisAddr = kit.Store, kit.RedisAddr
	}
	return testkit.New(t, o)
}

func auditDetails(t *testing.T, k *testkit.Kit, caseID int64, event string) []string {
	t.Helper()
	var evs []store.AuditEvent
	if err := k.Store.TestDB().Where("case_id = ? AND event = ?", caseID, event).Order("seq").Find(&evs).Error; err != nil { // TestDB chains what is pending first (PostgreSQL)
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.Result+": "+e.Detail)
	}
	return out
}

// Request return on a person with a private email sends the policy's
// return instructions there by email (through the email channel, to a
// real SMTP server), not to the manager; the team's card says where they
// went with the address masked, and the audit trail records it sent.
func TestReturnInstructionsGoToThePrivateEmail(t *testing.T) {
	log := &eventLog{}
	k, mail := mailKit(t, "gia.home@mail.example", log)
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E7", Requester: "M1", Reason: "resigned"})
	ph := taskTagged(t, k, c.ID, "PH-7") // it-assets: T1
	if _, err := k.Engine.MoveEquipment(ctx, engine.EquipmentMove{TaskID: ph.ID, To: store.EquipmentReturnRequested, Actor: "T1", Via: "test"}); err != nil {
		t.Fatal(err)
	}
	moved, ok := log.equipmentEvent(ph.ID, "return requested")
	if !ok || len(moved.Targets) != 1 || moved.Targets[0] != "channel:it-assets" || !strings.Contains(moved.Detail, "go by email to g***@mail.example (private email)") {
		t.Fatalf("the move's event: %+v", moved)
	}
	d := mail.Next()
	if len(d.Rcpts) != 1 || d.Rcpts[0] != "gia.home@mail.example" || !d.TLS {
		t.Fatalf("delivered to %v (tls %v)", d.Rcpts, d.TLS)
	}
	m, body := smtptest.Parse(t, d.Data)
	body = strings.Join(strings.Fields(body), " ")
	if m.Header.Get("Subject") != "Returning PH-7 (phone) after your last day" || m.Header.Get("To") != "<gia.home@mail.example>" ||
		!strings.Contains(m.Header.Get("From"), "offboarding@example.test") {
		t.Errorf("headers: %v", m.Header)
	}
	due := ph.DueAt.Format("Monday 2 January 2006")
	for _, want := range []string{"Hello Gia Gadget", "Please return your phone, asset tag PH-7.", returnInstructions, "Due: " + due} {
		if !strings.Contains(body, want) {
			t.Errorf("the message lacks %q:\n%s", want, body)
		}
	}
	sent, ok := waitEvent(t, log, ph.ID, "return instructions sent to g***@mail.example (Gia Gadget's private email)")
	if !ok || len(sent.Targets) != 1 || sent.Targets[0] != "channel:it-assets" {
		t.Fatalf("the outcome's event: %+v", sent)
	}
	got := auditDetails(t, k, c.ID, "equipment.instructions_sent")
	if len(got) != 1 || got[0] != "sent: return instructions for PH-7 sent by email to gia.home@mail.example (Gia Gadget's private email)" {
		t.Fatalf("audit: %q", got)
	}
	if got := auditDetails(t, k, c.ID, "equipment.instructions_failed"); len(got) != 0 {
		t.Fatalf("audit: %q", got)
	}
	mail.None() // the manager is not emailed, nor anyone else
}

// A mail server that refuses the message for good: the failure is
// recorded (the address masked where chat shows it) and the manager is
// told in chat instead, with the instructions — nothing is lost.
func TestReturnInstructionsRefusedGoToTheManager(t *testing.T) {
	log := &eventLog{}
	k, mail := mailKit(t, "gia.home@mail.example", log)
	mail.FailData(550, smtp.EnhancedCode{5, 1, 1}, "no such user gia.home@mail.example")
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E7", Requester: "M1", Reason: "resigned"})
	ph := taskTagged(t, k, c.ID, "PH-7")
	if _, err := k.Engine.MoveEquipment(ctx, engine.EquipmentMove{TaskID: ph.ID, To: store.EquipmentReturnRequested, Actor: "T1", Via: "test"}); err != nil {
		t.Fatal(err)
	}
	ev, ok := waitEvent(t, log, ph.ID, "could not be emailed")
	if !ok || len(ev.Targets) != 2 || ev.Targets[1] != "user:M1" || !strings.Contains(ev.Detail, "the manager Mia Manager is told instead: "+returnInstructions) ||
		strings.Contains(ev.Detail, "gia.home@") || !strings.Contains(ev.Detail, "550") {
		t.Fatalf("the failure's event: %+v", ev)
	}
	got := auditDetails(t, k, c.ID, "equipment.instructions_failed")
	if len(got) != 1 || !strings.HasPrefix(got[0], "failed: return instructions for PH-7 could not be emailed to gia.home@mail.example: ") || !strings.Contains(got[0], "M1 is told in chat instead") {
		t.Fatalf("audit: %q", got)
	}
}

// Without a private email on the HR record the manager is told in chat,
// with the instructions, and the card says why.
func TestReturnInstructionsWithoutPrivateEmailGoToTheManager(t *testing.T) {
	log := &eventLog{}
	k, mail := mailKit(t, "", log)
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E7", Requester: "M1", Reason: "resigned"})
	ph := taskTagged(t, k, c.ID, "PH-7")
	if _, err := k.Engine.MoveEquipment(ctx, engine.EquipmentMove{TaskID: ph.ID, To: store.EquipmentReturnRequested, Actor: "T1", Via: "test"}); err != nil {
		t.Fatal(err)
	}
	ev, ok := log.equipmentEvent(ph.ID, "return requested")
	if !ok || len(ev.Targets) != 2 || ev.Targets[1] != "user:M1" ||
		!strings.Contains(ev.Detail, "return instructions to the manager Mia Manager (no private email on the HR record): "+returnInstructions) {
		t.Fatalf("the move's event: %+v", ev)
	}
	got := auditDetails(t, k, c.ID, "equipment.instructions_sent")
	if len(got) != 1 || got[0] != "notified: return instructions for PH-7 to M1 in chat (no private email on the HR record)" {
		t.Fatalf("audit: %q", got)
	}
	mail.None()
}

// waitEvent waits for the equipment event of task id whose detail holds
// want.
func waitEvent(t *testing.T, log *eventLog, id int64, want string) (engine.Event, bool) {
	t.Helper()
	var ev engine.Event
	var ok bool
	testkit.Eventually(t, 20*time.Second, func() bool {
		ev, ok = log.equipmentEvent(id, want)
		return ok
	}, func() string { return "no equipment event saying " + want })
	return ev, ok
}
