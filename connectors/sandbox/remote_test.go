package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/conformance"
	"github.com/kineticsec/kinetic/connectors/sandbox"
	"github.com/kineticsec/kinetic/internal/dur"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/testwait"
)

// loopback is the outbound URL policy a test needs to reach an httptest
// server.
func loopback(t *testing.T) *outbound.URLPolicy {
	t.Helper()
	p, err := outbound.NewURLPolicy([]string{"127.0.0.1/32"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// serve hosts conns on an httptest server closed at the end of the test.
func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// newRemote returns the client of the instance name on the server at url.
func newRemote(t *testing.T, name, system, url string, policy *outbound.URLPolicy) *sandbox.Remote {
	t.Helper()
	r, err := sandbox.NewRemote(name, sandbox.Config{System: system, URL: url}, policy)
	if err != nil {
		t.Fatalf("NewRemote: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// hosted returns a seeded server-side instance, the server hosting it and a
// Remote for it.
func hosted(t *testing.T, name string, cfg sandbox.Config, opts ...sandbox.Option) (*sandbox.Connector, *httptest.Server, *sandbox.Remote) {
	t.Helper()
	c := newSeeded(t, name, cfg, opts...)
	srv := serve(t, sandbox.NewServer(c))
	return c, srv, newRemote(t, name, cfg.System, srv.URL, loopback(t))
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestRemoteConformance(t *testing.T) {
	for _, system := range sandbox.Systems {
		t.Run(system, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			backing := map[*sandbox.Remote]*sandbox.Connector{}
			server := func(c connectors.Connector) *sandbox.Connector {
				mu.Lock()
				defer mu.Unlock()
				return backing[c.(*sandbox.Remote)]
			}
			conformance.Run(t, conformance.Harness{
				New: func(t *testing.T) connectors.Connector {
					c, _, r := hosted(t, system+"-test", sandbox.Config{System: system}, sandbox.WithSeed(1))
					mu.Lock()
					backing[r] = c
					mu.Unlock()
					return r
				},
				Present: present,
				Missing: missing,
				Ops:     sandbox.Operations(system),
				Params: map[connectors.Operation]map[string]string{
					connectors.OpRemoveGroupMemberships: {"keep": "all-staff"},
					connectors.OpNotify:                 {"template": "final-pay"},
					connectors.OpTransferOwnership:      {"to": "manager@example.com"},
					connectors.OpSetForwarding:          {"forward_to": "manager@example.com"},
					connectors.OpRecordEquipmentStep:    connectors.EquipmentStepParams("LAP-0001", connectors.EquipmentReceived, "kinetic case 1", ""),
				},
				InjectFailure: func(t *testing.T, c connectors.Connector, kind connectors.Kind) {
					var ra time.Duration
					if kind == connectors.KindRateLimited {
						ra = 2 * time.Second
					}
					server(c).FailNext(present.Email, 1, kind, ra)
				},
				// The server finishes a call its client abandoned, and
				// closing the test server waits for it: slow enough to
				// cancel in flight, short enough not to hold the test.
				Slow: func(t *testing.T, c connectors.Connector) {
					server(c).SetLatency(500*time.Millisecond, 0)
				},
				Secrets: []string{"sandbox-fake-token-3f9a"},
			})
		})
	}
}

func TestRemoteType(t *testing.T) {
	r := newRemote(t, "badges", "badge", "http://127.0.0.1:1", nil)
	local := newSeeded(t, "badges", sandbox.Config{System: "badge"})
	if r.Name() != "badges" || r.System() != "badge" {
		t.Errorf("Name, System = %q, %q", r.Name(), r.System())
	}
	if got, want := r.Type(), local.Type(); got.Name != want.Name || connectors.OperationNames(got.Operations) != connectors.OperationNames(want.Operations) {
		t.Errorf("Type() = %+v, want the local sandbox's %+v", got, want)
	}
	if r, err := sandbox.NewRemote("", sandbox.Config{System: "vpn", URL: "http://127.0.0.1:1"}, nil); err != nil || r.Name() != "vpn" {
		t.Errorf("NewRemote without a name = %v, %v; want the system as name", r, err)
	}
}

func TestNewRemoteRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  sandbox.Config
		want string
	}{
		{"no url", sandbox.Config{System: "okta"}, "url is required"},
		{"no system", sandbox.Config{URL: "http://127.0.0.1:1"}, "system is required"},
		{"latency", sandbox.Config{System: "okta", URL: "http://127.0.0.1:1", Latency: dur.Duration(time.Second)}, "latency must not be set with url"},
		{"bad scheme", sandbox.Config{System: "okta", URL: "ftp://127.0.0.1/"}, "url must use http or https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sandbox.NewRemote("x", tt.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestConfigValidateURL(t *testing.T) {
	const why = "must not be set with url: the sandbox server sets latency, errors and limits"
	tests := []struct {
		name string
		cfg  sandbox.Config
		want []string // substrings of the error; none means valid
	}{
		{"url", sandbox.Config{System: "okta", URL: "http://127.0.0.1:8700"}, nil},
		{"url with a path", sandbox.Config{System: "okta", URL: "https://sandbox.example.com/bench/"}, nil},
		{"every server-side field", sandbox.Config{System: "okta", URL: "http://127.0.0.1:8700",
			Latency: dur.Duration(time.Second), Jitter: dur.Duration(time.Millisecond), ErrorRate: 0.5, RateLimit: 60},
			[]string{"latency " + why, "jitter " + why, "error_rate " + why, "rate_limit " + why}},
		{"no scheme", sandbox.Config{System: "okta", URL: "127.0.0.1:8700"}, []string{"url "}},
		{"no host", sandbox.Config{System: "okta", URL: "http:///x"}, []string{"url has no host"}},
		{"query", sandbox.Config{System: "okta", URL: "http://127.0.0.1:8700/?token=s3cret"}, []string{"url must not have a query"}},
		{"user info", sandbox.Config{System: "okta", URL: "http://u:s3cret@127.0.0.1:8700/"}, []string{"url must not carry user info"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v, want %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("Validate() repeats a credential: %v", err)
			}
		})
	}
}

// assertError checks the kind, status and retry-after of a connector error.
func assertError(t *testing.T, err error, kind connectors.Kind, status int, retryAfter time.Duration) *connectors.Error {
	t.Helper()
	var ce *connectors.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v (%T), want a *connectors.Error", err, err)
	}
	if ce.Kind != kind || ce.Status != status || ce.RetryAfter != retryAfter {
		t.Fatalf("err = kind %q status %d retry after %s (%v), want %q, %d, %s", ce.Kind, ce.Status, ce.RetryAfter, err, kind, status, retryAfter)
	}
	if got, want := connectors.IsRetryable(err), kind.Retryable(); got != want {
		t.Errorf("IsRetryable = %t, want %t", got, want)
	}
	return ce
}

func TestRemoteErrors(t *testing.T) {
	t.Run("rate limit is 429 with Retry-After", func(t *testing.T) {
		clock := &fakeClock{now: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
		c, srv, r := hosted(t, "okta", sandbox.Config{System: "okta", RateLimit: 1}, sandbox.WithClock(clock.Now))
		ctx := testCtx(t)
		if _, err := r.Lookup(ctx, present); err != nil {
			t.Fatalf("first Lookup: %v", err)
		}
		clock.Advance(15500 * time.Millisecond)
		_, err := r.Do(ctx, connectors.Request{Operation: connectors.OpDeactivateUser, Subject: present})
		ce := assertError(t, err, connectors.KindRateLimited, http.StatusTooManyRequests, 44500*time.Millisecond)
		if ce.Connector != "okta" || ce.Op != string(connectors.OpDeactivateUser) {
			t.Errorf("Connector, Op = %q, %q", ce.Connector, ce.Op)
		}
		if c.Stats().RateLimited != 1 || len(c.Effects()) != 0 {
			t.Errorf("stats = %+v, effects = %v", c.Stats(), c.Effects())
		}

		// On the wire: the status, the header in whole seconds (rounded
		// up) and the body.
		resp, err := http.Post(srv.URL+"/v1/okta/lookup", "application/json", strings.NewReader(`{"Email":"dana.scully@example.com"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "45" || resp.Header.Get("Content-Type") != "application/json" ||
			body["kind"] != "rate_limited" || body["status"] != 429.0 || body["retry_after_ms"] != 44500.0 ||
			!strings.Contains(body["message"].(string), "simulated rate limit of 1 requests per minute") {
			t.Errorf("answer = %d %v %v", resp.StatusCode, resp.Header, body)
		}
	})

	t.Run("injected transient failure is 503 and retryable", func(t *testing.T) {
		c, _, r := hosted(t, "ad", sandbox.Config{System: "ad"})
		ctx := testCtx(t)
		req := connectors.Request{Operation: connectors.OpDisableAccount, Subject: present}
		c.FailNext(present.Email, 1, connectors.KindTransient, 0)
		_, err := r.Do(ctx, req)
		ce := assertError(t, err, connectors.KindTransient, http.StatusServiceUnavailable, 0)
		if ce.Op != "disable_account" || !strings.Contains(err.Error(), "simulated transient failure") {
			t.Errorf("err = %v", err)
		}
		if len(c.Effects()) != 0 {
			t.Errorf("the failed call changed something: %v", c.Effects())
		}
		res, err := r.Do(ctx, req)
		if err != nil || res.Outcome != connectors.OutcomeDone {
			t.Fatalf("retry = %+v, %v", res, err)
		}
	})

	t.Run("every injected kind keeps its kind, status and op", func(t *testing.T) {
		c, _, r := hosted(t, "m365", sandbox.Config{System: "m365"})
		ctx := testCtx(t)
		req := connectors.Request{Operation: connectors.OpRevokeSessions, Subject: present}
		for kind, status := range map[connectors.Kind]int{
			connectors.KindAuth: 401, connectors.KindForbidden: 403, connectors.KindNotFound: 404,
			connectors.KindInvalid: 400, connectors.KindRateLimited: 429,
		} {
			c.FailNext(present.Email, 1, kind, 1500*time.Millisecond)
			_, err := r.Verify(ctx, req)
			ce := assertError(t, err, kind, status, 1500*time.Millisecond)
			if ce.Op != "verify revoke_sessions" {
				t.Errorf("Op = %q", ce.Op)
			}
		}
		// A simulated cancellation reads as the local one does.
		c.FailNext(present.Email, 1, connectors.KindCanceled, 0)
		_, err := r.Lookup(ctx, present)
		ce := assertError(t, err, connectors.KindCanceled, http.StatusInternalServerError, 0)
		if !errors.Is(err, context.Canceled) || ce.Op != "lookup" {
			t.Errorf("err = %v, want it to wrap context.Canceled", err)
		}
	})

	t.Run("unsupported operation is invalid", func(t *testing.T) {
		_, _, r := hosted(t, "vpn", sandbox.Config{System: "vpn"})
		_, err := r.Do(testCtx(t), connectors.Request{Operation: connectors.OpDeleteMailbox, Subject: present})
		assertError(t, err, connectors.KindInvalid, http.StatusBadRequest, 0)
		if !strings.Contains(err.Error(), "not supported by the vpn sandbox") {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("unknown instance is not found", func(t *testing.T) {
		_, srv, _ := hosted(t, "okta", sandbox.Config{System: "okta"})
		r := newRemote(t, "okta-emea", "okta", srv.URL, loopback(t))
		_, err := r.Lookup(testCtx(t), present)
		ce := assertError(t, err, connectors.KindNotFound, http.StatusNotFound, 0)
		if ce.Connector != "okta-emea" || ce.Op != "lookup" || !strings.Contains(err.Error(), `no sandbox instance "okta-emea"`) {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("bad requests are answered 400, 404 or 405 with an error body", func(t *testing.T) {
		c, srv, _ := hosted(t, "okta", sandbox.Config{System: "okta"})
		for _, tc := range []struct {
			method, path, body string
			status             int
			message            string
		}{
			{"POST", "/v1/okta/do", `{"Operation":`, 400, "bad request body"},
			{"POST", "/v1/okta/do", `{"Operation":"revoke_sessions","Bogus":1}`, 400, `unknown field "Bogus"`},
			{"POST", "/v1/okta/do", `{"Operation":"revoke_sessions"} {}`, 400, "unexpected data after the JSON value"},
			{"POST", "/v1/okta/lookup", `["dana"]`, 400, "bad request body"},
			{"POST", "/v1/okta/lookup", strings.Repeat(" ", 2<<20), 400, "too large"},
			{"GET", "/v1/okta/do", ``, 405, "do wants POST, not GET"},
			{"POST", "/v1/okta/effects", `{}`, 405, "effects wants GET"},
			{"POST", "/v1/okta/delete", `{}`, 404, "no such route"},
			{"GET", "/v2/okta/stats", ``, 404, "no such route"},
			{"GET", "/v1/nope/stats", ``, 404, `no sandbox instance "nope"`},
		} {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var eb struct {
				Kind    string `json:"kind"`
				Status  int    `json:"status"`
				Message string `json:"message"`
			}
			if resp.StatusCode != tc.status || json.Unmarshal(b, &eb) != nil || eb.Status != tc.status || eb.Kind == "" || !strings.Contains(eb.Message, tc.message) {
				t.Errorf("%s %s %.40q = %d %s, want %d and %q", tc.method, tc.path, tc.body, resp.StatusCode, b, tc.status, tc.message)
			}
		}
		if st := c.Stats(); st.Calls != 0 {
			t.Errorf("bad requests reached the connector: %+v", st)
		}
	})

	t.Run("answers that are not the server's are classified by status", func(t *testing.T) {
		var (
			mu           sync.Mutex
			status       int
			header, body string
		)
		srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			if header != "" {
				w.Header().Set("Retry-After", header)
			}
			w.WriteHeader(status)
			io.WriteString(w, body)
		}))
		r := newRemote(t, "okta", "okta", srv.URL, loopback(t))
		for _, tc := range []struct {
			status       int
			header, body string
			kind         connectors.Kind
			retryAfter   time.Duration
		}{
			{502, "", "<html>bad gateway</html>", connectors.KindTransient, 0},
			{429, "3", "slow down", connectors.KindRateLimited, 3 * time.Second},
			// The server's body without retry_after_ms: the header counts.
			{429, "7", `{"kind":"rate_limited","status":429,"message":"busy"}`, connectors.KindRateLimited, 7 * time.Second},
			{403, "", `{"kind":"no_such_kind"}`, connectors.KindForbidden, 0},
			{302, "", "", connectors.KindInvalid, 0},
			{200, "", "not json", connectors.KindInvalid, 0},
		} {
			mu.Lock()
			status, header, body = tc.status, tc.header, tc.body
			mu.Unlock()
			_, err := r.Lookup(testCtx(t), present)
			assertError(t, err, tc.kind, tc.status, tc.retryAfter)
		}
	})

	t.Run("server down is transient", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		r := newRemote(t, "okta", "okta", url, loopback(t))
		_, err := r.Lookup(testCtx(t), present)
		assertError(t, err, connectors.KindTransient, 0, 0)
	})
}

// TestRemoteClientGoneEffectCompletesOnce kills the client mid-call, as a
// worker killed with -9 would: the server finishes the call, so the effect
// happens exactly once, and the retry answers already done.
func TestRemoteClientGoneEffectCompletesOnce(t *testing.T) {
	c := newSeeded(t, "okta", sandbox.Config{System: "okta", Latency: dur.Duration(100 * time.Millisecond)})
	arrived := make(chan struct{})
	var first sync.Once
	hostedSrv := sandbox.NewServer(c)
	// The gate holds the first do call until its client has gone, then
	// lets the sandbox server run it: a call whose client disconnected
	// mid-call, deterministically.
	gate := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		isFirst := false
		if strings.HasSuffix(r.URL.Path, "/do") {
			first.Do(func() { isFirst = true })
		}
		if isFirst {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				t.Errorf("reading the request: %v", err)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			close(arrived)
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
				t.Error("the client did not go away")
			}
		}
		hostedSrv.ServeHTTP(w, r)
	})
	srv := serve(t, gate)
	r := newRemote(t, "okta", "okta", srv.URL, loopback(t))
	req := connectors.Request{Operation: connectors.OpDeactivateUser, Subject: present}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := r.Do(ctx, req)
		done <- err
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the call never reached the server")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || connectors.KindOf(err) != connectors.KindCanceled || !connectors.IsRetryable(err) {
			t.Fatalf("Do after cancel = %v, want a retryable cancellation", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Do did not return after its context was cancelled")
	}

	// The server finishes the call on its own.
	var effects []sandbox.Effect
	testwait.Until(10*time.Second, func() bool {
		var err error
		effects, err = r.Effects(testCtx(t))
		if err != nil {
			t.Fatalf("Effects: %v", err)
		}
		return len(effects) > 0
	})
	if len(effects) != 1 || effects[0].Operation != string(connectors.OpDeactivateUser) || effects[0].Connector != "okta" || effects[0].Seq != 1 {
		t.Fatalf("effects = %+v, want the one deactivation", effects)
	}

	// The retry a surviving worker makes is an idempotent success.
	res, err := r.Do(testCtx(t), req)
	if err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
		t.Fatalf("retry = %+v, %v; want already done", res, err)
	}
	effects, err = r.Effects(testCtx(t))
	if err != nil || len(effects) != 1 {
		t.Fatalf("effects after the retry = %+v, %v; want still one", effects, err)
	}
	st, err := r.Stats(testCtx(t))
	if err != nil || st.Calls != 2 || st.Effects != 1 {
		t.Errorf("Stats = %+v, %v; want 2 calls, 1 effect", st, err)
	}
	if st != c.Stats() {
		t.Errorf("remote Stats %+v != server's %+v", st, c.Stats())
	}
}

func TestRemoteURLPolicy(t *testing.T) {
	c := newSeeded(t, "badge", sandbox.Config{System: "badge"})
	srv := serve(t, sandbox.NewServer(c))
	ctx := testCtx(t)

	t.Run("loopback is refused unless allowed", func(t *testing.T) {
		for _, p := range []*outbound.URLPolicy{nil, {}} {
			r := newRemote(t, "badge", "badge", srv.URL, p)
			_, err := r.Lookup(ctx, present)
			if !errors.Is(err, outbound.ErrURLRefused) {
				t.Fatalf("err = %v, want a refusal by the outbound URL policy", err)
			}
			assertError(t, err, connectors.KindInvalid, 0, 0)
			if !strings.Contains(err.Error(), "outbound.allow_cidrs") {
				t.Errorf("err = %v, want it to say how to allow the address", err)
			}
		}
		if st := c.Stats(); st.Calls != 0 {
			t.Errorf("a refused call reached the server: %+v", st)
		}
	})

	t.Run("127.0.0.1/32 allows it", func(t *testing.T) {
		r := newRemote(t, "badge", "badge", srv.URL, loopback(t))
		res, err := r.Lookup(ctx, present)
		if err != nil || len(res.Accounts) != 1 || res.Accounts[0].Kind != "badge" {
			t.Fatalf("Lookup = %+v, %v", res, err)
		}
	})
}

func TestServer(t *testing.T) {
	a := newSeeded(t, "okta", sandbox.Config{System: "okta"})
	b := newSeeded(t, "vpn", sandbox.Config{System: "vpn"})
	s := sandbox.NewServer(a, nil, b)
	if got, ok := s.Connector("okta"); !ok || got != a {
		t.Errorf("Connector(okta) = %p, %t", got, ok)
	}
	if _, ok := s.Connector("ad"); ok {
		t.Error("Connector(ad) found an instance")
	}

	// An empty effect record is an empty list, not null.
	srv := serve(t, s)
	resp, err := http.Get(srv.URL + "/v1/vpn/effects")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "[]" {
		t.Errorf("effects = %d %s", resp.StatusCode, body)
	}

	// Two instances on one server keep separate state.
	ra := newRemote(t, "okta", "okta", srv.URL, loopback(t))
	rb := newRemote(t, "vpn", "vpn", srv.URL, loopback(t))
	ctx := testCtx(t)
	if res, err := rb.Do(ctx, connectors.Request{Operation: connectors.OpRevokeVPN, Subject: present}); err != nil || res.Outcome != connectors.OutcomeDone {
		t.Fatalf("vpn Do = %+v, %v", res, err)
	}
	if ea, err := ra.Effects(ctx); err != nil || len(ea) != 0 {
		t.Errorf("okta effects = %+v, %v", ea, err)
	}
	if eb, err := rb.Effects(ctx); err != nil || len(eb) != 1 || eb[0].Account != "dana-vpn" {
		t.Errorf("vpn effects = %+v, %v", eb, err)
	}
}

// TestRemoteConcurrentDoRecordsOneEffect is the cross-process property the
// benchmarks rely on: many clients (as many workers) doing the same
// operation make one effect.
func TestRemoteConcurrentDoRecordsOneEffect(t *testing.T) {
	c, srv, _ := hosted(t, "ad", sandbox.Config{System: "ad"})
	ctx := testCtx(t)
	var wg sync.WaitGroup
	outcomes := make(chan connectors.Outcome, 16)
	for range 16 {
		r := newRemote(t, "ad", "ad", srv.URL, loopback(t))
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.Do(ctx, connectors.Request{Operation: connectors.OpDisableAccount, Subject: present})
			if err != nil {
				t.Error(err)
				return
			}
			outcomes <- res.Outcome
		}()
	}
	wg.Wait()
	close(outcomes)
	done := 0
	for o := range outcomes {
		if o == connectors.OutcomeDone {
			done++
		}
	}
	if done != 1 || len(c.Effects()) != 1 {
		t.Errorf("%d calls done, %d effects; want 1 and 1", done, len(c.Effects()))
	}
}
