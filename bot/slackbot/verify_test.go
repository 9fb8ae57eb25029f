package slackbot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kineticsec/kinetic/internal/replay"
	"github.com/kineticsec/kinetic/internal/testenv"
)

// redisDB is this package's Redis database in the shared test Redis.
const redisDB = 11

func headers(ts, sig string) http.Header {
	h := http.Header{}
	if ts != "" {
		h.Set(HeaderTimestamp, ts)
	}
	if sig != "" {
		h.Set(HeaderSignature, sig)
	}
	return h
}

func TestVerify(t *testing.T) {
	body := []byte(commandBody("@dana"))
	ts, sig := Sign(testSecret, testNow, body)
	_, forgedSig := Sign("not-the-secret", testNow, body)
	oldTS, oldSig := Sign(testSecret, testNow.Add(-6*time.Minute), body)
	futTS, futSig := Sign(testSecret, testNow.Add(6*time.Minute), body)
	edgeTS, edgeSig := Sign(testSecret, testNow.Add(-MaxSkew), body)
	aheadTS, aheadSig := Sign(testSecret, testNow.Add(MaxSkew), body)

	tests := []struct {
		name   string
		header http.Header
		body   []byte
		want   error
	}{
		{"valid", headers(ts, sig), body, nil},
		{"exactly five minutes old is still accepted", headers(edgeTS, edgeSig), body, nil},
		{"exactly five minutes ahead is still accepted", headers(aheadTS, aheadSig), body, nil},
		{"unsigned: no headers", http.Header{}, body, ErrUnsigned},
		{"unsigned: no signature", headers(ts, ""), body, ErrUnsigned},
		{"unsigned: no timestamp", headers("", sig), body, ErrUnsigned},
		{"unsigned: timestamp not a number", headers("yesterday", sig), body, ErrUnsigned},
		{"unsigned: negative timestamp", headers("-1700000000", sig), body, ErrUnsigned},
		{"unsigned: timestamp with a plus sign", headers("+1700000000", sig), body, ErrUnsigned},
		{"unsigned: other scheme", headers(ts, "v1="+strings.TrimPrefix(sig, "v0=")), body, ErrUnsigned},
		{"unsigned: not hex", headers(ts, "v0="+strings.Repeat("z", 64)), body, ErrUnsigned},
		{"unsigned: short signature", headers(ts, sig[:40]), body, ErrUnsigned},
		{"forged: wrong secret", headers(ts, forgedSig), body, ErrForged},
		{"forged: tampered body", headers(ts, sig), []byte(commandBody("@ceo")), ErrForged},
		{"forged: body with a byte appended", headers(ts, sig), append(append([]byte{}, body...), '&'), ErrForged},
		{"forged: timestamp changed", headers(fmt.Sprint(testNow.Unix()+1), sig), body, ErrForged},
		{"stale: six minutes old", headers(oldTS, oldSig), body, ErrStale},
		{"stale: six minutes in the future", headers(futTS, futSig), body, ErrStale},
		{"stale: year 1970", headers("0", sig), body, ErrStale},
		{"stale: far future", headers("999999999999", sig), body, ErrStale},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := NewVerifier(testSecret, fixedClock)
			err := v.Verify(tc.header, tc.body)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			if err != nil {
				if strings.Contains(err.Error(), testSecret) {
					t.Errorf("error text contains the signing secret: %v", err)
				}
				if s := tc.header.Get(HeaderSignature); len(s) > 10 && strings.Contains(err.Error(), strings.TrimPrefix(s, "v0=")) {
					t.Errorf("error text contains the signature: %v", err)
				}
			}
		})
	}
}

func TestVerifyReplay(t *testing.T) {
	body := []byte(commandBody("@dana"))
	ts, sig := Sign(testSecret, testNow, body)

	t.Run("the same request twice: the second is a replay", func(t *testing.T) {
		v := NewVerifier(testSecret, fixedClock)
		if err := v.Verify(headers(ts, sig), body); err != nil {
			t.Fatal(err)
		}
		if err := v.Verify(headers(ts, sig), body); !errors.Is(err, ErrReplayed) {
			t.Fatalf("second delivery: %v, want ErrReplayed", err)
		}
	})
	t.Run("upper-case hex is the same signature", func(t *testing.T) {
		v := NewVerifier(testSecret, fixedClock)
		if err := v.Verify(headers(ts, sig), body); err != nil {
			t.Fatal(err)
		}
		upper := "v0=" + strings.ToUpper(strings.TrimPrefix(sig, "v0="))
		if err := v.Verify(headers(ts, upper), body); !errors.Is(err, ErrReplayed) {
			t.Fatalf("upper-case replay: %v, want ErrReplayed", err)
		}
	})
	t.Run("a forged body cannot burn a genuine signature", func(t *testing.T) {
		v := NewVerifier(testSecret, fixedClock)
		if err := v.Verify(headers(ts, sig), []byte("garbage")); !errors.Is(err, ErrForged) {
			t.Fatalf("garbage body: %v", err)
		}
		if err := v.Verify(headers(ts, sig), body); err != nil {
			t.Fatalf("the genuine request was refused after a forgery: %v", err)
		}
	})
	t.Run("once out of the window a replay is stale and forgotten", func(t *testing.T) {
		now := testNow
		v := NewVerifier(testSecret, func() time.Time { return now })
		if err := v.Verify(headers(ts, sig), body); err != nil {
			t.Fatal(err)
		}
		now = testNow.Add(MaxSkew + 2*time.Second)
		if err := v.Verify(headers(ts, sig), body); !errors.Is(err, ErrStale) {
			t.Fatalf("after the window: %v, want ErrStale", err)
		}
		// A fresh request sweeps the expired entry.
		ts2, sig2 := Sign(testSecret, now, body)
		if err := v.Verify(headers(ts2, sig2), body); err != nil {
			t.Fatal(err)
		}
		if n := v.replay.(*replay.Memory).Len(); n != 1 {
			t.Errorf("replay cache holds %d entries, want 1 (the expired one swept)", n)
		}
	})
	t.Run("concurrent duplicates: exactly one is accepted", func(t *testing.T) {
		v := NewVerifier(testSecret, fixedClock)
		var accepted, replayed atomic.Int32
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				switch err := v.Verify(headers(ts, sig), body); {
				case err == nil:
					accepted.Add(1)
				case errors.Is(err, ErrReplayed):
					replayed.Add(1)
				default:
					t.Errorf("unexpected %v", err)
				}
			})
		}
		wg.Wait()
		if accepted.Load() != 1 || replayed.Load() != 49 {
			t.Fatalf("accepted %d, replayed %d", accepted.Load(), replayed.Load())
		}
	})
}

func TestVerifyWithoutSecretRefusesEverything(t *testing.T) {
	body := []byte("command=%2Foffboard")
	ts, sig := Sign("", testNow, body) // anyone can compute this
	err := NewVerifier("", fixedClock).Verify(headers(ts, sig), body)
	if !errors.Is(err, ErrForged) {
		t.Fatalf("empty secret: %v, want ErrForged", err)
	}
}

type failingStore struct{}

func (failingStore) SeenBefore(context.Context, string, time.Duration) (bool, error) {
	return false, errors.New("connection refused")
}

func (failingStore) Forget(context.Context, string) error { return errors.New("connection refused") }

func TestVerifyFailsClosedWhenTheReplayStoreIsDown(t *testing.T) {
	body := []byte("command=%2Foffboard")
	ts, sig := Sign(testSecret, testNow, body)
	err := NewVerifier(testSecret, fixedClock, WithReplayStore(failingStore{})).Verify(headers(ts, sig), body)
	if !errors.Is(err, ErrReplayCheck) {
		t.Fatalf("%v, want ErrReplayCheck", err)
	}
}

// Replicas sharing Redis (replay.Redis under the Slack prefix) catch each
// other's replays. The store's own tests are in internal/replay.
func TestReplicasSharingRedisCatchEachOthersReplays(t *testing.T) {
	addr, db := testenv.RedisAddr(t, redisDB)
	rdb := redis.NewClient(&redis.Options{Addr: addr, DB: db})
	t.Cleanup(func() { _ = rdb.Close() })
	body := []byte(commandBody("@dana shared"))
	ts, sig := Sign(testSecret, testNow, body)
	replicaA := NewVerifier(testSecret, fixedClock, WithReplayStore(replay.NewRedis(rdb, replay.SlackPrefix)))
	replicaB := NewVerifier(testSecret, fixedClock, WithReplayStore(replay.NewRedis(rdb, replay.SlackPrefix)))
	if err := replicaA.Verify(headers(ts, sig), body); err != nil {
		t.Fatal(err)
	}
	if err := replicaB.Verify(headers(ts, sig), body); !errors.Is(err, ErrReplayed) {
		t.Fatalf("replay on the other replica: %v, want ErrReplayed", err)
	}
}
