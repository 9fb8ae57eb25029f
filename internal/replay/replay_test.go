package replay

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kineticsec/kinetic/internal/testenv"
)

// redisDB is this package's Redis database in the shared test Redis.
const redisDB = 14

var testNow = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return testNow }

func TestMemory(t *testing.T) {
	ctx := context.Background()
	t.Run("expiring", func(t *testing.T) {
		now := testNow
		m := NewMemory(10, func() time.Time { return now })
		if seen, _ := m.SeenBefore(ctx, "a", time.Minute); seen {
			t.Fatal("new key seen")
		}
		if seen, _ := m.SeenBefore(ctx, "a", time.Minute); !seen {
			t.Fatal("key not remembered")
		}
		now = now.Add(time.Minute)
		if seen, _ := m.SeenBefore(ctx, "a", time.Minute); seen {
			t.Fatal("key remembered past its ttl")
		}
	})
	t.Run("bounded: the entry nearest expiry is evicted", func(t *testing.T) {
		m := NewMemory(3, fixedClock)
		for i, key := range []string{"soon", "later", "latest"} {
			_, _ = m.SeenBefore(ctx, key, time.Duration(i+1)*time.Minute)
		}
		_, _ = m.SeenBefore(ctx, "new", 4*time.Minute)
		if m.Len() != 3 || m.Evicted() != 1 {
			t.Fatalf("len %d evicted %d", m.Len(), m.Evicted())
		}
		if seen, _ := m.SeenBefore(ctx, "later", time.Minute); !seen {
			t.Error("evicted the wrong entry")
		}
	})
	t.Run("stays bounded under load", func(t *testing.T) {
		m := NewMemory(1000, fixedClock)
		for i := range 5000 {
			_, _ = m.SeenBefore(ctx, fmt.Sprint(i), time.Minute)
		}
		if m.Len() != 1000 || len(m.byTime) != 1000 {
			t.Fatalf("len %d heap %d", m.Len(), len(m.byTime))
		}
	})
	// Formerly bot/hr's TestReplayCache: a second use inside the window is
	// refused, an expired or forgotten entry is not, and a full store keeps
	// the newest entry.
	t.Run("forget, expiry and the bound, as the HR webhooks use it", func(t *testing.T) {
		now := time.Unix(1_800_000_000, 0)
		m := NewMemory(3, func() time.Time { return now })
		add := func(key string, at time.Time) bool {
			now = at
			seen, err := m.SeenBefore(ctx, key, 10*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			return !seen
		}
		if !add("a", now) || add("a", now.Add(time.Minute)) {
			t.Fatal("a second use inside the window was accepted")
		}
		if !add("a", now.Add(11*time.Minute)) {
			t.Fatal("an expired entry still refuses")
		}
		if err := m.Forget(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if !add("a", now.Add(time.Minute)) {
			t.Fatal("a removed entry still refuses")
		}
		base := now
		for i, k := range []string{"b", "c", "d", "e"} {
			if !add(k, base.Add(time.Duration(i)*time.Second)) {
				t.Fatalf("%s refused", k)
			}
		}
		if n := m.Len(); n > 3 {
			t.Fatalf("%d entries, bound is 3", n)
		}
		if add("e", base.Add(time.Minute)) {
			t.Fatal("the newest entry was evicted")
		}
	})
	t.Run("a forgotten key does not outlive a re-recorded one", func(t *testing.T) {
		now := testNow
		m := NewMemory(10, func() time.Time { return now })
		_, _ = m.SeenBefore(ctx, "k", time.Minute)
		_ = m.Forget(ctx, "k")
		now = now.Add(30 * time.Second)
		_, _ = m.SeenBefore(ctx, "k", time.Minute) // expires at +90s
		now = now.Add(40 * time.Second)            // +70s: the first heap item's time has come
		if seen, _ := m.SeenBefore(ctx, "k", time.Minute); !seen {
			t.Fatal("the old heap item swept the re-recorded key")
		}
	})
}

func TestRedis(t *testing.T) {
	ctx := context.Background()
	addr, db := testenv.RedisAddr(t, redisDB)
	rdb := redis.NewClient(&redis.Options{Addr: addr, DB: db})
	t.Cleanup(func() { _ = rdb.Close() })

	t.Run("SET NX PX semantics", func(t *testing.T) {
		store := NewRedis(rdb, SlackPrefix)
		if seen, err := store.SeenBefore(ctx, "k1", 90*time.Second); err != nil || seen {
			t.Fatalf("first: %v %v", seen, err)
		}
		if seen, err := store.SeenBefore(ctx, "k1", 90*time.Second); err != nil || !seen {
			t.Fatalf("second: %v %v", seen, err)
		}
		pttl, err := rdb.PTTL(ctx, "kinetic:slack:replay:k1").Result()
		if err != nil || pttl <= 0 || pttl > 90*time.Second {
			t.Fatalf("PTTL %s %v: the key must expire", pttl, err)
		}
	})
	// Formerly bot/hr's TestRedisReplayStore: the HR keys keep their
	// prefix, Forget lets the sender retry, and Redis expires the key.
	t.Run("the HR prefix, Forget and expiry", func(t *testing.T) {
		s := NewRedis(rdb, HRPrefix)
		for i, want := range []bool{true, false, false} {
			seen, err := s.SeenBefore(ctx, "src:abc", time.Minute)
			if err != nil || !seen != want {
				t.Fatalf("add %d = %t, %v; want %t", i, !seen, err, want)
			}
		}
		if err := s.Forget(ctx, "src:abc"); err != nil {
			t.Fatal(err)
		}
		if seen, _ := s.SeenBefore(ctx, "src:abc", time.Minute); seen {
			t.Fatal("a removed signature still counts as seen")
		}
		if ttl := rdb.PTTL(ctx, "kinetic:hr:replay:src:abc").Val(); ttl <= 0 || ttl > time.Minute {
			t.Fatalf("ttl %s, want up to a minute", ttl)
		}
	})
	t.Run("an unreachable Redis is an error, not a pass", func(t *testing.T) {
		dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1, DialTimeout: 200 * time.Millisecond})
		t.Cleanup(func() { _ = dead.Close() })
		if _, err := NewRedis(dead, SlackPrefix).SeenBefore(ctx, "k", time.Second); err == nil {
			t.Fatal("no error from an unreachable Redis")
		}
		if err := NewRedis(dead, HRPrefix).Forget(ctx, "k"); err == nil {
			t.Fatal("no error from an unreachable Redis")
		}
	})
}
