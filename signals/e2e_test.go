package signals

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/app"
	"github.com/kineticsec/kinetic/internal/compose"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/internal/testwait"
	"github.com/kineticsec/kinetic/store"
)

// fakeIdP is an identity provider's small REST API behind the webhook
// connector: a lookup by email, and a session revocation that the lookup
// then reports. Any other call fails the test.
type fakeIdP struct {
	t       *testing.T
	mu      sync.Mutex
	revoked bool
	calls   []string
}

func (f *fakeIdP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, r.Method+" "+r.URL.RequestURI())
	if r.Header.Get("Authorization") != "Bearer idp-token-e2e" {
		f.t.Errorf("IdP call %s %s without the token", r.Method, r.URL)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/users" && r.URL.Query().Get("email") == "erin@example.test":
		status := "active"
		if f.revoked {
			status = "sessions_revoked"
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"items":[{"id":"00u1ERIN","status":%q}]}`, status)
	case r.Method == http.MethodPost && r.URL.Path == "/users/00u1ERIN/sessions/revoke":
		f.revoked = true
		w.WriteHeader(http.StatusNoContent)
	default:
		f.t.Errorf("unexpected IdP call %s %s", r.Method, r.URL)
		w.WriteHeader(http.StatusNotFound)
	}
}

// End to end, wired as kinetic serve wires it: an offboarding whose policy
// revokes the person's sessions at an identity provider (a real connector
// type, not a simulation) runs through the engine and a worker; the
// transmitter, an observer of the engine, records a CAEP session-revoked
// SET, and it reaches the receiver, which verifies it against the JWKS the
// transmitter publishes.
func TestOffboardingSendsSessionRevokedToReceiver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	idp := &fakeIdP{t: t}
	idpSrv := httptest.NewServer(idp)
	defer idpSrv.Close()
	rcv := newReceiver(t, answer{status: http.StatusAccepted})
	metaMux := http.NewServeMux()
	meta := httptest.NewServer(metaMux)
	defer meta.Close()
	rcv.meta = meta

	dir := t.TempDir()
	t.Setenv("E2E_IDP_TOKEN", "idp-token-e2e")
	t.Setenv("E2E_SSF_AUTHORIZATION", authz)
	if err := os.WriteFile(filepath.Join(dir, "set-key.pem"), []byte(ecPEM(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"directory.json": testkit.Directory,
		"policy.yaml": `version: 1
defaults:
  sla: {critical: 1h, entitlements: 4h, notifications: 24h}
  max_attempts: 3
actions:
  revoke_idp_sessions: {connector: idp, operation: revoke_sessions, phase: critical}
rules:
  - name: everyone
    when: "true"
    add: [revoke_idp_sessions]
`,
		"kinetic.yaml": fmt.Sprintf(`database: {driver: sqlite, path: %s}
redis: {embedded: true}
directory: {file: directory.json}
policy: policy.yaml
admins: [A1]
outbound: {allow_cidrs: [127.0.0.0/8]}
workers: {concurrency: 2, lease: 2s, sweep_interval: 200ms}
log: {level: warn, format: text}
connectors:
  idp:
    type: webhook
    webhook:
      base_url: %s
      auth: {bearer: {env: E2E_IDP_TOKEN}}
      lookup:
        path: "/users?email={{.Email}}"
        id_field: items.0.id
        status_field: items.0.status
        active_values: [active, sessions_revoked]
      operations:
        revoke_sessions:
          path: "/users/{{.Account}}/sessions/revoke"
          verify_status: [sessions_revoked]
signals:
  issuer: %s
  signing_key: {file: set-key.pem}
  receivers:
    siem:
      endpoint: %s
      audience: https://siem.example/ssf
      authorization_header: {env: E2E_SSF_AUTHORIZATION}
`, filepath.Join(dir, "kinetic.db"), idpSrv.URL, meta.URL, rcv.endpoint()),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := compose.Load(filepath.Join(dir, "kinetic.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pol, err := outbound.NewURLPolicy(cfg.Service.Outbound.AllowCIDRs, cfg.Service.Outbound.AllowHosts)
	if err != nil {
		t.Fatal(err)
	}
	l := logrus.New()
	l.Level = logrus.WarnLevel
	l.Out = testLog{t}
	tx, err := New(cfg.Service.Signals, Options{Policy: pol, Log: logrus.NewEntry(l)})
	if err != nil {
		t.Fatal(err)
	}
	tx.Routes()(metaMux)
	a, err := app.Build(ctx, cfg, app.Options{Log: logrus.NewEntry(l), Observers: []engine.Observer{tx}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	tx.Bind(a.Store)
	txCtx, stopTx := context.WithCancel(ctx)
	waitTx := tx.Start(txCtx)
	defer func() { stopTx(); waitTx() }()
	if _, err := a.StartWorker(); err != nil {
		t.Fatal(err)
	}

	o, err := a.Engine.Open(ctx, engine.Request{EmployeeID: "E1", Requester: "A1", Trigger: store.TriggerAPI, Involuntary: true, Reason: "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	c := waitClaims(t, rcv.got)
	ev, ok := c.Events[SessionRevoked.URI()]
	if !ok || c.Txn != fmt.Sprintf("kinetic-case-%d", o.Case.ID) || c.Subject["email"] != "erin@example.test" ||
		c.Issuer != meta.URL || c.Audience != "https://siem.example/ssf" || ev["initiating_entity"] != "admin" {
		js, _ := json.Marshal(c)
		t.Fatalf("SET claims %s", js)
	}
	idp.mu.Lock()
	calls := strings.Join(idp.calls, "\n")
	idp.mu.Unlock()
	if !strings.Contains(calls, "POST /users/00u1ERIN/sessions/revoke") {
		t.Fatalf("the IdP saw no revocation:\n%s", calls)
	}
	// The outbox row is delivered (the receiver answered 202 before the
	// transmitter records it: wait for the record).
	var rows []store.SignalOutbox
	testwait.Eventually(t, 10*time.Second, func() bool {
		rows, err = a.Store.SignalsOf(ctx, o.Case.ID)
		return err == nil && len(rows) == 1 && rows[0].Status == store.SignalDelivered && rows[0].JTI == c.ID
	}, func() string {
		return fmt.Sprintf("outbox %+v (%v): want one delivered row with jti %s", rows, err, c.ID)
	})
}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
