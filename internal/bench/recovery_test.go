package bench

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/store"
)

// TestRecoveriesCountEachTakeBackOnceForTheKillThatCausedIt writes the
// audit trail of two kills 7 s apart to a database and measures pick-up as
// the recovery scenario and the fault tests do.
func TestRecoveriesCountEachTakeBackOnceForTheKillThatCausedIt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := store.Open(ctx, store.Options{Driver: store.DialectSQLite, Path: filepath.Join(t.TempDir(), "kinetic.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	kills := []Kill{
		{At: at(7), Proc: "worker-3", Running: []int64{1, 4}},
		{At: at(0), Proc: "worker-2", Running: []int64{1, 2, 3}},
	}
	var entries []store.Entry
	ev := func(action int64, s float64, event string) {
		entries = append(entries, store.Entry{Time: at(s), CaseID: 1, ActionID: action, Actor: "test", Event: event})
	}
	// 1 runs in worker-2 when it is killed; it still shows as running at
	// the second kill, until the sweep takes it back at 12 s.
	ev(1, -1, eventStarted)
	ev(1, 12, eventLeaseExpired)
	ev(1, 12.5, eventStarted)
	ev(1, 13, "action.succeeded")
	// 2 runs in a live worker at the first kill and finishes; a later
	// take-back of another attempt is no recovery from that kill.
	ev(2, -0.2, eventStarted)
	ev(2, 0.3, "action.succeeded")
	ev(2, 30, eventLeaseExpired)
	ev(2, 31, eventStarted)
	// 3 is taken back but starts again only after three minutes.
	ev(3, 11, eventLeaseExpired)
	ev(3, 180, eventStarted)
	// 4 runs in worker-3 when it is killed.
	ev(4, 6.9, eventStarted)
	ev(4, 18, eventLeaseExpired)
	ev(4, 19, eventStarted)
	if _, err := store.AppendAudit(st.TestDB().WithContext(ctx), entries...); err != nil {
		t.Fatal(err)
	}

	got, err := (&Cluster{store: st}).Recoveries(ctx, kills)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := []time.Duration{12 * time.Second, 12500 * time.Millisecond}
	if !slices.Equal(got, want) {
		t.Fatalf("pick-ups %v, want %v: action 1 from the first kill only (not again, shorter, from the second), action 4 from the second, nothing for 2 (it finished in a live worker) or 3 (past two minutes)", got, want)
	}
	if s := SummarizePickUps(got); s.Count != 2 || s.Median != 12*time.Second || s.Max != 12500*time.Millisecond {
		t.Fatalf("summary %+v", s)
	}
	if got, err := (&Cluster{store: st}).Recoveries(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("no kills: %v, %v", got, err)
	}
}
