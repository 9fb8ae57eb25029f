package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
)

// ErrNotFound is returned when a case or action does not exist.
var ErrNotFound = errors.New("not found")

func notFound(err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ErrNotFound
	}
	return err
}

// OpenCaseFor returns the employee's open case, or ErrNotFound.
func (s *Store) OpenCaseFor(ctx context.Context, employeeID string) (*Case, error) {
	var c Case
	err := s.db.WithContext(ctx).Where("employee_id = ? AND closed_at IS NULL", employeeID).First(&c).Error
	return &c, notFound(err)
}

// OtherOpenCase returns, inside tx, an open case of the employee other
// than case id, or ErrNotFound: reopening case id would break the rule of
// one open case per employee.
func OtherOpenCase(tx *gorm.DB, employeeID string, id int64) (*Case, error) {
	var c Case
	err := tx.Where("employee_id = ? AND closed_at IS NULL AND id <> ?", employeeID, id).First(&c).Error
	return &c, notFound(err)
}

// ApprovedOfEffect returns, inside tx, the case's approved approvals of
// one effect (for legal_hold: the holds in force or released), oldest first.
func ApprovedOfEffect(tx *gorm.DB, caseID int64, effect string) ([]Approval, error) {
	var aps []Approval
	err := tx.Where("case_id = ? AND effect = ? AND status = ?", caseID, effect, ApprovalApproved).Order("id").Find(&aps).Error
	return aps, err
}

// CaseByIdempotencyKey returns the case created with key, or ErrNotFound.
func (s *Store) CaseByIdempotencyKey(ctx context.Context, key string) (*Case, error) {
	var c Case
	err := s.db.WithContext(ctx).Where("idempotency_key = ?", key).First(&c).Error
	return &c, notFound(err)
}

// CaseWithActions returns a case and its actions (ordered by phase, name).
func (s *Store) CaseWithActions(ctx context.Context, id int64) (*Case, error) {
	var c Case
	err := s.db.WithContext(ctx).Preload("Actions", func(db *gorm.DB) *gorm.DB {
		return db.Order("phase, name, id")
	}).First(&c, id).Error
	return &c, notFound(err)
}

// Cases lists cases, newest first, at most limit.
func (s *Store) Cases(ctx context.Context, limit int) ([]Case, error) {
	var cs []Case
	err := s.db.WithContext(ctx).Order("id DESC").Limit(limit).Find(&cs).Error
	return cs, err
}

// Action loads one action.
func (s *Store) Action(ctx context.Context, id int64) (*Action, error) {
	var a Action
	err := s.db.WithContext(ctx).First(&a, id).Error
	return &a, notFound(err)
}

// LockCase takes the case's row lock inside tx (a no-op update, which locks
// the row on PostgreSQL and takes the write lock on SQLite) and returns the
// case. Every transition that reads a case's actions and moves others
// (releasing dependents, closing) runs under it, so two workers finishing
// actions of one case at once cannot both miss a release.
//
// The lock and the read are one statement (UPDATE … RETURNING, on both
// dialects): one round trip less on every transition.
func LockCase(tx *gorm.DB, id int64) (*Case, error) {
	var cs []Case
	if err := tx.Raw("UPDATE cases SET status = status WHERE id = ? RETURNING *", id).Scan(&cs).Error; err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, ErrNotFound
	}
	return &cs[0], nil
}

// CaseActions returns a case's actions inside tx, ordered by phase, name.
func CaseActions(tx *gorm.DB, caseID int64) ([]Action, error) {
	var as []Action
	err := tx.Where("case_id = ?", caseID).Order("phase, name, id").Find(&as).Error
	return as, err
}

// ClaimAction moves a queued action of the given generation to running with
// a lease, counting the attempt. It reports false when another worker (or a
// newer generation) got there first: that is a result, not an error.
func ClaimAction(tx *gorm.DB, id int64, gen int, now time.Time, lease time.Duration) (bool, error) {
	until := now.Add(lease)
	res := tx.Model(&Action{}).
		Where("id = ? AND status = ? AND generation = ?", id, ActionQueued, gen).
		Updates(map[string]any{
			"status":      ActionRunning,
			"attempts":    gorm.Expr("attempts + 1"),
			"lease_until": until,
			"started_at":  now,
			"updated_at":  now,
		})
	return res.RowsAffected == 1, res.Error
}

// RenewLease extends a running action's lease. It reports false when the
// action is no longer this worker's (the sweep took it back).
func (s *Store) RenewLease(ctx context.Context, id int64, gen int, until time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Model(&Action{}).
		Where("id = ? AND status = ? AND generation = ?", id, ActionRunning, gen).
		Update("lease_until", until)
	return res.RowsAffected == 1, res.Error
}

// UpdateActionIf applies fields to an action only while it is still in
// status from with generation gen. It reports whether the row changed.
func UpdateActionIf(tx *gorm.DB, id int64, from string, gen int, fields map[string]any) (bool, error) {
	res := tx.Model(&Action{}).Where("id = ? AND status = ? AND generation = ?", id, from, gen).Updates(fields)
	return res.RowsAffected == 1, res.Error
}

// ExpiredLeases returns running actions whose lease ended before now.
func (s *Store) ExpiredLeases(ctx context.Context, now time.Time, limit int) ([]Action, error) {
	var as []Action
	err := s.db.WithContext(ctx).
		Where("status = ? AND lease_until < ?", ActionRunning, now).
		Order("lease_until").Limit(limit).Find(&as).Error
	return as, err
}

// StaleQueued returns queued actions that were due before cutoff, oldest
// first: candidates for a lost task.
func (s *Store) StaleQueued(ctx context.Context, cutoff time.Time, limit int) ([]Action, error) {
	var as []Action
	err := s.db.WithContext(ctx).
		Where("status = ? AND queued_at < ? AND (not_before IS NULL OR not_before < ?)", ActionQueued, cutoff, cutoff).
		Order("queued_at").Limit(limit).Find(&as).Error
	return as, err
}

// DueScheduledCases returns scheduled cases whose effective time has come.
func (s *Store) DueScheduledCases(ctx context.Context, now time.Time, limit int) ([]Case, error) {
	var cs []Case
	err := s.db.WithContext(ctx).
		Where("status = ? AND effective_at <= ?", CaseScheduled, now).
		Order("effective_at").Limit(limit).Find(&cs).Error
	return cs, err
}

// ActionCounts returns the number of actions per (connector, status).
func (s *Store) ActionCounts(ctx context.Context) (map[[2]string]int64, error) {
	var rows []struct {
		Connector string
		Status    string
		N         int64
	}
	err := s.db.WithContext(ctx).Model(&Action{}).
		Select("connector, status, count(*) AS n").Group("connector, status").Scan(&rows).Error
	out := make(map[[2]string]int64, len(rows))
	for _, r := range rows {
		out[[2]string{r.Connector, r.Status}] = r.N
	}
	return out, err
}

// EquipmentTasks returns a case's equipment tasks.
func (s *Store) EquipmentTasks(ctx context.Context, caseID int64) ([]EquipmentTask, error) {
	var ts []EquipmentTask
	err := s.db.WithContext(ctx).Where("case_id = ?", caseID).Order("asset_tag").Find(&ts).Error
	return ts, err
}
