package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

func hrEvent(kind, emp, date string) engine.HREvent {
	return engine.HREvent{Source: "bamboohr", Kind: kind, EmployeeID: emp, Date: date, Reason: "resigned"}
}

// localDate returns the calendar date d days after now in zone tz.
func localDate(now time.Time, tz string, d int) string {
	loc, _ := time.LoadLocation(tz)
	return now.In(loc).AddDate(0, 0, d).Format("2006-01-02")
}

func TestHRTerminationOpensACaseAtLocalTime(t *testing.T) {
	clock := newClock()
	k, _ := approvalsKit(t, testkit.Policy, clock)
	ctx := context.Background()
	date := localDate(clock.Now(), "America/New_York", 5)
	res, err := k.Engine.HandleHREvent(ctx, hrEvent(engine.HRTerminate, "E1", date), engine.HRTiming{})
	if err != nil || res.Outcome != engine.HROpened {
		t.Fatalf("%+v %v", res, err)
	}
	loc, _ := time.LoadLocation("America/New_York")
	want, _ := time.ParseInLocation("2006-01-02 15:04", date+" 17:00", loc)
	c := reload(t, k.Store, res.CaseID)
	if c.Status != store.CaseScheduled || !c.EffectiveAt.Equal(want.UTC()) || c.Trigger != store.TriggerHR {
		t.Fatalf("case %s effective %s (want %s) trigger %s", c.Status, c.EffectiveAt, want.UTC(), c.Trigger)
	}
	// It starts on time, driven by the clock.
	clock.Advance(want.Sub(clock.Now()) - time.Minute)
	if st, _ := k.Engine.Sweep(ctx, time.Hour); st.CasesStarted != 0 {
		t.Fatal("started a minute early")
	}
	clock.Advance(2 * time.Minute)
	if st, _ := k.Engine.Sweep(ctx, time.Hour); st.CasesStarted != 1 {
		t.Fatal("did not start at the effective time")
	}
}

func TestHREventsAreDeduplicated(t *testing.T) {
	k, _ := approvalsKit(t, testkit.Policy, nil)
	ctx := context.Background()
	date := localDate(time.Now(), "America/New_York", 3)
	ev := hrEvent(engine.HRTerminate, "E1", date)
	ev.EventID = "bamboo-77"
	first, err := k.Engine.HandleHREvent(ctx, ev, engine.HRTiming{})
	if err != nil {
		t.Fatal(err)
	}
	again, err := k.Engine.HandleHREvent(ctx, ev, engine.HRTiming{})
	if err != nil || again.Outcome != engine.HRDuplicate || again.CaseID != first.CaseID {
		t.Fatalf("same event id: %+v %v", again, err)
	}
	ev.EventID = "bamboo-78" // the same termination through another delivery
	other, err := k.Engine.HandleHREvent(ctx, ev, engine.HRTiming{})
	if err != nil || other.Outcome != engine.HRUnchanged || other.CaseID != first.CaseID {
		t.Fatalf("same (employee, date): %+v %v", other, err)
	}
	if n := k.Count(t, &store.Case{}, ""); n != 1 {
		t.Fatalf("%d cases", n)
	}
	if n := k.Count(t, &store.HREventRecord{}, ""); n != 2 {
		t.Fatalf("%d event records, want 2 (the duplicate delivery is not recorded twice)", n)
	}
}

func TestHRDateChangeReschedulesAndRescindCancels(t *testing.T) {
	k, _ := approvalsKit(t, testkit.Policy, nil)
	ctx := context.Background()
	d1, d2 := localDate(time.Now(), "America/New_York", 3), localDate(time.Now(), "America/New_York", 10)
	r1, _ := k.Engine.HandleHREvent(ctx, hrEvent(engine.HRTerminate, "E1", d1), engine.HRTiming{})
	r2, err := k.Engine.HandleHREvent(ctx, hrEvent(engine.HRTerminate, "E1", d2), engine.HRTiming{})
	if err != nil || r2.Outcome != engine.HRRescheduled || r2.CaseID != r1.CaseID || !r2.EffectiveAt.After(*r1.EffectiveAt) {
		t.Fatalf("reschedule: %+v %v", r2, err)
	}
	c := reload(t, k.Store, r1.CaseID)
	if !c.EffectiveAt.Equal(*r2.EffectiveAt) {
		t.Fatalf("case effective %s, want %s", c.EffectiveAt, r2.EffectiveAt)
	}
	for _, a := range c.Actions {
		if a.DueAt.Before(c.EffectiveAt) {
			t.Fatalf("%s is due %s, before the new effective time", a.Name, a.DueAt)
		}
	}
	r3, err := k.Engine.HandleHREvent(ctx, hrEvent(engine.HRRescind, "E1", d2), engine.HRTiming{})
	if err != nil || r3.Outcome != engine.HRCancelled {
		t.Fatalf("rescind: %+v %v", r3, err)
	}
	if c := reload(t, k.Store, r1.CaseID); c.Status != store.CaseCancelled {
		t.Fatalf("case %s after rescind", c.Status)
	}
	var n int64
	k.Store.TestDB().Model(&store.AuditEvent{}).Where("case_id = ? AND event IN ?", r1.CaseID, []string{"case.rescheduled", "case.cancelled"}).Count(&n)
	if n != 2 {
		t.Fatalf("%d audit events for reschedule and cancel", n)
	}
}

func TestHRChangesAfterRevocationStartedAreRaisedNotApplied(t *testing.T) {
	k, rec := approvalsKit(t, testkit.Policy, nil)
	ctx := context.Background()
	ev := hrEvent(engine.HRTerminate, "E2", "")
	ev.Involuntary = true
	r, err := k.Engine.HandleHREvent(ctx, ev, engine.HRTiming{})
	if err != nil || r.Outcome != engine.HROpened {
		t.Fatalf("%+v %v", r, err)
	}
	res, err := k.Engine.HandleHREvent(ctx, hrEvent(engine.HRRescind, "E2", ""), engine.HRTiming{})
	if err != nil || res.Outcome != engine.HRTooLate {
		t.Fatalf("rescind after start: %+v %v", res, err)
	}
	if c := reload(t, k.Store, r.CaseID); c.Status == store.CaseCancelled {
		t.Fatal("a running revocation was cancelled")
	}
	if len(rec.of("hr_late_change")) != 1 {
		t.Fatal("the late rescission was not raised")
	}
}

func TestHRBadAndUnknownEvents(t *testing.T) {
	k, rec := approvalsKit(t, testkit.Policy, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		ev   engine.HREvent
	}{
		{"unknown kind", engine.HREvent{Source: "x", Kind: "promote", EmployeeID: "E1", Date: "2026-12-01"}},
		{"no employee", engine.HREvent{Source: "x", Kind: engine.HRTerminate, Date: "2026-12-01"}},
		{"no date", engine.HREvent{Source: "x", Kind: engine.HRTerminate, EmployeeID: "E1"}},
		{"unparseable date", engine.HREvent{Source: "x", Kind: engine.HRTerminate, EmployeeID: "E1", Date: "12/01/2026"}},
		{"years away", engine.HREvent{Source: "x", Kind: engine.HRTerminate, EmployeeID: "E1", Date: localDate(time.Now(), "UTC", 900)}},
		{"long past", engine.HREvent{Source: "x", Kind: engine.HRTerminate, EmployeeID: "E1", Date: localDate(time.Now(), "UTC", -90)}},
		{"no source", engine.HREvent{Kind: engine.HRTerminate, EmployeeID: "E1", Date: "2026-12-01"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := k.Engine.HandleHREvent(ctx, tc.ev, engine.HRTiming{}); !errors.Is(err, engine.ErrInvalidRequest) {
				t.Fatalf("got %v", err)
			}
		})
	}
	if n := k.Count(t, &store.HREventRecord{}, ""); n != 0 {
		t.Fatalf("invalid events were recorded: %d", n)
	}
	res, err := k.Engine.HandleHREvent(ctx, engine.HREvent{Source: "bamboohr", Kind: engine.HRTerminate, Email: "nobody@example.test", Date: localDate(time.Now(), "UTC", 2)}, engine.HRTiming{})
	if err != nil || res.Outcome != engine.HRUnknownEmployee {
		t.Fatalf("unknown employee: %+v %v", res, err)
	}
	if n := k.Count(t, &store.HREventRecord{}, "outcome = ?", engine.HRUnknownEmployee); n != 1 {
		t.Fatal("the unknown employee's event was not kept")
	}
	if ev := rec.of("hr_unknown_employee"); len(ev) != 1 || !strings.Contains(strings.Join(ev[0].Targets, ","), "security-alerts") {
		t.Fatalf("not raised to the alerts channel: %+v", ev)
	}
}

// 17:00 local on both sides of the US spring-forward (2027-03-14) is 22:00Z
// before and 21:00Z after.
func TestHREffectiveTimeAcrossDST(t *testing.T) {
	emp := &directory.Employee{ID: "E1", TimeZone: "America/New_York"}
	before, err := engine.EffectiveTime(emp, "2027-03-13", "", engine.HRTiming{})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := engine.EffectiveTime(emp, "2027-03-15", "", engine.HRTiming{})
	if before.Format(time.RFC3339) != "2027-03-13T22:00:00Z" || after.Format(time.RFC3339) != "2027-03-15T21:00:00Z" {
		t.Fatalf("before %s after %s", before, after)
	}
	berlin := &directory.Employee{ID: "E2", TimeZone: "Europe/Berlin"}
	if at, _ := engine.EffectiveTime(berlin, "2026-10-26", "09:30", engine.HRTiming{}); at.Format(time.RFC3339) != "2026-10-26T08:30:00Z" {
		t.Fatalf("Berlin after the autumn change: %s", at)
	}
	if _, err := engine.EffectiveTime(&directory.Employee{ID: "X", TimeZone: "Mars/Olympus"}, "2026-12-01", "", engine.HRTiming{}); !errors.Is(err, engine.ErrInvalidRequest) {
		t.Fatalf("unknown zone: %v", err)
	}
}

func TestRehireAfterCompletionOpensARestoreRequest(t *testing.T) {
	k, _ := approvalsKit(t, testkit.Policy, nil)
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "M1"})
	k.WaitClosed(t, c.ID, 30*time.Second)
	res, err := k.Engine.HandleHREvent(ctx, engine.HREvent{Source: "bamboohr", Kind: engine.HRRehire, EmployeeID: "E1", Reason: "boomerang"}, engine.HRTiming{})
	if err != nil || res.Outcome != engine.HRRestoreRequested || res.CaseID != c.ID {
		t.Fatalf("%+v %v", res, err)
	}
	aps, _ := k.Engine.Approvals(ctx, store.ApprovalPending, "", c.ID)
	if len(aps) != 1 || aps[0].Kind != "restore" || !strings.Contains(aps[0].Request, `"restorable":true`) || !strings.Contains(aps[0].Request, "re-add groups") {
		t.Fatalf("restore request: %+v", aps)
	}
	// The manager may approve it (the default restore chain).
	if err := decide(k, aps[0].ID, "M1", true, "confirmed rehire"); err != nil {
		t.Fatal(err)
	}
	if v := approvalStatus(t, k, aps[0].ID); v.Status != store.ApprovalApproved {
		t.Fatalf("restore approval %s", v.Status)
	}
}

// A time with seconds is kept end to end (the event record holds HH:MM:SS).
func TestHREventTimeKeepsSeconds(t *testing.T) {
	k, _ := approvalsKit(t, testkit.Policy, nil)
	date := localDate(time.Now(), "America/New_York", 2)
	ev := hrEvent(engine.HRTerminate, "E1", date)
	ev.Time = "09:30:45"
	res, err := k.Engine.HandleHREvent(context.Background(), ev, engine.HRTiming{})
	if err != nil || res.Outcome != engine.HROpened {
		t.Fatalf("%+v %v", res, err)
	}
	if res.EffectiveAt.In(mustZone(t, "America/New_York")).Format("15:04:05") != "09:30:45" {
		t.Fatalf("effective %s", res.EffectiveAt)
	}
	if n := k.Count(t, &store.HREventRecord{}, "time = ?", "09:30:45"); n != 1 {
		t.Fatal("the event record lost the seconds")
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// notify_payroll runs 5 days before the effective time; a changed date
// moves it; it runs while the case is still scheduled.
func TestLeadTimeActionRunsBeforeTheEffectiveTime(t *testing.T) {
	pol := strings.Replace(testkit.Policy,
		"notify_payroll: {connector: payroll, operation: notify, phase: notifications, params: {template: final_pay}}",
		"notify_payroll: {connector: payroll, operation: notify, phase: notifications, params: {template: final_pay}, lead: 5d}", 1)
	clock := newClock()
	k, _ := approvalsKit(t, pol, clock)
	ctx := context.Background()
	d1 := localDate(clock.Now(), "America/New_York", 10)
	r, err := k.Engine.HandleHREvent(ctx, hrEvent(engine.HRTerminate, "E1", d1), engine.HRTiming{})
	if err != nil {
		t.Fatal(err)
	}
	np := actionStatus(t, k, r.CaseID, "notify_payroll")
	if np.Status != store.ActionQueued || np.NotBefore == nil || !np.NotBefore.Equal(r.EffectiveAt.Add(-5*24*time.Hour)) {
		t.Fatalf("notify_payroll %s not_before %v, want queued for %s", np.Status, np.NotBefore, r.EffectiveAt.Add(-5*24*time.Hour))
	}
	pending, err := k.Dispatcher.ActionTaskPending(ctx, np.ID, np.Generation)
	if err != nil || !pending {
		t.Fatalf("the lead-time action's task is not scheduled: %v", err)
	}
	// HR moves the date two days later: the payroll notice moves with it.
	d2 := localDate(clock.Now(), "America/New_York", 12)
	r2, err := k.Engine.HandleHREvent(ctx, hrEvent(engine.HRTerminate, "E1", d2), engine.HRTiming{})
	if err != nil || r2.Outcome != engine.HRRescheduled {
		t.Fatalf("%+v %v", r2, err)
	}
	np = actionStatus(t, k, r.CaseID, "notify_payroll")
	if !np.NotBefore.Equal(r2.EffectiveAt.Add(-5 * 24 * time.Hour)) {
		t.Fatalf("notify_payroll not_before %s after the reschedule, want %s", np.NotBefore, r2.EffectiveAt.Add(-5*24*time.Hour))
	}
	// Its time comes: it runs although the case has not started.
	clock.Advance(np.NotBefore.Sub(clock.Now()) + time.Minute)
	if err := k.Engine.RunAction(ctx, np.ID, np.Generation); err != nil {
		t.Fatal(err)
	}
	if a := actionStatus(t, k, r.CaseID, "notify_payroll"); a.Status != store.ActionSucceeded {
		t.Fatalf("notify_payroll %s", a.Status)
	}
	if c := reload(t, k.Store, r.CaseID); c.Status != store.CaseScheduled {
		t.Fatalf("case %s: a lead-time action must not start or close the case", c.Status)
	}
}
