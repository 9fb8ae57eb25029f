package store

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// Approval statuses.
const (
	ApprovalPending   = "pending"
	ApprovalApproved  = "approved"
	ApprovalDenied    = "denied"
	ApprovalExpired   = "expired"
	ApprovalCancelled = "cancelled"
)

// Step statuses.
const (
	StepWaiting  = "waiting" // an earlier step is not decided yet
	StepPending  = "pending" // open for decisions
	StepApproved = "approved"
	StepDenied   = "denied"
)

// ApprovalStep is one ordered step of an approval's chain. Who may decide
// is resolved when they decide (so someone removed from a group before
// deciding can no longer decide), from Approvers and, once the step timed
// out and escalated, Fallback.
type ApprovalStep struct {
	ID         int64  `gorm:"primaryKey;autoIncrement" json:"id"`
	ApprovalID int64  `gorm:"not null;uniqueIndex:idx_step_order" json:"approval_id"`
	Index      int    `gorm:"column:step_index;not null;uniqueIndex:idx_step_order" json:"index"`
	Name       string `gorm:"size:128;not null" json:"name"`
	// Approvers and Fallback are JSON arrays of approver references:
	// "manager", "hr_partner", "group:NAME", "user:ID".
	Approvers string `gorm:"type:text;not null" json:"approvers"`
	Fallback  string `gorm:"type:text" json:"fallback,omitempty"`
	// Mode is any, all or n_of; Required is the number of approvals needed
	// for any (1) and n_of (N); all needs every current approver.
	Mode     string `gorm:"size:16;not null" json:"mode"`
	Required int    `gorm:"not null" json:"required"`
	Status   string `gorm:"size:16;not null;index" json:"status"`
	// OnTimeout is escalate, deny or approve.
	OnTimeout    string        `gorm:"size:16;not null" json:"on_timeout"`
	Timeout      time.Duration `json:"timeout"`
	RemindBefore time.Duration `json:"remind_before"`
	// DueAt is when the step times out; RemindedAt when its reminder went
	// out; Escalated whether fallback approvers were added.
	DueAt      *time.Time `gorm:"index" json:"due_at,omitempty"`
	RemindedAt *time.Time `json:"reminded_at,omitempty"`
	Escalated  bool       `json:"escalated"`
	DecidedAt  *time.Time `json:"decided_at,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

// ApprovalDecision is one person's decision on one step. One person fills
// at most one slot of a step (the unique index), whatever races.
type ApprovalDecision struct {
	ID         int64  `gorm:"primaryKey;autoIncrement" json:"id"`
	ApprovalID int64  `gorm:"not null;uniqueIndex:idx_one_slot" json:"approval_id"`
	StepIndex  int    `gorm:"not null;uniqueIndex:idx_one_slot" json:"step_index"`
	Approver   string `gorm:"size:128;not null;uniqueIndex:idx_one_slot" json:"approver"`
	Decision   string `gorm:"size:16;not null" json:"decision"` // approve, deny
	Reason     string `gorm:"size:1024" json:"reason,omitempty"`
	Via        string `gorm:"size:32" json:"via,omitempty"` // cli, api, slack
	// Principal is the authenticated principal that made the decision
	// ("slack:U0123", "api:ticketing"); empty for an in-process caller. One
	// principal acts for one person within one approval.
	Principal string    `gorm:"size:256" json:"principal,omitempty"`
	At        time.Time `gorm:"not null" json:"at"`
}

// Escalation records that an overdue action (or a case's compliance
// deadline, Level 0 with ActionID 0 and Kind "breach") was escalated at a
// level. The unique index makes each level happen once, however many
// sweeps run.
type Escalation struct {
	ID       int64     `gorm:"primaryKey;autoIncrement" json:"id"`
	CaseID   int64     `gorm:"not null;uniqueIndex:idx_escalation_once" json:"case_id"`
	ActionID int64     `gorm:"not null;uniqueIndex:idx_escalation_once" json:"action_id"`
	Level    int       `gorm:"not null;uniqueIndex:idx_escalation_once" json:"level"`
	Kind     string    `gorm:"size:16;not null;uniqueIndex:idx_escalation_once" json:"kind"` // sla, breach
	Targets  string    `gorm:"type:text" json:"targets"`                                     // JSON array
	Detail   string    `gorm:"type:text" json:"detail"`
	At       time.Time `gorm:"not null" json:"at"`
}

// Batch statuses.
const (
	BatchPending  = "pending"
	BatchApproved = "approved"
	BatchDenied   = "denied"
	BatchPartial  = "partial" // some cases released one by one
)

// Batch groups cases the mass-termination guard held.
type Batch struct {
	ID        int64      `gorm:"primaryKey;autoIncrement" json:"id"`
	Status    string     `gorm:"size:16;not null;index" json:"status"`
	Reason    string     `gorm:"size:512" json:"reason"`
	DecidedBy string     `gorm:"size:128" json:"decided_by,omitempty"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// LockApproval takes the approval's row lock inside tx (see LockCase) and
// returns it.
func LockApproval(tx *gorm.DB, id int64) (*Approval, error) {
	res := tx.Exec("UPDATE approvals SET status = status WHERE id = ?", id)
	if res.Error != nil {
		return nil, res.Error
	}
	if res.RowsAffected == 0 {
		return nil, ErrNotFound
	}
	var a Approval
	if err := tx.First(&a, id).Error; err != nil {
		return nil, notFound(err)
	}
	return &a, nil
}

// ApprovalSteps returns an approval's steps in order.
func ApprovalSteps(tx *gorm.DB, approvalID int64) ([]ApprovalStep, error) {
	var ss []ApprovalStep
	err := tx.Where("approval_id = ?", approvalID).Order("step_index").Find(&ss).Error
	return ss, err
}

// CaseByID loads one case without its actions.
func CaseByID(tx *gorm.DB, id int64) (*Case, error) {
	var c Case
	err := tx.First(&c, id).Error
	return &c, notFound(err)
}

// BatchCases returns every case of a batch, whatever its status, in id
// order.
func BatchCases(tx *gorm.DB, batchID int64) ([]Case, error) {
	var cs []Case
	err := tx.Where("batch_id = ?", batchID).Order("id").Find(&cs).Error
	return cs, err
}

// ApprovalDecisions returns an approval's decisions in order.
func ApprovalDecisions(tx *gorm.DB, approvalID int64) ([]ApprovalDecision, error) {
	var ds []ApprovalDecision
	err := tx.Where("approval_id = ?", approvalID).Order("id").Find(&ds).Error
	return ds, err
}

// Approvals lists approvals, newest first; status "" means any.
func (s *Store) Approvals(ctx context.Context, status string, caseID int64, limit int) ([]Approval, error) {
	q := s.db.WithContext(ctx).Order("id DESC").Limit(limit)
	if status != "" {
		q = q.Where("status = ?", status)
	}
	if caseID != 0 {
		q = q.Where("case_id = ?", caseID)
	}
	var as []Approval
	return as, q.Find(&as).Error
}

// DueSteps returns pending steps whose timeout passed or whose reminder is
// due before now.
func (s *Store) DueSteps(ctx context.Context, now time.Time, limit int) ([]ApprovalStep, error) {
	var ss []ApprovalStep
	err := s.db.WithContext(ctx).
		Joins("JOIN approvals ON approvals.id = approval_steps.approval_id AND approvals.status = ?", ApprovalPending).
		Where("approval_steps.status = ? AND approval_steps.due_at IS NOT NULL AND (approval_steps.due_at <= ? OR (approval_steps.reminded_at IS NULL AND approval_steps.remind_before > 0))", StepPending, now).
		Order("approval_steps.due_at").Limit(limit).Find(&ss).Error
	return ss, err
}

// OverdueActions returns actions past their due time that are not done:
// those of running cases (failed ones included: a failed revocation is
// still an open door) not held for an approval, and the failed actions of
// cases that closed as failed — nobody else will act on those unless they
// are escalated.
func (s *Store) OverdueActions(ctx context.Context, now time.Time, limit int) ([]Action, error) {
	var as []Action
	err := s.db.WithContext(ctx).
		Joins("JOIN cases ON cases.id = actions.case_id").
		Where("((cases.status = ? AND actions.status NOT IN ?) OR (cases.status = ? AND actions.status = ?)) AND actions.due_at < ?",
			CaseRunning, []string{ActionSucceeded, ActionSkipped, ActionCancelled, ActionHeld}, CaseFailed, ActionFailed, now).
		Order("actions.due_at").Limit(limit).Find(&as).Error
	return as, err
}

// EscalationLevels returns the levels already recorded for an action.
func EscalationLevels(tx *gorm.DB, caseID, actionID int64, kind string) (map[int]bool, error) {
	var es []Escalation
	if err := tx.Where("case_id = ? AND action_id = ? AND kind = ?", caseID, actionID, kind).Find(&es).Error; err != nil {
		return nil, err
	}
	out := map[int]bool{}
	for _, e := range es {
		out[e.Level] = true
	}
	return out, nil
}

// BreachCandidates returns open cases past their compliance deadline with
// no breach recorded yet.
func (s *Store) BreachCandidates(ctx context.Context, now time.Time, limit int) ([]Case, error) {
	var cs []Case
	err := s.db.WithContext(ctx).
		Where("compliance_deadline IS NOT NULL AND compliance_deadline < ? AND breached_at IS NULL AND (critical_done_at IS NULL OR critical_done_at > compliance_deadline) AND status <> ?", now, CaseCancelled).
		Order("compliance_deadline").Limit(limit).Find(&cs).Error
	return cs, err
}
