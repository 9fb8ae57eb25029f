package engine_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/kineticsec/kinetic/connectors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// recorder is an engine.Observer that keeps every event.
type recorder struct {
	mu  sync.Mutex
	evs []engine.Event
}

func (r *recorder) Observe(ev engine.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
}

func (r *recorder) of(kind engine.EventKind) []engine.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []engine.Event
	for _, e := range r.evs {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// fakeClock is a settable clock for the engine.
type fakeClock struct{ t atomic.Pointer[time.Time] }

func newClock() *fakeClock {
	c := &fakeClock{}
	now := time.Now().UTC()
	c.t.Store(&now)
	return c
}
func (c *fakeClock) Now() time.Time { return *c.t.Load() }
func (c *fakeClock) Advance(d time.Duration) {
	n := c.Now().Add(d)
	c.t.Store(&n)
}

func approvalsKit(t *testing.T, policy string, clock *fakeClock) (*testkit.Kit, *recorder) {
	t.Helper()
	rec := &recorder{}
	o := testkit.Options{RedisDB: redisDB, Policy: policy, Observers: []engine.Observer{rec}}
	if clock != nil {
		o.Now = clock.Now
	}
	return testkit.New(t, o), rec
}

func actionStatus(t *testing.T, k *testkit.Kit, caseID int64, name string) store.Action {
	t.Helper()
	return actionNamed(t, reload(t, k.Store, caseID), name)
}

func approvalStatus(t *testing.T, k *testkit.Kit, id int64) *engine.ApprovalView {
	t.Helper()
	v, err := k.Engine.Approval(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func decide(k *testkit.Kit, id int64, who string, approve bool, reason string) error {
	_, err := k.Engine.Decide(context.Background(), engine.Decision{ApprovalID: id, Approver: who, Approve: approve, Reason: reason, Via: "test"})
	return err
}

// Forwarding through the two-step chain: the manager approves, then HR;
// only the held action waits meanwhile; the approval adds forwarding now
// and its removal at expiry.
func TestForwardingApprovedThroughTwoStepChain(t *testing.T) {
	k, rec := approvalsKit(t, testkit.ApprovalPolicy, nil)
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	o, err := k.Engine.Open(ctx, engine.Request{EmployeeID: "E1", Requester: "A1", Trigger: store.TriggerCLI,
		Exceptions: []engine.ExceptionRequest{{Kind: "email_forwarding", ForwardTo: "manager@example.test", Days: 30, Reason: "handover"}}})
	if err != nil {
		t.Fatal(err)
	}
	c := o.Case
	aps, _ := k.Engine.Approvals(ctx, "", "", c.ID)
	if len(aps) != 1 {
		t.Fatalf("%d approvals", len(aps))
	}
	apID := aps[0].ID
	if r := aps[0].RoleApprovers; r["manager"] != "M1" || r["hr_partner"] != "H1" {
		t.Fatalf("the view's roles should be Erin's manager and HR partner: %v", r)
	}
	if got := rec.of("approval_requested"); len(got) != 1 || !contains(got[0].Targets, "user:M1") {
		t.Fatalf("approval request should go to the manager: %+v", got)
	}
	// Everything but the held action proceeds.
	testkit.Eventually(t, 20*time.Second, func() bool {
		return actionStatus(t, k, c.ID, "delete_mailbox").Status == store.ActionSucceeded
	}, func() string {
		return "the rest of the plan did not proceed:\n" + engine.Summary(reload(t, k.Store, c.ID))
	})
	if a := actionStatus(t, k, c.ID, "convert_mailbox"); a.Status != store.ActionHeld {
		t.Fatalf("convert_mailbox is %s, want held", a.Status)
	}
	if got := reload(t, k.Store, c.ID); got.Status != store.CaseRunning {
		t.Fatalf("a case with a pending approval must stay open, is %s", got.Status)
	}
	// Step 1: the manager. HR cannot decide step 1.
	if err := decide(k, apID, "H1", true, ""); !errors.Is(err, engine.ErrNotAllowed) {
		t.Fatalf("HR deciding the manager's step: %v", err)
	}
	if err := decide(k, apID, "M1", true, "fine"); err != nil {
		t.Fatal(err)
	}
	if v := approvalStatus(t, k, apID); v.Status != store.ApprovalPending || v.Steps[0].Status != store.StepApproved || v.Steps[1].Status != store.StepPending {
		t.Fatalf("after step 1: %+v", v.Steps)
	}
	// Step 2: HR.
	if err := decide(k, apID, "H1", true, ""); err != nil {
		t.Fatal(err)
	}
	v := approvalStatus(t, k, apID)
	if v.Status != store.ApprovalApproved || !strings.Contains(v.Outcome, "forwarding to manager@example.test") {
		t.Fatalf("approval %s: %s", v.Status, v.Outcome)
	}
	testkit.Eventually(t, 20*time.Second, func() bool {
		return actionStatus(t, k, c.ID, "set_forwarding").Status == store.ActionSucceeded && actionStatus(t, k, c.ID, "convert_mailbox").Status == store.ActionSucceeded
	}, func() string { return "forwarding was not set up:\n" + engine.Summary(reload(t, k.Store, c.ID)) })
	if sf := actionStatus(t, k, c.ID, "set_forwarding"); !sf.Verified || !strings.Contains(sf.Verification, "forwarding=manager@example.test") {
		t.Fatalf("forwarding not read back: %+v", sf.Verification)
	}
	rm := actionStatus(t, k, c.ID, "remove_forwarding")
	if rm.Status != store.ActionQueued || rm.NotBefore == nil || rm.NotBefore.Sub(time.Now()) < 29*24*time.Hour {
		t.Fatalf("remove_forwarding should wait for the expiry in 30 days: %s not_before %v", rm.Status, rm.NotBefore)
	}
	if got := reload(t, k.Store, c.ID); got.Status != store.CaseRunning {
		t.Fatalf("case %s while the forwarding removal is pending", got.Status)
	}
	var n int64
	k.Store.TestDB().Model(&store.AuditEvent{}).Where("case_id = ? AND event = ?", c.ID, "approval.decision").Count(&n)
	if n != 2 {
		t.Fatalf("%d decision audit events, want 2", n)
	}
}

func TestDenialNeedsAReasonAndReleasesHeldActions(t *testing.T) {
	k, _ := approvalsKit(t, testkit.ApprovalPolicy, nil)
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "A1"})
	ap, err := k.Engine.RequestException(ctx, engine.ExceptionRequest{CaseID: c.ID, Kind: "email_forwarding", Requester: "A1", ForwardTo: "x1@example.test", Days: 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := decide(k, ap.ID, "M1", false, "  "); !errors.Is(err, engine.ErrInvalidRequest) {
		t.Fatalf("deny without a reason: %v", err)
	}
	if err := decide(k, ap.ID, "M1", false, "no forwarding for Sales"); err != nil {
		t.Fatal(err)
	}
	if v := approvalStatus(t, k, ap.ID); v.Status != store.ApprovalDenied || v.Steps[1].Status != store.StepWaiting {
		t.Fatalf("approval %s, steps %+v", v.Status, v.Steps)
	}
	c = k.WaitClosed(t, c.ID, 30*time.Second)
	if c.Status != store.CaseCompleted || actionNamed(t, c, "convert_mailbox").Status != store.ActionSucceeded {
		t.Fatalf("after denial: %s\n%s", c.Status, engine.Summary(c))
	}
	if err := decide(k, ap.ID, "H1", true, ""); !errors.Is(err, engine.ErrInvalidRequest) {
		t.Fatalf("deciding a decided approval: %v", err)
	}
}

// Every rule of a chain, tried and refused.
func TestChainRulesCannotBeBroken(t *testing.T) {
	k, _ := approvalsKit(t, testkit.ApprovalPolicy, nil)
	ctx := context.Background()
	later := time.Now().Add(24 * time.Hour) // scheduled: nothing runs meanwhile
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "H2", EffectiveAt: later})
	ap, err := k.Engine.RequestException(ctx, engine.ExceptionRequest{CaseID: c.ID, Kind: "email_forwarding", Requester: "H2", ForwardTo: "hr@example.test", Days: 5})
	if err != nil {
		t.Fatal(err)
	}
	decisions := func() int64 { return k.Count(t, &store.ApprovalDecision{}, "approval_id = ?", ap.ID) }
	for _, tc := range []struct{ name, who string }{
		{"someone not entitled", "X1"},
		{"an unknown person", "ZZ"},
		{"the departing employee", "E1"},
		{"nobody", ""},
	} {
		if err := decide(k, ap.ID, tc.who, true, ""); !errors.Is(err, engine.ErrNotAllowed) {
			t.Errorf("%s approving: %v", tc.name, err)
		}
	}
	if err := decide(k, ap.ID, "M1", true, ""); err != nil {
		t.Fatal(err)
	}
	if err := decide(k, ap.ID, "H2", true, ""); !errors.Is(err, engine.ErrNotAllowed) {
		t.Errorf("the requester approving step 2: %v", err)
	}
	if err := decide(k, 999999, "H1", true, ""); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("unknown approval: %v", err)
	}
	if n := decisions(); n != 1 {
		t.Fatalf("refused decisions were recorded: %d", n)
	}

	// All-of legal chain: one person cannot fill two slots; someone removed
	// from the group before deciding can no longer decide.
	hold, err := k.Engine.RequestException(ctx, engine.ExceptionRequest{CaseID: c.ID, Kind: "legal_hold", Requester: "H1", Reason: "litigation"})
	if err != nil {
		t.Fatal(err)
	}
	if err := decide(k, hold.ID, "L1", true, ""); err != nil {
		t.Fatal(err)
	}
	if err := decide(k, hold.ID, "L1", true, ""); !errors.Is(err, engine.ErrNotAllowed) {
		t.Errorf("one person filling two slots: %v", err)
	}
	groups := k.Config.Service.ApproverGroups
	groups["legal"] = []string{"L1"} // L2 leaves legal before deciding
	t.Cleanup(func() { groups["legal"] = []string{"L1", "L2"} })
	if err := decide(k, hold.ID, "L2", true, ""); !errors.Is(err, engine.ErrNotAllowed) {
		t.Errorf("a removed group member deciding: %v", err)
	}
}

func TestBadExceptionRequestsChangeNothing(t *testing.T) {
	k, _ := approvalsKit(t, testkit.ApprovalPolicy, nil)
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "A1", EffectiveAt: time.Now().Add(time.Hour)})
	before := k.Count(t, &store.Approval{}, "")
	for _, tc := range []struct {
		name string
		req  engine.ExceptionRequest
		want error
	}{
		{"unknown kind", engine.ExceptionRequest{Kind: "free_laptop"}, engine.ErrInvalidRequest},
		{"forwarding beyond the maximum", engine.ExceptionRequest{Kind: "email_forwarding", ForwardTo: "hr@example.test", Days: 31}, engine.ErrInvalidRequest},
		{"forwarding outside the allowed domains", engine.ExceptionRequest{Kind: "email_forwarding", ForwardTo: "dana@gmail.com", Days: 5}, engine.ErrNotAllowed},
		{"forwarding to a non-address", engine.ExceptionRequest{Kind: "email_forwarding", ForwardTo: "Dana <dana@example.test>", Days: 5}, engine.ErrInvalidRequest},
		{"delay of an action the kind does not cover", engine.ExceptionRequest{Kind: "mailbox_handover", Action: "deactivate_badge", Days: 3}, engine.ErrInvalidRequest},
		{"requester not allowed", engine.ExceptionRequest{Kind: "late_laptop", Days: 3, Requester: "X1"}, engine.ErrNotAllowed},
		{"unknown case", engine.ExceptionRequest{CaseID: 424242, Kind: "late_laptop", Days: 3}, engine.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.req
			if r.CaseID == 0 {
				r.CaseID = c.ID
			}
			if r.Requester == "" {
				r.Requester = "A1"
			}
			if _, err := k.Engine.RequestException(ctx, r); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if k.Count(t, &store.Approval{}, "") != before || k.Count(t, &store.Action{}, "status = ?", store.ActionHeld) != 0 {
		t.Fatal("a refused request changed something")
	}
	// An exception refused at open means no case at all.
	_, err := k.Engine.Open(ctx, engine.Request{EmployeeID: "E2", Requester: "A1", Trigger: store.TriggerCLI,
		Exceptions: []engine.ExceptionRequest{{Kind: "email_forwarding", ForwardTo: "x@evil.test", Days: 3}}})
	if !errors.Is(err, engine.ErrNotAllowed) || k.Count(t, &store.Case{}, "employee_id = ?", "E2") != 0 {
		t.Fatalf("open with a bad exception: %v", err)
	}
}

func TestPolicyForbidsExceptionsToCriticalRevocations(t *testing.T) {
	k, _ := approvalsKit(t, testkit.ApprovalPolicy, nil)
	ctx := context.Background()
	later := time.Now().Add(time.Hour)
	vol := open(t, k, engine.Request{EmployeeID: "E1", Requester: "A1", EffectiveAt: later})
	if _, err := k.Engine.RequestException(ctx, engine.ExceptionRequest{CaseID: vol.ID, Kind: "mailbox_handover", Action: "disable_ad", Days: 3, Requester: "A1"}); err != nil {
		t.Fatalf("voluntary, uncleared: delaying AD is allowed: %v", err)
	}
	cleared := open(t, k, engine.Request{EmployeeID: "E4", Requester: "A1", EffectiveAt: later})
	if _, err := k.Engine.RequestException(ctx, engine.ExceptionRequest{CaseID: cleared.ID, Kind: "mailbox_handover", Action: "disable_ad", Days: 3, Requester: "A1"}); !errors.Is(err, engine.ErrNotAllowed) {
		t.Fatalf("cleared: %v", err)
	}
	invol := open(t, k, engine.Request{EmployeeID: "E2", Requester: "A1", Involuntary: true})
	if _, err := k.Engine.RequestException(ctx, engine.ExceptionRequest{CaseID: invol.ID, Kind: "mailbox_handover", Action: "disable_ad", Days: 3, Requester: "A1"}); !errors.Is(err, engine.ErrNotAllowed) {
		t.Fatalf("involuntary: %v", err)
	}
}

// Cleared staff: two distinct approvers, nobody decides two steps, and the
// security officer hears of the case as it opens.
func TestTwoPersonRuleForClearedStaff(t *testing.T) {
	k, rec := approvalsKit(t, testkit.ApprovalPolicy, nil)
	ctx := context.Background()
	later := time.Now().Add(time.Hour)
	cl := open(t, k, engine.Request{EmployeeID: "E4", Requester: "A1", EffectiveAt: later})
	if n := rec.of("security_officer_notice"); len(n) != 1 || !contains(n[0].Targets, "user:S1") {
		t.Fatalf("security officer notice: %+v", n)
	}
	ap, err := k.Engine.RequestException(ctx, engine.ExceptionRequest{CaseID: cl.ID, Kind: "email_forwarding", Requester: "A1", ForwardTo: "manager@example.test", Days: 5})
	if err != nil {
		t.Fatal(err)
	}
	if err := decide(k, ap.ID, "M1", true, ""); err != nil {
		t.Fatal(err)
	}
	if err := decide(k, ap.ID, "M1", true, ""); !errors.Is(err, engine.ErrNotAllowed) { // M1 is also in the hr group
		t.Fatalf("the same person deciding both steps of a cleared case: %v", err)
	}
	// Not cleared: M1 may decide both steps.
	e1 := open(t, k, engine.Request{EmployeeID: "E1", Requester: "A1", EffectiveAt: later})
	ap2, err := k.Engine.RequestException(ctx, engine.ExceptionRequest{CaseID: e1.ID, Kind: "email_forwarding", Requester: "A1", ForwardTo: "manager@example.test", Days: 5})
	if err != nil {
		t.Fatal(err)
	}
	if decide(k, ap2.ID, "M1", true, "") != nil || decide(k, ap2.ID, "M1", true, "") != nil {
		t.Fatal("uncleared: one person may decide both steps")
	}
	// A single-step chain needs two approvers for a cleared employee.
	lap, err := k.Engine.RequestException(ctx, engine.ExceptionRequest{CaseID: cl.ID, Kind: "late_laptop", Requester: "H1", Days: 5})
	if err != nil {
		t.Fatal(err)
	}
	if v := approvalStatus(t, k, lap.ID); v.Steps[0].Required != 2 {
		t.Fatalf("single-step chain for a cleared employee requires %d approvers, want 2", v.Steps[0].Required)
	}
}

// An approved legal hold is a disposition: once everything else is final
// the case closes as completed with exceptions, the mailbox deletion still
// held (it never ran) and the summary naming the hold. The hold's approved
// release reopens the case, the deletion runs, and the case closes again.
// A release that would reopen the case while another case is open for the
// person is refused, when asked and when approved.
func TestLegalHoldBlocksDestructionUntilReleased(t *testing.T) {
	k, _ := approvalsKit(t, testkit.ApprovalPolicy, nil)
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "A1",
		Exceptions: []engine.ExceptionRequest{{Kind: "legal_hold", Reason: "pending litigation"}}})
	aps, _ := k.Engine.Approvals(ctx, store.ApprovalPending, "", c.ID)
	hold := aps[0]
	if decide(k, hold.ID, "L1", true, "") != nil || decide(k, hold.ID, "L2", true, "") != nil {
		t.Fatal("legal approvals failed")
	}
	closed := k.WaitClosed(t, c.ID, 30*time.Second)
	if a := actionNamed(t, closed, "preserve_mailbox"); a.Status != store.ActionSucceeded {
		t.Fatalf("preserve_mailbox %s:\n%s", a.Status, engine.Summary(closed))
	}
	if a := actionNamed(t, closed, "delete_mailbox"); a.Status != store.ActionHeld || !strings.Contains(a.BlockedReason, "legal hold") {
		t.Fatalf("delete_mailbox: %s %q", a.Status, a.BlockedReason)
	}
	want := fmt.Sprintf("preserved under legal hold %d until released, not run: delete_mailbox", hold.ID)
	if closed.Status != store.CaseCompletedWithExceptions || !strings.Contains(closed.Summary, want) || closed.ClosedAt == nil {
		t.Fatalf("case under an approved hold: %s %q, want %s with %q", closed.Status, closed.Summary, store.CaseCompletedWithExceptions, want)
	}
	if n := k.Count(t, &store.AuditEvent{}, "case_id = ? AND event = ? AND result = ?", c.ID, "case.closed", store.CaseCompletedWithExceptions); n != 1 {
		t.Fatalf("%d case.closed events as completed_with_exceptions", n)
	}

	// Another case open for E1: the release would reopen this one, so it
	// is refused.
	other := open(t, k, engine.Request{EmployeeID: "E1", Requester: "A1", EffectiveAt: time.Now().Add(72 * time.Hour)})
	if _, err := k.Engine.RequestRelease(ctx, hold.ID, "H1", "litigation settled"); !errors.Is(err, engine.ErrInvalidRequest) ||
		!strings.Contains(err.Error(), fmt.Sprintf("case %d is open for E1", other.ID)) {
		t.Fatalf("release with another case open: %v, want ErrInvalidRequest naming case %d", err, other.ID)
	}
	if err := k.Engine.Cancel(ctx, other.ID, "A1", "opened by mistake"); err != nil {
		t.Fatal(err)
	}
	rel, err := k.Engine.RequestRelease(ctx, hold.ID, "H1", "litigation settled")
	if err != nil {
		t.Fatal(err)
	}
	if got := reload(t, k.Store, c.ID); got.Status != store.CaseCompletedWithExceptions {
		t.Fatalf("case %s while its release is pending, want it still closed", got.Status)
	}
	// Opened again before the release is approved: the final approval is
	// refused and changes nothing.
	other = open(t, k, engine.Request{EmployeeID: "E1", Requester: "A1", EffectiveAt: time.Now().Add(72 * time.Hour)})
	if err := decide(k, rel.ID, "L1", true, ""); err != nil {
		t.Fatal(err)
	}
	if err := decide(k, rel.ID, "L2", true, ""); !errors.Is(err, engine.ErrInvalidRequest) || !strings.Contains(err.Error(), "is open for E1") {
		t.Fatalf("approving the release with another case open: %v, want ErrInvalidRequest", err)
	}
	if v := approvalStatus(t, k, rel.ID); v.Status != store.ApprovalPending {
		t.Fatalf("refused release is %s", v.Status)
	}
	if err := k.Engine.Cancel(ctx, other.ID, "A1", "opened by mistake"); err != nil {
		t.Fatal(err)
	}
	if err := decide(k, rel.ID, "L2", true, ""); err != nil {
		t.Fatal(err)
	}
	if got := reload(t, k.Store, c.ID); store.CaseOpen(got.Status) && got.ClosedAt != nil {
		t.Fatalf("reopened case keeps closed_at %v", got.ClosedAt)
	}
	if n := k.Count(t, &store.AuditEvent{}, "case_id = ? AND event = ?", c.ID, "case.reopened"); n != 1 {
		t.Fatalf("%d case.reopened events after the release", n)
	}
	testkit.Eventually(t, 30*time.Second, func() bool {
		got := reload(t, k.Store, c.ID)
		return got.Status == store.CaseCompleted && actionNamed(t, got, "delete_mailbox").Status == store.ActionSucceeded
	}, func() string { return "after release:\n" + engine.Summary(reload(t, k.Store, c.ID)) })
	if n := k.Count(t, &store.AuditEvent{}, "case_id = ? AND event = ?", c.ID, "case.closed"); n != 2 {
		t.Fatalf("%d case.closed events, want 2 (under the hold, after the release)", n)
	}
	var order []string
	for _, e := range k.Sandbox("m365").Effects() {
		if e.Operation == "preserve_mailbox" || e.Operation == "delete_mailbox" {
			order = append(order, e.Operation)
		}
	}
	if strings.Join(order, ",") != "preserve_mailbox,delete_mailbox" {
		t.Fatalf("m365 effects in order: %v, want preservation before deletion", order)
	}
}

// A legal hold still waiting for its approvers keeps the case open: it may
// yet change the plan.
func TestPendingLegalHoldKeepsCaseOpen(t *testing.T) {
	k, _ := approvalsKit(t, testkit.ApprovalPolicy, nil)
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "A1",
		Exceptions: []engine.ExceptionRequest{{Kind: "legal_hold", Reason: "pending litigation"}}})
	testkit.Eventually(t, 30*time.Second, func() bool {
		got := reload(t, k.Store, c.ID)
		for _, a := range got.Actions {
			if a.Name != "delete_mailbox" && !store.ActionFinal(a.Status) {
				return false
			}
		}
		return true
	}, func() string { return "actions not final:\n" + engine.Summary(reload(t, k.Store, c.ID)) })
	if _, err := k.Engine.Sweep(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := reload(t, k.Store, c.ID); got.Status != store.CaseRunning || actionNamed(t, got, "delete_mailbox").Status != store.ActionHeld {
		t.Fatalf("case %s with a legal hold pending, want running:\n%s", got.Status, engine.Summary(got))
	}
}

// Timeouts, reminders and escalation of a step, driven by the clock.
func TestStepRemindsEscalatesThenExpires(t *testing.T) {
	clock := newClock()
	k, rec := approvalsKit(t, testkit.ApprovalPolicy, clock)
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "A1", EffectiveAt: clock.Now().Add(72 * time.Hour)})
	ap, err := k.Engine.RequestException(ctx, engine.ExceptionRequest{CaseID: c.ID, Kind: "email_forwarding", Requester: "A1", ForwardTo: "hr@example.test", Days: 5})
	if err != nil {
		t.Fatal(err)
	}
	sweep := func() engine.SweepStats {
		st, err := k.Engine.Sweep(ctx, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	clock.Advance(19 * time.Hour)
	if st := sweep(); st.Reminders != 0 {
		t.Fatal("reminded too early")
	}
	clock.Advance(2 * time.Hour) // 21h: 3h before the 24h timeout
	if st := sweep(); st.Reminders != 1 || len(rec.of("approval_reminder")) != 1 {
		t.Fatalf("reminder: %+v", st)
	}
	if st := sweep(); st.Reminders != 0 {
		t.Fatal("reminded twice")
	}
	if err := decide(k, ap.ID, "H1", true, ""); !errors.Is(err, engine.ErrNotAllowed) {
		t.Fatal("HR decided the manager's step before it escalated")
	}
	clock.Advance(4 * time.Hour) // 25h: timed out → escalate to group:hr
	if st := sweep(); st.ApprovalTimeouts != 1 || len(rec.of("approval_escalated")) != 1 {
		t.Fatalf("escalation: %+v", st)
	}
	if v := approvalStatus(t, k, ap.ID); !v.Steps[0].Escalated || !contains(v.Approvers, "H1") {
		t.Fatalf("after escalation approvers are %v", v.Approvers)
	}
	clock.Advance(25 * time.Hour) // the escalated step times out too → expired
	sweep()
	v := approvalStatus(t, k, ap.ID)
	if v.Status != store.ApprovalExpired || len(rec.of("approval_expired")) != 1 {
		t.Fatalf("approval %s", v.Status)
	}
	if a := actionStatus(t, k, c.ID, "convert_mailbox"); a.Status == store.ActionHeld {
		t.Fatal("an expired exception must release its held actions")
	}
}

func TestStepApprovesOnTimeoutWhereAllowed(t *testing.T) {
	clock := newClock()
	k, _ := approvalsKit(t, testkit.ApprovalPolicy, clock)
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E7", Requester: "M1", EffectiveAt: clock.Now().Add(time.Hour)})
	ap, err := k.Engine.RequestException(ctx, engine.ExceptionRequest{CaseID: c.ID, Kind: "late_laptop", Requester: "M1", Days: 14})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(25 * time.Hour)
	if _, err := k.Engine.Sweep(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	if v := approvalStatus(t, k, ap.ID); v.Status != store.ApprovalApproved {
		t.Fatalf("approval %s", v.Status)
	}
	eq, _ := k.Store.EquipmentTasks(ctx, c.ID)
	if len(eq) != 2 || eq[0].DueAt.Sub(clock.Now()) < 13*24*time.Hour || eq[1].DueAt.Sub(clock.Now()) < 13*24*time.Hour {
		t.Fatalf("equipment due date did not move: %+v", eq)
	}
}

// Overdue actions escalate once per level, to the owner, then security.
func TestOverdueActionsEscalateByLevelOnce(t *testing.T) {
	clock := newClock()
	k, rec := approvalsKit(t, testkit.ApprovalPolicy, clock)
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "A1"}) // no worker: nothing completes
	sweep := func() engine.SweepStats {
		st, err := k.Engine.Sweep(ctx, 365*24*time.Hour) // no lost-task recovery here
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := sweep(); st.Escalations != 0 {
		t.Fatal("escalated before the due time")
	}
	clock.Advance(61 * time.Minute) // critical actions (1h) overdue
	if st := sweep(); st.Escalations != 2 {
		t.Fatalf("%d escalations, want level 1 for the 2 critical actions", st.Escalations)
	}
	if st := sweep(); st.Escalations != 0 {
		t.Fatal("a level fired twice")
	}
	clock.Advance(30 * time.Minute)
	if st := sweep(); st.Escalations != 2 {
		t.Fatalf("level 2: %d", st.Escalations)
	}
	evs := rec.of("escalation")
	// AD has no owner configured, so its level 1 goes to the security team.
	if evs[0].Level != 1 || !contains(evs[0].Targets, "channel:security-alerts") {
		t.Fatalf("level 1 targets: %+v", evs[0])
	}
	if evs[2].Level != 2 || !contains(evs[2].Targets, "channel:security-alerts") || !strings.Contains(evs[2].Detail, "overdue by") {
		t.Fatalf("level 2: %+v", evs[2])
	}
	// Badge (owned by it-facilities) goes overdue at 4h: level 1 to its owner.
	clock.Advance(3 * time.Hour)
	sweep()
	var badge []engine.Event
	for _, e := range rec.of("escalation") {
		if e.Name == "deactivate_badge" {
			badge = append(badge, e)
		}
	}
	if len(badge) == 0 || !contains(badge[0].Targets, "channel:it-facilities") {
		t.Fatalf("badge escalation: %+v", badge)
	}
	// Completing the action stops its escalation.
	a := actionNamed(t, reload(t, k.Store, c.ID), "disable_ad")
	if err := k.Engine.RunAction(ctx, a.ID, a.Generation); err != nil {
		t.Fatal(err)
	}
	before := len(rec.of("escalation"))
	clock.Advance(3 * time.Hour)
	sweep()
	for _, e := range rec.of("escalation")[before:] {
		if e.Name == "disable_ad" {
			t.Fatal("a completed action escalated")
		}
	}
}

func TestComplianceDeadlineRaisesABreachOnce(t *testing.T) {
	clock := newClock()
	k, rec := approvalsKit(t, testkit.ApprovalPolicy, clock)
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E4", Requester: "A1"})
	if c.ComplianceProfile != "fedramp" || c.ComplianceDeadline == nil {
		t.Fatalf("compliance: %q %v", c.ComplianceProfile, c.ComplianceDeadline)
	}
	clock.Advance(59 * time.Minute)
	if st, _ := k.Engine.Sweep(ctx, 365*24*time.Hour); st.Breaches != 0 {
		t.Fatal("breach before the deadline")
	}
	clock.Advance(2 * time.Minute)
	if st, _ := k.Engine.Sweep(ctx, 365*24*time.Hour); st.Breaches != 1 {
		t.Fatal("no breach after the deadline")
	}
	if st, _ := k.Engine.Sweep(ctx, 365*24*time.Hour); st.Breaches != 0 {
		t.Fatal("breach raised twice")
	}
	if b := rec.of("breach"); len(b) != 1 || !contains(b[0].Targets, "channel:security-alerts") {
		t.Fatalf("breach event: %+v", b)
	}
}

// Timers and pending approvals live in the database: a new process (a new
// engine on the same database and queue) picks them up.
func TestRestartKeepsPendingApprovalsAndTimers(t *testing.T) {
	clock := newClock()
	k1, _ := approvalsKit(t, testkit.ApprovalPolicy, clock)
	ctx := context.Background()
	c := open(t, k1, engine.Request{EmployeeID: "E1", Requester: "A1"})
	ap, err := k1.Engine.RequestException(ctx, engine.ExceptionRequest{CaseID: c.ID, Kind: "email_forwarding", Requester: "A1", ForwardTo: "hr@example.test", Days: 5})
	if err != nil {
		t.Fatal(err)
	}
	k1.Close() // the process goes away
	rec := &recorder{}
	k2 := testkit.New(t, testkit.Options{Store: k1.Store, RedisAddr: k1.RedisAddr, RedisDB: redisDB, Policy: testkit.ApprovalPolicy, Now: clock.Now, Observers: []engine.Observer{rec}})
	clock.Advance(2 * time.Hour)
	if _, err := k2.Engine.Sweep(ctx, 365*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if len(rec.of("escalation")) == 0 {
		t.Fatal("the escalation timer did not survive the restart")
	}
	if err := decide(k2, ap.ID, "M1", false, "not needed"); err != nil {
		t.Fatalf("deciding a pending approval after restart: %v", err)
	}
}

func TestMassTerminationGuardHoldsABatch(t *testing.T) {
	pol := testkit.ApprovalPolicy + "mass_termination: {max_cases: 2, window: 1h, approvers: [\"user:A1\", \"group:security\"]}\n"
	k, rec := approvalsKit(t, pol, nil)
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var ids []int64
	for _, emp := range []string{"E1", "E2", "E4", "X1"} {
		c := open(t, k, engine.Request{EmployeeID: emp, Requester: "A1"})
		ids = append(ids, c.ID)
	}
	held := 0
	for _, id := range ids {
		if reload(t, k.Store, id).Status == store.CaseHeld {
			held++
		}
	}
	if held != 2 || len(rec.of("batch_held")) != 2 {
		t.Fatalf("%d cases held, want the 2 past the limit", held)
	}
	bs, err := k.Engine.Batches(ctx, store.BatchPending)
	if err != nil || len(bs) != 1 || len(bs[0].Cases) != 2 {
		t.Fatalf("batches: %+v %v", bs, err)
	}
	b := bs[0]
	if _, err := k.Engine.DecideBatch(ctx, b.ID, "X1", true, nil, ""); !errors.Is(err, engine.ErrNotAllowed) {
		t.Fatalf("a non-approver deciding the batch: %v", err)
	}
	// Partial release by id, then deny the rest.
	if _, err := k.Engine.DecideBatch(ctx, b.ID, "S1", true, []int64{b.Cases[0].ID}, "confirmed with HR"); err != nil {
		t.Fatal(err)
	}
	if c := k.WaitClosed(t, b.Cases[0].ID, 30*time.Second); c.Status != store.CaseCompleted {
		t.Fatalf("released case: %s", c.Status)
	}
	if _, err := k.Engine.DecideBatch(ctx, b.ID, "A1", false, nil, "not a real layoff"); err != nil {
		t.Fatal(err)
	}
	if c := reload(t, k.Store, b.Cases[1].ID); c.Status != store.CaseCancelled {
		t.Fatalf("denied case: %s", c.Status)
	}
	if _, err := k.Engine.DecideBatch(ctx, b.ID, "A1", true, nil, ""); !errors.Is(err, engine.ErrInvalidRequest) {
		t.Fatalf("deciding a decided batch: %v", err)
	}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// TestApproverGroupOfChatUserGroup: an approver_groups entry of the form
// slack:ID is expanded by Options.GroupMembers when someone decides, so a
// Slack user group's members decide the all-of legal step, and someone the
// hook no longer lists is refused.
func TestApproverGroupOfChatUserGroup(t *testing.T) {
	var legal atomic.Pointer[[]string]
	legal.Store(&[]string{"L1", "L2"})
	var asked sync.Map
	k := testkit.New(t, testkit.Options{RedisDB: redisDB, Policy: testkit.ApprovalPolicy,
		ApproverGroups: `{hr: [H1, H2, M1], legal: ["slack:SLEGAL"], security: [S1]}`,
		GroupMembers: func(entry string) []string {
			asked.Store(entry, true)
			if entry == "slack:SLEGAL" {
				return *legal.Load()
			}
			return nil
		}})
	ctx := context.Background()
	later := time.Now().Add(time.Hour)

	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "A1", EffectiveAt: later})
	hold, err := k.Engine.RequestException(ctx, engine.ExceptionRequest{CaseID: c.ID, Kind: "legal_hold", Requester: "H1", Reason: "litigation"})
	if err != nil {
		t.Fatal(err)
	}
	if v := approvalStatus(t, k, hold.ID); !slices.Equal(v.Approvers, []string{"L1", "L2"}) {
		t.Fatalf("approvers of the legal step: %v", v.Approvers)
	}
	for _, who := range []string{"L1", "L2"} {
		if err := decide(k, hold.ID, who, true, ""); err != nil {
			t.Fatalf("%s deciding: %v", who, err)
		}
	}
	if v := approvalStatus(t, k, hold.ID); v.Status != store.ApprovalApproved {
		t.Fatalf("legal hold is %s after both members of the Slack group approved", v.Status)
	}
	if _, ok := asked.Load("slack:SLEGAL"); !ok {
		t.Fatal("the hook was never asked about slack:SLEGAL")
	}

	// L2 leaves the Slack user group: the hook stops listing them.
	c2 := open(t, k, engine.Request{EmployeeID: "E4", Requester: "A1", EffectiveAt: later})
	hold2, err := k.Engine.RequestException(ctx, engine.ExceptionRequest{CaseID: c2.ID, Kind: "legal_hold", Requester: "H1", Reason: "litigation"})
	if err != nil {
		t.Fatal(err)
	}
	legal.Store(&[]string{"L1"})
	if err := decide(k, hold2.ID, "L2", true, ""); !errors.Is(err, engine.ErrNotAllowed) {
		t.Fatalf("L2 deciding after leaving the group: %v, want ErrNotAllowed", err)
	}
	if err := decide(k, hold2.ID, "L1", true, ""); err != nil {
		t.Fatalf("L1 deciding: %v", err)
	}
	if v := approvalStatus(t, k, hold2.ID); v.Status != store.ApprovalApproved {
		t.Fatalf("legal hold is %s; with L1 the only member, L1's approval completes the all-of step", v.Status)
	}
}

// An action an approved exception times for later (the forwarding removal
// in 30 days) does not hold back later phases: when the approval lands
// before its phase has finished, the notifications still go out now, not in
// 30 days.
func TestTimedActionDoesNotHoldBackLaterPhases(t *testing.T) {
	k, _ := approvalsKit(t, testkit.ApprovalPolicy, nil)
	ctx := context.Background()
	o, err := k.Engine.Open(ctx, engine.Request{EmployeeID: "E1", Requester: "A1", Trigger: store.TriggerCLI,
		Exceptions: []engine.ExceptionRequest{{Kind: "email_forwarding", ForwardTo: "manager@example.test", Days: 30, Reason: "handover"}}})
	if err != nil {
		t.Fatal(err)
	}
	c := o.Case
	aps, _ := k.Engine.Approvals(ctx, "", "", c.ID)
	if len(aps) != 1 {
		t.Fatalf("%d approvals", len(aps))
	}
	// Both steps decided before any worker runs: remove_forwarding exists,
	// timed for 30 days on, while the entitlements phase is still open.
	if err := decide(k, aps[0].ID, "M1", true, "fine"); err != nil {
		t.Fatal(err)
	}
	if err := decide(k, aps[0].ID, "H1", true, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, func() bool {
		return store.ActionFinal(actionStatus(t, k, c.ID, "create_recovery_task").Status) && // E1 holds no device: skipped

			actionStatus(t, k, c.ID, "delete_mailbox").Status == store.ActionSucceeded
	}, func() string {
		return "the notifications phase waits behind the forwarding removal due in 30 days:\n" + engine.Summary(reload(t, k.Store, c.ID))
	})
	if rm := actionStatus(t, k, c.ID, "remove_forwarding"); rm.Status != store.ActionQueued || rm.NotBefore == nil || time.Until(*rm.NotBefore) < 29*24*time.Hour {
		t.Fatalf("remove_forwarding should still wait for the expiry: %s %v", rm.Status, rm.NotBefore)
	}
}

// A failed action of a case that closed as failed still escalates by the
// policy's levels: nobody else will act on it, and a failed revocation is
// an open door.
func TestFailedCaseFailedActionEscalates(t *testing.T) {
	clock := newClock()
	// Behind the real time, so that a dispatch at the engine's now is due
	// at once for the queue, which keeps real time.
	clock.Advance(-5 * time.Minute)
	k, rec := approvalsKit(t, testkit.ApprovalPolicy, clock)
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	k.Sandbox("ad").FailNext("erin@example.test", 100, connectors.KindForbidden, 0)
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "M1", Involuntary: true})
	if c = k.WaitClosed(t, c.ID, 30*time.Second); c.Status != store.CaseFailed {
		t.Fatalf("case closed as %s", c.Status)
	}
	clock.Advance(24 * time.Hour)
	if _, err := k.Engine.Sweep(ctx, 365*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, e := range rec.of("escalation") {
		if e.Name == "disable_ad" && e.Level == 1 {
			return
		}
	}
	t.Fatalf("no escalation of the failed disable_ad: %+v", rec.of("escalation"))
}
