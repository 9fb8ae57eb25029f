package store

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// EquipmentTask returns one equipment task, or ErrNotFound.
func (s *Store) EquipmentTask(ctx context.Context, id int64) (*EquipmentTask, error) {
	var t EquipmentTask
	err := s.db.WithContext(ctx).First(&t, id).Error
	return &t, notFound(err)
}

// CaseEquipment returns a case's equipment tasks inside tx, by asset tag.
func CaseEquipment(tx *gorm.DB, caseID int64) ([]EquipmentTask, error) {
	var ts []EquipmentTask
	err := tx.Where("case_id = ?", caseID).Order("asset_tag, id").Find(&ts).Error
	return ts, err
}

// UpdateEquipmentIf applies fields to task id only while its status is
// still from: a conditional update, so two people moving the same device
// at once cannot both succeed. It reports whether the row changed.
func UpdateEquipmentIf(tx *gorm.DB, id int64, from string, fields map[string]any) (bool, error) {
	res := tx.Model(&EquipmentTask{}).Where("id = ? AND status = ?", id, from).Updates(fields)
	return res.RowsAffected == 1, res.Error
}

// OverdueEquipment returns up to limit equipment tasks past their due time
// that have no disposition yet (neither final nor preserved under a legal
// hold), of cases that were not cancelled, oldest due first.
func (s *Store) OverdueEquipment(ctx context.Context, now time.Time, limit int) ([]EquipmentTask, error) {
	var ts []EquipmentTask
	err := s.db.WithContext(ctx).
		Joins("JOIN cases ON cases.id = equipment_tasks.case_id").
		Where("cases.status <> ? AND equipment_tasks.status NOT IN ? AND equipment_tasks.due_at < ?", CaseCancelled,
			[]string{EquipmentRedeployed, EquipmentDisposed, EquipmentLost, EquipmentPreserved}, now).
		Order("equipment_tasks.due_at").Limit(limit).Find(&ts).Error
	return ts, err
}

// The states of a device's return instructions (ReturnInstructions.State).
const (
	// InstructionsPending: the instructions are to be emailed to the
	// person's private address; At is when the current attempt began.
	InstructionsPending = "pending"
	// InstructionsSent: the mail server accepted the email.
	InstructionsSent = "sent"
	// InstructionsChat: the manager (or the requester) was told in chat
	// instead — there was no private address or email channel, the email
	// was refused, or no attempt reported an outcome.
	InstructionsChat = "chat"
	// InstructionsDropped: not sent, because the case was cancelled or the
	// device moved on (received, lost…) before they could be.
	InstructionsDropped = "dropped"
)

// ReturnInstructions is the durable state of a device's return
// instructions, written in the transaction that requests its return, so
// that an email accepted but never sent (the process died between the
// commit and the send) is found and sent again by the recovery sweep.
type ReturnInstructions struct {
	// State is one of the Instructions* constants; "" before the return
	// is requested.
	State string `gorm:"size:16;index" json:"state,omitempty"`
	// At is when the state was written, or, pending, when the current
	// attempt to email them began (its lease's start).
	At *time.Time `json:"at,omitempty"`
	// Tries counts the attempts to email them that were begun.
	Tries int `json:"tries,omitempty"`
}

// SetInstructions records task id's return instructions in state at now:
// pending counts its first attempt. The caller holds the move that
// requested the return (a conditional update of the task's status), so it
// happens once.
func SetInstructions(tx *gorm.DB, id int64, state string, now time.Time) error {
	fields := map[string]any{"instructions_state": state, "instructions_at": now}
	if state == InstructionsPending {
		fields["instructions_tries"] = 1
	}
	return tx.Model(&EquipmentTask{}).Where("id = ?", id).Updates(fields).Error
}

// ClaimInstructions begins attempt tries+1 at emailing task id's return
// instructions, only while they are still pending after tries attempts:
// a conditional update, so two sweepers cannot both claim the same
// attempt. It reports whether the row changed.
func ClaimInstructions(tx *gorm.DB, id int64, tries int, now time.Time) (bool, error) {
	res := tx.Model(&EquipmentTask{}).Where("id = ? AND instructions_state = ? AND instructions_tries = ?", id, InstructionsPending, tries).
		Updates(map[string]any{"instructions_at": now, "instructions_tries": tries + 1})
	return res.RowsAffected == 1, res.Error
}

// FinishInstructions records the outcome of task id's pending return
// instructions (state sent, chat or dropped), only while they are still
// pending: the first outcome wins, and a late report of an earlier
// attempt changes nothing. It reports whether the row changed.
func FinishInstructions(tx *gorm.DB, id int64, state string, now time.Time) (bool, error) {
	res := tx.Model(&EquipmentTask{}).Where("id = ? AND instructions_state = ?", id, InstructionsPending).
		Updates(map[string]any{"instructions_state": state, "instructions_at": now})
	return res.RowsAffected == 1, res.Error
}

// StaleInstructions returns up to limit equipment tasks whose return
// instructions are still pending from an attempt begun before before,
// oldest first.
func (s *Store) StaleInstructions(ctx context.Context, before time.Time, limit int) ([]EquipmentTask, error) {
	var ts []EquipmentTask
	err := s.db.WithContext(ctx).Where("instructions_state = ? AND instructions_at < ?", InstructionsPending, before).
		Order("instructions_at, id").Limit(limit).Find(&ts).Error
	return ts, err
}
