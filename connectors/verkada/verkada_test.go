package verkada

import (
	"context"
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
	"github.com/kineticsec/kinetic/connectors/conformance"
	"github.com/kineticsec/kinetic/connectors/verkada/verkadatest"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

var testPolicy = &outbound.URLPolicy{AllowHosts: []string{"127.0.0.1"}}

const uid = "801c9551-b04c-4293-84ad-b0a6aa0588b3"

var (
	dana    = connectors.Subject{EmployeeID: "E100", Email: "dana@example.com", DisplayName: "Dana Scully"}
	nobody  = connectors.Subject{EmployeeID: "E404", Email: "nobody@example.com"}
	secrets = []string{verkadatest.APIKey, "verkada-TOKEN", verkadatest.EntryCode}
)

func secretOf(v string) secret.Secret { return secret.FromValue(v) }

func badge(s connectors.Subject) connectors.Request {
	return connectors.Request{Operation: connectors.OpDeactivateBadge, Subject: s}
}

func newConn(t *testing.T, cfg Config) *Connector {
	t.Helper()
	c, err := New("verkada-emea", cfg, testPolicy)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var fakes sync.Map

func TestConformance(t *testing.T) {
	for _, byEmail := range []bool{false, true} {
		name := "by external id"
		if byEmail {
			name = "by email"
		}
		t.Run(name, func(t *testing.T) {
			conformance.Run(t, conformance.Harness{
				New: func(t *testing.T) connectors.Connector {
					f := verkadatest.New(t)
					f.SeedDana()
					cfg := fakeConfig(f)
					cfg.FindByEmail = byEmail
					c := newConn(t, cfg)
					fakes.Store(c, f)
					return c
				},
				Present: dana,
				Missing: nobody,
				Ops:     Operations(),
				InjectFailure: func(t *testing.T, c connectors.Connector, kind connectors.Kind) {
					v, _ := fakes.Load(c)
					f := v.(*verkadatest.Verkada)
					switch kind {
					case connectors.KindAuth:
						f.Inject(401, 401)
					default:
						f.Inject(map[connectors.Kind]int{connectors.KindTransient: 503, connectors.KindRateLimited: 429,
							connectors.KindForbidden: 403, connectors.KindInvalid: 400, connectors.KindNotFound: 404}[kind])
					}
				},
				Slow: func(t *testing.T, c connectors.Connector) {
					v, _ := fakes.Load(c)
					v.(*verkadatest.Verkada).SetSlow()
				},
				Secrets: secrets,
			})
		})
	}
}

type step struct {
	method, path string
	query        url.Values
	status       int
	answer       string
}

// scripted serves steps in order, checking method, path, query and the
// auth header of each, and fails on any other request or a step never
// asked for.
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
		if len(body) > 0 {
			t.Errorf("step %d %s: unexpected body %q", next, s.path, body)
		}
		if s.path == "/token" {
			if r.Header.Get("x-api-key") != verkadatest.APIKey || r.Header.Get("x-verkada-auth") != "" {
				t.Errorf("token request headers %v", r.Header)
			}
		} else if r.Header.Get("x-verkada-auth") != "v2_tok-1" || r.Header.Get("x-api-key") != "" {
			t.Errorf("step %d %s: auth headers x-verkada-auth=%q x-api-key=%q", next, s.path, r.Header.Get("x-verkada-auth"), r.Header.Get("x-api-key"))
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

var (
	tokenStep = step{method: "POST", path: "/token", status: 200, answer: `{"token":"v2_tok-1"}`}
	extQuery  = url.Values{"external_id": {"E100"}}
	userQuery = url.Values{"user_id": {uid}}
	userStep  = step{method: "GET", path: pathUser, query: extQuery, status: 200, answer: `{"user_id":"` + uid + `","external_id":"E100",` +
		`"cards":[{"card_id":"c-1","active":true,"card_number":"1234","facility_code":"111","type":"HID"},` +
		`{"card_id":"c-old","active":false,"card_number":"42","facility_code":"111","type":"HID"}],` +
		`"license_plates":[{"license_plate_number":"KIN123","active":true}],"ble_unlock":true,"remote_unlock":true,"entry_code":"` + verkadatest.EntryCode + `"}`}
	offUserStep = step{method: "GET", path: pathUser, query: extQuery, status: 200, answer: `{"user_id":"` + uid + `","external_id":"E100",` +
		`"cards":[{"card_id":"c-1","active":false,"card_number":"1234","facility_code":"111","type":"HID"}],` +
		`"license_plates":[{"license_plate_number":"KIN123","active":false}],"ble_unlock":false,"remote_unlock":false}`}
)

func TestDeparture(t *testing.T) {
	srv := scripted(t,
		tokenStep, userStep,
		step{method: "PUT", path: pathCardOff, query: url.Values{"user_id": {uid}, "card_id": {"c-1"}}, status: 200,
			answer: `{"card_id":"c-1","active":false,"card_number":"1234","facility_code":"111","type":"HID"}`},
		step{method: "PUT", path: pathPlateOff, query: url.Values{"user_id": {uid}, "license_plate_number": {"KIN123"}}, status: 200,
			answer: `{"license_plate_number":"KIN123","active":false}`},
		step{method: "PUT", path: pathBLEOff, query: userQuery, status: 200, answer: `{}`},
		step{method: "PUT", path: pathRemoteOff, query: userQuery, status: 200, answer: `{}`},
		step{method: "DELETE", path: pathEntryCode, query: userQuery, status: 200, answer: `{}`},
		offUserStep, // Verify
		offUserStep, // a second Do: nothing to change
	)
	c := newConn(t, Config{APIURL: srv.URL, APIKey: secretOf(verkadatest.APIKey)})
	ctx := context.Background()
	res, err := c.Do(ctx, badge(dana))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != connectors.OutcomeDone || res.Data["deactivated"] != "HID 111:1234,license plate KIN123,mobile unlock,remote unlock,entry code" {
		t.Fatalf("%+v", res)
	}
	v, err := c.Verify(ctx, badge(dana))
	if err != nil || !v.OK || !strings.Contains(v.Detail, "0 active") {
		t.Fatalf("verify %+v %v", v, err)
	}
	if res, err := c.Do(ctx, badge(dana)); err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
		t.Fatalf("second Do %+v %v", res, err)
	}
}

func TestRequestsPerDeparture(t *testing.T) {
	f := verkadatest.New(t)
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
	want := []string{"POST /token", "GET " + pathUser, "GET " + pathUser,
		"PUT " + pathCardOff, "PUT " + pathCardOff, "PUT " + pathPlateOff, "PUT " + pathBLEOff, "DELETE " + pathEntryCode,
		"GET " + pathUser}
	if got := strings.Join(f.Requests, "\n"); got != strings.Join(want, "\n") {
		t.Fatalf("requests:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	t.Logf("%d requests: 1 token, lookup 1, deactivate_badge 1 read + 5 changes (2 active cards, a plate, mobile unlock, entry code), verify 1", len(f.Requests))
}

func TestFailures(t *testing.T) {
	for _, tt := range []struct {
		name      string
		steps     []step
		byEmail   bool
		kind      connectors.Kind
		retryable bool
		outcome   connectors.Outcome
		want      string
	}{
		{name: "wrong key", kind: connectors.KindAuth, want: "refused the API key (status 401)",
			steps: []step{{method: "POST", path: "/token", status: 401, answer: `{"id":"x","message":"Invalid API key","data":null}`}}},
		{name: "no permission", kind: connectors.KindForbidden, want: "deactivate HID 111:1234: Access denied",
			steps: []step{tokenStep, userStep,
				{method: "PUT", path: pathCardOff, query: url.Values{"user_id": {uid}, "card_id": {"c-1"}}, status: 403, answer: `{"id":"x","message":"Access denied","data":null}`},
				{method: "PUT", path: pathPlateOff, query: url.Values{"user_id": {uid}, "license_plate_number": {"KIN123"}}, status: 403, answer: `{"message":"Access denied"}`},
				{method: "PUT", path: pathBLEOff, query: userQuery, status: 200, answer: `{}`},
				{method: "PUT", path: pathRemoteOff, query: userQuery, status: 200, answer: `{}`},
				{method: "DELETE", path: pathEntryCode, query: userQuery, status: 200, answer: `{}`}}},
		{name: "not found is none found", outcome: connectors.OutcomeNoneFound,
			steps: []step{tokenStep, {method: "GET", path: pathUser, query: extQuery, status: 404, answer: `{"id":"x","message":"User not found","data":null}`}}},
		{name: "rate limited", kind: connectors.KindRateLimited, retryable: true, want: "retry after 7s",
			steps: []step{tokenStep, {method: "GET", path: pathUser, query: extQuery, status: 429, answer: `{"message":"Too Many Requests"}`}}},
		{name: "server error", kind: connectors.KindTransient, retryable: true, want: "status 502",
			steps: []step{tokenStep, {method: "GET", path: pathUser, query: extQuery, status: 502, answer: `<html><title>502 Bad Gateway</title></html>`}}},
		{name: "HTML instead of JSON", kind: connectors.KindInvalid, want: "Verkada answered HTML",
			steps: []step{tokenStep, {method: "GET", path: pathUser, query: extQuery, status: 200, answer: `<!doctype html><html><title>Sign in</title></html>`}}},
		{name: "unexpected shape", kind: connectors.KindInvalid, want: "without user_id",
			steps: []step{tokenStep, {method: "GET", path: pathUser, query: extQuery, status: 200, answer: `{"users":[]}`}}},
		{name: "card still active after deactivation", kind: connectors.KindTransient, retryable: true, want: "still active",
			steps: []step{tokenStep, userStep,
				{method: "PUT", path: pathCardOff, query: url.Values{"user_id": {uid}, "card_id": {"c-1"}}, status: 200, answer: `{"card_id":"c-1","active":true}`},
				{method: "PUT", path: pathPlateOff, query: url.Values{"user_id": {uid}, "license_plate_number": {"KIN123"}}, status: 200, answer: `{}`},
				{method: "PUT", path: pathBLEOff, query: userQuery, status: 200, answer: `{}`},
				{method: "PUT", path: pathRemoteOff, query: userQuery, status: 200, answer: `{}`},
				{method: "DELETE", path: pathEntryCode, query: userQuery, status: 200, answer: `{}`}}},
		{name: "found twice", byEmail: true, kind: connectors.KindInvalid, want: "2 Verkada Access users (u-1, u-2) have the person's email",
			steps: []step{tokenStep, {method: "GET", path: pathUsers, status: 200,
				answer: `{"access_members":[{"user_id":"u-1","email":"Dana@example.com"},{"user_id":"u-2","email":"dana@example.com"},{"user_id":"u-3","email":"fox@example.com"}]}`}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := scripted(t, tt.steps...)
			res, err := newConn(t, Config{APIURL: srv.URL, APIKey: secretOf(verkadatest.APIKey), FindByEmail: tt.byEmail}).Do(context.Background(), badge(dana))
			if tt.outcome != "" {
				if err != nil || res.Outcome != tt.outcome {
					t.Fatalf("%+v %v", res, err)
				}
				return
			}
			checkErr(t, err, tt.kind, tt.retryable, tt.want)
		})
	}
	t.Run("a partial failure says what was done", func(t *testing.T) {
		srv := scripted(t, tokenStep, userStep,
			step{method: "PUT", path: pathCardOff, query: url.Values{"user_id": {uid}, "card_id": {"c-1"}}, status: 503, answer: `{"message":"busy"}`},
			step{method: "PUT", path: pathPlateOff, query: url.Values{"user_id": {uid}, "license_plate_number": {"KIN123"}}, status: 200, answer: `{}`},
			step{method: "PUT", path: pathBLEOff, query: userQuery, status: 200, answer: `{}`},
			step{method: "PUT", path: pathRemoteOff, query: userQuery, status: 200, answer: `{}`},
			step{method: "DELETE", path: pathEntryCode, query: userQuery, status: 200, answer: `{}`})
		_, err := newConn(t, Config{APIURL: srv.URL, APIKey: secretOf(verkadatest.APIKey)}).Do(context.Background(), badge(dana))
		checkErr(t, err, connectors.KindTransient, true,
			"deactivated license plate KIN123, mobile unlock, remote unlock, entry code; 1 of 5 not deactivated (HID 111:1234: transient)")
	})
	t.Run("unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		cfg := Config{APIURL: srv.URL, APIKey: secretOf(verkadatest.APIKey)}
		srv.Close()
		_, err := newConn(t, cfg).Lookup(context.Background(), dana)
		checkErr(t, err, connectors.KindTransient, true, "Verkada unreachable")
	})
	t.Run("TLS failure", func(t *testing.T) {
		srv := httptest.NewTLSServer(http.NotFoundHandler())
		defer srv.Close()
		_, err := newConn(t, Config{APIURL: srv.URL, APIKey: secretOf(verkadatest.APIKey)}).Lookup(context.Background(), dana)
		checkErr(t, err, connectors.KindInvalid, false, "Verkada unreachable")
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
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "verkada-emea") {
		t.Fatalf("error %q does not say %q and name the instance", err, want)
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("secret in %q", err)
		}
	}
}

// TestTokenReuse: one API token serves calls for 25 minutes; a 401 with
// a cached token fetches a new one once.
func TestTokenReuse(t *testing.T) {
	f := verkadatest.New(t)
	f.SeedDana()
	now := time.Unix(1_800_000_000, 0)
	c, err := New("verkada-emea", fakeConfig(f), testPolicy, WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 2 {
		if _, err := c.Lookup(ctx, dana); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(26 * time.Minute)
	if _, err := c.Lookup(ctx, dana); err != nil {
		t.Fatal(err)
	}
	f.Mu.Lock()
	f.Tokens = map[string]bool{}
	f.Mu.Unlock()
	if _, err := c.Lookup(ctx, dana); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range f.Requests {
		if r == "POST /token" {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d token requests, want 3", n)
	}
}

func TestConfigValidate(t *testing.T) {
	err := Config{APIURL: "http://api.verkada.com", Match: "badge", FindByEmail: true, Timeout: -1}.Validate()
	for _, want := range []string{"api_url: ", "api_key: is required", `match: "badge" is not one of`, "find_by_email: ", "timeout: "} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}

func fakeConfig(f *verkadatest.Verkada) Config {
	return Config{APIURL: f.Srv.URL, APIKey: secretOf(verkadatest.APIKey)}
}
