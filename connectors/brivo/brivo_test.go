package brivo

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/brivo/brivotest"
	"github.com/kineticsec/kinetic/connectors/conformance"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

var testPolicy = &outbound.URLPolicy{AllowHosts: []string{"127.0.0.1"}}

var (
	dana    = connectors.Subject{EmployeeID: "E100", Email: "dana@example.com", DisplayName: "Dana Scully"}
	nobody  = connectors.Subject{EmployeeID: "E404", Email: "nobody@example.com"}
	secrets = []string{brivotest.APIKey, brivotest.ClientSecret, brivotest.Password, brivotest.PIN, "brivo-ACCESS-TOKEN", "brivo-REFRESH"}
)

func secretOf(v string) secret.Secret { return secret.FromValue(v) }

func badge(s connectors.Subject) connectors.Request {
	return connectors.Request{Operation: connectors.OpDeactivateBadge, Subject: s}
}

func newConn(t *testing.T, cfg Config) *Connector {
	t.Helper()
	c, err := New("brivo-hq", cfg, testPolicy)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var fakes sync.Map // *Connector → *fakeBrivo

func TestConformance(t *testing.T) {
	status := map[connectors.Kind]int{
		connectors.KindTransient: 503, connectors.KindRateLimited: 429, connectors.KindAuth: 401,
		connectors.KindForbidden: 403, connectors.KindInvalid: 400, connectors.KindNotFound: 404,
	}
	conformance.Run(t, conformance.Harness{
		New: func(t *testing.T) connectors.Connector {
			f := brivotest.New(t)
			f.PageSize = 1 // exercise paging
			f.SeedDana()
			c := newConn(t, fakeConfig(f))
			fakes.Store(c, f)
			return c
		},
		Present: dana,
		Missing: nobody,
		Ops:     Operations(),
		InjectFailure: func(t *testing.T, c connectors.Connector, kind connectors.Kind) {
			v, _ := fakes.Load(c)
			f := v.(*brivotest.Brivo)
			if kind == connectors.KindAuth {
				// The token is refused, and so is the fresh one: a
				// revoked application.
				f.Inject(401, 401)
				return
			}
			f.Inject(status[kind])
		},
		Slow: func(t *testing.T, c connectors.Connector) {
			v, _ := fakes.Load(c)
			v.(*brivotest.Brivo).SetSlow()
		},
		Secrets: secrets,
	})
}

// step is one request a scripted server expects, in order, and its answer.
type step struct {
	method, path string
	query        url.Values // nil: no query
	body         string     // exact JSON or form body expected ("" none)
	status       int
	answer       string
}

// scripted serves steps in order and fails the test on any other request,
// on a header that is not the documented one, and on a step never asked.
func scripted(t *testing.T, steps ...step) *httptest.Server {
	t.Helper()
	var mu sync.Mutex
	next := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if next >= len(steps) {
			t.Errorf("unexpected request %s %s after the script ended", r.Method, r.URL)
			w.WriteHeader(599)
			return
		}
		s := steps[next]
		next++
		body, _ := io.ReadAll(r.Body)
		if r.Method != s.method || r.URL.Path != s.path {
			t.Errorf("step %d: got %s %s, want %s %s", next, r.Method, r.URL.Path, s.method, s.path)
		}
		if got := r.URL.Query(); (s.query == nil && len(got) > 0) || (s.query != nil && got.Encode() != s.query.Encode()) {
			t.Errorf("step %d %s: query %q, want %q", next, s.path, got.Encode(), s.query.Encode())
		}
		if r.Header.Get("api-key") != brivotest.APIKey {
			t.Errorf("step %d %s: api-key header %q", next, s.path, r.Header.Get("api-key"))
		}
		if s.path == "/oauth/token" {
			if want := "Basic " + base64.StdEncoding.EncodeToString([]byte(brivotest.ClientID+":"+brivotest.ClientSecret)); r.Header.Get("Authorization") != want {
				t.Errorf("token request Authorization %q", r.Header.Get("Authorization"))
			}
			if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
				t.Errorf("token request Content-Type %q", r.Header.Get("Content-Type"))
			}
		} else if !strings.HasPrefix(r.Header.Get("Authorization"), "bearer tok-") {
			t.Errorf("step %d %s: Authorization %q", next, s.path, r.Header.Get("Authorization"))
		}
		if s.body != "" && strings.TrimSpace(string(body)) != s.body {
			t.Errorf("step %d %s: body %q, want %q", next, s.path, body, s.body)
		}
		if s.body == "" && len(body) > 0 {
			t.Errorf("step %d %s: unexpected body %q", next, s.path, body)
		}
		if strings.HasPrefix(s.answer, "{") {
			w.Header().Set("Content-Type", "application/json")
		}
		if s.status == 429 {
			w.Header().Set("Retry-After", "7")
		}
		w.WriteHeader(s.status)
		io.WriteString(w, s.answer)
	}))
	t.Cleanup(func() {
		srv.Close()
		mu.Lock()
		defer mu.Unlock()
		for ; next < len(steps); next++ {
			t.Errorf("expected request %s %s never came", steps[next].method, steps[next].path)
		}
	})
	return srv
}

func scriptConfig(srv *httptest.Server) Config {
	return Config{APIURL: srv.URL, AuthURL: srv.URL, APIKey: secretOf(brivotest.APIKey), ClientID: brivotest.ClientID,
		ClientSecret: secretOf(brivotest.ClientSecret), Username: brivotest.Username, Password: secretOf(brivotest.Password)}
}

var (
	tokenStep = step{method: "POST", path: "/oauth/token",
		body:   "grant_type=password&password=" + brivotest.Password + "&username=" + brivotest.Username,
		status: 200, answer: `{"access_token":"tok-1","token_type":"bearer","expires_in":300}`}
	userStep = step{method: "GET", path: "/v1/api/users/E100/external", status: 200,
		answer: `{"id":442211,"externalId":"E100","firstName":"Dana","pin":"` + brivotest.PIN + `","suspended":false}`}
	suspendedUserStep = step{method: "GET", path: "/v1/api/users/E100/external", status: 200,
		answer: `{"id":442211,"externalId":"E100","suspended":true}`}
	credQuery = url.Values{"offset": {"0"}, "pageSize": {"100"}}
	credsStep = step{method: "GET", path: "/v1/api/users/442211/credentials", query: credQuery, status: 200,
		answer: `{"data":[{"id":38981,"credentialFormat":{"id":100,"name":"HID 26 bit Card"},"referenceId":"329","encodedCredential":"28c0293"},` +
			`{"id":611729,"credentialFormat":{"id":2,"name":"PIN Code"},"encodedCredential":"` + brivotest.PIN + `"}],"count":2}`}
	noCredsStep = step{method: "GET", path: "/v1/api/users/442211/credentials", query: credQuery, status: 200, answer: `{"data":[],"count":0}`}
)

// TestDeparture is one departure against a scripted brivotest.Brivo: the requests,
// in order, with their headers and bodies, and the read-back.
func TestDeparture(t *testing.T) {
	srv := scripted(t,
		tokenStep, userStep, credsStep,
		step{method: "PUT", path: "/v1/api/users/442211/suspended", body: `{"suspended":true}`, status: 200, answer: `{"id":442211,"suspended":true}`},
		step{method: "DELETE", path: "/v1/api/users/442211/credentials/38981", status: 204},
		step{method: "DELETE", path: "/v1/api/users/442211/credentials/611729", status: 204},
		// Verify
		suspendedUserStep, noCredsStep,
		// A second Do: nothing left to change.
		suspendedUserStep, noCredsStep,
	)
	c := newConn(t, scriptConfig(srv))
	ctx := context.Background()
	res, err := c.Do(ctx, badge(dana))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != connectors.OutcomeDone || res.Account != "442211" || res.Data["credentials_removed"] != "38981,611729" ||
		res.Data["badges"] != "HID 26 bit Card 329,PIN Code #611729" {
		t.Fatalf("result %+v", res)
	}
	if strings.Contains(res.Detail, brivotest.PIN) {
		t.Fatalf("the PIN leaked into %q", res.Detail)
	}
	v, err := c.Verify(ctx, badge(dana))
	if err != nil || !v.OK || v.Detail != "Brivo user 442211 suspended=true, 0 credentials" {
		t.Fatalf("verify %+v %v", v, err)
	}
	res, err = c.Do(ctx, badge(dana))
	if err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
		t.Fatalf("second Do %+v %v", res, err)
	}
}

// TestRequestsPerDeparture counts the requests one departure costs on the
// stateful fake: lookup at planning, deactivate_badge, its verification.
func TestRequestsPerDeparture(t *testing.T) {
	f := brivotest.New(t)
	f.SeedDana()
	c := newConn(t, fakeConfig(f))
	ctx := context.Background()
	if _, err := c.Lookup(ctx, dana); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(ctx, badge(dana)); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Verify(ctx, badge(dana)); err != nil || !v.OK {
		t.Fatalf("%+v %v", v, err)
	}
	want := []string{
		"POST /oauth/token",
		"GET /v1/api/users/E100/external", "GET /v1/api/users/442211/credentials", // lookup
		"GET /v1/api/users/E100/external", "GET /v1/api/users/442211/credentials", // do
		"PUT /v1/api/users/442211/suspended",
		"DELETE /v1/api/users/442211/credentials/38981", "DELETE /v1/api/users/442211/credentials/611729",
		"GET /v1/api/users/E100/external", "GET /v1/api/users/442211/credentials", // verify
	}
	if got := strings.Join(f.Requests, "\n"); got != strings.Join(want, "\n") {
		t.Fatalf("requests:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	t.Logf("%d requests for a cardholder with 2 credentials: 1 token, lookup 2, deactivate_badge 2 reads + 1 suspension + 2 removals, verify 2", len(f.Requests))
}

// TestFailures: each failure is a classified error naming brivotest.Brivo, with the
// right retryability, and no secret in it.
func TestFailures(t *testing.T) {
	for _, tt := range []struct {
		name      string
		steps     []step
		cfg       func(*Config)
		kind      connectors.Kind
		retryable bool
		outcome   connectors.Outcome // for successes
		want      string
	}{
		{name: "wrong api key", kind: connectors.KindAuth, want: "Developer Inactive",
			steps: []step{tokenStep, {method: "GET", path: "/v1/api/users/E100/external", status: 403, answer: "<h1>Developer Inactive</h1>"}}},
		{name: "administrator login refused", kind: connectors.KindAuth, want: "refused the client credentials or the administrator login",
			steps: []step{{method: "POST", path: "/oauth/token", body: tokenStep.body, status: 400, answer: `{"error":"invalid_grant","error_description":"Bad credentials"}`}}},
		{name: "no permission to suspend", kind: connectors.KindForbidden, want: "You are not allowed",
			steps: []step{tokenStep, userStep, credsStep,
				{method: "PUT", path: "/v1/api/users/442211/suspended", body: `{"suspended":true}`, status: 403, answer: `{"code":403,"message":"You are not allowed to perform that action"}`}}},
		{name: "user not found is none found", outcome: connectors.OutcomeNoneFound,
			steps: []step{tokenStep, {method: "GET", path: "/v1/api/users/E100/external", status: 404, answer: `{"code":404,"message":"User not found"}`}}},
		{name: "rate limited", kind: connectors.KindRateLimited, retryable: true, want: "retry after 7s",
			steps: []step{tokenStep, {method: "GET", path: "/v1/api/users/E100/external", status: 429, answer: `{"code":429,"message":"Too many requests"}`}}},
		{name: "server error", kind: connectors.KindTransient, retryable: true, want: "status 503",
			steps: []step{tokenStep, {method: "GET", path: "/v1/api/users/E100/external", status: 503, answer: `{"code":503,"message":"dependent service unavailable"}`}}},
		{name: "HTML instead of JSON", kind: connectors.KindInvalid, want: "HTML (HTML page Maintenance)",
			steps: []step{tokenStep, {method: "GET", path: "/v1/api/users/E100/external", status: 200, answer: "<html><title>Maintenance</title></html>"}}},
		{name: "unexpected shape", kind: connectors.KindInvalid, want: "without id (unexpected shape)",
			steps: []step{tokenStep, {method: "GET", path: "/v1/api/users/E100/external", status: 200, answer: `{"user":{"id":1}}`}}},
		{name: "suspension not applied", kind: connectors.KindTransient, retryable: true, want: "suspended=false",
			steps: []step{tokenStep, userStep, credsStep,
				{method: "PUT", path: "/v1/api/users/442211/suspended", body: `{"suspended":true}`, status: 200, answer: `{"id":442211,"suspended":false}`}}},
		{name: "found twice", kind: connectors.KindInvalid, want: "2 Brivo users (1, 2) hold custom field 77",
			cfg: func(c *Config) { c.MatchCustomField = 77 },
			steps: []step{tokenStep, {method: "GET", path: "/v1/api/users", query: url.Values{"filter": {"cf_77__exact:E100"}, "pageSize": {"100"}},
				status: 200, answer: `{"data":[{"id":1,"suspended":false},{"id":2,"suspended":false}],"offset":0,"pageSize":100,"count":2}`}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := scripted(t, tt.steps...)
			cfg := scriptConfig(srv)
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			res, err := newConn(t, cfg).Do(context.Background(), badge(dana))
			if tt.outcome != "" {
				if err != nil || res.Outcome != tt.outcome {
					t.Fatalf("%+v %v", res, err)
				}
				return
			}
			checkErr(t, err, tt.kind, tt.retryable, tt.want)
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		cfg := scriptConfig(srv)
		srv.Close()
		_, err := newConn(t, cfg).Lookup(context.Background(), dana)
		checkErr(t, err, connectors.KindTransient, true, "Brivo unreachable")
	})
	t.Run("TLS failure", func(t *testing.T) {
		srv := httptest.NewTLSServer(http.NotFoundHandler())
		defer srv.Close()
		_, err := newConn(t, scriptConfig(srv)).Lookup(context.Background(), dana)
		checkErr(t, err, connectors.KindInvalid, false, "Brivo unreachable")
	})
}

func checkErr(t *testing.T, err error, kind connectors.Kind, retryable bool, want string) {
	t.Helper()
	var ce *connectors.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T), want a *connectors.Error", err, err)
	}
	if ce.Kind != kind || connectors.IsRetryable(err) != retryable {
		t.Fatalf("kind %s retryable %t, want %s %t: %v", ce.Kind, connectors.IsRetryable(err), kind, retryable, err)
	}
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "brivo-hq") {
		t.Fatalf("error %q does not say %q and name the instance", err, want)
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("secret in %q", err)
		}
	}
}

// TestPartialFailure: one credential that cannot be removed does not stop
// the others; the error says what was done, and the retry finishes.
func TestPartialFailure(t *testing.T) {
	f := brivotest.New(t)
	f.SeedDana()
	c := newConn(t, fakeConfig(f))
	ctx := context.Background()
	if _, err := c.Lookup(ctx, dana); err != nil { // takes the token
		t.Fatal(err)
	}
	// external, credentials, suspend answer normally; the first DELETE fails.
	var once sync.Once
	orig := f.Srv.Config.Handler
	f.Srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete && strings.HasSuffix(r.URL.Path, "/38981") {
			failed := false
			once.Do(func() { failed = true })
			if failed {
				brivotest.WriteJSON(w, 503, map[string]any{"code": 503, "message": "busy"})
				return
			}
		}
		orig.ServeHTTP(w, r)
	})
	_, err := c.Do(ctx, badge(dana))
	checkErr(t, err, connectors.KindTransient, true, "user suspended; 1 credential removed (PIN Code #611729); 1 of 2 credentials not removed (credential 38981: transient)")
	if v, _ := c.Verify(ctx, badge(dana)); v.OK {
		t.Fatalf("verified with a credential left: %s", v.Detail)
	}
	res, err := c.Do(ctx, badge(dana))
	if err != nil || res.Outcome != connectors.OutcomeDone || res.Data["credentials_removed"] != "38981" {
		t.Fatalf("retry %+v %v", res, err)
	}
	if v, _ := c.Verify(ctx, badge(dana)); !v.OK {
		t.Fatalf("not verified: %s", v.Detail)
	}
}

// TestTokenCache: one token serves calls until it expires; a 401 with a
// cached token fetches a new one once.
func TestTokenCache(t *testing.T) {
	f := brivotest.New(t)
	f.SeedDana()
	now := time.Unix(1_800_000_000, 0)
	c, err := New("brivo-hq", fakeConfig(f), testPolicy, WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 2 {
		if _, err := c.Lookup(ctx, dana); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(10 * time.Minute)
	if _, err := c.Lookup(ctx, dana); err != nil {
		t.Fatal(err)
	}
	f.Mu.Lock()
	f.Tokens = map[string]bool{} // brivotest.Brivo forgets every token
	f.Mu.Unlock()
	if _, err := c.Lookup(ctx, dana); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range f.Requests {
		if r == "POST /oauth/token" {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d token requests, want 3:\n%s", n, strings.Join(f.Requests, "\n"))
	}
}

func TestConfigValidate(t *testing.T) {
	err := Config{APIURL: "http://api.brivo.com", Match: "badge", MatchCustomField: -1, Timeout: -1}.Validate()
	for _, want := range []string{"api_url: ", "api_key: is required", "client_id: is required", "client_secret: is required",
		"username: is required", "password: is required", `match: "badge" is not one of`, "match_custom_field: ", "timeout: "} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	f := brivotest.New(t)
	if err := fakeConfig(f).Validate(); err != nil {
		t.Fatal(err)
	}
}

func fakeConfig(f *brivotest.Brivo) Config {
	return Config{
		APIURL: f.Srv.URL, AuthURL: f.Srv.URL,
		APIKey: secretOf(brivotest.APIKey), ClientID: brivotest.ClientID, ClientSecret: secretOf(brivotest.ClientSecret),
		Username: brivotest.Username, Password: secretOf(brivotest.Password),
	}
}
