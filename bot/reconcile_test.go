package bot_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/bot"
	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// GET /api/v1/reconcile/last: 401 without a token, 403 without audit:read,
// 404 before any scan, and then the last scan's run and residuals.
func TestReconcileLastAPI(t *testing.T) {
	clients := personClients()
	clients["reader"] = bot.APIClient{Token: "test-token-reader", Scopes: []string{configs.ScopeCasesRead}, ActAs: []string{engine.ActAsAny}}
	clients["auditor"] = bot.APIClient{Token: "test-token-auditor", Scopes: []string{configs.ScopeAuditRead}}
	s := newServerWith(t, testkit.Options{}, true, clients)
	ctx := context.Background()
	const path = "/api/v1/reconcile/last"
	for _, tc := range []struct {
		name, auth string
		status     int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"a client without audit:read", "Bearer test-token-reader", http.StatusForbidden},
		{"no scan yet", "Bearer test-token-auditor", http.StatusNotFound},
	} {
		if r := s.do(t, http.MethodGet, path, tc.auth, ""); r.status != tc.status {
			t.Fatalf("%s: status %d, want %d: %s", tc.name, r.status, tc.status, r.body)
		}
	}
	o, err := s.k.Engine.Open(ctx, engine.Request{EmployeeID: "E1", Requester: "M1", Reason: "resigned", Trigger: store.TriggerAPI})
	if err != nil {
		t.Fatal(err)
	}
	s.k.WaitClosed(t, o.Case.ID, 30*time.Second)
	s.k.Sandbox("okta").AddAccount(connectors.Subject{EmployeeID: "E1", Email: "erin@example.test"},
		connectors.Account{ID: "erin@example.test", Status: connectors.StatusActive, Sessions: 2})
	rep, err := s.k.Engine.ReconcileCase(ctx, o.Case.ID, "api", "")
	if err != nil || len(rep.Residuals) == 0 {
		t.Fatalf("scan: %+v %v", rep, err)
	}
	r := s.do(t, http.MethodGet, path, "Bearer test-token-auditor", "")
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	body := r.json(t)
	run, _ := body["run"].(map[string]any)
	res, _ := body["residuals"].([]any)
	if run["case_id"] != float64(o.Case.ID) || len(res) != len(rep.Residuals) || !strings.Contains(string(r.body), "okta") {
		t.Fatalf("report: %s", r.body)
	}
}
