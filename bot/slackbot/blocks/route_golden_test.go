package blocks

import (
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/kineticsec/kinetic/engine/view"
	"github.com/kineticsec/kinetic/store"
)

// TestGoldenRoute covers the routed notifications' builders (route.go),
// kept apart from goldenCases: run go test -update to regenerate.
func TestGoldenRoute(t *testing.T) {
	acts := runningActions()
	failed, manual := acts[2], acts[8] // revoke_vpn failed; collect_badge pending manual
	manual.Manual, manual.Skippable, manual.CaseID = true, true, 42
	failed.CaseID = 42
	esc := view.Event{Kind: "escalation", CaseID: 42, ActionID: 903, Name: "revoke_vpn", Status: store.ActionFailed, Level: 1,
		Detail:  "revoke_vpn (revoke_vpn on vpn) for Dana Whitfield is failed since 2026-12-04T17:20:00Z (1h45m0s), overdue by 1h50m0s (due 2026-12-04T17:15:00Z); escalated to level 1 by E2001",
		Targets: []string{"channel:it-network"}, At: now}
	cases := map[string]func() ([]slack.Block, string){
		"notice_escalation_owner": func() ([]slack.Block, string) {
			return Notice(esc, []string{"#it-network", "Pat Manager"}, &failed, "S0NETWORK", nil)
		},
		"notice_escalation_manual": func() ([]slack.Block, string) {
			ev := esc
			ev.ActionID, ev.Name, ev.Status = manual.ID, manual.Name, manual.Status
			ev.Detail = "collect_badge (deactivate_badge on badge) for Dana Whitfield is pending since 2026-12-04T17:30:00Z (1h35m0s); manual step: waiting for someone to mark it done"
			return Notice(ev, []string{"#it-facilities"}, &manual, "", nil)
		},
		"notice_escalated_by_person": func() ([]slack.Block, string) {
			ev := esc
			ev.Actor = "E2001"
			ev.Detail = "revoke_vpn (revoke_vpn on vpn) for Dana Whitfield is failed since 2026-12-04T17:20:00Z (25m0s); escalated to level 1 by E2001; last error: vpn: 503"
			return Notice(ev, []string{"#it-network"}, &failed, "", map[string]string{"E2001": "Pat Manager"})
		},
		"notice_manual_step": func() ([]slack.Block, string) {
			ev := view.Event{Kind: "manual_step", CaseID: 42, ActionID: manual.ID, Name: manual.Name, Status: manual.Status,
				Detail: "collect_badge for Dana Whitfield is a manual step: mark it done when finished", Targets: []string{"channel:it-facilities"}, At: now}
			return Notice(ev, []string{"#it-facilities", "Hana HR"}, &manual, "S0FACIL", nil)
		},
		"notice_officer": func() ([]slack.Block, string) {
			return Notice(view.Event{Kind: "security_officer_notice", CaseID: 42, Status: store.CaseScheduled, Targets: []string{"user:E9001"},
				Detail: "offboarding opened for Dana Whitfield (E1001), clearance secret, effective 2026-12-11T17:00:00Z", At: now}, []string{"Sam Security"}, nil, "", nil)
		},
		"notice_nobody_reached": func() ([]slack.Block, string) {
			return Notice(view.Event{Kind: "breach", CaseID: 42, Detail: "fedramp deadline passed", At: now}, nil, nil, "not a group", nil)
		},
		"action_moved_on": func() ([]slack.Block, string) {
			a := failed
			a.Status, a.FinishedAt = store.ActionSucceeded, at(now.Add(time.Minute))
			return ActionMovedOn(a)
		},
		"delivery_failure": func() ([]slack.Block, string) {
			return DeliveryFailure(esc, []string{"#it-network: Slack refused the message (not_in_channel)",
				"Gone Person (E3, #it-network): no Slack account Kinetic can find", "#payroll: no route (add routing.payroll.slack to the service file)"})
		},
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			raw := encode(t, toMessage(f()))
			checkLimits(t, surfaceMessage, raw)
			golden(t, name, raw)
		})
	}
}
