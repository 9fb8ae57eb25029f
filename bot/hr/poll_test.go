package hr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/bot/hr/hrconfig"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/compose/table"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
	"github.com/kineticsec/kinetic/store"
)

// loopback allows the test servers on 127.0.0.1 through the URL policy.
func loopback() *outbound.URLPolicy {
	return &outbound.URLPolicy{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
}

func testLog(t *testing.T) *logrus.Entry {
	l := logrus.New()
	l.Out = tWriter{t}
	l.Level = logrus.DebugLevel
	return logrus.NewEntry(l)
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// script is a scripted HR API: each request must match the next step, and
// every step must have been used by the end of the test.
type script struct {
	t     *testing.T
	mu    sync.Mutex
	steps []step
	next  int
}

type step struct {
	method, path string
	check        func(*http.Request) error
	status       int
	body         string
}

func newScript(t *testing.T, steps ...step) *httptest.Server {
	s := &script{t: t, steps: steps}
	srv := httptest.NewServer(s)
	t.Cleanup(func() {
		srv.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.next != len(s.steps) {
			t.Errorf("%d of %d expected requests came; the next expected was %s %s", s.next, len(s.steps), s.steps[s.next].method, s.steps[s.next].path)
		}
	})
	return srv
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next >= len(s.steps) {
		s.t.Errorf("unexpected request %s %s", r.Method, r.URL)
		http.Error(w, "unexpected", http.StatusTeapot)
		return
	}
	st := s.steps[s.next]
	s.next++
	if r.Method != st.method || r.URL.Path != st.path {
		s.t.Errorf("request %d: %s %s, want %s %s", s.next, r.Method, r.URL.Path, st.method, st.path)
	}
	if st.check != nil {
		if err := st.check(r); err != nil {
			s.t.Errorf("request %d (%s %s): %v", s.next, r.Method, r.URL, err)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(st.status)
	fmt.Fprint(w, st.body)
}

func basicAuth(user, pass string) func(*http.Request) error {
	return func(r *http.Request) error {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != pass {
			return fmt.Errorf("basic auth %q/%q, want %q", u, p, user)
		}
		if r.Header.Get("Accept") != "application/json" {
			return fmt.Errorf("Accept %q", r.Header.Get("Accept"))
		}
		return nil
	}
}

const raasPath = "/ccx/service/customreport2/acme/ISU_Kinetic/Terminations"

func workdayPoller(url string) *hrconfig.Poller {
	return &hrconfig.Poller{Format: hrconfig.FormatWorkdayRaaS, URL: url + raasPath + "?format=json&Effective_as_of=today",
		Username: "ISU_Kinetic@acme", Password: secret.FromValue("wd-pass"),
		Fields: &hrconfig.Fields{EventID: "Event_WID", Kind: "Business_Process", EmployeeID: "Employee_ID", Email: "Email",
			Date: "Termination_Date", Involuntary: "Involuntary", Reason: "Reason"},
		Kinds: map[string]string{"Terminate Employee": "terminate", "Rescind Termination": "rescind"}}
}

func TestWorkdayRaaSPoller(t *testing.T) {
	e := newEnv(t, testConfig(), nil)
	date := localDate(time.Now(), 7)
	report := `{"Report_Entry":[
	 {"Event_WID":"a1","Business_Process":"Terminate Employee","Employee_ID":"E1","Email":"erin@example.test","Termination_Date":"` + date + `-05:00","Involuntary":"0","Reason":"Resignation > Personal"},
	 {"Event_WID":"a2","Business_Process":"Terminate Employee","Employee_ID":"E2","Termination_Date":"` + date + `","Involuntary":"1"},
	 {"Event_WID":"a3","Business_Process":"Terminate Employee","Employee_ID":"ZZ9","Termination_Date":"` + date + `"},
	 {"Event_WID":"a4","Business_Process":"Terminate Employee","Employee_ID":"E4"},
	 {"Event_WID":"a5","Business_Process":"Hire Employee","Employee_ID":"E4","Termination_Date":"` + date + `"}
	]}`
	check := func(r *http.Request) error {
		if r.URL.Query().Get("format") != "json" {
			return errors.New("format=json missing")
		}
		return basicAuth("ISU_Kinetic@acme", "wd-pass")(r)
	}
	srv := newScript(t,
		step{method: "GET", path: raasPath, check: check, status: 200, body: report},
		step{method: "GET", path: raasPath, check: check, status: 200, body: report},
		step{method: "GET", path: raasPath, status: 401, body: `{"error":"invalid username or password"}`},
	)
	cfg := &hrconfig.Config{Pollers: map[string]*hrconfig.Poller{"workday": workdayPoller(srv.URL)}}
	if err := cfg.Use(table.PollerFormats()...).UseWebhooks(table.WebhookFormats()...).Validate(); err != nil {
		t.Fatal(err)
	}
	p := NewPoller("workday", cfg.Pollers["workday"], Timing(cfg), e.kit.Engine, loopback(), Options{Formats: table.PollerFormats(), Log: testLog(t)})
	ctx := context.Background()

	st, err := p.Poll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != 5 || st.Outcomes[engine.HROpened] != 2 || st.Outcomes[engine.HRUnknownEmployee] != 1 || st.Refused != 2 {
		t.Fatalf("first poll: %+v", st)
	}
	cases, records := e.count(&store.Case{}, ""), e.count(&store.HREventRecord{}, "")
	if cases != 2 || records != 3 {
		t.Fatalf("%d cases and %d records, want 2 and 3", cases, records)
	}
	var recd store.HREventRecord
	if err := e.kit.Store.TestDB().Where("employee_id = ?", "E1").First(&recd).Error; err != nil {
		t.Fatal(err)
	}
	if recd.Source != "workday" || recd.EventID != "a1:terminate:"+date || recd.Reason != "Resignation > Personal" {
		t.Fatalf("recorded %+v", recd)
	}
	var c store.Case
	if err := e.kit.Store.TestDB().Where("employee_id = ?", "E2").First(&c).Error; err != nil || !c.Involuntary {
		t.Fatalf("E2's case: involuntary %v, %v", c.Involuntary, err)
	}

	st, err = p.Poll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Outcomes[engine.HRDuplicate] != 3 || len(st.Outcomes) != 1 || st.Refused != 2 {
		t.Fatalf("second poll of the same rows: %+v", st)
	}
	if n, m := e.count(&store.Case{}, ""), e.count(&store.HREventRecord{}, ""); n != cases || m != records {
		t.Fatalf("the second poll created %d cases and %d records", n-cases, m-records)
	}

	_, err = p.Poll(ctx)
	var he *HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusUnauthorized || !strings.Contains(err.Error(), "credentials refused") {
		t.Fatalf("refused credentials: %v", err)
	}
	if strings.Contains(err.Error(), "wd-pass") || strings.Contains(err.Error(), "Effective_as_of") {
		t.Fatalf("the error carries the password or the URL: %v", err)
	}
}

func TestWorkdayRaaSPollerWithOAuth(t *testing.T) {
	e := newEnv(t, testConfig(), nil)
	date := localDate(time.Now(), 7)
	report := `{"Report_Entry":[{"Event_WID":"b1","Business_Process":"Terminate Employee","Employee_ID":"E1","Termination_Date":"` + date + `"}]}`
	bearer := func(r *http.Request) error {
		if r.URL.RawQuery != "format=json" {
			return fmt.Errorf("query %q, want format=json", r.URL.RawQuery)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer AT-1" {
			return fmt.Errorf("Authorization %q", got)
		}
		return nil
	}
	token := func(r *http.Request) error {
		if err := r.ParseForm(); err != nil {
			return err
		}
		if r.PostForm.Get("grant_type") != "refresh_token" || r.PostForm.Get("refresh_token") != "RT-1" {
			return fmt.Errorf("form %v", r.PostForm)
		}
		if u, p, _ := r.BasicAuth(); u != "client-1" || p != "client-secret" {
			return fmt.Errorf("client %q/%q", u, p)
		}
		return nil
	}
	srv := newScript(t,
		step{method: "POST", path: "/ccx/oauth2/acme/token", check: token, status: 200, body: `{"access_token":"AT-1","token_type":"Bearer","expires_in":3600}`},
		step{method: "GET", path: raasPath, check: bearer, status: 200, body: report},
		step{method: "GET", path: raasPath, check: bearer, status: 200, body: report}, // the token is reused
	)
	pc := workdayPoller(srv.URL)
	pc.URL = srv.URL + raasPath // format=json is added
	pc.Username, pc.Password = "", secret.Secret{}
	pc.OAuth = &hrconfig.OAuth{TokenURL: srv.URL + "/ccx/oauth2/acme/token", ClientID: "client-1",
		ClientSecret: secret.FromValue("client-secret"), RefreshToken: secret.FromValue("RT-1")}
	cfg := &hrconfig.Config{Pollers: map[string]*hrconfig.Poller{"workday": pc}}
	if err := cfg.Use(table.PollerFormats()...).UseWebhooks(table.WebhookFormats()...).Validate(); err != nil {
		t.Fatal(err)
	}
	p := NewPoller("workday", pc, Timing(cfg), e.kit.Engine, loopback(), Options{Formats: table.PollerFormats(), Log: testLog(t)})
	for i, want := range []string{engine.HROpened, engine.HRDuplicate} {
		st, err := p.Poll(context.Background())
		if err != nil || st.Outcomes[want] != 1 {
			t.Fatalf("poll %d: %+v %v", i+1, st, err)
		}
	}
}

func TestPollerHTTPClientObeysTheURLPolicy(t *testing.T) {
	e := newEnv(t, testConfig(), nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the default policy let a request through to a loopback address")
	}))
	defer srv.Close()
	p := NewPoller("workday", workdayPoller(srv.URL), engine.HRTiming{}, e.kit.Engine, nil, Options{Formats: table.PollerFormats(), Log: testLog(t)})
	if _, err := p.Poll(context.Background()); !errors.Is(err, outbound.ErrURLRefused) {
		t.Fatalf("poll of a loopback URL under the default policy: %v", err)
	}
}

func TestBambooHRChangedPoller(t *testing.T) {
	e := newEnv(t, testConfig(), nil)
	now := time.Now().UTC().Truncate(time.Second)
	date := localDate(now, 6)
	const changedPath = "/api/gateway.php/acme/v1/employees/changed/"
	since := func(want string) func(*http.Request) error {
		return func(r *http.Request) error {
			if got := r.URL.Query().Get("since"); got != want {
				return fmt.Errorf("since=%q, want %q", got, want)
			}
			return basicAuth("bamboo-api-key", "x")(r)
		}
	}
	fields := func(r *http.Request) error {
		if got := r.URL.Query().Get("fields"); got != "employeeNumber,workEmail,terminationDate,status,hireDate" {
			return fmt.Errorf("fields=%q", got)
		}
		return basicAuth("bamboo-api-key", "x")(r)
	}
	changed := func(latest string) string {
		return `{"latest":"` + latest + `","employees":{
		 "101":{"id":"101","action":"Updated","lastChanged":"` + latest + `"},
		 "102":{"id":"102","action":"Updated","lastChanged":"2026-11-20T10:00:00+00:00"},
		 "103":{"id":"103","action":"Deleted","lastChanged":"2026-11-20T10:00:00+00:00"}}}`
	}
	erinGone := `{"id":"101","employeeNumber":"E1","workEmail":"erin@example.test","status":"Inactive","terminationDate":"` + date + `","hireDate":"2020-01-06"}`
	erinBack := `{"id":"101","employeeNumber":"E1","workEmail":"erin@example.test","status":"Active","terminationDate":"0000-00-00","hireDate":"2020-01-06"}`
	carl := `{"id":"102","employeeNumber":"E2","workEmail":"carl@example.test","status":"Active","terminationDate":"0000-00-00","hireDate":"2021-03-01"}`
	const l1, l2 = "2026-11-25T20:00:00+00:00", "2026-11-25T20:15:00+00:00"
	start := now.Add(-30 * 24 * time.Hour).Format(time.RFC3339)
	srv := newScript(t,
		// Round 1: from max_past back; Erin's termination opens a case.
		step{method: "GET", path: changedPath, check: since(start), status: 200, body: changed(l1)},
		step{method: "GET", path: "/api/gateway.php/acme/v1/employees/101/", check: fields, status: 200, body: erinGone},
		step{method: "GET", path: "/api/gateway.php/acme/v1/employees/102/", check: fields, status: 200, body: carl},
		// Round 2 fails half-way: the cursor stays.
		step{method: "GET", path: changedPath, check: since("2026-11-25T20:00:00Z"), status: 200, body: changed(l2)},
		step{method: "GET", path: "/api/gateway.php/acme/v1/employees/101/", status: 503, body: `{}`},
		step{method: "GET", path: "/api/gateway.php/acme/v1/employees/102/", status: 200, body: carl},
		// Round 3 reads the same rows again: nothing new.
		step{method: "GET", path: changedPath, check: since("2026-11-25T20:00:00Z"), status: 200, body: changed(l2)},
		step{method: "GET", path: "/api/gateway.php/acme/v1/employees/101/", status: 200, body: erinGone},
		step{method: "GET", path: "/api/gateway.php/acme/v1/employees/102/", status: 200, body: carl},
		// Round 4: the termination was removed in BambooHR.
		step{method: "GET", path: changedPath, check: since("2026-11-25T20:15:00Z"), status: 200, body: `{"latest":"2026-11-25T20:30:00+00:00","employees":{"101":{"id":"101","action":"Updated","lastChanged":"2026-11-25T20:30:00+00:00"}}}`},
		step{method: "GET", path: "/api/gateway.php/acme/v1/employees/101/", status: 200, body: erinBack},
		// Round 5: nothing changed (BambooHR answers an empty list).
		step{method: "GET", path: changedPath, check: since("2026-11-25T20:30:00Z"), status: 200, body: `{"latest":null,"employees":[]}`},
	)
	pc := &hrconfig.Poller{Format: hrconfig.FormatBambooHRChanged, Company: "acme", APIKey: secret.FromValue("bamboo-api-key"), BaseURL: srv.URL + "/",
		Fields: &hrconfig.Fields{EmployeeID: "employeeNumber"}}
	cfg := &hrconfig.Config{Pollers: map[string]*hrconfig.Poller{"bamboohr-poll": pc}}
	if err := cfg.Use(table.PollerFormats()...).UseWebhooks(table.WebhookFormats()...).Validate(); err != nil {
		t.Fatal(err)
	}
	p := NewPoller("bamboohr-poll", pc, Timing(cfg), e.kit.Engine, loopback(), Options{Formats: table.PollerFormats(), Log: testLog(t), Now: func() time.Time { return now }})
	ctx := context.Background()

	st, err := p.Poll(ctx)
	if err != nil || st.Outcomes[engine.HROpened] != 1 || st.Skipped != 2 || st.Rows != 3 {
		t.Fatalf("round 1: %+v %v", st, err)
	}
	var c store.Case
	if err := e.kit.Store.TestDB().Where("employee_id = ?", "E1").First(&c).Error; err != nil || !c.EffectiveAt.Equal(at17NY(t, date)) {
		t.Fatalf("Erin's case effective %s (%v), want %s", c.EffectiveAt, err, at17NY(t, date))
	}
	var he *HTTPError
	if _, err := p.Poll(ctx); !errors.As(err, &he) || he.Status != http.StatusServiceUnavailable {
		t.Fatalf("round 2: %v, want the 503 as an HTTPError", err)
	}
	st, err = p.Poll(ctx)
	if err != nil || st.Outcomes[engine.HRDuplicate] != 1 || len(st.Outcomes) != 1 {
		t.Fatalf("round 3: %+v %v", st, err)
	}
	if n, m := e.count(&store.Case{}, ""), e.count(&store.HREventRecord{}, ""); n != 1 || m != 1 {
		t.Fatalf("%d cases and %d records after polling the same rows again, want 1 and 1", n, m)
	}
	st, err = p.Poll(ctx)
	if err != nil || st.Outcomes[engine.HRCancelled] != 1 {
		t.Fatalf("round 4: %+v %v", st, err)
	}
	if got := e.reload(c.ID); got.Status != store.CaseCancelled {
		t.Fatalf("case %s after the rescission", got.Status)
	}
	if st, err = p.Poll(ctx); err != nil || st.Rows != 0 {
		t.Fatalf("round 5: %+v %v", st, err)
	}
}

func TestStartPollersPollsAndStops(t *testing.T) {
	e := newEnv(t, testConfig(), nil)
	hit := make(chan struct{}, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hit <- struct{}{}
		fmt.Fprint(w, `{"Report_Entry":[]}`)
	}))
	defer srv.Close()
	cfg := &hrconfig.Config{Pollers: map[string]*hrconfig.Poller{"workday": workdayPoller(srv.URL)}}
	stop := startPollers(context.Background(), cfg.Use(table.PollerFormats()...).UseWebhooks(table.WebhookFormats()...), e.kit.Engine, loopback(), Options{Log: testLog(t)}, func(time.Duration) time.Duration { return 0 })
	select {
	case <-hit:
	case <-time.After(10 * time.Second):
		t.Fatal("the poller did not poll")
	}
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("stop did not return")
	}
}

// TestWorkdayPollerNewTokenAfter401: a report answering 401 drops the
// access token (workday.Tokens.Invalidate); the next round exchanges the
// refresh token again, and a refused exchange is an HTTPError without the
// secrets.
func TestWorkdayPollerNewTokenAfter401(t *testing.T) {
	e := newEnv(t, testConfig(), nil)
	date := localDate(time.Now(), 7)
	report := `{"Report_Entry":[{"Event_WID":"c1","Business_Process":"Terminate Employee","Employee_ID":"E1","Termination_Date":"` + date + `"}]}`
	bearer := func(want string) func(*http.Request) error {
		return func(r *http.Request) error {
			if got := r.Header.Get("Authorization"); got != "Bearer "+want {
				return fmt.Errorf("Authorization %q, want Bearer %s", got, want)
			}
			return nil
		}
	}
	const tokenPath = "/ccx/oauth2/acme/token"
	srv := newScript(t,
		step{method: "POST", path: tokenPath, status: 200, body: `{"access_token":"AT-1","token_type":"Bearer","expires_in":3600}`},
		step{method: "GET", path: raasPath, check: bearer("AT-1"), status: 401, body: `{"error":"invalid token"}`},
		step{method: "POST", path: tokenPath, status: 200, body: `{"access_token":"AT-2","token_type":"Bearer","expires_in":3600}`},
		step{method: "GET", path: raasPath, check: bearer("AT-2"), status: 200, body: report},
		step{method: "GET", path: raasPath, check: bearer("AT-2"), status: 401, body: `{}`},
		step{method: "POST", path: tokenPath, status: 400, body: `{"error":"invalid_grant","error_description":"RT-1 client-secret"}`},
	)
	pc := workdayPoller(srv.URL)
	pc.URL = srv.URL + raasPath
	pc.Username, pc.Password = "", secret.Secret{}
	pc.OAuth = &hrconfig.OAuth{TokenURL: srv.URL + tokenPath, ClientID: "client-1",
		ClientSecret: secret.FromValue("client-secret"), RefreshToken: secret.FromValue("RT-1")}
	cfg := &hrconfig.Config{Pollers: map[string]*hrconfig.Poller{"workday": pc}}
	if err := cfg.Use(table.PollerFormats()...).UseWebhooks(table.WebhookFormats()...).Validate(); err != nil {
		t.Fatal(err)
	}
	p := NewPoller("workday", pc, Timing(cfg), e.kit.Engine, loopback(), Options{Formats: table.PollerFormats(), Log: testLog(t)})
	ctx := context.Background()
	var he *HTTPError
	if _, err := p.Poll(ctx); !errors.As(err, &he) || he.Status != http.StatusUnauthorized {
		t.Fatalf("first poll: %v, want the report's 401", err)
	}
	if st, err := p.Poll(ctx); err != nil || st.Outcomes[engine.HROpened] != 1 {
		t.Fatalf("second poll, with a new token: %+v %v", st, err)
	}
	if _, err := p.Poll(ctx); !errors.As(err, &he) || he.Status != http.StatusUnauthorized {
		t.Fatalf("third poll: %v, want the report's 401", err)
	}
	_, err := p.Poll(ctx)
	if !errors.As(err, &he) || he.Status != http.StatusBadRequest || he.What != "workday token" {
		t.Fatalf("refused exchange: %v, want the token endpoint's 400", err)
	}
	if strings.Contains(err.Error(), "RT-1") || strings.Contains(err.Error(), "client-secret") {
		t.Fatalf("the error carries a secret: %v", err)
	}
}
