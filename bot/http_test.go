package bot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/bot"
	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// redisDB is this package's Redis database (packages are tested in
// parallel against one server).
const redisDB = 4

// token is the API token of the "hris" client.
const token = "test-token-123"

// portalToken is the token of "portal", a second legacy client (every
// scope, act_as "*"): one client is one approver, so a chain needs a
// second principal.
const portalToken = "test-token-portal-456"

// testPeople are the testkit people that have an API client of their own
// ("as-M1"…), each with every scope and acting only for that person: how
// a two-person chain is decided by two principals.
var testPeople = []string{"A1", "H1", "H2", "L1", "L2", "S1", "M1", "X1", "E1", "E2", "E4"}

func personClients() map[string]bot.APIClient {
	cs := map[string]bot.APIClient{}
	for _, id := range testPeople {
		cs["as-"+id] = bot.APIClient{Token: "test-token-as-" + id, Scopes: slices.Clone(configs.APIScopes), ActAs: []string{id}}
	}
	return cs
}

// bearerFor is the Authorization header of the client acting for id only.
func bearerFor(id string) string { return "Bearer test-token-as-" + id }

// server is a real Kinetic (testkit) behind bot.NewHandler on an
// httptest server, recording every response and the handler's log so
// tests can check nothing leaks.
type server struct {
	k    *testkit.Kit
	srv  *httptest.Server
	logs *syncBuffer

	mu        sync.Mutex
	responses []string // status line, headers and body of every response
}

func newServer(t *testing.T, o testkit.Options, worker bool) *server {
	t.Helper()
	return newServerWith(t, o, worker, personClients())
}

// newServerWith is newServer with clients besides the legacy hris and
// portal tokens.
func newServerWith(t *testing.T, o testkit.Options, worker bool, clients map[string]bot.APIClient) *server {
	t.Helper()
	o.RedisDB = redisDB
	k := testkit.New(t, o)
	if worker {
		if _, err := k.StartWorker(); err != nil {
			t.Fatalf("starting a worker: %v", err)
		}
	}
	logs := &syncBuffer{}
	l := logrus.New()
	l.Out = logs
	l.Level = logrus.DebugLevel
	l.Formatter = &logrus.JSONFormatter{}
	h := bot.NewHandler(bot.ServerOptions{
		Engine: k.Engine, Ready: k.Ready, Metrics: k.Metrics,
		APITokens: map[string]string{"hris": token, "portal": portalToken}, APIClients: clients, Log: logrus.NewEntry(l),
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &server{k: k, srv: srv, logs: logs}
}

// response is one recorded answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a map, failing the test if it is not JSON.
func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v\n%s", err, r.body)
	}
	return m
}

// do sends a request; auth is the whole Authorization header ("" for none).
func (s *server) do(t *testing.T, method, path, auth, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	var rec strings.Builder
	fmt.Fprintf(&rec, "%s\n", res.Status)
	_ = res.Header.Write(&rec)
	rec.Write(b)
	s.mu.Lock()
	s.responses = append(s.responses, rec.String())
	s.mu.Unlock()
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// waitClosed polls GET /api/v1/cases/{id} until the case is closed.
func (s *server) waitClosed(t *testing.T, id int64, within time.Duration) map[string]any {
	t.Helper()
	var (
		c map[string]any
		r response
	)
	testkit.Eventually(t, within, func() bool {
		r = s.do(t, "GET", fmt.Sprintf("/api/v1/cases/%d", id), "Bearer "+token, "")
		if r.status != http.StatusOK {
			t.Fatalf("GET case %d: status %d: %s", id, r.status, r.body)
		}
		c = r.json(t)
		st, _ := c["status"].(string)
		return !store.CaseOpen(st)
	}, func() string { return fmt.Sprintf("case %d still %v:\n%s", id, c["status"], r.body) })
	return c
}

func (s *server) cases(t *testing.T) int64 {
	t.Helper()
	return s.k.Count(t, &store.Case{}, "")
}

func TestProbes(t *testing.T) {
	s := newServer(t, testkit.Options{}, false)
	for _, tc := range []struct {
		name, path string
		status     int
		want       string
	}{
		{"liveness answers ok", "/healthz", http.StatusOK, `"status": "ok"`},
		{"readiness answers ready when the database and Redis answer", "/readyz", http.StatusOK, `"status": "ready"`},
		{"metrics are served without a token", "/metrics", http.StatusOK, "kinetic_queue_tasks"},
		{"unknown paths are 404", "/nope", http.StatusNotFound, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(t, "GET", tc.path, "", "")
			if r.status != tc.status {
				t.Fatalf("GET %s: status %d, want %d: %s", tc.path, r.status, tc.status, r.body)
			}
			if !strings.Contains(string(r.body), tc.want) {
				t.Errorf("GET %s: body does not contain %q:\n%s", tc.path, tc.want, r.body)
			}
		})
	}

	// The error text (addresses, driver messages) goes to the log; anyone
	// may ask /readyz, so it only names the dependency (issue 12, item 7;
	// this answer carried the error text before).
	t.Run("readiness answers 503 naming the dependency, never its error", func(t *testing.T) {
		logs := &syncBuffer{}
		l := logrus.New()
		l.Out = logs
		h := bot.NewHandler(bot.ServerOptions{
			Engine: s.k.Engine, Log: logrus.NewEntry(l),
			Ready: func(context.Context) error {
				return &downError{"redis", errors.New("dial tcp 127.0.0.1:1: connect: connection refused")}
			},
		})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503: %s", rec.Code, rec.Body)
		}
		var m map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		if m["status"] != "unavailable" || m["down"] != "redis" || !strings.Contains(m["error"], "redis") {
			t.Errorf("body = %v, want status unavailable and redis named", m)
		}
		for _, leak := range []string{"dial tcp", "127.0.0.1", "connection refused"} {
			if strings.Contains(rec.Body.String(), leak) {
				t.Errorf("the answer shows the error's %q: %s", leak, rec.Body)
			}
		}
		if !strings.Contains(logs.String(), "connection refused") || !strings.Contains(logs.String(), "dependency=redis") {
			t.Errorf("the log lacks the error: %s", logs)
		}
		// An error that names no dependency says no more.
		h = bot.NewHandler(bot.ServerOptions{Engine: s.k.Engine, Log: logrus.NewEntry(l),
			Ready: func(context.Context) error { return errors.New("pq: password authentication failed for user kinetic") }})
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "pq:") || strings.Contains(rec.Body.String(), "kinetic") {
			t.Errorf("status %d: %s", rec.Code, rec.Body)
		}
		// Liveness does not depend on the dependencies.
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		if rec.Code != http.StatusOK {
			t.Errorf("/healthz: status %d, want 200", rec.Code)
		}
	})

	t.Run("readiness respects its own deadline when a check hangs", func(t *testing.T) {
		h := bot.NewHandler(bot.ServerOptions{
			Engine: s.k.Engine,
			Ready: func(ctx context.Context) error {
				<-ctx.Done()
				return ctx.Err()
			},
		})
		rec := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503", rec.Code)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("readiness took %s", d)
		}
	})

	t.Run("without API tokens every API call is refused", func(t *testing.T) {
		h := bot.NewHandler(bot.ServerOptions{Engine: s.k.Engine})
		for _, auth := range []string{"", "Bearer ", "Bearer " + token} {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("POST", "/api/v1/cases", strings.NewReader(`{"employee_id":"E1"}`))
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusUnauthorized {
				t.Errorf("Authorization %q: status %d, want 401", auth, rec.Code)
			}
		}
		if n := s.cases(t); n != 0 {
			t.Errorf("%d cases created, want 0", n)
		}
	})
}

// TestAPI walks the case API the way an HR system uses it: refused
// requests first (none may create anything), then a case that runs to
// completion, its duplicates and its status.
func TestAPI(t *testing.T) {
	// A little latency keeps E1's case open long enough to be refused as
	// a duplicate right after it is created.
	s := newServer(t, testkit.Options{Latency: 50 * time.Millisecond}, true)
	bearer := "Bearer " + token

	t.Run("refused requests create nothing", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			method string
			path   string
			auth   string
			body   string
			status int
			want   string // in the error message
		}{
			{"no token is 401", "POST", "/api/v1/cases", "", `{"employee_id":"E1"}`, 401, "bearer token"},
			{"a wrong token is 401", "POST", "/api/v1/cases", "Bearer wrong-token", `{"employee_id":"E1"}`, 401, "bearer token"},
			{"a token prefix is 401", "POST", "/api/v1/cases", "Bearer " + token[:len(token)-1], `{"employee_id":"E1"}`, 401, "bearer token"},
			{"the token under another scheme is 401", "POST", "/api/v1/cases", "Basic " + token, `{"employee_id":"E1"}`, 401, "bearer token"},
			{"an empty bearer is 401", "POST", "/api/v1/cases", "Bearer ", `{"employee_id":"E1"}`, 401, "bearer token"},
			{"reading a case needs a token too", "GET", "/api/v1/cases/1", "", "", 401, "bearer token"},
			{"malformed JSON is 400", "POST", "/api/v1/cases", bearer, `{"employee_id":`, 400, "malformed JSON"},
			{"an empty body is 400", "POST", "/api/v1/cases", bearer, "", 400, "malformed JSON"},
			{"an unknown field is 400", "POST", "/api/v1/cases", bearer, `{"employee_id":"E1","manager":"M1"}`, 400, `unknown field "manager"`},
			{"trailing data is 400", "POST", "/api/v1/cases", bearer, `{"employee_id":"E1"} {"employee_id":"E2"}`, 400, "trailing data"},
			{"a wrong type is 400", "POST", "/api/v1/cases", bearer, `{"employee_id":"E1","involuntary":"yes"}`, 400, "malformed JSON"},
			{"a bad effective_at is 400", "POST", "/api/v1/cases", bearer, `{"employee_id":"E1","effective_at":"next tuesday"}`, 400, "RFC 3339"},
			{"no employee is 400", "POST", "/api/v1/cases", bearer, `{"reason":"resigned"}`, 400, "employee id or email is required"},
			{"a reason over 1000 characters is 400", "POST", "/api/v1/cases", bearer, `{"employee_id":"E1","reason":"` + strings.Repeat("x", 1001) + `"}`, 400, "longer than 1000"},
			{"an unknown employee is 404", "POST", "/api/v1/cases", bearer, `{"employee_id":"NOPE"}`, 404, "not in the HR directory"},
			{"an unknown email is 404", "POST", "/api/v1/cases", bearer, `{"email":"nobody@example.test"}`, 404, "not in the HR directory"},
			{"an inactive employee is 422", "POST", "/api/v1/cases", bearer, `{"employee_id":"E3"}`, 422, "not active"},
			{"a colleague may not offboard someone", "POST", "/api/v1/cases", bearer, `{"employee_id":"E1","requested_by":"X1"}`, 403, "not E1's manager"},
			{"nobody may offboard themselves", "POST", "/api/v1/cases", bearer, `{"employee_id":"E1","requested_by":"E1"}`, 403, "themselves"},
			{"a requester outside HR data is 403", "POST", "/api/v1/cases", bearer, `{"employee_id":"E1","requested_by":"Z9"}`, 403, "not in the HR directory"},
			{"listing cases is not a route", "GET", "/api/v1/cases", bearer, "", 405, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := s.do(t, tc.method, tc.path, tc.auth, tc.body)
				if r.status != tc.status {
					t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
				}
				if tc.status == 401 {
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
			})
		}
		if n := s.cases(t); n != 0 {
			t.Fatalf("refused requests created %d cases", n)
		}
		if n := s.k.Count(t, &store.AuditEvent{}, ""); n != 0 {
			t.Fatalf("refused requests wrote %d audit events", n)
		}
	})

	// The actions the test policy gives E1.
	plan, err := s.k.Engine.Plan(context.Background(), engine.Request{EmployeeID: "E1", Trigger: store.TriggerAPI}, true)
	if err != nil {
		t.Fatal(err)
	}
	nActions := len(plan.Actions)

	var id int64
	t.Run("a valid request from the system principal is 201 with the case", func(t *testing.T) {
		r := s.do(t, "POST", "/api/v1/cases", bearer, `{"employee_id":"E1","reason":"resigned","idempotency_key":"hris-event-42"}`)
		if r.status != http.StatusCreated {
			t.Fatalf("status %d, want 201: %s", r.status, r.body)
		}
		c := r.json(t)
		id = int64(c["id"].(float64))
		if id <= 0 {
			t.Fatalf("id = %v", c["id"])
		}
		for k, want := range map[string]any{"employee_id": "E1", "employee_email": "erin@example.test", "trigger": "api", "requester": "api:hris", "reason": "resigned", "involuntary": false} {
			if c[k] != want {
				t.Errorf("%s = %v, want %v", k, c[k], want)
			}
		}
		if st, _ := c["status"].(string); !store.CaseOpen(st) && st != store.CaseCompleted {
			t.Errorf("status = %q", st)
		}
		if acts, _ := c["actions"].([]any); len(acts) != nActions {
			t.Errorf("%d actions, want the policy's %d: %s", len(acts), nActions, r.body)
		}
	})
	if id == 0 {
		t.FailNow()
	}

	t.Run("the same employee again is 409 naming the open case", func(t *testing.T) {
		r := s.do(t, "POST", "/api/v1/cases", bearer, `{"employee_id":"E1","reason":"resigned"}`)
		if r.status != http.StatusConflict {
			t.Fatalf("status %d, want 409: %s", r.status, r.body)
		}
		if got := r.json(t)["case_id"]; got != float64(id) {
			t.Errorf("case_id = %v, want %d", got, id)
		}
	})

	t.Run("the same idempotency key again is 200 with the same case", func(t *testing.T) {
		r := s.do(t, "POST", "/api/v1/cases", bearer, `{"employee_id":"E1","reason":"resigned","idempotency_key":"hris-event-42"}`)
		if r.status != http.StatusOK {
			t.Fatalf("status %d, want 200: %s", r.status, r.body)
		}
		c := r.json(t)
		if c["id"] != float64(id) {
			t.Errorf("id = %v, want %d", c["id"], id)
		}
		if acts, _ := c["actions"].([]any); len(acts) != nActions {
			t.Errorf("replay shows %d actions, want %d", len(acts), nActions)
		}
	})

	var scheduled int64
	t.Run("a manager may offboard their report at a later time", func(t *testing.T) {
		at := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second)
		r := s.do(t, "POST", "/api/v1/cases", strings.ToLower("BEARER ")+token,
			fmt.Sprintf(`{"employee_id":"E2","requested_by":"M1","reason":"end of contract","effective_at":%q}`, at.Format(time.RFC3339)))
		if r.status != http.StatusCreated {
			t.Fatalf("status %d, want 201: %s", r.status, r.body)
		}
		c := r.json(t)
		scheduled = int64(c["id"].(float64))
		if c["status"] != store.CaseScheduled || c["requester"] != "M1" {
			t.Errorf("status %v requester %v, want scheduled, M1", c["status"], c["requester"])
		}
		if got, _ := time.Parse(time.RFC3339, c["effective_at"].(string)); !got.Equal(at) {
			t.Errorf("effective_at = %v, want %v", c["effective_at"], at)
		}
		r = s.do(t, "POST", "/api/v1/cases", bearer, `{"employee_id":"E2"}`)
		if r.status != http.StatusConflict || r.json(t)["case_id"] != float64(scheduled) {
			t.Errorf("second request for E2: status %d, want 409 naming case %d: %s", r.status, scheduled, r.body)
		}
	})

	t.Run("the case runs to completion and every action succeeds", func(t *testing.T) {
		c := s.waitClosed(t, id, 30*time.Second)
		if c["status"] != store.CaseCompleted {
			t.Fatalf("status = %v, want completed: %v", c["status"], c)
		}
		acts, _ := c["actions"].([]any)
		if len(acts) != nActions {
			t.Fatalf("%d actions, want %d", len(acts), nActions)
		}
		for _, a := range acts {
			a := a.(map[string]any)
			if a["name"] == "create_recovery_task" && a["status"] == store.ActionSkipped {
				continue // Erin holds no device: nothing to recover
			}
			if a["status"] != store.ActionSucceeded {
				t.Errorf("action %v: status %v (%v), want succeeded", a["name"], a["status"], a["last_error"])
			}
		}
		if c["closed_at"] == nil || c["revoked_at"] == nil {
			t.Errorf("closed_at %v, revoked_at %v: want both set", c["closed_at"], c["revoked_at"])
		}
	})

	t.Run("reading cases", func(t *testing.T) {
		for _, tc := range []struct {
			path   string
			status int
		}{
			{fmt.Sprintf("/api/v1/cases/%d", id), 200},
			{"/api/v1/cases/abc", 400},
			{"/api/v1/cases/0", 400},
			{"/api/v1/cases/-1", 400},
			{"/api/v1/cases/999999", 404},
		} {
			r := s.do(t, "GET", tc.path, bearer, "")
			if r.status != tc.status {
				t.Errorf("GET %s: status %d, want %d: %s", tc.path, r.status, tc.status, r.body)
			}
		}
	})

	t.Run("metrics report actions and the queue", func(t *testing.T) {
		r := s.do(t, "GET", "/metrics", "", "")
		if r.status != http.StatusOK {
			t.Fatalf("status %d", r.status)
		}
		for _, want := range []string{
			`kinetic_actions{connector="ad",status="succeeded"}`,
			`kinetic_actions_finished_total{connector="ad",operation="disable_account",status="succeeded"} 1`,
			`kinetic_queue_tasks{state="pending"}`,
		} {
			if !strings.Contains(string(r.body), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})

	if n := s.cases(t); n != 2 {
		t.Errorf("%d cases in the database, want 2 (E1's and E2's)", n)
	}
}

// TestTokenNeverLeaks sends right and wrong tokens through every route,
// including one that fails inside, and checks that no response (status,
// headers, body) and no log line carries the token.
func TestTokenNeverLeaks(t *testing.T) {
	s := newServer(t, testkit.Options{}, true)
	near := token + "x"
	first := s.do(t, "POST", "/api/v1/cases", "Bearer "+token, `{"employee_id":"E1","idempotency_key":"k1"}`)
	if first.status != http.StatusCreated {
		t.Fatalf("status %d, want 201: %s", first.status, first.body)
	}
	id := int64(first.json(t)["id"].(float64))
	reqs := []struct{ method, path, auth, body string }{
		{"POST", "/api/v1/cases", "Bearer " + token, `{"employee_id":"E1","idempotency_key":"k1"}`},
		{"POST", "/api/v1/cases", "Bearer " + near, `{"employee_id":"E2"}`},
		{"POST", "/api/v1/cases", "Basic " + token, `{"employee_id":"E2"}`},
		{"POST", "/api/v1/cases", "Bearer " + token, `{"employee_id":`},
		{"POST", "/api/v1/cases", "Bearer " + token, `{"employee_id":"E3"}`},
		{"POST", "/api/v1/cases", "Bearer " + token, `{"employee_id":"E1","requested_by":"X1"}`},
		{"GET", fmt.Sprintf("/api/v1/cases/%d", id), "Bearer " + token, ""},
		{"GET", fmt.Sprintf("/api/v1/cases/%d", id), "Bearer " + near, ""},
		{"GET", "/readyz", "Bearer " + token, ""},
		{"GET", "/metrics", "Bearer " + token, ""},
	}
	for _, r := range reqs {
		s.do(t, r.method, r.path, r.auth, r.body)
	}
	s.waitClosed(t, id, 30*time.Second)

	// A failure inside (the database gone) is logged and answered 500.
	if err := s.k.Store.Close(); err != nil {
		t.Fatal(err)
	}
	r := s.do(t, "POST", "/api/v1/cases", "Bearer "+token, `{"employee_id":"E2"}`)
	if r.status != http.StatusInternalServerError {
		t.Fatalf("with the database closed: status %d, want 500: %s", r.status, r.body)
	}
	if msg := r.json(t)["error"]; msg != "internal error" {
		t.Errorf("500 body says %q; internals must stay in the log", msg)
	}
	if !strings.Contains(s.logs.String(), "opening a case failed") {
		t.Errorf("the failure was not logged:\n%s", s.logs.String())
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.responses) < len(reqs)+3 {
		t.Fatalf("recorded %d responses", len(s.responses))
	}
	for i, resp := range s.responses {
		if strings.Contains(resp, token) {
			t.Errorf("response %d carries the token:\n%s", i, resp)
		}
	}
	if strings.Contains(s.logs.String(), token) {
		t.Errorf("the log carries the token:\n%s", s.logs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// downError is a readiness failure that names its dependency, like
// internal/app's DownError.
type downError struct {
	name string
	err  error
}

func (e *downError) Error() string      { return e.name + ": " + e.err.Error() }
func (e *downError) Dependency() string { return e.name }
