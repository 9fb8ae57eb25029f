package engine_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// A case opened by mistake is undone: the restore request lists the
// compensations, approving it reopens the case, the worker re-enables the
// AD account, reactivates Okta, re-adds the recorded AD groups and
// re-issues the badge (each read back), sessions are listed as not
// restorable, and the case closes again.
func TestRestoreRoundTripOnTheSandbox(t *testing.T) {
	k, _ := approvalsKit(t, testkit.Policy, nil)
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const email = "erin@example.test"
	before, ok := k.Sandbox("ad").Account(email)
	if !ok || len(before.Groups) == 0 {
		t.Fatalf("seeded AD account: %+v", before)
	}
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "M1"})
	k.WaitClosed(t, c.ID, 30*time.Second)
	if a, _ := k.Sandbox("ad").Account(email); a.Status != connectors.StatusDisabled || len(a.Groups) != 0 {
		t.Fatalf("offboarded AD account: %+v", a)
	}

	// Refusals change nothing: the employee, a stranger, no reason.
	for _, tc := range []struct {
		who, reason string
		want        error
	}{
		{"E1", "mine", engine.ErrNotAllowed},
		{"E2", "why not", engine.ErrNotAllowed},
		{"M1", " ", engine.ErrInvalidRequest},
	} {
		if _, err := k.Engine.RequestRestore(ctx, c.ID, tc.who, tc.reason); !errors.Is(err, tc.want) {
			t.Fatalf("%s: %v, want %v", tc.who, err, tc.want)
		}
	}
	if _, err := k.Engine.RequestRestore(ctx, 9999, "M1", "x"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("unknown case: %v", err)
	}

	apID, err := k.Engine.RequestRestore(ctx, c.ID, "M1", "opened by mistake")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Engine.RequestRestore(ctx, c.ID, "M1", "again"); !errors.Is(err, engine.ErrInvalidRequest) {
		t.Fatalf("second pending restore: %v", err)
	}
	if err := decide(k, apID, "H1", true, "confirmed"); err != nil {
		t.Fatal(err)
	}
	v := approvalStatus(t, k, apID)
	if v.Status != store.ApprovalApproved || !strings.Contains(v.Outcome, "undo_disable_ad") || !strings.Contains(v.Outcome, "not restorable: revoke_okta_sessions") {
		t.Fatalf("restore approval: %s %q", v.Status, v.Outcome)
	}
	done := k.WaitClosed(t, c.ID, 30*time.Second)
	want := map[string]string{"undo_disable_ad": "ad", "undo_deactivate_okta": "okta", "undo_remove_ad_groups": "ad", "undo_deactivate_badge": "badge"}
	for _, a := range done.Actions {
		if !engine.IsRestoreAction(&a) {
			continue
		}
		if want[a.Name] != a.Connector || a.Status != store.ActionSucceeded || !a.Verified || a.Manual {
			t.Fatalf("restore action %s: %s verified=%t manual=%t %s %s", a.Name, a.Status, a.Verified, a.Manual, a.LastError, a.Verification)
		}
		delete(want, a.Name)
	}
	if len(want) != 0 {
		t.Fatalf("restore actions never planned: %v", want)
	}
	after, _ := k.Sandbox("ad").Account(email)
	if after.Status != connectors.StatusActive || !sameSet(after.Groups, before.Groups) {
		t.Fatalf("restored AD account: %+v (before %+v)", after, before)
	}
	for _, sys := range []string{"okta", "badge"} {
		if a, _ := k.Sandbox(sys).Account(email); a.Status != connectors.StatusActive {
			t.Fatalf("%s after restore: %+v", sys, a)
		}
	}
	if n := k.Count(t, &store.AuditEvent{}, "case_id = ? AND event = ?", c.ID, "case.restore_requested"); n != 1 {
		t.Fatalf("restore_requested audited %d times", n)
	}
	if n := k.Count(t, &store.AuditEvent{}, "case_id = ? AND event = ?", c.ID, "case.reopened"); n != 1 {
		t.Fatalf("reopened audited %d times", n)
	}
	if d := k.DuplicateEffects(); len(d) > 0 {
		t.Fatalf("duplicate effects: %v", d)
	}

	// A restore of an already restored case finds every state in place.
	ap2, err := k.Engine.RequestRestore(ctx, c.ID, "M1", "check")
	if err != nil {
		t.Fatal(err)
	}
	if err := decide(k, ap2, "H1", true, "ok"); err != nil {
		t.Fatal(err)
	}
	again := k.WaitClosed(t, c.ID, 30*time.Second)
	for _, a := range again.Actions {
		if engine.IsRestoreAction(&a) && strings.HasSuffix(a.Name, "_"+strconv.FormatInt(ap2, 10)) && a.Outcome != string(connectors.OutcomeAlreadyDone) {
			t.Fatalf("second restore %s: %s %s", a.Name, a.Status, a.Outcome)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
