package engine

import (
	"testing"

	"github.com/kineticsec/kinetic/store"
)

func TestManualTask(t *testing.T) {
	c := &store.Case{EmployeeID: "E1", EmployeeName: "Erin Employee"}
	for _, tt := range []struct {
		name string
		a    store.Action
		want string
	}{
		{"a badge desk step names the person, badges and doors", store.Action{Name: "collect_badge_lagos", Operation: "deactivate_badge",
			Description: "Lagos security desk collects or disables the badge", TargetAccount: "B-1",
			Params: `{"doors":"Main entrance, Server room (L2)"}`},
			"Lagos security desk collects or disables the badge: Erin Employee (E1), badge B-1; doors: Main entrance, Server room (L2). Mark it done saying who collected or disabled it."},
		{"no badge number in the record, no doors listed", store.Action{Name: "collect_badge", Operation: "deactivate_badge"},
			"Deactivate or collect the badge (collect_badge): Erin Employee (E1), badge number not in the HR record: check the system; doors: every door. Mark it done saying who collected or disabled it."},
		{"another manual step", store.Action{Name: "collect_laptop", Operation: "create_recovery_task"},
			"collect_laptop for Erin Employee is a manual step: mark it done when finished"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := manualTask(c, &tt.a); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}
