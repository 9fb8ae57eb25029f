package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// TestPrincipalActAs: a principal may act for the people its ActAs names —
// HR ids, role:hr, role:manager (the departing employee's manager),
// role:admin, "*" — and as itself; anyone else is refused, and nothing is
// opened. Whoever it acts for, never the departing employee.
func TestPrincipalActAs(t *testing.T) {
	k := testkit.New(t, testkit.Options{RedisDB: redisDB, Policy: testkit.ApprovalPolicy})
	for _, tc := range []struct {
		actAs     []string
		requester string
		employee  string
		ok        bool
	}{
		{[]string{"M1"}, "M1", "E1", true},
		{[]string{"M1"}, "H1", "E1", false},
		{[]string{"role:manager"}, "M1", "E1", true},
		{[]string{"role:manager"}, "H1", "E1", false},
		{[]string{"role:manager"}, "H1", "H2", true}, // H1 manages H2
		{[]string{"role:hr"}, "H1", "E1", true},
		{[]string{"role:hr"}, "M1", "E1", false},
		{[]string{"role:hr"}, "H2", "H2", false}, // HR, but the departing employee
		{[]string{"role:admin"}, "A1", "E1", true},
		{[]string{"role:admin"}, "H1", "E1", false},
		{[]string{"*"}, "H1", "E1", true},
		{[]string{"*"}, "E1", "E1", false},
		{nil, "M1", "E1", false},
	} {
		name := strings.Join(tc.actAs, ",") + " as " + tc.requester + " on " + tc.employee
		t.Run(name, func(t *testing.T) {
			ctx := engine.WithPrincipal(context.Background(), engine.Principal{ID: "api:test", ActAs: tc.actAs})
			before := k.Count(t, &store.Case{}, "")
			o, err := k.Engine.Open(ctx, engine.Request{EmployeeID: tc.employee, Requester: tc.requester, Trigger: store.TriggerAPI, AwaitConfirmation: true})
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if o.Case.OpenedBy != "api:test" {
					t.Errorf("opened_by %q, want api:test", o.Case.OpenedBy)
				}
				if err := k.Engine.Cancel(ctx, o.Case.ID, tc.requester, "test"); err != nil {
					t.Fatalf("cancelling: %v", err)
				}
				return
			}
			if !errors.Is(err, engine.ErrNotAllowed) {
				t.Fatalf("err = %v, want ErrNotAllowed", err)
			}
			if after := k.Count(t, &store.Case{}, ""); after != before {
				t.Errorf("a refused request opened %d cases", after-before)
			}
		})
	}
	t.Run("a worker acts as Kinetic, never for a person", func(t *testing.T) {
		o, err := k.Engine.Open(context.Background(), engine.Request{EmployeeID: "E4", Requester: "M1", Trigger: store.TriggerCLI, AwaitConfirmation: true})
		if err != nil {
			t.Fatal(err)
		}
		ctx := engine.WithPrincipal(context.Background(), engine.WorkerPrincipal("test-host"))
		if err := k.Engine.Cancel(ctx, o.Case.ID, "M1", "not a worker's to say"); !errors.Is(err, engine.ErrNotAllowed) {
			t.Fatalf("a worker cancelling as M1: %v", err)
		}
		if err := k.Engine.Cancel(ctx, o.Case.ID, "kinetic", "the plan was not confirmed within 24 hours"); err != nil {
			t.Fatal(err)
		}
		var ev store.AuditEvent
		if err := k.Store.TestDB().Where("case_id = ? AND event = ?", o.Case.ID, "case.cancelled").First(&ev).Error; err != nil {
			t.Fatal(err)
		}
		if ev.Actor != "kinetic on worker:test-host" {
			t.Errorf("actor %q", ev.Actor)
		}
	})
	t.Run("a principal acts as itself", func(t *testing.T) {
		ctx := engine.WithPrincipal(context.Background(), engine.Principal{ID: "hr:workday"})
		o, err := k.Engine.Open(ctx, engine.Request{EmployeeID: "E2", Requester: "hr:workday", System: true, Trigger: store.TriggerHR})
		if err != nil {
			t.Fatal(err)
		}
		if err := k.Engine.Cancel(ctx, o.Case.ID, "hr:workday", "rescinded"); err != nil {
			t.Fatal(err)
		}
		var ev store.AuditEvent
		if err := k.Store.TestDB().Where("case_id = ? AND event = ?", o.Case.ID, "case.cancelled").First(&ev).Error; err != nil {
			t.Fatal(err)
		}
		if ev.Actor != "hr:workday" {
			t.Errorf("actor %q", ev.Actor)
		}
	})
}
