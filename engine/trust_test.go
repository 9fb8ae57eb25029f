package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// Issue 12, "the trust boundary": the two-person rule and clearance rules
// are never satisfied by a clock, an involuntary termination upgrades a
// voluntary case already open, effective times and exceptions are bounded,
// and cancelling is authorized by the engine.

// auditCount counts a case's audit events of one kind (and actor, if set).
func auditCount(t *testing.T, k *testkit.Kit, caseID int64, event, actor string) int64 {
	t.Helper()
	q := k.Store.TestDB().Model(&store.AuditEvent{}).Where("case_id = ? AND event = ?", caseID, event)
	if actor != "" {
		q = q.Where("actor = ?", actor)
	}
	var n int64
	if err := q.Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// Reproduction: a step with on_timeout: approve approved an exception on a
// top-secret case under the two-person rule with zero decisions (actor
// "policy"). Now it expires, and the refusal is audited.
func TestTimeoutNeverApprovesUnderTheTwoPersonRule(t *testing.T) {
	clock := newClock()
	k, rec := approvalsKit(t, testkit.ApprovalPolicy, clock)
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E4", Requester: "A1", EffectiveAt: clock.Now().Add(time.Hour)})
	ap, err := k.Engine.RequestException(ctx, engine.ExceptionRequest{CaseID: c.ID, Kind: "late_laptop", Requester: "M1", Days: 14})
	if err != nil {
		t.Fatal(err)
	}
	eqBefore, _ := k.Store.EquipmentTasks(ctx, c.ID)
	clock.Advance(25 * time.Hour)
	if _, err := k.Engine.Sweep(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	v := approvalStatus(t, k, ap.ID)
	if v.Status != store.ApprovalExpired || len(v.Decisions) != 0 {
		t.Fatalf("approval %s with %d decisions, want expired with none", v.Status, len(v.Decisions))
	}
	if len(rec.of("approval_expired")) != 1 {
		t.Fatal("the expiry was not announced")
	}
	if n := auditCount(t, k, c.ID, "approval.decision", "policy"); n != 0 {
		t.Fatalf("%d approvals by the policy's clock", n)
	}
	if n := auditCount(t, k, c.ID, "approval.auto_approve_refused", ""); n != 1 {
		t.Fatalf("%d audit events for the refused timeout approval, want 1", n)
	}
	eq, _ := k.Store.EquipmentTasks(ctx, c.ID)
	for i := range eq {
		if !eq[i].DueAt.Equal(*eqBefore[i].DueAt) {
			t.Fatalf("the equipment due date moved: %v → %v", eqBefore[i].DueAt, eq[i].DueAt)
		}
	}
}

// A clearance rule is for people too: with no two-person rule in the
// policy, a timeout still does not approve an exception for cleared staff,
// while it does for everyone else.
func TestTimeoutNeverApprovesForClearedStaff(t *testing.T) {
	pol := strings.Replace(testkit.ApprovalPolicy, "two_person_rule_when: 'employee.clearance in [\"secret\", \"top_secret\"]'\n", "", 1)
	if pol == testkit.ApprovalPolicy {
		t.Fatal("the test policy has no two_person_rule_when line to remove")
	}
	clock := newClock()
	k, _ := approvalsKit(t, pol, clock)
	ctx := context.Background()
	cleared := open(t, k, engine.Request{EmployeeID: "E4", Requester: "A1", EffectiveAt: clock.Now().Add(time.Hour)})
	plain := open(t, k, engine.Request{EmployeeID: "E1", Requester: "A1", EffectiveAt: clock.Now().Add(time.Hour)})
	var aps []int64
	for _, c := range []*store.Case{cleared, plain} {
		ap, err := k.Engine.RequestException(ctx, engine.ExceptionRequest{CaseID: c.ID, Kind: "late_laptop", Requester: "M1", Days: 14})
		if err != nil {
			t.Fatal(err)
		}
		aps = append(aps, ap.ID)
	}
	if v := approvalStatus(t, k, aps[0]); v.Steps[0].Required != 1 {
		t.Fatalf("without the two-person rule the step needs %d approvers", v.Steps[0].Required)
	}
	clock.Advance(25 * time.Hour)
	if _, err := k.Engine.Sweep(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	if v := approvalStatus(t, k, aps[0]); v.Status != store.ApprovalExpired {
		t.Fatalf("cleared staff: approval %s, want expired", v.Status)
	}
	if v := approvalStatus(t, k, aps[1]); v.Status != store.ApprovalApproved {
		t.Fatalf("uncleared: approval %s, want approved on timeout as the policy allows", v.Status)
	}
}

// A step that approves on timeout but has fallback approvers escalates to
// them instead, once; then it expires.
func TestTimeoutEscalatesInsteadOfApprovingForClearedStaff(t *testing.T) {
	pol := strings.Replace(testkit.ApprovalPolicy,
		`{name: it, approvers: ["user:A1"], timeout: 24h, on_timeout: approve}`,
		`{name: it, approvers: ["user:A1"], timeout: 24h, on_timeout: approve, fallback: ["group:hr"]}`, 1)
	clock := newClock()
	k, rec := approvalsKit(t, pol, clock)
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E4", Requester: "A1", EffectiveAt: clock.Now().Add(time.Hour)})
	ap, err := k.Engine.RequestException(ctx, engine.ExceptionRequest{CaseID: c.ID, Kind: "late_laptop", Requester: "M1", Days: 14})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(25 * time.Hour)
	if _, err := k.Engine.Sweep(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	if v := approvalStatus(t, k, ap.ID); v.Status != store.ApprovalPending || !v.Steps[0].Escalated || len(rec.of("approval_escalated")) != 1 {
		t.Fatalf("after the first timeout: %s escalated=%v", v.Status, v.Steps[0].Escalated)
	}
	clock.Advance(25 * time.Hour)
	if _, err := k.Engine.Sweep(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	if v := approvalStatus(t, k, ap.ID); v.Status != store.ApprovalExpired {
		t.Fatalf("after the escalated timeout: %s, want expired", v.Status)
	}
	if n := auditCount(t, k, c.ID, "approval.decision", "policy"); n != 0 {
		t.Fatalf("%d approvals by the policy's clock", n)
	}
}

// waitAction polls until the case's action reaches status, bounded by a
// deadline.
func waitAction(t *testing.T, k *testkit.Kit, caseID int64, name, status string) store.Action {
	t.Helper()
	var a store.Action
	testkit.Eventually(t, 20*time.Second, func() bool {
		a = actionStatus(t, k, caseID, name)
		return a.Status == status
	}, func() string {
		return fmt.Sprintf("%s is %s (%s), want %s:\n%s", name, a.Status, a.BlockedReason, status, engine.Summary(reload(t, k.Store, caseID)))
	})
	return a
}

// Reproduction: an involuntary HR event for an employee whose voluntary
// case was already scheduled moved the case to now but kept
// involuntary=false, and a critical action stayed held by a
// mailbox_handover exception, which the policy forbids for involuntary
// cases. Now the case becomes involuntary, the exception is cancelled (with
// an audit event and a notice to its requester) and the action runs.
func TestInvoluntaryHREventUpgradesAScheduledVoluntaryCase(t *testing.T) {
	k, rec := approvalsKit(t, testkit.ApprovalPolicy, nil)
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "M1", EffectiveAt: time.Now().Add(48 * time.Hour)})
	ap, err := k.Engine.RequestException(ctx, engine.ExceptionRequest{CaseID: c.ID, Kind: "mailbox_handover", Action: "disable_ad", Days: 3, Requester: "M1", Reason: "handover week"})
	if err != nil {
		t.Fatal(err)
	}
	if a := actionStatus(t, k, c.ID, "disable_ad"); a.Status != store.ActionHeld {
		t.Fatalf("disable_ad is %s before the event, want held", a.Status)
	}
	ev := engine.HREvent{Source: "bamboohr", Kind: engine.HRTerminate, EmployeeID: "E1", Involuntary: true, Reason: "misconduct"}
	res, err := k.Engine.HandleHREvent(ctx, ev, engine.HRTiming{})
	if err != nil || res.Outcome != engine.HRRescheduled || res.CaseID != c.ID {
		t.Fatalf("%+v %v", res, err)
	}
	got := reload(t, k.Store, c.ID)
	if !got.Involuntary || got.EffectiveAt.After(time.Now()) {
		t.Fatalf("case involuntary=%v effective %s, want involuntary from now", got.Involuntary, got.EffectiveAt)
	}
	if v := approvalStatus(t, k, ap.ID); v.Status != store.ApprovalCancelled || !strings.Contains(v.Outcome, "involuntary") {
		t.Fatalf("mailbox_handover is %s (%q), want cancelled", v.Status, v.Outcome)
	}
	if n := auditCount(t, k, c.ID, "approval.cancelled", "hr:bamboohr"); n != 1 {
		t.Fatalf("%d audit events for the cancelled exception", n)
	}
	if n := auditCount(t, k, c.ID, "case.made_involuntary", "hr:bamboohr"); n != 1 {
		t.Fatalf("%d audit events for the upgrade", n)
	}
	if evs := rec.of("approval_cancelled"); len(evs) != 1 || !contains(evs[0].Targets, "user:M1") {
		t.Fatalf("the requester was not told: %+v", evs)
	}
	// The critical revocation runs at once, under the involuntary SLA.
	waitAction(t, k, c.ID, "disable_ad", store.ActionSucceeded)
	// A second involuntary event changes nothing.
	ev.EventID = "again"
	if res, err := k.Engine.HandleHREvent(ctx, ev, engine.HRTiming{}); err != nil || res.Outcome != engine.HRUnchanged {
		t.Fatalf("repeat: %+v %v", res, err)
	}
}

// The same through Open (API, Slack, CLI): an involuntary request for an
// employee with a scheduled voluntary case upgrades it instead of answering
// that a case is open; an approved delay of a critical action is undone.
func TestInvoluntaryRequestUpgradesTheOpenVoluntaryCase(t *testing.T) {
	k, rec := approvalsKit(t, testkit.ApprovalPolicy, nil)
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "M1", EffectiveAt: time.Now().Add(48 * time.Hour)})
	ap, err := k.Engine.RequestException(ctx, engine.ExceptionRequest{CaseID: c.ID, Kind: "mailbox_handover", Action: "disable_ad", Days: 3, Requester: "A1"})
	if err != nil {
		t.Fatal(err)
	}
	if decide(k, ap.ID, "M1", true, "") != nil || decide(k, ap.ID, "H1", true, "") != nil {
		t.Fatal("approving the handover failed")
	}
	if a := actionStatus(t, k, c.ID, "disable_ad"); a.NotBefore == nil || a.NotBefore.Before(time.Now().Add(48*time.Hour)) {
		t.Fatalf("disable_ad not delayed by the approved exception: %s %v", a.Status, a.NotBefore)
	}
	// Exceptions may not ride on an upgrade; nothing changes.
	req := engine.Request{EmployeeID: "E1", Requester: "H1", Trigger: store.TriggerAPI, Involuntary: true, Reason: "misconduct",
		Exceptions: []engine.ExceptionRequest{{Kind: "late_laptop", Days: 3}}}
	if _, err := k.Engine.Open(ctx, req); !errors.Is(err, engine.ErrInvalidRequest) {
		t.Fatalf("an upgrade with exceptions: %v", err)
	}
	if got := reload(t, k.Store, c.ID); got.Involuntary || got.Status != store.CaseScheduled {
		t.Fatalf("a refused upgrade changed the case: %s involuntary=%v", got.Status, got.Involuntary)
	}
	// A colleague may not upgrade it.
	req.Exceptions, req.Requester = nil, "X1"
	if _, err := k.Engine.Open(ctx, req); !errors.Is(err, engine.ErrNotAllowed) {
		t.Fatalf("a colleague's involuntary request: %v", err)
	}
	req.Requester = "H1"
	o, err := k.Engine.Open(ctx, req)
	if err != nil {
		t.Fatalf("involuntary request for a scheduled voluntary case: %v", err)
	}
	if !o.Upgraded || o.Created || o.Case.ID != c.ID || !o.Case.Involuntary {
		t.Fatalf("opened %+v, want case %d upgraded", o, c.ID)
	}
	if v := approvalStatus(t, k, ap.ID); v.Status != store.ApprovalCancelled {
		t.Fatalf("the approved delay of a critical action is %s, want cancelled", v.Status)
	}
	if len(rec.of("approval_cancelled")) != 1 {
		t.Fatal("the requester of the cancelled exception was not told")
	}
	waitAction(t, k, c.ID, "disable_ad", store.ActionSucceeded)
	// Now involuntary: a further involuntary request is a conflict again.
	var open *engine.CaseOpenError
	if _, err := k.Engine.Open(ctx, req); !errors.As(err, &open) || open.CaseID != c.ID {
		t.Fatalf("a second involuntary request: %v", err)
	}
}

// Reproduction: effective_at 9999-12-31T23:59:59Z was accepted, and a later
// involuntary request for that person got 409 with no way to cancel. Now an
// effective time beyond max_future is refused and nothing is recorded.
func TestEffectiveTimeBeyondMaxFutureIsRefused(t *testing.T) {
	k, _ := approvalsKit(t, testkit.Policy, nil)
	ctx := context.Background()
	far := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	for _, at := range []time.Time{far, time.Now().Add(engine.DefaultMaxFuture + time.Hour)} {
		_, err := k.Engine.Open(ctx, engine.Request{EmployeeID: "E1", Requester: "M1", Trigger: store.TriggerAPI, EffectiveAt: at})
		if !errors.Is(err, engine.ErrInvalidRequest) || !strings.Contains(err.Error(), "max_future") {
			t.Fatalf("effective %s: %v", at, err)
		}
		if _, err := k.Engine.Plan(ctx, engine.Request{EmployeeID: "E1", EffectiveAt: at}, true); !errors.Is(err, engine.ErrInvalidRequest) {
			t.Fatalf("plan effective %s: %v", at, err)
		}
	}
	if n := k.Count(t, &store.Case{}, ""); n != 0 {
		t.Fatalf("%d cases recorded", n)
	}
	// Within the bound it opens; the involuntary request then upgrades it.
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "M1", EffectiveAt: time.Now().Add(300 * 24 * time.Hour)})
	o, err := k.Engine.Open(ctx, engine.Request{EmployeeID: "E1", Requester: "M1", Trigger: store.TriggerAPI, Involuntary: true})
	if err != nil || !o.Upgraded || o.Case.ID != c.ID {
		t.Fatalf("involuntary after a distant voluntary date: %+v %v", o, err)
	}
}

// Reproduction: 1,200 exceptions in one request created 1,200 approvals.
// Now a request carries at most one exception per kind, only kinds the
// policy defines, and a refusal records nothing.
func TestRequestCarriesAtMostOneExceptionPerKind(t *testing.T) {
	k, _ := approvalsKit(t, testkit.ApprovalPolicy, nil)
	ctx := context.Background()
	many := make([]engine.ExceptionRequest, 1200)
	for i := range many {
		many[i] = engine.ExceptionRequest{Kind: "late_laptop", Days: 3}
	}
	for name, xs := range map[string][]engine.ExceptionRequest{
		"1,200 of one kind": many,
		"two of one kind":   {{Kind: "late_laptop", Days: 3}, {Kind: "late_laptop", Days: 5}},
		"an unknown kind":   {{Kind: "keep_laptop_forever"}},
	} {
		_, err := k.Engine.Open(ctx, engine.Request{EmployeeID: "E1", Requester: "M1", Trigger: store.TriggerAPI, EffectiveAt: time.Now().Add(time.Hour), Exceptions: xs})
		if !errors.Is(err, engine.ErrInvalidRequest) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if n, m := k.Count(t, &store.Case{}, ""), k.Count(t, &store.Approval{}, ""); n != 0 || m != 0 {
		t.Fatalf("%d cases and %d approvals recorded", n, m)
	}
	// One of each kind is fine.
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "M1", EffectiveAt: time.Now().Add(time.Hour),
		Exceptions: []engine.ExceptionRequest{{Kind: "late_laptop", Days: 3}, {Kind: "email_forwarding", ForwardTo: "manager@example.test", Days: 5}}})
	if n := k.Count(t, &store.Approval{}, ""); n != 2 {
		t.Fatalf("%d approvals for case %d, want 2", n, c.ID)
	}
}

// Cancelling is authorized by the engine, for every front end: the
// requester, the manager, the HR partner, HR or an admin may cancel a case
// that has not started; a colleague, the departing employee or a stranger
// may not, and a started case is not cancelled by a person.
func TestCancelIsAuthorizedByTheEngine(t *testing.T) {
	k, _ := approvalsKit(t, testkit.ApprovalPolicy, nil)
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "M1", EffectiveAt: time.Now().Add(48 * time.Hour)})
	for _, who := range []string{"X1", "E1", "nobody", "E3", ""} {
		err := k.Engine.CancelCase(ctx, engine.CancelRequest{CaseID: c.ID, By: who, Reason: "test"})
		if !errors.Is(err, engine.ErrNotAllowed) {
			t.Fatalf("cancel by %q: %v", who, err)
		}
	}
	if got := reload(t, k.Store, c.ID); got.Status != store.CaseScheduled || auditCount(t, k, c.ID, "case.cancelled", "") != 0 {
		t.Fatalf("a refused cancel changed the case: %s", got.Status)
	}
	if err := k.Engine.CancelCase(ctx, engine.CancelRequest{CaseID: c.ID, By: "H2", Reason: "changed plans"}); err != nil {
		t.Fatalf("HR cancels: %v", err)
	}
	if got := reload(t, k.Store, c.ID); got.Status != store.CaseCancelled || auditCount(t, k, c.ID, "case.cancelled", "H2") != 1 {
		t.Fatalf("after HR's cancel: %s", got.Status)
	}
	if err := k.Engine.CancelCase(ctx, engine.CancelRequest{CaseID: c.ID, By: "H2", Reason: "again"}); !errors.Is(err, engine.ErrInvalidRequest) {
		t.Fatalf("cancelling a cancelled case: %v", err)
	}
	if err := k.Engine.CancelCase(ctx, engine.CancelRequest{CaseID: 424242, By: "H2"}); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("an unknown case: %v", err)
	}
	// Started: a person may not cancel it.
	started := open(t, k, engine.Request{EmployeeID: "E2", Requester: "M1", Involuntary: true})
	err := k.Engine.CancelCase(ctx, engine.CancelRequest{CaseID: started.ID, By: "A1", Reason: "oops"})
	if !errors.Is(err, engine.ErrCaseStarted) || !errors.Is(err, engine.ErrInvalidRequest) {
		t.Fatalf("cancelling a started case: %v", err)
	}
	// The requester (the manager here) may cancel a plan awaiting
	// confirmation.
	o, err := k.Engine.Open(ctx, engine.Request{EmployeeID: "E4", Requester: "M1", Trigger: store.TriggerSlack, AwaitConfirmation: true, EffectiveAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Engine.CancelCase(ctx, engine.CancelRequest{CaseID: o.Case.ID, By: "M1", Reason: "wrong person"}); err != nil {
		t.Fatalf("the requester cancels their plan: %v", err)
	}
}

// A voluntary case already running when the involuntary event comes keeps
// running, now involuntary: the held critical revocation is released and
// queued at once (outcome "upgraded", not the old "too_late").
func TestInvoluntaryHREventUpgradesARunningVoluntaryCase(t *testing.T) {
	clock := newClock()
	k, _ := approvalsKit(t, testkit.ApprovalPolicy, clock)
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "M1", EffectiveAt: clock.Now().Add(time.Hour)})
	ap, err := k.Engine.RequestException(ctx, engine.ExceptionRequest{CaseID: c.ID, Kind: "mailbox_handover", Action: "disable_ad", Days: 3, Requester: "M1"})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	if st, err := k.Engine.Sweep(ctx, time.Minute); err != nil || st.CasesStarted != 1 {
		t.Fatalf("start: %+v %v", st, err)
	}
	if a := actionStatus(t, k, c.ID, "disable_ad"); a.Status != store.ActionHeld {
		t.Fatalf("disable_ad is %s in the running case, want held", a.Status)
	}
	ev := engine.HREvent{Source: "bamboohr", Kind: engine.HRTerminate, EmployeeID: "E1", Involuntary: true}
	res, err := k.Engine.HandleHREvent(ctx, ev, engine.HRTiming{})
	if err != nil || res.Outcome != engine.HRUpgraded {
		t.Fatalf("%+v %v", res, err)
	}
	if got := reload(t, k.Store, c.ID); !got.Involuntary || got.Status != store.CaseRunning {
		t.Fatalf("case %s involuntary=%v", got.Status, got.Involuntary)
	}
	if v := approvalStatus(t, k, ap.ID); v.Status != store.ApprovalCancelled {
		t.Fatalf("mailbox_handover is %s, want cancelled", v.Status)
	}
	if a := actionStatus(t, k, c.ID, "disable_ad"); a.Status != store.ActionQueued {
		t.Fatalf("disable_ad is %s (%s), want queued at once", a.Status, a.BlockedReason)
	}
}
