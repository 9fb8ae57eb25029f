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

// Acquire implements engine.Gate: one request from the rate limit (the
// action's Do) and a concurrency slot.
func (g *Gate) Acquire(ctx context.Context, in *connectors.Instance) (func(), time.Duration, error) {
	deadline := time.Now().Add(g.MaxWait)
	if wait, err := g.take(ctx, in, deadline); err != nil || wait > 0 {
		return nil, wait, err
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

// Take implements engine.Gate: one more request from the rate limit, for a
// further call (the read-back, a discovery lookup), waiting up to maxWait.
func (g *Gate) Take(ctx context.Context, in *connectors.Instance, maxWait time.Duration) (bool, error) {
	wait, err := g.take(ctx, in, time.Now().Add(maxWait))
	return err == nil && wait == 0, err
}

// take takes one request from in's rate limit, sleeping in place while the
// next free request comes before deadline. A positive wait means none is
// free before deadline (nothing was taken).
//
// The limiter is GCRA (redis_rate) at (requests − burst) per period with
// bursts of burst: in any window of one period at most requests calls are
// admitted, which is how vendors count a "600 per minute" limit (a sliding
// window). GCRA at the full rate plus a burst would admit up to
// requests + burst in a window and collect 429s.
func (g *Gate) take(ctx context.Context, in *connectors.Instance, deadline time.Time) (time.Duration, error) {
	rl := in.RateLimit
	if rl.Requests <= 0 || rl.Per <= 0 {
		return 0, nil
	}
	limit := gcra(rl)
	for {
		res, err := g.limiter.Allow(ctx, "kinetic:rate:"+in.Name, limit)
		if err != nil {
			return 0, fmt.Errorf("rate limiter: %w", err)
		}
		if res.Allowed > 0 {
			return 0, nil
		}
		g.waits.WithLabelValues(in.Name, "rate").Inc()
		if time.Now().Add(res.RetryAfter).After(deadline) {
			return max(res.RetryAfter, time.Millisecond), nil
		}
		if err := sleep(ctx, res.RetryAfter); err != nil {
			return 0, err
		}
	}
}

// gcra is the limiter setting that keeps every window of rl.Per at or under
// rl.Requests: the burst comes out of the sustained rate.
func gcra(rl connectors.RateLimit) redis_rate.Limit {
	burst := min(max(rl.Burst, 1), rl.Requests)
	rate := rl.Requests - burst
	if rate < 1 { // a burst of the whole budget: pace at the budget instead
		rate, burst = rl.Requests, 1
	}
	return redis_rate.Limit{Rate: rate, Period: rl.Per, Burst: burst}
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

// Collect implements prometheus.Collector: Queue and QueueFirst together
// (a queue not created yet reads as empty).
func (c QueueCollector) Collect(ch chan<- prometheus.Metric) {
	var pending, active, scheduled, retry int
	for _, q := range []string{Queue, QueueFirst} {
		if info, err := c.D.inspector.GetQueueInfo(q); err == nil {
			pending, active, scheduled, retry = pending+info.Pending, active+info.Active, scheduled+info.Scheduled, retry+info.Retry
		}
	}
	ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(pending), "pending")
	ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(active), "active")
	ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(scheduled), "scheduled")
	ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(retry), "retry")
}
