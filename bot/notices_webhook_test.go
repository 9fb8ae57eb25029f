package bot_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/internal/testwait"
	"github.com/kineticsec/kinetic/store"
)

// webhookNoticePolicy tells the payroll system by webhook, naming the
// receiving team so the notice is recorded.
const webhookNoticePolicy = `version: 1
defaults:
  sla: {critical: 1h, entitlements: 4h, notifications: 24h}
  max_attempts: 4
actions:
  disable_ad: {connector: ad, operation: disable_account, phase: critical}
  notify_payroll: {connector: payroll_api, operation: notify, phase: notifications, params: {template: final_pay, teams: payroll}}
rules:
  - name: everyone
    when: "true"
    add: [disable_ad, notify_payroll]
escalation:
  levels:
    - {after: 0s, notify: [owner]}
    - {after: 30m, notify: [security_alerts]}
    - {after: 2h, notify: ["user:S1"]}
payroll:
  payday: {schedule: semimonthly, days: [15, 31]}
  rules:
    - {name: default, final_pay: 5d, leave_payout: false, benefits_end: end_of_month}
`

// A payroll system told by the webhook connector (bearer token) records a
// notice the team acknowledges only by callback: the case has access fully
// revoked but stays open on it; someone not on payroll is refused and
// nothing changes; the payroll member's callback closes the case.
func TestPayrollWebhookNoticeIsAcknowledgedByCallback(t *testing.T) {
	var mu sync.Mutex
	notified := false
	var unexpected []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer payroll-api-token-0123456789" {
			unexpected = append(unexpected, "no bearer on "+r.Method+" "+r.URL.Path)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/api/employees/E1":
			st := "none"
			if notified {
				st = "notified"
			}
			fmt.Fprintf(w, `{"id": "P-1", "offboarding": %q}`, st)
		case r.Method == http.MethodPost && r.URL.Path == "/api/employees/P-1/final-pay" && !notified:
			b, _ := io.ReadAll(r.Body)
			if r.Header.Get("Idempotency-Key") == "" || len(b) == 0 {
				unexpected = append(unexpected, "final-pay without its key or body")
			}
			notified = true
			w.WriteHeader(http.StatusAccepted)
		default:
			unexpected = append(unexpected, r.Method+" "+r.URL.Path)
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(api.Close)
	t.Setenv("KINETIC_PAYROLL_API_TOKEN_FOR_TEST", "payroll-api-token-0123456789")
	conn := fmt.Sprintf(`  payroll_api:
    type: webhook
    owner: payroll
    webhook:
      base_url: %s/api
      auth: {bearer: {env: KINETIC_PAYROLL_API_TOKEN_FOR_TEST}}
      lookup: {path: "/employees/{{.EmployeeID}}", id_field: id, status_field: offboarding, active_values: [none]}
      operations:
        notify:
          path: "/employees/{{.Account}}/final-pay"
          body: '{"case": {{json .Params.case_reference}}, "final_pay_date": {{json .Params.final_pay_date}}, "request": {{json .IdempotencyKey}}}'
          verify_status: [notified, done]
`, api.URL)
	s := newServer(t, testkit.Options{Policy: webhookNoticePolicy, Connectors: conn, Service: "outbound: {allow_cidrs: [127.0.0.1/32]}",
		ApproverGroups: "{hr: [H1, H2, M1], legal: [L1, L2], security: [S1], payroll: [H2]}"}, true)
	ctx := context.Background()
	o, err := s.k.Engine.Open(ctx, engine.Request{EmployeeID: "E1", Requester: "M1", Reason: "resigned", Trigger: store.TriggerCLI})
	if err != nil {
		t.Fatal(err)
	}
	caseID := o.Case.ID
	var open []store.Notice
	testwait.Until(20*time.Second, func() bool {
		open, err = s.k.Store.OpenNotices(ctx, caseID)
		return err == nil && len(open) == 1
	})
	if len(open) != 1 || open[0].Team != "payroll" || open[0].Channel != "webhook" || open[0].Recipients != "" {
		t.Fatalf("open notices %+v, %v", open, err)
	}
	var c *store.Case
	testwait.Until(20*time.Second, func() bool {
		c, err = s.k.Store.Case(ctx, caseID)
		return err == nil && c.RevokedAt != nil
	})
	if c == nil || c.RevokedAt == nil || c.ClosedAt != nil || !store.CaseOpen(c.Status) {
		t.Fatalf("case before the callback: %+v", c)
	}
	ackPath := fmt.Sprintf("/api/v1/notices/%d/ack", open[0].ID)
	if r := s.do(t, "POST", ackPath, bearerFor("H1"), `{"as": "H1"}`); r.status != http.StatusForbidden {
		t.Errorf("H1, not on payroll: %d %s", r.status, r.body)
	}
	if now, _ := s.k.Store.OpenNotices(ctx, caseID); len(now) != 1 {
		t.Fatalf("a refused callback changed something: %+v", now)
	}
	if r := s.do(t, "POST", ackPath, bearerFor("H2"), `{"as": "H2"}`); r.status != http.StatusOK || r.json(t)["acknowledged_how"] != store.AckCallback {
		t.Fatalf("H2's callback: %d %s", r.status, r.body)
	}
	testwait.Until(20*time.Second, func() bool {
		c, err = s.k.Store.Case(ctx, caseID)
		return err == nil && c.ClosedAt != nil
	})
	if c == nil || c.ClosedAt == nil {
		t.Fatalf("the case did not close after the acknowledgement: %+v", c)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(unexpected) > 0 {
		t.Fatalf("unexpected calls to the payroll API: %v", unexpected)
	}
}
