package bot_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/bot"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// The approvals API over HTTP, against a real Kinetic on testkit's approval
// policy. The engine's rules (who may decide, what an outcome does) are
// tested in engine/approvals_test.go; these tests check that the HTTP layer
// maps them to statuses and bodies, validates its input before it reaches
// the engine, and changes nothing when it refuses.

// bearer is the Authorization header of the "hris" client.
const bearer = "Bearer " + token

// refusal is a request the API must refuse.
type refusal struct {
	name         string
	method, path string
	auth         string // Authorization header; bearer when empty, none when "-"
	body         string
	status       int
	want         string // in the error message
}

// refuse sends each request, checks its status and error message, and
// checks that it changed no approval, step, decision, batch, case, held
// action or audit event.
func (s *server) refuse(t *testing.T, rs []refusal) {
	t.Helper()
	for _, tc := range rs {
		t.Run(tc.name, func(t *testing.T) {
			before := s.state(t)
			auth := tc.auth
			switch auth {
			case "":
				auth = bearer
			case "-":
				auth = ""
			}
			r := s.do(t, tc.method, tc.path, auth, tc.body)
			if r.status != tc.status {
				t.Fatalf("%s %s: status %d, want %d: %s", tc.method, tc.path, r.status, tc.status, r.body)
			}
			if tc.status == http.StatusUnauthorized {
				if got := r.header.Get("WWW-Authenticate"); got != `Bearer realm="kinetic"` {
					t.Errorf("WWW-Authenticate = %q", got)
				}
			}
			if tc.want != "" {
				if ct := r.header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type = %q", ct)
				}
				if msg, _ := r.json(t)["error"].(string); !strings.Contains(msg, tc.want) {
					t.Errorf("error = %q, want it to contain %q", msg, tc.want)
				}
			}
			if after := s.state(t); after != before {
				t.Errorf("a refused request changed the database:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// state renders every approval, step, decision, batch, case status and
// held action, and the number of audit events, so a test can check that
// nothing changed. It is stable only while no worker runs.
func (s *server) state(t *testing.T) string {
	t.Helper()
	db := s.k.Store.TestDB()
	var b strings.Builder
	var aps []store.Approval
	var steps []store.ApprovalStep
	var ds []store.ApprovalDecision
	var bs []store.Batch
	var cs []store.Case
	var held []store.Action
	for _, q := range []struct {
		dest  any
		where string
	}{{&aps, ""}, {&steps, ""}, {&ds, ""}, {&bs, ""}, {&cs, ""}, {&held, "status = 'held'"}} {
		tx := db.Order("id")
		if q.where != "" {
			tx = tx.Where(q.where)
		}
		if err := tx.Find(q.dest).Error; err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range aps {
		fmt.Fprintf(&b, "approval %d case %d %s %s %s held=%s outcome=%q decided=%v\n", a.ID, a.CaseID, a.Kind, a.Effect, a.Status, a.Held, a.Outcome, str(a.DecidedAt))
	}
	for _, st := range steps {
		fmt.Fprintf(&b, "step %d of %d #%d %s %s escalated=%v due=%v\n", st.ID, st.ApprovalID, st.Index, st.Name, st.Status, st.Escalated, str(st.DueAt))
	}
	for _, d := range ds {
		fmt.Fprintf(&b, "decision %d of %d #%d %s %s %q\n", d.ID, d.ApprovalID, d.StepIndex, d.Approver, d.Decision, d.Reason)
	}
	for _, x := range bs {
		fmt.Fprintf(&b, "batch %d %s by %s\n", x.ID, x.Status, x.DecidedBy)
	}
	for _, c := range cs {
		fmt.Fprintf(&b, "case %d %s batch=%v\n", c.ID, c.Status, str(c.BatchID))
	}
	for _, a := range held {
		fmt.Fprintf(&b, "held action %d of case %d %s: %s\n", a.ID, a.CaseID, a.Name, a.BlockedReason)
	}
	fmt.Fprintf(&b, "approvals %d, decisions %d, audit events %d\n",
		s.k.Count(t, &store.Approval{}, ""), s.k.Count(t, &store.ApprovalDecision{}, ""), s.k.Count(t, &store.AuditEvent{}, ""))
	return b.String()
}

// str renders what p points to, or nil.
func str[T any](p *T) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}

// approval decodes an approval answer.
func approval(t *testing.T, r response) bot.ApprovalResponse {
	t.Helper()
	var v bot.ApprovalResponse
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("not an approval: %v\n%s", err, r.body)
	}
	if v.ID <= 0 {
		t.Fatalf("approval without an id:\n%s", r.body)
	}
	return v
}

// approvals decodes a list answer; it must be a JSON array, never null.
func approvals(t *testing.T, r response) []bot.ApprovalResponse {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", r.status, r.body)
	}
	if !strings.HasPrefix(strings.TrimSpace(string(r.body)), "[") {
		t.Fatalf("not a JSON array:\n%s", r.body)
	}
	var vs []bot.ApprovalResponse
	if err := json.Unmarshal(r.body, &vs); err != nil {
		t.Fatalf("not a list of approvals: %v\n%s", err, r.body)
	}
	return vs
}

func ids(vs []bot.ApprovalResponse) []int64 {
	out := make([]int64, 0, len(vs))
	for _, v := range vs {
		out = append(out, v.ID)
	}
	return out
}

func stepStatuses(v bot.ApprovalResponse) []string {
	out := make([]string, 0, len(v.Steps))
	for _, s := range v.Steps {
		out = append(out, s.Status)
	}
	return out
}

// openCase posts a case with the hris client and returns its id.
func (s *server) openCase(t *testing.T, body string) (int64, map[string]any) {
	t.Helper()
	return s.openCaseAs(t, bearer, body)
}

// openCaseAs posts a case with the client of auth and returns its id.
func (s *server) openCaseAs(t *testing.T, auth, body string) (int64, map[string]any) {
	t.Helper()
	r := s.do(t, "POST", "/api/v1/cases", auth, body)
	if r.status != http.StatusCreated {
		t.Fatalf("POST /api/v1/cases %s: status %d, want 201: %s", body, r.status, r.body)
	}
	c := r.json(t)
	return int64(c["id"].(float64)), c
}

// actionsOf returns a case's actions by name, through the API.
func (s *server) actionsOf(t *testing.T, caseID int64) (map[string]any, map[string]map[string]any) {
	t.Helper()
	r := s.do(t, "GET", fmt.Sprintf("/api/v1/cases/%d", caseID), bearer, "")
	if r.status != http.StatusOK {
		t.Fatalf("GET case %d: status %d: %s", caseID, r.status, r.body)
	}
	c := r.json(t)
	byName := map[string]map[string]any{}
	acts, _ := c["actions"].([]any)
	for _, a := range acts {
		a := a.(map[string]any)
		byName[a["name"].(string)] = a
	}
	return c, byName
}

// approvalRoutes are the routes of the approvals API, with a request
// each would accept but for the token.
var approvalRoutes = []struct{ method, path, body string }{
	{"GET", "/api/v1/approvals", ""},
	{"GET", "/api/v1/approvals?for=M1", ""},
	{"GET", "/api/v1/approvals/1", ""},
	{"POST", "/api/v1/approvals/1/approve", `{"as":"M1"}`},
	{"POST", "/api/v1/approvals/1/deny", `{"as":"M1","reason":"no"}`},
	{"POST", "/api/v1/approvals/1/release", `{"as":"M1","reason":"done"}`},
	{"POST", "/api/v1/cases/1/exceptions", `{"kind":"late_laptop","as":"M1","days":3}`},
	{"GET", "/api/v1/batches", ""},
	{"POST", "/api/v1/batches/1/approve", `{"as":"A1"}`},
	{"POST", "/api/v1/batches/1/deny", `{"as":"A1","reason":"no"}`},
}

// TestApprovalsAPI walks an email-forwarding exception through the
// manager-then-HR chain over HTTP, with every refusal on the way, then the
// exception requests a case can get afterwards. No worker runs, so the
// database changes only through these requests.
func TestApprovalsAPI(t *testing.T) {
	s := newServer(t, testkit.Options{Policy: testkit.ApprovalPolicy}, false)

	t.Run("every route needs a bearer token", func(t *testing.T) {
		var rs []refusal
		for _, rt := range approvalRoutes {
			for _, auth := range []string{"-", "Bearer wrong-token", "Bearer ", "Basic " + token} {
				name := fmt.Sprintf("%s %s with Authorization %q", rt.method, rt.path, auth)
				if auth == "-" {
					name = fmt.Sprintf("%s %s without Authorization", rt.method, rt.path)
				}
				rs = append(rs, refusal{name: name, method: rt.method, path: rt.path, auth: auth, body: rt.body, status: 401, want: "bearer token"})
			}
		}
		s.refuse(t, rs)
	})

	// Opened through "portal": the client that asks for an exception is
	// never one of its approvers, and hris decides step 1 below.
	caseID, _ := s.openCaseAs(t, "Bearer "+portalToken, `{"employee_id":"E1","requested_by":"A1","reason":"resigned",
		"exceptions":[{"kind":"email_forwarding","forward_to":"manager@example.test","days":30,"reason":"handover"}]}`)
	var apID int64

	t.Run("a case opened with an exception lists one pending approval", func(t *testing.T) {
		vs := approvals(t, s.do(t, "GET", fmt.Sprintf("/api/v1/approvals?case=%d", caseID), bearer, ""))
		if len(vs) != 1 {
			t.Fatalf("%d approvals for case %d, want 1: %+v", len(vs), caseID, vs)
		}
		v := vs[0]
		apID = v.ID
		if v.CaseID != caseID || v.Kind != "email_forwarding" || v.Status != store.ApprovalPending || v.Requester != "A1" || v.EmployeeID != "E1" {
			t.Errorf("approval = case %d %s %s requester %s employee %s", v.CaseID, v.Kind, v.Status, v.Requester, v.EmployeeID)
		}
		if got := stepStatuses(v); !slices.Equal(got, []string{store.StepPending, store.StepWaiting}) {
			t.Errorf("steps %v, want pending, waiting", got)
		}
		if !slices.Equal(v.Approvers, []string{"M1"}) {
			t.Errorf("approvers %v, want [M1] (the manager)", v.Approvers)
		}
		if !slices.Contains(v.Held, "convert_mailbox") {
			t.Errorf("held %s, want convert_mailbox", v.Held)
		}
		if r := s.do(t, "GET", fmt.Sprintf("/api/v1/approvals/%d", apID), bearer, ""); r.status != http.StatusOK || approval(t, r).ID != apID {
			t.Errorf("GET approval %d: status %d: %s", apID, r.status, r.body)
		}
	})
	if apID == 0 {
		t.FailNow()
	}

	t.Run("listing filters by who may decide now, status and case", func(t *testing.T) {
		for _, tc := range []struct {
			query string
			want  []int64
		}{
			{"", []int64{apID}},
			{"?for=M1", []int64{apID}},
			{"?for=X1", nil},
			{"?for=H1", nil}, // HR decides step 2, not yet
			{"?for=A1", nil}, // the requester never decides
			{"?status=pending", []int64{apID}},
			{"?status=approved", nil},
			{fmt.Sprintf("?case=%d&for=M1", caseID), []int64{apID}},
			{"?case=999999", nil},
		} {
			got := ids(approvals(t, s.do(t, "GET", "/api/v1/approvals"+tc.query, bearer, "")))
			if !slices.Equal(got, append([]int64{}, tc.want...)) {
				t.Errorf("GET /api/v1/approvals%s = %v, want %v", tc.query, got, tc.want)
			}
		}
	})

	approve := fmt.Sprintf("/api/v1/approvals/%d/approve", apID)
	deny := fmt.Sprintf("/api/v1/approvals/%d/deny", apID)
	t.Run("refused decisions change nothing", func(t *testing.T) {
		s.refuse(t, []refusal{
			{name: "the requester may not approve", method: "POST", path: approve, body: `{"as":"A1"}`, status: 403, want: "cannot decide"},
			{name: "a colleague may not approve", method: "POST", path: approve, body: `{"as":"X1"}`, status: 403, want: "not an approver"},
			{name: "the departing employee may not approve", method: "POST", path: approve, body: `{"as":"E1"}`, status: 403, want: "departing employee"},
			{name: "the manager may not deny without a reason", method: "POST", path: deny, body: `{"as":"M1"}`, status: 400, want: "needs a reason"},
			{name: "a blank reason is no reason", method: "POST", path: deny, body: `{"as":"M1","reason":"   "}`, status: 400, want: "needs a reason"},
			{name: "a reason over 1000 characters is 400", method: "POST", path: approve, body: `{"as":"M1","reason":"` + strings.Repeat("x", 1001) + `"}`, status: 400, want: "longer than 1000"},
			{name: "an unknown approval is 404", method: "POST", path: "/api/v1/approvals/999999/approve", body: `{"as":"M1"}`, status: 404, want: "approval 999999"},
			{name: "denying an unknown approval is 404", method: "POST", path: "/api/v1/approvals/999999/deny", body: `{"as":"M1","reason":"no"}`, status: 404, want: "approval 999999"},
			{name: "reading an unknown approval is 404", method: "GET", path: "/api/v1/approvals/999999", status: 404, want: "approval 999999"},
			{name: "a non-numeric id is 400", method: "POST", path: "/api/v1/approvals/abc/approve", body: `{"as":"M1"}`, status: 400, want: "positive integer"},
			{name: "id 0 is 400", method: "POST", path: "/api/v1/approvals/0/deny", body: `{"as":"M1","reason":"no"}`, status: 400, want: "positive integer"},
			{name: "a negative id is 400", method: "GET", path: "/api/v1/approvals/-1", status: 400, want: "positive integer"},
			{name: "a non-numeric case filter is 400", method: "GET", path: "/api/v1/approvals?case=abc", status: 400, want: "positive integer"},
			{name: "malformed JSON is 400", method: "POST", path: approve, body: `{"as":`, status: 400, want: "malformed JSON"},
			{name: "an empty body is 400", method: "POST", path: approve, status: 400, want: "malformed JSON"},
			{name: "an unknown field is 400", method: "POST", path: approve, body: `{"as":"M1","comment":"ok"}`, status: 400, want: `unknown field "comment"`},
			{name: "trailing data is 400", method: "POST", path: approve, body: `{"as":"M1"} {"as":"H1"}`, status: 400, want: "trailing data"},
			{name: "a wrong type is 400", method: "POST", path: approve, body: `{"as":1}`, status: 400, want: "malformed JSON"},
			{name: "a missing \"as\" is 400", method: "POST", path: approve, body: `{"reason":"fine"}`, status: 400, want: `"as"`},
			{name: "a blank \"as\" is 400", method: "POST", path: deny, body: `{"as":"  ","reason":"no"}`, status: 400, want: `"as"`},
			{name: "releasing a pending forwarding is 400", method: "POST", path: fmt.Sprintf("/api/v1/approvals/%d/release", apID), body: `{"as":"M1","reason":"done"}`, status: 400, want: "not an approved legal hold"},
			{name: "GET on a decision route is 405", method: "GET", path: approve, status: 405},
		})
	})

	t.Run("the manager approves step 1", func(t *testing.T) {
		r := s.do(t, "POST", approve, bearer, `{"as":"M1","reason":"fine"}`)
		if r.status != http.StatusOK {
			t.Fatalf("status %d, want 200: %s", r.status, r.body)
		}
		v := approval(t, r)
		if v.ID != apID || v.Status != store.ApprovalPending {
			t.Errorf("approval %d %s, want %d pending", v.ID, v.Status, apID)
		}
		if got := stepStatuses(v); !slices.Equal(got, []string{store.StepApproved, store.StepPending}) {
			t.Errorf("steps %v, want approved, pending", got)
		}
		if len(v.Decisions) != 1 || v.Decisions[0].Approver != "M1" || v.Decisions[0].Decision != "approve" || v.Decisions[0].Via != "api:hris" {
			t.Errorf("decisions = %+v, want M1's approval via api:hris", v.Decisions)
		}
		if !slices.Contains(v.Approvers, "H1") || slices.Contains(v.Approvers, "A1") {
			t.Errorf("approvers of step 2 = %v, want HR without the requester", v.Approvers)
		}
		if got := ids(approvals(t, s.do(t, "GET", "/api/v1/approvals?for=H1", bearer, ""))); !slices.Equal(got, []int64{apID}) {
			t.Errorf("?for=H1 = %v after step 1, want [%d]", got, apID)
		}
		if got := ids(approvals(t, s.do(t, "GET", "/api/v1/approvals?for=X1", bearer, ""))); len(got) != 0 {
			t.Errorf("?for=X1 = %v, want none", got)
		}
	})

	t.Run("HR approves step 2 and the forwarding is applied", func(t *testing.T) {
		// hris decided step 1 as M1: one principal is one approver, so HR
		// decides through a client of their own.
		r := s.do(t, "POST", approve, bearerFor("H1"), `{"as":"H1"}`)
		if r.status != http.StatusOK {
			t.Fatalf("status %d, want 200: %s", r.status, r.body)
		}
		v := approval(t, r)
		if v.Status != store.ApprovalApproved || v.DecidedAt == nil {
			t.Errorf("status %s decided %v, want approved", v.Status, v.DecidedAt)
		}
		if !strings.Contains(v.Outcome, "forwarding to manager@example.test") {
			t.Errorf("outcome %q does not mention the forwarding", v.Outcome)
		}
		if len(v.Approvers) != 0 {
			t.Errorf("a decided approval lists approvers %v", v.Approvers)
		}
		_, acts := s.actionsOf(t, caseID)
		if acts["set_forwarding"] == nil || acts["remove_forwarding"] == nil {
			t.Errorf("the case lacks the forwarding actions: %v", slices.Sorted(maps.Keys(acts)))
		}
		if st := acts["convert_mailbox"]["status"]; st == store.ActionHeld {
			t.Errorf("convert_mailbox is still held")
		}
	})

	t.Run("a decided approval refuses further decisions", func(t *testing.T) {
		s.refuse(t, []refusal{
			{name: "approving again is 400", method: "POST", path: approve, body: `{"as":"H2"}`, status: 400, want: "already approved"},
			{name: "the same approver again is 400", method: "POST", path: approve, body: `{"as":"H1"}`, status: 400, want: "already approved"},
			{name: "denying it is 400", method: "POST", path: deny, body: `{"as":"H2","reason":"changed my mind"}`, status: 400, want: "already approved"},
		})
	})

	exceptions := fmt.Sprintf("/api/v1/cases/%d/exceptions", caseID)
	t.Run("refused exception requests change nothing", func(t *testing.T) {
		s.refuse(t, []refusal{
			{name: "an unknown kind is 400", method: "POST", path: exceptions, body: `{"kind":"sabbatical","as":"M1"}`, status: 400, want: `exception kind "sabbatical" is not in the policy`},
			{name: "forwarding outside the allowed domains is 403", method: "POST", path: exceptions,
				body: `{"kind":"email_forwarding","as":"M1","forward_to":"someone@gmail.com","days":10}`, status: 403, want: "forwarding to gmail.com is not allowed"},
			{name: "forwarding beyond the maximum days is 400", method: "POST", path: exceptions,
				body: `{"kind":"email_forwarding","as":"M1","forward_to":"manager@example.test","days":31}`, status: 400, want: "between 1 and 30"},
			{name: "forwarding to no address is 400", method: "POST", path: exceptions,
				body: `{"kind":"email_forwarding","as":"M1","forward_to":"manager","days":3}`, status: 400, want: "not an email address"},
			{name: "a late laptop beyond the maximum days is 400", method: "POST", path: exceptions, body: `{"kind":"late_laptop","as":"M1","days":22}`, status: 400, want: "between 1 and 21"},
			{name: "an unknown case is 404", method: "POST", path: "/api/v1/cases/999999/exceptions", body: `{"kind":"late_laptop","as":"M1","days":10}`, status: 404, want: "case 999999"},
			{name: "a non-numeric case is 400", method: "POST", path: "/api/v1/cases/abc/exceptions", body: `{"kind":"late_laptop","as":"M1","days":10}`, status: 400, want: "positive integer"},
			{name: "a colleague may not ask", method: "POST", path: exceptions, body: `{"kind":"late_laptop","as":"X1","days":10}`, status: 403, want: "not E1's manager"},
			{name: "nobody named is malformed", method: "POST", path: exceptions, body: `{"kind":"late_laptop","days":10}`, status: 400, want: `"as"`},
			{name: "malformed JSON is 400", method: "POST", path: exceptions, body: `{"kind":`, status: 400, want: "malformed JSON"},
			{name: "an unknown field is 400", method: "POST", path: exceptions, body: `{"kind":"late_laptop","as":"M1","days":10,"until":"friday"}`, status: 400, want: `unknown field "until"`},
		})
	})

	t.Run("a valid late laptop request is 201 with its pending approval", func(t *testing.T) {
		before := s.k.Count(t, &store.Approval{}, "")
		r := s.do(t, "POST", exceptions, bearer, `{"kind":"late_laptop","as":"M1","days":10,"reason":"travelling"}`)
		if r.status != http.StatusCreated {
			t.Fatalf("status %d, want 201: %s", r.status, r.body)
		}
		v := approval(t, r)
		if v.CaseID != caseID || v.Kind != "late_laptop" || v.Status != store.ApprovalPending || v.Requester != "M1" || v.Reason != "travelling" {
			t.Errorf("approval = case %d %s %s by %s (%q)", v.CaseID, v.Kind, v.Status, v.Requester, v.Reason)
		}
		if len(v.Steps) != 1 || v.Steps[0].Name != "it" || !slices.Equal(v.Approvers, []string{"A1"}) {
			t.Errorf("steps %+v approvers %v, want IT's step decided by A1", v.Steps, v.Approvers)
		}
		if after := s.k.Count(t, &store.Approval{}, ""); after != before+1 {
			t.Errorf("%d approvals after the request, want %d", after, before+1)
		}
		got := ids(approvals(t, s.do(t, "GET", fmt.Sprintf("/api/v1/approvals?case=%d&status=pending", caseID), bearer, "")))
		if !slices.Equal(got, []int64{v.ID}) {
			t.Errorf("pending approvals of the case = %v, want [%d]", got, v.ID)
		}
	})
}

// TestLegalHoldAPI requests a legal hold over HTTP, has both legal
// approvers approve it, asks for its release and approves that: the held
// mailbox deletion then runs.
func TestLegalHoldAPI(t *testing.T) {
	s := newServer(t, testkit.Options{Policy: testkit.ApprovalPolicy}, false)
	// No worker yet: the hold is in place before anything runs.
	caseID, _ := s.openCase(t, `{"employee_id":"E1","reason":"resigned"}`)

	r := s.do(t, "POST", fmt.Sprintf("/api/v1/cases/%d/exceptions", caseID), bearer, `{"kind":"legal_hold","as":"M1","reason":"litigation"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("requesting the hold: status %d, want 201: %s", r.status, r.body)
	}
	hold := approval(t, r)
	if hold.Kind != "legal_hold" || hold.Status != store.ApprovalPending || !slices.Contains(hold.Held, "delete_mailbox") {
		t.Fatalf("hold = %s %s holding %s", hold.Kind, hold.Status, hold.Held)
	}
	decide := func(t *testing.T, id int64, as, wantStatus string) bot.ApprovalResponse {
		t.Helper()
		// Each legal approver decides through a client of their own: one
		// principal is one approver.
		r := s.do(t, "POST", fmt.Sprintf("/api/v1/approvals/%d/approve", id), bearerFor(as), fmt.Sprintf(`{"as":%q,"reason":"reviewed"}`, as))
		if r.status != http.StatusOK {
			t.Fatalf("%s approving %d: status %d, want 200: %s", as, id, r.status, r.body)
		}
		v := approval(t, r)
		if v.Status != wantStatus {
			t.Fatalf("after %s: approval %d is %s, want %s", as, id, v.Status, wantStatus)
		}
		return v
	}

	t.Run("both legal approvers approve the hold", func(t *testing.T) {
		decide(t, hold.ID, "L1", store.ApprovalPending) // all of group:legal
		v := decide(t, hold.ID, "L2", store.ApprovalApproved)
		if !strings.Contains(v.Outcome, "blocked until the hold is released: delete_mailbox") {
			t.Errorf("outcome %q", v.Outcome)
		}
	})

	release := fmt.Sprintf("/api/v1/approvals/%d/release", hold.ID)
	t.Run("refused releases change nothing", func(t *testing.T) {
		s.refuse(t, []refusal{
			{name: "a colleague may not ask", method: "POST", path: release, body: `{"as":"X1","reason":"done"}`, status: 403, want: "not E1's manager"},
			{name: "nobody named is malformed", method: "POST", path: release, body: `{"reason":"done"}`, status: 400, want: `"as"`},
			{name: "an unknown approval is 404", method: "POST", path: "/api/v1/approvals/999999/release", body: `{"as":"M1","reason":"done"}`, status: 404, want: "approval 999999"},
			{name: "a non-numeric id is 400", method: "POST", path: "/api/v1/approvals/hold/release", body: `{"as":"M1","reason":"done"}`, status: 400, want: "positive integer"},
			{name: "malformed JSON is 400", method: "POST", path: release, body: `{"as":"M1",`, status: 400, want: "malformed JSON"},
			{name: "an unknown field is 400", method: "POST", path: release, body: `{"as":"M1","case_id":1}`, status: 400, want: `unknown field "case_id"`},
			{name: "an approved hold takes no more decisions", method: "POST", path: fmt.Sprintf("/api/v1/approvals/%d/deny", hold.ID), body: `{"as":"L1","reason":"no"}`, status: 400, want: "already approved"},
		})
	})

	if _, err := s.k.StartWorker(); err != nil {
		t.Fatalf("starting a worker: %v", err)
	}
	t.Run("everything but the held deletion runs; the case closes under the hold", func(t *testing.T) {
		var (
			c       map[string]any
			acts    map[string]map[string]any
			waiting int
		)
		testkit.Eventually(t, 30*time.Second, func() bool {
			c, acts = s.actionsOf(t, caseID)
			waiting = 0
			for name, a := range acts {
				if name != "delete_mailbox" && !store.ActionFinal(a["status"].(string)) {
					waiting++
				}
			}
			return waiting == 0
		}, func() string { return fmt.Sprintf("%d actions still not final: %v", waiting, acts) })
		if st := acts["delete_mailbox"]["status"]; st != store.ActionHeld {
			t.Fatalf("delete_mailbox is %v under a legal hold, want held", st)
		}
		c = s.waitClosed(t, caseID, 30*time.Second)
		if st, sum := c["status"], c["summary"].(string); st != store.CaseCompletedWithExceptions ||
			!strings.Contains(sum, fmt.Sprintf("preserved under legal hold %d until released", hold.ID)) {
			t.Fatalf("the case is %v (%q) under an approved legal hold, want %s saying what it preserves", st, sum, store.CaseCompletedWithExceptions)
		}
		if _, acts = s.actionsOf(t, caseID); acts["delete_mailbox"]["status"] != store.ActionHeld {
			t.Fatalf("delete_mailbox is %v in the closed case, want held (it never ran)", acts["delete_mailbox"]["status"])
		}
	})

	var rel bot.ApprovalResponse
	t.Run("a release is a new approval through the release chain", func(t *testing.T) {
		r := s.do(t, "POST", release, bearer, `{"as":"M1","reason":"case settled"}`)
		if r.status != http.StatusCreated {
			t.Fatalf("status %d, want 201: %s", r.status, r.body)
		}
		rel = approval(t, r)
		if rel.ID == hold.ID || rel.Status != store.ApprovalPending || rel.Effect != "release_legal_hold" || rel.Requester != "M1" || rel.CaseID != caseID {
			t.Errorf("release = %d %s %s by %s on case %d", rel.ID, rel.Status, rel.Effect, rel.Requester, rel.CaseID)
		}
		if len(rel.Steps) != 1 || rel.Steps[0].Name != "legal" {
			t.Errorf("steps = %+v, want the legal chain", rel.Steps)
		}
		n := s.k.Count(t, &store.Approval{}, "")
		r = s.do(t, "POST", release, bearer, `{"as":"H1","reason":"again"}`)
		if r.status != http.StatusBadRequest || !strings.Contains(r.json(t)["error"].(string), "already pending") {
			t.Errorf("a second release: status %d, want 400 already pending: %s", r.status, r.body)
		}
		if got := s.k.Count(t, &store.Approval{}, ""); got != n {
			t.Errorf("a refused second release created %d approvals", got-n)
		}
	})
	if rel.ID == 0 {
		t.FailNow()
	}

	t.Run("legal approves the release: the case reopens and the deletion runs", func(t *testing.T) {
		decide(t, rel.ID, "L1", store.ApprovalPending)
		v := decide(t, rel.ID, "L2", store.ApprovalApproved)
		if !strings.Contains(v.Outcome, fmt.Sprintf("legal hold %d released", hold.ID)) {
			t.Errorf("outcome %q", v.Outcome)
		}
		if n := s.k.Count(t, &store.AuditEvent{}, "case_id = ? AND event = ?", caseID, "case.reopened"); n != 1 {
			t.Errorf("%d case.reopened audit events after the release", n)
		}
		c := s.waitClosed(t, caseID, 30*time.Second)
		_, acts := s.actionsOf(t, caseID)
		if st := acts["delete_mailbox"]["status"]; st != store.ActionSucceeded {
			t.Errorf("delete_mailbox is %v (%v), want succeeded", st, acts["delete_mailbox"]["last_error"])
		}
		if acts["preserve_mailbox"] == nil {
			t.Error("the hold did not add preserve_mailbox")
		}
		if c["status"] != store.CaseCompleted {
			t.Errorf("case %v: %v", c["status"], c["summary"])
		}
	})
}

// TestBatchesAPI drives the mass-termination guard over HTTP: cases past
// the limit are held as one batch, released one by one or denied whole.
func TestBatchesAPI(t *testing.T) {
	policy := testkit.ApprovalPolicy + "mass_termination: {max_cases: 2, window: 1h, approvers: [\"user:A1\"]}\n"
	s := newServer(t, testkit.Options{Policy: policy}, false)

	t.Run("no batches is an empty list", func(t *testing.T) {
		r := s.do(t, "GET", "/api/v1/batches", bearer, "")
		if r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != "[]" {
			t.Fatalf("status %d body %s, want 200 []", r.status, r.body)
		}
	})

	var caseIDs []int64
	for _, emp := range []string{"E1", "E2", "E4", "X1"} {
		id, c := s.openCase(t, fmt.Sprintf(`{"employee_id":%q,"reason":"restructuring"}`, emp))
		caseIDs = append(caseIDs, id)
		if held := c["status"] == store.CaseHeld; held != (len(caseIDs) > 2) {
			t.Errorf("case %d (%s, number %d) is %v", id, emp, len(caseIDs), c["status"])
		}
	}
	first, second := caseIDs[2], caseIDs[3]

	type batch struct {
		ID     int64        `json:"id"`
		Status string       `json:"status"`
		Reason string       `json:"reason"`
		Cases  []store.Case `json:"cases"`
	}
	listBatches := func(t *testing.T, query string) []batch {
		t.Helper()
		r := s.do(t, "GET", "/api/v1/batches"+query, bearer, "")
		if r.status != http.StatusOK {
			t.Fatalf("GET /api/v1/batches%s: status %d: %s", query, r.status, r.body)
		}
		var bs []batch
		if err := json.Unmarshal(r.body, &bs); err != nil {
			t.Fatalf("not a list of batches: %v\n%s", err, r.body)
		}
		return bs
	}
	var batchID int64
	t.Run("the cases past the limit are one pending batch", func(t *testing.T) {
		bs := listBatches(t, "")
		if len(bs) != 1 {
			t.Fatalf("%d batches, want 1: %+v", len(bs), bs)
		}
		b := bs[0]
		batchID = b.ID
		if b.Status != store.BatchPending || len(b.Cases) != 2 || b.Cases[0].ID != first || b.Cases[1].ID != second {
			t.Fatalf("batch %d %s with %d cases, want pending with cases %d and %d: %+v", b.ID, b.Status, len(b.Cases), first, second, b)
		}
		for _, c := range b.Cases {
			if c.Status != store.CaseHeld {
				t.Errorf("case %d is %s, want held", c.ID, c.Status)
			}
		}
		if got := listBatches(t, "?status=pending"); len(got) != 1 {
			t.Errorf("?status=pending lists %d batches", len(got))
		}
		if got := listBatches(t, "?status=approved"); len(got) != 0 {
			t.Errorf("?status=approved lists %d batches", len(got))
		}
	})
	if batchID == 0 {
		t.FailNow()
	}

	approve := fmt.Sprintf("/api/v1/batches/%d/approve", batchID)
	deny := fmt.Sprintf("/api/v1/batches/%d/deny", batchID)
	t.Run("refused batch decisions change nothing", func(t *testing.T) {
		s.refuse(t, []refusal{
			{name: "a colleague may not release a case", method: "POST", path: approve, body: fmt.Sprintf(`{"as":"X1","case_ids":[%d]}`, first), status: 403, want: "not a mass-termination approver"},
			{name: "HR may not either", method: "POST", path: approve, body: `{"as":"H1"}`, status: 403, want: "not a mass-termination approver"},
			{name: "nobody named is malformed", method: "POST", path: approve, body: `{}`, status: 400, want: `"as"`},
			{name: "a case outside the batch is 400", method: "POST", path: approve, body: fmt.Sprintf(`{"as":"A1","case_ids":[%d]}`, caseIDs[0]), status: 400, want: "is not held in batch"},
			{name: "an unknown batch is 404", method: "POST", path: "/api/v1/batches/999999/approve", body: `{"as":"A1"}`, status: 404, want: "batch 999999"},
			{name: "a non-numeric id is 400", method: "POST", path: "/api/v1/batches/abc/approve", body: `{"as":"A1"}`, status: 400, want: "positive integer"},
			{name: "malformed JSON is 400", method: "POST", path: approve, body: `{"as":"A1"`, status: 400, want: "malformed JSON"},
			{name: "an unknown field is 400", method: "POST", path: approve, body: `{"as":"A1","cases":[1]}`, status: 400, want: `unknown field "cases"`},
		})
	})

	t.Run("an approver releases one case", func(t *testing.T) {
		r := s.do(t, "POST", approve, bearer, fmt.Sprintf(`{"as":"A1","case_ids":[%d],"reason":"planned reduction"}`, first))
		if r.status != http.StatusOK {
			t.Fatalf("status %d, want 200: %s", r.status, r.body)
		}
		if m := r.json(t); m["status"] != store.BatchPartial || m["id"] != float64(batchID) || !strings.Contains(fmt.Sprint(m["detail"]), "partial") {
			t.Errorf("answer = %v, want batch %d partial", m, batchID)
		}
		c, _ := s.actionsOf(t, first)
		if c["status"] == store.CaseHeld || c["status"] == store.CaseCancelled {
			t.Errorf("released case %d is %v", first, c["status"])
		}
		if c, _ := s.actionsOf(t, second); c["status"] != store.CaseHeld {
			t.Errorf("case %d is %v, want still held", second, c["status"])
		}
	})

	t.Run("refused denials change nothing", func(t *testing.T) {
		s.refuse(t, []refusal{
			{name: "a denial with case_ids is 400", method: "POST", path: deny, body: fmt.Sprintf(`{"as":"A1","reason":"no","case_ids":[%d]}`, second), status: 400, want: "a denial applies to the whole batch"},
			{name: "a denial without a reason is 400", method: "POST", path: deny, body: `{"as":"A1"}`, status: 400, want: "needs a reason"},
			{name: "a colleague may not deny", method: "POST", path: deny, body: `{"as":"X1","reason":"no"}`, status: 403, want: "not a mass-termination approver"},
		})
	})

	t.Run("a denial with a reason cancels the remaining case", func(t *testing.T) {
		r := s.do(t, "POST", deny, bearer, `{"as":"A1","reason":"not approved by the board"}`)
		if r.status != http.StatusOK {
			t.Fatalf("status %d, want 200: %s", r.status, r.body)
		}
		if m := r.json(t); m["status"] != store.BatchDenied {
			t.Errorf("answer = %v, want denied", m)
		}
		c, acts := s.actionsOf(t, second)
		if c["status"] != store.CaseCancelled || !strings.Contains(fmt.Sprint(c["summary"]), "not approved by the board") {
			t.Errorf("case %d is %v (%v), want cancelled with the reason", second, c["status"], c["summary"])
		}
		for name, a := range acts {
			if a["status"] != store.ActionCancelled {
				t.Errorf("action %s of the cancelled case is %v", name, a["status"])
			}
		}
		if c, _ := s.actionsOf(t, first); c["status"] == store.CaseCancelled {
			t.Errorf("the released case %d was cancelled by the denial", first)
		}
		if bs := listBatches(t, ""); len(bs) != 1 || bs[0].Status != store.BatchDenied {
			t.Errorf("batches = %+v, want one denied", bs)
		}
		s.refuse(t, []refusal{
			{name: "a decided batch takes no more decisions", method: "POST", path: approve, body: `{"as":"A1"}`, status: 400, want: "already denied"},
		})
	})
}
