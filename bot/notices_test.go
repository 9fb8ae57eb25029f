package bot_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/smtptest"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/internal/testwait"
	"github.com/kineticsec/kinetic/store"
)

// noticePolicy tells payroll and benefits by email, with the payroll
// section's dates.
const noticePolicy = `version: 1
defaults:
  sla: {critical: 1h, entitlements: 4h, notifications: 24h}
  max_attempts: 4
actions:
  disable_ad: {connector: ad, operation: disable_account, phase: critical}
  notify_payroll: {connector: mail, operation: notify, phase: notifications, params: {template: final_pay, teams: "payroll,benefits"}}
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
    - {name: new-york-involuntary, country: US, state: NY, involuntary: true, final_pay: next_payday}
    - {name: default, final_pay: 5d, leave_payout: false, benefits_end: end_of_month}
`

// TestPayrollNoticeByEmailIsAcknowledgedByTheTeam runs an offboarding
// whose payroll notice goes through a real SMTP server, then acknowledges
// it through the link: a GET changes nothing, an address not on the notice
// is refused and changes nothing, the team's address is recorded once.
func TestPayrollNoticeByEmailIsAcknowledgedByTheTeam(t *testing.T) {
	mail := smtptest.Start(t, false, false)
	dir := t.TempDir()
	keyFile, pwFile := filepath.Join(dir, "ack.key"), filepath.Join(dir, "smtp.pw")
	if err := os.WriteFile(keyFile, []byte("an-acknowledgement-key-of-32-bytes-or-more"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pwFile, []byte(smtptest.Password), 0o600); err != nil {
		t.Fatal(err)
	}
	conn := fmt.Sprintf(`  mail:
    type: email
    email:
      host: 127.0.0.1
      port: %d
      ca_file: %s
      username: kinetic
      password: {file: %s}
      from: "Kinetic <offboarding@example.test>"
      teams:
        payroll: [payroll@example.test]
        benefits: [benefits@example.test]
`, mail.Port, mail.CAFile, pwFile)
	svc := fmt.Sprintf("outbound: {allow_cidrs: [127.0.0.1/32]}\nnotices: {ack_page: \"http://127.0.0.1/notices/ack\", ack_key: {file: %s}, ack_ttl: 48h}", keyFile)
	// The engine's clock runs from 2026-03-18 15:00 UTC (11:00 in New
	// York, E1's time zone), so the case is effective that day.
	start, base := time.Now(), time.Date(2026, 3, 18, 15, 0, 0, 0, time.UTC)
	var skip atomic.Int64 // the test moves the clock on
	now := func() time.Time { return base.Add(time.Since(start) + time.Duration(skip.Load())) }
	s := newServer(t, testkit.Options{Policy: noticePolicy, Connectors: conn, Service: svc, Now: now,
		ApproverGroups: "{hr: [H1, H2, M1], legal: [L1, L2], security: [S1], benefits: [H2], payroll: [H1]}"}, true)

	o, err := s.k.Engine.Open(context.Background(), engine.Request{EmployeeID: "E1", Requester: "M1", Reason: "resigned", Trigger: store.TriggerCLI})
	if err != nil {
		t.Fatal(err)
	}
	caseID := o.Case.ID
	byTeam := map[string]smtptest.Delivered{}
	for range 2 {
		d := mail.Next()
		m, _ := smtptest.Parse(t, d.Data)
		byTeam[m.Header.Get("X-Kinetic-Team")] = d
	}
	m, body := smtptest.Parse(t, byTeam["payroll"].Data)
	ref := engine.CaseReference(caseID)
	if got := m.Header.Get("Subject"); got != "["+ref+"] Final pay: Erin Employee (E1), last working day 2026-03-18" {
		t.Errorf("Subject %q", got)
	}
	// E1 has no country: the default rule, 5 days after the last day.
	for h, want := range map[string]string{"X-Kinetic-Case": ref, "X-Kinetic-Final-Pay-Date": "2026-03-23", "X-Kinetic-Benefits-End-Date": "2026-03-31", "X-Kinetic-Leave-Payout": "no"} {
		if got := m.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	link := regexp.MustCompile(`http://127\.0\.0\.1/notices/ack\?t=\S+`).FindString(body)
	if link == "" {
		t.Fatalf("no acknowledgement link in the payroll notice:\n%s", body)
	}
	u, _ := url.Parse(link)
	tok := u.Query().Get("t")

	var open []store.Notice
	testwait.Until(10*time.Second, func() bool {
		open, err = s.k.Store.OpenNotices(context.Background(), caseID)
		return err == nil && len(open) == 2
	})
	if len(open) != 2 {
		t.Fatalf("open notices %+v, %v; want payroll and benefits", open, err)
	}

	page := s.srv.URL + "/notices/ack"
	get := func(tok string) (int, string) {
		resp, err := http.Get(page + "?t=" + url.QueryEscape(tok))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	post := func(tok, addr string) (int, string) {
		resp, err := http.PostForm(page, url.Values{"t": {tok}, "address": {addr}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, b := get(tok); st != http.StatusOK || !strings.Contains(b, "Confirm the payroll team has this notice") || !strings.Contains(b, ref) {
		t.Fatalf("confirm page: %d\n%s", st, b)
	}
	if st, _ := get(tok[:len(tok)-2] + "xx"); st != http.StatusForbidden {
		t.Errorf("forged token page: %d", st)
	}
	for _, addr := range []string{"benefits@example.test", "mallory@evil.example", ""} {
		if st, _ := post(tok, addr); st != http.StatusForbidden {
			t.Errorf("acknowledgement by %q: %d, want 403", addr, st)
		}
	}
	if open, _ = s.k.Store.OpenNotices(context.Background(), caseID); len(open) != 2 {
		t.Fatalf("a refused acknowledgement changed something: %+v", open)
	}
	if st, b := post(tok, "Payroll@Example.test"); st != http.StatusOK || !strings.Contains(b, "receipt of notice "+ref+" is recorded") {
		t.Fatalf("acknowledgement by the team: %d\n%s", st, b)
	}
	if st, _ := post(tok, "payroll@example.test"); st != http.StatusConflict {
		t.Errorf("second use of the link: %d, want 409", st)
	}
	open, _ = s.k.Store.OpenNotices(context.Background(), caseID)
	if len(open) != 1 || open[0].Team != "benefits" {
		t.Fatalf("open notices after payroll's acknowledgement: %+v", open)
	}
	all, _ := s.k.Store.CaseNotices(context.Background(), caseID)
	for _, n := range all {
		if n.Team == "payroll" && (n.AcknowledgedBy != "email:payroll@example.test" || n.AcknowledgedHow != store.AckLink) {
			t.Errorf("payroll notice %+v", n)
		}
	}
	if n := s.k.Count(t, &store.AuditEvent{}, "case_id = ? AND event = ?", caseID, "notice.acknowledged"); n != 1 {
		t.Errorf("%d notice.acknowledged audit events, want 1", n)
	}

	// A day and an hour later benefits has still not acknowledged: its
	// notice escalates (levels after 0s and 30m of the 24h notifications
	// SLA) to the benefits team; payroll's does not.
	skip.Store(int64(25 * time.Hour))
	if _, err := s.k.Engine.Sweep(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	s.k.WaitCount(t, 2, 10*time.Second, &store.AuditEvent{}, "case_id = ? AND event = ?", caseID, "notice.escalated")
	var escs []store.AuditEvent
	if err := s.k.Store.TestDB().Where("case_id = ? AND event = ?", caseID, "notice.escalated").Order("seq").Find(&escs).Error; err != nil {
		t.Fatal(err)
	}
	if len(escs) != 2 || escs[0].Result != "level 1" || !strings.Contains(escs[0].Detail, "to benefits") || !strings.HasSuffix(escs[0].Detail, "→ channel:benefits") ||
		escs[1].Result != "level 2" || !strings.HasSuffix(escs[1].Detail, "→ channel:security-alerts") {
		for _, e := range escs {
			t.Logf("%s %s: %s", e.Event, e.Result, e.Detail)
		}
		t.Fatalf("notice escalations: want benefits' notice at levels 1 (its team) and 2 (security alerts)")
	}
	rep, err := s.k.Store.VerifyAudit(context.Background())
	if err != nil || !rep.OK {
		t.Fatalf("audit: %+v %v", rep, err)
	}

	// Benefits' system calls back through the API, for H2 (on the
	// benefits team): X1 is refused, H2 is recorded, a repeat is a
	// conflict.
	var benefits store.Notice
	for _, n := range all {
		if n.Team == "benefits" {
			benefits = n
		}
	}
	ackPath := fmt.Sprintf("/api/v1/notices/%d/ack", benefits.ID)
	if r := s.do(t, "POST", ackPath, bearerFor("X1"), `{"as": "X1"}`); r.status != http.StatusForbidden {
		t.Errorf("acknowledgement by X1 (not on the team): %d %s", r.status, r.body)
	}
	if r := s.do(t, "POST", ackPath, bearerFor("X1"), `{"as": "H2"}`); r.status != http.StatusForbidden {
		t.Errorf("X1's client acting for H2: %d %s", r.status, r.body)
	}
	if open, _ = s.k.Store.OpenNotices(context.Background(), caseID); len(open) != 1 {
		t.Fatalf("a refused callback changed something: %+v", open)
	}
	if r := s.do(t, "POST", ackPath, bearerFor("H2"), `{"as": "H2"}`); r.status != http.StatusOK || r.json(t)["acknowledged_how"] != store.AckCallback {
		t.Fatalf("acknowledgement by H2: %d %s", r.status, r.body)
	}
	if r := s.do(t, "POST", ackPath, bearerFor("H2"), `{"as": "H2"}`); r.status != http.StatusConflict {
		t.Errorf("second callback: %d %s", r.status, r.body)
	}
	if open, _ = s.k.Store.OpenNotices(context.Background(), caseID); len(open) != 0 {
		t.Fatalf("open notices after both acknowledgements: %+v", open)
	}

	// The acknowledgement is part of the audited state: rewriting who
	// acknowledged is detected (then put back for the kit's own check).
	db := s.k.Store.TestDB().Model(&store.Notice{}).Where("case_id = ? AND team = ?", caseID, "payroll")
	if err := db.Update("acknowledged_by", "email:mallory@evil.example").Error; err != nil {
		t.Fatal(err)
	}
	st, err := s.k.Store.VerifyAuditedState(context.Background())
	if err != nil || st.OK || len(st.Mismatches) != 1 || st.Mismatches[0].Field != "acknowledged" {
		t.Errorf("tampered acknowledgement: %+v, %v", st, err)
	}
	if err := s.k.Store.TestDB().Model(&store.Notice{}).Where("case_id = ? AND team = ?", caseID, "payroll").Update("acknowledged_by", "email:payroll@example.test").Error; err != nil {
		t.Fatal(err)
	}
}
