package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"
	"gorm.io/gorm"

	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/internal/text"
	"github.com/kineticsec/kinetic/store"
)

// Sweep duty: return instructions accepted but never sent are sent again.
//
// The move that requests a device's return records its instructions email
// as pending in the same transaction (equipment_instructions.go); the
// email channel sends it after the commit and reports the outcome. A
// process that dies in between leaves it pending with no outcome: once the
// attempt is older than instructionsLease, this duty claims a new attempt
// (a conditional update on the attempt count, so two sweepers cannot both
// send) and emails it again. The person may receive it twice when the
// lost attempt had got through before the process died: at least once,
// never silently dropped. After instructionsMaxTries attempts with no
// outcome the manager is told in chat instead, as when the mail server
// refuses the message; a case cancelled, or a device back (received,
// lost…), meanwhile needs no instructions: they are dropped, and the
// audit trail says so.

// instructionsLease is how long an attempt at emailing return
// instructions may take before the sweep deems it lost. It is well above
// the email channel's worst case (bot/emailroute: three sends of at most
// SendTimeout, 1 minute, with waits of 5 s and 30 s between them), so an
// attempt still retrying is never sent again alongside.
const instructionsLease = 10 * time.Minute

// instructionsMaxTries is how many attempts are begun before the manager
// is told instead.
const instructionsMaxTries = 3

// sweepInstructions sends again the return instructions still pending
// from an attempt older than instructionsLease, tells the manager instead
// after instructionsMaxTries, and drops those no longer needed. It
// returns how many it handled.
func (e *Engine) sweepInstructions(ctx context.Context) (int, error) {
	now := e.clock()
	stale, err := e.store.StaleInstructions(ctx, now.Add(-instructionsLease), 100)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range stale {
		var evs []Event
		err := e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
			evs = nil
			var cur store.EquipmentTask
			if err := tx.First(&cur, t.ID).Error; err != nil {
				return err
			}
			in := cur.Instructions
			if in.State != store.InstructionsPending || in.Tries != t.Instructions.Tries {
				return nil // an outcome came, or another sweeper claimed it
			}
			c, err := store.CaseByID(tx, cur.CaseID)
			if err != nil {
				return err
			}
			ev, err := e.recoverInstructions(ctx, tx, au, c, &cur, now)
			if ev != nil {
				evs = append(evs, *ev)
			}
			return err
		})
		if err != nil {
			return n, err
		}
		n += len(evs)
		e.emit(evs...)
	}
	return n, nil
}

// recoverInstructions decides what becomes of task t's pending return
// instructions whose last attempt reported nothing, inside tx: the event
// to emit (the email again, or the team and manager told in chat), or
// nil when they are dropped or were claimed meanwhile.
func (e *Engine) recoverInstructions(ctx context.Context, tx *gorm.DB, au *auditBuf, c *store.Case, t *store.EquipmentTask, now time.Time) (*Event, error) {
	in := t.Instructions
	since := "-"
	if in.At != nil {
		since = in.At.UTC().Format(time.RFC3339)
	}
	if c.Status == store.CaseCancelled || t.Status != store.EquipmentReturnRequested {
		ok, err := store.FinishInstructions(tx, t.ID, store.InstructionsDropped, now)
		if err != nil || !ok {
			return nil, err
		}
		why := fmt.Sprintf("%s is %s now", t.AssetTag, t.Status)
		if c.Status == store.CaseCancelled {
			why = fmt.Sprintf("case %d was cancelled", c.ID)
		}
		au.add(store.Entry{Time: now, CaseID: c.ID, Actor: "sweep", System: t.AssigneeTeam, Event: "equipment.instructions_dropped", Result: "not sent",
			Detail: fmt.Sprintf("return instructions for %s were not sent (no outcome of the attempt begun %s): %s", t.AssetTag, since, why)})
		return nil, nil
	}
	emp, err := e.snapshot(tx, c.ID)
	if err != nil {
		return nil, err
	}
	why := ""
	switch {
	case !e.mailOut:
		why = "no email channel is configured (chat.email) any more"
	case !directory.ValidAddress(emp.PrivateEmail):
		why = "the private email on the HR record is not an email address"
	case in.Tries >= instructionsMaxTries:
		why = fmt.Sprintf("no outcome reported after %d attempts, the last begun %s", in.Tries, since)
	}
	if why != "" {
		ok, err := store.FinishInstructions(tx, t.ID, store.InstructionsChat, now)
		if err != nil || !ok {
			return nil, err
		}
		ev, err := e.instructionsToManagerInstead(ctx, tx, au, c, t, emp.PrivateEmail, "could not be confirmed emailed", why, now)
		return &ev, err
	}
	ok, err := store.ClaimInstructions(tx, t.ID, in.Tries, now)
	if err != nil || !ok {
		return nil, err
	}
	au.add(store.Entry{Time: now, CaseID: c.ID, Actor: "sweep", System: t.AssigneeTeam, Event: "equipment.instructions_sending", Result: "email again",
		Detail: fmt.Sprintf("return instructions for %s go by email to %s (%s's private email) again, attempt %d: the attempt begun %s reported no outcome (if it got through, they arrive twice)",
			t.AssetTag, emp.PrivateEmail, c.EmployeeName, in.Tries+1, since)})
	e.log.WithFields(logrus.Fields{"case": c.ID, "equipment": t.ID, "to": text.MaskEmail(emp.PrivateEmail), "attempt": in.Tries + 1}).
		Warn("return instructions pending with no outcome; sending them again")
	return e.instructionsMail(c, t, emp.PrivateEmail, now), nil
}
