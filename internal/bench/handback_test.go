package bench_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/kineticsec/kinetic/connectors/sandbox"
	"github.com/kineticsec/kinetic/internal/bench"
	"github.com/kineticsec/kinetic/internal/testenv"
	"github.com/kineticsec/kinetic/internal/testwait"
	"github.com/kineticsec/kinetic/store"
)

// handBackPolicy plans one action on a slow system.
const handBackPolicy = `version: 1
defaults:
  sla: {critical: 4h, entitlements: 8h, notifications: 24h}
  max_attempts: 3
  equipment_due: 7d
actions:
  disable_ad: {connector: ad, operation: disable_account, phase: critical}
rules:
  - name: everyone
    when: "true"
    add: [disable_ad]
`

// TestSIGTERMHandsBackTheRunningActionWithoutCountingItsAttempt is issue
// #20's reproduction: SIGTERM reaches the kinetic processes while an
// action is in a connector call longer than workers.shutdown_grace. The
// action must be handed back — requeued at once, lease released, its
// attempt not counted — and finished by a worker started afterwards, with
// no lease lapsing on the way; the stopped processes exit cleanly.
func TestSIGTERMHandsBackTheRunningActionWithoutCountingItsAttempt(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kinetic processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	mr, err := miniredis.Run()
	if err != nil {
		t.Fatal(err)
	}
	defer mr.Close()
	dir := t.TempDir()
	cl, err := bench.NewCluster(bench.ClusterOptions{
		Binary: testenv.Binary(t), Dir: dir, RedisAddr: mr.Addr(),
		Employees: 1, Policy: handBackPolicy,
		// Every call (the discovery lookup, the Do, the read-back) takes
		// 3 s: the call in flight at the signal outlasts the 1 s grace.
		Systems:       []bench.System{{Name: "ad", Latency: 3 * time.Second}},
		Concurrency:   2,
		Lease:         30 * time.Second, // a lapsing lease would be the old, slow path
		Sweep:         5 * time.Second,
		ShutdownGrace: time.Second,
		Log:           testWriter{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.StartServe(ctx); err != nil {
		t.Fatal(err)
	}
	w1, err := cl.StartWorker(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.OpenCases(ctx, 1, 1, "handback"); err != nil {
		t.Fatal(err)
	}
	st := cl.Store()
	var id int64
	testwait.Eventually(t, time.Minute, func() bool {
		ids, err := st.RunningActionIDs(ctx)
		if err == nil && len(ids) == 1 {
			id = ids[0]
		}
		return id != 0
	}, func() string { return "the action never started running" })
	since := time.Now().Add(-time.Minute)

	// Both processes that may be running it (serve works too) get SIGTERM
	// while the call is in flight; no worker is left until w2.
	for _, p := range []*bench.Proc{cl.Serve, w1} {
		if err := cl.Terminate(p); err != nil {
			t.Fatal(err)
		}
	}
	stopped := time.Now()
	for _, p := range []*bench.Proc{cl.Serve, w1} {
		wctx, wcancel := context.WithTimeout(ctx, 40*time.Second)
		err := p.Wait(wctx)
		wcancel()
		if err != nil {
			t.Fatalf("%s after SIGTERM: %v (want a clean exit within the grace and the hand-back)", p.Name, err)
		}
	}
	t.Logf("serve and worker exited %.1f s after SIGTERM (grace 1 s)", time.Since(stopped).Seconds())
	a, err := st.Action(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != store.ActionQueued || a.Attempts != 0 || a.LeaseUntil != nil {
		t.Fatalf("after the processes stopped the action is %s, attempts %d, lease %v; want queued, 0 attempts, no lease (handed back)", a.Status, a.Attempts, a.LeaseUntil)
	}
	events := func() []string {
		evs, err := st.AuditEventsOfActionsSince(ctx, []int64{id}, since)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range evs {
			if e.Event != "action.queued" { // planning's, before the first attempt
				out = append(out, e.Event)
			}
		}
		return out
	}
	if got := strings.Join(events(), ","); got != "action.started,action.handed_back" {
		t.Fatalf("audit of the action before a worker returns: %s; want action.started,action.handed_back", got)
	}

	// Another worker picks the handed-back task up and finishes the action
	// at its first counted attempt.
	if _, err := cl.StartWorker(ctx); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, time.Minute, func() bool {
		a, err = st.Action(ctx, id)
		return err == nil && a.Status == store.ActionSucceeded
	}, func() string { return fmt.Sprintf("action not finished by the new worker: %+v", a) })
	if a.Attempts != 1 || !a.Verified {
		t.Fatalf("finished with attempts %d, verified %v; want 1 attempt (the interrupted one not counted), verified", a.Attempts, a.Verified)
	}
	got := strings.Join(events(), ",")
	if want := "action.started,action.handed_back,action.started,action.succeeded,action.verified"; !strings.HasPrefix(got, want) || strings.Contains(got, "lease_expired") {
		t.Fatalf("audit of the action: %s; want %s (no lease lapse)", got, want)
	}
	if dup, n := sandbox.DuplicateEffects(cl.Systems), sandbox.TotalEffects(cl.Systems); len(dup) > 0 || n != 1 {
		t.Fatalf("the directory saw %d effects (duplicated: %v), want exactly one", n, dup)
	}
}
