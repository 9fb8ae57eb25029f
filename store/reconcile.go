package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Reconciliation after close: each scan of a closed case (or of an
// organization's accounts) is a ReconcileRun; each piece of access it found
// still in place is a Residual.

// Residual statuses. A residual is open until a remediation action is
// added for it; it is remediated when that action succeeds verified.
const (
	ResidualOpen        = "open"
	ResidualRemediating = "remediating"
)

// Residual kinds: what found it.
const (
	// ResidualVerify: a succeeded action's read-back no longer holds.
	ResidualVerify = "verify"
	// ResidualLookup: the connector's Lookup shows an account still
	// active, or with live sessions, after its revocation succeeded.
	ResidualLookup = "lookup"
	// ResidualOrphan: an organization-wide scan found an enabled account
	// whose person has left, or whose person HR does not know.
	ResidualOrphan = "orphan"
)

// ReconcileRun is one reconciliation scan. A scheduled scan of a case at
// one of the policy's offsets (or one night) has a Stage ("after:1h",
// "nightly:2026-12-07"); (CaseID, Stage) is unique, so two sweepers never
// scan the same stage twice. A manual scan's Stage is "manual:<unix nanos>".
type ReconcileRun struct {
	ID     int64  `gorm:"primaryKey;autoIncrement" json:"id"`
	CaseID int64  `gorm:"not null;uniqueIndex:idx_reconcile_stage" json:"case_id"` // 0: organization-wide scan
	Stage  string `gorm:"size:64;not null;uniqueIndex:idx_reconcile_stage" json:"stage"`
	// Trigger is who asked: "sweep", "cli", "api".
	Trigger    string     `gorm:"size:32;not null" json:"trigger"`
	StartedAt  time.Time  `gorm:"not null;index" json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// Checked counts the read-backs and lookups made; Errors those that
	// failed (a failed check is not a residual, and is reported).
	Checked   int    `json:"checked"`
	Errors    int    `json:"errors"`
	Residuals int    `json:"residuals"`
	Detail    string `gorm:"type:text" json:"detail,omitempty"`
}

// Residual is one piece of access a reconciliation found still in place.
type Residual struct {
	ID        int64  `gorm:"primaryKey;autoIncrement" json:"id"`
	RunID     int64  `gorm:"not null;index" json:"run_id"`
	CaseID    int64  `gorm:"not null;index" json:"case_id"`
	ActionID  int64  `gorm:"not null;default:0" json:"action_id,omitempty"` // the action whose effect no longer holds
	Kind      string `gorm:"size:16;not null" json:"kind"`
	Connector string `gorm:"size:128;not null" json:"connector"`
	Operation string `gorm:"size:64" json:"operation,omitempty"`
	Account   string `gorm:"size:512" json:"account,omitempty"`
	Detail    string `gorm:"size:2048" json:"detail"`
	Status    string `gorm:"size:16;not null;index" json:"status"`
	// RemediationID is the action added to the case to remediate it.
	RemediationID int64      `gorm:"not null;default:0" json:"remediation_id,omitempty"`
	RemediatedBy  string     `gorm:"size:128" json:"remediated_by,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     *time.Time `json:"updated_at,omitempty"`
	Simulated     bool       `gorm:"not null;default:false" json:"simulated,omitempty"`
}

// ClaimReconcileStage records the start of a scheduled scan of case at
// stage; false when another sweeper (or an earlier sweep) has it already.
func ClaimReconcileStage(tx *gorm.DB, run *ReconcileRun) (bool, error) {
	res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(run)
	if res.Error != nil {
		return false, res.Error
	}
	return res.RowsAffected == 1, nil
}

// ReconcileStageTaken reports whether case's stage was scanned already.
func (s *Store) ReconcileStageTaken(ctx context.Context, caseID int64, stage string) (bool, error) {
	var n int64
	err := s.Conn(ctx).Model(&ReconcileRun{}).Where("case_id = ? AND stage = ?", caseID, stage).Count(&n).Error
	return n > 0, err
}

// ClosedCasesSince returns the cases closed (completed, with exceptions,
// or failed) at or after since, oldest first, at most limit.
func (s *Store) ClosedCasesSince(ctx context.Context, since time.Time, limit int) ([]Case, error) {
	var cs []Case
	err := s.Conn(ctx).Where("status IN ? AND closed_at >= ?",
		[]string{CaseCompleted, CaseCompletedWithExceptions, CaseFailed}, since).
		Order("closed_at, id").Limit(limit).Find(&cs).Error
	return cs, err
}

// LastReconcileRun returns the most recently started scan.
func (s *Store) LastReconcileRun(ctx context.Context) (*ReconcileRun, []Residual, error) {
	var r ReconcileRun
	err := s.Conn(ctx).Order("started_at DESC, id DESC").First(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil, ErrNotFound
	}
	if err != nil {
		return nil, nil, err
	}
	res, err := s.RunResiduals(ctx, r.ID)
	return &r, res, err
}

// CaseResidualCount counts the residual access reconciliation has found
// for case caseID, over every scan.
func (s *Store) CaseResidualCount(ctx context.Context, caseID int64) (int64, error) {
	var n int64
	err := s.Conn(ctx).Model(&Residual{}).Where("case_id = ?", caseID).Count(&n).Error
	return n, err
}

// RunResiduals returns a scan's residuals in the order found.
func (s *Store) RunResiduals(ctx context.Context, runID int64) ([]Residual, error) {
	var rs []Residual
	err := s.Conn(ctx).Where("run_id = ?", runID).Order("id").Find(&rs).Error
	return rs, err
}

// ResidualByID returns one residual.
func ResidualByID(tx *gorm.DB, id int64) (*Residual, error) {
	var r Residual
	err := tx.First(&r, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	return &r, err
}

// Residual returns one residual.
func (s *Store) Residual(ctx context.Context, id int64) (*Residual, error) {
	return ResidualByID(s.Conn(ctx), id)
}

// MarkResidualRemediating links an open residual to the remediation
// action added for it; false when it was not open any more (a second
// click).
func MarkResidualRemediating(tx *gorm.DB, id, actionID int64, actor string, now time.Time) (bool, error) {
	res := tx.Model(&Residual{}).Where("id = ? AND status = ?", id, ResidualOpen).
		Updates(map[string]any{"status": ResidualRemediating, "remediation_id": actionID, "remediated_by": actor, "updated_at": now})
	return res.RowsAffected == 1, res.Error
}
