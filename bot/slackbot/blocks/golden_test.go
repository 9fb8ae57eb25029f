package blocks

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/engine/view"
	"github.com/kineticsec/kinetic/store"
)

var (
	now     = time.Date(2026, 12, 4, 19, 5, 0, 0, time.UTC)
	started = time.Date(2026, 12, 4, 17, 0, 0, 0, time.UTC)
	names   = map[string]string{"E2001": "Pat Manager"}
)

func at(t time.Time) *time.Time { return &t }

func runningCase() store.Case {
	return store.Case{
		ID: 42, EmployeeID: "E1001", EmployeeEmail: "dana.whitfield@example.com", EmployeeName: "Dana Whitfield",
		Trigger: store.TriggerSlack, Requester: "E2001", Reason: "Resigned; last day Friday.",
		EffectiveAt: started, Status: store.CaseRunning, StartedAt: at(started),
		ComplianceProfile: "fedramp", ComplianceDeadline: at(started.Add(24 * time.Hour)),
	}
}

func runningActions() []store.Action {
	due := func(d time.Duration) *time.Time { return at(started.Add(d)) }
	return []store.Action{
		{ID: 901, Name: "disable_ad", Connector: "ad", Operation: "disable_account", Phase: 1, PhaseName: "critical", TargetAccount: "dwhitfield",
			Status: store.ActionSucceeded, Verified: true, Attempts: 1, MaxAttempts: 5, DueAt: due(15 * time.Minute)},
		{ID: 902, Name: "revoke_okta_sessions", Connector: "okta", Operation: "revoke_sessions", Phase: 1, PhaseName: "critical",
			Status: store.ActionSucceeded, Attempts: 1, MaxAttempts: 5, DueAt: due(15 * time.Minute)},
		{ID: 903, Name: "revoke_vpn", Connector: "vpn", Operation: "revoke_vpn", Phase: 1, PhaseName: "critical", TargetAccount: "dwhitfield",
			Status: store.ActionFailed, Attempts: 3, MaxAttempts: 3, ErrorKind: "auth", LastError: "vpn: 403 Forbidden: token lacks scope vpn.users.write",
			DueAt: due(15 * time.Minute)},
		{ID: 904, Name: "disable_aws", Connector: "aws", Operation: "deactivate_user", Phase: 1, PhaseName: "critical",
			Status: store.ActionRunning, Attempts: 1, MaxAttempts: 5, DueAt: due(15 * time.Minute), LastError: "throttled"},
		{ID: 910, Name: "remove_groups", Connector: "okta", Operation: "remove_group_memberships", Phase: 2, PhaseName: "entitlements",
			Status: store.ActionQueued, Attempts: 1, MaxAttempts: 5, NotBefore: at(now.Add(2 * time.Minute)), DueAt: due(4 * time.Hour)},
		{ID: 911, Name: "transfer_drive", Connector: "graph", Operation: "transfer_files", Phase: 2, PhaseName: "entitlements",
			Status: store.ActionHeld, DueAt: due(time.Hour)},
		{ID: 912, Name: "deactivate_salesforce", Connector: "salesforce", Operation: "deactivate_user", Phase: 2, PhaseName: "entitlements",
			Status: store.ActionBlocked, BlockedReason: "waits for earlier phases", DueAt: due(4 * time.Hour)},
		{ID: 913, Name: "deprovision_zoom", Connector: "scim_zoom", Operation: "deactivate_user", Phase: 2, PhaseName: "entitlements",
			Status: store.ActionSkipped, Detail: "discovery: none found"},
		{ID: 920, Name: "collect_badge", Connector: "badge", Operation: "deactivate_badge", Phase: 3, PhaseName: "notifications",
			Status: store.ActionPending, BlockedReason: "manual step: waiting for someone to mark it done", DueAt: due(24 * time.Hour)},
		{ID: 921, Name: "notify_payroll", Connector: "payroll", Operation: "notify", Phase: 3, PhaseName: "notifications",
			Status: store.ActionCancelled},
	}
}

// manyActions builds n actions over three phases, with failures and
// overdue ones sprinkled in.
func manyActions(n int, errLen int) []store.Action {
	var out []store.Action
	for i := range n {
		a := store.Action{ID: int64(1000 + i), Name: fmt.Sprintf("action_%02d", i), Connector: fmt.Sprintf("scim_app_%02d", i%17),
			Operation: "deactivate_user", Phase: 1 + i%3, PhaseName: []string{"critical", "entitlements", "notifications"}[i%3],
			Status: store.ActionSucceeded, Verified: true, Attempts: 1, MaxAttempts: 5, DueAt: at(started.Add(time.Hour))}
		switch {
		case i%4 == 1:
			a.Status, a.LastError, a.Attempts = store.ActionFailed, strings.Repeat("upstream said no; ", errLen/18+1), 5
		case i%7 == 2:
			a.Status = store.ActionRunning
		}
		out = append(out, a)
	}
	return out
}

func testPlan() view.Plan {
	eff := time.Date(2026, 12, 11, 17, 0, 0, 0, time.UTC)
	return view.Plan{
		Employee: directory.Employee{ID: "E1001", Email: "dana.whitfield@example.com", Name: "Dana Whitfield", Type: "employee",
			Department: "Finance", Location: "Berlin", Clearance: "secret"},
		Rules:       []string{"everyone", "finance", "cleared"},
		PolicyHash:  "3f2a9c1d0b4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a",
		EffectiveAt: eff,
		Actions: []view.PlannedAction{
			{Name: "disable_ad", Connector: "ad", Operation: "disable_account", Phase: 1, PhaseName: "critical", SLA: 15 * time.Minute,
				TargetAccount: "dwhitfield", Found: "account dwhitfield (active)"},
			{Name: "revoke_okta_sessions", Connector: "okta", Operation: "revoke_sessions", Phase: 1, PhaseName: "critical", SLA: 15 * time.Minute,
				Found: "account 00u1abcd (active, 3 sessions)"},
			{Name: "disable_aws", Connector: "aws", Operation: "deactivate_user", Phase: 1, PhaseName: "critical", SLA: 30 * time.Minute,
				Found: "lookup failed: timeout"},
			{Name: "remove_groups", Connector: "okta", Operation: "remove_group_memberships", Phase: 2, PhaseName: "entitlements", SLA: 4 * time.Hour,
				DependsOn: []string{"revoke_okta_sessions"}, Found: "5 groups"},
			{Name: "collect_badge", Connector: "badge", Operation: "deactivate_badge", Phase: 3, PhaseName: "notifications", SLA: 24 * time.Hour,
				Manual: true, Found: "not looked up"},
		},
		Discovery: []view.Discovery{
			{Connector: "okta", Accounts: []view.Account{{ID: "00u1abcd", Kind: "user", Status: "active", Sessions: 3, Groups: []string{"a", "b", "c", "d", "e"}}}},
			{Connector: "ad", Accounts: []view.Account{{ID: "dwhitfield", Status: "active"}}},
			{Connector: "aws", Error: "timeout after 10s"},
			{Connector: "scim_zoom"},
		},
		Equipment: []view.Account{{ID: "LAPTOP-0042", Kind: "device", Detail: "MacBook Pro 14\""}},
	}
}

func manyPlan() view.Plan {
	p := testPlan()
	p.Actions = nil
	for i := range 60 {
		p.Actions = append(p.Actions, view.PlannedAction{Name: fmt.Sprintf("action_%02d", i), Connector: fmt.Sprintf("scim_app_%02d", i%23),
			Operation: "deactivate_user", Phase: 1 + i%3, PhaseName: []string{"critical", "entitlements", "notifications"}[i%3],
			SLA: time.Duration(1+i%5) * time.Hour, Manual: i%11 == 0, Found: "none found"})
	}
	return p
}

func testApproval() view.ApprovalView {
	return view.ApprovalView{
		Approval: store.Approval{ID: 7, CaseID: 42, Kind: "email_forwarding", Effect: "forwarding", Status: store.ApprovalPending,
			Requester: "E2001", Reason: "Customers still write to Dana; Sam takes over her accounts.",
			Request: `{"forward_to":"sam@example.com","days":30}`, Held: `["disable_mail_forwarding","convert_mailbox"]`,
			ExpiresAt: at(now.Add(48 * time.Hour)), CreatedAt: started},
		EmployeeID: "E1001", EmployeeName: "Dana Whitfield",
		Steps: []store.ApprovalStep{
			{ID: 1, ApprovalID: 7, Index: 0, Name: "manager", Approvers: `["manager"]`, Mode: "any", Required: 1, Status: store.StepApproved,
				DecidedAt: at(started.Add(10 * time.Minute))},
			{ID: 2, ApprovalID: 7, Index: 1, Name: "security", Approvers: `["group:security","user:E3001"]`, Fallback: `["group:ciso"]`,
				Mode: "n_of", Required: 2, Status: store.StepPending, DueAt: at(now.Add(4 * time.Hour))},
			{ID: 3, ApprovalID: 7, Index: 2, Name: "legal", Approvers: `["hr_partner"]`, Mode: "all", Required: 1, Status: store.StepWaiting},
		},
		Decisions: []store.ApprovalDecision{
			{ID: 1, ApprovalID: 7, StepIndex: 0, Approver: "E2001", Decision: "approve", Via: "slack", At: started.Add(10 * time.Minute)},
		},
		Approvers:     []string{"E3001", "E3002"},
		RoleApprovers: map[string]string{"manager": "E2001", "hr_partner": "E4001"},
	}
}

// approvalInfo is what the notifier adds to an approval card: names, the
// policy's description and limit, and whether the reader may decide.
func approvalInfo(canDecide bool) ApprovalInfo {
	return ApprovalInfo{
		Names:       map[string]string{"E2001": "Pat Manager", "E3001": "Sam Security", "E4001": "Hana Partner"},
		Description: "Keep forwarding email to a colleague for a while",
		PolicyLimit: "at most 30 days",
		CanDecide:   canDecide,
	}
}

func deniedApproval() view.ApprovalView {
	v := testApproval()
	v.Status, v.DecidedAt, v.Outcome = store.ApprovalDenied, at(now.Add(-5*time.Minute)), "forwarding is not kept; held actions released"
	v.Steps[1].Status, v.Steps[1].DecidedAt = store.StepDenied, at(now.Add(-5*time.Minute))
	v.Decisions = append(v.Decisions, store.ApprovalDecision{ID: 2, ApprovalID: 7, StepIndex: 1, Approver: "E3001", Decision: "deny",
		Reason: "Customer contacts go through the shared inbox.", Via: "slack", At: now.Add(-5 * time.Minute)})
	v.Approvers = nil
	return v
}

// hostile fills every text field from outside with markup that must not
// come through.
const hostile = "<!channel> <@U0EVIL> <https://evil.example|click> & `rm -rf` *bold*\nsecond line"

func hostileCase() (store.Case, []store.Action) {
	c := runningCase()
	c.EmployeeName, c.EmployeeID, c.Reason, c.Summary, c.Requester = hostile, hostile, strings.Repeat(hostile, 40), hostile, hostile
	acts := runningActions()
	for i := range acts {
		acts[i].Name, acts[i].Connector, acts[i].TargetAccount, acts[i].PhaseName = hostile, hostile, hostile, hostile
		acts[i].LastError, acts[i].BlockedReason, acts[i].Detail = strings.Repeat(hostile, 30), hostile, hostile
	}
	return c, acts
}

type goldenCase struct {
	name    string
	surface surface
	build   func() any
}

// legalHoldClosedCase is a case closed under an approved legal hold: the
// mailbox deletion is still held (it never ran), preserved until released.
func legalHoldClosedCase() (store.Case, []store.Action) {
	c := runningCase()
	c.Status, c.ClosedAt, c.CriticalDoneAt = store.CaseCompletedWithExceptions, at(now), at(started.Add(12*time.Minute))
	c.Summary = "5 actions: 4 succeeded, 1 held under legal hold; full revocation took 2h5m0s; critical access revoked 12m0s after the effective time" +
		"; preserved under legal hold 8 until released, not run: delete_mailbox (Delete the mailbox)"
	acts := runningActions()[:3]
	for i := range acts {
		acts[i].Status, acts[i].Verified, acts[i].LastError = store.ActionSucceeded, true, ""
	}
	acts = append(acts,
		store.Action{ID: 914, Name: "preserve_mailbox", Description: "Put the mailbox on litigation hold", Connector: "m365", Operation: "preserve_mailbox",
			Phase: 2, PhaseName: "entitlements", TargetAccount: "dana.whitfield@example.com", Status: store.ActionSucceeded, Verified: true},
		store.Action{ID: 922, Name: "delete_mailbox", Description: "Delete the mailbox (destroys data; a legal hold blocks it)", Connector: "m365",
			Operation: "delete_mailbox", Phase: 3, PhaseName: "notifications", TargetAccount: "dana.whitfield@example.com",
			Status: store.ActionHeld, BlockedReason: "preserved under legal hold 8 until released", DueAt: at(started.Add(24 * time.Hour))})
	return c, acts
}

func toMessage(bs []slack.Block, text string) message { return message{Text: text, Blocks: bs} }

func goldenCases() []goldenCase {
	m := func(name string, f func() ([]slack.Block, string)) goldenCase {
		return goldenCase{name, surfaceMessage, func() any { return toMessage(f()) }}
	}
	return []goldenCase{
		m("status_running", func() ([]slack.Block, string) { return StatusCard(runningCase(), runningActions(), now, names) }),
		m("status_scheduled", func() ([]slack.Block, string) {
			c := runningCase()
			c.Status, c.StartedAt, c.EffectiveAt, c.ComplianceProfile, c.ComplianceDeadline = store.CaseScheduled, nil, now.Add(3*time.Hour), "", nil
			acts := runningActions()[:3]
			for i := range acts {
				acts[i].Status, acts[i].Verified, acts[i].LastError, acts[i].DueAt = store.ActionPending, false, "", nil
			}
			return StatusCard(c, acts, now, nil)
		}),
		m("status_completed", func() ([]slack.Block, string) {
			c := runningCase()
			c.Status, c.ClosedAt, c.CriticalDoneAt = store.CaseCompletedWithExceptions, at(now.Add(-10*time.Minute)), at(started.Add(12*time.Minute))
			c.Summary = "9 of 10 actions succeeded; revoke_vpn was marked done by hand."
			acts := runningActions()
			for i := range acts {
				if !store.ActionFinal(acts[i].Status) {
					acts[i].Status = store.ActionSucceeded
				}
			}
			return StatusCard(c, acts, now, names)
		}),
		m("status_held", func() ([]slack.Block, string) {
			c := runningCase()
			c.Status, c.StartedAt, c.Involuntary, c.Trigger, c.Requester = store.CaseHeld, nil, true, store.TriggerHR, "hr:workday"
			c.ComplianceDeadline, c.BreachedAt = at(now.Add(-time.Hour)), at(now.Add(-50*time.Minute))
			return StatusCard(c, nil, now, nil)
		}),
		m("status_many_collapsed", func() ([]slack.Block, string) { return StatusCard(runningCase(), manyActions(45, 40), now, names) }),
		m("status_40_long_errors", func() ([]slack.Block, string) { return StatusCard(runningCase(), manyActions(40, 2000), now, names) }),
		m("status_hostile", func() ([]slack.Block, string) {
			c, a := hostileCase()
			return StatusCard(c, a, now, map[string]string{hostile: hostile})
		}),

		m("action_failed", func() ([]slack.Block, string) {
			a := runningActions()[4]
			a.Status, a.LastError, a.ErrorKind, a.Attempts = store.ActionFailed, "okta: 429 Too Many Requests ```retry-after: 30```", "transient", 5
			return ActionFailed(a, 42, true, true)
		}),
		m("action_failed_phase1", func() ([]slack.Block, string) { return ActionFailed(runningActions()[2], 42, true, false) }),
		m("action_failed_resolved", func() ([]slack.Block, string) {
			a := runningActions()[2]
			a.Status = store.ActionQueued
			return ActionFailed(a, 42, true, true)
		}),
		m("action_failed_hostile", func() ([]slack.Block, string) {
			_, a := hostileCase()
			a[2].Phase = 2
			return ActionFailed(a[2], 42, true, true)
		}),
		m("manual_step", func() ([]slack.Block, string) {
			a := runningActions()[8]
			a.Phase = 3
			return ManualStep(a, 42, true)
		}),
		m("manual_step_done", func() ([]slack.Block, string) {
			a := runningActions()[8]
			a.Status, a.Verification = store.ActionSucceeded, "marked done by E2001: badge collected at reception"
			return ManualStep(a, 42, true)
		}),
		m("escalation", func() ([]slack.Block, string) {
			return Escalation(view.Event{Kind: "escalation", CaseID: 42, ActionID: 904, Name: "disable_aws", Status: store.ActionRunning, Level: 2,
				Detail: "disable_aws (deactivate_user on aws) for Dana Whitfield is 1h50m overdue", Targets: []string{"channel:security-alerts", "group:cloud", "user:E3001"}, At: now}, nil)
		}),
		m("escalation_by_person", func() ([]slack.Block, string) {
			return Escalation(view.Event{Kind: "escalation", CaseID: 42, ActionID: 903, Name: "revoke_vpn", Status: store.ActionFailed, Level: 1, Actor: "E2001",
				Detail:  "revoke_vpn (revoke_vpn on vpn) for Dana Whitfield is failed since 2026-12-04T17:20:00Z (25m0s); escalated to level 1 by E2001; last error: vpn: 503",
				Targets: []string{"#it-network"}, At: now}, map[string]string{"E2001": "Pat Manager"})
		}),
		m("approval_decided", func() ([]slack.Block, string) {
			return ApprovalDecided(view.Event{Kind: "approval_decided", CaseID: 42, ApprovalID: 7, Name: "email_forwarding", Status: store.ApprovalApproved,
				Detail: "forwarding to sam@example.com kept for 30 days, removed on 2027-01-03", At: now})
		}),
		m("approval_decided_step", func() ([]slack.Block, string) {
			return ApprovalDecided(view.Event{Kind: "approval_decided", CaseID: 42, ApprovalID: 7, Name: "email_forwarding", Status: store.ApprovalPending,
				Detail: `E2001 approved step "manager" (1 so far)`, At: now})
		}),
		m("case_closed", func() ([]slack.Block, string) {
			c := runningCase()
			c.Status, c.ClosedAt = store.CaseCompletedWithExceptions, at(now)
			c.Summary = "9 of 10 actions succeeded and were verified; revoke_vpn was marked done by hand.\nForwarding kept until 2027-01-03."
			return CaseClosed(c, 57, "3f2a9c1d0b4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a")
		}),
		m("case_closed_legal_hold", func() ([]slack.Block, string) {
			c, acts := legalHoldClosedCase()
			c.Actions = acts
			return CaseClosed(c, 64, "3f2a9c1d0b4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a")
		}),
		m("status_legal_hold_closed", func() ([]slack.Block, string) {
			c, acts := legalHoldClosedCase()
			return StatusCard(c, acts, now, names)
		}),

		m("plan_preview", func() ([]slack.Block, string) { return PlanPreview(testPlan(), 42) }),
		m("plan_preview_many", func() ([]slack.Block, string) { return PlanPreview(manyPlan(), 42) }),
		m("plan_resolved", func() ([]slack.Block, string) { return PlanResolved(testPlan(), 42, false, "Pat Manager", now) }),
		m("plan_preview_simulated", func() ([]slack.Block, string) { return PlanPreview(simulatedPlan(), 42) }),
		m("status_simulated", func() ([]slack.Block, string) {
			c, acts := simulatedCase()
			return StatusCard(c, acts, now, names)
		}),

		m("approval_pending", func() ([]slack.Block, string) { return ApprovalCard(testApproval(), approvalInfo(true), now) }),
		m("approval_pending_reason_required", func() ([]slack.Block, string) {
			v := testApproval()
			v.ReasonRequired = true
			return ApprovalCard(v, approvalInfo(true), now)
		}),
		m("approval_decided_by_viewer", func() ([]slack.Block, string) { return ApprovalCard(testApproval(), approvalInfo(false), now) }),
		m("approval_denied", func() ([]slack.Block, string) { return ApprovalCard(deniedApproval(), approvalInfo(false), now) }),
		m("approval_approved_by_policy", func() ([]slack.Block, string) {
			// The last step timed out and policy approves on timeout: no
			// person decided it.
			v := testApproval()
			v.Kind, v.Effect = "late_laptop", "delay_equipment"
			v.Status, v.DecidedAt, v.Approvers, v.Request, v.Held = store.ApprovalApproved, at(now), nil, `{"action":"return_laptop","until":"2026-12-20","note":"courier"}`, ""
			v.Outcome = "equipment recovery due moved to 2026-12-20"
			for i := range v.Steps {
				v.Steps[i].Status, v.Steps[i].DecidedAt = store.StepApproved, at(now)
			}
			v.Decisions = append(v.Decisions, store.ApprovalDecision{ID: 2, ApprovalID: 7, StepIndex: 1, Approver: "E3001", Decision: "approve", At: now.Add(-time.Hour)},
				store.ApprovalDecision{ID: 3, ApprovalID: 7, StepIndex: 1, Approver: "E3002", Decision: "approve", At: now.Add(-time.Hour)})
			return ApprovalCard(v, ApprovalInfo{}, now)
		}),

		m("alert_escalation", func() ([]slack.Block, string) {
			return AlertMessage(view.Event{Kind: "escalation", CaseID: 42, ActionID: 904, Name: "disable_aws", Status: store.ActionRunning, Level: 3,
				Detail: "disable_aws for Dana Whitfield is 3h overdue", Targets: []string{"channel:security-alerts"}, At: now})
		}),
		m("alert_breach", func() ([]slack.Block, string) {
			return AlertMessage(view.Event{Kind: "breach", CaseID: 42, Status: store.CaseRunning,
				Detail: "Dana Whitfield (E1001): fedramp deadline 2026-12-04T18:00:00Z passed with 1 critical action not final", At: now})
		}),
		m("alert_batch_held", func() ([]slack.Block, string) {
			return AlertMessage(view.Event{Kind: "batch_held", CaseID: 42, BatchID: 3, Status: store.BatchPending,
				Detail: "Dana Whitfield (E1001) held in batch 3: 25 offboardings within 1h; approve, deny or release by id", At: now})
		}),
		m("alert_security_officer_notice", func() ([]slack.Block, string) {
			return AlertMessage(view.Event{Kind: "security_officer_notice", CaseID: 42, Status: store.CaseScheduled, Targets: []string{"user:E9001"},
				Detail: "offboarding opened for Dana Whitfield (E1001), clearance secret, effective 2026-12-11T17:00:00Z", At: now})
		}),
		m("alert_hr_unknown_employee", func() ([]slack.Block, string) {
			return AlertMessage(view.Event{Kind: "hr_unknown_employee", Detail: `workday: termination for "E7777" who is not in the HR directory`, At: now})
		}),
		m("alert_hr_late_change", func() ([]slack.Block, string) {
			return AlertMessage(view.Event{Kind: "hr_late_change", CaseID: 42, Status: store.CaseRunning,
				Detail: "Dana Whitfield (E1001): termination date moved to 2026-12-18 after revocation began", At: now})
		}),
		m("alert_critical_failure", func() ([]slack.Block, string) {
			return AlertMessage(view.Event{Kind: "action", CaseID: 42, ActionID: 903, Name: "revoke_vpn", Status: store.ActionFailed,
				Detail: "vpn: 403 Forbidden", At: now})
		}),
		m("alert_other", func() ([]slack.Block, string) {
			return AlertMessage(view.Event{Kind: "reconcile_orphan", Name: "okta", Detail: "00u1abcd is still active", At: now})
		}),
		m("batch_pending", func() ([]slack.Block, string) {
			ids := make([]int64, 500)
			for i := range ids {
				ids[i] = int64(100000 + i)
			}
			return BatchSummary(len(ids), ids, store.BatchPending)
		}),
		m("batch_approved", func() ([]slack.Block, string) { return BatchSummary(3, []int64{42, 43, 44}, store.BatchApproved) }),

		{"modal_offboard", surfaceModal, func() any { return OffboardModal(now) }},
		{"modal_deny_reason", surfaceModal, func() any { return DenyReasonModal(testApproval(), approvalInfo(true)) }},
		{"modal_approve_reason", surfaceModal, func() any { return ApproveReasonModal(testApproval(), approvalInfo(true)) }},
		{"modal_skip_reason", surfaceModal, func() any { return SkipReasonModal(913, "Deprovision Zoom", "Dana Whitfield") }},
		{"home", surfaceHome, func() any {
			c2 := runningCase()
			c2.ID, c2.EmployeeName, c2.EmployeeID, c2.Status, c2.EffectiveAt = 43, "Sam Lee", "E1002", store.CaseScheduled, now.Add(72*time.Hour)
			return HomeTab([]store.Case{runningCase(), c2}, []view.ApprovalView{testApproval()}, "U0VIEWER1")
		}},
		{"home_empty", surfaceHome, func() any { return HomeTab(nil, nil, "not a slack id") }},
		{"home_full", surfaceHome, func() any {
			var cs []store.Case
			for i := range 50 {
				c := runningCase()
				c.ID, c.EmployeeName = int64(100+i), fmt.Sprintf("Person %02d", i)
				cs = append(cs, c)
			}
			var aps []view.ApprovalView
			for i := range 30 {
				v := testApproval()
				v.ID = int64(200 + i)
				aps = append(aps, v)
			}
			return HomeTab(cs, aps, "U0VIEWER1")
		}},
	}
}

func TestGolden(t *testing.T) {
	for _, gc := range goldenCases() {
		t.Run(gc.name, func(t *testing.T) {
			raw := encode(t, gc.build())
			checkLimits(t, gc.surface, raw)
			golden(t, gc.name, raw)
			// What we send, slack-go reads back.
			var back struct {
				Blocks slack.Blocks `json:"blocks"`
			}
			if err := json.Unmarshal(raw, &back); err != nil {
				t.Fatalf("slack-go cannot read the blocks back: %v", err)
			}
		})
	}
}

func TestHelpText(t *testing.T) {
	golden(t, "help", []byte(HelpText(now)+"\n"))
	for _, form := range []string{"/offboard @user [reason]", "--now", "--effective 2026-12-11 17:00", "status @user", "cancel @user", "help"} {
		if !strings.Contains(HelpText(now), form) {
			t.Errorf("help does not mention %q", form)
		}
	}
}
