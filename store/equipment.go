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
