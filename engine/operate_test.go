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

// operatePolicy is the test policy with a skippable badge step and a manual
// laptop collection step.
var operatePolicy = strings.NewReplacer(
	"deactivate_badge: {connector: badge, operation: deactivate_badge, phase: entitlements}",
	"deactivate_badge: {connector: badge, operation: deactivate_badge, phase: entitlements, skippable: true}\n  collect_laptop: {connector: assets, operation: create_recovery_task, phase: notifications, manual: true}",
	"add: [disable_ad, revoke_okta_sessions, deactivate_okta, remove_ad_groups, deactivate_badge, create_recovery_task, notify_payroll]",
	"add: [disable_ad, revoke_okta_sessions, deactivate_okta, remove_ad_groups, deactivate_badge, create_recovery_task, notify_payroll, collect_laptop]",
).Replace(testkit.Policy)

func TestPlanAwaitsTheRequestersConfirmation(t *testing.T) {
	k, rec := approvalsKit(t, testkit.Policy, nil)
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	o, err := k.Engine.Open(ctx, engine.Request{EmployeeID: "E1", Requester: "M1", Trigger: store.TriggerSlack, AwaitConfirmation: true})
	if err != nil {
		t.Fatal(err)
	}
	if o.Case.Status != store.CaseAwaitingConfirmation || k.Count(t, &store.Action{}, "case_id = ? AND status = ?", o.Case.ID, store.ActionQueued) != 0 {
		t.Fatalf("case %s before confirmation", o.Case.Status)
	}
	if _, err := k.Engine.Open(ctx, engine.Request{EmployeeID: "E1", Requester: "H1", Trigger: store.TriggerCLI}); err == nil {
		t.Fatal("a second case opened while a plan awaits confirmation")
	}
	if _, err := k.Engine.Confirm(ctx, o.Case.ID, "H1"); !errors.Is(err, engine.ErrNotAllowed) {
		t.Fatalf("someone else confirming: %v", err)
	}
	if _, err := k.Engine.Confirm(ctx, o.Case.ID, "M1"); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Engine.Confirm(ctx, o.Case.ID, "M1"); !errors.Is(err, engine.ErrInvalidRequest) {
		t.Fatalf("confirming twice: %v", err)
	}
	if c := k.WaitClosed(t, o.Case.ID, 30*time.Second); c.Status != store.CaseCompleted {
		t.Fatalf("after confirmation: %s", c.Status)
	}
	if len(rec.of("case_confirmed")) != 1 {
		t.Fatal("no case_confirmed notification")
	}
	// Involuntary requests never wait.
	inv, err := k.Engine.Open(ctx, engine.Request{EmployeeID: "E2", Requester: "H1", Trigger: store.TriggerSlack, AwaitConfirmation: true, Involuntary: true})
	if err != nil || inv.Case.Status != store.CaseRunning {
		t.Fatalf("involuntary with confirmation asked: %v %v", inv, err)
	}
}

func TestUnconfirmedPlansAreDroppedAfterADay(t *testing.T) {
	clock := newClock()
	k, _ := approvalsKit(t, testkit.Policy, clock)
	ctx := context.Background()
	o, err := k.Engine.Open(ctx, engine.Request{EmployeeID: "E1", Requester: "M1", Trigger: store.TriggerSlack, AwaitConfirmation: true})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(25 * time.Hour)
	if st, err := k.Engine.Sweep(ctx, time.Hour); err != nil || st.Unconfirmed != 1 {
		t.Fatalf("%+v %v", st, err)
	}
	if c := reload(t, k.Store, o.Case.ID); c.Status != store.CaseCancelled {
		t.Fatalf("unconfirmed case %s", c.Status)
	}
}

func TestRetryAFailedActionReopensTheCase(t *testing.T) {
	k, _ := approvalsKit(t, testkit.Policy, nil)
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	k.Sandbox("ad").FailNext("erin@example.test", 100, connectors.KindForbidden, 0)
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "M1"})
	c = k.WaitClosed(t, c.ID, 30*time.Second)
	if c.Status != store.CaseFailed {
		t.Fatalf("case %s", c.Status)
	}
	a := actionNamed(t, c, "disable_ad")
	if err := k.Engine.RetryAction(ctx, a.ID, "X1"); !errors.Is(err, engine.ErrNotAllowed) {
		t.Fatalf("a colleague retrying: %v", err)
	}
	if err := k.Engine.RetryAction(ctx, actionNamed(t, c, "deactivate_badge").ID, "A1"); !errors.Is(err, engine.ErrInvalidRequest) {
		t.Fatalf("retrying a succeeded action: %v", err)
	}
	// A failed revocation can be escalated by hand while it is looked at.
	if err := k.Engine.EscalateNow(ctx, a.ID, "A1"); err != nil {
		t.Fatalf("escalating a failed action: %v", err)
	}
	k.Sandbox("ad").FailNext("erin@example.test", 0, connectors.KindForbidden, 0) // the permission was fixed
	if err := k.Engine.RetryAction(ctx, a.ID, "A1"); err != nil {
		t.Fatal(err)
	}
	c = k.WaitClosed(t, c.ID, 30*time.Second)
	if c.Status != store.CaseCompleted || actionNamed(t, c, "remove_ad_groups").Status != store.ActionSucceeded {
		t.Fatalf("after retry: %s\n%s", c.Status, engine.Summary(c))
	}
}

func TestSkipManualStepsAndEscalateNow(t *testing.T) {
	k, rec := approvalsKit(t, operatePolicy, nil)
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "M1"}) // no worker: nothing runs by itself
	badge := actionNamed(t, reload(t, k.Store, c.ID), "deactivate_badge")
	if err := k.Engine.SkipAction(ctx, badge.ID, "A1", ""); !errors.Is(err, engine.ErrInvalidRequest) {
		t.Fatalf("skip without a reason: %v", err)
	}
	if err := k.Engine.SkipAction(ctx, actionNamed(t, reload(t, k.Store, c.ID), "disable_ad").ID, "A1", "no AD"); !errors.Is(err, engine.ErrNotAllowed) {
		t.Fatalf("skipping a critical revocation: %v", err)
	}
	if err := k.Engine.SkipAction(ctx, badge.ID, "X1", "lost badge"); !errors.Is(err, engine.ErrNotAllowed) {
		t.Fatalf("a colleague skipping: %v", err)
	}
	if err := k.Engine.SkipAction(ctx, badge.ID, "H1", "badge returned at the desk"); err != nil {
		t.Fatal(err)
	}
	if a := actionStatus(t, k, c.ID, "deactivate_badge"); a.Status != store.ActionSkipped || !strings.Contains(a.Detail, "H1") {
		t.Fatalf("badge: %s %q", a.Status, a.Detail)
	}
	if err := k.Engine.EscalateNow(ctx, actionStatus(t, k, c.ID, "disable_ad").ID, "A1"); err != nil {
		t.Fatal(err)
	}
	if evs := rec.of("escalation"); len(evs) != 1 || evs[0].Level != 1 {
		t.Fatalf("escalate now: %+v", evs)
	}
	// Let the machine work; the manual step then waits for a person.
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, func() bool {
		return actionStatus(t, k, c.ID, "collect_laptop").BlockedReason != "" && actionStatus(t, k, c.ID, "notify_payroll").Status == store.ActionSucceeded
	}, func() string { return "manual step never became due:\n" + engine.Summary(reload(t, k.Store, c.ID)) })
	if got := reload(t, k.Store, c.ID); got.Status != store.CaseRunning {
		t.Fatalf("case %s while a manual step is pending", got.Status)
	}
	if len(rec.of("manual_step")) != 1 {
		t.Fatal("the owning team was not told of the manual step")
	}
	laptop := actionStatus(t, k, c.ID, "collect_laptop")
	if err := k.Engine.MarkDone(ctx, actionStatus(t, k, c.ID, "notify_payroll").ID, "A1", ""); !errors.Is(err, engine.ErrInvalidRequest) {
		t.Fatalf("marking an automated action done: %v", err)
	}
	if err := k.Engine.MarkDone(ctx, laptop.ID, "A1", "laptop received at the service desk"); err != nil {
		t.Fatal(err)
	}
	final := k.WaitClosed(t, c.ID, 10*time.Second)
	if final.Status != store.CaseCompletedWithExceptions {
		t.Fatalf("case %s, want completed_with_exceptions (a person attested a step)", final.Status)
	}
	// The badge a person skipped shows as skipped by that person, apart
	// from the recovery task that found no device.
	if !strings.Contains(final.Summary, "1 skipped by H1") || !strings.Contains(final.Summary, "1 skipped (no account)") {
		t.Errorf("summary: %s", final.Summary)
	}
	var n int64
	k.Store.TestDB().Model(&store.AuditEvent{}).Where("case_id = ? AND event IN ?", c.ID, []string{"action.skipped_by_person", "action.marked_done", "action.escalated"}).Count(&n)
	if n != 3 {
		t.Fatalf("%d audit events for the three clicks", n)
	}
}

// A lead-time action of a plan awaiting confirmation is scheduled once the
// requester confirms; an involuntary HR event starts such a plan at once.
func TestLeadTimeAndConfirmation(t *testing.T) {
	pol := strings.Replace(testkit.Policy,
		"notify_payroll: {connector: payroll, operation: notify, phase: notifications, params: {template: final_pay}}",
		"notify_payroll: {connector: payroll, operation: notify, phase: notifications, params: {template: final_pay}, lead: 2d}", 1)
	k, _ := approvalsKit(t, pol, nil)
	ctx := context.Background()
	o, err := k.Engine.Open(ctx, engine.Request{EmployeeID: "E1", Requester: "M1", Trigger: store.TriggerSlack, AwaitConfirmation: true,
		EffectiveAt: time.Now().Add(5 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if a := actionNamed(t, reload(t, k.Store, o.Case.ID), "notify_payroll"); a.Status == store.ActionQueued || a.NotBefore == nil {
		t.Fatalf("before confirmation: %s %v", a.Status, a.NotBefore)
	}
	if _, err := k.Engine.Confirm(ctx, o.Case.ID, "M1"); err != nil {
		t.Fatal(err)
	}
	a := actionNamed(t, reload(t, k.Store, o.Case.ID), "notify_payroll")
	if a.Status != store.ActionQueued {
		t.Fatalf("after confirmation notify_payroll is %s, want queued for its lead time", a.Status)
	}
	if pending, _ := k.Dispatcher.ActionTaskPending(ctx, a.ID, a.Generation); !pending {
		t.Fatal("the lead-time action's task is not scheduled")
	}
	// Another employee's plan awaits confirmation when HR reports an
	// involuntary termination: it starts now.
	o2, err := k.Engine.Open(ctx, engine.Request{EmployeeID: "E2", Requester: "M1", Trigger: store.TriggerSlack, AwaitConfirmation: true,
		EffectiveAt: time.Now().Add(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	ev := engine.HREvent{Source: "bamboohr", Kind: engine.HRTerminate, EmployeeID: "E2", Involuntary: true}
	if r, err := k.Engine.HandleHREvent(ctx, ev, engine.HRTiming{}); err != nil || r.Outcome != engine.HRRescheduled {
		t.Fatalf("%+v %v", r, err)
	}
	if c := reload(t, k.Store, o2.Case.ID); c.Status != store.CaseRunning {
		t.Fatalf("case %s after an involuntary HR event", c.Status)
	}
}

// TestCriticalTimeCountsRetries: a critical action that fails and succeeds
// only when a person retries it 2m27s after the effective time ends the
// critical phase then, not at its first failure; the summary says so.
func TestCriticalTimeCountsRetries(t *testing.T) {
	clock := newClock()
	// Behind the real time, so that a dispatch at the engine's now is due
	// at once for the queue, which keeps real time.
	clock.Advance(-5 * time.Minute)
	k, _ := approvalsKit(t, testkit.Policy, clock)
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	k.Sandbox("ad").FailNext("erin@example.test", 100, connectors.KindForbidden, 0)
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "M1", Involuntary: true})
	eff := c.EffectiveAt
	c = k.WaitClosed(t, c.ID, 30*time.Second)
	if c.Status != store.CaseFailed || c.CriticalDoneAt == nil {
		t.Fatalf("first run: %s, critical done %v", c.Status, c.CriticalDoneAt)
	}
	if !strings.Contains(c.Summary, "critical phase ended 0s after the effective time with 1 critical action not done") {
		t.Fatalf("summary after the failure: %q", c.Summary)
	}

	clock.Advance(2*time.Minute + 27*time.Second)
	k.Sandbox("ad").FailNext("erin@example.test", 0, connectors.KindForbidden, 0)
	if err := k.Engine.RetryAction(ctx, actionNamed(t, c, "disable_ad").ID, "A1"); err != nil {
		t.Fatal(err)
	}
	c = k.WaitClosed(t, c.ID, 30*time.Second)
	if c.Status != store.CaseCompleted {
		t.Fatalf("after the retry: %s\n%s", c.Status, engine.Summary(c))
	}
	if c.CriticalDoneAt == nil || !c.CriticalDoneAt.Equal(eff.Add(2*time.Minute+27*time.Second)) {
		t.Fatalf("critical done at %v, want the retry's success %v", c.CriticalDoneAt, eff.Add(2*time.Minute+27*time.Second))
	}
	if !strings.Contains(c.Summary, "critical access revoked 2m27s after the effective time, including retries") {
		t.Fatalf("summary: %q", c.Summary)
	}
}

func TestSkipAFailedNonCriticalAction(t *testing.T) {
	k, _ := approvalsKit(t, operatePolicy, nil)
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	k.Sandbox("badge").FailNext("erin@example.test", 100, connectors.KindForbidden, 0)
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "M1"})
	testkit.Eventually(t, 30*time.Second, func() bool {
		return actionStatus(t, k, c.ID, "deactivate_badge").Status == store.ActionFailed
	}, func() string { return engine.Summary(reload(t, k.Store, c.ID)) })
	badge := actionStatus(t, k, c.ID, "deactivate_badge")
	if _, _, err := k.Engine.CheckSkip(ctx, badge.ID, "X1"); !errors.Is(err, engine.ErrNotAllowed) {
		t.Fatalf("CheckSkip for a colleague: %v", err)
	}
	if _, _, err := k.Engine.CheckSkip(ctx, badge.ID, "E1"); !errors.Is(err, engine.ErrNotAllowed) {
		t.Fatalf("CheckSkip for the departing employee: %v", err)
	}
	if a, _, err := k.Engine.CheckSkip(ctx, badge.ID, "H1"); err != nil || a.ID != badge.ID {
		t.Fatalf("CheckSkip for HR: %v", err)
	}
	if err := k.Engine.SkipAction(ctx, badge.ID, "H1", "badge handed in at the desk"); err != nil {
		t.Fatalf("skipping a failed non-critical action: %v", err)
	}
	testkit.Eventually(t, 30*time.Second, func() bool {
		return actionStatus(t, k, c.ID, "collect_laptop").Status == store.ActionPending
	}, func() string { return engine.Summary(reload(t, k.Store, c.ID)) })
	if err := k.Engine.MarkDone(ctx, actionStatus(t, k, c.ID, "collect_laptop").ID, "A1", "laptop back"); err != nil {
		t.Fatal(err)
	}
	final := k.WaitClosed(t, c.ID, 30*time.Second)
	if final.Status != store.CaseCompletedWithExceptions || actionNamed(t, final, "deactivate_badge").Status != store.ActionSkipped {
		t.Fatalf("after the skip: %s\n%s", final.Status, engine.Summary(final))
	}
	if err := k.Engine.SkipAction(ctx, badge.ID, "H1", "again"); !errors.Is(err, engine.ErrInvalidRequest) {
		t.Fatalf("skipping a skipped action: %v", err)
	}

	k.Sandbox("ad").FailNext("carl@example.test", 100, connectors.KindForbidden, 0)
	c2 := open(t, k, engine.Request{EmployeeID: "E2", Requester: "M1"})
	testkit.Eventually(t, 30*time.Second, func() bool {
		return actionStatus(t, k, c2.ID, "disable_ad").Status == store.ActionFailed
	}, func() string { return engine.Summary(reload(t, k.Store, c2.ID)) })
	ad := actionStatus(t, k, c2.ID, "disable_ad")
	before := reload(t, k.Store, c2.ID).Status
	if _, _, err := k.Engine.CheckSkip(ctx, ad.ID, "A1"); !errors.Is(err, engine.ErrNotAllowed) || !strings.Contains(err.Error(), "never skipped") {
		t.Fatalf("CheckSkip of a failed critical action: %v", err)
	}
	if err := k.Engine.SkipAction(ctx, ad.ID, "A1", "account already gone"); !errors.Is(err, engine.ErrNotAllowed) {
		t.Fatalf("skipping a failed critical action: %v", err)
	}
	if got := actionStatus(t, k, c2.ID, "disable_ad"); got.Status != store.ActionFailed || reload(t, k.Store, c2.ID).Status != before {
		t.Fatalf("a refused skip changed the case: %s", got.Status)
	}
}

func TestPrecheckRefusesWhatOpenWould(t *testing.T) {
	k, _ := approvalsKit(t, testkit.ApprovalPolicy, nil)
	ctx := context.Background()
	field := func(err error) string {
		var fe *engine.FieldError
		if !errors.As(err, &fe) {
			return "<none>"
		}
		return fe.Field
	}
	base := engine.Request{EmployeeID: "E1", Requester: "M1", Trigger: store.TriggerSlack}
	for _, tc := range []struct {
		name  string
		mod   func(r *engine.Request)
		is    error
		field string
	}{
		{"unknown employee", func(r *engine.Request) { r.EmployeeID = "NOPE" }, engine.ErrUnknownEmployee, engine.FieldEmployee},
		{"self", func(r *engine.Request) { r.Requester = "E1" }, engine.ErrNotAllowed, engine.FieldEmployee},
		{"colleague", func(r *engine.Request) { r.Requester = "X1" }, engine.ErrNotAllowed, engine.FieldRequester},
		{"unmapped requester", func(r *engine.Request) { r.Requester = "GHOST" }, engine.ErrNotAllowed, engine.FieldRequester},
		{"long reason", func(r *engine.Request) { r.Reason = strings.Repeat("é", 1001) }, engine.ErrInvalidRequest, engine.FieldReason},
		{"far future", func(r *engine.Request) { r.EffectiveAt = time.Now().AddDate(3, 0, 0) }, engine.ErrInvalidRequest, engine.FieldEffective},
		{"forwarding outside the allowed domains", func(r *engine.Request) {
			r.Exceptions = []engine.ExceptionRequest{{Kind: "email_forwarding", ForwardTo: "someone@gmail.com", Days: 10}}
		}, engine.ErrNotAllowed, engine.FieldExceptionPrefix + "email_forwarding"},
	} {
		r := base
		tc.mod(&r)
		err := k.Engine.Precheck(ctx, r)
		if !errors.Is(err, tc.is) || field(err) != tc.field {
			t.Errorf("%s: %v (field %s), want %v on %s", tc.name, err, field(err), tc.is, tc.field)
		}
	}
	if err := k.Engine.Precheck(ctx, base); err != nil {
		t.Fatalf("a valid request: %v", err)
	}
	if err := k.Engine.CheckException(engine.ExceptionRequest{Kind: "email_forwarding", ForwardTo: "x@gmail.com", Days: 3}); !errors.Is(err, engine.ErrNotAllowed) {
		t.Fatalf("CheckException: %v", err)
	}
	open(t, k, base)
	var co *engine.CaseOpenError
	if err := k.Engine.Precheck(ctx, base); !errors.As(err, &co) || field(err) != engine.FieldEmployee {
		t.Fatalf("open case: %v", err)
	}
	if k.Count(t, &store.Case{}, "") != 1 {
		t.Fatal("Precheck wrote a case")
	}
}

func TestMayView(t *testing.T) {
	k, _ := approvalsKit(t, testkit.Policy, nil)
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E4", Requester: "H1", EffectiveAt: time.Now().Add(48 * time.Hour)})
	for who, want := range map[string]bool{"H1": true, "H2": true, "M1": true, "A1": true, "S1": true, "X1": false, "E4": false, "E1": false, "": false} {
		if got := k.Engine.MayView(ctx, who, c); got != want {
			t.Errorf("MayView(%q) = %t, want %t", who, got, want)
		}
	}
	// A principal acting for someone else sees nothing in their name.
	pctx := engine.WithPrincipal(ctx, engine.Principal{ID: "slack:UX", ActAs: []string{"X1"}})
	if k.Engine.MayView(pctx, "H1", c) {
		t.Error("a Slack user saw a case as HR")
	}
}
