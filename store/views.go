package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
)

// This file holds the named reads and writes the front ends (the Slack app),
// the bench and the demo run, so that no code outside store touches gorm
// for them. The engine works inside Store.Tx and reads through Store.Conn.

// Conn returns the gorm handle bound to ctx, for the engine's reads outside a
// transaction. Front ends do not use it: each of their queries is a Store
// method named for what it returns. Inside a transaction use the
// transaction's handle only (see Store).
func (s *Store) Conn(ctx context.Context) *gorm.DB { return s.db.WithContext(ctx) }

// Case returns one case without its actions, or ErrNotFound.
func (s *Store) Case(ctx context.Context, id int64) (*Case, error) {
	var c Case
	err := s.db.WithContext(ctx).First(&c, id).Error
	return &c, notFound(err)
}

// NewestCaseFor returns the employee's most recently created case, open or
// closed, or ErrNotFound.
func (s *Store) NewestCaseFor(ctx context.Context, employeeID string) (*Case, error) {
	var c Case
	err := s.db.WithContext(ctx).Where("employee_id = ?", employeeID).Order("id DESC").First(&c).Error
	return &c, notFound(err)
}

// OpenCases lists cases in one of OpenCaseStatuses, newest first, at most
// limit, without their actions.
func (s *Store) OpenCases(ctx context.Context, limit int) ([]Case, error) {
	var cs []Case
	err := s.db.WithContext(ctx).Where("status IN ?", OpenCaseStatuses()).Order("id DESC").Limit(limit).Find(&cs).Error
	return cs, err
}

// CaseAuditSummary returns how many audit events name the case and the
// current head hash of the audit chain ("" before the first event).
func (s *Store) CaseAuditSummary(ctx context.Context, caseID int64) (events int64, headHash string, err error) {
	db := s.db.WithContext(ctx)
	s.chainForRead(ctx)
	countErr := db.Model(&AuditEvent{}).Where("case_id = ?", caseID).Count(&events).Error
	var head AuditHead
	headErr := db.First(&head, 1).Error
	if errors.Is(headErr, gorm.ErrRecordNotFound) {
		headErr = nil
	}
	// Both are read even when one fails: a caller showing a summary shows
	// what it could read.
	return events, head.Hash, errors.Join(countErr, headErr)
}

// RecordChatMessage inserts a posted chat message's reference; m.ID is set.
func (s *Store) RecordChatMessage(ctx context.Context, m *ChatMessage) error {
	return s.db.WithContext(ctx).Create(m).Error
}

// ChatMessagesFor returns the case's recorded messages on platform, oldest
// first, limited to the given kinds (all kinds when none is given).
func (s *Store) ChatMessagesFor(ctx context.Context, caseID int64, platform string, kinds ...string) ([]ChatMessage, error) {
	var ms []ChatMessage
	q := s.db.WithContext(ctx).Where("case_id = ? AND platform = ?", caseID, platform)
	if len(kinds) > 0 {
		q = q.Where("kind IN ?", kinds)
	}
	err := q.Order("id").Find(&ms).Error
	return ms, err
}

// ChatMessageByID returns one recorded chat message; found is false (and
// err nil) when no row has that id, for instance after it was released.
func (s *Store) ChatMessageByID(ctx context.Context, id int64) (m ChatMessage, found bool, err error) {
	err = s.db.WithContext(ctx).Where("id = ?", id).Limit(1).Find(&m).Error
	return m, err == nil && m.ID != 0, err
}

// HREventRecorded reports whether an HR event from source with eventID has
// been recorded (whatever its outcome).
func (s *Store) HREventRecorded(ctx context.Context, source, eventID string) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&HREventRecord{}).Where("source = ? AND event_id = ?", source, eventID).Count(&n).Error
	return n > 0, err
}

// CaseCounts returns how many cases exist and how many of them are open.
func (s *Store) CaseCounts(ctx context.Context) (total, open int64, err error) {
	db := s.db.WithContext(ctx)
	if err := db.Model(&Case{}).Count(&total).Error; err != nil {
		return 0, 0, err
	}
	err = db.Model(&Case{}).Where("status IN ?", OpenCaseStatuses()).Count(&open).Error
	return total, open, err
}

// ActionStatusCounts returns the number of actions per status.
func (s *Store) ActionStatusCounts(ctx context.Context) (map[string]int64, error) {
	var rows []struct {
		Status string
		N      int64
	}
	err := s.db.WithContext(ctx).Model(&Action{}).Select("status, count(*) AS n").Group("status").Scan(&rows).Error
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, err
}

// AllCasesWithActions returns every case with its actions, oldest first
// (for the bench's final check; it reads the whole table).
func (s *Store) AllCasesWithActions(ctx context.Context) ([]Case, error) {
	var cs []Case
	err := s.db.WithContext(ctx).Preload("Actions").Order("id").Find(&cs).Error
	return cs, err
}

// CaseStatus returns one case's status ("" with a nil error when no case
// has that id).
func (s *Store) CaseStatus(ctx context.Context, id int64) (string, error) {
	var status string
	err := s.db.WithContext(ctx).Model(&Case{}).Select("status").Where("id = ?", id).Scan(&status).Error
	return status, err
}

// CaseActionsSettled reports whether every action of case id is in a
// final status (succeeded, skipped, failed or cancelled): its access work
// is over, though the case may still wait for devices or notices.
func (s *Store) CaseActionsSettled(ctx context.Context, id int64) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&Action{}).Where("case_id = ? AND status NOT IN ?", id,
		[]string{ActionSucceeded, ActionSkipped, ActionFailed, ActionCancelled}).Count(&n).Error
	return n == 0, err
}

// RunningActionIDs returns the ids of the actions in status running.
func (s *Store) RunningActionIDs(ctx context.Context) ([]int64, error) {
	var ids []int64
	err := s.db.WithContext(ctx).Model(&Action{}).Where("status = ?", ActionRunning).Pluck("id", &ids).Error
	return ids, err
}

// AuditEventsOfActionsSince returns the audit events of the given actions
// at or after from, in chain order. Callers pass at most a few hundred ids.
func (s *Store) AuditEventsOfActionsSince(ctx context.Context, actionIDs []int64, from time.Time) ([]AuditEvent, error) {
	s.chainForRead(ctx)
	var evs []AuditEvent
	err := s.db.WithContext(ctx).Where("action_id IN ? AND time >= ?", actionIDs, from).Order("seq").Find(&evs).Error
	return evs, err
}

// SetPool sizes the connection pool: at most open connections, half of
// them kept idle. The bench uses it on PostgreSQL; SQLite keeps its single
// connection (see Store), so there it does nothing.
func (s *Store) SetPool(open int) error {
	if s.Dialect != DialectPostgres || open <= 0 {
		return nil
	}
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	sqlDB.SetMaxOpenConns(open)
	sqlDB.SetMaxIdleConns(open / 2)
	return nil
}
