package engine_test

import (
	"context"
	"testing"

	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// TestDeskStepGetsFacilityAndDoors: a manual badge step on a desk
// instance (a facility without an API) is planned with the desk's
// facility and doors where the policy sets none, and its task names them.
func TestDeskStepGetsFacilityAndDoors(t *testing.T) {
	policy := `version: 1
defaults:
  sla: {critical: 1h, entitlements: 4h, notifications: 24h}
actions:
  collect_badge_lagos: {connector: desk-lagos, operation: deactivate_badge, phase: critical, manual: true}
rules:
  - {name: everyone, when: "true", add: [collect_badge_lagos]}
`
	k := testkit.New(t, testkit.Options{RedisDB: redisDB, Policy: policy,
		Connectors: "  desk-lagos:\n    type: desk\n    owner: security-desk-lagos\n    desk: {facility: Lagos office, doors: [Main entrance, Server room (L2)]}\n"})
	p, err := k.Engine.Plan(context.Background(), engine.Request{EmployeeID: "E1", Requester: "M1"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Actions) != 1 {
		t.Fatalf("plan actions %+v", p.Actions)
	}
	pa := p.Actions[0]
	if !pa.Manual || pa.Params["facility"] != "Lagos office" || pa.Params["doors"] != "Main entrance, Server room (L2)" {
		t.Fatalf("planned %+v", pa)
	}
	c := &store.Case{EmployeeID: "E1", EmployeeName: "Erin Employee"}
	a := &store.Action{Name: pa.Name, Operation: pa.Operation, Manual: true, TargetAccount: "B-1",
		Params: `{"facility":"Lagos office","doors":"Main entrance, Server room (L2)"}`}
	want := "Deactivate or collect the badge at Lagos office (collect_badge_lagos): Erin Employee (E1), badge B-1; doors: Main entrance, Server room (L2). Mark it done saying who collected or disabled it."
	if got := engine.ManualTask(c, a); got != want {
		t.Fatalf("task %q\nwant %q", got, want)
	}
	if !engine.AsksWhoCollected(a) {
		t.Fatal("the desk step does not ask who collected the badge")
	}
}
