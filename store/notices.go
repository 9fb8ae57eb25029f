package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Notice channels: how a notice was delivered.
const (
	NoticeEmail   = "email"
	NoticeWebhook = "webhook"
)

// Acknowledgement routes: how the receiving team confirmed a notice.
const (
	AckLink     = "link"     // the signed link in the email (confirm page, POST)
	AckButton   = "button"   // a chat button routed to the team
	AckCallback = "callback" // the payroll system's signed callback
)

// Notice is one dated message to a team (payroll, benefits) that the team
// must acknowledge: the case is not closed while one is open (the
// completion gate reads OpenNotices). One row per action and team; sending
// again (a retried action) keeps the row and its first SentAt.
type Notice struct {
	ID       int64  `gorm:"primaryKey;autoIncrement" json:"id"`
	CaseID   int64  `gorm:"not null;index" json:"case_id"`
	ActionID int64  `gorm:"not null;uniqueIndex:idx_notice_action_team" json:"action_id"`
	Team     string `gorm:"size:128;not null;uniqueIndex:idx_notice_action_team" json:"team"`
	// Channel is NoticeEmail or NoticeWebhook.
	Channel string `gorm:"size:16;not null" json:"channel"`
	// MessageID is the email's Message-ID (or the webhook's idempotency
	// key), so a reply or a callback can be matched to the notice.
	MessageID string `gorm:"size:256" json:"message_id,omitempty"`
	// Recipients are the addresses the notice went to (comma separated):
	// the people on the receiving team who may acknowledge it by link.
	Recipients string    `gorm:"size:2048" json:"recipients,omitempty"`
	SentAt     time.Time `gorm:"not null" json:"sent_at"`
	// AcknowledgedBy is the principal who confirmed receipt (an email
	// address on the team, a chat user, the payroll system), with when
	// and how (AckLink, AckButton, AckCallback). Empty while open.
	AcknowledgedBy  string     `gorm:"size:320" json:"acknowledged_by,omitempty"`
	AcknowledgedAt  *time.Time `gorm:"index" json:"acknowledged_at,omitempty"`
	AcknowledgedHow string     `gorm:"size:16" json:"acknowledged_how,omitempty"`
	// EscalatedLevel is how many of the policy's escalation levels have
	// fired for this notice while unacknowledged.
	EscalatedLevel int       `gorm:"not null;default:0" json:"escalated_level"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// Open reports whether the notice still waits for its acknowledgement.
func (n *Notice) Open() bool { return n.AcknowledgedAt == nil }

// ErrNoticeAcknowledged is returned when a notice was already acknowledged:
// an acknowledgement is recorded once, and a second one changes nothing.
var ErrNoticeAcknowledged = errors.New("notice already acknowledged")

// RecordNoticeSent records that n was delivered. It is idempotent per
// (ActionID, Team): a notice sent again by a retried action keeps its row,
// its first SentAt and any acknowledgement, and gets the latest MessageID.
// It returns the stored row.
func RecordNoticeSent(tx *gorm.DB, n Notice) (*Notice, error) {
	if err := tx.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "action_id"}, {Name: "team"}},
		DoUpdates: clause.AssignmentColumns([]string{"message_id", "recipients", "updated_at"}),
	}).Create(&n).Error; err != nil {
		return nil, err
	}
	var out Notice
	if err := tx.Where("action_id = ? AND team = ?", n.ActionID, n.Team).First(&out).Error; err != nil {
		return nil, err
	}
	return &out, nil
}

// Notice returns one notice by id (ErrNotFound when there is none).
func (s *Store) Notice(ctx context.Context, id int64) (*Notice, error) {
	var n Notice
	if err := s.Conn(ctx).First(&n, id).Error; err != nil {
		return nil, notFound(err)
	}
	return &n, nil
}

// NoticeFor returns the notice an action sent to a team (ErrNotFound when
// there is none).
func NoticeFor(tx *gorm.DB, actionID int64, team string) (*Notice, error) {
	var n Notice
	if err := tx.Where("action_id = ? AND team = ?", actionID, team).First(&n).Error; err != nil {
		return nil, notFound(err)
	}
	return &n, nil
}

// OpenNotices returns the case's notices not yet acknowledged, oldest
// first. The completion gate calls it: a case with an open notice is not
// closed.
func (s *Store) OpenNotices(ctx context.Context, caseID int64) ([]Notice, error) {
	var out []Notice
	err := s.Conn(ctx).Where("case_id = ? AND acknowledged_at IS NULL", caseID).Order("sent_at, id").Find(&out).Error
	return out, err
}

// CaseOpenNotices returns case caseID's unacknowledged notices read
// through tx (inside the case's transaction, for the completion gate).
func CaseOpenNotices(tx *gorm.DB, caseID int64) ([]Notice, error) {
	var out []Notice
	err := tx.Where("case_id = ? AND acknowledged_at IS NULL", caseID).Order("sent_at, id").Find(&out).Error
	return out, err
}

// AcknowledgedNoticeActions returns the ids of case caseID's actions whose
// every notice is acknowledged, read through tx: the receiving teams
// confirmed the message arrived, which for mail (no read-back) is the
// proof of delivery the completion gate counts.
func AcknowledgedNoticeActions(tx *gorm.DB, caseID int64) (map[int64]bool, error) {
	var ns []Notice
	if err := tx.Select("action_id", "acknowledged_at").Where("case_id = ?", caseID).Find(&ns).Error; err != nil {
		return nil, err
	}
	out := map[int64]bool{}
	for _, n := range ns {
		if acked, seen := out[n.ActionID]; !seen || acked {
			out[n.ActionID] = n.AcknowledgedAt != nil
		}
	}
	for id, acked := range out {
		if !acked {
			delete(out, id)
		}
	}
	return out, nil
}

// CaseNotices returns every notice of the case, oldest first.
func (s *Store) CaseNotices(ctx context.Context, caseID int64) ([]Notice, error) {
	var out []Notice
	err := s.Conn(ctx).Where("case_id = ?", caseID).Order("sent_at, id").Find(&out).Error
	return out, err
}

// UnacknowledgedSince returns notices sent before cutoff and still open,
// oldest first, for the escalation sweep.
func (s *Store) UnacknowledgedSince(ctx context.Context, cutoff time.Time, limit int) ([]Notice, error) {
	var out []Notice
	err := s.Conn(ctx).Where("acknowledged_at IS NULL AND sent_at < ?", cutoff).Order("sent_at, id").Limit(limit).Find(&out).Error
	return out, err
}

// AcknowledgeNotice records the acknowledgement of notice id by by, how
// and at, with a conditional update: it returns ErrNoticeAcknowledged when
// the notice was already acknowledged (nothing changes), ErrNotFound when
// there is no such notice. Who may acknowledge is the caller's decision.
func AcknowledgeNotice(tx *gorm.DB, id int64, by, how string, at time.Time) error {
	res := tx.Model(&Notice{}).Where("id = ? AND acknowledged_at IS NULL", id).
		Updates(map[string]any{"acknowledged_by": by, "acknowledged_how": how, "acknowledged_at": at, "updated_at": at})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 1 {
		return nil
	}
	var n Notice
	if err := tx.First(&n, id).Error; err != nil {
		return notFound(err)
	}
	return ErrNoticeAcknowledged
}

// MarkNoticeEscalated moves the notice's escalation level from `from` to
// from+1 if it is still open and at that level; it reports whether it did
// (two sweeps never both fire a level).
func MarkNoticeEscalated(tx *gorm.DB, id int64, from int, at time.Time) (bool, error) {
	res := tx.Model(&Notice{}).Where("id = ? AND acknowledged_at IS NULL AND escalated_level = ?", id, from).
		Updates(map[string]any{"escalated_level": from + 1, "updated_at": at})
	return res.RowsAffected == 1, res.Error
}
