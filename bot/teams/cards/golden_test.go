package cards

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/engine/view"
	"github.com/kineticsec/kinetic/store"
)

// go test ./bot/teams/cards -run TestGolden -update rewrites testdata/*.golden;
// review every diff.
var update = flag.Bool("update", false, "rewrite golden files")

var (
	now     = time.Date(2026, 12, 4, 19, 5, 0, 0, time.UTC)
	started = time.Date(2026, 12, 4, 17, 0, 0, 0, time.UTC)
)

func at(t time.Time) *time.Time { return &t }

func testPlan() view.Plan {
	return view.Plan{
		Employee: directory.Employee{ID: "E1001", Email: "dana.whitfield@example.com", Name: "Dana Whitfield", Type: "employee",
			Department: "Finance", Location: "Berlin", Clearance: "secret", TimeZone: "Europe/Berlin"},
		Rules: []string{"everyone", "finance"}, PolicyHash: "3f2a9c1d0b4e5f6a7b8c9d0e1f2a3b4c",
		EffectiveAt: time.Date(2026, 12, 11, 17, 0, 0, 0, time.UTC),
		Actions: []view.PlannedAction{
			{Name: "disable_ad", Description: "Disable the AD account", Connector: "ad", Phase: 1, PhaseName: "critical", SLA: 15 * time.Minute, TargetAccount: "dwhitfield"},
			{Name: "remove_groups", Connector: "okta", Phase: 2, PhaseName: "entitlements", SLA: 4 * time.Hour, Found: "5 groups"},
			{Name: "collect_badge", Connector: "badge", Phase: 3, Manual: true, Simulated: true},
		},
		Discovery: []view.Discovery{{Connector: "ad", Accounts: []view.Account{{ID: "dwhitfield", Status: "active"}}}, {Connector: "aws", Error: "timeout"}},
		Equipment: []view.Account{{ID: "LAPTOP-0042", Detail: "MacBook Pro"}},
	}
}

func testApproval() view.ApprovalView {
	return view.ApprovalView{
		Approval: store.Approval{ID: 7, CaseID: 42, Kind: "email_forwarding", Effect: "forwarding", Status: store.ApprovalPending,
			Requester: "E2001", Reason: "Customers still write to Dana.", ExpiresAt: at(now.Add(48 * time.Hour))},
		EmployeeID: "E1001", EmployeeName: "Dana Whitfield",
		Steps:     []store.ApprovalStep{{Index: 0, Name: "manager", Status: store.StepApproved}, {Index: 1, Name: "security", Status: store.StepPending}},
		Decisions: []store.ApprovalDecision{{StepIndex: 0, Approver: "E2001", Decision: "approve", At: started.Add(10 * time.Minute)}},
		Approvers: []string{"E3001"},
	}
}

func info(can bool) blocks.ApprovalInfo {
	return blocks.ApprovalInfo{Names: map[string]string{"E2001": "Pat Manager", "E3001": "Sam Security"},
		Description: "Keep forwarding email for a while", PolicyLimit: "at most 30 days", CanDecide: can}
}

func failedAction() store.Action {
	return store.Action{ID: 903, Name: "revoke_vpn", Connector: "vpn", Operation: "revoke_vpn", Phase: 2, TargetAccount: "dwhitfield",
		Status: store.ActionFailed, Attempts: 3, MaxAttempts: 3, LastError: "vpn: 403 Forbidden"}
}

func closedCase() store.Case {
	return store.Case{ID: 42, EmployeeID: "E1001", EmployeeName: "Dana Whitfield", Status: store.CaseCompletedWithExceptions,
		Summary: "9 of 10 actions done.\nSkipped: zoom.", StartedAt: at(started), ClosedAt: at(now)}
}

type builder struct {
	name  string
	build func() *Card
}

// builders is every builder with ordinary input, one golden file each.
func builders() []builder {
	reasonReq := testApproval()
	reasonReq.ReasonRequired = true
	denied := testApproval()
	denied.Status = store.ApprovalDenied
	return []builder{
		{"plan_preview", func() *Card { return PlanPreview(testPlan(), 42) }},
		{"plan_resolved", func() *Card { return PlanResolved(testPlan(), 42, true, "Pat Manager", now) }},
		{"plan_cancelled", func() *Card { return PlanResolved(testPlan(), 42, false, "Pat Manager", now) }},
		{"approval_open", func() *Card { return ApprovalCard(testApproval(), info(true), now, []string{"29:1abc"}) }},
		{"approval_reason_required", func() *Card { return ApprovalCard(reasonReq, info(true), now, nil) }},
		{"approval_viewer", func() *Card { return ApprovalCard(testApproval(), info(false), now, nil) }},
		{"approval_denied", func() *Card { return ApprovalCard(denied, info(false), now, nil) }},
		{"action_failed", func() *Card { return ActionFailed(failedAction(), 42, true, true) }},
		{"action_resolved", func() *Card {
			a := failedAction()
			a.Status = store.ActionSkipped
			return ActionFailed(a, 42, true, true)
		}},
		{"manual_step", func() *Card {
			a := failedAction()
			a.Status, a.Detail = store.ActionPending, "Collect the badge at reception."
			return ManualStep(a, 42, true)
		}},
		{"case_closed", func() *Card { return CaseClosed(closedCase(), 57, "ab12cd34ef56ab12") }},
		{"alert_breach", func() *Card {
			return AlertMessage(view.Event{Kind: view.EventBreach, CaseID: 42, Detail: "revoke_vpn 3h late"})
		}},
		{"alert_failed", func() *Card {
			return AlertMessage(view.Event{Kind: view.EventAction, Status: store.ActionFailed, Name: "revoke_vpn", CaseID: 42})
		}},
		{"delivery_failure", func() *Card {
			return DeliveryFailure(view.Event{Kind: view.EventEscalation, CaseID: 42}, []string{"group:security has no members in Teams"})
		}},
		{"help", func() *Card { return Help(now) }},
		{"notice_escalation", func() *Card {
			a := failedAction()
			a.Skippable = true
			return Notice(view.Event{Kind: view.EventEscalation, Level: 2, Name: "revoke_vpn", CaseID: 42, Detail: "Overdue by 2h."},
				[]string{"IT Identity › General", "Sam Security"}, &a)
		}},
		{"notice_manual", func() *Card {
			a := failedAction()
			a.Status, a.Manual = store.ActionPending, true
			return Notice(view.Event{Kind: view.EventManualStep, Name: "collect_badge"}, nil, &a)
		}},
		{"status_running", func() *Card {
			c := closedCase()
			c.Status, c.ClosedAt, c.Requester, c.Trigger, c.EmployeeEmail = store.CaseRunning, nil, "E2001", store.TriggerTeams, "dana@example.com"
			c.ComplianceProfile, c.ComplianceDeadline, c.UpdatedAt, c.EffectiveAt = "fedramp", at(started.Add(24*time.Hour)), now, started
			berlin, _ := time.LoadLocation("Europe/Berlin")
			acts := []store.Action{
				{ID: 1, Name: "disable_ad", Connector: "ad", Phase: 1, PhaseName: "critical", Status: store.ActionSucceeded},
				failedAction(),
				{ID: 3, Name: "remove_groups", Connector: "okta", Phase: 2, Status: store.ActionBlocked, BlockedReason: "waits for phase 1"},
				{ID: 4, Name: "transfer", Connector: "graph", Phase: 2, Status: store.ActionRunning, DueAt: at(now.Add(-time.Minute))},
			}
			return StatusCard(c, acts, now, blocks.StatusExtras{Names: map[string]string{"E2001": "Pat Manager"}, Zone: berlin,
				Pending: []store.Approval{{ID: 7, Kind: "email_forwarding", Requester: "E2001"}}, Kinds: map[string]string{"email_forwarding": "Keep forwarding"}})
		}},
		{"status_still_open", func() *Card {
			c := closedCase()
			c.Status, c.ClosedAt, c.EffectiveAt, c.RevokedAt = store.CaseRunning, nil, started, at(started.Add(3*time.Minute))
			acts := []store.Action{{ID: 1, Name: "disable_ad", Connector: "ad", Phase: 1, PhaseName: "critical", Status: store.ActionSucceeded, Verified: true}}
			due := started.Add(7 * 24 * time.Hour)
			open := []view.OpenItem{
				{Kind: view.OpenEquipment, ID: 9, Name: "LT-1003", Status: store.EquipmentReturnRequested, Owner: "channel:it-assets", DueAt: &due,
					Ticket: "INC0010012", TicketURL: "https://corp.service-now.com/incident.do?sys_id=9d385017c611228701d22104cc95c371"},
				{Kind: view.OpenEquipment, ID: 10, Name: "PH-2001", Status: store.EquipmentOpen, Owner: "channel:it-assets", DueAt: &due,
					Ticket: "INC0010013", TicketURL: "javascript:alert(1)"},
				{Kind: view.OpenManualStep, ID: 12, Name: "collect_badge", Status: store.ActionPending, Owner: "channel:facilities",
					Ticket: "FAC-42", TicketURL: "https://corp.atlassian.net/browse/FAC-42"},
			}
			return StatusCard(c, acts, now, blocks.StatusExtras{Open: open})
		}},
		{"reason_deny", func() *Card {
			return ReasonCard(VerbDeny, "You are denying email forwarding for Dana Whitfield.", approvalData(7))
		}},
		{"offboard_form", func() *Card { return OffboardForm(now, nil, nil) }},
		{"offboard_form_errors", func() *Card {
			return OffboardForm(now, map[string]string{inLastDay: "2026-12-01", inForwardDays: "40", inLegalHold: "true"},
				map[string]string{inLastDay: "The last day can't be in the past.", inForwardDays: "Enter a whole number of days from 1 to 30."})
		}},
		{"notice_ack_open", func() *Card { return NoticeCard(testNotice(), "Dana Whitfield", noticeDates(), true) }},
		{"notice_ack_done", func() *Card {
			n := testNotice()
			n.AcknowledgedAt, n.AcknowledgedBy, n.AcknowledgedHow = at(now), "E4001", store.AckButton
			return NoticeCard(n, "Dana Whitfield", noticeDates(), true)
		}},
		{"equipment_open", func() *Card {
			return EquipmentCard(view.Event{Kind: view.EventEquipment, Detail: "Return instructions sent to the manager."}, testTask(), "Dana Whitfield",
				[]string{store.EquipmentReceived, store.EquipmentLost}, true)
		}},
		{"equipment_received", func() *Card {
			t := testTask()
			t.Status = store.EquipmentReceived
			return EquipmentCard(view.Event{Kind: view.EventEquipmentOverdue, Level: 1}, t, "Dana Whitfield",
				[]string{store.EquipmentWiped, store.EquipmentPreserved, store.EquipmentDisposed}, true)
		}},
		{"equipment_no_buttons", func() *Card {
			return EquipmentCard(view.Event{Kind: view.EventEquipment}, testTask(), "Dana Whitfield", []string{store.EquipmentReceived}, false)
		}},
		{"alert_residual", func() *Card {
			return AlertMessage(view.Event{Kind: view.EventResidualAccess, Name: "okta", CaseID: 42, ResidualID: 9, Detail: "dwhitfield is still active in okta"})
		}},
		{"batch_summary", func() *Card { return BatchSummary([]int64{51, 52, 53}) }},
		{"planning", func() *Card { return Planning("Dana Whitfield", false) }},
		{"planning_now", func() *Card { return Planning("Dana Whitfield", true) }},
	}
}

func testNotice() store.Notice {
	return store.Notice{ID: 3, CaseID: 42, Team: "payroll", Channel: "email", Recipients: "payroll@example.com,hr@example.com", SentAt: started}
}

func noticeDates() map[string]string {
	return map[string]string{"last_working_day": "2026-12-11", "final_pay_date": "2026-12-11", "final_pay_rule": "same day (involuntary, CA)",
		"benefits_end_date": "2026-12-31", "benefits_end_rule": "end of month"}
}

func testTask() store.EquipmentTask {
	return store.EquipmentTask{ID: 5, CaseID: 42, AssetTag: "LAPTOP-0042", Category: "laptop", Description: "MacBook Pro", AssigneeTeam: "it-berlin",
		Location: "Berlin", Status: store.EquipmentOpen, DueAt: at(now.Add(72 * time.Hour))}
}

func encode(t *testing.T, c *Card) []byte {
	t.Helper()
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (run go test -update and review the diff):\n%s", name, path, got)
	}
}

// checkCard holds the rules every card keeps whatever its input: version
// 1.5, under MaxCardBytes, every Action.Execute with a known verb whose
// data ParseInvoke accepts, inputs with ids.
func checkCard(t *testing.T, c *Card) {
	t.Helper()
	if c.Version != Version || c.Type != "AdaptiveCard" {
		t.Errorf("card is %s %s", c.Type, c.Version)
	}
	if n := c.Size(); n > MaxCardBytes || n == 0 {
		t.Errorf("card is %d bytes, limit %d", n, MaxCardBytes)
	}
	raw, _ := json.Marshal(c)
	var generic any
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["type"] == "Action.Execute" {
				d, _ := json.Marshal(v["data"])
				if v["data"] == nil {
					d = []byte("{}")
				}
				if _, err := ParseInvoke(v["verb"].(string), d); err != nil {
					t.Errorf("button %v: %v", v["title"], err)
				}
			}
			if s, _ := v["type"].(string); strings.HasPrefix(s, "Input.") && v["id"] == nil {
				t.Errorf("input %s has no id", s)
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(generic)
}

func TestGolden(t *testing.T) {
	for _, b := range builders() {
		t.Run(b.name, func(t *testing.T) {
			c := b.build()
			checkCard(t, c)
			golden(t, b.name, encode(t, c))
		})
	}
}

// TestHugeInputsFit gives every builder very long names, errors, notes and
// lists: each card stays under MaxCardBytes and says what it left out.
func TestHugeInputsFit(t *testing.T) {
	cards := hugeCards()
	for name, card := range cards {
		t.Run(name, func(t *testing.T) {
			checkCard(t, card)
			raw, _ := json.Marshal(card)
			if strings.Contains(string(raw), "{{DATE(x)}}") {
				t.Error("data from outside opened a DATE function")
			}
		})
	}
	if !strings.Contains(string(encode(t, cards["plan"])), "Not everything fits") {
		t.Error("the cut plan does not say so")
	}
}

// hugeCards is every builder with very long input.
func hugeCards() map[string]*Card {
	long := strings.Repeat("Ω very long text *with* [markup] {{DATE(x)}} ", 400)
	p := testPlan()
	p.Employee.Name = long
	for i := range 400 {
		p.Actions = append(p.Actions, view.PlannedAction{Name: fmt.Sprintf("a%03d", i), Description: long, Connector: long, Phase: 1 + i%3, Found: long})
		p.Discovery = append(p.Discovery, view.Discovery{Connector: fmt.Sprint(long, i), Error: long})
	}
	v := testApproval()
	v.EmployeeName, v.Reason = long, long
	for i := range 200 {
		v.Steps = append(v.Steps, store.ApprovalStep{Index: i, Name: long})
		v.Decisions = append(v.Decisions, store.ApprovalDecision{Approver: long, Decision: "deny", Reason: long, At: now})
		v.Approvers = append(v.Approvers, long)
	}
	a := failedAction()
	a.LastError, a.Description, a.Connector, a.Detail = long, long, long, long
	c := closedCase()
	c.EmployeeName, c.Summary = long, long
	var problems []string
	for range 300 {
		problems = append(problems, long)
	}
	prev := map[string]string{inNotes: long, inPerson: long, inForwardEmail: long}
	errs := map[string]string{inNotes: long, inPerson: long}
	return map[string]*Card{
		"plan":     PlanPreview(p, 42),
		"resolved": PlanResolved(p, 42, true, long, now),
		"approval": ApprovalCard(v, blocks.ApprovalInfo{Description: long, PolicyLimit: long, CanDecide: true}, now, nil),
		"failed":   ActionFailed(a, 42, true, true),
		"manual":   ManualStep(a, 42, true),
		"closed":   CaseClosed(c, 1, long),
		"alert":    AlertMessage(view.Event{Kind: view.EventBreach, Name: long, Detail: long, CaseID: 1}),
		"delivery": DeliveryFailure(view.Event{Kind: view.EventEscalation, CaseID: 1}, problems),
		"reason":   ReasonCard(VerbSkip, fit(long, 500), actionData(1)),
		"form":     OffboardForm(now, prev, errs),
		"notice":   Notice(view.Event{Kind: view.EventEscalation, Name: long, Detail: long, CaseID: 1}, problems, &a),
		"notice_ack": NoticeCard(store.Notice{ID: 1, CaseID: 1, Team: long, Channel: long, Recipients: long}, long,
			map[string]string{"final_pay_date": long, "final_pay_rule": long}, true),
		"equipment": EquipmentCard(view.Event{Kind: view.EventEquipment, Detail: long}, store.EquipmentTask{ID: 1, CaseID: 1, AssetTag: long, Category: long,
			Description: long, AssigneeTeam: long, Location: long, Reference: long}, long, []string{store.EquipmentReceived, store.EquipmentDisposed}, true),
		"residual": AlertMessage(view.Event{Kind: view.EventResidualAccess, Name: long, Detail: long, CaseID: 1, ResidualID: 1}),
		"batch":    BatchSummary(make([]int64, 5000)),
		"status":   StatusCard(c, hugeActions(long), now, blocks.StatusExtras{Kinds: map[string]string{"x": long}, Pending: []store.Approval{{Kind: "x", Requester: long}}}),
	}
}

func hugeActions(long string) []store.Action {
	var out []store.Action
	for i := range 300 {
		out = append(out, store.Action{ID: int64(i + 1), Name: long, Description: long, Connector: long, Phase: 1 + i%3, PhaseName: long,
			Status: store.ActionFailed, LastError: long})
	}
	return out
}
