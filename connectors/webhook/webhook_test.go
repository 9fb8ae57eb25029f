package webhook_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/conformance"
	"github.com/kineticsec/kinetic/connectors/webhook"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

const token = "tok-5ecr3t-Zq81Xv0pLmW7"

var dana = connectors.Subject{EmployeeID: "E1001", Email: "dana.whitfield@example.com", Username: "dwhitfield", DisplayName: "Dana Whitfield"}

// call is one request the scripted server expects, and its answer.
type call struct {
	method string
	// path is compared with the request's escaped path.
	path string
	// query is compared with the parsed query; nil expects none.
	query url.Values
	// header lists headers the request must carry; an empty value means
	// the header must be absent.
	header map[string]string
	// body is the expected JSON body, compared as JSON; "" expects none.
	body string

	status       int
	answer       string
	answerFunc   func(r *http.Request) string // overrides answer
	answerHeader map[string]string
	// hold keeps the request open until the client gives up, after
	// signalling on the script's held channel.
	hold bool
}

// scripted is an httptest server that expects the calls in order, fails the
// test on any other request and, at cleanup, on any expected call that never
// came.
type scripted struct {
	*httptest.Server
	held chan struct{}

	t     *testing.T
	mu    sync.Mutex
	calls []call
	next  int
}

func script(t *testing.T, calls ...call) *scripted {
	t.Helper()
	s := &scripted{t: t, calls: calls, held: make(chan struct{}, len(calls)+1)}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for i := s.next; i < len(s.calls); i++ {
			t.Errorf("expected call %d (%s %s) never came", i+1, s.calls[i].method, s.calls[i].path)
		}
	})
	return s
}

// requests returns how many requests arrived.
func (s *scripted) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

func (s *scripted) serve(w http.ResponseWriter, r *http.Request) {
	t := s.t
	s.mu.Lock()
	if s.next >= len(s.calls) {
		s.next++
		s.mu.Unlock()
		t.Errorf("unexpected request %s %s", r.Method, r.URL.RequestURI())
		http.Error(w, "unexpected", http.StatusInternalServerError)
		return
	}
	n := s.next
	c := s.calls[n]
	s.next++
	s.mu.Unlock()

	where := fmt.Sprintf("call %d (%s %s)", n+1, c.method, c.path)
	if r.Method != c.method {
		t.Errorf("%s: method %s", where, r.Method)
	}
	if got := r.URL.EscapedPath(); got != c.path {
		t.Errorf("%s: path %s", where, got)
	}
	if q := r.URL.Query(); len(q) > 0 || c.query != nil {
		if !reflect.DeepEqual(q, c.query) {
			t.Errorf("%s: query %v (raw %q), want %v", where, q, r.URL.RawQuery, c.query)
		}
	}
	for k, want := range c.header {
		got, present := r.Header.Get(k), len(r.Header.Values(k)) > 0
		switch {
		case want == "" && present:
			t.Errorf("%s: header %s = %q, want none", where, k, got)
		case want != "" && got != want:
			t.Errorf("%s: header %s = %q, want %q", where, k, got, want)
		}
	}
	body, _ := io.ReadAll(r.Body)
	switch {
	case c.body == "" && len(body) > 0:
		t.Errorf("%s: unexpected body %s", where, body)
	case c.body != "":
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", where, ct)
		}
		var got, want any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Errorf("%s: body is not JSON: %v: %s", where, err, body)
		}
		if err := json.Unmarshal([]byte(c.body), &want); err != nil {
			t.Fatalf("%s: the script's body is not JSON: %v", where, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: body %s, want %s", where, body, c.body)
		}
	}
	if c.hold {
		s.held <- struct{}{}
		<-r.Context().Done()
		return
	}
	for k, v := range c.answerHeader {
		w.Header().Set(k, v)
	}
	answer := c.answer
	if c.answerFunc != nil {
		answer = c.answerFunc(r)
	}
	if answer != "" && w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(c.status)
	io.WriteString(w, answer)
}

// loopback allows the test servers' addresses.
func loopback(t *testing.T) *outbound.URLPolicy {
	t.Helper()
	p, err := outbound.NewURLPolicy([]string{"127.0.0.0/8", "::1/128"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func bearer(v string) *secret.Secret {
	s := secret.FromValue(v)
	return &s
}

// badgeConfig is the configuration from the package documentation, against
// base.
func badgeConfig(base string) webhook.Config {
	return webhook.Config{
		BaseURL: base + "/api/v2/",
		Auth:    &webhook.Auth{Bearer: bearer(token)},
		Headers: map[string]string{"X-Client": "kinetic-test"},
		Lookup: webhook.LookupSpec{
			Path:         "/people?email={{.Email}}",
			IDField:      "id",
			StatusField:  "state",
			ActiveValues: []string{"active", "enabled"},
			Kind:         "badge",
		},
		Operations: map[connectors.Operation]webhook.OperationSpec{
			connectors.OpDeactivateBadge: {
				Method:        "POST",
				Path:          "/badges/{{.Account}}/deactivate",
				Body:          `{"reason": {{json .Params.reason}}, "request": {{json .IdempotencyKey}}}`,
				AlreadyStatus: []int{409},
				VerifyStatus:  []string{"disabled", "inactive"},
			},
		},
	}
}

func newConnector(t *testing.T, cfg webhook.Config, policy *outbound.URLPolicy) *webhook.Connector {
	t.Helper()
	c, err := webhook.New("badges", cfg, policy)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func deactivate(account string) connectors.Request {
	return connectors.Request{
		Operation:      connectors.OpDeactivateBadge,
		Subject:        dana,
		Account:        account,
		Params:         map[string]string{"reason": "offboarding"},
		IdempotencyKey: "action-42",
	}
}

var danaQuery = url.Values{"email": {dana.Email}}

func lookupCall(answer string) call {
	return call{
		method: "GET", path: "/api/v2/people", query: danaQuery,
		header: map[string]string{"Authorization": "Bearer " + token, "Idempotency-Key": "", "X-Client": "kinetic-test", "Accept": "application/json"},
		status: 200, answer: answer,
	}
}

func deactivateCall(account string, status int, answer string) call {
	return call{
		method: "POST", path: "/api/v2/badges/" + account + "/deactivate",
		header: map[string]string{"Authorization": "Bearer " + token, "Idempotency-Key": "action-42", "X-Client": "kinetic-test"},
		body:   `{"reason": "offboarding", "request": "action-42"}`,
		status: status, answer: answer,
	}
}

func wantKind(t *testing.T, err error, kind connectors.Kind) *connectors.Error {
	t.Helper()
	var ce *connectors.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v (%T), want a *connectors.Error of kind %s", err, err, kind)
	}
	if ce.Kind != kind {
		t.Fatalf("kind = %s, want %s (%v)", ce.Kind, kind, err)
	}
	return ce
}

func TestWebhook(t *testing.T) {
	t.Run("deactivates and reads back", func(t *testing.T) {
		srv := script(t,
			lookupCall(`{"id": "B-1001", "name": "Dana Whitfield", "state": "active"}`),
			deactivateCall("B-1001", 200, `{"id": "B-1001", "state": "disabled"}`),
			lookupCall(`{"id": "B-1001", "state": "disabled"}`),
		)
		c := newConnector(t, badgeConfig(srv.URL), loopback(t))
		res, err := c.Do(ctxT(t), deactivate(""))
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != connectors.OutcomeDone || res.Account != "B-1001" {
			t.Errorf("result = %+v", res)
		}
		if res.Data["previous_status"] != "active" || res.Data["http_status"] != "200" || res.Data["idempotency_key"] != "action-42" {
			t.Errorf("data = %v", res.Data)
		}
		if !strings.Contains(res.Detail, "POST /api/v2/badges/B-1001/deactivate: 200 OK") {
			t.Errorf("detail = %q", res.Detail)
		}
		v, err := c.Verify(ctxT(t), deactivate("B-1001"))
		if err != nil {
			t.Fatal(err)
		}
		if !v.OK || v.Detail != "account B-1001 status=disabled" {
			t.Errorf("verify = %+v", v)
		}
	})

	t.Run("lookup reports the account", func(t *testing.T) {
		srv := script(t, lookupCall(`{"id": 1001, "state": "Enabled"}`))
		c := newConnector(t, badgeConfig(srv.URL), loopback(t))
		res, err := c.Lookup(ctxT(t), dana)
		if err != nil {
			t.Fatal(err)
		}
		want := []connectors.Account{{ID: "1001", Kind: "badge", Status: connectors.StatusActive, Detail: "status=Enabled"}}
		if !reflect.DeepEqual(res.Accounts, want) {
			t.Errorf("accounts = %+v, want %+v", res.Accounts, want)
		}
	})

	t.Run("already deactivated needs no call", func(t *testing.T) {
		srv := script(t, lookupCall(`{"id": "B-1001", "state": "Inactive"}`))
		c := newConnector(t, badgeConfig(srv.URL), loopback(t))
		res, err := c.Do(ctxT(t), deactivate(""))
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != connectors.OutcomeAlreadyDone || res.Account != "B-1001" || res.Detail != "already done: account B-1001 status=Inactive" {
			t.Errorf("result = %+v", res)
		}
	})

	t.Run("a status that is neither active nor verified still gets the call", func(t *testing.T) {
		srv := script(t,
			lookupCall(`{"id": "B-1001", "state": "suspended"}`),
			deactivateCall("B-1001", 204, ""),
		)
		c := newConnector(t, badgeConfig(srv.URL), loopback(t))
		res, err := c.Do(ctxT(t), deactivate(""))
		if err != nil || res.Outcome != connectors.OutcomeDone {
			t.Fatalf("Do = %+v, %v", res, err)
		}
	})

	t.Run("missing person is none found", func(t *testing.T) {
		missing := lookupCall(`{"error": "no such person"}`)
		missing.status = 404
		srv := script(t, missing, missing, missing)
		c := newConnector(t, badgeConfig(srv.URL), loopback(t))
		res, err := c.Do(ctxT(t), deactivate(""))
		if err != nil || res.Outcome != connectors.OutcomeNoneFound {
			t.Fatalf("Do = %+v, %v; want none found", res, err)
		}
		lr, err := c.Lookup(ctxT(t), dana)
		if err != nil || len(lr.Accounts) != 0 {
			t.Fatalf("Lookup = %+v, %v; want none", lr, err)
		}
		v, err := c.Verify(ctxT(t), deactivate(""))
		if err != nil || !v.OK || v.Detail != "no account" {
			t.Fatalf("Verify = %+v, %v; want OK", v, err)
		}
	})

	t.Run("an empty search result is none found", func(t *testing.T) {
		srv := script(t, lookupCall(`{"data": [], "total": 0}`), lookupCall(`{"data": null}`))
		cfg := badgeConfig(srv.URL)
		cfg.Lookup.IDField, cfg.Lookup.StatusField = "data.0.id", "data.0.state"
		c := newConnector(t, cfg, loopback(t))
		for range 2 {
			res, err := c.Do(ctxT(t), deactivate(""))
			if err != nil || res.Outcome != connectors.OutcomeNoneFound {
				t.Fatalf("Do = %+v, %v; want none found", res, err)
			}
		}
	})

	t.Run("a misspelt id_field is an error, never none found", func(t *testing.T) {
		srv := script(t, lookupCall(`{"id": "B-1001", "state": "active"}`))
		cfg := badgeConfig(srv.URL)
		cfg.Lookup.IDField = "uid"
		c := newConnector(t, cfg, loopback(t))
		_, err := c.Do(ctxT(t), deactivate(""))
		wantKind(t, err, connectors.KindInvalid)
		if !strings.Contains(err.Error(), `id_field uid: no key "uid" at the top level (keys: id, state)`) {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("an answer that is not JSON is an error, never none found", func(t *testing.T) {
		html := lookupCall("<html>Please sign in</html>")
		html.answerHeader = map[string]string{"Content-Type": "text/html"}
		srv := script(t, html)
		c := newConnector(t, badgeConfig(srv.URL), loopback(t))
		_, err := c.Lookup(ctxT(t), dana)
		wantKind(t, err, connectors.KindInvalid)
		if !strings.Contains(err.Error(), "GET /api/v2/people answered 200 OK, but the answer is not JSON (<html>Please sign in</html>)") {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("without id_field the email is the account", func(t *testing.T) {
		srv := script(t, call{method: "GET", path: "/api/v2/users/dana.whitfield%40example.com", status: 200, answer: "ok"})
		cfg := badgeConfig(srv.URL)
		cfg.Lookup = webhook.LookupSpec{Path: "/users/{{.Email}}"}
		cfg.Operations = nil
		c := newConnector(t, cfg, loopback(t))
		res, err := c.Lookup(ctxT(t), dana)
		if err != nil || len(res.Accounts) != 1 || res.Accounts[0].ID != dana.Email || res.Accounts[0].Status != connectors.StatusActive {
			t.Fatalf("Lookup = %+v, %v", res, err)
		}
	})

	t.Run("an empty value is never sent in a lookup", func(t *testing.T) {
		srv := script(t, call{method: "GET", path: "/api/v2/people", query: url.Values{"id": {"E1001"}}, status: 404})
		c := newConnector(t, badgeConfig(srv.URL), loopback(t))
		noEmail := connectors.Subject{EmployeeID: "E1001"}
		_, err := c.Lookup(ctxT(t), noEmail)
		wantKind(t, err, connectors.KindInvalid)
		if !strings.Contains(err.Error(), "not sent: .Email is empty") {
			t.Errorf("err = %v", err)
		}
		_, err = c.Do(ctxT(t), connectors.Request{Operation: connectors.OpDeactivateBadge, Subject: noEmail})
		wantKind(t, err, connectors.KindInvalid)

		// An optional value wrapped in with is the template's own choice.
		cfg := badgeConfig(srv.URL)
		cfg.Lookup.Path = "/people?{{with .Email}}email={{.}}{{else}}id={{.EmployeeID}}{{end}}"
		c = newConnector(t, cfg, loopback(t))
		if res, err := c.Lookup(ctxT(t), noEmail); err != nil || len(res.Accounts) != 0 {
			t.Fatalf("Lookup = %+v, %v", res, err)
		}
	})

	t.Run("409 means already done", func(t *testing.T) {
		srv := script(t, deactivateCall("B-1001", 409, `{"error": "badge already deactivated"}`))
		c := newConnector(t, badgeConfig(srv.URL), loopback(t))
		res, err := c.Do(ctxT(t), deactivate("B-1001"))
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != connectors.OutcomeAlreadyDone || res.Account != "B-1001" || !strings.Contains(res.Detail, "409 Conflict") {
			t.Errorf("result = %+v", res)
		}
	})

	t.Run("429 with Retry-After is rate limited", func(t *testing.T) {
		limited := deactivateCall("B-1001", 429, `{"error": "slow down"}`)
		limited.answerHeader = map[string]string{"Retry-After": "7"}
		srv := script(t, limited)
		c := newConnector(t, badgeConfig(srv.URL), loopback(t))
		_, err := c.Do(ctxT(t), deactivate("B-1001"))
		ce := wantKind(t, err, connectors.KindRateLimited)
		if ce.Status != 429 || ce.RetryAfter != 7*time.Second || !connectors.IsRetryable(err) || connectors.RetryAfterOf(err) != 7*time.Second {
			t.Errorf("err = %+v", ce)
		}
	})

	t.Run("500 is transient", func(t *testing.T) {
		srv := script(t, deactivateCall("B-1001", 500, "{\"error\":\n\"database\tlocked\"}"))
		c := newConnector(t, badgeConfig(srv.URL), loopback(t))
		_, err := c.Do(ctxT(t), deactivate("B-1001"))
		ce := wantKind(t, err, connectors.KindTransient)
		if ce.Status != 500 || !connectors.IsRetryable(err) {
			t.Errorf("err = %+v", ce)
		}
		want := `badges deactivate_badge: transient (status 500): POST /api/v2/badges/B-1001/deactivate answered 500 Internal Server Error: {"error": "database locked"}`
		if err.Error() != want {
			t.Errorf("err = %q\nwant  %q", err, want)
		}
	})

	t.Run("401 is auth, 403 forbidden", func(t *testing.T) {
		srv := script(t,
			deactivateCall("B-1001", 401, `{"error": "token expired"}`),
			deactivateCall("B-1001", 403, `{"error": "scope badges:write required"}`),
		)
		c := newConnector(t, badgeConfig(srv.URL), loopback(t))
		_, err := c.Do(ctxT(t), deactivate("B-1001"))
		wantKind(t, err, connectors.KindAuth)
		if connectors.IsRetryable(err) {
			t.Error("401 is retryable")
		}
		_, err = c.Do(ctxT(t), deactivate("B-1001"))
		wantKind(t, err, connectors.KindForbidden)
		if connectors.IsRetryable(err) || !strings.Contains(err.Error(), "scope badges:write required") {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("lookup failures are classified too", func(t *testing.T) {
		down := lookupCall("")
		down.status = 503
		down.answerHeader = map[string]string{"Retry-After": "3"}
		srv := script(t, down)
		c := newConnector(t, badgeConfig(srv.URL), loopback(t))
		_, err := c.Do(ctxT(t), deactivate(""))
		ce := wantKind(t, err, connectors.KindTransient)
		if ce.Op != "deactivate_badge" || ce.RetryAfter != 3*time.Second || !strings.Contains(err.Error(), "lookup: GET /api/v2/people answered 503") {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("template values are escaped", func(t *testing.T) {
		odd := connectors.Subject{
			Email:       "dana+ops/x@example.com",
			DisplayName: `Dana "DJ" O'Neil & co/?#`,
			Attributes:  map[string]string{"badge_id": "../7"},
		}
		srv := script(t,
			call{
				method: "GET", path: "/api/v2/people/..%2F7",
				query:  url.Values{"email": {odd.Email}, "name": {odd.DisplayName}},
				status: 200, answer: `{"id": "B/7?x=1", "state": "active"}`,
			},
			call{
				method: "PUT", path: "/api/v2/badges/B%2F7%3Fx%3D1/holders/%2E%2E",
				// note holds a JSON object as text: json can only make it a string.
				body:   `{"name": "Dana \"DJ\" O'Neil \u0026 co/?#", "note": "{\"a\": 1}"}`,
				status: 200,
			},
		)
		cfg := badgeConfig(srv.URL)
		cfg.Lookup.Path = "/people/{{.Attributes.badge_id}}?email={{.Email}}&name={{.DisplayName}}"
		cfg.Operations = map[connectors.Operation]webhook.OperationSpec{
			connectors.OpDeactivateBadge: {
				Method: "PUT",
				Path:   `/badges/{{.Account}}/holders/{{index .Params "holder"}}`,
				Body:   `{"name": {{json .DisplayName}}, "note": {{json .Params.note}}}`,
			},
		}
		c := newConnector(t, cfg, loopback(t))
		res, err := c.Do(ctxT(t), connectors.Request{
			Operation: connectors.OpDeactivateBadge, Subject: odd,
			Params: map[string]string{"holder": "..", "note": `{"a": 1}`},
		})
		if err != nil || res.Outcome != connectors.OutcomeDone {
			t.Fatalf("Do = %+v, %v", res, err)
		}
	})

	t.Run("secret never in errors", func(t *testing.T) {
		const password = "pw-Hunter2-Kx9Qz"
		basic := base64.StdEncoding.EncodeToString([]byte("svc-kinetic:" + password))
		for _, tc := range []struct {
			name    string
			auth    webhook.Auth
			header  string
			secrets []string
		}{
			{"bearer", webhook.Auth{Bearer: bearer(token)}, "Authorization", []string{token}},
			{"basic", webhook.Auth{Basic: &webhook.BasicAuth{Username: "svc-kinetic", Password: secret.FromValue(password)}}, "Authorization", []string{password, basic}},
			{"header", webhook.Auth{Header: &webhook.HeaderAuth{Name: "X-Api-Key", Value: secret.FromValue(token)}}, "X-Api-Key", []string{token}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				echo := func(r *http.Request) string {
					v := r.Header.Get(tc.header)
					// The whole header, a prefix, JSON-escaped and URL-escaped.
					b, _ := json.Marshal(map[string]string{"error": "bad request", "auth": v, "hint": "key starts " + v[:14], "q": url.QueryEscape(v)})
					return string(b)
				}
				srv := script(t,
					call{method: "POST", path: "/api/v2/badges/B-1001/deactivate", header: map[string]string{tc.header: sentAuth(tc.auth)}, body: `{"reason": "offboarding", "request": "action-42"}`, status: 400, answerFunc: echo},
					call{method: "GET", path: "/api/v2/people", query: danaQuery, status: 500, answerFunc: echo},
				)
				cfg := badgeConfig(srv.URL)
				cfg.Auth = &tc.auth
				c := newConnector(t, cfg, loopback(t))
				_, err1 := c.Do(ctxT(t), deactivate("B-1001"))
				wantKind(t, err1, connectors.KindInvalid)
				_, err2 := c.Lookup(ctxT(t), dana)
				wantKind(t, err2, connectors.KindTransient)
				for _, err := range []error{err1, err2} {
					msg := fmt.Sprintf("%v %+v %#v", err, err, errors.Unwrap(err))
					for _, s := range tc.secrets {
						if strings.Contains(msg, s) || strings.Contains(msg, s[:10]) {
							t.Errorf("a secret appears in %q", strings.ReplaceAll(msg, s, "<SECRET>"))
						}
					}
					if !strings.Contains(msg, "<redacted>") || !strings.Contains(msg, "bad request") {
						t.Errorf("err = %v, want the answer quoted with the secret redacted", err)
					}
				}
				if !strings.Contains(err1.Error(), "POST /api/v2/badges/B-1001/deactivate answered 400 Bad Request") {
					t.Errorf("err = %v, want method, path and status", err1)
				}
				if !strings.Contains(err2.Error(), "GET /api/v2/people answered 500") || strings.Contains(err2.Error(), "email") {
					t.Errorf("err = %v, want method, path and status but no query", err2)
				}
			})
		}
	})

	t.Run("context cancel stops the call", func(t *testing.T) {
		held := deactivateCall("B-1001", 200, "")
		held.hold = true
		srv := script(t, held)
		c := newConnector(t, badgeConfig(srv.URL), loopback(t))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() { _, err := c.Do(ctx, deactivate("B-1001")); done <- err }()
		select {
		case <-srv.held:
		case err := <-done:
			t.Fatalf("Do returned before the server held it: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("the request never reached the server")
		}
		cancel()
		select {
		case err := <-done:
			wantKind(t, err, connectors.KindCanceled)
			if !errors.Is(err, context.Canceled) || !connectors.IsRetryable(err) {
				t.Errorf("err = %v, want a retryable error wrapping context.Canceled", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Do did not return within 5s of its context being cancelled")
		}
	})

	t.Run("refused base URL is invalid and no request is made", func(t *testing.T) {
		srv := script(t) // expects nothing
		strict, err := outbound.NewURLPolicy([]string{"10.0.0.0/8"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for name, pol := range map[string]*outbound.URLPolicy{"policy without loopback": strict, "nil policy": nil} {
			t.Run(name, func(t *testing.T) {
				c := newConnector(t, badgeConfig(srv.URL), pol)
				_, err := c.Do(ctxT(t), deactivate("B-1001"))
				wantKind(t, err, connectors.KindInvalid)
				if !errors.Is(err, outbound.ErrURLRefused) || connectors.IsRetryable(err) {
					t.Errorf("err = %v, want a permanent ErrURLRefused", err)
				}
				if !strings.Contains(err.Error(), "POST /api/v2/badges/B-1001/deactivate") || !strings.Contains(err.Error(), "outbound.allow_cidrs") {
					t.Errorf("err = %v", err)
				}
				_, err = c.Lookup(ctxT(t), dana)
				wantKind(t, err, connectors.KindInvalid)
				_, err = c.Verify(ctxT(t), deactivate(""))
				wantKind(t, err, connectors.KindInvalid)
			})
		}
		if n := srv.requests(); n != 0 {
			t.Errorf("%d requests reached the server", n)
		}
	})

	t.Run("redirect to another host is not followed", func(t *testing.T) {
		other := script(t)
		moved := deactivateCall("B-1001", http.StatusTemporaryRedirect, "")
		moved.answerHeader = map[string]string{"Location": other.URL + "/api/v2/badges/B-1001/deactivate?sig=abc"}
		srv := script(t, moved)
		c := newConnector(t, badgeConfig(srv.URL), loopback(t))
		_, err := c.Do(ctxT(t), deactivate("B-1001"))
		ce := wantKind(t, err, connectors.KindInvalid)
		if ce.Status != 307 || !strings.Contains(err.Error(), "redirects to another host or scheme are not followed") || strings.Contains(err.Error(), "sig=") {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("a redirect on the same host is followed", func(t *testing.T) {
		moved := deactivateCall("B-1001", http.StatusPermanentRedirect, "")
		moved.answerHeader = map[string]string{"Location": "/api/v3/badges/B-1001/deactivate"}
		again := deactivateCall("B-1001", 200, "")
		again.path = "/api/v3/badges/B-1001/deactivate"
		srv := script(t, moved, again)
		c := newConnector(t, badgeConfig(srv.URL), loopback(t))
		if res, err := c.Do(ctxT(t), deactivate("B-1001")); err != nil || res.Outcome != connectors.OutcomeDone {
			t.Fatalf("Do = %+v, %v", res, err)
		}
	})

	t.Run("a body that does not render JSON is invalid and not sent", func(t *testing.T) {
		srv := script(t)
		cfg := badgeConfig(srv.URL)
		op := cfg.Operations[connectors.OpDeactivateBadge]
		op.Body = `{"reason": {{json .Params.reason}}{{if index .Params "extra"}},{{end}}}`
		cfg.Operations[connectors.OpDeactivateBadge] = op
		c := newConnector(t, cfg, loopback(t)) // valid with sample values
		req := deactivate("B-1001")
		req.Params = map[string]string{"reason": "x", "extra": "yes"}
		_, err := c.Do(ctxT(t), req)
		wantKind(t, err, connectors.KindInvalid)
		if !strings.Contains(err.Error(), "the rendered body is not valid JSON") {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("a missing parameter is invalid and nothing is sent", func(t *testing.T) {
		srv := script(t)
		c := newConnector(t, badgeConfig(srv.URL), loopback(t))
		req := deactivate("B-1001")
		req.Params = nil
		_, err := c.Do(ctxT(t), req)
		wantKind(t, err, connectors.KindInvalid)
		if !strings.Contains(err.Error(), `map has no entry for key "reason"`) {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("an unconfigured operation is invalid", func(t *testing.T) {
		srv := script(t)
		c := newConnector(t, badgeConfig(srv.URL), loopback(t))
		_, err := c.Do(ctxT(t), connectors.Request{Operation: connectors.OpRevokeVPN, Subject: dana})
		wantKind(t, err, connectors.KindInvalid)
		if !strings.Contains(err.Error(), `operation "revoke_vpn" is not configured for this webhook instance (configured: deactivate_badge)`) {
			t.Errorf("err = %v", err)
		}
		if got := c.Operations(); !reflect.DeepEqual(got, []connectors.Operation{connectors.OpDeactivateBadge}) {
			t.Errorf("Operations() = %v", got)
		}
	})

	t.Run("answers are read up to 1 MiB", func(t *testing.T) {
		huge := lookupCall(`{"id": "B-1001", "state": "active", "pad": "` + strings.Repeat("x", 1<<20) + `"}`)
		srv := script(t, huge)
		c := newConnector(t, badgeConfig(srv.URL), loopback(t))
		_, err := c.Lookup(ctxT(t), dana)
		wantKind(t, err, connectors.KindInvalid)
		if !strings.Contains(err.Error(), "larger than 1 MiB") {
			t.Errorf("err = %v", err)
		}
	})
}

// sentAuth returns the header value auth sends, for the script's
// expectations.
func sentAuth(a webhook.Auth) string {
	switch {
	case a.Bearer != nil:
		return "Bearer " + a.Bearer.Value()
	case a.Basic != nil:
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(a.Basic.Username+":"+a.Basic.Password.Value()))
	case a.Header != nil:
		return a.Header.Value.Value()
	}
	return ""
}

func TestNewNeedsResolvedSecrets(t *testing.T) {
	cfg := badgeConfig("https://198.51.100.7")
	cfg.Auth = &webhook.Auth{Bearer: &secret.Secret{Env: "KINETIC_TEST_NEVER_RESOLVED"}}
	_, err := webhook.New("badges", cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "auth.bearer: the secret is not resolved") {
		t.Errorf("err = %v", err)
	}
}

// fakeBadges is a small stateful badge system: people by email, each with a
// badge whose state is active, disabled or suspended.
type fakeBadges struct {
	mu      sync.Mutex
	byEmail map[string]*fakeBadge
	byID    map[string]*fakeBadge
	fail    []int // statuses to answer next, in order
	slow    bool
}

type fakeBadge struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	State string `json:"state"`
}

func newFakeBadges() *fakeBadges {
	f := &fakeBadges{byEmail: map[string]*fakeBadge{}, byID: map[string]*fakeBadge{}}
	b := &fakeBadge{ID: "B-1001", Email: dana.Email, State: "active"}
	f.byEmail[b.Email], f.byID[b.ID] = b, b
	return f
}

func (f *fakeBadges) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	if r.Header.Get("Authorization") != "Bearer "+token {
		reply(401, map[string]string{"error": "unauthorized"})
		return
	}
	f.mu.Lock()
	slow := f.slow
	var fail int
	if len(f.fail) > 0 {
		fail, f.fail = f.fail[0], f.fail[1:]
	}
	f.mu.Unlock()
	if slow {
		<-r.Context().Done()
		return
	}
	if fail != 0 {
		if fail == 429 || fail == 503 {
			w.Header().Set("Retry-After", "2")
		}
		// A careless system echoes the credentials it was sent.
		reply(fail, map[string]string{"error": http.StatusText(fail), "authorization": r.Header.Get("Authorization")})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v2/"), "/")
	switch {
	case r.Method == "GET" && len(parts) == 1 && parts[0] == "people":
		b := f.byEmail[r.URL.Query().Get("email")]
		if b == nil {
			reply(404, map[string]string{"error": "no such person"})
			return
		}
		reply(200, b)
	case r.Method == "POST" && len(parts) == 3 && parts[0] == "badges" && parts[2] == "deactivate":
		b := f.byID[parts[1]]
		switch {
		case b == nil:
			reply(404, map[string]string{"error": "no such badge"})
		case b.State != "active":
			reply(409, map[string]string{"error": "badge is " + b.State})
		default:
			b.State = "disabled"
			reply(200, b)
		}
	case r.Method == "PATCH" && len(parts) == 2 && parts[0] == "people":
		b := f.byID[parts[1]]
		var in struct {
			State string `json:"state"`
		}
		if b == nil {
			reply(404, map[string]string{"error": "no such person"})
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.State == "" {
			reply(400, map[string]string{"error": "bad body"})
			return
		}
		b.State = in.State
		reply(200, b)
	default:
		reply(404, map[string]string{"error": "no route"})
	}
}

func TestConformance(t *testing.T) {
	fakes := sync.Map{} // *webhook.Connector → *fakeBadges
	statusFor := map[connectors.Kind]int{
		connectors.KindTransient:   503,
		connectors.KindRateLimited: 429,
		connectors.KindAuth:        401,
		connectors.KindForbidden:   403,
		connectors.KindInvalid:     400,
		connectors.KindNotFound:    404,
	}
	fake := func(t *testing.T, c connectors.Connector) *fakeBadges {
		f, ok := fakes.Load(c)
		if !ok {
			t.Fatal("not a connector from this harness")
		}
		return f.(*fakeBadges)
	}
	conformance.Run(t, conformance.Harness{
		New: func(t *testing.T) connectors.Connector {
			f := newFakeBadges()
			srv := httptest.NewServer(f)
			t.Cleanup(srv.Close)
			cfg := badgeConfig(srv.URL)
			cfg.Operations[connectors.OpDisableAccount] = webhook.OperationSpec{
				Method:       "PATCH",
				Path:         "/people/{{.Account}}",
				Body:         `{"state": "suspended", "by": {{json .IdempotencyKey}}}`,
				VerifyStatus: []string{"suspended"},
			}
			c := newConnector(t, cfg, loopback(t))
			fakes.Store(connectors.Connector(c), f)
			return c
		},
		Present: dana,
		Missing: connectors.Subject{EmployeeID: "E9999", Email: "nobody@example.com", Username: "nobody"},
		Ops:     []connectors.Operation{connectors.OpDeactivateBadge, connectors.OpDisableAccount},
		Params: map[connectors.Operation]map[string]string{
			connectors.OpDeactivateBadge: {"reason": "offboarding"},
		},
		InjectFailure: func(t *testing.T, c connectors.Connector, kind connectors.Kind) {
			status, ok := statusFor[kind]
			if !ok {
				t.Fatalf("no status for kind %s", kind)
			}
			f := fake(t, c)
			f.mu.Lock()
			f.fail = append(f.fail, status)
			f.mu.Unlock()
		},
		Slow: func(t *testing.T, c connectors.Connector) {
			f := fake(t, c)
			f.mu.Lock()
			f.slow = true
			f.mu.Unlock()
		},
		Secrets: []string{token},
	})
}

// TestPolicyAllowsByHost checks that a host allowed by name passes the dial
// check even though it resolves to loopback.
func TestPolicyAllowsByHost(t *testing.T) {
	srv := script(t, lookupCall(`{"id": "B-1001", "state": "active"}`))
	u, _ := url.Parse(srv.URL)
	port := u.Port()
	pol := &outbound.URLPolicy{AllowHosts: []string{"badges.test"}, Resolver: fixedResolver{"badges.test": netip.MustParseAddr("127.0.0.1")}}
	c := newConnector(t, badgeConfig("http://badges.test:"+port), pol)
	if res, err := c.Lookup(ctxT(t), dana); err != nil || len(res.Accounts) != 1 {
		t.Fatalf("Lookup = %+v, %v", res, err)
	}
}

type fixedResolver map[string]netip.Addr

func (r fixedResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[host]; ok {
		return []netip.Addr{a}, nil
	}
	return nil, fmt.Errorf("no such host %s", host)
}
