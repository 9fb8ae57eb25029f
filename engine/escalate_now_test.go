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

// Escalate now fires the next level the action has not reached, once per
// click, with what is stuck and since when; past the last level it says
// so. A click on an action is an event with the clicking person as Actor,
// which front ends use to tell it from the action failing.
func TestEscalateNowEscalatesToTheNextLevelOnce(t *testing.T) {
	k, rec := approvalsKit(t, testkit.ApprovalPolicy, nil)
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "M1"}) // no worker: nothing runs
	ad := actionStatus(t, k, c.ID, "disable_ad")
	for want := 1; want <= 3; want++ {
		if err := k.Engine.EscalateNow(ctx, ad.ID, "A1"); err != nil {
			t.Fatalf("click %d: %v", want, err)
		}
		evs := rec.of("escalation")
		if len(evs) != want {
			t.Fatalf("%d escalations after %d clicks", len(evs), want)
		}
		ev := evs[want-1]
		if ev.Level != want || ev.Actor != "A1" || !strings.Contains(ev.Detail, " since ") || !strings.Contains(ev.Detail, "escalated to level") {
			t.Fatalf("click %d: %+v", want, ev)
		}
	}
	if evs := rec.of("escalation"); !contains(evs[2].Targets, "user:S1") || !contains(evs[1].Targets, "channel:security-alerts") {
		t.Fatalf("targets by level: %v / %v", evs[1].Targets, evs[2].Targets)
	}
	if err := k.Engine.EscalateNow(ctx, ad.ID, "A1"); !errors.Is(err, engine.ErrInvalidRequest) || !strings.Contains(err.Error(), "last level") {
		t.Fatalf("a fourth click: %v", err)
	}
	clicks := 0
	for _, ev := range rec.of("action") {
		if strings.HasPrefix(ev.Detail, "escalate by") {
			clicks++
		}
		if ev.ActionID == ad.ID && strings.HasPrefix(ev.Detail, "escalate by") && ev.Actor != "A1" {
			t.Fatalf("a click's action event without its actor: %+v", ev)
		}
	}
	if clicks != 3 {
		t.Fatalf("%d action events for 3 clicks", clicks)
	}
	var n int64
	k.Store.TestDB().Model(&store.Escalation{}).Where("action_id = ?", ad.ID).Count(&n)
	if n != 3 {
		t.Fatalf("%d escalations recorded", n)
	}
}
