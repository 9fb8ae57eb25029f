package store

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/kineticsec/kinetic/internal/text"
)

// Signal outbox statuses.
const (
	// SignalPending: not yet accepted by the receiver; delivered when
	// NextAttemptAt has passed.
	SignalPending = "pending"
	// SignalDelivered: the receiver answered 202 Accepted.
	SignalDelivered = "delivered"
	// SignalFailed: the receiver refused it for good (a 400 with an RFC
	// 8935 error code, 401, 403, a bad URL); kept for people to read and
	// requeue (RequeueFailedSignals).
	SignalFailed = "failed"
)

// SignalOutbox is one Security Event Token to push to one receiver (RFC
// 8935). A row is written before any delivery is tried and is never
// deleted, so a SET survives restarts and lost connections: the
// transmitter (package signals) delivers pending rows with back-off and
// marks them delivered. (Receiver, ActionID, EventType) is unique, so
// recording the same action twice — the observer and the catch-up scan, or
// two processes — yields one SET.
type SignalOutbox struct {
	ID int64 `gorm:"primaryKey;autoIncrement"`
	// Receiver is the signals.receivers key the SET is for.
	Receiver string `gorm:"size:128;not null;uniqueIndex:idx_signal_outbox_once,priority:1"`
	CaseID   int64  `gorm:"not null;index"`
	ActionID int64  `gorm:"not null;uniqueIndex:idx_signal_outbox_once,priority:2"`
	// EventType is the short event name ("session-revoked").
	EventType string `gorm:"size:64;not null;uniqueIndex:idx_signal_outbox_once,priority:3"`
	// JTI is the SET's jti: the same on every delivery attempt, so a
	// receiver that got it twice can tell.
	JTI string `gorm:"size:64;not null;uniqueIndex"`
	// Claims is the SET's JWT claims set (JSON); it is signed with the
	// current key at each attempt, so a rotated key does not strand it.
	Claims string `gorm:"type:text;not null"`
	Status string `gorm:"size:16;not null;index:idx_signal_outbox_due,priority:1"`
	// Attempts counts delivery attempts; NextAttemptAt is when the next
	// may start; LeaseUntil is set while a process is delivering it.
	Attempts      int        `gorm:"not null;default:0"`
	NextAttemptAt time.Time  `gorm:"not null;index:idx_signal_outbox_due,priority:2"`
	LeaseUntil    *time.Time `json:",omitempty"`
	// LastError is the last failure, classified and without secrets.
	LastError   string     `gorm:"size:1024"`
	DeliveredAt *time.Time `json:",omitempty"`
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// SignalSource is a succeeded action with what a SET about it needs.
type SignalSource struct {
	ActionID      int64
	CaseID        int64
	Connector     string
	Operation     string
	TargetAccount string
	Outcome       string
	FinishedAt    *time.Time
	EmployeeID    string
	EmployeeEmail string
	Simulated     bool
}

func (s *Store) signalSources(ctx context.Context, where string, args ...any) ([]SignalSource, error) {
	var out []SignalSource
	err := s.db.WithContext(ctx).Table("actions").
		Select("actions.id AS action_id, actions.case_id, actions.connector, actions.operation, actions.target_account, actions.outcome, actions.finished_at, cases.employee_id, cases.employee_email, actions.simulated").
		Joins("JOIN cases ON cases.id = actions.case_id").
		Where("actions.status = ?", ActionSucceeded).
		Where(where, args...).
		Order("actions.id").
		Scan(&out).Error
	return out, err
}

// SignalSourceOf returns action id when it has succeeded (ok false when it
// has not, or does not exist).
func (s *Store) SignalSourceOf(ctx context.Context, actionID int64) (src SignalSource, ok bool, err error) {
	out, err := s.signalSources(ctx, "actions.id = ?", actionID)
	if err != nil || len(out) == 0 {
		return SignalSource{}, false, err
	}
	return out[0], true, nil
}

// SignalSourcesSince returns the actions of the given operations that
// succeeded at or after since on a real (not simulated) system and have no
// outbox row yet, oldest id first: the transmitter's catch-up scan, which
// finds what an observer missed (a process that stopped between an
// action's commit and recording its SETs). RecordSignals writes an action's
// rows together, so an action with any row has all of them.
func (s *Store) SignalSourcesSince(ctx context.Context, since time.Time, ops []string) ([]SignalSource, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	return s.signalSources(ctx, "actions.finished_at >= ? AND actions.operation IN ? AND actions.simulated = ? AND NOT EXISTS (SELECT 1 FROM signal_outboxes o WHERE o.action_id = actions.id)",
		since, ops, false)
}

// RecordSignals inserts rows (each with Status SignalPending), in one
// transaction, except those for which a row for the same (receiver, action,
// event type) exists, and returns how many were new. It is safe to call
// again with the same rows.
func (s *Store) RecordSignals(ctx context.Context, rows []SignalOutbox) (int, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	n := 0
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		n = 0
		for i := range rows {
			r := rows[i]
			r.ID, r.Status, r.Attempts, r.LeaseUntil, r.DeliveredAt = 0, SignalPending, 0, nil, nil
			res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&r)
			if res.Error != nil {
				return res.Error
			}
			n += int(res.RowsAffected)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// ClaimDueSignals claims up to limit pending rows whose next attempt is due
// and that no process holds (lease unset or run out), leasing each until
// now+lease, oldest first. Each claim is a conditional update, so two
// processes never deliver the same row at once.
func (s *Store) ClaimDueSignals(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]SignalOutbox, error) {
	db := s.db.WithContext(ctx)
	var due []SignalOutbox
	err := db.Where("status = ? AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?)", SignalPending, now, now).
		Order("next_attempt_at, id").Limit(limit).Find(&due).Error
	if err != nil {
		return nil, err
	}
	until := now.Add(lease)
	out := due[:0]
	for _, r := range due {
		q := db.Model(&SignalOutbox{}).Where("id = ? AND status = ?", r.ID, SignalPending)
		if r.LeaseUntil == nil {
			q = q.Where("lease_until IS NULL")
		} else {
			q = q.Where("lease_until = ?", *r.LeaseUntil)
		}
		res := q.Updates(map[string]any{"lease_until": until, "updated_at": now})
		if res.Error != nil {
			return out, res.Error
		}
		if res.RowsAffected == 1 {
			r.LeaseUntil = &until
			out = append(out, r)
		}
	}
	return out, nil
}

// MarkSignalDelivered records that the receiver accepted row id.
func (s *Store) MarkSignalDelivered(ctx context.Context, id int64, attempts int, now time.Time) error {
	return s.db.WithContext(ctx).Model(&SignalOutbox{}).Where("id = ?", id).Updates(map[string]any{
		"status": SignalDelivered, "attempts": attempts, "delivered_at": now, "lease_until": nil, "last_error": "", "updated_at": now,
	}).Error
}

// MarkSignalRetry records a failed attempt of row id worth retrying: the
// row stays pending and is due again at next.
func (s *Store) MarkSignalRetry(ctx context.Context, id int64, attempts int, next time.Time, lastErr string, now time.Time) error {
	return s.db.WithContext(ctx).Model(&SignalOutbox{}).Where("id = ?", id).Updates(map[string]any{
		"attempts": attempts, "next_attempt_at": next, "lease_until": nil, "last_error": text.ClipBytes(lastErr, 1000), "updated_at": now,
	}).Error
}

// MarkSignalFailed records that the receiver refused row id for good.
func (s *Store) MarkSignalFailed(ctx context.Context, id int64, attempts int, lastErr string, now time.Time) error {
	return s.db.WithContext(ctx).Model(&SignalOutbox{}).Where("id = ?", id).Updates(map[string]any{
		"status": SignalFailed, "attempts": attempts, "lease_until": nil, "last_error": text.ClipBytes(lastErr, 1000), "updated_at": now,
	}).Error
}

// RequeueFailedSignals makes every failed row of receiver pending again,
// due now (after its configuration was fixed), and returns how many.
func (s *Store) RequeueFailedSignals(ctx context.Context, receiver string, now time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Model(&SignalOutbox{}).Where("receiver = ? AND status = ?", receiver, SignalFailed).
		Updates(map[string]any{"status": SignalPending, "next_attempt_at": now, "updated_at": now})
	return res.RowsAffected, res.Error
}

// SignalsOf returns the outbox rows of a case, by id.
func (s *Store) SignalsOf(ctx context.Context, caseID int64) ([]SignalOutbox, error) {
	var out []SignalOutbox
	err := s.db.WithContext(ctx).Where("case_id = ?", caseID).Order("id").Find(&out).Error
	return out, err
}

// CountSignals returns how many outbox rows are in each status.
func (s *Store) CountSignals(ctx context.Context) (map[string]int64, error) {
	var rows []struct {
		Status string
		N      int64
	}
	err := s.db.WithContext(ctx).Model(&SignalOutbox{}).Select("status, count(*) AS n").Group("status").Scan(&rows).Error
	out := map[string]int64{}
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, err
}
