package bot_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/bot"
	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// The trust boundary's reproductions over HTTP, each with the legacy hris
// client (every scope, may act for anyone: the most a client can be). In
// the test directory H2 is an HR employee (HR role, in group:hr) whose
// manager and HR partner is H1.

// reproClients: one client per person, ticketing (acting for the manager
// and HR), and clients with fewer scopes.
func reproClients() map[string]bot.APIClient {
	cs := personClients()
	cs["ticketing"] = bot.APIClient{Token: "repro-ticketing", Scopes: []string{configs.ScopeCasesCreate, configs.ScopeApprovalsDecide}, ActAs: []string{"M1", "H1"}}
	cs["intake"] = bot.APIClient{Token: "repro-intake", Scopes: []string{configs.ScopeCasesCreate}}
	cs["reader"] = bot.APIClient{Token: "repro-reader", Scopes: []string{configs.ScopeCasesRead}}
	return cs
}

// TestDepartingEmployeeCannotDecideTheBatchHoldingTheirCase: a
// mass-termination approver denied the held batch that held their own
// case: their case was cancelled and nothing was revoked.
func TestDepartingEmployeeCannotDecideTheBatchHoldingTheirCase(t *testing.T) {
	policy := testkit.ApprovalPolicy + "mass_termination: {max_cases: 2, window: 1h, approvers: [\"group:hr\"]}\n"
	s := newServerWith(t, testkit.Options{Policy: policy}, false, reproClients())
	s.openCase(t, `{"employee_id":"E2","reason":"restructuring"}`)
	s.openCase(t, `{"employee_id":"E4","reason":"restructuring"}`)
	own, c := s.openCase(t, `{"employee_id":"H2","reason":"restructuring","involuntary":true}`)
	if c["status"] != store.CaseHeld {
		t.Fatalf("H2's case is %v, want held", c["status"])
	}
	bs, err := s.k.Engine.Batches(context.Background(), store.BatchPending)
	if err != nil || len(bs) != 1 {
		t.Fatalf("batches %+v %v", bs, err)
	}
	path := fmt.Sprintf("/api/v1/batches/%d/", bs[0].ID)
	s.refuse(t, []refusal{
		{name: "denying it", method: "POST", path: path + "deny", body: `{"as":"H2","reason":"not me"}`, status: 403, want: "H2 is the departing employee"},
		{name: "approving it", method: "POST", path: path + "approve", body: `{"as":"H2"}`, status: 403, want: "nobody may decide a batch on their own offboarding"},
		{name: "releasing another case of it", method: "POST", path: path + "approve", body: fmt.Sprintf(`{"as":"H2","case_ids":[%d]}`, own-1), status: 403, want: fmt.Sprintf("case %d is in batch", own)},
		{name: "through a client of their own", method: "POST", path: path + "deny", auth: bearerFor("H2"), body: `{"as":"H2","reason":"not me"}`, status: 403, want: "departing employee"},
	})
	// Another approver decides it.
	if r := s.do(t, "POST", path+"deny", bearerFor("H1"), `{"as":"H1","reason":"not approved by the board"}`); r.status != http.StatusOK {
		t.Fatalf("H1 denying: %d %s", r.status, r.body)
	}
}

// TestDepartingHREmployeeCannotOperateTheirOwnCase: a departing HR
// employee skipped an action of their own case through the API.
func TestDepartingHREmployeeCannotOperateTheirOwnCase(t *testing.T) {
	s := newServerWith(t, testkit.Options{Policy: gridPolicy}, false, reproClients())
	id, _ := s.openCase(t, `{"employee_id":"H2","requested_by":"H1","reason":"resigned"}`)
	_, acts := s.actionsOf(t, id)
	keys := int64(acts["return_keys"]["id"].(float64))
	badge := int64(acts["deactivate_badge"]["id"].(float64))
	var rs []refusal
	for _, op := range []string{"skip", "done", "retry", "escalate"} {
		for _, auth := range []string{"", bearerFor("H2")} {
			rs = append(rs, refusal{name: op + " " + auth, method: "POST", path: fmt.Sprintf("/api/v1/actions/%d/%s", keys, op), auth: auth,
				body: `{"as":"H2","reason":"handed in"}`, status: 403, want: "H2 is the departing employee"})
		}
	}
	rs = append(rs, refusal{name: "escalate a revocation", method: "POST", path: fmt.Sprintf("/api/v1/actions/%d/escalate", badge), body: `{"as":"H2"}`, status: 403, want: "departing employee"})
	s.refuse(t, rs)
	if _, acts := s.actionsOf(t, id); acts["return_keys"]["status"] == store.ActionSkipped {
		t.Fatal("return_keys was skipped by the departing employee")
	}
	// HR may.
	if r := s.do(t, "POST", fmt.Sprintf("/api/v1/actions/%d/skip", keys), bearerFor("H1"), `{"as":"H1","reason":"handed in"}`); r.status != http.StatusOK {
		t.Fatalf("H1 skipping: %d %s", r.status, r.body)
	}
}

// TestExceptionRequesterAtCreationIsAuthorized: exceptions[].as was never
// authorized: a colleague, or the departing employee, was recorded as the
// requester of an exception, and the real requester then approved it.
func TestExceptionRequesterAtCreationIsAuthorized(t *testing.T) {
	s := newServerWith(t, testkit.Options{Policy: testkit.ApprovalPolicy}, false, reproClients())
	const late = `{"kind":"late_laptop","days":5,"as":%q}`
	body := func(requestedBy, as string) string {
		rb := ""
		if requestedBy != "" {
			rb = fmt.Sprintf(`"requested_by":%q,`, requestedBy)
		}
		return fmt.Sprintf(`{"employee_id":"E1",%s"reason":"resigned","exceptions":[`+late+`]}`, rb, as)
	}
	s.refuse(t, []refusal{
		{name: "a colleague as the requester", method: "POST", path: "/api/v1/cases", body: body("M1", "X1"), status: 403, want: "not E1's manager"},
		{name: "the departing employee as the requester", method: "POST", path: "/api/v1/cases", body: body("M1", "E1"), status: 403, want: "E1 is the departing employee"},
		{name: "the departing employee for a system request", method: "POST", path: "/api/v1/cases", body: body("", "E1"), status: 403, want: "departing employee"},
		{name: "someone the client may not act for", method: "POST", path: "/api/v1/cases", auth: bearerFor("M1"), body: body("M1", "H1"), status: 403, want: "api:as-M1 may not act for H1"},
		{name: "requested_by the client may not act for", method: "POST", path: "/api/v1/cases", auth: bearerFor("M1"), body: body("H1", "H1"), status: 403, want: "api:as-M1 may not act for H1"},
	})
	// The manager's own exception, and HR's through the manager's request.
	id, _ := s.openCase(t, body("M1", "H1"))
	vs := approvals(t, s.do(t, "GET", fmt.Sprintf("/api/v1/approvals?case=%d", id), bearer, ""))
	if len(vs) != 1 || vs[0].Requester != "H1" || vs[0].RequesterPrincipal != "api:hris" {
		t.Fatalf("approvals %+v, want H1's request through api:hris", vs)
	}
}

// TestOneClientIsOneApprover: one API client acted as the manager and then
// as HR and completed a two-step approval chain alone.
func TestOneClientIsOneApprover(t *testing.T) {
	s := newServerWith(t, testkit.Options{Policy: testkit.ApprovalPolicy}, false, reproClients())
	id, _ := s.openCaseAs(t, "Bearer repro-intake", `{"employee_id":"E1","reason":"resigned"}`)
	r := s.do(t, "POST", fmt.Sprintf("/api/v1/cases/%d/exceptions", id), bearerFor("M1"),
		`{"kind":"email_forwarding","as":"M1","forward_to":"manager@example.test","days":10,"reason":"handover"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("requesting: %d %s", r.status, r.body)
	}
	fwd := approval(t, r).ID
	// M1 asked through as-M1: that client never decides it, for anyone.
	s.refuse(t, []refusal{{name: "the requesting client deciding", method: "POST", path: fmt.Sprintf("/api/v1/approvals/%d/approve", fwd),
		auth: bearerFor("M1"), body: `{"as":"M1"}`, status: 403, want: "cannot decide"}})

	s.refuse(t, []refusal{{name: "another client as the requester", method: "POST", path: fmt.Sprintf("/api/v1/approvals/%d/approve", fwd),
		auth: "Bearer repro-ticketing", body: `{"as":"M1"}`, status: 403, want: "M1 requested this exception and cannot decide it"}})
	// A fresh exception requested by HR through their own client.
	r = s.do(t, "POST", fmt.Sprintf("/api/v1/cases/%d/exceptions", id), bearerFor("H2"),
		`{"kind":"mailbox_handover","as":"H2","action":"disable_ad","days":3,"reason":"handover"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("requesting: %d %s", r.status, r.body)
	}
	ho := approval(t, r).ID
	approve := fmt.Sprintf("/api/v1/approvals/%d/approve", ho)
	if r := s.do(t, "POST", approve, "Bearer repro-ticketing", `{"as":"M1"}`); r.status != http.StatusOK {
		t.Fatalf("ticketing as the manager: %d %s", r.status, r.body)
	}
	s.refuse(t, []refusal{
		{name: "the same client as HR", method: "POST", path: approve, auth: "Bearer repro-ticketing", body: `{"as":"H1"}`, status: 403, want: "one principal is one approver"},
		{name: "the same client denying as HR", method: "POST", path: fmt.Sprintf("/api/v1/approvals/%d/deny", ho), auth: "Bearer repro-ticketing", body: `{"as":"H1","reason":"no"}`, status: 403, want: "one principal is one approver"},
	})
	if r := s.do(t, "POST", approve, bearerFor("H1"), `{"as":"H1"}`); r.status != http.StatusOK || approval(t, r).Status != store.ApprovalApproved {
		t.Fatalf("HR through their own client: %d %s", r.status, r.body)
	}
	v, err := s.k.Engine.Approval(context.Background(), ho)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Decisions) != 2 || v.Decisions[0].Principal != "api:ticketing" || v.Decisions[1].Principal != "api:as-H1" {
		t.Errorf("decisions %+v, want ticketing's and as-H1's", v.Decisions)
	}
}

// TestAPIScopes: each route needs its scope; a client without cases:read
// sees only the cases it opened.
func TestAPIScopes(t *testing.T) {
	s := newServerWith(t, testkit.Options{Policy: testkit.ApprovalPolicy}, false, reproClients())
	mine, _ := s.openCaseAs(t, "Bearer repro-intake", `{"employee_id":"E1","reason":"resigned"}`)
	other, _ := s.openCase(t, `{"employee_id":"E2","reason":"contract ended"}`)
	if r := s.do(t, "GET", fmt.Sprintf("/api/v1/cases/%d", mine), "Bearer repro-intake", ""); r.status != http.StatusOK {
		t.Errorf("intake reading the case it opened: %d %s", r.status, r.body)
	}
	if r := s.do(t, "GET", fmt.Sprintf("/api/v1/cases/%d", other), "Bearer repro-reader", ""); r.status != http.StatusOK {
		t.Errorf("reader reading any case: %d %s", r.status, r.body)
	}
	s.refuse(t, []refusal{
		{name: "a case it did not open is not found", method: "GET", path: fmt.Sprintf("/api/v1/cases/%d", other), auth: "Bearer repro-intake", status: 404, want: "not found"},
		{name: "opening without cases:create", method: "POST", path: "/api/v1/cases", auth: "Bearer repro-reader", body: `{"employee_id":"E4","reason":"x"}`, status: 403, want: "lacks the scope this needs (cases:create)"},
		{name: "deciding without approvals:decide", method: "POST", path: "/api/v1/approvals/1/approve", auth: "Bearer repro-intake", body: `{"as":"M1"}`, status: 403, want: "approvals:decide"},
		{name: "operating without actions:operate", method: "POST", path: "/api/v1/actions/1/retry", auth: "Bearer repro-ticketing", body: `{"as":"H1"}`, status: 403, want: "actions:operate"},
		{name: "deciding a batch without batches:decide", method: "POST", path: "/api/v1/batches/1/approve", auth: "Bearer repro-ticketing", body: `{"as":"H1"}`, status: 403, want: "batches:decide"},
		{name: "listing approvals without cases:read or approvals:decide", method: "GET", path: "/api/v1/approvals", auth: "Bearer repro-intake", status: 403, want: "cases:read or approvals:decide"},
	})
	// The audit names the principal and the person it acted for.
	var ev store.AuditEvent
	if err := s.k.Store.TestDB().Where("case_id = ? AND event = ?", mine, "case.created").First(&ev).Error; err != nil {
		t.Fatal(err)
	}
	if ev.Actor != "api:intake" {
		t.Errorf("case.created actor %q, want api:intake", ev.Actor)
	}
	r := s.do(t, "POST", "/api/v1/cases", bearerFor("M1"), `{"employee_id":"E4","requested_by":"M1","reason":"x"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("%d %s", r.status, r.body)
	}
	id := int64(r.json(t)["id"].(float64))
	var evs []store.AuditEvent
	if err := s.k.Store.TestDB().Where("case_id = ?", id).Order("seq").Find(&evs).Error; err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if !strings.Contains(e.Actor, "api:as-M1") {
			t.Errorf("event %s actor %q does not name the principal", e.Event, e.Actor)
		}
		if e.Event == "case.created" && e.Actor != "api:as-M1 as M1" {
			t.Errorf("case.created actor %q, want %q", e.Actor, "api:as-M1 as M1")
		}
	}
}
