package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// closedCase runs E1's offboarding to a verified close.
func closedCase(t *testing.T, k *testkit.Kit) *store.Case {
	t.Helper()
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "M1", Reason: "resigned"})
	c = k.WaitClosed(t, c.ID, 30*time.Second)
	if c.Status != store.CaseCompleted {
		t.Fatalf("case %s:\n%s", c.Status, engine.Summary(c))
	}
	return c
}

func TestReconcileFindsAccessPlantedAfterCloseAndRemediates(t *testing.T) {
	rec := &recorder{}
	k := testkit.New(t, testkit.Options{RedisDB: redisDB, Observers: []engine.Observer{rec}})
	ctx := context.Background()
	c := closedCase(t, k)

	t.Run("a clean case has no residual", func(t *testing.T) {
		rep, err := k.Engine.ReconcileCase(ctx, c.ID, "cli", "")
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Residuals) != 0 || len(rep.Problems) != 0 || rep.Run.Checked == 0 {
			t.Fatalf("clean case: %+v", rep)
		}
	})

	// Behind Kinetic's back: a sync re-enables Erin's AD account and
	// opens two sessions in Okta.
	ad := k.Sandbox("ad")
	before, _ := ad.Account("erin@example.test")
	ad.AddAccount(connectors.Subject{EmployeeID: "E1", Email: "erin@example.test", Username: "erin"},
		connectors.Account{ID: before.ID, Status: connectors.StatusActive})

	rep, err := k.Engine.ReconcileCase(ctx, c.ID, "cli", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Residuals) != 1 {
		t.Fatalf("residuals after re-enabling AD: %+v", rep.Residuals)
	}
	r := rep.Residuals[0]
	if r.Kind != store.ResidualVerify || r.Connector != "ad" || r.Operation != string(connectors.OpDisableAccount) || r.ID == 0 || r.Status != store.ResidualOpen {
		t.Fatalf("residual: %+v", r)
	}
	alerts := rec.of(engine.EventResidualAccess)
	if len(alerts) != 1 || alerts[0].ResidualID != r.ID || len(alerts[0].Targets) != 1 || alerts[0].Targets[0] != "channel:security-alerts" ||
		!strings.Contains(alerts[0].Detail, "SIMULATED") {
		t.Fatalf("alerts: %+v", alerts)
	}
	run, res, err := k.Store.LastReconcileRun(ctx)
	if err != nil || run.ID != rep.Run.ID || run.Residuals != 1 || len(res) != 1 || run.FinishedAt == nil {
		t.Fatalf("last run: %+v %+v %v", run, res, err)
	}

	t.Run("only security and admins remediate", func(t *testing.T) {
		for _, who := range []string{"M1", "H1", "X1", "E1"} {
			if _, err := k.Engine.Remediate(ctx, r.ID, who); !errors.Is(err, engine.ErrNotAllowed) {
				t.Errorf("%s: %v, want ErrNotAllowed", who, err)
			}
		}
	})

	id, err := k.Engine.Remediate(ctx, r.ID, "S1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Engine.Remediate(ctx, r.ID, "A1"); !errors.Is(err, engine.ErrInvalidRequest) {
		t.Fatalf("second remediate: %v, want ErrInvalidRequest", err)
	}
	c = k.WaitClosed(t, c.ID, 30*time.Second)
	var fix *store.Action
	for i := range c.Actions {
		if c.Actions[i].ID == id {
			fix = &c.Actions[i]
		}
	}
	if fix == nil || fix.Status != store.ActionSucceeded || !fix.Verified || fix.Operation != string(connectors.OpDisableAccount) {
		t.Fatalf("remediation action: %+v", fix)
	}
	if acct, _ := ad.Account("erin@example.test"); acct.Status != connectors.StatusDisabled {
		t.Fatalf("AD after remediation: %+v", acct)
	}
	if c.Status != store.CaseCompleted {
		t.Fatalf("case after remediation %s:\n%s", c.Status, engine.Summary(c))
	}
	rep, err = k.Engine.ReconcileCase(ctx, c.ID, "cli", "")
	if err != nil || len(rep.Residuals) != 0 {
		t.Fatalf("after remediation: %+v %v", rep, err)
	}
	if n := k.Count(t, &store.AuditEvent{}, "case_id = ? AND event IN ?", c.ID, []string{"reconcile.residual", "action.added", "case.reopened"}); n != 3 {
		t.Errorf("%d audit events for residual, remediation and reopen, want 3", n)
	}
	if v, err := k.Store.VerifyAudit(ctx); err != nil || !v.OK {
		t.Fatalf("audit: %+v %v", v, err)
	}
}

func TestReconcileLookupFindsSessionsAndRefusesOpenCases(t *testing.T) {
	k := testkit.New(t, testkit.Options{RedisDB: redisDB})
	ctx := context.Background()
	scheduled := open(t, k, engine.Request{EmployeeID: "E2", Requester: "M1", EffectiveAt: time.Now().Add(time.Hour)})
	if _, err := k.Engine.ReconcileCase(ctx, scheduled.ID, "cli", ""); !errors.Is(err, engine.ErrInvalidRequest) {
		t.Fatalf("open case: %v, want ErrInvalidRequest", err)
	}
	c := closedCase(t, k)
	// The stage runs once however often it is asked for.
	if rep, err := k.Engine.ReconcileCase(ctx, c.ID, "sweep", "after:1h0m0s"); err != nil || rep == nil {
		t.Fatalf("first scan of a stage: %v %v", rep, err)
	}
	if rep, err := k.Engine.ReconcileCase(ctx, c.ID, "sweep", "after:1h0m0s"); err != nil || rep != nil {
		t.Fatalf("second scan of a stage: %+v %v, want nothing", rep, err)
	}
	// A connector failing its checks is reported, not a residual.
	k.Sandbox("okta").FailNext("erin@example.test", 10, connectors.KindTransient, 0)
	rep, err := k.Engine.ReconcileCase(ctx, c.ID, "cli", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Residuals) != 0 || len(rep.Problems) == 0 || rep.Run.Errors != len(rep.Problems) {
		t.Fatalf("failing okta: %+v", rep)
	}
	for _, p := range rep.Problems {
		if !strings.Contains(p, "okta") || !strings.Contains(p, "retryable") {
			t.Errorf("problem %q does not name okta and its class", p)
		}
	}
}

// The sweep scans a closed case once at each of the policy's offsets and
// once a night within nightly_days; the clock decides, nothing sleeps. The
// kit's worker sweeps too (every 200ms, on the same clock), so this test
// also shows two sweepers never scan one stage twice.
func TestSweepReconcilesAtPolicyOffsets(t *testing.T) {
	clock := newClock()
	rec := &recorder{}
	k := testkit.New(t, testkit.Options{RedisDB: redisDB, Now: clock.Now, Observers: []engine.Observer{rec},
		Policy: testkit.Policy + "reconcile: {after: [1h, 24h], nightly_days: 3}\n"})
	ctx := context.Background()
	c := closedCase(t, k)
	runs := func() int64 { return k.Count(t, &store.ReconcileRun{}, "case_id = ?", c.ID) }
	sweepUntil := func(want int64, what string) {
		t.Helper()
		testkit.Eventually(t, 20*time.Second, func() bool {
			if _, err := k.Engine.Sweep(ctx, time.Minute); err != nil {
				t.Fatal(err)
			}
			return runs() >= want
		}, func() string { return what })
		if n := runs(); n != want {
			t.Fatalf("%s: %d scans, want %d", what, n, want)
		}
	}
	// Right after close only the nightly scan is due.
	sweepUntil(1, "the nightly scan right after close")
	ad := k.Sandbox("ad")
	acct, _ := ad.Account("erin@example.test")
	ad.AddAccount(connectors.Subject{EmployeeID: "E1", Email: "erin@example.test"}, connectors.Account{ID: acct.ID, Status: connectors.StatusActive})
	clock.Advance(90 * time.Minute)
	sweepUntil(2, "the 1h offset's scan")
	if n := len(rec.of(engine.EventResidualAccess)); n != 1 {
		t.Fatalf("%d residual alerts, want 1", n)
	}
	var run store.ReconcileRun
	if err := k.Store.TestDB().Where("case_id = ? AND stage = ?", c.ID, "after:1h0m0s").First(&run).Error; err != nil || run.Residuals != 1 || run.Trigger != "sweep" {
		t.Fatalf("the 1h scan: %+v %v", run, err)
	}
	clock.Advance(5 * 24 * time.Hour) // past the 24h offset; the nightly window has ended
	sweepUntil(3, "the 24h offset's scan")
	if _, err := k.Engine.Sweep(ctx, time.Minute); err != nil || runs() != 3 {
		t.Fatalf("nothing more is due: %v (%d scans)", err, runs())
	}
}

// The orphan scan lists every sandbox account and finds those of people
// who have left HR and of people HR does not know; they cannot be
// remediated through a case.
func TestReconcileOrphansComparesListedAccountsWithHR(t *testing.T) {
	rec := &recorder{}
	k := testkit.New(t, testkit.Options{RedisDB: redisDB, Observers: []engine.Observer{rec}})
	ctx := context.Background()
	k.Sandbox("okta").AddAccount(connectors.Subject{Email: "ghost@example.test"}, connectors.Account{ID: "ghost@example.test", Status: connectors.StatusActive})
	rep, err := k.Engine.ReconcileOrphans(ctx, "cli")
	if err != nil {
		t.Fatal(err)
	}
	var ghost *store.Residual
	for i, r := range rep.Residuals {
		if r.Kind != store.ResidualOrphan || r.CaseID != 0 || !r.Simulated {
			t.Errorf("residual %+v", r)
		}
		if r.Account == "ghost@example.test" {
			ghost = &rep.Residuals[i]
		}
	}
	if ghost == nil || !strings.Contains(ghost.Detail, "no HR person") {
		t.Fatalf("the ghost account is not an orphan: %+v", rep.Residuals)
	}
	for _, r := range rep.Residuals {
		if strings.Contains(r.Detail, "no HR person") && r.Account != "ghost@example.test" {
			t.Errorf("an account of an HR person called unknown: %+v", r)
		}
	}
	if len(rec.of(engine.EventResidualAccess)) != len(rep.Residuals) {
		t.Errorf("%d alerts for %d orphans", len(rec.of(engine.EventResidualAccess)), len(rep.Residuals))
	}
	if _, err := k.Engine.Remediate(ctx, ghost.ID, "A1"); !errors.Is(err, engine.ErrInvalidRequest) {
		t.Fatalf("remediating an orphan: %v, want ErrInvalidRequest", err)
	}
}
