package engine_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// Redis database for this package's tests (see testenv.RedisAddr).
const redisDB = 1

func open(t *testing.T, k *testkit.Kit, req engine.Request) *store.Case {
	t.Helper()
	if req.Trigger == "" {
		req.Trigger = store.TriggerCLI
	}
	o, err := k.Engine.Open(context.Background(), req)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return o.Case
}

func TestOffboardingRunsToVerifiedCompletion(t *testing.T) {
	k := testkit.New(t, testkit.Options{RedisDB: redisDB, Latency: 20 * time.Millisecond})
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "M1", Reason: "resigned"})
	c = k.WaitClosed(t, c.ID, 30*time.Second)

	if c.Status != store.CaseCompleted {
		t.Fatalf("case status %s, want completed:\n%s", c.Status, engine.Summary(c))
	}
	if len(c.Actions) != 7 {
		t.Fatalf("%d actions, want 7", len(c.Actions))
	}
	var critEnd time.Time
	for _, a := range c.Actions {
		if a.Name == "create_recovery_task" && a.Status == store.ActionSkipped && a.Verified {
			continue // Erin holds no device: nothing to recover (E7's cases recover devices)
		}
		if a.Status != store.ActionSucceeded || !a.Verified {
			t.Errorf("%s: status %s verified %t (%s)", a.Name, a.Status, a.Verified, a.LastError)
		}
		if a.Phase == 1 && a.FinishedAt.After(critEnd) {
			critEnd = *a.FinishedAt
		}
	}
	for _, a := range c.Actions {
		if a.Phase > 1 && a.StartedAt.Before(critEnd) {
			t.Errorf("%s (phase %d) started %s before the critical phase ended %s", a.Name, a.Phase, a.StartedAt, critEnd)
		}
	}
	byName := map[string]store.Action{}
	for _, a := range c.Actions {
		byName[a.Name] = a
	}
	if d, o := byName["deactivate_okta"], byName["revoke_okta_sessions"]; d.StartedAt.Before(*o.FinishedAt) {
		t.Errorf("deactivate_okta started before its dependency revoke_okta_sessions finished")
	}
	if c.CriticalDoneAt == nil || c.StartedAt == nil || c.PolicyHash == "" {
		t.Errorf("case timestamps/policy hash not recorded: %+v", c)
	}
	if acct, _ := k.Sandbox("ad").Account("erin@example.test"); acct.Status != connectors.StatusDisabled || len(acct.Groups) != 0 {
		t.Errorf("AD account after offboarding: %+v", acct)
	}
	if eq, _ := k.Store.EquipmentTasks(context.Background(), c.ID); len(eq) != 0 {
		t.Errorf("equipment tasks of someone without equipment: %+v", eq)
	}
	if c.RevokedAt == nil || c.ClosedAt == nil || c.RevokedAt.After(*c.ClosedAt) {
		t.Errorf("access fully revoked at %v, closed at %v: want both, revoked first", c.RevokedAt, c.ClosedAt)
	}
	rep, err := k.Store.VerifyAudit(context.Background())
	if err != nil || !rep.OK {
		t.Fatalf("audit: %+v %v", rep, err)
	}
	events := k.Count(t, &store.AuditEvent{}, "case_id = ?", c.ID)
	if events < int64(3+4*len(c.Actions)+2) { // created/validated/planned, per action queued/started/succeeded/verified, started/closed
		t.Errorf("only %d audit events for the case", events)
	}
	if d := k.DuplicateEffects(); len(d) > 0 {
		t.Errorf("duplicate effects: %v", d)
	}
}

func TestBadRequestsChangeNothing(t *testing.T) {
	k := testkit.New(t, testkit.Options{RedisDB: redisDB})
	ctx := context.Background()
	first := open(t, k, engine.Request{EmployeeID: "E2", Requester: "H1"})
	cases, actions, audit := k.Count(t, &store.Case{}, ""), k.Count(t, &store.Action{}, ""), k.Count(t, &store.AuditEvent{}, "")

	tests := []struct {
		name string
		req  engine.Request
		want func(error) bool
	}{
		{"unknown employee", engine.Request{EmployeeID: "NOPE", Requester: "H1"}, func(err error) bool { return errors.Is(err, engine.ErrUnknownEmployee) }},
		{"unknown email", engine.Request{Email: "nobody@example.test", Requester: "H1"}, func(err error) bool { return errors.Is(err, engine.ErrUnknownEmployee) }},
		{"inactive employee", engine.Request{EmployeeID: "E3", Requester: "H1"}, func(err error) bool { return errors.Is(err, engine.ErrInactiveEmployee) }},
		{"colleague is not allowed", engine.Request{EmployeeID: "E1", Requester: "X1"}, func(err error) bool { return errors.Is(err, engine.ErrNotAllowed) }},
		{"unknown requester", engine.Request{EmployeeID: "E1", Requester: "ZZ"}, func(err error) bool { return errors.Is(err, engine.ErrNotAllowed) }},
		{"nobody offboards themselves", engine.Request{EmployeeID: "M1", Requester: "M1"}, func(err error) bool { return errors.Is(err, engine.ErrNotAllowed) }},
		{"no requester", engine.Request{EmployeeID: "E1"}, func(err error) bool { return errors.Is(err, engine.ErrNotAllowed) }},
		{"second request while one is open", engine.Request{EmployeeID: "E2", Requester: "M1"}, func(err error) bool {
			var open *engine.CaseOpenError
			return errors.As(err, &open) && open.CaseID == first.ID
		}},
		{"no employee named", engine.Request{Requester: "H1"}, func(err error) bool { return errors.Is(err, engine.ErrInvalidRequest) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			req.Trigger = store.TriggerCLI
			_, err := k.Engine.Open(ctx, req)
			if err == nil || !tc.want(err) {
				t.Fatalf("got error %v", err)
			}
		})
	}
	if c, a, e := k.Count(t, &store.Case{}, ""), k.Count(t, &store.Action{}, ""), k.Count(t, &store.AuditEvent{}, ""); c != cases || a != actions || e != audit {
		t.Fatalf("refused requests changed the database: cases %d→%d actions %d→%d audit %d→%d", cases, c, actions, a, audit, e)
	}
}

func TestAuthorizedRequesters(t *testing.T) {
	k := testkit.New(t, testkit.Options{RedisDB: redisDB})
	for _, tc := range []struct{ who, emp string }{{"M1", "E1"}, {"H1", "E2"}, {"A1", "X1"}} {
		c := open(t, k, engine.Request{EmployeeID: tc.emp, Requester: tc.who, EffectiveAt: time.Now().Add(time.Hour)})
		if c.Status != store.CaseScheduled || c.Requester != tc.who {
			t.Errorf("%s offboarding %s: case %+v", tc.who, tc.emp, c)
		}
	}
	o, err := k.Engine.Open(context.Background(), engine.Request{EmployeeID: "M1", Requester: "api:hris", System: true, Trigger: store.TriggerAPI, IdempotencyKey: "evt-1", EffectiveAt: time.Now().Add(time.Hour)})
	if err != nil || !o.Created {
		t.Fatalf("system request: %v", err)
	}
	again, err := k.Engine.Open(context.Background(), engine.Request{EmployeeID: "M1", Requester: "api:hris", System: true, Trigger: store.TriggerAPI, IdempotencyKey: "evt-1"})
	if err != nil || again.Created || again.Case.ID != o.Case.ID {
		t.Fatalf("a repeated event must return the first case unchanged: %+v %v", again, err)
	}
}

func TestDatabaseEnforcesOneOpenCasePerEmployee(t *testing.T) {
	k := testkit.New(t, testkit.Options{RedisDB: redisDB, StateChangedBehindEngine: true}) // cases inserted directly
	now := time.Now().UTC()
	mk := func() error {
		return k.Store.TestDB().Create(&store.Case{EmployeeID: "E9", Trigger: "cli", Requester: "x", EffectiveAt: now, Status: store.CaseRunning}).Error
	}
	if err := mk(); err != nil {
		t.Fatal(err)
	}
	if err := mk(); !store.IsUniqueViolation(err) {
		t.Fatalf("second open case for one employee: %v, want a unique violation", err)
	}
}

func TestConcurrentOpensCreateOneCase(t *testing.T) {
	k := testkit.New(t, testkit.Options{RedisDB: redisDB})
	var wg sync.WaitGroup
	var created, refused atomic.Int32
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := k.Engine.Open(context.Background(), engine.Request{EmployeeID: "E1", Requester: "M1", Trigger: store.TriggerCLI, EffectiveAt: time.Now().Add(time.Hour)})
			var open *engine.CaseOpenError
			switch {
			case err == nil:
				created.Add(1)
			case errors.As(err, &open):
				refused.Add(1)
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}()
	}
	wg.Wait()
	if created.Load() != 1 || refused.Load() != 7 {
		t.Fatalf("created %d refused %d, want 1 and 7", created.Load(), refused.Load())
	}
}

func TestTransientFailureIsRetriedPermanentFailureBlocksDependents(t *testing.T) {
	k := testkit.New(t, testkit.Options{RedisDB: redisDB})
	// Three transient failures: the first is spent on discovery at planning
	// (which tolerates it), the next two on revoke_okta_sessions' first two
	// attempts.
	k.Sandbox("okta").FailNext("erin@example.test", 3, connectors.KindTransient, 0)
	// AD refuses with a permanent error: disable_ad fails at once and
	// remove_ad_groups, which depends on it, stays visibly blocked.
	k.Sandbox("ad").FailNext("erin@example.test", 100, connectors.KindForbidden, 0)
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "M1"})
	c = k.WaitClosed(t, c.ID, 60*time.Second)
	if c.Status != store.CaseFailed {
		t.Fatalf("case %s, want failed:\n%s", c.Status, engine.Summary(c))
	}
	by := map[string]store.Action{}
	for _, a := range c.Actions {
		by[a.Name] = a
	}
	if a := by["disable_ad"]; a.Status != store.ActionFailed || a.Attempts != 1 || a.ErrorKind != string(connectors.KindForbidden) {
		t.Errorf("disable_ad: %s after %d attempts (%s), want failed after 1 (forbidden)", a.Status, a.Attempts, a.ErrorKind)
	}
	if a := by["remove_ad_groups"]; a.Status != store.ActionBlocked || a.BlockedReason == "" {
		t.Errorf("remove_ad_groups: %s %q, want blocked with a reason", a.Status, a.BlockedReason)
	}
	if a := by["revoke_okta_sessions"]; a.Status != store.ActionSucceeded || a.Attempts != 3 {
		t.Errorf("revoke_okta_sessions: %s after %d attempts, want succeeded after 3", a.Status, a.Attempts)
	}
	for _, name := range []string{"deactivate_okta", "deactivate_badge", "create_recovery_task", "notify_payroll"} {
		if st := by[name].Status; st != store.ActionSucceeded && !(name == "create_recovery_task" && st == store.ActionSkipped) {
			t.Errorf("%s: %s — one failure must not stop the rest", name, st)
		}
	}
	var ev store.AuditEvent
	if err := k.Store.TestDB().Where("action_id = ? AND event = ?", by["revoke_okta_sessions"].ID, "action.retry_scheduled").First(&ev).Error; err != nil {
		t.Errorf("no retry audit event: %v", err)
	}
}

func TestRetriesExhaustedFailTheAction(t *testing.T) {
	k := testkit.New(t, testkit.Options{RedisDB: redisDB})
	k.Sandbox("badge").FailNext("erin@example.test", 100, connectors.KindTransient, 0)
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "M1"})
	c = k.WaitClosed(t, c.ID, 60*time.Second)
	for _, a := range c.Actions {
		if a.Name == "deactivate_badge" && (a.Status != store.ActionFailed || a.Attempts != 4) {
			t.Fatalf("deactivate_badge %s after %d attempts, want failed after max_attempts=4", a.Status, a.Attempts)
		}
	}
	if c.Status != store.CaseFailed {
		t.Fatalf("case %s", c.Status)
	}
}

func TestRateLimitedRetryHonoursRetryAfter(t *testing.T) {
	k := testkit.New(t, testkit.Options{RedisDB: redisDB})
	// The first 429 is spent on discovery at planning, the second on the
	// action's first attempt.
	k.Sandbox("badge").FailNext("erin@example.test", 2, connectors.KindRateLimited, 1500*time.Millisecond)
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "M1"})
	c = k.WaitClosed(t, c.ID, 30*time.Second)
	var retry, started []store.AuditEvent
	for _, a := range c.Actions {
		if a.Name != "deactivate_badge" {
			continue
		}
		k.Store.TestDB().Where("action_id = ? AND event = ?", a.ID, "action.retry_scheduled").Find(&retry)
		k.Store.TestDB().Where("action_id = ? AND event = ?", a.ID, "action.started").Order("seq").Find(&started)
	}
	if len(retry) != 1 || len(started) != 2 {
		t.Fatalf("retry events %d, starts %d", len(retry), len(started))
	}
	if gap := started[1].Time.Sub(retry[0].Time); gap < 1500*time.Millisecond {
		t.Fatalf("second attempt %s after the 429, want at least the Retry-After of 1.5s", gap)
	}
}

func TestScheduledCaseStartsAtItsEffectiveTime(t *testing.T) {
	var now atomic.Pointer[time.Time]
	t0 := time.Now().UTC()
	now.Store(&t0)
	clock := func() time.Time { return *now.Load() }
	k := testkit.New(t, testkit.Options{RedisDB: redisDB, Now: clock})
	ctx := context.Background()
	eff := t0.Add(3 * time.Hour)
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "M1", EffectiveAt: eff})
	if c.Status != store.CaseScheduled {
		t.Fatalf("status %s, want scheduled", c.Status)
	}
	if st, err := k.Engine.Sweep(ctx, time.Second); err != nil || st.CasesStarted != 0 {
		t.Fatalf("sweep before the effective time started %d cases (%v)", st.CasesStarted, err)
	}
	// An early task (e.g. a clock-skewed worker) must not start it either.
	if err := k.Engine.StartCase(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := k.Store.CaseWithActions(ctx, c.ID); got.Status != store.CaseScheduled {
		t.Fatalf("started early: %s", got.Status)
	}
	later := eff.Add(time.Second)
	now.Store(&later)
	if st, err := k.Engine.Sweep(ctx, time.Second); err != nil || st.CasesStarted != 1 {
		t.Fatalf("sweep after the effective time started %d cases (%v)", st.CasesStarted, err)
	}
	got, _ := k.Store.CaseWithActions(ctx, c.ID)
	if got.Status != store.CaseRunning || !got.StartedAt.Equal(later.Truncate(time.Microsecond)) {
		t.Fatalf("after start: %s at %v", got.Status, got.StartedAt)
	}
	queued := 0
	for _, a := range got.Actions {
		if a.Status == store.ActionQueued {
			queued++
		}
	}
	if queued != 2 { // disable_ad and revoke_okta_sessions: critical, no dependencies
		t.Fatalf("%d actions queued at start, want 2:\n%s", queued, engine.Summary(got))
	}
}

func TestInvoluntaryStartsNowWhateverTheDate(t *testing.T) {
	k := testkit.New(t, testkit.Options{RedisDB: redisDB})
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "H1", Involuntary: true, EffectiveAt: time.Now().Add(48 * time.Hour)})
	if c.Status != store.CaseRunning || c.EffectiveAt.After(time.Now()) {
		t.Fatalf("involuntary case: %s effective %s", c.Status, c.EffectiveAt)
	}
}

func TestPlanIsADryRun(t *testing.T) {
	k := testkit.New(t, testkit.Options{RedisDB: redisDB})
	before := k.Count(t, &store.AuditEvent{}, "")
	p1, err := k.Engine.Plan(context.Background(), engine.Request{EmployeeID: "E2"}, false)
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := k.Engine.Plan(context.Background(), engine.Request{EmployeeID: "E2"}, false)
	if len(p1.Actions) != 6 {
		t.Fatalf("contractor plan has %d actions, want 6 (no payroll)", len(p1.Actions))
	}
	for i := range p1.Actions {
		if p1.Actions[i].Name != p2.Actions[i].Name {
			t.Fatalf("planning is not deterministic: %s vs %s", p1.Actions[i].Name, p2.Actions[i].Name)
		}
	}
	if k.Count(t, &store.AuditEvent{}, "") != before || k.Count(t, &store.Case{}, "") != 0 || k.TotalEffects() != 0 {
		t.Fatal("plan changed something")
	}
	out := engine.FormatPlan(p1)
	for _, want := range []string{"Carl Contractor", "disable_ad", "critical", "user carl (active)"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output lacks %q:\n%s", want, out)
		}
	}
}
