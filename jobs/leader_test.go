package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/kineticsec/kinetic/jobs"
)

func TestMetricsLeaderOneHolderAtATime(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	a := jobs.MetricsLeader{RDB: rdb, ID: "a", Lease: time.Minute}
	b := jobs.MetricsLeader{RDB: rdb, ID: "b", Lease: time.Minute}
	if !a.Hold(ctx) {
		t.Fatal("a did not take a free lease")
	}
	if b.Hold(ctx) {
		t.Fatal("b holds a lease a holds")
	}
	if !a.Hold(ctx) {
		t.Fatal("a lost its own lease on renewal")
	}
	mr.FastForward(2 * time.Minute) // a stops being scraped: its lease lapses
	if !b.Hold(ctx) {
		t.Fatal("b did not take the lapsed lease")
	}
	if a.Hold(ctx) {
		t.Fatal("a holds b's lease")
	}
	mr.Close()
	if b.Hold(ctx) {
		t.Fatal("with Redis down the holder still claims the lease (gauges could double)")
	}
}
