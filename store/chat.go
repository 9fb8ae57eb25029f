package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Kinds of ChatMessage that are a case's parent messages: at most one row
// per (case, platform, channel, kind), enforced by the partial unique index
// idx_chat_messages_parent (see migrate.go), so a front end can claim the
// right to post one before posting (ClaimChatMessage).
const (
	ChatKindStatus = "status" // the case's card in the offboarding channel
	ChatKindDM     = "dm"     // the same card in a DM
)

// ErrClaimLost is returned by FillChatMessage when the claim is no longer
// held: it was released, or taken over as stale by another process.
var ErrClaimLost = errors.New("chat message claim lost")

// ClaimChatMessage claims the right to post the parent message m describes
// (m.Kind ChatKindStatus or ChatKindDM; m.TS is ignored): it inserts m with
// an empty TS unless a row for (case, platform, channel, kind) exists. A
// claim whose TS is still empty after staleAfter was left by a process that
// died before posting, and is taken over. won reports whether the caller
// holds the claim now and must post then FillChatMessage (or
// ReleaseChatMessage); got is the claimed row, or when won is false the
// row of whoever else holds it (its TS empty while they are posting).
func (s *Store) ClaimChatMessage(ctx context.Context, m ChatMessage, now time.Time, staleAfter time.Duration) (got ChatMessage, won bool, err error) {
	if m.Kind != ChatKindStatus && m.Kind != ChatKindDM {
		return m, false, fmt.Errorf("store: claiming a chat message of kind %q: only %s and %s are claimed", m.Kind, ChatKindStatus, ChatKindDM)
	}
	db := s.db.WithContext(ctx)
	m.ID, m.TS, m.CreatedAt, m.UpdatedAt = 0, "", now, now
	res := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&m)
	if res.Error != nil {
		return m, false, res.Error
	}
	if res.RowsAffected == 1 {
		return m, true, nil
	}
	var cur ChatMessage
	err = db.Where("case_id = ? AND platform = ? AND channel = ? AND kind = ?", m.CaseID, m.Platform, m.Channel, m.Kind).First(&cur).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		// Released between our insert and this read: try once more.
		res := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&m)
		return m, res.Error == nil && res.RowsAffected == 1, res.Error
	}
	if err != nil {
		return cur, false, err
	}
	if cur.TS != "" || !cur.UpdatedAt.Before(now.Add(-staleAfter)) {
		return cur, false, nil
	}
	// Stale: take it over unless someone else just did.
	res = db.Model(&ChatMessage{}).Where("id = ? AND ts = ? AND updated_at < ?", cur.ID, "", now.Add(-staleAfter)).Update("updated_at", now)
	if res.Error != nil {
		return cur, false, res.Error
	}
	if res.RowsAffected == 0 {
		return cur, false, nil
	}
	cur.UpdatedAt = now
	return cur, true, nil
}

// FillChatMessage records the timestamp of the message posted under claim
// id. It returns ErrClaimLost when the claim is no longer held.
func (s *Store) FillChatMessage(ctx context.Context, id int64, ts string, now time.Time) error {
	res := s.db.WithContext(ctx).Model(&ChatMessage{}).Where("id = ? AND ts = ?", id, "").
		Updates(map[string]any{"ts": ts, "updated_at": now})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("%w: message ref %d", ErrClaimLost, id)
	}
	return nil
}

// ReleaseChatMessage gives up claim id without posting (posting failed),
// so the message can be claimed again at once. A posted row is left alone.
func (s *Store) ReleaseChatMessage(ctx context.Context, id int64) error {
	return s.db.WithContext(ctx).Where("id = ? AND ts = ?", id, "").Delete(&ChatMessage{}).Error
}
