package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/internal/text"
	"github.com/kineticsec/kinetic/store"
)

// Equipment recovery: one task per device, created with the case
// (newEquipmentTasks), assigned by the policy's equipment block to the
// team that recovers it, and moved forward by that team through to a
// disposition (MoveEquipment):
//
//	open → return_requested → received → wiped → redeployed | disposed
//	                                   ↘ preserved (legal hold) → wiped
//	any status before a final one → lost
//
// Wiping is gated like mailbox deletion: while a legal hold covers the
// case (approved and not released, or still pending) a received device is
// preserved, never wiped. A disposal needs its certificate-of-destruction
// reference. Nothing moves backwards; a refused move changes nothing. The
// overdue sweep is sweep_equipment.go; the completion gate that waits for
// every device is completion.go.

// OpEquipment is moving an equipment task.
const OpEquipment Op = "move equipment"

// Bounds of what a person writes on a move (the columns' sizes).
const (
	MaxEquipmentNote      = 1000
	MaxEquipmentReference = 256
)

// equipmentNext lists the moves allowed from each status.
var equipmentNext = map[string][]string{
	store.EquipmentOpen:            {store.EquipmentReturnRequested, store.EquipmentReceived, store.EquipmentLost},
	store.EquipmentReturnRequested: {store.EquipmentReceived, store.EquipmentLost},
	store.EquipmentReceived:        {store.EquipmentWiped, store.EquipmentPreserved, store.EquipmentLost},
	store.EquipmentPreserved:       {store.EquipmentWiped, store.EquipmentLost},
	store.EquipmentWiped:           {store.EquipmentRedeployed, store.EquipmentDisposed, store.EquipmentLost},
}

// equipmentRank orders statuses, for telling a backwards move.
var equipmentRank = map[string]int{
	store.EquipmentOpen: 0, store.EquipmentReturnRequested: 1, store.EquipmentReceived: 2,
	store.EquipmentPreserved: 3, store.EquipmentWiped: 4,
	store.EquipmentRedeployed: 5, store.EquipmentDisposed: 5, store.EquipmentLost: 5,
}

// EquipmentStatuses lists every equipment status, in order.
func EquipmentStatuses() []string {
	return []string{store.EquipmentOpen, store.EquipmentReturnRequested, store.EquipmentReceived, store.EquipmentPreserved,
		store.EquipmentWiped, store.EquipmentRedeployed, store.EquipmentDisposed, store.EquipmentLost}
}

// EquipmentNext returns the statuses a task in status may move to.
func EquipmentNext(status string) []string { return slices.Clone(equipmentNext[status]) }

// EquipmentMove asks to move one equipment task to status To.
type EquipmentMove struct {
	TaskID int64
	// To is the new status (store.EquipmentReturnRequested …).
	To string
	// Actor is the HR id of the person moving it (checked against the
	// principal in the context).
	Actor string
	// Note is what they say (at most MaxEquipmentNote bytes): where the
	// return instructions went, the courier's tracking number.
	Note string
	// Reference is the certificate-of-destruction reference a disposal
	// requires (at most MaxEquipmentReference bytes).
	Reference string
	// Via names the front end (slack, api, cli, demo), for the audit trail.
	Via string
}

// EquipmentResult says what a move did.
type EquipmentResult struct {
	Task store.EquipmentTask `json:"task"`
	// Changed is false when the task already was in the status asked
	// for: a repeated click is a result, not an error.
	Changed bool `json:"changed"`
}

// MayMoveEquipment reports whether actor may move task t: an admin or a
// member of the approver group named like the task's team; never the
// departing employee of the case (checked by MoveEquipment).
func (e *Engine) MayMoveEquipment(actor string, t *store.EquipmentTask) bool {
	return e.admins[actor] || slices.Contains(e.members(t.AssigneeTeam), actor)
}

// CheckEquipmentMove runs every check MoveEquipment makes but the move's
// own preconditions, changing nothing: the task exists, its case is not
// the actor's own, the principal may act for the actor, and the actor is
// on the task's team or an admin. Front ends call it before they open a
// form (the disposal reference).
func (e *Engine) CheckEquipmentMove(ctx context.Context, taskID int64, actor string) (*store.EquipmentTask, *store.Case, error) {
	t, err := e.store.EquipmentTask(ctx, taskID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, fmt.Errorf("%w: equipment task %d", ErrNotFound, taskID)
	}
	if err != nil {
		return nil, nil, err
	}
	db := e.store.Conn(ctx)
	c, err := store.CaseByID(db, t.CaseID)
	if err != nil {
		return nil, nil, err
	}
	if err := e.mayActOnCase(ctx, db, OpEquipment, actor, c); err != nil {
		return nil, nil, err
	}
	if !e.MayMoveEquipment(actor, t) {
		return nil, nil, fmt.Errorf("%w: %s may not move %s: it is %s's task (members of approver group %s and admins may)",
			ErrNotAllowed, actor, t.AssetTag, t.AssigneeTeam, t.AssigneeTeam)
	}
	return t, c, nil
}

// MoveEquipment moves an equipment task one step forward, authorized (see
// CheckEquipmentMove), under its case's lock, with a conditional update
// and its audit events. A move the state machine does not allow
// (backwards, skipping a step, out of a final status), a disposal without
// its reference, or a wipe while a legal hold covers the case is refused
// with ErrInvalidRequest or ErrNotAllowed and changes nothing. Moving a
// task to the status it already has changes nothing and reports
// Changed false. The case closes once nothing else keeps it open (see
// OpenItems).
func (e *Engine) MoveEquipment(ctx context.Context, m EquipmentMove) (*EquipmentResult, error) {
	m.Note, m.Reference = strings.TrimSpace(m.Note), strings.TrimSpace(m.Reference)
	switch {
	case equipmentRank[m.To] == 0 && m.To != store.EquipmentOpen:
		return nil, fmt.Errorf("%w: %q is not an equipment status (%s)", ErrInvalidRequest, m.To, strings.Join(EquipmentStatuses(), ", "))
	case len(m.Note) > MaxEquipmentNote:
		return nil, fmt.Errorf("%w: the note is longer than %d bytes", ErrInvalidRequest, MaxEquipmentNote)
	case len(m.Reference) > MaxEquipmentReference:
		return nil, fmt.Errorf("%w: the reference is longer than %d bytes", ErrInvalidRequest, MaxEquipmentReference)
	case m.To == store.EquipmentDisposed && m.Reference == "":
		return nil, fmt.Errorf("%w: a disposal needs its certificate-of-destruction reference", ErrInvalidRequest)
	case m.To != store.EquipmentDisposed && m.Reference != "":
		return nil, fmt.Errorf("%w: a reference is a disposal's certificate of destruction; %s takes none", ErrInvalidRequest, m.To)
	}
	if _, _, err := e.CheckEquipmentMove(ctx, m.TaskID, m.Actor); err != nil {
		return nil, err
	}
	var res EquipmentResult
	var evs []Event
	var ds []dispatch
	err := e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
		res, evs, ds = EquipmentResult{}, nil, nil
		var t store.EquipmentTask
		if err := tx.First(&t, m.TaskID).Error; err != nil {
			return err
		}
		c, err := store.LockCase(tx, t.CaseID)
		if err != nil {
			return err
		}
		if err := tx.First(&t, m.TaskID).Error; err != nil { // again, under the lock
			return err
		}
		res.Task = t
		switch c.Status {
		case store.CaseCancelled:
			return fmt.Errorf("%w: case %d was cancelled; its equipment tasks are closed", ErrInvalidRequest, c.ID)
		case store.CaseValidating, store.CaseAwaitingConfirmation, store.CaseHeld:
			return fmt.Errorf("%w: case %d is %s; its equipment is recovered once it is confirmed", ErrInvalidRequest, c.ID, c.Status)
		}
		if t.Status == m.To {
			if m.To == store.EquipmentDisposed && t.Reference != m.Reference {
				return fmt.Errorf("%w: %s was already disposed of under reference %q", ErrInvalidRequest, t.AssetTag, t.Reference)
			}
			return nil // already there: a result, not an error
		}
		if err := e.equipmentMoveAllowed(tx, c, &t, m.To); err != nil {
			return err
		}
		now := e.clock()
		fields := map[string]any{"status": m.To, "note": text.ClipBytes(m.Note, MaxEquipmentNote), "status_by": m.Actor, "status_at": now, "updated_at": now}
		if m.To == store.EquipmentDisposed {
			fields["reference"] = m.Reference
		}
		ok, err := store.UpdateEquipmentIf(tx, t.ID, t.Status, fields)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: %s changed meanwhile; look again", ErrInvalidRequest, t.AssetTag)
		}
		was := t.Status
		if err := tx.First(&t, t.ID).Error; err != nil {
			return err
		}
		res.Task, res.Changed = t, true
		au.st.EquipmentStatus(c.ID, t.ID, t.Status, t.Reference)
		if err := e.afterEquipmentMove(tx, au, c, &t, now); err != nil {
			return err
		}
		detail := fmt.Sprintf("%s (%s) %s → %s via %s", t.AssetTag, t.Category, was, t.Status, orDash(m.Via))
		if m.Reference != "" {
			detail += "; certificate of destruction " + m.Reference
		}
		if m.Note != "" {
			detail += "; " + m.Note
		}
		au.add(store.Entry{Time: now, CaseID: c.ID, Actor: m.Actor, System: t.AssigneeTeam, Event: "equipment." + t.Status, Result: t.Status, Detail: detail})
		targets := []string{"channel:" + t.AssigneeTeam}
		said := fmt.Sprintf("%s %s for %s by %s", t.AssetTag, equipmentWord(t.Status), c.EmployeeName, m.Actor)
		var mail *Event
		if t.Status == store.EquipmentReturnRequested {
			who, card, ev, err := e.returnInstructions(tx, au, c, &t, now) // equipment_instructions.go
			if err != nil {
				return err
			}
			targets, said, mail = append(targets, who...), said+"; "+card, ev
		}
		evs = append(evs, Event{Kind: EventEquipment, CaseID: c.ID, EquipmentID: t.ID, Name: t.AssetTag, Status: t.Status,
			Detail: said, Targets: targets, Actor: m.Actor, At: now})
		if mail != nil {
			evs = append(evs, *mail)
		}
		if c.Status == store.CaseRunning {
			ds, evs, err = e.advance(tx, au, c, now, evs)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	e.emit(evs...)
	e.dispatchAll(ctx, ds)
	return &res, nil
}

// equipmentMoveAllowed checks one move against the state machine and the
// legal hold gate.
func (e *Engine) equipmentMoveAllowed(tx *gorm.DB, c *store.Case, t *store.EquipmentTask, to string) error {
	if slices.Contains(equipmentNext[t.Status], to) {
		covered, pending, err := legalHoldCovers(tx, c.ID)
		if err != nil {
			return err
		}
		switch {
		case to == store.EquipmentWiped && covered:
			return fmt.Errorf("%w: a legal hold covers case %d: %s is preserved, not wiped, until the hold is released", ErrNotAllowed, c.ID, t.AssetTag)
		case to == store.EquipmentWiped && pending:
			return fmt.Errorf("%w: a legal hold awaits its decision on case %d: %s may not be wiped until it is decided", ErrNotAllowed, c.ID, t.AssetTag)
		case to == store.EquipmentPreserved && !covered && !pending:
			return fmt.Errorf("%w: no legal hold covers case %d: a received device is wiped, not preserved", ErrInvalidRequest, c.ID)
		}
		return nil
	}
	switch {
	case store.EquipmentFinal(t.Status):
		return fmt.Errorf("%w: %s is already %s, a final disposition", ErrInvalidRequest, t.AssetTag, t.Status)
	case equipmentRank[to] < equipmentRank[t.Status]:
		return fmt.Errorf("%w: %s is %s; it does not move back to %s", ErrInvalidRequest, t.AssetTag, t.Status, to)
	}
	return fmt.Errorf("%w: %s is %s; from there it moves to %s, not %s", ErrInvalidRequest, t.AssetTag, t.Status,
		strings.Join(equipmentNext[t.Status], ", "), to)
}

// legalHoldCovers reports whether an approved legal hold that has not
// been released covers case caseID, and whether one awaits its decision.
func legalHoldCovers(tx *gorm.DB, caseID int64) (covered, pending bool, err error) {
	var aps []store.Approval
	if err := tx.Where("case_id = ? AND effect IN ? AND status IN ?", caseID, []string{configs.EffectLegalHold, effectReleaseHold},
		[]string{store.ApprovalApproved, store.ApprovalPending}).Find(&aps).Error; err != nil {
		return false, false, err
	}
	released := map[int64]bool{}
	for _, ap := range aps {
		if ap.Effect == effectReleaseHold && ap.Status == store.ApprovalApproved {
			var f exceptionFields
			if json.Unmarshal([]byte(ap.Request), &f) == nil {
				released[f.HoldOf] = true
			}
		}
	}
	for _, ap := range aps {
		if ap.Effect != configs.EffectLegalHold {
			continue
		}
		switch {
		case ap.Status == store.ApprovalPending:
			pending = true
		case !released[ap.ID]:
			covered = true
		}
	}
	return covered, pending, nil
}

// newEquipmentTasks creates one open task per device of the case: the HR
// record's equipment list merged by asset tag with the devices the asset
// tracker's lookup found (plan.Equipment, whose model it describes),
// each with its category and team from the policy's equipment block, due
// defaults.equipment_due (or the category's equipment.due) after the
// effective time. It returns the events
// that tell each team.
func (e *Engine) newEquipmentTasks(tx *gorm.DB, au *auditBuf, c *store.Case, plan *Plan, pol *configs.Policy, now time.Time) ([]Event, error) {
	devs, untagged := caseDevices(plan)
	for _, a := range untagged {
		au.add(store.Entry{Time: now, CaseID: c.ID, Actor: "kinetic", System: pol.File.Equipment.Tracker, Event: "equipment.untracked", Result: "no task",
			Detail: fmt.Sprintf("%s %s (%s) is checked out to the person but has no asset tag: no recovery task", a.Kind, orDash(a.Name), a.ID)})
	}
	if plan.TrackerError != "" {
		au.add(store.Entry{Time: now, CaseID: c.ID, Actor: "kinetic", System: pol.File.Equipment.Tracker, Event: "equipment.tracker_failed", Result: "hr list only",
			Detail: text.ClipBytes("the asset tracker could not list the person's assets: "+plan.TrackerError, 1000)})
	}
	ep := &pol.File.Equipment
	var evs []Event
	for _, d := range devs {
		cat := ep.EquipmentCategory(d.tag)
		due := plan.EffectiveAt.Add(ep.EquipmentDue(cat, pol.File.Defaults.EquipmentDue).D())
		// Each value fits its column, the cut's "…" included (ClipBytes
		// may add 3 bytes).
		t := store.EquipmentTask{CaseID: c.ID, AssetTag: text.ClipBytes(d.tag, 128-3), Description: text.ClipBytes(d.detail, 512-3), Category: cat,
			Source: string(d.source), Serial: text.ClipBytes(d.serial, 128-3),
			Location: text.ClipBytes(plan.Employee.Location, 128-3), AssigneeTeam: ep.EquipmentTeamFor(cat, plan.Employee.Location),
			Status: store.EquipmentOpen, DueAt: &due, CreatedAt: now, UpdatedAt: now}
		if err := tx.Create(&t).Error; err != nil {
			return nil, err
		}
		au.st.EquipmentStatus(c.ID, t.ID, t.Status, "")
		au.add(store.Entry{Time: now, CaseID: c.ID, Actor: "kinetic", System: t.AssigneeTeam, Event: "equipment.task_created", Result: t.Status,
			Detail: fmt.Sprintf("%s (%s, %s) assigned to %s, due %s", t.AssetTag, t.Category, orDash(t.Location), t.AssigneeTeam, due.Format(time.RFC3339))})
		evs = append(evs, Event{Kind: EventEquipment, CaseID: c.ID, EquipmentID: t.ID, Name: t.AssetTag, Status: t.Status,
			Detail:  fmt.Sprintf("recover %s (%s) from %s by %s", t.AssetTag, t.Category, c.EmployeeName, due.Format("2006-01-02")),
			Targets: []string{"channel:" + t.AssigneeTeam}, At: now})
	}
	if err := e.lockInvoluntary(tx, au, c, now); err != nil {
		return nil, err
	}
	return evs, nil
}

// equipmentWord says what a status means, for people.
func equipmentWord(s string) string {
	switch s {
	case store.EquipmentReturnRequested:
		return "return requested"
	case store.EquipmentPreserved:
		return "preserved under legal hold"
	}
	return s
}

// EquipmentWord is equipmentWord for front ends.
func EquipmentWord(s string) string { return equipmentWord(s) }
