package bot_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// Issue 12, "the trust boundary", through the JSON API: effective times
// and exceptions are bounded, an involuntary request upgrades a voluntary
// case already open, and a case can be cancelled (authorized by the
// engine, as in Slack).
func TestAPITrustBoundary(t *testing.T) {
	s := newServer(t, testkit.Options{Policy: testkit.ApprovalPolicy}, false)
	later := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)

	t.Run("refusals change nothing", func(t *testing.T) {
		var many []string
		for range 1200 {
			many = append(many, `{"kind":"late_laptop","days":3}`)
		}
		s.refuse(t, []refusal{
			// Reproduction: accepted, then blocked the person's one case.
			{name: "effective_at in year 9999 is 400", method: "POST", path: "/api/v1/cases",
				body: `{"employee_id":"E1","requested_by":"M1","effective_at":"9999-12-31T23:59:59Z"}`, status: 400, want: "max_future"},
			{name: "an unparseable effective_at is 400", method: "POST", path: "/api/v1/cases",
				body: `{"employee_id":"E1","requested_by":"M1","effective_at":"next friday"}`, status: 400, want: "RFC 3339"},
			// Reproduction: 1,200 exceptions created 1,200 approvals.
			{name: "1,200 exceptions of one kind are 400", method: "POST", path: "/api/v1/cases",
				body:   `{"employee_id":"E1","requested_by":"M1","effective_at":"` + later + `","exceptions":[` + strings.Join(many, ",") + `]}`,
				status: 400, want: "at most one late_laptop exception"},
			{name: "an unknown exception kind is 400", method: "POST", path: "/api/v1/cases",
				body: `{"employee_id":"E1","requested_by":"M1","exceptions":[{"kind":"keep_everything"}]}`, status: 400, want: `"keep_everything" is not in the policy`},
		})
	})

	caseID, _ := s.openCase(t, `{"employee_id":"E1","requested_by":"M1","reason":"resigned","effective_at":"`+later+`"}`)

	t.Run("cancel is authorized like Slack's", func(t *testing.T) {
		path := fmt.Sprintf("/api/v1/cases/%d/cancel", caseID)
		s.refuse(t, []refusal{
			{name: "without a token it is 401", method: "POST", path: path, auth: "-", body: `{"as":"H1"}`, status: 401, want: "bearer token"},
			{name: "nobody named is 400", method: "POST", path: path, body: `{"reason":"x"}`, status: 400, want: `"as"`},
			{name: "a colleague is 403", method: "POST", path: path, body: `{"as":"X1","reason":"x"}`, status: 403, want: "may not cancel"},
			{name: "the departing employee is 403", method: "POST", path: path, body: `{"as":"E1","reason":"x"}`, status: 403, want: "their own offboarding"},
			{name: "an unknown case is 404", method: "POST", path: "/api/v1/cases/999999/cancel", body: `{"as":"H1"}`, status: 404, want: "case 999999"},
			{name: "an unknown field is 400", method: "POST", path: path, body: `{"as":"H1","force":true}`, status: 400, want: `unknown field "force"`},
		})
	})

	t.Run("an involuntary request upgrades the scheduled voluntary case", func(t *testing.T) {
		r := s.do(t, "POST", "/api/v1/cases", bearer, `{"employee_id":"E1","requested_by":"H1","reason":"misconduct","involuntary":true}`)
		if r.status != http.StatusOK {
			t.Fatalf("status %d, want 200: %s", r.status, r.body)
		}
		c := r.json(t)
		if int64(c["id"].(float64)) != caseID || c["involuntary"] != true || c["upgraded"] != true {
			t.Fatalf("answer %s", r.body)
		}
		if st := c["status"]; st != store.CaseRunning {
			t.Fatalf("upgraded case is %v, want running", st)
		}
	})

	t.Run("a started case is 409 to cancel", func(t *testing.T) {
		s.refuse(t, []refusal{{name: "started", method: "POST", path: fmt.Sprintf("/api/v1/cases/%d/cancel", caseID),
			body: `{"as":"H1","reason":"too late"}`, status: 409, want: "already started"}})
	})

	t.Run("HR cancels a scheduled case", func(t *testing.T) {
		id, _ := s.openCase(t, `{"employee_id":"E2","requested_by":"M1","effective_at":"`+later+`"}`)
		r := s.do(t, "POST", fmt.Sprintf("/api/v1/cases/%d/cancel", id), bearer, `{"as":"H1","reason":"contract extended"}`)
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if c := r.json(t); c["status"] != store.CaseCancelled || !strings.Contains(fmt.Sprint(c["summary"]), "contract extended") {
			t.Fatalf("answer %s", r.body)
		}
		r = s.do(t, "POST", fmt.Sprintf("/api/v1/cases/%d/cancel", id), bearer, `{"as":"H1","reason":"again"}`)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "already cancelled") {
			t.Fatalf("cancelling twice: %d %s", r.status, r.body)
		}
	})
}
