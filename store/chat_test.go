package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func testClaimOn(t *testing.T, s *Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	ref := ChatMessage{CaseID: 7, Platform: "slack", Channel: "C0OFFBOARD", Kind: ChatKindStatus}

	t.Run("of concurrent claimers exactly one wins", func(t *testing.T) {
		var wins sync.Map
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, won, err := s.ClaimChatMessage(ctx, ref, now, 30*time.Second)
				if err != nil {
					t.Errorf("claim %d: %v", i, err)
				}
				if won {
					wins.Store(i, true)
				}
			}()
		}
		wg.Wait()
		n := 0
		wins.Range(func(any, any) bool { n++; return true })
		if n != 1 {
			t.Fatalf("%d claimers won, want 1", n)
		}
	})

	t.Run("a fresh unposted claim is not taken over; a stale one is, once", func(t *testing.T) {
		got, won, err := s.ClaimChatMessage(ctx, ref, now.Add(10*time.Second), 30*time.Second)
		if err != nil || won || got.TS != "" || got.ID == 0 {
			t.Fatalf("fresh claim: %+v won=%v err=%v", got, won, err)
		}
		later := now.Add(31 * time.Second)
		taken, won, err := s.ClaimChatMessage(ctx, ref, later, 30*time.Second)
		if err != nil || !won || taken.ID != got.ID {
			t.Fatalf("stale claim: %+v won=%v err=%v", taken, won, err)
		}
		if _, won, _ := s.ClaimChatMessage(ctx, ref, later, 30*time.Second); won {
			t.Fatal("a claim just taken over was taken over again")
		}
		if err := s.FillChatMessage(ctx, taken.ID, "1700000000.000001", later); err != nil {
			t.Fatal(err)
		}
		if err := s.FillChatMessage(ctx, taken.ID, "1700000000.000002", later); !errors.Is(err, ErrClaimLost) {
			t.Fatalf("filling a posted claim again: %v, want ErrClaimLost", err)
		}
		cur, won, err := s.ClaimChatMessage(ctx, ref, later.Add(time.Hour), 30*time.Second)
		if err != nil || won || cur.TS != "1700000000.000001" {
			t.Fatalf("claim of a posted message: %+v won=%v err=%v", cur, won, err)
		}
		if err := s.ReleaseChatMessage(ctx, cur.ID); err != nil {
			t.Fatal(err)
		}
		var n int64
		s.db.Model(&ChatMessage{}).Where("id = ?", cur.ID).Count(&n)
		if n != 1 {
			t.Fatal("releasing a posted message deleted it")
		}
	})

	t.Run("a released claim can be claimed again", func(t *testing.T) {
		dm := ChatMessage{CaseID: 7, Platform: "slack", Channel: "DUMIA", Kind: ChatKindDM}
		c, won, err := s.ClaimChatMessage(ctx, dm, now, 30*time.Second)
		if err != nil || !won {
			t.Fatalf("claim: won=%v err=%v", won, err)
		}
		if err := s.ReleaseChatMessage(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		if _, won, err := s.ClaimChatMessage(ctx, dm, now, 30*time.Second); err != nil || !won {
			t.Fatalf("claim after release: won=%v err=%v", won, err)
		}
		// Another DM channel of the same case is its own message.
		if _, won, err := s.ClaimChatMessage(ctx, ChatMessage{CaseID: 7, Platform: "slack", Channel: "DUHAL", Kind: ChatKindDM}, now, 30*time.Second); err != nil || !won {
			t.Fatalf("claim of another DM: won=%v err=%v", won, err)
		}
	})

	t.Run("thread replies are not unique", func(t *testing.T) {
		for range 2 {
			if err := s.db.Create(&ChatMessage{CaseID: 7, Platform: "slack", Channel: "C0OFFBOARD", TS: "1.1", Kind: "thread"}).Error; err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := s.ClaimChatMessage(ctx, ChatMessage{CaseID: 7, Platform: "slack", Channel: "C0OFFBOARD", Kind: "thread"}, now, time.Second); err == nil {
			t.Fatal("claiming a thread reply: want an error")
		}
	})
}

func TestClaimChatMessage(t *testing.T) {
	testClaimOn(t, OpenTest(t))
}

func TestClaimChatMessageSQLite(t *testing.T) {
	testClaimOn(t, OpenTestSQLite(t))
}

// TestMigrateDedupesParentMessages: refs of duplicate parent messages
// posted before the unique index existed are reduced to the first, so the
// index can be built.
func TestMigrateDedupesParentMessages(t *testing.T) {
	for name, open := range map[string]func(testing.TB) *Store{"default": OpenTest, "sqlite": OpenTestSQLite} {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			ctx := context.Background()
			if err := s.db.Exec("DROP INDEX idx_chat_messages_parent").Error; err != nil {
				t.Fatal(err)
			}
			for _, m := range []ChatMessage{
				{CaseID: 1, Platform: "slack", Channel: "C1", TS: "1.1", Kind: ChatKindStatus},
				{CaseID: 1, Platform: "slack", Channel: "C1", TS: "1.2", Kind: ChatKindStatus},
				{CaseID: 1, Platform: "slack", Channel: "C1", TS: "1.3", Kind: "thread"},
				{CaseID: 1, Platform: "slack", Channel: "C1", TS: "1.4", Kind: "thread"},
				{CaseID: 2, Platform: "slack", Channel: "C1", TS: "2.1", Kind: ChatKindStatus},
			} {
				if err := s.db.Create(&m).Error; err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			var ts []string
			s.db.Model(&ChatMessage{}).Order("id").Pluck("ts", &ts)
			if want := []string{"1.1", "1.3", "1.4", "2.1"}; len(ts) != len(want) || ts[0] != "1.1" || ts[1] != "1.3" || ts[2] != "1.4" || ts[3] != "2.1" {
				t.Fatalf("refs after migrate: %v, want %v", ts, want)
			}
			if err := s.db.Create(&ChatMessage{CaseID: 1, Platform: "slack", Channel: "C1", TS: "1.5", Kind: ChatKindStatus}).Error; !IsUniqueViolation(err) {
				t.Fatalf("a second status ref after migrate: %v, want a unique violation", err)
			}
		})
	}
}
