package graph_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// A scripted Graph and token endpoint: each expected call is checked in
// order (method, path, query, JSON body or form, bearer token) and answered
// as scripted; a request beyond the script, or a scripted call that never
// came, fails the test.

// base is replaced by the test server's URL in expected values and answers.
const base = "{base}"

type call struct {
	method string
	path   string            // as the server sees it, decoded ("/v1.0/groups/g/members/u/$ref")
	query  map[string]string // the exact query; nil means none
	body   string            // expected JSON body, compared as JSON; "" means none
	form   map[string]string // token requests: form values that must be present (subset)
	token  string            // expected bearer token; "" for token requests
	check  func(t *testing.T, r *http.Request, form url.Values)

	status  int
	headers map[string]string
	resp    string
}

type script struct {
	t   *testing.T
	srv *httptest.Server

	mu    sync.Mutex
	calls []call
	next  int
}

func newScript(t *testing.T, calls ...call) *script {
	t.Helper()
	s := &script{t: t, calls: calls}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.calls[s.next:] {
			t.Errorf("expected request never came: %s %s", c.method, c.path)
		}
	})
	return s
}

// URL is the server's base URL.
func (s *script) URL() string { return s.srv.URL }

func (s *script) expand(v string) string { return strings.ReplaceAll(v, base, s.srv.URL) }

func (s *script) serve(w http.ResponseWriter, r *http.Request) {
	t := s.t
	raw, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	if s.next >= len(s.calls) {
		s.mu.Unlock()
		t.Errorf("unexpected request %s %s?%s", r.Method, r.URL.Path, r.URL.RawQuery)
		http.Error(w, `{"error":{"code":"unexpected","message":"not in the script"}}`, http.StatusTeapot)
		return
	}
	c := s.calls[s.next]
	n := s.next + 1
	s.next++
	s.mu.Unlock()

	where := func() string { return r.Method + " " + r.URL.Path }
	if r.Method != c.method || r.URL.Path != c.path {
		t.Errorf("request %d: got %s, want %s %s", n, where(), c.method, c.path)
	}
	gotQ := map[string]string{}
	for k, v := range r.URL.Query() {
		gotQ[k] = strings.Join(v, ",")
	}
	wantQ := map[string]string{}
	for k, v := range c.query {
		wantQ[k] = s.expand(v)
	}
	if !reflect.DeepEqual(gotQ, wantQ) {
		t.Errorf("request %d (%s): query\n got %v\nwant %v", n, where(), gotQ, wantQ)
	}
	var form url.Values
	if c.form != nil || strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		form, _ = url.ParseQuery(string(raw))
		for k, v := range c.form {
			if got := form.Get(k); got != s.expand(v) {
				t.Errorf("request %d (%s): form %s = %q, want %q", n, where(), k, got, s.expand(v))
			}
		}
	} else {
		switch {
		case c.body == "" && len(raw) > 0:
			t.Errorf("request %d (%s): unexpected body %s", n, where(), raw)
		case c.body != "" && !jsonEqual(raw, []byte(s.expand(c.body))):
			t.Errorf("request %d (%s): body\n got %s\nwant %s", n, where(), raw, s.expand(c.body))
		}
	}
	if c.token != "" {
		if got := r.Header.Get("Authorization"); got != "Bearer "+c.token {
			t.Errorf("request %d (%s): Authorization = %q, want Bearer %s", n, where(), got, c.token)
		}
	}
	if c.check != nil {
		c.check(t, r, form)
	}
	if c.resp != "" {
		w.Header().Set("Content-Type", "application/json")
	}
	for k, v := range c.headers {
		w.Header().Set(k, v)
	}
	status := c.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	io.WriteString(w, s.expand(c.resp))
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
