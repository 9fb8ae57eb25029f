package engine_test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// verifyState runs both halves of `kinetic audit verify`: the chain must be
// intact; the state report is returned.
func verifyState(t *testing.T, k *testkit.Kit) store.StateReport {
	t.Helper()
	ctx := context.Background()
	chain, err := k.Store.VerifyAudit(ctx)
	if err != nil || !chain.OK {
		t.Fatalf("audit chain: %+v %v", chain, err)
	}
	rep, err := k.Store.VerifyAuditedState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// wantStateOK fails the test with every mismatch unless the state matches
// the audit trail.
func wantStateOK(t *testing.T, k *testkit.Kit) store.StateReport {
	t.Helper()
	rep := verifyState(t, k)
	for _, m := range rep.Mismatches {
		t.Errorf("false positive: %s", m)
	}
	if !rep.OK || rep.Unrecorded != 0 {
		t.Fatalf("state report %+v", rep)
	}
	return rep
}

func execSQL(t *testing.T, k *testkit.Kit, q string, args ...any) {
	t.Helper()
	res := k.Store.TestDB().Exec(q, args...)
	if res.Error != nil || res.RowsAffected == 0 {
		t.Fatalf("%s: %v (%d rows)", q, res.Error, res.RowsAffected)
	}
}

func q(s string) string { return strconv.Quote(s) }

// The reproduction from the trust-boundary review: a database insider
// marks two AD revocations succeeded before they ran (the queued
// disable_ad, and remove_ad_groups that waits for it). The rest of the
// plan runs, the case closes, AD is never disabled, and the chain is
// intact; the state check names both actions with the database's and the
// audit trail's status.
func TestInsiderMarkingRevocationsSucceededIsReported(t *testing.T) {
	k := testkit.New(t, testkit.Options{RedisDB: redisDB, StateChangedBehindEngine: true})
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "M1"}) // no worker yet: the actions wait in the queue
	before := reload(t, k.Store, c.ID)
	if ad, groups := actionNamed(t, before, "disable_ad"), actionNamed(t, before, "remove_ad_groups"); ad.Status != store.ActionQueued || groups.Status != store.ActionBlocked {
		t.Fatalf("disable_ad %s, remove_ad_groups %s; want queued and blocked", ad.Status, groups.Status)
	}
	wantStateOK(t, k)

	execSQL(t, k, "UPDATE actions SET status = 'succeeded' WHERE case_id = ? AND name IN ('disable_ad','remove_ad_groups')", c.ID)
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	c = k.WaitClosed(t, c.ID, 30*time.Second)
	if acct, _ := k.Sandbox("ad").Account("erin@example.test"); acct.Status == connectors.StatusDisabled {
		t.Fatal("the reproduction needs AD left enabled")
	}
	rep := verifyState(t, k) // the chain verifies: nothing in it was touched
	want := []store.StateMismatch{
		{CaseID: c.ID, ActionID: actionNamed(t, c, "disable_ad").ID, Name: "disable_ad", Field: "status", Database: q("succeeded"), Audited: q("queued")},
		{CaseID: c.ID, ActionID: actionNamed(t, c, "remove_ad_groups").ID, Name: "remove_ad_groups", Field: "status", Database: q("succeeded"), Audited: q("blocked")},
	}
	if rep.OK || !sameMismatches(rep.Mismatches, want) {
		t.Fatalf("state report:\n%s\nwant:\n%s", mismatchLines(rep.Mismatches), mismatchLines(want))
	}
}

func sameMismatches(got, want []store.StateMismatch) bool {
	key := func(m store.StateMismatch) string { return m.String() }
	g, w := make([]string, len(got)), make([]string, len(want))
	for i := range got {
		g[i] = key(got[i])
	}
	for i := range want {
		w[i] = key(want[i])
	}
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}

func mismatchLines(ms []store.StateMismatch) string {
	s := ""
	for _, m := range ms {
		s += "  " + m.String() + "\n"
	}
	if s == "" {
		s = "  (none)\n"
	}
	return s
}

// Real cases run through the engine — one completed after a retried
// attempt and a denied exception, one failed on a permanent error — and
// each tampering of a row is reported with its case, action or approval
// and both states, then undone; the undone database matches again.
func TestStateChangedBehindTheEngineIsReported(t *testing.T) {
	k, _ := approvalsKit(t, testkit.ApprovalPolicy, nil)
	// approvalsKit keeps the kit's end-of-test state check: every tampering
	// below is undone.
	k.Sandbox("badge").FailNext("erin@example.test", 2, connectors.KindTransient, 0) // planning's lookup, then the first attempt
	k.Sandbox("ad").FailNext("carl@example.test", 100, connectors.KindForbidden, 0)
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	o, err := k.Engine.Open(ctx, engine.Request{EmployeeID: "E1", Requester: "A1", Trigger: store.TriggerCLI,
		Exceptions: []engine.ExceptionRequest{{Kind: "email_forwarding", ForwardTo: "manager@example.test", Days: 30, Reason: "handover"}}})
	if err != nil {
		t.Fatal(err)
	}
	aps, _ := k.Engine.Approvals(ctx, "", "", o.Case.ID)
	if len(aps) != 1 {
		t.Fatalf("%d approvals", len(aps))
	}
	if err := decide(k, aps[0].ID, "M1", false, "no forwarding for Sales"); err != nil {
		t.Fatal(err)
	}
	done := k.WaitClosed(t, o.Case.ID, 30*time.Second)
	failed := k.WaitClosed(t, open(t, k, engine.Request{EmployeeID: "E2", Requester: "M1"}).ID, 30*time.Second)
	if done.Status != store.CaseCompleted || failed.Status != store.CaseFailed {
		t.Fatalf("cases %s and %s, want completed and failed:\n%s\n%s", done.Status, failed.Status, engine.Summary(done), engine.Summary(failed))
	}
	badge, ad, recovery := actionNamed(t, done, "deactivate_badge"), actionNamed(t, done, "disable_ad"), actionNamed(t, done, "create_recovery_task")
	failedAD := actionNamed(t, failed, "disable_ad")
	if badge.Attempts != 2 || failedAD.Status != store.ActionFailed || ad.Outcome == "" {
		t.Fatalf("badge %d attempts, E2's disable_ad %s, E1's disable_ad outcome %q", badge.Attempts, failedAD.Status, ad.Outcome)
	}
	rep := wantStateOK(t, k)
	if rep.Cases != 2 || rep.Approvals != 1 || rep.Actions != int64(len(done.Actions)+len(failed.Actions)) {
		t.Fatalf("checked %+v", rep)
	}
	for _, tc := range []struct {
		name     string
		tamper   []string
		undo     []string
		args     []any
		mismatch store.StateMismatch
	}{
		{"failed action marked succeeded",
			[]string{"UPDATE actions SET status = 'succeeded' WHERE id = ?"}, []string{"UPDATE actions SET status = 'failed' WHERE id = ?"}, []any{failedAD.ID},
			store.StateMismatch{CaseID: failed.ID, ActionID: failedAD.ID, Name: "disable_ad", Field: "status", Database: q("succeeded"), Audited: q("failed")}},
		{"attempts reset",
			[]string{"UPDATE actions SET attempts = 0 WHERE id = ?"}, []string{"UPDATE actions SET attempts = 2 WHERE id = ?"}, []any{badge.ID},
			store.StateMismatch{CaseID: done.ID, ActionID: badge.ID, Name: "deactivate_badge", Field: "attempts", Database: "0", Audited: "2"}},
		{"outcome changed",
			[]string{"UPDATE actions SET outcome = 'none_found' WHERE id = ?"}, []string{"UPDATE actions SET outcome = '" + ad.Outcome + "' WHERE id = ?"}, []any{ad.ID},
			store.StateMismatch{CaseID: done.ID, ActionID: ad.ID, Name: "disable_ad", Field: "outcome", Database: q("none_found"), Audited: q(ad.Outcome)}},
		{"case completed behind the engine",
			[]string{"UPDATE cases SET status = 'completed' WHERE id = ?"}, []string{"UPDATE cases SET status = 'failed' WHERE id = ?"}, []any{failed.ID},
			store.StateMismatch{CaseID: failed.ID, Field: "status", Database: q("completed"), Audited: q("failed")}},
		{"case cancelled behind the engine",
			[]string{"UPDATE cases SET status = 'cancelled' WHERE id = ?"}, []string{"UPDATE cases SET status = 'completed' WHERE id = ?"}, []any{done.ID},
			store.StateMismatch{CaseID: done.ID, Field: "status", Database: q("cancelled"), Audited: q("completed")}},
		{"denied approval marked approved",
			[]string{"UPDATE approvals SET status = 'approved' WHERE id = ?"}, []string{"UPDATE approvals SET status = 'denied' WHERE id = ?"}, []any{aps[0].ID},
			store.StateMismatch{CaseID: done.ID, ApprovalID: aps[0].ID, Name: "email_forwarding", Field: "status", Database: q("approved"), Audited: q("denied")}},
		{"action row deleted",
			[]string{"DELETE FROM actions WHERE id = ?"}, nil, []any{recovery.ID},
			store.StateMismatch{CaseID: done.ID, ActionID: recovery.ID, Field: "row", Database: "absent", Audited: q(recovery.Status)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, s := range tc.tamper {
				execSQL(t, k, s, tc.args...)
			}
			rep := verifyState(t, k)
			if rep.OK || rep.MismatchCount != 1 || !sameMismatches(rep.Mismatches, []store.StateMismatch{tc.mismatch}) {
				t.Errorf("state report:\n%s\nwant:\n  %s", mismatchLines(rep.Mismatches), tc.mismatch)
			}
			for _, s := range tc.undo {
				execSQL(t, k, s, tc.args...)
			}
			if tc.undo == nil { // put the deleted row back
				if err := k.Store.TestDB().Create(&recovery).Error; err != nil {
					t.Fatal(err)
				}
			}
			wantStateOK(t, k)
		})
	}

	t.Run("result data changed", func(t *testing.T) {
		execSQL(t, k, `UPDATE actions SET result_data = '{"disabled":false}' WHERE id = ?`, ad.ID)
		rep := verifyState(t, k)
		if rep.MismatchCount != 1 || rep.Mismatches[0].ActionID != ad.ID || rep.Mismatches[0].Field != "result_data" ||
			rep.Mismatches[0].Database == rep.Mismatches[0].Audited {
			t.Errorf("state report:\n%s", mismatchLines(rep.Mismatches))
		}
		execSQL(t, k, "UPDATE actions SET result_data = ? WHERE id = ?", ad.ResultData, ad.ID)
		wantStateOK(t, k)
	})

	t.Run("action row inserted", func(t *testing.T) {
		forged := store.Action{CaseID: done.ID, Name: "forged", Connector: "ad", Operation: "disable_account", Phase: 1,
			Status: store.ActionSucceeded, MaxAttempts: 1, CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
		if err := k.Store.TestDB().Create(&forged).Error; err != nil {
			t.Fatal(err)
		}
		rep := verifyState(t, k)
		want := store.StateMismatch{CaseID: done.ID, ActionID: forged.ID, Name: "forged", Field: "row", Database: q("succeeded"), Audited: "absent"}
		if !sameMismatches(rep.Mismatches, []store.StateMismatch{want}) {
			t.Errorf("state report:\n%s\nwant:\n  %s", mismatchLines(rep.Mismatches), want)
		}
		execSQL(t, k, "DELETE FROM actions WHERE id = ?", forged.ID)
		wantStateOK(t, k)
	})

	t.Run("case row inserted without audit events", func(t *testing.T) {
		forged := store.Case{EmployeeID: "E9", Trigger: "cli", Requester: "x", EffectiveAt: time.Now().UTC(), Status: store.CaseCompleted}
		if err := k.Store.TestDB().Create(&forged).Error; err != nil {
			t.Fatal(err)
		}
		rep := verifyState(t, k)
		if rep.MismatchCount != 1 || rep.Mismatches[0].CaseID != forged.ID || rep.Mismatches[0].Field != "row" {
			t.Errorf("state report:\n%s", mismatchLines(rep.Mismatches))
		}
		execSQL(t, k, "DELETE FROM cases WHERE id = ?", forged.ID)
		wantStateOK(t, k)
	})
}

// The false-positive check: many cases on one database — retried attempts,
// an account that is not there (skipped), a failed revocation retried by a
// person, a denied exception, an exception that times out, escalates and
// expires, a cancellation — and the untouched database matches its audit
// trail exactly, every case created under state records.
func TestUntamperedStateMatchesAfterManyFlows(t *testing.T) {
	clock := newClock()
	k, _ := approvalsKit(t, testkit.ApprovalPolicy, clock)
	ctx := context.Background()
	// Planning's lookup, then the first attempt (a longer back-off would
	// wait forever on the frozen clock).
	k.Sandbox("badge").FailNext("carl@example.test", 2, connectors.KindTransient, 0)
	k.Sandbox("ad").FailNext("tess@example.test", 100, connectors.KindForbidden, 0)
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	retried := open(t, k, engine.Request{EmployeeID: "E2", Requester: "M1"})
	failing := open(t, k, engine.Request{EmployeeID: "E4", Requester: "M1"})
	o, err := k.Engine.Open(ctx, engine.Request{EmployeeID: "E1", Requester: "A1", Trigger: store.TriggerCLI,
		Exceptions: []engine.ExceptionRequest{{Kind: "email_forwarding", ForwardTo: "manager@example.test", Days: 30, Reason: "handover"}}})
	if err != nil {
		t.Fatal(err)
	}
	aps, _ := k.Engine.Approvals(ctx, "", "", o.Case.ID)
	if len(aps) != 1 {
		t.Fatalf("%d approvals", len(aps))
	}
	if err := decide(k, aps[0].ID, "M1", false, "no forwarding"); err != nil {
		t.Fatal(err)
	}
	denied := k.WaitClosed(t, o.Case.ID, 30*time.Second)
	if c := k.WaitClosed(t, retried.ID, 30*time.Second); c.Status != store.CaseCompleted || actionNamed(t, c, "deactivate_badge").Attempts != 2 ||
		actionNamed(t, c, "convert_mailbox").Status != store.ActionSkipped {
		t.Fatalf("retried case %s:\n%s", c.Status, engine.Summary(c))
	}
	if c := k.WaitClosed(t, failing.ID, 30*time.Second); c.Status != store.CaseFailed {
		t.Fatalf("case %s, want failed:\n%s", c.Status, engine.Summary(c))
	}
	k.Sandbox("ad").FailNext("tess@example.test", 0, connectors.KindForbidden, 0) // the permission was fixed
	if err := k.Engine.RetryAction(ctx, actionNamed(t, reload(t, k.Store, failing.ID), "disable_ad").ID, "A1"); err != nil {
		t.Fatal(err)
	}
	if c := k.WaitClosed(t, failing.ID, 30*time.Second); c.Status != store.CaseCompleted {
		t.Fatalf("after the retry: %s\n%s", c.Status, engine.Summary(c))
	}
	if denied.Status != store.CaseCompleted {
		t.Fatalf("denied exception's case %s", denied.Status)
	}
	wantStateOK(t, k)

	// A later case for E1: its exception times out, escalates, expires;
	// then HR rescinds and the case is cancelled.
	later := open(t, k, engine.Request{EmployeeID: "E1", Requester: "A1", EffectiveAt: clock.Now().Add(72 * time.Hour)})
	ap, err := k.Engine.RequestException(ctx, engine.ExceptionRequest{CaseID: later.ID, Kind: "email_forwarding", Requester: "A1", ForwardTo: "hr@example.test", Days: 5})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		clock.Advance(25 * time.Hour)
		if _, err := k.Engine.Sweep(ctx, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if v := approvalStatus(t, k, ap.ID); v.Status != store.ApprovalExpired {
		t.Fatalf("approval %s, want expired", v.Status)
	}
	if err := k.Engine.Cancel(ctx, later.ID, "H1", "termination rescinded"); err != nil {
		t.Fatal(err)
	}
	rep := wantStateOK(t, k)
	if rep.Cases != 4 || rep.Approvals != 2 {
		t.Fatalf("checked %+v, want 4 cases and 2 approvals", rep)
	}
}
