package hr

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sirupsen/logrus"
)

// The Redis replay store remembers a signature for its time to live,
// forgets it on Remove, and lets Redis expire it.
func TestRedisReplayStore(t *testing.T) {
	e := newEnv(t, testConfig(), nil)
	s := NewRedisReplayStore(e.kit.RDB)
	ctx := context.Background()
	for i, want := range []bool{true, false, false} {
		fresh, err := s.Add(ctx, "src:abc", time.Minute)
		if err != nil || fresh != want {
			t.Fatalf("add %d = %t, %v; want %t", i, fresh, err, want)
		}
	}
	if err := s.Remove(ctx, "src:abc"); err != nil {
		t.Fatal(err)
	}
	if fresh, _ := s.Add(ctx, "src:abc", time.Minute); !fresh {
		t.Fatal("a removed signature still counts as seen")
	}
	if ttl := e.kit.RDB.PTTL(ctx, RedisReplayPrefix+"src:abc").Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("ttl %s, want up to a minute", ttl)
	}
}

// When the replay check cannot be made (Redis down), a correctly signed
// webhook is answered 503 — the sender retries — and nothing is recorded.
func TestWebhookWithRedisDownIsRetriedLater(t *testing.T) {
	e := newEnv(t, testConfig(), nil)
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer func() { _ = dead.Close() }()
	mux := http.NewServeMux()
	l := logrus.New()
	l.Out = e.log
	NewHandler(e.cfg, e.kit.Engine, Options{Log: logrus.NewEntry(l), Replay: NewRedisReplayStore(dead)}).Mount(mux)
	e.mux = mux
	body := []byte(`{"eventType":"EmployeeTermination","userId":"E1","email":"erin@example.test","endDate":"` +
		localDate(time.Now(), 5) + `T00:00:00Z","reason":"resigned","involuntary":false}`)
	rec := e.postSF(body, "sf-down")
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("answered %d %s, want 503", rec.Code, rec.Body)
	}
	e.nothingRecorded()
}
