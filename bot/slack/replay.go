package slackbot

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ReplayStore remembers which signed requests were already accepted.
//
// SeenBefore atomically records key for ttl and reports whether it was
// already recorded and not yet expired. Two concurrent calls with the same
// key must not both return false. An error means the store could not tell;
// the Verifier then refuses the request.
type ReplayStore interface {
	SeenBefore(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// DefaultReplayCapacity bounds the in-memory replay cache. Only requests
// with a valid signature are recorded, so filling it takes more than 300
// genuine Slack requests a second for five minutes.
const DefaultReplayCapacity = 100_000

// MemoryReplayStore is a bounded, expiring, in-process ReplayStore, safe for
// concurrent use.
//
// It is per process: each replica of `kinetic serve` has its own, so a
// replay that a load balancer routes to another replica than the original
// is accepted there. Use RedisReplayStore when running more than one
// replica.
//
// When full, it evicts the entry closest to expiry — the one whose request
// is nearest to being refused as stale anyway — and counts the eviction
// (Evicted) so that a flood is visible.
type MemoryReplayStore struct {
	mu      sync.Mutex
	max     int
	now     func() time.Time
	entries map[string]time.Time
	byTime  expiryHeap
	evicted uint64
}

// NewMemoryReplayStore returns an empty store holding at most capacity
// entries (DefaultReplayCapacity when capacity <= 0), on clock now (nil means
// time.Now).
func NewMemoryReplayStore(capacity int, now func() time.Time) *MemoryReplayStore {
	if capacity <= 0 {
		capacity = DefaultReplayCapacity
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryReplayStore{max: capacity, now: now, entries: make(map[string]time.Time)}
}

// SeenBefore implements ReplayStore. It never returns an error.
func (m *MemoryReplayStore) SeenBefore(_ context.Context, key string, ttl time.Duration) (bool, error) {
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

// expire drops every entry whose time has come. Heap items whose key was
// re-recorded since are skipped (the map holds the live expiry).
func (m *MemoryReplayStore) expire(now time.Time) {
	for m.byTime.Len() > 0 && !m.byTime[0].at.After(now) {
		it := heap.Pop(&m.byTime).(expiryItem)
		if m.entries[it.key].Equal(it.at) {
			delete(m.entries, it.key)
		}
	}
}

// Len returns the number of entries held, expired ones included until the
// next SeenBefore sweeps them.
func (m *MemoryReplayStore) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// Evicted returns how many unexpired entries were dropped because the store
// was full.
func (m *MemoryReplayStore) Evicted() uint64 {
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

// DefaultRedisReplayPrefix prefixes RedisReplayStore keys.
const DefaultRedisReplayPrefix = "kinetic:slack:replay:"

// RedisReplayStore is a ReplayStore in Redis, shared by every replica that
// points at the same Redis: SET key 1 NX PX ttl succeeds for the first
// delivery only, and Redis expires the key.
type RedisReplayStore struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewRedisReplayStore returns a store using rdb (a *redis.Client,
// *redis.ClusterClient or *redis.Ring) with keys under prefix
// (DefaultRedisReplayPrefix when empty).
func NewRedisReplayStore(rdb redis.UniversalClient, prefix string) *RedisReplayStore {
	if prefix == "" {
		prefix = DefaultRedisReplayPrefix
	}
	return &RedisReplayStore{rdb: rdb, prefix: prefix}
}

// SeenBefore implements ReplayStore with SET NX PX. ttl is rounded up to a
// whole millisecond (at least 1 ms).
func (r *RedisReplayStore) SeenBefore(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	ms := (ttl + time.Millisecond - 1).Milliseconds()
	if ms < 1 {
		ms = 1
	}
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
