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

// POST /api/v1/cases/{id}/restore opens a restore request on a closed
// case for the person named in "as", authorized by the engine; approving
// it through the API runs the compensations and the case closes again.
func TestAPIRestore(t *testing.T) {
	s := newServer(t, testkit.Options{}, true)
	caseID, _ := s.openCase(t, `{"employee_id":"E1","requested_by":"M1","reason":"misconduct","involuntary":true}`)
	path := fmt.Sprintf("/api/v1/cases/%d/restore", caseID)
	// The case is running on the worker, so the database changes under
	// this request whatever it does (s.refuse's before/after comparison
	// holds only while no worker runs): check the answer and that no
	// restore approval was made.
	if r := s.do(t, "POST", path, bearer, `{"as":"H1","reason":"mistake"}`); r.status != http.StatusBadRequest ||
		!strings.Contains(string(r.body), "only a closed offboarding") {
		t.Fatalf("restoring an open case: %d %s", r.status, r.body)
	}
	if n := s.k.Count(t, &store.Approval{}, "case_id = ?", caseID); n != 0 {
		t.Fatalf("restoring an open case made %d approvals", n)
	}
	s.k.WaitClosed(t, caseID, 30*time.Second)
	s.refuse(t, []refusal{
		{name: "without a token it is 401", method: "POST", path: path, auth: "-", body: `{"as":"H1","reason":"x"}`, status: 401, want: "bearer token"},
		{name: "nobody named is 400", method: "POST", path: path, body: `{"reason":"x"}`, status: 400, want: `"as"`},
		{name: "no reason is 400", method: "POST", path: path, body: `{"as":"H1"}`, status: 400, want: "needs a reason"},
		{name: "a colleague is 403", method: "POST", path: path, body: `{"as":"X1","reason":"x"}`, status: 403, want: "may not request a restore"},
		{name: "the employee is 403", method: "POST", path: path, body: `{"as":"E1","reason":"x"}`, status: 403, want: "their own offboarding"},
		{name: "an unknown case is 404", method: "POST", path: "/api/v1/cases/999999/restore", body: `{"as":"H1","reason":"x"}`, status: 404, want: "case 999999"},
	})
	r := s.do(t, "POST", path, bearerFor("H1"), `{"as":"H1","reason":"opened by mistake"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	apID := int64(r.json(t)["approval_id"].(float64))
	a := s.do(t, "POST", fmt.Sprintf("/api/v1/approvals/%d/approve", apID), bearerFor("M1"), `{"as":"M1","reason":"confirmed"}`)
	if a.status != http.StatusOK {
		t.Fatalf("approve: %d %s", a.status, a.body)
	}
	c := s.k.WaitClosed(t, caseID, 30*time.Second)
	restored := 0
	for _, act := range c.Actions {
		if act.PhaseName == "restore" {
			if act.Status != store.ActionSucceeded || !act.Verified {
				t.Fatalf("%s: %s %s", act.Name, act.Status, act.LastError)
			}
			restored++
		}
	}
	if restored == 0 {
		t.Fatal("no restore action ran")
	}
}
