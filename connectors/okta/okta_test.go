package okta

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/conformance"
	"github.com/kineticsec/kinetic/internal/dur"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"

	"gopkg.in/yaml.v3"
)

// ---------------------------------------------------------------------------
// A scripted Okta: each expected exchange is checked in order (method, path,
// query, Authorization, body) and answered; an unexpected request fails the
// test, and so does an expected one that never came.

const testToken = "00tok-SECRET-do-not-leak-7f3a"

var testPolicy = &outbound.URLPolicy{AllowHosts: []string{"127.0.0.1"}}

type exch struct {
	method, path string
	query        url.Values                             // exact; nil means none
	auth         string                                 // exact Authorization; "" means the script default
	form         func(t *testing.T, form url.Values)    // a form body is expected and checked
	status       int                                    // default 200
	header       map[string]string                      // "{{base}}" is replaced by the server URL
	body         string                                 // reply body
	check        func(t *testing.T, r *http.Request)    // extra checks
	reply        func(w http.ResponseWriter, s *script) // custom reply, instead of status/header/body
}

type script struct {
	t    *testing.T
	srv  *httptest.Server
	auth string
	date func() time.Time // when set, every answer carries this Date

	mu   sync.Mutex
	want []exch
	n    int
}

func newScript(t *testing.T, want ...exch) *script {
	t.Helper()
	s := &script{t: t, auth: "SSWS " + testToken, want: want}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.srv.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, w := range s.want[s.n:] {
			t.Errorf("expected call never came: %s %s %s", w.method, w.path, w.query.Encode())
		}
	})
	return s
}

func (s *script) serve(w http.ResponseWriter, r *http.Request) {
	t := s.t
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	if s.n >= len(s.want) {
		s.mu.Unlock()
		t.Errorf("unexpected call after the script ended: %s %s", r.Method, r.URL)
		http.Error(w, "unexpected", http.StatusTeapot)
		return
	}
	e := s.want[s.n]
	s.n++
	s.mu.Unlock()

	where := fmt.Sprintf("call %s %s", r.Method, r.URL)
	if r.Method != e.method || r.URL.Path != e.path {
		t.Errorf("%s: want %s %s", where, e.method, e.path)
	}
	if got := r.URL.Query(); !(len(got) == 0 && len(e.query) == 0) && !maps.EqualFunc(got, e.query, slices.Equal) {
		t.Errorf("%s: query %v, want %v", where, got, e.query)
	}
	wantAuth := e.auth
	if wantAuth == "" {
		wantAuth = s.auth
	}
	if wantAuth == "-" {
		wantAuth = ""
	}
	if got := r.Header.Get("Authorization"); got != wantAuth {
		t.Errorf("%s: Authorization %q, want %q", where, redactForLog(got), redactForLog(wantAuth))
	}
	if e.form != nil {
		if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			t.Errorf("%s: Content-Type %q", where, ct)
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			t.Errorf("%s: form body: %v", where, err)
		}
		e.form(t, form)
	} else {
		if len(body) != 0 {
			t.Errorf("%s: unexpected body %q", where, body)
		}
		if a := r.Header.Get("Accept"); a != "application/json" {
			t.Errorf("%s: Accept %q", where, a)
		}
	}
	if e.check != nil {
		e.check(t, r)
	}
	if s.date != nil {
		w.Header().Set("Date", s.date().UTC().Format(http.TimeFormat))
	}
	if e.reply != nil {
		e.reply(w, s)
		return
	}
	for k, v := range e.header {
		w.Header().Add(k, strings.ReplaceAll(v, "{{base}}", s.srv.URL))
	}
	if e.body != "" {
		w.Header().Set("Content-Type", "application/json")
	}
	status := e.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	io.WriteString(w, strings.ReplaceAll(e.body, "{{base}}", s.srv.URL))
}

func redactForLog(s string) string {
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}

// conn builds a connector on the script's server. cfg.OrgURL and, unless
// OAuth is set, the API token are filled in.
func (s *script) conn(cfg Config, opts ...Option) *Connector {
	s.t.Helper()
	cfg.OrgURL = s.srv.URL
	if cfg.OAuth == nil && !cfg.APIToken.IsSet() {
		cfg.APIToken = secret.FromValue(testToken)
	}
	c, err := New("okta-test", cfg, testPolicy, opts...)
	if err != nil {
		s.t.Fatalf("New: %v", err)
	}
	return c
}

func userJSON(id, status, login string, extra ...string) string {
	last := "null"
	trans := ""
	for _, e := range extra {
		switch {
		case strings.HasPrefix(e, "lastLogin="):
			last = `"` + strings.TrimPrefix(e, "lastLogin=") + `"`
		case strings.HasPrefix(e, "transitioning="):
			trans = `,"transitioningToStatus":"` + strings.TrimPrefix(e, "transitioning=") + `"`
		}
	}
	return fmt.Sprintf(`{"id":%q,"status":%q%s,"lastLogin":%s,"profile":{"login":%q,"email":%q,"employeeNumber":"E1001"}}`,
		id, status, trans, last, login, login)
}

func groupJSON(id, typ, name string) string {
	return fmt.Sprintf(`{"id":%q,"type":%q,"profile":{"name":%q,"description":""}}`, id, typ, name)
}

func oktaErr(code, summary string) string {
	return fmt.Sprintf(`{"errorCode":%q,"errorSummary":%q,"errorLink":%q,"errorId":"oae1","errorCauses":[]}`, code, summary, code)
}

func q(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

var dana = connectors.Subject{Email: "dana@example.com", EmployeeID: "E1001", DisplayName: "Dana"}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustDo(t *testing.T, c *Connector, req connectors.Request) connectors.Result {
	t.Helper()
	res, err := c.Do(ctxT(t), req)
	if err != nil {
		t.Fatalf("Do(%s): %v", req.Operation, err)
	}
	return res
}

func wantOutcome(t *testing.T, res connectors.Result, want connectors.Outcome) {
	t.Helper()
	if res.Outcome != want {
		t.Fatalf("outcome %q (%s), want %q", res.Outcome, res.Detail, want)
	}
}

func wantKind(t *testing.T, err error, kind connectors.Kind) *connectors.Error {
	t.Helper()
	var ce *connectors.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *connectors.Error", err, err)
	}
	if ce.Kind != kind {
		t.Fatalf("kind %q, want %q: %v", ce.Kind, kind, err)
	}
	return ce
}

func noSecret(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("secret %s leaked into %q", redactForLog(s), strings.ReplaceAll(text, s, "<SECRET>"))
			}
		}
	}
}

// fakeClock is an injected clock whose Sleep advances it and records the
// wait, so rate-limit tests never sleep.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func newClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.t = c.t.Add(d)
	return nil
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sleeps)
}

func (c *fakeClock) epoch(d time.Duration) string { return fmt.Sprint(c.Now().Add(d).Unix()) }

// ---------------------------------------------------------------------------

func TestDeactivateUser(t *testing.T) {
	deactivate := connectors.Request{Operation: connectors.OpDeactivateUser, Subject: dana}

	t.Run("reads status first, deactivates with sendEmail=false and reads back DEPROVISIONED", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/dana@example.com", body: userJSON("00u1", "ACTIVE", "dana@example.com")},
			exch{method: "POST", path: "/api/v1/users/00u1/lifecycle/deactivate", query: q("sendEmail", "false"), body: `{}`},
			exch{method: "GET", path: "/api/v1/users/00u1", body: userJSON("00u1", "DEPROVISIONED", "dana@example.com")},
		)
		c := s.conn(Config{})
		res := mustDo(t, c, deactivate)
		wantOutcome(t, res, connectors.OutcomeDone)
		if res.Account != "00u1" || res.Data["previous_status"] != "ACTIVE" {
			t.Errorf("result %+v", res)
		}
		ver, err := c.Verify(ctxT(t), connectors.Request{Operation: connectors.OpDeactivateUser, Subject: dana, Account: "00u1"})
		if err != nil || !ver.OK || !strings.Contains(ver.Detail, "DEPROVISIONED") {
			t.Fatalf("Verify = %+v, %v", ver, err)
		}
	})

	t.Run("an already DEPROVISIONED user needs no lifecycle call", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/00u1", body: userJSON("00u1", "DEPROVISIONED", "dana@example.com")},
		)
		res := mustDo(t, s.conn(Config{}), connectors.Request{Operation: connectors.OpDeactivateUser, Subject: dana, Account: "00u1"})
		wantOutcome(t, res, connectors.OutcomeAlreadyDone)
	})

	t.Run("a deactivation in progress needs no second call", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/dana@example.com", body: userJSON("00u1", "ACTIVE", "dana@example.com", "transitioning=DEPROVISIONED")},
			exch{method: "GET", path: "/api/v1/users/dana@example.com", body: userJSON("00u1", "ACTIVE", "dana@example.com", "transitioning=DEPROVISIONED")},
		)
		c := s.conn(Config{})
		wantOutcome(t, mustDo(t, c, deactivate), connectors.OutcomeAlreadyDone)
		ver, err := c.Verify(ctxT(t), deactivate)
		if err != nil || ver.OK {
			t.Fatalf("Verify during the transition = %+v, %v; want not OK yet", ver, err)
		}
	})

	t.Run("a SUSPENDED user is deactivated too", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/dana@example.com", body: userJSON("00u1", "SUSPENDED", "dana@example.com")},
			exch{method: "POST", path: "/api/v1/users/00u1/lifecycle/deactivate", query: q("sendEmail", "false")},
		)
		res := mustDo(t, s.conn(Config{}), deactivate)
		wantOutcome(t, res, connectors.OutcomeDone)
		if res.Data["previous_status"] != "SUSPENDED" {
			t.Errorf("data %v", res.Data)
		}
	})

	t.Run("suspend mode suspends an ACTIVE user and reads back SUSPENDED", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/dana@example.com", body: userJSON("00u1", "ACTIVE", "dana@example.com")},
			exch{method: "POST", path: "/api/v1/users/00u1/lifecycle/suspend", body: `{}`},
			exch{method: "GET", path: "/api/v1/users/dana@example.com", body: userJSON("00u1", "SUSPENDED", "dana@example.com")},
		)
		c := s.conn(Config{DeactivateMode: ModeSuspend})
		wantOutcome(t, mustDo(t, c, deactivate), connectors.OutcomeDone)
		ver, err := c.Verify(ctxT(t), deactivate)
		if err != nil || !ver.OK {
			t.Fatalf("Verify = %+v, %v", ver, err)
		}
	})

	t.Run("suspend mode: a SUSPENDED user is already done", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/dana@example.com", body: userJSON("00u1", "SUSPENDED", "dana@example.com")},
		)
		wantOutcome(t, mustDo(t, s.conn(Config{DeactivateMode: ModeSuspend}), deactivate), connectors.OutcomeAlreadyDone)
	})

	t.Run("suspend mode refuses a user Okta cannot suspend, without calling", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/dana@example.com", body: userJSON("00u1", "LOCKED_OUT", "dana@example.com")},
		)
		_, err := s.conn(Config{DeactivateMode: ModeSuspend}).Do(ctxT(t), deactivate)
		wantKind(t, err, connectors.KindInvalid)
		if !strings.Contains(err.Error(), "LOCKED_OUT") {
			t.Errorf("error %v does not name the status", err)
		}
	})

	t.Run("a transition made concurrently is already done", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/dana@example.com", body: userJSON("00u1", "ACTIVE", "dana@example.com")},
			exch{method: "POST", path: "/api/v1/users/00u1/lifecycle/deactivate", query: q("sendEmail", "false"),
				status: 403, body: oktaErr("E0000038", "This operation is not allowed in the user's current status.")},
			exch{method: "GET", path: "/api/v1/users/00u1", body: userJSON("00u1", "DEPROVISIONED", "dana@example.com")},
		)
		wantOutcome(t, mustDo(t, s.conn(Config{}), deactivate), connectors.OutcomeAlreadyDone)
	})

	t.Run("a refused lifecycle call on a still ACTIVE user is forbidden", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/dana@example.com", body: userJSON("00u1", "ACTIVE", "dana@example.com")},
			exch{method: "POST", path: "/api/v1/users/00u1/lifecycle/deactivate", query: q("sendEmail", "false"),
				status: 403, body: oktaErr("E0000006", "You do not have permission to perform the requested action")},
			exch{method: "GET", path: "/api/v1/users/00u1", body: userJSON("00u1", "ACTIVE", "dana@example.com")},
		)
		_, err := s.conn(Config{}).Do(ctxT(t), deactivate)
		ce := wantKind(t, err, connectors.KindForbidden)
		if ce.Status != 403 || !strings.Contains(err.Error(), "E0000006") || connectors.IsRetryable(err) {
			t.Errorf("error %v", err)
		}
	})

	t.Run("a user deleted between read and write is none found", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/dana@example.com", body: userJSON("00u1", "ACTIVE", "dana@example.com")},
			exch{method: "POST", path: "/api/v1/users/00u1/lifecycle/deactivate", query: q("sendEmail", "false"),
				status: 404, body: oktaErr("E0000007", "Not found: Resource not found: 00u1 (User)")},
		)
		wantOutcome(t, mustDo(t, s.conn(Config{}), deactivate), connectors.OutcomeNoneFound)
	})
}

func TestRevokeSessions(t *testing.T) {
	revoke := connectors.Request{Operation: connectors.OpRevokeSessions, Subject: dana, Account: "00u1"}
	clock := func() (*fakeClock, []Option) {
		clk := newClock()
		return clk, []Option{WithClock(clk.Now), WithSleep(clk.Sleep)}
	}

	t.Run("clears sessions including OAuth tokens, and a repeat without a new sign-in is already done", func(t *testing.T) {
		clk, opts := clock()
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/00u1", body: userJSON("00u1", "ACTIVE", "dana@example.com", "lastLogin=2023-11-01T09:00:00.000Z")},
			exch{method: "DELETE", path: "/api/v1/users/00u1/sessions", query: q("oauthTokens", "true"), status: 204},
			exch{method: "GET", path: "/api/v1/users/00u1", body: userJSON("00u1", "ACTIVE", "dana@example.com", "lastLogin=2023-11-01T09:00:00.000Z")},
			exch{method: "GET", path: "/api/v1/users/00u1", body: userJSON("00u1", "ACTIVE", "dana@example.com", "lastLogin=2023-11-01T09:00:00.000Z")},
		)
		s.date = clk.Now
		c := s.conn(Config{}, opts...)
		wantOutcome(t, mustDo(t, c, revoke), connectors.OutcomeDone)
		wantOutcome(t, mustDo(t, c, revoke), connectors.OutcomeAlreadyDone)
		ver, err := c.Verify(ctxT(t), revoke)
		if err != nil || !ver.OK || !strings.Contains(ver.Detail, "no per-user session list") {
			t.Fatalf("Verify = %+v, %v", ver, err)
		}
	})

	t.Run("a sign-in after the clear fails verification and is cleared again", func(t *testing.T) {
		clk, opts := clock()
		after := clk.Now().Add(time.Minute).UTC().Format("2006-01-02T15:04:05.000Z")
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/00u1", body: userJSON("00u1", "ACTIVE", "dana@example.com")},
			exch{method: "DELETE", path: "/api/v1/users/00u1/sessions", query: q("oauthTokens", "true"), status: 204},
			exch{method: "GET", path: "/api/v1/users/00u1", body: userJSON("00u1", "ACTIVE", "dana@example.com", "lastLogin="+after)},
			exch{method: "GET", path: "/api/v1/users/00u1", body: userJSON("00u1", "ACTIVE", "dana@example.com", "lastLogin="+after)},
			exch{method: "DELETE", path: "/api/v1/users/00u1/sessions", query: q("oauthTokens", "true"), status: 204},
		)
		s.date = clk.Now
		c := s.conn(Config{}, opts...)
		wantOutcome(t, mustDo(t, c, revoke), connectors.OutcomeDone)
		ver, err := c.Verify(ctxT(t), revoke)
		if err != nil || ver.OK || !strings.Contains(ver.Detail, "signed in again") {
			t.Fatalf("Verify = %+v, %v; want not OK", ver, err)
		}
		wantOutcome(t, mustDo(t, c, revoke), connectors.OutcomeDone)
	})

	t.Run("verify without a record says what it could not read", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/00u1", body: userJSON("00u1", "ACTIVE", "dana@example.com")},
		)
		ver, err := s.conn(Config{}).Verify(ctxT(t), revoke)
		if err != nil || !ver.OK || !strings.Contains(ver.Detail, "not read back") {
			t.Fatalf("Verify = %+v, %v", ver, err)
		}
	})

	t.Run("Okta refusing to clear a DEPROVISIONED user's sessions is already done", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/00u1", body: userJSON("00u1", "DEPROVISIONED", "dana@example.com")},
			exch{method: "DELETE", path: "/api/v1/users/00u1/sessions", query: q("oauthTokens", "true"),
				status: 403, body: oktaErr("E0000038", "This operation is not allowed in the user's current status.")},
		)
		wantOutcome(t, mustDo(t, s.conn(Config{}), revoke), connectors.OutcomeAlreadyDone)
	})
}

func TestRemoveGroupMemberships(t *testing.T) {
	remove := connectors.Request{Operation: connectors.OpRemoveGroupMemberships, Subject: dana, Account: "00u1"}

	t.Run("removes OKTA_GROUP groups across two pages, skipping Everyone, APP_GROUP and kept groups", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/00u1/groups", query: q("limit", "200"),
				header: map[string]string{"Link": `<{{base}}/api/v1/users/00u1/groups?limit=200>; rel="self", <{{base}}/api/v1/users/00u1/groups?after=00gENG&limit=200>; rel="next"`},
				body: "[" + groupJSON("00gEVERYONE", "BUILT_IN", "Everyone") + "," + groupJSON("00gENG", "OKTA_GROUP", "Engineering") + "," +
					groupJSON("00gAD", "APP_GROUP", "AD Sales") + "]"},
			exch{method: "GET", path: "/api/v1/users/00u1/groups", query: q("after", "00gENG", "limit", "200"),
				header: map[string]string{"Link": `<{{base}}/api/v1/users/00u1/groups?after=00gENG&limit=200>; rel="self"`},
				body: "[" + groupJSON("00gSTAFF", "OKTA_GROUP", "Staff") + "," + groupJSON("00gSALES", "OKTA_GROUP", "Sales") + "," +
					groupJSON("00gOLD", "OKTA_GROUP", "Old Project") + "," + groupJSON("00gLEGAL", "OKTA_GROUP", "Legal Hold") + "]"},
			exch{method: "DELETE", path: "/api/v1/groups/00gENG/users/00u1", status: 204},
			exch{method: "DELETE", path: "/api/v1/groups/00gSALES/users/00u1", status: 204},
			exch{method: "DELETE", path: "/api/v1/groups/00gOLD/users/00u1", status: 404, body: oktaErr("E0000007", "Not found")},
		)
		c := s.conn(Config{KeepGroups: []string{"staff"}})
		req := remove
		req.Params = map[string]string{"keep": "00gLEGAL"}
		res := mustDo(t, c, req)
		wantOutcome(t, res, connectors.OutcomeDone)
		if got := res.Data["removed_groups"]; got != "00gENG,00gSALES" {
			t.Errorf("removed_groups = %q", got)
		}
		for _, want := range []string{"Engineering", "Old Project", "kept 2", "Everyone BUILT_IN", "AD Sales APP_GROUP"} {
			if !strings.Contains(res.Detail, want) {
				t.Errorf("detail %q lacks %q", res.Detail, want)
			}
		}
	})

	t.Run("404 on every removal is an idempotent success", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/00u1/groups", query: q("limit", "200"), body: "[" + groupJSON("00gENG", "OKTA_GROUP", "Engineering") + "]"},
			exch{method: "DELETE", path: "/api/v1/groups/00gENG/users/00u1", status: 404, body: oktaErr("E0000007", "Not found")},
		)
		res := mustDo(t, s.conn(Config{}), remove)
		wantOutcome(t, res, connectors.OutcomeAlreadyDone)
		if res.Data["removed_groups"] != "" {
			t.Errorf("data %v", res.Data)
		}
	})

	t.Run("no Okta-managed membership is already done and verifies", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/00u1/groups", query: q("limit", "200"), body: "[" + groupJSON("00gEVERYONE", "BUILT_IN", "Everyone") + "]"},
			exch{method: "GET", path: "/api/v1/users/00u1/groups", query: q("limit", "200"), body: "[" + groupJSON("00gEVERYONE", "BUILT_IN", "Everyone") + "]"},
		)
		c := s.conn(Config{})
		wantOutcome(t, mustDo(t, c, remove), connectors.OutcomeAlreadyDone)
		ver, err := c.Verify(ctxT(t), remove)
		if err != nil || !ver.OK {
			t.Fatalf("Verify = %+v, %v", ver, err)
		}
	})

	t.Run("a failed removal does not stop the others and the error names it", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/00u1/groups", query: q("limit", "200"),
				body: "[" + groupJSON("00gA", "OKTA_GROUP", "A") + "," + groupJSON("00gB", "OKTA_GROUP", "B") + "," + groupJSON("00gC", "OKTA_GROUP", "C") + "]"},
			exch{method: "DELETE", path: "/api/v1/groups/00gA/users/00u1", status: 403, body: oktaErr("E0000006", "You do not have permission")},
			exch{method: "DELETE", path: "/api/v1/groups/00gB/users/00u1", status: 500, body: oktaErr("E0000009", "Internal Server Error")},
			exch{method: "DELETE", path: "/api/v1/groups/00gC/users/00u1", status: 204},
		)
		res, err := s.conn(Config{}).Do(ctxT(t), remove)
		// The retryable failure decides the kind: a retry removes what is left.
		wantKind(t, err, connectors.KindTransient)
		for _, want := range []string{"removed 1 of 3", "00gA (A): forbidden", "00gB (B): transient"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
		if res.Data["removed_groups"] != "00gC" {
			t.Errorf("removed_groups = %q; the audit must still record what was removed", res.Data["removed_groups"])
		}
	})

	t.Run("a next-page link to another host is not followed", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/00u1/groups", query: q("limit", "200"),
				header: map[string]string{"Link": `<https://attacker.example/api/v1/users/00u1/groups?after=x>; rel="next"`},
				body:   "[" + groupJSON("00gA", "OKTA_GROUP", "A") + "]"},
		)
		_, err := s.conn(Config{}).Do(ctxT(t), remove)
		wantKind(t, err, connectors.KindInvalid)
	})

	t.Run("a missing user is none found and verifies", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/00u1/groups", query: q("limit", "200"), status: 404, body: oktaErr("E0000007", "Not found")},
			exch{method: "GET", path: "/api/v1/users/00u1/groups", query: q("limit", "200"), status: 404, body: oktaErr("E0000007", "Not found")},
		)
		c := s.conn(Config{})
		wantOutcome(t, mustDo(t, c, remove), connectors.OutcomeNoneFound)
		if ver, err := c.Verify(ctxT(t), remove); err != nil || !ver.OK {
			t.Fatalf("Verify = %+v, %v", ver, err)
		}
	})

	t.Run("scopes without okta.groups.manage do not offer the operation", func(t *testing.T) {
		cfg := Config{OAuth: &OAuth{ClientID: "c", PrivateKeyFile: "k", Scopes: []string{ScopeUsersManage}}}
		if connectors.Supports(Operations(cfg), connectors.OpRemoveGroupMemberships) {
			t.Fatal("remove_group_memberships offered without okta.groups.manage")
		}
		if !connectors.Supports(Operations(Config{}), connectors.OpRemoveGroupMemberships) {
			t.Fatal("an API token should offer remove_group_memberships")
		}
	})
}

func TestLookup(t *testing.T) {
	t.Run("finds the user by login and normalises the status", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/dana@example.com", body: userJSON("00u1", "PASSWORD_EXPIRED", "dana@example.com")},
		)
		res, err := s.conn(Config{}).Lookup(ctxT(t), dana)
		if err != nil || len(res.Accounts) != 1 {
			t.Fatalf("Lookup = %+v, %v", res, err)
		}
		a := res.Accounts[0]
		if a.ID != "00u1" || a.Status != connectors.StatusActive || a.Kind != "user" || !strings.Contains(a.Detail, "PASSWORD_EXPIRED") {
			t.Errorf("account %+v", a)
		}
	})

	t.Run("statuses", func(t *testing.T) {
		for okta, want := range map[string]string{
			"ACTIVE": "active", "PROVISIONED": "active", "STAGED": "active", "RECOVERY": "active",
			"PASSWORD_EXPIRED": "active", "LOCKED_OUT": "active", "SUSPENDED": "disabled", "DEPROVISIONED": "deprovisioned",
			"SOMETHING_NEW": "active",
		} {
			if got := normalStatus(okta); got != want {
				t.Errorf("normalStatus(%s) = %s, want %s", okta, got, want)
			}
		}
	})

	t.Run("unknown user is none found", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/nobody@example.com", status: 404, body: oktaErr("E0000007", "Not found: Resource not found: nobody@example.com (User)")},
			exch{method: "GET", path: "/api/v1/users", query: q("search", `profile.email eq "nobody@example.com"`, "limit", "10"), body: `[]`},
			exch{method: "GET", path: "/api/v1/users", query: q("search", `profile.employeeNumber eq "E404"`, "limit", "10"), body: `[]`},
			exch{method: "GET", path: "/api/v1/users/nobody@example.com", status: 404, body: oktaErr("E0000007", "Not found")},
			exch{method: "GET", path: "/api/v1/users", query: q("search", `profile.email eq "nobody@example.com"`, "limit", "10"), body: `[]`},
			exch{method: "GET", path: "/api/v1/users", query: q("search", `profile.employeeNumber eq "E404"`, "limit", "10"), body: `[]`},
		)
		c := s.conn(Config{})
		nobody := connectors.Subject{Email: "nobody@example.com", EmployeeID: "E404"}
		res, err := c.Lookup(ctxT(t), nobody)
		if err != nil || len(res.Accounts) != 0 {
			t.Fatalf("Lookup = %+v, %v; want none", res, err)
		}
		wantOutcome(t, mustDo(t, c, connectors.Request{Operation: connectors.OpDeactivateUser, Subject: nobody}), connectors.OutcomeNoneFound)
	})

	t.Run("a login that is not the email is found by profile.email", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/dana@example.com", status: 404, body: oktaErr("E0000007", "Not found")},
			exch{method: "GET", path: "/api/v1/users", query: q("search", `profile.email eq "dana@example.com"`, "limit", "10"),
				body: "[" + userJSON("00u1", "ACTIVE", "dana.s@corp.example") + "]"},
		)
		res, err := s.conn(Config{}).Lookup(ctxT(t), dana)
		if err != nil || len(res.Accounts) != 1 || res.Accounts[0].ID != "00u1" {
			t.Fatalf("Lookup = %+v, %v", res, err)
		}
	})

	t.Run("two matches are invalid and name both ids", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/dana@example.com", status: 404, body: oktaErr("E0000007", "Not found")},
			exch{method: "GET", path: "/api/v1/users", query: q("search", `profile.email eq "dana@example.com"`, "limit", "10"),
				body: "[" + userJSON("00uA", "ACTIVE", "dana@corp.example") + "," + userJSON("00uB", "ACTIVE", "dana@other.example") + "]"},
		)
		_, err := s.conn(Config{}).Lookup(ctxT(t), dana)
		wantKind(t, err, connectors.KindInvalid)
		if !strings.Contains(err.Error(), "00uA") || !strings.Contains(err.Error(), "00uB") {
			t.Errorf("error %v does not name both users", err)
		}
	})

	t.Run("search values are escaped", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users", query: q("search", `profile.email eq "a\"b\\c"`, "limit", "10"), body: `[]`,
				check: func(t *testing.T, r *http.Request) {
					if strings.Contains(r.URL.RawQuery, "+") {
						t.Errorf("query %q encodes spaces as '+'", r.URL.RawQuery)
					}
				}},
		)
		res, err := s.conn(Config{}).Lookup(ctxT(t), connectors.Subject{Email: `a"b\c`})
		if err != nil || len(res.Accounts) != 0 {
			t.Fatalf("Lookup = %+v, %v", res, err)
		}
	})

	t.Run("a username is tried as the login when nothing else matches", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users", query: q("search", `profile.employeeNumber eq "E1001"`, "limit", "10"), body: `[]`},
			exch{method: "GET", path: "/api/v1/users", query: q("search", `profile.login eq "dana.s@corp.example"`, "limit", "10"),
				body: "[" + userJSON("00u1", "SUSPENDED", "dana.s@corp.example") + "]"},
		)
		res, err := s.conn(Config{}).Lookup(ctxT(t), connectors.Subject{EmployeeID: "E1001", Username: "dana.s@corp.example"})
		if err != nil || len(res.Accounts) != 1 || res.Accounts[0].Status != connectors.StatusDisabled {
			t.Fatalf("Lookup = %+v, %v", res, err)
		}
	})

	t.Run(`"me" is never looked up`, func(t *testing.T) {
		s := newScript(t)
		_, err := s.conn(Config{}).Do(ctxT(t), connectors.Request{Operation: connectors.OpDeactivateUser, Account: "me"})
		wantKind(t, err, connectors.KindInvalid)
	})

	t.Run("an unsupported operation is invalid without a request", func(t *testing.T) {
		s := newScript(t)
		_, err := s.conn(Config{}).Do(ctxT(t), connectors.Request{Operation: connectors.OpConvertMailbox, Subject: dana})
		wantKind(t, err, connectors.KindInvalid)
	})
}

func TestRateLimits(t *testing.T) {
	deactivate := connectors.Request{Operation: connectors.OpDeactivateUser, Subject: dana, Account: "00u1"}

	t.Run("429 with X-Rate-Limit-Reset is rate limited until the reset", func(t *testing.T) {
		clk := newClock()
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/00u1", status: 429,
				header: map[string]string{"X-Rate-Limit-Limit": "600", "X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": clk.epoch(30 * time.Second), "Retry-After": "99"},
				body:   oktaErr("E0000047", "API call exceeded rate limit due to too many requests.")},
		)
		s.date = clk.Now
		c := s.conn(Config{}, WithClock(clk.Now), WithSleep(clk.Sleep))
		_, err := c.Do(ctxT(t), deactivate)
		ce := wantKind(t, err, connectors.KindRateLimited)
		if ce.RetryAfter != 30*time.Second || ce.Status != 429 || !connectors.IsRetryable(err) {
			t.Fatalf("error %v: RetryAfter %s, want 30s", err, ce.RetryAfter)
		}
		// The next call does not even ask: the window is still closed.
		clk.Advance(10 * time.Second)
		_, err = c.Do(ctxT(t), deactivate)
		ce = wantKind(t, err, connectors.KindRateLimited)
		if ce.RetryAfter != 20*time.Second {
			t.Fatalf("second call RetryAfter %s, want 20s", ce.RetryAfter)
		}
	})

	t.Run("429 without X-Rate-Limit-Reset uses Retry-After", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/00u1", status: 429, header: map[string]string{"Retry-After": "7"}, body: oktaErr("E0000047", "rate limited")},
		)
		_, err := s.conn(Config{}).Do(ctxT(t), deactivate)
		if ce := wantKind(t, err, connectors.KindRateLimited); ce.RetryAfter != 7*time.Second {
			t.Fatalf("RetryAfter %s, want 7s", ce.RetryAfter)
		}
	})

	t.Run("Remaining 0 makes the next call wait until Reset", func(t *testing.T) {
		clk := newClock()
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/00u1", body: userJSON("00u1", "ACTIVE", "dana@example.com"),
				header: map[string]string{"X-Rate-Limit-Limit": "600", "X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": clk.epoch(time.Second)}},
			exch{method: "POST", path: "/api/v1/users/00u1/lifecycle/deactivate", query: q("sendEmail", "false"),
				header: map[string]string{"X-Rate-Limit-Limit": "600", "X-Rate-Limit-Remaining": "599", "X-Rate-Limit-Reset": clk.epoch(61 * time.Second)},
				check: func(t *testing.T, r *http.Request) {
					if got := clk.Sleeps(); !slices.Equal(got, []time.Duration{time.Second}) {
						t.Errorf("the deactivation was sent after sleeps %v, want one of 1s", got)
					}
				}},
		)
		s.date = clk.Now
		c := s.conn(Config{}, WithClock(clk.Now), WithSleep(clk.Sleep))
		wantOutcome(t, mustDo(t, c, deactivate), connectors.OutcomeDone)
	})

	t.Run("a wait longer than max_rate_wait is returned, not slept", func(t *testing.T) {
		clk := newClock()
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/00u1", body: userJSON("00u1", "ACTIVE", "dana@example.com"),
				header: map[string]string{"X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": clk.epoch(10 * time.Second)}},
		)
		s.date = clk.Now
		c := s.conn(Config{MaxRateWait: dur.Duration(5 * time.Second)}, WithClock(clk.Now), WithSleep(clk.Sleep))
		_, err := c.Do(ctxT(t), deactivate)
		if ce := wantKind(t, err, connectors.KindRateLimited); ce.RetryAfter != 10*time.Second {
			t.Fatalf("RetryAfter %s, want 10s", ce.RetryAfter)
		}
		if len(clk.Sleeps()) != 0 {
			t.Errorf("slept %v", clk.Sleeps())
		}
	})

	t.Run("the wait is bounded by the context", func(t *testing.T) {
		// Real clock and real sleep: the window resets 2s ahead, the
		// context ends after 50ms.
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/00u1", body: userJSON("00u1", "ACTIVE", "dana@example.com"),
				reply: func(w http.ResponseWriter, s *script) {
					w.Header().Set("X-Rate-Limit-Remaining", "0")
					w.Header().Set("X-Rate-Limit-Reset", fmt.Sprint(time.Now().Add(3*time.Second).Unix()))
					io.WriteString(w, userJSON("00u1", "ACTIVE", "dana@example.com"))
				}},
		)
		c := s.conn(Config{MaxRateWait: dur.Duration(10 * time.Second)})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Do(ctx, deactivate)
		wantKind(t, err, connectors.KindCanceled)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v does not wrap the context's error", err)
		}
		if time.Since(start) > 2*time.Second {
			t.Errorf("the wait outlived its context (%s)", time.Since(start))
		}
	})

	t.Run("max_concurrency caps requests in flight", func(t *testing.T) {
		var (
			mu       sync.Mutex
			inflight int
			peak     int
		)
		arrived := make(chan struct{}, 16)
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			inflight++
			peak = max(peak, inflight)
			mu.Unlock()
			arrived <- struct{}{}
			<-release
			mu.Lock()
			inflight--
			mu.Unlock()
			io.WriteString(w, userJSON("00u1", "ACTIVE", "dana@example.com"))
		}))
		defer srv.Close()
		c, err := New("okta-test", Config{OrgURL: srv.URL, APIToken: secret.FromValue(testToken), MaxConcurrency: 2}, testPolicy)
		if err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 6)
		for range 6 {
			go func() { _, err := c.Lookup(ctxT(t), dana); errs <- err }()
		}
		for range 2 {
			select {
			case <-arrived:
			case <-time.After(5 * time.Second):
				t.Fatal("requests did not arrive")
			}
		}
		select {
		case <-arrived:
			t.Fatal("a third request got in flight with max_concurrency 2")
		case <-time.After(100 * time.Millisecond):
		}
		close(release)
		for range 6 {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		if peak > 2 {
			t.Errorf("peak in flight %d, want <= 2", peak)
		}
	})
}

func TestErrors(t *testing.T) {
	deactivate := connectors.Request{Operation: connectors.OpDeactivateUser, Subject: dana, Account: "00u1"}

	t.Run("500 then success: the retry reads again and finishes the job", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/00u1", body: userJSON("00u1", "ACTIVE", "dana@example.com")},
			exch{method: "POST", path: "/api/v1/users/00u1/lifecycle/deactivate", query: q("sendEmail", "false"), status: 500, body: oktaErr("E0000009", "Internal Server Error")},
			exch{method: "GET", path: "/api/v1/users/00u1", body: userJSON("00u1", "ACTIVE", "dana@example.com")},
			exch{method: "POST", path: "/api/v1/users/00u1/lifecycle/deactivate", query: q("sendEmail", "false")},
		)
		c := s.conn(Config{})
		_, err := c.Do(ctxT(t), deactivate)
		if ce := wantKind(t, err, connectors.KindTransient); !ce.Retryable() || ce.Status != 500 || !strings.Contains(err.Error(), "E0000009") {
			t.Fatalf("error %v", err)
		}
		wantOutcome(t, mustDo(t, c, deactivate), connectors.OutcomeDone)
	})

	echo := func(status int, code string, text bool) exch {
		return exch{method: "GET", path: "/api/v1/users/00u1", reply: func(w http.ResponseWriter, s *script) {
			// A server that echoes the credential back, in JSON and as text.
			if text {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(status)
				fmt.Fprintf(w, "<html>denied for Authorization=%s</html>", s.auth)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"errorCode":%q,"errorSummary":"Invalid token provided: %s","errorCauses":[{"errorSummary":"raw token %s"}]}`,
				code, s.auth, strings.TrimPrefix(s.auth, "SSWS "))
		}}
	}
	for _, tc := range []struct {
		name   string
		status int
		kind   connectors.Kind
		text   bool
	}{
		{"401 is auth", 401, connectors.KindAuth, false},
		{"403 is forbidden", 403, connectors.KindForbidden, false},
		{"401 with a text body is auth", 401, connectors.KindAuth, true},
		{"400 is invalid", 400, connectors.KindInvalid, false},
	} {
		t.Run(tc.name+", and the token never appears", func(t *testing.T) {
			s := newScript(t, echo(tc.status, "E0000011", tc.text))
			_, err := s.conn(Config{}).Do(ctxT(t), deactivate)
			ce := wantKind(t, err, tc.kind)
			if ce.Retryable() || ce.Status != tc.status {
				t.Errorf("error %v: retryable %t status %d", err, ce.Retryable(), ce.Status)
			}
			noSecret(t, err, testToken, "SSWS "+testToken)
		})
	}

	t.Run("a garbled success body is transient", func(t *testing.T) {
		s := newScript(t, exch{method: "GET", path: "/api/v1/users/00u1", body: `<html>maintenance</html>`})
		_, err := s.conn(Config{}).Do(ctxT(t), deactivate)
		wantKind(t, err, connectors.KindTransient)
	})

	t.Run("a refused host is invalid (outbound URL policy)", func(t *testing.T) {
		s := newScript(t)
		c, err := New("okta-test", Config{OrgURL: s.srv.URL, APIToken: secret.FromValue(testToken)}, &outbound.URLPolicy{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Lookup(ctxT(t), dana)
		wantKind(t, err, connectors.KindInvalid)
		if !errors.Is(err, outbound.ErrURLRefused) {
			t.Errorf("error %v does not wrap ErrURLRefused", err)
		}
	})
}

// ---------------------------------------------------------------------------
// OAuth 2.0 with a private-key JWT.

func writeKey(t *testing.T, key any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "okta.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

func testRSAKey(t *testing.T) *rsa.PrivateKey {
	rsaOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return rsaKey
}

// tokenExch expects a client credentials request with a valid private-key
// JWT assertion and answers with access token tok.
func tokenExch(s **script, pub any, clientID string, jtis map[string]bool, tok string, expiresIn int) exch {
	return exch{method: "POST", path: "/oauth2/v1/token", auth: "-",
		form: func(t *testing.T, form url.Values) {
			want := url.Values{
				"grant_type":            {"client_credentials"},
				"scope":                 {"okta.users.manage okta.groups.manage"},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
				"client_assertion":      form["client_assertion"],
			}
			if !maps.EqualFunc(form, want, slices.Equal) {
				t.Errorf("token form %v", form)
			}
			header, claims, err := verifyJWT(form.Get("client_assertion"), pub)
			if err != nil {
				t.Fatalf("client assertion: %v", err)
			}
			if header["kid"] != "kid-1" || header["typ"] != "JWT" {
				t.Errorf("assertion header %v", header)
			}
			aud := (*s).srv.URL + "/oauth2/v1/token"
			if claims["iss"] != clientID || claims["sub"] != clientID || claims["aud"] != aud {
				t.Errorf("assertion claims iss=%v sub=%v aud=%v, want %s, %s, %s", claims["iss"], claims["sub"], claims["aud"], clientID, clientID, aud)
			}
			iat, _ := claims["iat"].(float64)
			exp, _ := claims["exp"].(float64)
			if exp <= iat || exp-iat > 3600 {
				t.Errorf("assertion iat %v exp %v: want exp after iat, at most an hour", iat, exp)
			}
			jti, _ := claims["jti"].(string)
			if jti == "" || jtis[jti] {
				t.Errorf("assertion jti %q is empty or reused", jti)
			}
			jtis[jti] = true
		},
		body: fmt.Sprintf(`{"token_type":"Bearer","expires_in":%d,"access_token":%q,"scope":"okta.users.manage okta.groups.manage"}`, expiresIn, tok),
	}
}

func TestOAuth(t *testing.T) {
	key := testRSAKey(t)
	oauthCfg := func(path string) Config {
		return Config{OAuth: &OAuth{ClientID: "0oaCLIENT", PrivateKeyFile: path, KeyID: "kid-1"}}
	}
	deactivate := connectors.Request{Operation: connectors.OpDeactivateUser, Subject: dana, Account: "00u1"}

	t.Run("the token request carries a valid private-key JWT and API calls use Bearer", func(t *testing.T) {
		jtis := map[string]bool{}
		var s *script
		s = newScript(t,
			tokenExch(&s, &key.PublicKey, "0oaCLIENT", jtis, "at-1", 3600),
			exch{method: "GET", path: "/api/v1/users/00u1", auth: "Bearer at-1", body: userJSON("00u1", "ACTIVE", "dana@example.com")},
			exch{method: "POST", path: "/api/v1/users/00u1/lifecycle/deactivate", auth: "Bearer at-1", query: q("sendEmail", "false")},
		)
		wantOutcome(t, mustDo(t, s.conn(oauthCfg(writeKey(t, key))), deactivate), connectors.OutcomeDone)
	})

	t.Run("a token expiring mid-run is refreshed once and the call retried", func(t *testing.T) {
		jtis := map[string]bool{}
		var s *script
		s = newScript(t,
			tokenExch(&s, &key.PublicKey, "0oaCLIENT", jtis, "at-1", 3600),
			exch{method: "GET", path: "/api/v1/users/00u1", auth: "Bearer at-1", body: userJSON("00u1", "ACTIVE", "dana@example.com")},
			exch{method: "POST", path: "/api/v1/users/00u1/lifecycle/deactivate", auth: "Bearer at-1", query: q("sendEmail", "false"),
				status: 401, body: oktaErr("E0000011", "Invalid token provided")},
			tokenExch(&s, &key.PublicKey, "0oaCLIENT", jtis, "at-2", 3600),
			exch{method: "POST", path: "/api/v1/users/00u1/lifecycle/deactivate", auth: "Bearer at-2", query: q("sendEmail", "false")},
		)
		wantOutcome(t, mustDo(t, s.conn(oauthCfg(writeKey(t, key))), deactivate), connectors.OutcomeDone)
	})

	t.Run("a token about to expire is renewed before use", func(t *testing.T) {
		clk := newClock()
		jtis := map[string]bool{}
		var s *script
		s = newScript(t,
			tokenExch(&s, &key.PublicKey, "0oaCLIENT", jtis, "at-1", 120),
			exch{method: "GET", path: "/api/v1/users/00u1", auth: "Bearer at-1", body: userJSON("00u1", "DEPROVISIONED", "dana@example.com")},
			tokenExch(&s, &key.PublicKey, "0oaCLIENT", jtis, "at-2", 120),
			exch{method: "GET", path: "/api/v1/users/00u1", auth: "Bearer at-2", body: userJSON("00u1", "DEPROVISIONED", "dana@example.com")},
		)
		c := s.conn(oauthCfg(writeKey(t, key)), WithClock(clk.Now))
		wantOutcome(t, mustDo(t, c, deactivate), connectors.OutcomeAlreadyDone)
		clk.Advance(100 * time.Second) // within 30s of expiry
		wantOutcome(t, mustDo(t, c, deactivate), connectors.OutcomeAlreadyDone)
	})

	t.Run("refused credentials are auth errors, with no retry loop and nothing secret", func(t *testing.T) {
		jtis := map[string]bool{}
		var s *script
		s = newScript(t,
			tokenExch(&s, &key.PublicKey, "0oaCLIENT", jtis, "at-1", 3600),
			exch{method: "GET", path: "/api/v1/users/00u1", auth: "Bearer at-1", status: 401, body: oktaErr("E0000011", "Invalid token provided")},
			exch{method: "POST", path: "/oauth2/v1/token", auth: "-", form: func(*testing.T, url.Values) {}, status: 401,
				reply: func(w http.ResponseWriter, s *script) {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(401)
					io.WriteString(w, `{"error":"invalid_client","error_description":"The client_assertion signature is invalid: eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln"}`)
				}},
		)
		_, err := s.conn(oauthCfg(writeKey(t, key))).Do(ctxT(t), deactivate)
		wantKind(t, err, connectors.KindAuth)
		if strings.Contains(err.Error(), "eyJ") || strings.Contains(err.Error(), "at-1") {
			t.Errorf("error carries a token or assertion: %v", err)
		}
		if !strings.Contains(err.Error(), "invalid_client") {
			t.Errorf("error %v does not say why", err)
		}
	})

	t.Run("scopes the app was not granted are forbidden", func(t *testing.T) {
		s := newScript(t,
			exch{method: "POST", path: "/oauth2/v1/token", auth: "-", form: func(*testing.T, url.Values) {}, status: 400,
				body: `{"error":"invalid_scope","error_description":"The following scopes are not allowed: okta.groups.manage"}`},
		)
		_, err := s.conn(oauthCfg(writeKey(t, key))).Do(ctxT(t), deactivate)
		wantKind(t, err, connectors.KindForbidden)
	})

	for status, kind := range map[int]connectors.Kind{503: connectors.KindTransient, 429: connectors.KindRateLimited, 400: connectors.KindInvalid} {
		t.Run(fmt.Sprintf("token endpoint %d is %s", status, kind), func(t *testing.T) {
			s := newScript(t,
				exch{method: "POST", path: "/oauth2/v1/token", auth: "-", form: func(*testing.T, url.Values) {}, status: status,
					header: map[string]string{"Retry-After": "3"}, body: `{"error":"server_error","error_description":"try later"}`},
			)
			_, err := s.conn(oauthCfg(writeKey(t, key))).Do(ctxT(t), deactivate)
			ce := wantKind(t, err, kind)
			if status == 429 && ce.RetryAfter != 3*time.Second {
				t.Errorf("RetryAfter %s, want 3s", ce.RetryAfter)
			}
			if !strings.Contains(err.Error(), "OAuth token request") {
				t.Errorf("error %v does not say the token request failed", err)
			}
		})
	}

	t.Run("an EC P-256 key signs ES256", func(t *testing.T) {
		ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		jtis := map[string]bool{}
		var s *script
		s = newScript(t,
			tokenExch(&s, &ec.PublicKey, "0oaCLIENT", jtis, "at-ec", 3600),
			exch{method: "GET", path: "/api/v1/users/00u1", auth: "Bearer at-ec", body: userJSON("00u1", "DEPROVISIONED", "dana@example.com")},
		)
		wantOutcome(t, mustDo(t, s.conn(oauthCfg(writeKey(t, ec))), deactivate), connectors.OutcomeAlreadyDone)
	})

	t.Run("bad key files are reported without their content", func(t *testing.T) {
		dir := t.TempDir()
		small, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			t.Fatal(err)
		}
		pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)})
		garbled := []byte("-----BEGIN PRIVATE KEY-----\nTUlJQ1NFQ1JFVA==\n-----END PRIVATE KEY-----\n")
		for name, tc := range map[string]struct {
			content []byte
			want    string
		}{
			"small":     {pkcs1, "at least 2048"},
			"garbled":   {garbled, "cannot parse"},
			"not pem":   {[]byte(`{"kty":"RSA","d":"SECRET"}`), "no PEM block"},
			"encrypted": {pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte("SECRET")}), "encrypted"},
			"missing":   {nil, "no such file"},
		} {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".pem")
			if tc.content != nil {
				os.WriteFile(path, tc.content, 0o600)
			}
			_, err := New("okta-test", Config{OrgURL: "https://example.okta.com", OAuth: &OAuth{ClientID: "c", PrivateKeyFile: path}}, testPolicy)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: error %v, want %q", name, err, tc.want)
			}
			if err != nil && (strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "MII")) {
				t.Errorf("%s: error carries key material: %v", name, err)
			}
		}
	})
}

// ---------------------------------------------------------------------------
// Configuration.

func TestConfigValidate(t *testing.T) {
	ok := Config{OrgURL: "https://example.okta.com", APIToken: secret.FromValue("x")}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	if got := (Config{OrgURL: " https://example.okta.com/ "}).BaseURL(); got != "https://example.okta.com" {
		t.Errorf("BaseURL = %q", got)
	}
	for name, tc := range map[string]struct {
		mut  func(*Config)
		want string
	}{
		"no org":         {func(c *Config) { c.OrgURL = "" }, "org_url is required"},
		"http":           {func(c *Config) { c.OrgURL = "http://example.okta.com" }, "must use https"},
		"path":           {func(c *Config) { c.OrgURL = "https://example.okta.com/api/v1" }, "without path"},
		"admin host":     {func(c *Config) { c.OrgURL = "https://example-admin.okta.com" }, "-admin"},
		"user info":      {func(c *Config) { c.OrgURL = "https://u:pw@example.okta.com" }, "user info"},
		"no credentials": {func(c *Config) { c.APIToken = secret.Secret{} }, "one of api_token or oauth is required"},
		"both":           {func(c *Config) { c.OAuth = &OAuth{ClientID: "c", PrivateKeyFile: "k"} }, "only one of"},
		"oauth fields":   {func(c *Config) { c.APIToken = secret.Secret{}; c.OAuth = &OAuth{} }, "oauth.client_id is required"},
		"scopes": {func(c *Config) {
			c.APIToken = secret.Secret{}
			c.OAuth = &OAuth{ClientID: "c", PrivateKeyFile: "k", Scopes: []string{"okta.groups.manage"}}
		}, "must include okta.users.manage"},
		"mode":            {func(c *Config) { c.DeactivateMode = "delete" }, "deactivate_mode"},
		"empty keep":      {func(c *Config) { c.KeepGroups = []string{" "} }, "keep_groups[0]"},
		"concurrency":     {func(c *Config) { c.MaxConcurrency = -1 }, "max_concurrency"},
		"negative wait":   {func(c *Config) { c.MaxRateWait = -1 }, "max_rate_wait"},
		"negative timout": {func(c *Config) { c.Timeout = -1 }, "timeout"},
	} {
		cfg := ok
		tc.mut(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "pw@") {
			t.Errorf("%s: error repeats user info: %v", name, err)
		}
	}
	if (Config{OrgURL: "http://127.0.0.1:8080", APIToken: secret.FromValue("x")}).Validate() != nil {
		t.Error("http on loopback should be accepted for tests")
	}
	if _, err := New("x", Config{OrgURL: "https://example.okta.com", APIToken: secret.Secret{Env: "OKTA_UNRESOLVED"}}, nil); err == nil || !strings.Contains(err.Error(), "not resolved") {
		t.Errorf("New with an unresolved token: %v", err)
	}
}

// TestConfigYAML decodes the example blocks in testdata the way the configs
// package does (unknown keys are errors) and checks they validate.
func TestConfigYAML(t *testing.T) {
	decode := func(t *testing.T, name string) (Config, error) {
		t.Helper()
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		var cfg Config
		dec := yaml.NewDecoder(strings.NewReader(string(data)))
		dec.KnownFields(true)
		return cfg, dec.Decode(&cfg)
	}

	t.Run("api token example", func(t *testing.T) {
		cfg, err := decode(t, "api-token.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		if cfg.APIToken.Env != "OKTA_API_TOKEN" || cfg.MaxRateWait.D() != 2*time.Second || cfg.Timeout.D() != 30*time.Second ||
			cfg.MaxConcurrency != 4 || !slices.Equal(cfg.KeepGroups, []string{"Alumni", "00g1emaKYZTWRYYRRTSK"}) || cfg.DeactivateMode != ModeDeactivate {
			t.Errorf("decoded %+v", cfg)
		}
		if got := fmt.Sprintf("%+v", cfg); !strings.Contains(got, secret.Redacted) {
			t.Errorf("the token does not print as %s: %s", secret.Redacted, got)
		}
	})

	t.Run("oauth example", func(t *testing.T) {
		cfg, err := decode(t, "oauth.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		if cfg.OAuth == nil || cfg.OAuth.ClientID != "0oa1abcdEFGH2345ijkl" || cfg.OAuth.KeyID != "kid-2024-01" || cfg.DeactivateMode != ModeSuspend {
			t.Errorf("decoded %+v %+v", cfg, cfg.OAuth)
		}
		if !connectors.Supports(Operations(cfg), connectors.OpRemoveGroupMemberships) {
			t.Error("okta.groups.manage granted, but remove_group_memberships not offered")
		}
	})

	t.Run("an inline token is refused", func(t *testing.T) {
		if _, err := decode(t, "inline-token.yaml"); err == nil || !strings.Contains(err.Error(), "inline secrets are not allowed") {
			t.Fatalf("error %v", err)
		}
	})

	t.Run("an unknown key is refused", func(t *testing.T) {
		if _, err := decode(t, "unknown-key.yaml"); err == nil || !strings.Contains(err.Error(), "base_url") {
			t.Fatalf("error %v", err)
		}
	})
}

// ---------------------------------------------------------------------------
// Conformance against the stateful fake.

func TestConformance(t *testing.T) {
	for _, mode := range []string{"api token", "oauth"} {
		t.Run(mode, func(t *testing.T) {
			key := testRSAKey(t)
			keyPath := writeKey(t, key)
			pemText, _ := os.ReadFile(keyPath)
			pemLine := strings.Split(string(pemText), "\n")[2]
			var apiTokens sync.Map
			h := conformance.Harness{
				New: func(t *testing.T) connectors.Connector {
					f := newFake(t)
					f.pageSize = 2 // exercise pagination
					f.seedDana()
					cfg := Config{OrgURL: f.srv.URL}
					if mode == "oauth" {
						f.clientID, f.pub, f.apiToken = "0oaCONFORMANCE", &key.PublicKey, ""
						cfg.OAuth = &OAuth{ClientID: f.clientID, PrivateKeyFile: keyPath}
					} else {
						cfg.APIToken = secret.FromValue(f.apiToken)
						apiTokens.Store(f.apiToken, true)
					}
					c, err := New("okta-conformance", cfg, testPolicy, WithSleep(func(ctx context.Context, _ time.Duration) error { return ctx.Err() }))
					if err != nil {
						t.Fatal(err)
					}
					fakes.Store(c, f)
					return c
				},
				Present: dana,
				Missing: connectors.Subject{Email: "nobody@example.com", EmployeeID: "E404"},
				Ops:     []connectors.Operation{connectors.OpDeactivateUser, connectors.OpRevokeSessions, connectors.OpRemoveGroupMemberships},
				InjectFailure: func(t *testing.T, c connectors.Connector, kind connectors.Kind) {
					status := map[connectors.Kind]int{
						connectors.KindTransient: 503, connectors.KindRateLimited: 429, connectors.KindAuth: 401,
						connectors.KindForbidden: 403, connectors.KindInvalid: 400, connectors.KindNotFound: 404,
					}[kind]
					f := fakeOf(t, c)
					f.inject(status)
					if kind == connectors.KindAuth && mode == "oauth" {
						// The API refuses the token and the token endpoint
						// then refuses the client: a revoked service app.
						f.injectToken(status)
					}
				},
				Slow:    func(t *testing.T, c connectors.Connector) { fakeOf(t, c).setSlow() },
				Secrets: []string{"00fakeApiToken", "fake-access-token-S3CR3T", pemLine},
			}
			conformance.Run(t, h)
		})
	}
}

// TestRequestsPerDeparture counts the HTTP requests one departure costs: a
// lookup, revoke_sessions, deactivate_user and remove_group_memberships for
// a user in four Okta groups (plus Everyone and an imported group), each
// verified.
func TestRequestsPerDeparture(t *testing.T) {
	for _, withAccount := range []bool{true, false} {
		name := "with the account id from discovery"
		if !withAccount {
			name = "by subject only"
		}
		t.Run(name, func(t *testing.T) {
			f := newFake(t)
			f.seedDana()
			c, err := New("okta", Config{OrgURL: f.srv.URL, APIToken: secret.FromValue(f.apiToken)}, testPolicy)
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Lookup(ctxT(t), dana)
			if err != nil || len(res.Accounts) != 1 {
				t.Fatalf("Lookup = %+v, %v", res, err)
			}
			account := ""
			if withAccount {
				account = res.Accounts[0].ID
			}
			perOp := map[string]int{"lookup": len(f.requestLog())}
			for _, op := range []connectors.Operation{connectors.OpRevokeSessions, connectors.OpDeactivateUser, connectors.OpRemoveGroupMemberships} {
				req := connectors.Request{Operation: op, Subject: dana, Account: account}
				f.resetLog()
				if res := mustDo(t, c, req); res.Outcome != connectors.OutcomeDone {
					t.Fatalf("%s: %+v", op, res)
				}
				perOp[string(op)] = len(f.requestLog())
				f.resetLog()
				if ver, err := c.Verify(ctxT(t), req); err != nil || !ver.OK {
					t.Fatalf("Verify %s = %+v, %v", op, ver, err)
				}
				perOp["verify "+string(op)] = len(f.requestLog())
			}
			total := 0
			for _, n := range perOp {
				total += n
			}
			t.Logf("requests per departure (%s): total %d: %v", name, total, perOp)
			want := 13
			if !withAccount {
				want = 15
			}
			if total != want {
				t.Errorf("total requests %d, want %d", total, want)
			}
			if u := f.user("00uDANA"); u.Status != statusDeprovisioned || u.Sessions != 0 || !slices.Equal(u.Groups, []string{"00gEVERYONE", "00gADSALES"}) {
				t.Errorf("final state %+v", u)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Fuzz tests of the parsers of Okta's answers.

func FuzzParseNextLink(f *testing.F) {
	f.Add(`<https://example.okta.com/api/v1/users/x/groups?after=00g1&limit=200>; rel="next"`)
	f.Add(`<https://a/self>; rel="self", <https://a/next>; rel="next"`)
	f.Add(`<https://a/x>; rel="prev next"; title="a, b"`)
	f.Add(`<<>>;;rel=next,`)
	f.Fuzz(func(t *testing.T, v string) {
		got := parseNextLink([]string{v})
		if got != "" && !strings.Contains(v, got) {
			t.Fatalf("parseNextLink(%q) = %q, not part of the input", v, got)
		}
	})
}

func FuzzDescribe(f *testing.F) {
	f.Add(401, []byte(`{"errorCode":"E0000011","errorSummary":"Invalid token provided","errorCauses":[{"errorSummary":"SSWS abc"}]}`))
	f.Add(400, []byte(`{"error":"invalid_client","error_description":"bad"}`))
	f.Add(500, []byte("<html>Bearer xyz</html>"))
	f.Add(429, []byte{0xff, 0xfe})
	c := &Connector{apiToken: testToken}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		body = append(body, []byte(" SSWS "+testToken)...)
		msg := c.message(&response{status: status, body: body})
		if strings.Contains(msg, testToken) {
			t.Fatalf("token survived: %q", msg)
		}
	})
}
