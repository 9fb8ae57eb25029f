package jobs

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// MetricsLeaderKey is the Redis key of the metrics lease.
const MetricsLeaderKey = "kinetic:metrics:leader"

// DefaultMetricsLease is how long a metrics lease lasts without a scrape
// renewing it: above Prometheus's usual 15–60 s scrape interval, so the
// holder keeps it while it is scraped, and another process takes over
// within a minute of the holder going away.
const DefaultMetricsLease = 90 * time.Second

// MetricsLeader elects the one process that exports the database-wide
// gauges (kinetic_actions), so a sum() over every serve and worker
// process counts each action once. Each scrape calls Hold, which takes
// the lease if it is free or renews it if this process holds it. While
// a holder dies, its gauges are missing for up to Lease, never doubled.
type MetricsLeader struct {
	RDB redis.UniversalClient
	// ID names this process; it must differ between processes (a fresh
	// random id per start).
	ID string
	// Lease defaults to DefaultMetricsLease.
	Lease time.Duration
}

// holdScript takes the lease when free, renews it when ours: 1 if held.
var holdScript = redis.NewScript(`
local cur = redis.call("GET", KEYS[1])
if cur == false then
  redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
  return 1
end
if cur == ARGV[1] then
  redis.call("PEXPIRE", KEYS[1], ARGV[2])
  return 1
end
return 0`)

// Hold reports whether this process holds the lease, taking or renewing
// it. A Redis error answers false: no gauges rather than doubled ones.
func (l MetricsLeader) Hold(ctx context.Context) bool {
	lease := l.Lease
	if lease <= 0 {
		lease = DefaultMetricsLease
	}
	n, err := holdScript.Run(ctx, l.RDB, []string{MetricsLeaderKey}, l.ID, lease.Milliseconds()).Int()
	return err == nil && n == 1
}
