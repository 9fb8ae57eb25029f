package store

import (
	"context"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// GenesisHash is the PrevHash of the first audit event and the head's hash
// while the chain is empty: 64 zeros.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// migrateLockKey is the PostgreSQL advisory lock key that serialises
// Migrate across processes ("kinetic" in ASCII).
const migrateLockKey int64 = 0x6b696e65746963

// schemaSQL is what AutoMigrate cannot express. Every statement is
// idempotent and valid on both dialects.
var schemaSQL = []string{
	// At most one open case per employee: the database refuses a second
	// case while the first has no closed_at. Closing a case must set
	// closed_at.
	`CREATE UNIQUE INDEX IF NOT EXISTS idx_cases_one_open ON cases (employee_id) WHERE closed_at IS NULL`,
	// The recovery sweep looks for queued or running actions whose lease
	// has run out.
	`CREATE INDEX IF NOT EXISTS idx_actions_status_lease ON actions (status, lease_until)`,
	// A case has at most one parent message (status card, DM card) per
	// platform and channel, so concurrent notifiers claim it before posting
	// (ClaimChatMessage). Thread replies, alerts and approval cards share
	// the table and may repeat. Before the index existed two processes could
	// both post a card: keep the first ref of each (the later duplicate
	// message stays in the chat, no longer updated).
	`DELETE FROM chat_messages WHERE kind IN ('status', 'dm') AND EXISTS (SELECT 1 FROM chat_messages o
		WHERE o.case_id = chat_messages.case_id AND o.platform = chat_messages.platform AND o.channel = chat_messages.channel
		AND o.kind = chat_messages.kind AND o.id < chat_messages.id)`,
	`CREATE UNIQUE INDEX IF NOT EXISTS idx_chat_messages_parent ON chat_messages (case_id, platform, channel, kind) WHERE kind IN ('status', 'dm')`,
}

// Migrate brings the schema up to date: gorm's AutoMigrate of AllModels,
// then the indexes in schemaSQL, then the audit head row (ID 1, Seq 0,
// GenesisHash) if it is missing. It is idempotent. On PostgreSQL it runs in
// one transaction holding an advisory lock, so several processes may
// migrate at once; the schema changes commit all together or not at all.
func (s *Store) Migrate(ctx context.Context) error {
	migrate := func(tx *gorm.DB) error {
		if err := tx.AutoMigrate(AllModels()...); err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		for _, q := range schemaSQL {
			if err := tx.Exec(q).Error; err != nil {
				return fmt.Errorf("store: migrate: %w", err)
			}
		}
		head := AuditHead{ID: 1, Seq: 0, Hash: GenesisHash}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&head).Error; err != nil {
			return fmt.Errorf("store: migrate: audit head: %w", err)
		}
		return nil
	}
	db := s.db.WithContext(ctx)
	if s.Dialect != DialectPostgres {
		// SQLite: gorm's migrator manages its own transactions (it rebuilds
		// tables to alter them) and one connection already serialises this
		// process; other processes wait on the file lock.
		return migrate(db)
	}
	return db.Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", migrateLockKey).Error; err != nil {
			return fmt.Errorf("store: migrate: lock: %w", err)
		}
		return migrate(tx)
	})
}
