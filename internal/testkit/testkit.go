// Package testkit builds a complete Kinetic for integration tests: a fresh
// database from store.OpenTest (PostgreSQL under CI), the test Redis from
// testenv, sandbox connectors, a small HR directory and policy written to a
// temporary directory and loaded through compose.Load (configs.Load with the connector table) like a real
// deployment's files.
package testkit

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/sandbox"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/app"
	"github.com/kineticsec/kinetic/internal/compose"
	"github.com/kineticsec/kinetic/internal/testenv"
	"github.com/kineticsec/kinetic/internal/testwait"
	"github.com/kineticsec/kinetic/store"
)

// Directory is the test HR directory: E1 a full-time employee managed by
// M1, E2 a contractor, E3 inactive, E4 a top-secret-cleared engineer, M1 a
// manager (also in the hr approver group), H1 and H2 HR, X1 a colleague, A1
// an admin, L1 and L2 legal, S1 a security officer, T1 (it-assets) and T2
// (it-berlin) recover equipment, E7 in Berlin holds a laptop and a phone
// (the others hold none, so their cases close when their actions settle).
const Directory = `[
 {"id":"A1","email":"admin@example.test","name":"Ada Admin","type":"employee","status":"active","role_profiles":["it-admin"]},
 {"id":"H1","email":"hr@example.test","name":"Hal HR","type":"employee","status":"active","hr_role":true},
 {"id":"H2","email":"hr2@example.test","name":"Hana HR","type":"employee","status":"active","hr_role":true,"manager":"H1","hr_partner":"H1"},
 {"id":"L1","email":"legal1@example.test","name":"Lee Legal","type":"employee","status":"active"},
 {"id":"L2","email":"legal2@example.test","name":"Lou Legal","type":"employee","status":"active"},
 {"id":"S1","email":"security@example.test","name":"Sam Security","type":"employee","status":"active"},
 {"id":"M1","email":"manager@example.test","name":"Mia Manager","type":"employee","status":"active","department":"Sales"},
 {"id":"X1","email":"colleague@example.test","name":"Xavi Colleague","type":"employee","status":"active","manager":"M1","department":"Sales"},
 {"id":"E1","email":"erin@example.test","name":"Erin Employee","username":"erin","type":"employee","status":"active","manager":"M1","hr_partner":"H1","department":"Sales","time_zone":"America/New_York",
  "accounts":{"ad":"erin","okta":"erin@example.test","badge":"B-1","payroll":"P-1","m365":"erin@example.test"}},
 {"id":"E2","email":"carl@example.test","name":"Carl Contractor","username":"carl","type":"contractor","status":"active","manager":"M1","hr_partner":"H1","department":"Engineering",
  "accounts":{"ad":"carl","okta":"carl@example.test","badge":"B-2"}},
 {"id":"E3","email":"gone@example.test","name":"Gone Person","type":"employee","status":"inactive","manager":"M1"},
 {"id":"E4","email":"tess@example.test","name":"Tess Cleared","username":"tess","type":"employee","status":"active","manager":"M1","hr_partner":"H1","department":"Engineering","clearance":"top_secret",
  "accounts":{"ad":"tess","okta":"tess@example.test","badge":"B-4","m365":"tess@example.test"}},
 {"id":"T1","email":"tech@example.test","name":"Tom Tech","type":"employee","status":"active"},
 {"id":"T2","email":"tech2@example.test","name":"Tia Tech","type":"employee","status":"active","location":"Berlin"},
 {"id":"E7","email":"gia@example.test","name":"Gia Gadget","username":"gia","type":"employee","status":"active","manager":"M1","hr_partner":"H1","department":"Sales","location":"Berlin",
  "accounts":{"ad":"gia","okta":"gia@example.test","badge":"B-7","m365":"gia@example.test"},"equipment":["LT-7","PH-7"]}
]`

// ApprovalPolicy exercises exceptions, chains, escalation and compliance:
// a two-step manager-then-HR chain that escalates to the HR group, an
// all-of legal chain, an IT step that approves on timeout, the four
// exception effects, the clearance rules and three escalation levels. Tests
// append a top-level mass_termination block where they need the guard.
const ApprovalPolicy = `version: 1
defaults:
  sla: {critical: 1h, entitlements: 4h, notifications: 24h}
  max_attempts: 4
actions:
  disable_ad: {connector: ad, operation: disable_account, phase: critical}
  revoke_okta_sessions: {connector: okta, operation: revoke_sessions, phase: critical}
  deactivate_badge: {connector: badge, operation: deactivate_badge, phase: entitlements}
  convert_mailbox: {connector: m365, operation: convert_mailbox, phase: entitlements}
  set_forwarding: {connector: m365, operation: set_forwarding, phase: entitlements}
  remove_forwarding: {connector: m365, operation: remove_forwarding, phase: entitlements}
  preserve_mailbox: {connector: m365, operation: preserve_mailbox, phase: entitlements}
  delete_mailbox: {connector: m365, operation: delete_mailbox, phase: notifications}
  create_recovery_task: {connector: assets, operation: create_recovery_task, phase: notifications}
rules:
  - name: everyone
    when: "true"
    add: [disable_ad, revoke_okta_sessions, deactivate_badge, convert_mailbox, delete_mailbox, create_recovery_task]
chains:
  manager_then_hr:
    steps:
      - {name: manager, approvers: [manager], timeout: 24h, remind_before: 4h, on_timeout: escalate, fallback: ["group:hr"]}
      - {name: hr, approvers: [hr_partner, "group:hr"], timeout: 48h}
  legal:
    steps:
      - {name: legal, approvers: ["group:legal"], mode: all, timeout: 72h}
  it:
    steps:
      - {name: it, approvers: ["user:A1"], timeout: 24h, on_timeout: approve}
exceptions:
  email_forwarding: {effect: forwarding, chain: manager_then_hr, holds: [convert_mailbox], max_days: 30, allowed_domains: [example.test], add: [set_forwarding], at_expiry: [remove_forwarding]}
  legal_hold: {effect: legal_hold, chain: legal, holds: [delete_mailbox], add: [preserve_mailbox], release_chain: legal}
  late_laptop: {effect: delay_equipment, chain: it, max_days: 21, allow_auto_approve: true}
  mailbox_handover: {effect: delay_action, chain: manager_then_hr, actions: [convert_mailbox, disable_ad], max_days: 7}
forbid_critical_exceptions_when: 'request.involuntary || employee.clearance in ["secret", "top_secret"]'
two_person_rule_when: 'employee.clearance in ["secret", "top_secret"]'
security_officer_when: 'employee.clearance in ["secret", "top_secret"]'
escalation:
  levels:
    - {after: 0s, notify: [owner]}
    - {after: 30m, notify: [security_alerts]}
    - {after: 2h, notify: ["user:S1"]}
compliance:
  - {name: fedramp, when: 'employee.clearance in ["secret", "top_secret"]', critical_within: 1h}
`

// Policy is the test policy: critical, entitlement and notification phases
// with dependencies inside the critical and entitlement phases.
const Policy = `version: 1
defaults:
  sla: {critical: 1h, entitlements: 4h, notifications: 24h}
  max_attempts: 4
  equipment_due: 7d
actions:
  disable_ad: {connector: ad, operation: disable_account, phase: critical}
  revoke_okta_sessions: {connector: okta, operation: revoke_sessions, phase: critical}
  deactivate_okta: {connector: okta, operation: deactivate_user, phase: critical, depends_on: [revoke_okta_sessions]}
  remove_ad_groups: {connector: ad, operation: remove_group_memberships, phase: entitlements, depends_on: [disable_ad]}
  deactivate_badge: {connector: badge, operation: deactivate_badge, phase: entitlements}
  create_recovery_task: {connector: assets, operation: create_recovery_task, phase: notifications}
  notify_payroll: {connector: payroll, operation: notify, phase: notifications, params: {template: final_pay}}
rules:
  - name: everyone
    when: "true"
    add: [disable_ad, revoke_okta_sessions, deactivate_okta, remove_ad_groups, deactivate_badge, create_recovery_task, notify_payroll]
  - name: contractors
    when: 'employee.type == "contractor"'
    remove: [notify_payroll]
`

// Options tune the kit.
type Options struct {
	// Latency of every sandbox call; default 0.
	Latency time.Duration
	// Lease for running actions; default 2s.
	Lease time.Duration
	// SweepInterval for workers; default 200ms.
	SweepInterval time.Duration
	// RedisDB selects the Redis database (one per test package).
	RedisDB int
	// Policy replaces the test policy.
	Policy string
	// Now overrides the engine's clock.
	Now       func() time.Time
	Observers []engine.Observer
	// Store reuses a store (two apps on one database); nil opens a fresh one.
	Store *store.Store
	// RedisAddr reuses a Redis address (two apps on one queue).
	RedisAddr string
	// ApproverGroups replaces the service file's approver_groups (a YAML
	// flow mapping); default {hr: [H1, H2, M1], legal: [L1, L2], security: [S1]}.
	ApproverGroups string
	// GroupMembers is passed to the engine (app.Options.GroupMembers).
	GroupMembers func(entry string) []string
	// StateChangedBehindEngine says the test changes cases, actions or
	// approvals behind the engine's back (a simulated crash, a tampering
	// it leaves in place). Without it, the kit checks when the test ends
	// that the database's state is what the audit trail leads to
	// (store.VerifyAuditedState), so every flow a test drives is also a
	// check that the engine records every state it writes.
	StateChangedBehindEngine bool
	// Directory replaces the test HR directory (a JSON array of
	// employees); default Directory.
	Directory string
	// Connectors is added to the service file's connectors block after
	// the sandboxes: YAML whose instance names are indented two spaces
	// (a real connector type pointed at a test server, an email connector
	// at a test SMTP server).
	Connectors string
	// Outbound is the service file's outbound block as a YAML flow mapping
	// (e.g. {allow_hosts: [127.0.0.1]} for test servers); default none.
	Outbound string
	// Service is further top-level YAML for the service file (notices:,
	// or an outbound: block when Outbound is empty).
	Service string
}

// Kit is a built test Kinetic.
type Kit struct {
	*app.App
	Dir       string
	RedisAddr string
}

// New builds a Kit; it is closed when the test ends.
func New(t testing.TB, o Options) *Kit {
	t.Helper()
	if o.Lease == 0 {
		o.Lease = 2 * time.Second
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = 200 * time.Millisecond
	}
	if o.Policy == "" {
		o.Policy = Policy
	}
	if o.Directory == "" {
		o.Directory = Directory
	}
	if o.ApproverGroups == "" {
		o.ApproverGroups = "{hr: [H1, H2, M1], legal: [L1, L2], security: [S1], it-assets: [T1], it-berlin: [T2]}"
	}
	st := o.Store
	if st == nil {
		st = store.OpenTest(t)
	}
	if !o.StateChangedBehindEngine {
		// Registered before the app is built, so it runs after the app has
		// stopped (cleanups run last first).
		t.Cleanup(func() { checkAuditedState(t, st) })
	}
	addr, db := o.RedisAddr, o.RedisDB
	if addr == "" {
		addr, db = testenv.RedisAddr(t, o.RedisDB)
	}
	dir := t.TempDir()
	var conns strings.Builder
	for _, sys := range []string{"ad", "okta", "badge", "assets", "payroll", "m365"} {
		fmt.Fprintf(&conns, "  %s:\n    type: sandbox\n    sandbox: {system: %s, latency: %s}\n", sys, sys, o.Latency)
		if sys == "badge" {
			conns.WriteString("    owner: it-facilities\n")
		}
	}
	conns.WriteString(o.Connectors)
	outbound := ""
	if o.Outbound != "" {
		outbound = "outbound: " + o.Outbound + "\n"
	}
	svc := fmt.Sprintf(`database: {driver: sqlite, path: %s}
redis: {addr: "%s", db: %d}
directory: {file: directory.json}
policy: policy.yaml
admins: [A1]
approver_groups: %s
alerts: {security_channel: security-alerts, security_officers: [S1]}
workers: {concurrency: 8, lease: %s, sweep_interval: %s}
log: {level: warn, format: text}
%sconnectors:
%s`, filepath.Join(dir, "unused.db"), addr, db, o.ApproverGroups, o.Lease, o.SweepInterval, outbound, conns.String())
	if o.Service != "" {
		svc = o.Service + "\n" + svc
	}
	write(t, dir, "kinetic.yaml", svc)
	write(t, dir, "policy.yaml", o.Policy)
	write(t, dir, "directory.json", o.Directory)
	cfg, err := compose.Load(filepath.Join(dir, "kinetic.yaml"))
	if err != nil {
		t.Fatalf("loading the test config: %v", err)
	}
	l := logrus.New()
	l.Out = testWriter{t}
	l.Level = logrus.WarnLevel
	a, err := app.Build(context.Background(), cfg, app.Options{Log: logrus.NewEntry(l), Now: o.Now, Observers: o.Observers, Store: st, GroupMembers: o.GroupMembers})
	if err != nil {
		t.Fatalf("building the test app: %v", err)
	}
	t.Cleanup(a.Close)
	return &Kit{App: a, Dir: dir, RedisAddr: addr}
}

// checkAuditedState fails t unless the state of st's database is what its
// audit trail leads to. A store the test closed itself is not checked.
func checkAuditedState(t testing.TB, st *store.Store) {
	if err := st.Ping(context.Background()); err != nil {
		return
	}
	rep, err := st.VerifyAuditedState(context.Background())
	if err != nil {
		t.Errorf("checking the audited state: %v", err)
		return
	}
	for _, m := range rep.Mismatches {
		t.Errorf("the database's state is not the audit trail's (a write the engine did not record?): %s", m)
	}
	if rep.Unrecorded > 0 {
		t.Errorf("%d cases without a state record of their creation", rep.Unrecorded)
	}
}

// Sandbox returns the named sandbox connector.
func (k *Kit) Sandbox(name string) *sandbox.Connector {
	in, ok := k.Connectors.Get(name)
	if !ok {
		panic("no connector " + name)
	}
	return in.Connector.(*sandbox.Connector)
}

// RefuseNext makes the named sandbox refuse the next n calls about email as
// invalid (connectors.KindInvalid: not retried), for tests of front ends,
// which import nothing from connectors.
func (k *Kit) RefuseNext(name, email string, n int) {
	k.Sandbox(name).FailNext(email, n, connectors.KindInvalid, 0)
}

// TotalEffects counts the external effects all sandboxes recorded.
func (k *Kit) TotalEffects() int { return sandbox.TotalEffects(sandbox.InRegistry(k.Connectors)) }

// DuplicateEffects lists effects recorded twice (same system, operation,
// account and change); see sandbox.DuplicateEffects.
func (k *Kit) DuplicateEffects() []string {
	return sandbox.DuplicateEffects(sandbox.InRegistry(k.Connectors))
}

// WaitClosed polls until the case is closed or the deadline passes.
func (k *Kit) WaitClosed(t testing.TB, caseID int64, within time.Duration) *store.Case {
	t.Helper()
	var c *store.Case
	Eventually(t, within, func() bool {
		var err error
		if c, err = k.Store.CaseWithActions(context.Background(), caseID); err != nil {
			t.Fatalf("loading case %d: %v", caseID, err)
		}
		return !store.CaseOpen(c.Status)
	}, func() string { return fmt.Sprintf("case %d still %s:\n%s", caseID, c.Status, engine.Summary(c)) })
	return c
}

// Count counts rows of a model matching a condition.
func (k *Kit) Count(t testing.TB, model any, where string, args ...any) int64 {
	t.Helper()
	var n int64
	q := k.Store.TestDB().Model(model)
	if where != "" {
		q = q.Where(where, args...)
	}
	if err := q.Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// WaitCount waits until at least min rows of a model match a condition,
// polling until within has passed, and returns the count; fewer by then
// fails the test. Use it for rows written after a message or event a test
// has already seen (a posted chat message's stored reference, say), which
// may land a moment later.
func (k *Kit) WaitCount(t testing.TB, min int64, within time.Duration, model any, where string, args ...any) int64 {
	t.Helper()
	var n int64
	testwait.Until(within, func() bool {
		n = k.Count(t, model, where, args...)
		return n >= min
	})
	if n < min {
		t.Fatalf("waited %s for %d %T rows where %s %v: %d", within, min, model, where, args, n)
	}
	return n
}

func write(t testing.TB, dir, name, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
