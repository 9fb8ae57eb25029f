package engine_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/jira/jiratest"
	"github.com/kineticsec/kinetic/connectors/servicenow/servicenowtest"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

const (
	snowPassword = "snow-S3CR3T-test"
	jiraToken    = "jira-S3CR3T-test"
)

// ticketKit is a kit whose service file has the ServiceNow instance snow
// and the Jira instance jira (owner it-ops both), pointed at the fakes.
func ticketKit(t *testing.T, policy string, snow *servicenowtest.Fake, jira *jiratest.Fake) *testkit.Kit {
	t.Helper()
	t.Setenv("ITSM_TEST_SNOW_PASSWORD", snowPassword)
	t.Setenv("ITSM_TEST_JIRA_TOKEN", jiraToken)
	conns := fmt.Sprintf(`  snow:
    type: servicenow
    owner: it-ops
    servicenow: {instance_url: "%s", username: kinetic.integration, password: {env: ITSM_TEST_SNOW_PASSWORD}}
  jira:
    type: jira
    owner: it-ops
    jira: {site_url: "%s", email: kinetic@example.com, api_token: {env: ITSM_TEST_JIRA_TOKEN}, project: OPS}
`, snow.Server.URL, jira.Server.URL)
	k := testkit.New(t, testkit.Options{RedisDB: redisDB, Policy: policy, Connectors: conns, Outbound: "{allow_hosts: [127.0.0.1]}"})
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	return k
}

func auditEvents(t *testing.T, k *testkit.Kit, caseID int64, event string) []store.AuditEvent {
	t.Helper()
	var evs []store.AuditEvent
	if err := k.Store.TestDB().Where("case_id = ? AND event = ?", caseID, event).Order("seq").Find(&evs).Error; err != nil {
		t.Fatal(err)
	}
	return evs
}

// An equipment task routed to a team gets a ServiceNow ticket in the
// team's assignment group when the case starts (after a 503, retried),
// a work note with each move (in progress) and is resolved with its
// disposition; a ticket deleted in ServiceNow is "none found", not a
// failure.
func TestEquipmentTicketFollowsTheTask(t *testing.T) {
	snow := servicenowtest.New(t, "kinetic.integration", snowPassword)
	jira := jiratest.New(t, "kinetic@example.com", jiraToken)
	snow.Fail(http.StatusServiceUnavailable) // the first search: retried
	k := ticketKit(t, testkit.Policy+`equipment:
  categories: {LT: laptop, PH: phone}
  teams:
    - {category: laptop, location: Berlin, team: it-berlin}
    - {category: phone, team: it-assets}
tickets:
  connector: snow
  teams:
    it-berlin: {assignment_group: berlin-desk}
    it-assets: {}
`, snow, jira)
	ctx := context.Background()
	c := open(t, k, engine.Request{EmployeeID: "E7", Requester: "M1", Reason: "resigned"})
	lt, ph := taskTagged(t, k, c.ID, "LT-7"), taskTagged(t, k, c.ID, "PH-7")

	opened := waitSettled(t, k, c.ID, "ticket.LT-7.open")
	if opened.Status != store.ActionSucceeded || !opened.Verified || opened.Connector != "snow" || opened.Phase != 3 {
		t.Fatalf("open action: %+v", opened)
	}
	// The two opens run side by side: one of them met the 503 and ran again.
	if n := opened.Attempts + waitSettled(t, k, c.ID, "ticket.PH-7.open").Attempts; n != 3 {
		t.Fatalf("%d attempts for two tickets after one 503", n)
	}
	// Each open searches by correlation before it files.
	if got := snow.Requests(); len(got) < 5 || got[0] != "GET "+servicenowtest.Table || !slices.Contains(got, "POST "+servicenowtest.Table) {
		t.Fatalf("requests: %v", got)
	}
	recs := snow.Records()
	if len(recs) != 2 {
		t.Fatalf("%d tickets filed; want one per device: %v", len(recs), recs)
	}
	rec := recs[0]
	if rec["correlation_id"] != connectors.TicketCorrelation(fmt.Sprint(c.ID), fmt.Sprintf("equipment-%d", lt.ID)) {
		rec = recs[1]
	}
	if rec["assignment_group"] != "berlin-desk" || rec["correlation_id"] != connectors.TicketCorrelation(fmt.Sprint(c.ID), fmt.Sprintf("equipment-%d", lt.ID)) ||
		!strings.Contains(rec["short_description"], "LT-7") || !strings.Contains(rec["description"], "Gia Gadget") {
		t.Fatalf("ticket: %v", rec)
	}
	lt = taskTagged(t, k, c.ID, "LT-7")
	want := store.TicketRef{Connector: "snow", ID: rec["sys_id"], Key: rec["number"], URL: snow.Server.URL + "/incident.do?sys_id=" + rec["sys_id"]}
	if lt.Ticket != want || !strings.HasPrefix(want.Key, "INC00100") {
		t.Fatalf("task's ticket = %+v; want %+v", lt.Ticket, want)
	}
	items, err := k.Engine.OpenItems(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(items, func(it engine.OpenItem) bool { return it.Name == "LT-7" }); i < 0 || items[i].Ticket != want.Key || items[i].TicketURL != want.URL {
		t.Fatalf("open items: %+v", items)
	}
	ph = taskTagged(t, k, c.ID, "PH-7")
	if ph.Ticket.ID == "" || ph.Ticket.ID == lt.Ticket.ID || rec["assignment_group"] == "" {
		t.Fatalf("PH-7's ticket: %+v", ph.Ticket)
	}
	if evs := auditEvents(t, k, c.ID, "ticket.opened"); len(evs) != 2 || !strings.Contains(evs[0].Detail+evs[1].Detail, lt.Ticket.Key) {
		t.Fatalf("ticket.opened: %+v", evs)
	}
	if evs := auditEvents(t, k, c.ID, "action.retry_scheduled"); len(evs) != 1 || evs[0].Result != string(connectors.KindTransient) {
		t.Fatalf("retry: %+v", evs)
	}

	move := func(tag string, id int64, to, ref string) {
		t.Helper()
		if _, err := k.Engine.MoveEquipment(ctx, engine.EquipmentMove{TaskID: id, To: to, Actor: "T2", Note: "via courier", Reference: ref, Via: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	move("LT-7", lt.ID, store.EquipmentReturnRequested, "")
	if a := waitSettled(t, k, c.ID, "ticket.LT-7.return_requested"); a.Status != store.ActionSucceeded || a.Operation != string(connectors.OpUpdateTicket) {
		t.Fatalf("update: %+v", a)
	}
	rec = snow.Record(lt.Ticket.ID)
	if rec["state"] != "2" || !strings.Contains(rec["work_notes"], "LT-7 return requested by T2: via courier") {
		t.Fatalf("after the first move: %v", rec)
	}
	move("LT-7", lt.ID, store.EquipmentReceived, "")
	move("LT-7", lt.ID, store.EquipmentWiped, "")
	move("LT-7", lt.ID, store.EquipmentDisposed, "COD-2026-118")
	closed := waitSettled(t, k, c.ID, "ticket.LT-7.close")
	if closed.Status != store.ActionSucceeded || closed.Operation != string(connectors.OpCloseTicket) {
		t.Fatalf("close: %+v", closed)
	}
	for _, step := range []string{"received", "wiped"} {
		if a := actionStatus(t, k, c.ID, "ticket.LT-7."+step); a.Status != store.ActionSucceeded {
			t.Fatalf("ticket.LT-7.%s: %+v", step, a)
		}
	}
	rec = snow.Record(lt.Ticket.ID)
	if rec["state"] != "6" || rec["active"] != "false" || !strings.Contains(rec["close_notes"]+rec["work_notes"], "certificate of destruction COD-2026-118") {
		t.Fatalf("after disposal: %v", rec)
	}
	for _, ev := range []string{"ticket.updated", "ticket.closed"} {
		if len(auditEvents(t, k, c.ID, ev)) == 0 {
			t.Errorf("no %s audit event", ev)
		}
	}

	// Deleted in ServiceNow meanwhile: closing finds none, and says so;
	// the case then closes.
	snow.Delete(ph.Ticket.ID)
	if _, err := k.Engine.MoveEquipment(ctx, engine.EquipmentMove{TaskID: ph.ID, To: store.EquipmentLost, Actor: "T1", Via: "test"}); err != nil {
		t.Fatal(err)
	}
	if a := waitSettled(t, k, c.ID, "ticket.PH-7.close"); a.Status != store.ActionSkipped || a.Outcome != string(connectors.OutcomeNoneFound) {
		t.Fatalf("closing a deleted ticket: %+v", a)
	}
	if evs := auditEvents(t, k, c.ID, "ticket.closed"); len(evs) != 2 || evs[1].Result != string(connectors.OutcomeNoneFound) {
		t.Fatalf("ticket.closed: %+v", evs)
	}
	if got := k.WaitClosed(t, c.ID, 30*time.Second); got.ClosedAt == nil {
		t.Fatalf("case: %+v", got)
	}
	if n := k.Count(t, &store.AuditEvent{}, "case_id = ? AND event = ?", c.ID, "ticket.failed"); n != 0 {
		t.Fatalf("%d ticket.failed events", n)
	}
}

// A manual step whose team (its connector's owner) is routed to Jira
// gets an issue in the team's project when it awaits a person, while
// the revocations still run; marking it done comments and moves the
// issue to Done, and the case closes after it. Nothing else gets one.
func TestManualStepTicketInJira(t *testing.T) {
	snow := servicenowtest.New(t, "kinetic.integration", snowPassword)
	jira := jiratest.New(t, "kinetic@example.com", jiraToken)
	policy := strings.Replace(testkit.Policy, "deactivate_badge: {connector: badge, operation: deactivate_badge, phase: entitlements}",
		"deactivate_badge: {connector: badge, operation: deactivate_badge, phase: entitlements, manual: true, description: Collect the badge}", 1)
	k := ticketKit(t, policy+`tickets:
  connector: snow
  teams:
    it-facilities: {connector: jira, project: OPS, issue_type: Task}
`, snow, jira)
	ctx := context.Background()
	jira.Fail(http.StatusTooManyRequests) // Retry-After: 3s is honoured
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "M1", Reason: "resigned"})
	opened := waitSettled(t, k, c.ID, "ticket.deactivate_badge.open")
	if opened.Status != store.ActionSucceeded || opened.Connector != "jira" || opened.Attempts != 2 {
		t.Fatalf("open: %+v", opened)
	}
	step := actionStatus(t, k, c.ID, "deactivate_badge")
	if step.Ticket.Key != "OPS-1" || step.Ticket.Connector != "jira" || !strings.HasPrefix(step.Ticket.URL, jira.Server.URL+"/browse/OPS-1") {
		t.Fatalf("step's ticket: %+v", step.Ticket)
	}
	is, ok := jira.Issue(step.Ticket.ID)
	if !ok || is.Status != "To Do" || !slices.Contains(is.Labels, connectors.TicketCorrelation(fmt.Sprint(c.ID), fmt.Sprintf("action-%d", step.ID))) {
		t.Fatalf("issue: %+v", is)
	}
	if len(snow.Records()) != 0 {
		t.Fatalf("ServiceNow got tickets: %v", snow.Records())
	}
	if err := k.Engine.MarkDone(ctx, step.ID, "A1", "badge B-1 collected at reception"); err != nil {
		t.Fatal(err)
	}
	if a := waitSettled(t, k, c.ID, "ticket.deactivate_badge.close"); a.Status != store.ActionSucceeded || !a.Verified {
		t.Fatalf("close: %+v", a)
	}
	is, _ = jira.Issue(step.Ticket.ID)
	if is.Status != "Done" || len(is.Comments) == 0 || !strings.Contains(string(is.Comments[len(is.Comments)-1]), "badge B-1 collected at reception") {
		t.Fatalf("issue after done: %+v %s", is, is.Comments)
	}
	// Completed with exceptions: a step done by a person is not verified.
	if got := k.WaitClosed(t, c.ID, 30*time.Second); got.Status != store.CaseCompletedWithExceptions {
		t.Fatalf("case: %s\n%s", got.Status, engine.Summary(reload(t, k.Store, c.ID)))
	}
	for _, a := range reload(t, k.Store, c.ID).Actions {
		if strings.HasPrefix(a.Name, "ticket.") && !strings.HasPrefix(a.Name, "ticket.deactivate_badge.") {
			t.Errorf("unrouted ticket action %s", a.Name)
		}
	}
}

// A ticket that cannot be filed (ServiceNow refuses the credentials: a
// permanent error) is not retried, not dropped: its action fails,
// ticket.failed is audited, its close never runs, and the case says it
// failed.
func TestTicketRefusedIsVisible(t *testing.T) {
	snow := servicenowtest.New(t, "kinetic.integration", snowPassword)
	jira := jiratest.New(t, "kinetic@example.com", jiraToken)
	policy := strings.Replace(testkit.Policy, "deactivate_badge: {connector: badge, operation: deactivate_badge, phase: entitlements}",
		"deactivate_badge: {connector: badge, operation: deactivate_badge, phase: entitlements, manual: true}", 1)
	k := ticketKit(t, policy+"tickets:\n  connector: snow\n  teams:\n    it-facilities: {}\n", snow, jira)
	snow.Fail(http.StatusUnauthorized)
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "M1", Reason: "resigned"})
	a := waitSettled(t, k, c.ID, "ticket.deactivate_badge.open")
	if a.Status != store.ActionFailed || a.Attempts != 1 || a.ErrorKind != string(connectors.KindAuth) || strings.Contains(a.LastError, snowPassword) {
		t.Fatalf("refused open: %+v", a)
	}
	if n := k.Count(t, &store.AuditEvent{}, "case_id = ? AND event = ?", c.ID, "ticket.failed"); n != 1 {
		t.Fatalf("%d ticket.failed events", n)
	}
	if len(snow.Records()) != 0 {
		t.Fatalf("filed after all: %v", snow.Records())
	}
	if err := k.Engine.MarkDone(context.Background(), actionStatus(t, k, c.ID, "deactivate_badge").ID, "A1", "collected"); err != nil {
		t.Fatal(err)
	}
	got := k.WaitClosed(t, c.ID, 30*time.Second)
	if got.Status != store.CaseFailed {
		t.Fatalf("case %s:\n%s", got.Status, engine.Summary(reload(t, k.Store, c.ID)))
	}
	if cl := actionStatus(t, k, c.ID, "ticket.deactivate_badge.close"); cl.Attempts != 0 || cl.Status != store.ActionBlocked {
		t.Fatalf("close of an unfiled ticket: %+v", cl)
	}
}
