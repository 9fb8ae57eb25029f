package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chatMessageV1 is chat_messages as it was created before Teams: channel
// varchar(128), ts varchar(64).
type chatMessageV1 struct {
	ID        int64  `gorm:"primaryKey;autoIncrement"`
	CaseID    int64  `gorm:"not null;index"`
	Platform  string `gorm:"size:16;not null"`
	Channel   string `gorm:"size:128;not null"`
	TS        string `gorm:"size:64;not null"`
	Kind      string `gorm:"size:32;not null"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

func (chatMessageV1) TableName() string { return "chat_messages" }

// longTeamsIDs are realistic Teams ids longer than the old columns: a 1:1
// chat's conversation id as POST /v3/conversations returns it, a channel
// thread's (";messageid="), and a 1:1 activity id.
var longTeamsIDs = struct{ personal, thread, activity string }{
	personal: "a:1p0iicaJlVi-_KIYKDDvLi4c2pMZMc8B0bPauUJq9pZ6IHPzMOrXbWS4g7Wktn1hwl8J3FecCj4cn33DInsp7AGj8mSSb23S5cQJTjU_CXlYs-eph-CchluBdnSKVFm40",
	thread:   "19:c1a4f3f0d9b84b8f9b7ac2a6b1d0e3f4@thread.tacv2;messageid=1712345678901" + strings.Repeat("x", 70),
	activity: "1:1Y1xeCyjJ0kqA5Q8Zp3u7W-" + strings.Repeat("k", 60),
}

// TestChatMessageLongTeamsIDs: a Teams conversation id past 128
// characters is stored and read back whole, on a fresh schema and on one
// migrated from the old 128/64 columns (the rows already there kept).
func TestChatMessageLongTeamsIDs(t *testing.T) {
	if len(longTeamsIDs.personal) <= 128 || len(longTeamsIDs.thread) <= 128 || len(longTeamsIDs.activity) <= 64 {
		t.Fatal("the test ids are not longer than the old columns")
	}
	ctx := context.Background()
	check := func(t *testing.T, s *Store) {
		t.Helper()
		now := time.Now()
		for i, ch := range []string{longTeamsIDs.personal, longTeamsIDs.thread} {
			ref, won, err := s.ClaimChatMessage(ctx, ChatMessage{CaseID: 9, Platform: "teams", Channel: ch, Kind: ChatKindStatus}, now, time.Minute)
			if err != nil || !won {
				t.Fatalf("claim %d: %v %v", i, won, err)
			}
			ref.TS = longTeamsIDs.activity
			if err := s.db.Save(&ref).Error; err != nil {
				t.Fatalf("save %d: %v", i, err)
			}
		}
		ms, err := s.ChatMessagesFor(ctx, 9, "teams", ChatKindStatus)
		if err != nil || len(ms) != 2 {
			t.Fatalf("read back: %v %v", ms, err)
		}
		got := map[string]string{}
		for _, m := range ms {
			got[m.Channel] = m.TS
		}
		for _, ch := range []string{longTeamsIDs.personal, longTeamsIDs.thread} {
			if got[ch] != longTeamsIDs.activity {
				t.Errorf("channel %q read back as %v", ch, got)
			}
		}
	}
	t.Run("fresh schema", func(t *testing.T) { check(t, OpenTest(t)) })
	t.Run("migrated from 128 characters (SQLite)", func(t *testing.T) {
		s, err := Open(ctx, Options{Driver: DialectSQLite, Path: filepath.Join(t.TempDir(), "old.db")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		migrateFromV1(t, s)
		check(t, s)
	})
	if pg := OpenTest(t); pg.Dialect == DialectPostgres {
		t.Run("migrated from 128 characters (PostgreSQL)", func(t *testing.T) {
			// OpenTest migrated it: put the old columns back first.
			for _, q := range []string{
				`DROP INDEX IF EXISTS idx_chat_messages_parent`,
				`ALTER TABLE chat_messages ALTER COLUMN channel TYPE varchar(128), ALTER COLUMN ts TYPE varchar(64)`,
			} {
				if err := pg.db.Exec(q).Error; err != nil {
					t.Fatal(err)
				}
			}
			migrateFromV1(t, pg)
			check(t, pg)
		})
	}
}

// migrateFromV1 makes chat_messages with the old columns (if it is not
// there), stores a row, migrates and checks the row survived.
func migrateFromV1(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	if err := s.db.AutoMigrate(&chatMessageV1{}); err != nil {
		t.Fatal(err)
	}
	old := chatMessageV1{CaseID: 1, Platform: "slack", Channel: "C0OFFBOARD", TS: "1712345678.000100", Kind: ChatKindStatus}
	if err := s.db.Create(&old).Error; err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	ms, err := s.ChatMessagesFor(ctx, 1, "slack", ChatKindStatus)
	if err != nil || len(ms) != 1 || ms[0].Channel != old.Channel || ms[0].TS != old.TS {
		t.Fatalf("the old row after the migration: %v %v", ms, err)
	}
}
