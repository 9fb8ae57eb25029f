package jobs

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/kineticsec/kinetic/connectors"
)

// Gate enforces each connector instance's rate limit (GCRA through
// redis_rate) and concurrency cap (a Redis sorted set of leased slots) for
// every worker process that shares the Redis. It implements engine.Gate.
//
// A short wait (up to MaxWait) is spent in the worker; a longer one is
// handed back to the engine, which re-dispatches the action for later
// instead of holding a worker slot.
type Gate struct {
	rdb     redis.UniversalClient
	limiter *redis_rate.Limiter
	// MaxWait is the longest a worker waits in place; default 2s.
	MaxWait time.Duration
	waits   *prometheus.CounterVec
}

// NewGate builds a gate on rdb. reg may be nil.
func NewGate(rdb redis.UniversalClient, reg prometheus.Registerer) *Gate {
	g := &Gate{rdb: rdb, limiter: redis_rate.NewLimiter(rdb), MaxWait: 2 * time.Second,
		waits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kinetic_connector_throttled_total",
			Help: "Times a call waited for a connector's shared rate limit or concurrency cap, by connector and reason.",
		}, []string{"connector", "reason"})}
	if reg != nil {
		reg.MustRegister(g.waits)
	}
	return g
}

// acquireSlot takes a concurrency slot unless limit slots are live. Slots
// expire after ttl so a killed worker's slot frees itself.
var acquireSlot = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`)

// Acquire implements engine.Gate.
func (g *Gate) Acquire(ctx context.Context, in *connectors.Instance) (func(), time.Duration, error) {
	deadline := time.Now().Add(g.MaxWait)
	if rl := in.RateLimit; rl.Requests > 0 && rl.Per > 0 {
		burst := rl.Burst
		if burst <= 0 {
			burst = rl.Requests
		}
		limit := redis_rate.Limit{Rate: rl.Requests, Period: rl.Per, Burst: burst}
		for {
			res, err := g.limiter.Allow(ctx, "kinetic:rate:"+in.Name, limit)
			if err != nil {
				return nil, 0, fmt.Errorf("rate limiter: %w", err)
			}
			if res.Allowed > 0 {
				break
			}
			g.waits.WithLabelValues(in.Name, "rate").Inc()
			if time.Now().Add(res.RetryAfter).After(deadline) {
				return nil, res.RetryAfter, nil
			}
			if err := sleep(ctx, res.RetryAfter); err != nil {
				return nil, 0, err
			}
		}
	}
	if in.Concurrency <= 0 {
		return func() {}, 0, nil
	}
	key := "kinetic:slots:" + in.Name
	token := fmt.Sprintf("%d-%d", time.Now().UnixNano(), rand.Int64())
	ttl := in.Timeout + 10*time.Second
	for {
		now := time.Now()
		ok, err := acquireSlot.Run(ctx, g.rdb, []string{key}, now.UnixMilli(), ttl.Milliseconds(), in.Concurrency, token).Int()
		if err != nil {
			return nil, 0, fmt.Errorf("concurrency slots: %w", err)
		}
		if ok == 1 {
			return func() { g.rdb.ZRem(context.WithoutCancel(ctx), key, token) }, 0, nil
		}
		g.waits.WithLabelValues(in.Name, "concurrency").Inc()
		if now.After(deadline) {
			return nil, 250 * time.Millisecond, nil
		}
		if err := sleep(ctx, time.Duration(10+rand.IntN(40))*time.Millisecond); err != nil {
			return nil, 0, err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// QueueCollector reports the queue's depth by state at scrape time.
type QueueCollector struct{ D *Dispatcher }

var queueDesc = prometheus.NewDesc("kinetic_queue_tasks", "Tasks in Kinetic's queue by state.", []string{"state"}, nil)

// Describe implements prometheus.Collector.
func (c QueueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- queueDesc }

// Collect implements prometheus.Collector.
func (c QueueCollector) Collect(ch chan<- prometheus.Metric) {
	info, err := c.D.inspector.GetQueueInfo(Queue)
	if err != nil {
		// No queue yet (nothing enqueued) reads as empty.
		for _, s := range []string{"pending", "active", "scheduled", "retry"} {
			ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, 0, s)
		}
		return
	}
	ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(info.Pending), "pending")
	ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(info.Active), "active")
	ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(info.Scheduled), "scheduled")
	ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(info.Retry), "retry")
}
