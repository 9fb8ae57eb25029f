package signals

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
	"github.com/kineticsec/kinetic/store"
)

const authz = "Bearer rcv-token-0123456789abcdef"

func ecPEM(t testing.TB) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func rsaPEM(t testing.TB, bits int) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// answer is one scripted receiver answer.
type answer struct {
	status int
	ctype  string
	body   string
	header map[string]string
}

// receiverServer is a SET receiver: it checks each push's method, path,
// headers and body in order, verifies the SET's signature against the
// JWKS the transmitter publishes (read through its metadata document, as
// a receiver would) and its claims, and answers from its script. A push
// beyond the script fails the test.
type receiverServer struct {
	t       *testing.T
	srv     *httptest.Server
	meta    *httptest.Server // the transmitter's published metadata and JWKS
	mu      sync.Mutex
	script  []answer
	got     chan Claims
	headers []jose.Header
	pushes  int
}

func newReceiver(t *testing.T, script ...answer) *receiverServer {
	r := &receiverServer{t: t, script: script, got: make(chan Claims, 16)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiverServer) endpoint() string { return r.srv.URL + "/events" }

func (r *receiverServer) serve(w http.ResponseWriter, req *http.Request) {
	t := r.t
	r.mu.Lock()
	r.pushes++
	if len(r.script) == 0 {
		r.mu.Unlock()
		t.Errorf("unexpected push %s %s", req.Method, req.URL)
		w.WriteHeader(http.StatusTeapot)
		return
	}
	a := r.script[0]
	r.script = r.script[1:]
	r.mu.Unlock()
	if req.Method != http.MethodPost || req.URL.Path != "/events" || req.URL.RawQuery != "" {
		t.Errorf("push is %s %s, want POST /events", req.Method, req.URL)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/secevent+jwt" {
		t.Errorf("Content-Type %q, want application/secevent+jwt", ct)
	}
	if acc := req.Header.Get("Accept"); acc != "application/json" {
		t.Errorf("Accept %q, want application/json", acc)
	}
	if got := req.Header.Get("Authorization"); got != authz {
		t.Errorf("Authorization %q, want the configured header", got)
	}
	body, _ := io.ReadAll(req.Body)
	c, h := r.verify(string(body))
	r.mu.Lock()
	r.headers = append(r.headers, h)
	r.mu.Unlock()
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	if a.ctype != "" {
		w.Header().Set("Content-Type", a.ctype)
	}
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
	if a.status == http.StatusAccepted {
		r.got <- c
	}
}

// verify checks the SET as a receiver does: metadata → jwks_uri → key by
// kid → signature, then typ.
func (r *receiverServer) verify(token string) (Claims, jose.Header) {
	t := r.t
	var c Claims
	if r.meta == nil {
		t.Error("receiver has no transmitter metadata to verify with")
		return c, jose.Header{}
	}
	var md Metadata
	getJSON(t, r.meta.URL+"/.well-known/ssf-configuration", &md)
	var set jose.JSONWebKeySet
	getJSON(t, md.JWKSURI, &set)
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		t.Errorf("SET is not a compact JWS: %v", err)
		return c, jose.Header{}
	}
	h := jws.Signatures[0].Header
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Errorf("kid %q: %d keys in the published JWKS", h.KeyID, len(keys))
		return c, h
	}
	if !keys[0].IsPublic() {
		t.Error("the published JWKS holds a private key")
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Errorf("signature does not verify against the published JWKS: %v", err)
		return c, h
	}
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != SETType {
		t.Errorf("typ %q, want %s", typ, SETType)
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Errorf("claims: %v", err)
	}
	return c, h
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// env is a transmitter on a fresh store with one receiver, its metadata
// served like kinetic serve does.
type env struct {
	st   *store.Store
	tx   *Transmitter
	rcv  *receiverServer
	clk  *clock
	cfg  *configs.Signals
	meta *httptest.Server
}

func newEnv(t *testing.T, st *store.Store, keyPEM string, rcv *receiverServer, tweak func(*configs.Signals)) *env {
	t.Helper()
	e := &env{st: st, rcv: rcv, clk: &clock{t: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}}
	mux := http.NewServeMux()
	e.meta = httptest.NewServer(mux)
	t.Cleanup(e.meta.Close)
	e.cfg = &configs.Signals{
		Issuer: e.meta.URL, SigningKey: secret.FromValue(keyPEM), Lookback: configs.Duration(24 * time.Hour),
		Receivers: map[string]*configs.SignalReceiver{"siem": {
			Endpoint: rcv.endpoint(), Audience: "https://siem.example/ssf", AuthorizationHeader: secret.FromValue(authz),
			SubjectFormat: configs.SubjectEmail, Events: append([]string(nil), configs.SignalEvents...),
		}},
	}
	if tweak != nil {
		tweak(e.cfg)
	}
	pol, err := outbound.NewURLPolicy([]string{"127.0.0.0/8"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.tx, err = New(e.cfg, Options{Policy: pol, Now: e.clk.Now, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e.tx.Routes()(mux)
	e.tx.Bind(st)
	rcv.meta = e.meta
	return e
}

var caseSeq int

// seed writes a case for erin@example.test and one finished action on it.
func seed(t *testing.T, st *store.Store, op connectors.Operation, status string, outcome connectors.Outcome, simulated bool, at time.Time) store.Action {
	t.Helper()
	caseSeq++
	c := store.Case{EmployeeID: fmt.Sprintf("E%d", caseSeq), EmployeeEmail: "erin@example.test", Trigger: store.TriggerAPI, Requester: "A1",
		EffectiveAt: at, Status: store.CaseRunning}
	if err := st.TestDB().Create(&c).Error; err != nil {
		t.Fatal(err)
	}
	a := store.Action{CaseID: c.ID, Name: string(op) + "_okta", Connector: "okta", Operation: string(op), Phase: 1, TargetAccount: "00u1ERIN",
		Status: status, Outcome: string(outcome), FinishedAt: &at, MaxAttempts: 3, Simulated: simulated, Verified: true}
	if err := st.TestDB().Create(&a).Error; err != nil {
		t.Fatal(err)
	}
	return a
}

func waitClaims(t *testing.T, ch <-chan Claims) Claims {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no SET reached the receiver within 10s")
		return Claims{}
	}
}

func rowsOf(t *testing.T, st *store.Store, caseID int64) []store.SignalOutbox {
	t.Helper()
	rows, err := st.SignalsOf(context.Background(), caseID)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// A session revocation on Okta becomes a CAEP session-revoked SET that
// reaches the receiver, verifies against the published JWKS and carries
// the claims RFC 8417 and CAEP 1.0 ask for.
func TestSessionRevokedReachesReceiverAndVerifies(t *testing.T) {
	ctx := context.Background()
	st := store.OpenTest(t)
	rcv := newReceiver(t, answer{status: http.StatusAccepted})
	e := newEnv(t, st, ecPEM(t), rcv, nil)
	finished := e.clk.Now().Add(-time.Minute)
	a := seed(t, st, connectors.OpRevokeSessions, store.ActionSucceeded, connectors.OutcomeDone, false, finished)

	if n, err := e.tx.Record(ctx, a.ID); err != nil || n != 1 {
		t.Fatalf("Record = %d, %v; want 1 row", n, err)
	}
	rep, err := e.tx.DeliverDue(ctx)
	if err != nil || rep.Delivered != 1 {
		t.Fatalf("DeliverDue = %+v, %v", rep, err)
	}
	c := waitClaims(t, rcv.got)
	if c.Issuer != e.meta.URL || c.Audience != "https://siem.example/ssf" || c.IssuedAt != e.clk.Now().Unix() {
		t.Errorf("iss %q aud %q iat %d", c.Issuer, c.Audience, c.IssuedAt)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(c.ID) {
		t.Errorf("jti %q is not 128 random bits", c.ID)
	}
	if c.Txn != fmt.Sprintf("kinetic-case-%d", a.CaseID) {
		t.Errorf("txn %q", c.Txn)
	}
	if c.Subject["format"] != "email" || c.Subject["email"] != "erin@example.test" || len(c.Subject) != 2 {
		t.Errorf("sub_id %v", c.Subject)
	}
	ev, ok := c.Events["https://schemas.openid.net/secevent/caep/event-type/session-revoked"]
	if !ok || len(c.Events) != 1 {
		t.Fatalf("events %v: want exactly session-revoked", c.Events)
	}
	if ev["initiating_entity"] != "admin" || ev["event_timestamp"] != float64(finished.Unix()) {
		t.Errorf("event payload %v", ev)
	}
	if h := rcv.headers[0]; h.Algorithm != "ES256" || h.KeyID != e.tx.Signer().KeyID() {
		t.Errorf("header alg %q kid %q", h.Algorithm, h.KeyID)
	}
	rows := rowsOf(t, st, a.CaseID)
	if len(rows) != 1 || rows[0].Status != store.SignalDelivered || rows[0].Attempts != 1 || rows[0].JTI != c.ID || rows[0].DeliveredAt == nil {
		t.Fatalf("outbox %+v", rows)
	}
	// Delivered once: nothing more goes out.
	if rep, err := e.tx.DeliverDue(ctx); err != nil || rep != (Report{}) {
		t.Fatalf("second DeliverDue = %+v, %v", rep, err)
	}
}

// An RSA key signs RS256 and the published JWKS verifies it.
func TestRSAKeySignsRS256(t *testing.T) {
	ctx := context.Background()
	st := store.OpenTest(t)
	rcv := newReceiver(t, answer{status: http.StatusAccepted})
	e := newEnv(t, st, rsaPEM(t, 2048), rcv, nil)
	a := seed(t, st, connectors.OpDisableAccount, store.ActionSucceeded, connectors.OutcomeDone, false, e.clk.Now())
	if _, err := e.tx.Record(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.tx.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	c := waitClaims(t, rcv.got)
	if ev, ok := c.Events["https://schemas.openid.net/secevent/risc/event-type/account-disabled"]; !ok || len(ev) != 0 {
		t.Errorf("events %v: want RISC account-disabled with an empty payload", c.Events)
	}
	if rcv.headers[0].Algorithm != "RS256" {
		t.Errorf("alg %q, want RS256", rcv.headers[0].Algorithm)
	}
}

// The operation table decides what is sent; outcomes that changed nothing
// and simulated systems send nothing; recording twice adds nothing.
func TestRecordFollowsTheOperationTable(t *testing.T) {
	ctx := context.Background()
	st := store.OpenTest(t)
	e := newEnv(t, st, ecPEM(t), newReceiver(t), nil)
	now := e.clk.Now()
	for _, tc := range []struct {
		name      string
		op        connectors.Operation
		status    string
		outcome   connectors.Outcome
		simulated bool
		want      EventType
	}{
		{"revoke_sessions done", connectors.OpRevokeSessions, store.ActionSucceeded, connectors.OutcomeDone, false, SessionRevoked},
		{"disable_account already done (a retry after an unrecorded success)", connectors.OpDisableAccount, store.ActionSucceeded, connectors.OutcomeAlreadyDone, false, AccountDisabled},
		{"deactivate_user", connectors.OpDeactivateUser, store.ActionSucceeded, connectors.OutcomeDone, false, AccountDisabled},
		{"delete_access_keys", connectors.OpDeleteAccessKeys, store.ActionSucceeded, connectors.OutcomeDone, false, CredentialChange},
		{"remove_group_memberships sends nothing", connectors.OpRemoveGroupMemberships, store.ActionSucceeded, connectors.OutcomeDone, false, ""},
		{"none found sends nothing", connectors.OpRevokeSessions, store.ActionSucceeded, connectors.OutcomeNoneFound, false, ""},
		{"simulated system sends nothing", connectors.OpRevokeSessions, store.ActionSucceeded, connectors.OutcomeDone, true, ""},
		{"failed action sends nothing", connectors.OpDisableAccount, store.ActionFailed, "", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := seed(t, st, tc.op, tc.status, tc.outcome, tc.simulated, now)
			n, err := e.tx.Record(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			rows := rowsOf(t, st, a.CaseID)
			if tc.want == "" {
				if n != 0 || len(rows) != 0 {
					t.Fatalf("recorded %d rows %+v, want none", n, rows)
				}
				return
			}
			if n != 1 || len(rows) != 1 || rows[0].EventType != string(tc.want) || rows[0].Status != store.SignalPending {
				t.Fatalf("recorded %d rows %+v, want one pending %s", n, rows, tc.want)
			}
			var c Claims
			if err := json.Unmarshal([]byte(rows[0].Claims), &c); err != nil {
				t.Fatal(err)
			}
			if _, ok := c.Events[tc.want.URI()]; !ok {
				t.Errorf("events %v lack %s", c.Events, tc.want.URI())
			}
			if tc.want == CredentialChange {
				ev := c.Events[tc.want.URI()]
				if ev["credential_type"] != CredentialTypeAccessKey || ev["change_type"] != "delete" {
					t.Errorf("credential-change payload %v", ev)
				}
			}
			if n, err := e.tx.Record(ctx, a.ID); err != nil || n != 0 {
				t.Errorf("recording again = %d, %v; want 0 new rows", n, err)
			}
		})
	}
}

// Every operation the table names exists, and every event type has a URI
// and is a configs.SignalEvents name.
func TestOperationTableIsConsistent(t *testing.T) {
	for op, sigs := range operationSignals {
		if !connectors.Supports(connectors.AllOperations, op) {
			t.Errorf("table names unknown operation %q", op)
		}
		for _, s := range sigs {
			if s.Type.URI() == "" {
				t.Errorf("%s: event %q has no URI", op, s.Type)
			}
			if s.Type == CredentialChange && (s.CredentialType == "" || s.ChangeType == "") {
				t.Errorf("%s: credential-change needs credential_type and change_type", op)
			}
		}
	}
	if len(EventTypes) != len(configs.SignalEvents) {
		t.Fatalf("EventTypes %v vs configs.SignalEvents %v", EventTypes, configs.SignalEvents)
	}
	for i, ev := range EventTypes {
		if string(ev) != configs.SignalEvents[i] {
			t.Errorf("EventTypes[%d] = %q, configs.SignalEvents[%d] = %q", i, ev, i, configs.SignalEvents[i])
		}
	}
}

// Subject formats: email, opaque (the HR id) and iss_sub (the account in
// the system acted on, under its configured issuer; email without one).
func TestSubjectFormats(t *testing.T) {
	src := store.SignalSource{Connector: "okta", TargetAccount: "00u1ERIN", EmployeeID: "E1", EmployeeEmail: "erin@example.test"}
	iss := map[string]string{"okta": "https://acme.okta.com"}
	for _, tc := range []struct {
		format string
		src    store.SignalSource
		want   map[string]string
	}{
		{configs.SubjectEmail, src, map[string]string{"format": "email", "email": "erin@example.test"}},
		{configs.SubjectOpaque, src, map[string]string{"format": "opaque", "id": "E1"}},
		{configs.SubjectIssSub, src, map[string]string{"format": "iss_sub", "iss": "https://acme.okta.com", "sub": "00u1ERIN"}},
		{configs.SubjectIssSub, store.SignalSource{Connector: "ad", TargetAccount: "erin", EmployeeID: "E1", EmployeeEmail: "erin@example.test"},
			map[string]string{"format": "email", "email": "erin@example.test"}},
		{configs.SubjectEmail, store.SignalSource{EmployeeID: "E1"}, map[string]string{"format": "opaque", "id": "E1"}},
	} {
		got := subjectOf(tc.format, tc.src, iss)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s %+v: %v, want %v", tc.format, tc.src, got, tc.want)
		}
	}
}

func rowOf(t *testing.T, st *store.Store, caseID int64) store.SignalOutbox {
	t.Helper()
	rows := rowsOf(t, st, caseID)
	if len(rows) != 1 {
		t.Fatalf("outbox %+v, want one row", rows)
	}
	return rows[0]
}

// A receiver that fails (an HTML 503, a 500, a 429 with Retry-After) is
// retried with back-off — never before the row is due — and the SET is
// delivered, with the same jti, once it answers 202.
func TestRetriedAfter5xxAnd429UntilAccepted(t *testing.T) {
	ctx := context.Background()
	st := store.OpenTest(t)
	rcv := newReceiver(t,
		answer{status: 503, ctype: "text/html", body: "<html><body>Service Unavailable</body></html>"},
		answer{status: 500, ctype: "application/json", body: `{"message":"boom"}`},
		answer{status: 429, header: map[string]string{"Retry-After": "120"}},
		answer{status: 202},
	)
	e := newEnv(t, st, ecPEM(t), rcv, nil)
	a := seed(t, st, connectors.OpRevokeSessions, store.ActionSucceeded, connectors.OutcomeDone, false, e.clk.Now())
	if _, err := e.tx.Record(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	jti := rowOf(t, st, a.CaseID).JTI
	for i, want := range []struct {
		wait    time.Duration
		errPart string
	}{
		{10 * time.Second, "status 503"},
		{20 * time.Second, "status 500"},
		{120 * time.Second, "rate_limited"}, // Retry-After beats the 40s back-off
	} {
		rep, err := e.tx.DeliverDue(ctx)
		if err != nil || rep.Retrying != 1 {
			t.Fatalf("attempt %d: %+v, %v", i+1, rep, err)
		}
		row := rowOf(t, st, a.CaseID)
		if row.Status != store.SignalPending || row.Attempts != i+1 || !row.NextAttemptAt.Equal(e.clk.Now().Add(want.wait)) ||
			!strings.Contains(row.LastError, want.errPart) {
			t.Fatalf("attempt %d: row %+v; want pending, next in %s, error with %q", i+1, row, want.wait, want.errPart)
		}
		// Not due yet: nothing is pushed (the script would fail the test).
		e.clk.Add(want.wait - time.Second)
		if rep, err := e.tx.DeliverDue(ctx); err != nil || rep != (Report{}) {
			t.Fatalf("before due: %+v, %v", rep, err)
		}
		e.clk.Add(time.Second)
	}
	if rep, err := e.tx.DeliverDue(ctx); err != nil || rep.Delivered != 1 {
		t.Fatalf("last attempt: %+v, %v", rep, err)
	}
	if c := waitClaims(t, rcv.got); c.ID != jti {
		t.Errorf("delivered jti %q, recorded %q", c.ID, jti)
	}
	if row := rowOf(t, st, a.CaseID); row.Status != store.SignalDelivered || row.Attempts != 4 {
		t.Fatalf("row %+v", row)
	}
}

// The outbox survives a restart: a SET recorded and refused with a 503 by
// one process is delivered by the next one on the same database, and an
// action whose SET was never recorded (the process stopped between the
// action's commit and the observer) is found by the catch-up scan.
func TestOutboxSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/kinetic.db"
	open := func() *store.Store {
		st, err := store.Open(ctx, store.Options{Driver: store.DialectSQLite, Path: path})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return st
	}
	key := ecPEM(t)
	st1 := open()
	rcv := newReceiver(t, answer{status: 503, body: "down"}, answer{status: 202}, answer{status: 202})
	e1 := newEnv(t, st1, key, rcv, nil)
	a := seed(t, st1, connectors.OpRevokeSessions, store.ActionSucceeded, connectors.OutcomeDone, false, e1.clk.Now())
	missed := seed(t, st1, connectors.OpDisableAccount, store.ActionSucceeded, connectors.OutcomeDone, false, e1.clk.Now())
	if _, err := e1.tx.Record(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if rep, err := e1.tx.DeliverDue(ctx); err != nil || rep.Retrying != 1 {
		t.Fatalf("first process: %+v, %v", rep, err)
	}
	jti := rowOf(t, st1, a.CaseID).JTI
	if err := st1.Close(); err != nil {
		t.Fatal(err)
	}

	st2 := open()
	t.Cleanup(func() { _ = st2.Close() })
	e2 := newEnv(t, st2, key, rcv, nil)
	e2.clk.Add(time.Hour)
	if n, err := e2.tx.Scan(ctx); err != nil || n != 1 {
		t.Fatalf("catch-up scan recorded %d, %v; want the missed action's SET", n, err)
	}
	if n, err := e2.tx.Scan(ctx); err != nil || n != 0 {
		t.Fatalf("second scan recorded %d, %v; want none", n, err)
	}
	if rep, err := e2.tx.DeliverDue(ctx); err != nil || rep.Delivered != 2 {
		t.Fatalf("second process: %+v, %v", rep, err)
	}
	seen := map[string]bool{}
	for range 2 {
		c := waitClaims(t, rcv.got)
		for uri := range c.Events {
			seen[uri] = true
		}
		if c.Txn == fmt.Sprintf("kinetic-case-%d", a.CaseID) && c.ID != jti {
			t.Errorf("redelivered jti %q, recorded %q", c.ID, jti)
		}
	}
	if !seen[SessionRevoked.URI()] || !seen[AccountDisabled.URI()] {
		t.Errorf("delivered %v", seen)
	}
	if row := rowOf(t, st2, missed.CaseID); row.Status != store.SignalDelivered {
		t.Errorf("missed action's row %+v", row)
	}
}

// A receiver's refusals are classified: RFC 8935 error codes, 401, 403 and
// other 4xx are permanent (the row is marked failed, kept, and retried
// only when a transmitter starts again); 5xx, 408 and 429 are retried. The
// receiver's description is kept, without the authorization header's
// value even when the receiver echoes it.
func TestRefusalsAreClassified(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ans       answer
		kind      connectors.Kind
		code      string
		status    string
		descPart  string
		retryWait time.Duration
	}{
		{"400 invalid_key", answer{status: 400, ctype: "application/json", body: `{"err":"invalid_key","description":"Key ID 12345 has been revoked."}`},
			connectors.KindInvalid, ErrInvalidKey, store.SignalFailed, "Key ID 12345 has been revoked.", 0},
		{"400 invalid_audience", answer{status: 400, ctype: "application/json", body: `{"err":"invalid_audience","description":"not us"}`},
			connectors.KindInvalid, ErrInvalidAudience, store.SignalFailed, "not us", 0},
		{"400 authentication_failed echoing the token", answer{status: 400, ctype: "application/json", body: `{"err":"authentication_failed","description":"bad header ` + authz + `"}`},
			connectors.KindInvalid, ErrAuthenticationFailed, store.SignalFailed, "bad header <secret>", 0},
		{"400 HTML", answer{status: 400, ctype: "text/html", body: "<html>Bad Request</html>"},
			connectors.KindInvalid, "", store.SignalFailed, "an HTML page", 0},
		{"400 malformed JSON", answer{status: 400, ctype: "application/json", body: `{"err":`},
			connectors.KindInvalid, "", store.SignalFailed, "JSON without an err member", 0},
		{"401", answer{status: 401}, connectors.KindAuth, "", store.SignalFailed, "", 0},
		{"403 access_denied", answer{status: 403, ctype: "application/json", body: `{"err":"access_denied"}`}, connectors.KindForbidden, ErrAccessDenied, store.SignalFailed, "", 0},
		{"404", answer{status: 404, body: "no such stream"}, connectors.KindNotFound, "", store.SignalFailed, "no such stream", 0},
		{"302 is not followed", answer{status: 302, header: map[string]string{"Location": "http://127.0.0.1:1/elsewhere"}}, connectors.KindInvalid, "", store.SignalFailed, "", 0},
		{"408", answer{status: 408}, connectors.KindTransient, "", store.SignalPending, "", 10 * time.Second},
		{"502 HTML", answer{status: 502, ctype: "text/html", body: "<!DOCTYPE html><p>Bad gateway"}, connectors.KindTransient, "", store.SignalPending, "an HTML page", 10 * time.Second},
		{"429 Retry-After", answer{status: 429, header: map[string]string{"Retry-After": "3600"}}, connectors.KindRateLimited, "", store.SignalPending, "", time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st := store.OpenTest(t)
			rcv := newReceiver(t, tc.ans)
			e := newEnv(t, st, ecPEM(t), rcv, nil)
			a := seed(t, st, connectors.OpRevokeSessions, store.ActionSucceeded, connectors.OutcomeDone, false, e.clk.Now())
			if _, err := e.tx.Record(ctx, a.ID); err != nil {
				t.Fatal(err)
			}
			// The classification, as push reports it.
			row := rowOf(t, st, a.CaseID)
			token, err := e.tx.signer.Sign([]byte(row.Claims))
			if err != nil {
				t.Fatal(err)
			}
			rcv.mu.Lock()
			rcv.script = append(rcv.script, tc.ans) // once for push, once for DeliverDue
			rcv.mu.Unlock()
			perr := push(ctx, e.tx.client, e.tx.receivers["siem"], token)
			if connectors.KindOf(perr) != tc.kind {
				t.Fatalf("kind %q (%v), want %q", connectors.KindOf(perr), perr, tc.kind)
			}
			var pe *PushError
			if !errors.As(perr, &pe) || pe.Code != tc.code || pe.Status != tc.ans.status || !strings.Contains(pe.Description, tc.descPart) {
				t.Fatalf("push error %#v, want code %q, description with %q", pe, tc.code, tc.descPart)
			}
			if strings.Contains(perr.Error(), "rcv-token") {
				t.Fatalf("error carries the receiver's token: %v", perr)
			}
			// The outbox row, as DeliverDue leaves it.
			if _, err := e.tx.DeliverDue(ctx); err != nil {
				t.Fatal(err)
			}
			row = rowOf(t, st, a.CaseID)
			if row.Status != tc.status || row.Attempts != 1 || strings.Contains(row.LastError, "rcv-token") {
				t.Fatalf("row %+v, want %s after one attempt", row, tc.status)
			}
			if tc.status == store.SignalPending && !row.NextAttemptAt.Equal(e.clk.Now().Add(tc.retryWait)) {
				t.Errorf("next attempt %s, want now+%s", row.NextAttemptAt, tc.retryWait)
			}
			if tc.status == store.SignalFailed {
				// Refused rows are retried when a transmitter starts again
				// (its configuration may have been fixed).
				if n, err := st.RequeueFailedSignals(ctx, "siem", e.clk.Now()); err != nil || n != 1 {
					t.Fatalf("requeue = %d, %v", n, err)
				}
				if row := rowOf(t, st, a.CaseID); row.Status != store.SignalPending {
					t.Fatalf("requeued row %+v", row)
				}
			}
		})
	}
}

// A network failure (nothing listening) is retryable and names only the
// endpoint's scheme and host, not its path or query.
func TestUnreachableReceiverIsRetriedWithoutLeakingTheURL(t *testing.T) {
	ctx := context.Background()
	st := store.OpenTest(t)
	rcv := newReceiver(t)
	e := newEnv(t, st, ecPEM(t), rcv, func(c *configs.Signals) {
		c.Receivers["siem"].Endpoint = "http://127.0.0.1:1/events?token=query-secret"
	})
	a := seed(t, st, connectors.OpRevokeSessions, store.ActionSucceeded, connectors.OutcomeDone, false, e.clk.Now())
	if _, err := e.tx.Record(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if rep, err := e.tx.DeliverDue(ctx); err != nil || rep.Retrying != 1 {
		t.Fatalf("%+v, %v", rep, err)
	}
	row := rowOf(t, st, a.CaseID)
	if row.Status != store.SignalPending || strings.Contains(row.LastError, "query-secret") || !strings.Contains(row.LastError, "transient") {
		t.Fatalf("row %+v", row)
	}
}

// Running, the transmitter records an observed action's SET and delivers
// it without being asked; the receiver gets it.
func TestObservedActionIsDelivered(t *testing.T) {
	st := store.OpenTest(t)
	rcv := newReceiver(t, answer{status: http.StatusAccepted})
	e := newEnv(t, st, ecPEM(t), rcv, func(c *configs.Signals) { c.Lookback = configs.Duration(time.Minute) })
	// Finished before the lookback: only the observer can find it.
	a := seed(t, st, connectors.OpRevokeSessions, store.ActionSucceeded, connectors.OutcomeDone, false, e.clk.Now().Add(-time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	wait := e.tx.Start(ctx)
	defer func() { cancel(); wait() }()
	e.tx.Observe(engine.Event{Kind: engine.EventAction, CaseID: a.CaseID, ActionID: a.ID, Status: store.ActionRunning})
	e.tx.Observe(engine.Event{Kind: engine.EventAction, CaseID: a.CaseID, ActionID: a.ID, Status: store.ActionSucceeded})
	c := waitClaims(t, rcv.got)
	if _, ok := c.Events[SessionRevoked.URI()]; !ok || c.Txn != fmt.Sprintf("kinetic-case-%d", a.CaseID) {
		t.Fatalf("claims %+v", c)
	}
}

// The metadata (SSF 1.0) is served where the issuer's path says, and
// names a JWKS with the public key only.
func TestMetadataPaths(t *testing.T) {
	for issuer, want := range map[string]string{
		"https://kinetic.example":         "/.well-known/ssf-configuration",
		"https://kinetic.example/":        "/.well-known/ssf-configuration",
		"https://kinetic.example/t/acme":  "/.well-known/ssf-configuration/t/acme",
		"https://kinetic.example/t/acme/": "/.well-known/ssf-configuration/t/acme",
	} {
		if got := MetadataPath(issuer); got != want {
			t.Errorf("MetadataPath(%q) = %q, want %q", issuer, got, want)
		}
	}
	st := store.OpenTest(t)
	e := newEnv(t, st, ecPEM(t), newReceiver(t), nil)
	var md map[string]any
	getJSON(t, e.meta.URL+"/.well-known/ssf-configuration", &md)
	if md["spec_version"] != "1_0" || md["issuer"] != e.meta.URL || md["jwks_uri"] != e.meta.URL+JWKSPath ||
		fmt.Sprint(md["delivery_methods_supported"]) != "[urn:ietf:rfc:8935]" || len(md) != 4 {
		t.Fatalf("metadata %v", md)
	}
	resp, err := http.Get(e.meta.URL + JWKSPath)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/jwk-set+json" {
		t.Errorf("JWKS Content-Type %q", ct)
	}
	if strings.Contains(string(body), `"d"`) {
		t.Fatalf("the JWKS publishes the private key: %s", body)
	}
	if r, _ := http.Post(e.meta.URL+JWKSPath, "text/plain", nil); r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST to the JWKS: %d", r.StatusCode)
	}
}

// Keys other than ECDSA P-256 and RSA ≥ 2048 are refused, and the error
// never repeats the key.
func TestSigningKeyRefusals(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der, _ := x509.MarshalECPrivateKey(p384)
	for name, pemText := range map[string]string{
		"P-384":       string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})),
		"RSA 1024":    rsaPEM(t, 1024),
		"not PEM":     "secret-not-a-key",
		"certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
	} {
		_, err := NewSigner(pemText, "")
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), "secret-not-a-key") || strings.Contains(err.Error(), "MII") {
			t.Errorf("%s: error repeats the key: %v", name, err)
		}
	}
}

// The outbox collector reports the rows by status.
func TestOutboxCollector(t *testing.T) {
	ctx := context.Background()
	st := store.OpenTest(t)
	rcv := newReceiver(t, answer{status: http.StatusAccepted})
	e := newEnv(t, st, ecPEM(t), rcv, nil)
	for _, op := range []connectors.Operation{connectors.OpRevokeSessions, connectors.OpDisableAccount} {
		a := seed(t, st, op, store.ActionSucceeded, connectors.OutcomeDone, false, e.clk.Now())
		if _, err := e.tx.Record(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := st.ClaimDueSignals(ctx, e.clk.Now(), time.Minute, 1)
	if err != nil || len(rows) != 1 {
		t.Fatal(rows, err)
	}
	if err := st.MarkSignalDelivered(ctx, rows[0].ID, 1, e.clk.Now()); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(OutboxCollector{Store: st})
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 {
		t.Fatalf("gather: %v, %v", mfs, err)
	}
	got := map[string]float64{}
	for _, m := range mfs[0].GetMetric() {
		got[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
	}
	if fmt.Sprint(got) != "map[delivered:1 failed:0 pending:1]" {
		t.Fatalf("kinetic_signals_outbox %v", got)
	}
}

// Two processes delivering the same outbox at once push each SET once:
// every row is claimed before it is pushed.
func TestTwoTransmittersPushEachSETOnce(t *testing.T) {
	ctx := context.Background()
	st := store.OpenTest(t)
	var script []answer
	for range 6 {
		script = append(script, answer{status: http.StatusAccepted})
	}
	rcv := newReceiver(t, script...)
	key := ecPEM(t)
	e1 := newEnv(t, st, key, rcv, nil)
	e2 := newEnv(t, st, key, rcv, nil)
	for range 6 {
		a := seed(t, st, connectors.OpRevokeSessions, store.ActionSucceeded, connectors.OutcomeDone, false, e1.clk.Now())
		if _, err := e1.tx.Record(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		// The other process's observer or scan records it too: no new row.
		if n, err := e2.tx.Record(ctx, a.ID); err != nil || n != 0 {
			t.Fatalf("second Record = %d, %v", n, err)
		}
	}
	var wg sync.WaitGroup
	reps := make([]Report, 2)
	for i, e := range []*env{e1, e2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep, err := e.tx.DeliverDue(ctx)
			if err != nil {
				t.Errorf("DeliverDue: %v", err)
			}
			reps[i] = rep
		}()
	}
	wg.Wait()
	if reps[0].Delivered+reps[1].Delivered != 6 {
		t.Fatalf("delivered %+v, want 6 in all", reps)
	}
	seen := map[string]bool{}
	for range 6 {
		c := waitClaims(t, rcv.got)
		if seen[c.ID] {
			t.Fatalf("jti %s pushed twice", c.ID)
		}
		seen[c.ID] = true
	}
	rcv.mu.Lock()
	pushes := rcv.pushes
	rcv.mu.Unlock()
	if pushes != 6 {
		t.Fatalf("%d pushes, want 6", pushes)
	}
}
