// Package replay owns the replay stores of Kinetic's signed inbound requests
// (Slack's requests and the HR webhooks): one interface, Store, with an
// in-process implementation (Memory) for a single replica and tests, and a
// Redis one (Redis) that every replica sharing the Redis sees.
package replay

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Store remembers which signed requests were already accepted.
type Store interface {
	// SeenBefore atomically records key for ttl and reports whether it was
	// already recorded and not yet expired. Two concurrent calls with the
	// same key must not both return false. An error means the store could
	// not tell; the caller then refuses the request.
	SeenBefore(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// Forget removes key, so that the sender may retry a request whose
	// handling failed on our side. Forgetting an absent key is no error.
	Forget(ctx context.Context, key string) error
}

// DefaultCapacity bounds a Memory made with capacity <= 0. Only requests
// with a valid signature are recorded, so filling it takes more than 300
// genuine requests a second for five minutes.
const DefaultCapacity = 100_000

// Memory is a bounded, expiring, in-process Store, safe for concurrent use.
//
// It is per process: each replica of `kinetic serve` has its own, so a
// replay that a load balancer routes to another replica than the original
// is accepted there. Use Redis when running more than one replica.
//
// When full, it evicts the entry closest to expiry — the one whose request
// is nearest to being refused as stale anyway — and counts the eviction
// (Evicted) so that a flood is visible.
type Memory struct {
	mu      sync.Mutex
	max     int
	now     func() time.Time
	entries map[string]time.Time
	byTime  expiryHeap
	evicted uint64
}

// NewMemory returns an empty store holding at most capacity entries
// (DefaultCapacity when capacity <= 0), on clock now (nil means time.Now).
func NewMemory(capacity int, now func() time.Time) *Memory {
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	if now == nil {
		now = time.Now
	}
	return &Memory{max: capacity, now: now, entries: make(map[string]time.Time)}
}

// SeenBefore implements Store. It never returns an error.
func (m *Memory) SeenBefore(_ context.Context, key string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.expire(now)
	if exp, ok := m.entries[key]; ok && exp.After(now) {
		return true, nil
	}
	for len(m.entries) >= m.max && m.byTime.Len() > 0 {
		it := heap.Pop(&m.byTime).(expiryItem)
		if m.entries[it.key].Equal(it.at) {
			delete(m.entries, it.key)
			m.evicted++
		}
	}
	at := now.Add(ttl)
	m.entries[key] = at
	heap.Push(&m.byTime, expiryItem{key: key, at: at})
	return false, nil
}

// Forget implements Store. It never returns an error. The key's heap item
// stays until its time (the map holds the live expiry).
func (m *Memory) Forget(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.entries, key)
	return nil
}

// expire drops every entry whose time has come. Heap items whose key was
// re-recorded or forgotten since are skipped (the map holds the live
// expiry).
func (m *Memory) expire(now time.Time) {
	for m.byTime.Len() > 0 && !m.byTime[0].at.After(now) {
		it := heap.Pop(&m.byTime).(expiryItem)
		if at, ok := m.entries[it.key]; ok && at.Equal(it.at) {
			delete(m.entries, it.key)
		}
	}
}

// Len returns the number of entries held, expired ones included until the
// next SeenBefore sweeps them.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// Evicted returns how many unexpired entries were dropped because the store
// was full.
func (m *Memory) Evicted() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.evicted
}

type expiryItem struct {
	key string
	at  time.Time
}

type expiryHeap []expiryItem

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryItem)) }
func (h *expiryHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

// The key prefixes each front end writes under; they are the ones deployed
// replicas already use, so a mixed rollout shares its replay record.
const (
	// SlackPrefix prefixes the keys of Slack's request signatures.
	SlackPrefix = "kinetic:slack:replay:"
	// HRPrefix prefixes the keys of the HR webhooks' signatures.
	HRPrefix = "kinetic:hr:replay:"
)

// Redis is a Store in Redis, shared by every replica that points at the same
// Redis: SET key 1 NX PX ttl succeeds for the first delivery only, and Redis
// expires the key. A replay — to another replica, or after a restart — is
// refused.
type Redis struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewRedis returns a store using rdb (a *redis.Client, *redis.ClusterClient
// or *redis.Ring) with keys under prefix (SlackPrefix or HRPrefix).
func NewRedis(rdb redis.UniversalClient, prefix string) *Redis {
	return &Redis{rdb: rdb, prefix: prefix}
}

// SeenBefore implements Store with SET NX PX. ttl is rounded up to a whole
// millisecond (at least 1 ms).
func (r *Redis) SeenBefore(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	ms := max((ttl + time.Millisecond - 1).Milliseconds(), 1)
	err := r.rdb.Do(ctx, "SET", r.prefix+key, "1", "NX", "PX", ms).Err()
	switch {
	case err == nil:
		return false, nil // set: first time
	case errors.Is(err, redis.Nil):
		return true, nil // NX refused: already there
	default:
		return false, fmt.Errorf("redis replay store: %w", err)
	}
}

// Forget implements Store with DEL.
func (r *Redis) Forget(ctx context.Context, key string) error {
	if err := r.rdb.Del(ctx, r.prefix+key).Err(); err != nil {
		return fmt.Errorf("redis replay store: %w", err)
	}
	return nil
}
