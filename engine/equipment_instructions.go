package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/internal/text"
	"github.com/kineticsec/kinetic/store"
)

// Return instructions: when a device's return is requested, the
// departing person is told how to return it (the policy's
// equipment.return_instructions) at their private email address — their
// work mailbox is closing — when the HR record has one and the email
// channel is configured (Options.EmailChannel): an EventReturnInstructions
// the email channel sends, reporting the outcome with
// ReturnInstructionsSent. Otherwise, or when that message cannot be sent,
// their manager is told in chat (the requester when there is no manager).
// The team's card and the audit trail say exactly who was reached; chat
// and logs show a private address masked (text.MaskEmail), the audit
// trail — which already holds work addresses — in full.
//
// Nothing accepted is lost: the move's transaction records the email as
// pending on the equipment task (store.ReturnInstructions), the outcome is
// recorded with a conditional update (the first outcome wins; a late
// report of an earlier attempt changes nothing), and the recovery sweep
// sends again one still pending after instructionsLease — the process
// died between the commit and the send (sweep_instructions.go). An email
// whose send got through but whose outcome was never recorded is sent
// again: at least once, a duplicate possible after a crash.

// defaultReturnInstructions is said when the policy gives none.
const defaultReturnInstructions = "The team that recovers the device will contact you with how to return it (a drop-off point or a prepaid shipping label)."

// returnInstructions decides who is told how to return task t's device,
// now that its return is requested: the chat targets to add to the move's
// event, the sentence for the team's card, and the email event when the
// private address is used. It writes the audit event that says so.
func (e *Engine) returnInstructions(tx *gorm.DB, au *auditBuf, c *store.Case, t *store.EquipmentTask, now time.Time) (targets []string, card string, mail *Event, err error) {
	emp, err := e.snapshot(tx, c.ID)
	if err != nil {
		return nil, "", nil, err
	}
	instr := e.instructionsText()
	why := ""
	switch {
	case emp.PrivateEmail == "":
		why = "no private email on the HR record"
	case !directory.ValidAddress(emp.PrivateEmail):
		why = "the private email on the HR record is not an email address"
	case !e.mailOut:
		why = "no email channel is configured (chat.email)"
	}
	if why == "" {
		if err := store.SetInstructions(tx, t.ID, store.InstructionsPending, now); err != nil {
			return nil, "", nil, err
		}
		masked := text.MaskEmail(emp.PrivateEmail)
		au.add(store.Entry{Time: now, CaseID: c.ID, Actor: "kinetic", System: t.AssigneeTeam, Event: "equipment.instructions_sending", Result: "email",
			Detail: fmt.Sprintf("return instructions for %s go by email to %s (%s's private email)", t.AssetTag, emp.PrivateEmail, c.EmployeeName)})
		return nil, fmt.Sprintf("return instructions go by email to %s (private email)", masked), e.instructionsMail(c, t, emp.PrivateEmail, now), nil
	}
	if err := store.SetInstructions(tx, t.ID, store.InstructionsChat, now); err != nil {
		return nil, "", nil, err
	}
	to, card := e.instructionsToManager(tx.Statement.Context, emp, c)
	card = fmt.Sprintf("return instructions to %s (%s): %s", card, why, instr)
	au.add(store.Entry{Time: now, CaseID: c.ID, Actor: "kinetic", System: t.AssigneeTeam, Event: "equipment.instructions_sent", Result: "notified",
		Detail: fmt.Sprintf("return instructions for %s to %s in chat (%s)", t.AssetTag, strings.TrimPrefix(to, "user:"), why)})
	return []string{to}, card, nil, nil
}

// instructionsMail is the EventReturnInstructions that emails task t's
// return instructions to addr.
func (e *Engine) instructionsMail(c *store.Case, t *store.EquipmentTask, addr string, now time.Time) *Event {
	subject := fmt.Sprintf("Returning %s (%s) after your last day", t.AssetTag, t.Category)
	body := fmt.Sprintf("Hello %s,\n\nPlease return your %s, asset tag %s.\n\n%s\n\nDue: %s.\n",
		c.EmployeeName, strings.ReplaceAll(t.Category, "_", " "), t.AssetTag, e.instructionsText(), dueDay(t))
	return &Event{Kind: EventReturnInstructions, CaseID: c.ID, EquipmentID: t.ID, Name: subject, Status: t.Status,
		Detail: body, Email: addr, At: now}
}

// instructionsToManager is the chat target that is told instead of the
// person, and how the card names them.
func (e *Engine) instructionsToManager(ctx context.Context, emp *directory.Employee, c *store.Case) (target, who string) {
	id, role := emp.Manager, "the manager"
	if id == "" {
		id, role = c.Requester, "the requester"
	}
	who = role + " " + id
	if ctx != nil {
		if m, err := e.dir.ByID(ctx, id); err == nil && m.Name != "" {
			who = role + " " + m.Name
		}
	}
	return "user:" + id, who
}

// instructionsText is the policy's return instructions, or the default.
func (e *Engine) instructionsText() string {
	if s := strings.TrimSpace(e.policy.Load().File.Equipment.ReturnInstructions); s != "" {
		return s
	}
	return defaultReturnInstructions
}

// ReturnInstructionsSent records the outcome of emailing the return
// instructions of EventReturnInstructions ev (sendErr nil: the mail server
// accepted the message). Sent, the audit trail says so and the team's
// card shows where they went; not sent, the audit trail records the
// failure and the manager is told in chat instead, with the instructions
// and why. Errors are shown with the address masked. Only the first
// outcome of a task's instructions is recorded: a later one (an attempt
// the recovery sweep made again, reporting after another) returns nil and
// changes nothing.
func (e *Engine) ReturnInstructionsSent(ctx context.Context, ev Event, sendErr error) error {
	if ev.Kind != EventReturnInstructions || ev.EquipmentID == 0 {
		return fmt.Errorf("%w: not a return instructions event", ErrInvalidRequest)
	}
	var evs []Event
	err := e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
		evs = nil
		var t store.EquipmentTask
		if err := tx.First(&t, ev.EquipmentID).Error; errors.Is(err, gorm.ErrRecordNotFound) {
			return fmt.Errorf("%w: equipment task %d", ErrNotFound, ev.EquipmentID)
		} else if err != nil {
			return err
		}
		c, err := store.CaseByID(tx, t.CaseID)
		if err != nil {
			return err
		}
		now := e.clock()
		state := store.InstructionsSent
		if sendErr != nil {
			state = store.InstructionsChat
		}
		if ok, err := store.FinishInstructions(tx, t.ID, state, now); err != nil || !ok {
			return err // an outcome is recorded already
		}
		if sendErr != nil {
			masked := text.MaskEmail(ev.Email)
			why := text.ClipBytes(strings.ReplaceAll(sendErr.Error(), ev.Email, masked), 300)
			told, err := e.instructionsToManagerInstead(ctx, tx, au, c, &t, ev.Email, "could not be emailed", why, now)
			evs = append(evs, told)
			return err
		}
		au.add(store.Entry{Time: now, CaseID: c.ID, Actor: "kinetic", System: t.AssigneeTeam, Event: "equipment.instructions_sent", Result: "sent",
			Detail: fmt.Sprintf("return instructions for %s sent by email to %s (%s's private email)", t.AssetTag, ev.Email, c.EmployeeName)})
		card := fmt.Sprintf("return instructions sent to %s (%s's private email)", text.MaskEmail(ev.Email), c.EmployeeName)
		evs = append(evs, Event{Kind: EventEquipment, CaseID: c.ID, EquipmentID: t.ID, Name: t.AssetTag, Status: t.Status,
			Detail: fmt.Sprintf("%s %s for %s; %s", t.AssetTag, equipmentWord(t.Status), c.EmployeeName, card), Targets: []string{"channel:" + t.AssigneeTeam}, At: now})
		return nil
	})
	if err != nil {
		return err
	}
	e.emit(evs...)
	return nil
}

// instructionsToManagerInstead records that task t's return instructions
// failed to reach addr (what: "could not be emailed"…, why: the reason,
// address masked) and returns the event that tells the team and the
// manager in chat instead, with the instructions.
func (e *Engine) instructionsToManagerInstead(ctx context.Context, tx *gorm.DB, au *auditBuf, c *store.Case, t *store.EquipmentTask, addr, what, why string, now time.Time) (Event, error) {
	emp, err := e.snapshot(tx, c.ID)
	if err != nil {
		return Event{}, err
	}
	to, who := e.instructionsToManager(ctx, emp, c)
	au.add(store.Entry{Time: now, CaseID: c.ID, Actor: "kinetic", System: t.AssigneeTeam, Event: "equipment.instructions_failed", Result: "failed",
		Detail: fmt.Sprintf("return instructions for %s %s to %s: %s; %s is told in chat instead", t.AssetTag, what, addr, why, strings.TrimPrefix(to, "user:"))})
	card := fmt.Sprintf("return instructions %s to %s (%s): %s is told instead: %s", what, text.MaskEmail(addr), why, who, e.instructionsText())
	return Event{Kind: EventEquipment, CaseID: c.ID, EquipmentID: t.ID, Name: t.AssetTag, Status: t.Status,
		Detail:  fmt.Sprintf("%s %s for %s; %s", t.AssetTag, equipmentWord(t.Status), c.EmployeeName, card),
		Targets: []string{"channel:" + t.AssigneeTeam, to}, At: now}, nil
}

// dueDay is when task t is due, for people.
func dueDay(t *store.EquipmentTask) string {
	if t.DueAt == nil {
		return "as soon as you can"
	}
	return t.DueAt.Format("Monday 2 January 2006")
}
