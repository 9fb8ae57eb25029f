package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// TestSimulatedCaseSaysSo: a case whose actions run on sandbox connectors
// can never pass for real. Its plan, actions and case are marked
// simulated, the audit trail's case.planned event names the simulated
// connectors, the case summary starts with SIMULATED, and engine.Summary
// marks each simulated action. An action on a connector that is not a
// simulation (here badge, its Simulated flag cleared as a real connector
// would have it) is not marked.
func TestSimulatedCaseSaysSo(t *testing.T) {
	k := testkit.New(t, testkit.Options{RedisDB: redisDB})
	badge, ok := k.Connectors.Get("badge")
	if !ok || !badge.Simulated {
		t.Fatalf("the kit's sandbox badge instance is not marked simulated: %+v", badge)
	}
	badge.Simulated = false // before any worker or case reads it

	p, err := k.Engine.Plan(context.Background(), engine.Request{EmployeeID: "E1", Requester: "M1"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.Simulated(), ","); got != "ad,assets,okta,payroll" {
		t.Errorf("plan's simulated connectors = %q, want ad,assets,okta,payroll", got)
	}
	if !strings.Contains(engine.FormatPlan(p), "SIMULATED: ad, assets, okta, payroll are sandbox connectors") {
		t.Errorf("the CLI plan does not say it is simulated:\n%s", engine.FormatPlan(p))
	}

	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "M1", Reason: "resigned"})
	c = k.WaitClosed(t, c.ID, 30*time.Second)
	if c.Status != store.CaseCompleted || !c.Simulated {
		t.Fatalf("case %s simulated=%t, want completed and simulated:\n%s", c.Status, c.Simulated, engine.Summary(c))
	}
	for _, a := range c.Actions {
		if want := a.Connector != "badge"; a.Simulated != want {
			t.Errorf("%s on %s: simulated = %t, want %t", a.Name, a.Connector, a.Simulated, want)
		}
	}
	if !strings.HasPrefix(c.Summary, "SIMULATED: nothing real was done on ad, assets, okta, payroll (sandbox connectors). ") {
		t.Errorf("case summary = %q", c.Summary)
	}
	sum := engine.Summary(c)
	if !strings.HasPrefix(sum, "  SIMULATED: sandbox connectors ad, assets, okta, payroll") {
		t.Errorf("engine.Summary does not start with the simulated connectors:\n%s", sum)
	}
	for _, line := range strings.Split(sum, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "deactivate_badge" && strings.Contains(line, "(simulated)") ||
			len(f) > 1 && f[0] == "disable_ad" && !strings.Contains(line, "succeeded (simulated)") {
			t.Errorf("summary line %q is marked wrongly", line)
		}
	}
	var planned []store.AuditEvent
	if err := k.Store.TestDB().Where("case_id = ? AND event = ?", c.ID, "case.planned").Find(&planned).Error; err != nil || len(planned) != 1 {
		t.Fatalf("case.planned events: %d, %v", len(planned), err)
	}
	if !strings.Contains(planned[0].Detail, "SIMULATED on ad, assets, okta, payroll") {
		t.Errorf("case.planned detail %q does not name the simulated connectors", planned[0].Detail)
	}
}
