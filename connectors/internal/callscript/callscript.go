// Package callscript is the scripted HTTP server the vendor connectors'
// tests talk to: every expected request is checked in order (method, path,
// exact query, bearer token or other headers, JSON body or form values)
// and answered as scripted; a request beyond the script, or a scripted
// request that never came, fails the test. It is used only by tests.
package callscript

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

// Base is replaced by the server's URL in expected values and answers.
const Base = "{base}"

// Call is one expected request and its answer.
type Call struct {
	Method string
	// Path is as the server sees it, decoded.
	Path string
	// Query is the exact query (repeated keys joined with ","); nil means
	// none.
	Query map[string]string
	// Body is the expected JSON body, compared as JSON; "" means none.
	Body string
	// Form lists form values that must be present (a subset).
	Form map[string]string
	// Bearer is the expected bearer token; "" means the request must not
	// carry an Authorization header unless Header says otherwise.
	Bearer string
	// Header lists further request headers that must have these values.
	Header map[string]string

	Status int // default 200
	// RespHeader is set on the answer; Content-Type defaults to
	// application/json when Resp is not empty.
	RespHeader map[string]string
	Resp       string
	// Block, when not nil, is waited on before answering (or until the
	// client goes away), for cancellation tests.
	Block <-chan struct{}
}

// Server is a scripted server.
type Server struct {
	t   testing.TB
	srv *httptest.Server

	mu    sync.Mutex
	calls []Call
	next  int
}

// New starts a server answering calls in order; it is closed, and checked
// for requests that never came, when the test ends.
func New(t testing.TB, calls ...Call) *Server {
	t.Helper()
	s := &Server{t: t, calls: calls}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.srv.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.calls[s.next:] {
			t.Errorf("expected request never came: %s %s", c.Method, c.Path)
		}
	})
	return s
}

// URL is the server's base URL.
func (s *Server) URL() string { return s.srv.URL }

// Served is how many requests have been answered so far.
func (s *Server) Served() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

func (s *Server) expand(v string) string { return strings.ReplaceAll(v, Base, s.srv.URL) }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	t := s.t
	raw, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	if s.next >= len(s.calls) {
		s.mu.Unlock()
		t.Errorf("unexpected request %s %s?%s", r.Method, r.URL.Path, r.URL.RawQuery)
		http.Error(w, `{"error":"not in the script"}`, http.StatusTeapot)
		return
	}
	c := s.calls[s.next]
	n := s.next + 1
	s.next++
	s.mu.Unlock()

	where := r.Method + " " + r.URL.Path
	if r.Method != c.Method || r.URL.Path != c.Path {
		t.Errorf("request %d: got %s, want %s %s", n, where, c.Method, c.Path)
	}
	gotQ := map[string]string{}
	for k, v := range r.URL.Query() {
		gotQ[k] = strings.Join(v, ",")
	}
	wantQ := map[string]string{}
	for k, v := range c.Query {
		wantQ[k] = s.expand(v)
	}
	if !reflect.DeepEqual(gotQ, wantQ) {
		t.Errorf("request %d (%s): query\n got %v\nwant %v", n, where, gotQ, wantQ)
	}
	if c.Form != nil {
		form, _ := url.ParseQuery(string(raw))
		for k, v := range c.Form {
			if got := form.Get(k); got != s.expand(v) {
				t.Errorf("request %d (%s): form %s = %q, want %q", n, where, k, got, s.expand(v))
			}
		}
	} else {
		switch {
		case c.Body == "" && len(raw) > 0:
			t.Errorf("request %d (%s): unexpected body %s", n, where, raw)
		case c.Body != "" && !JSONEqual(raw, []byte(s.expand(c.Body))):
			t.Errorf("request %d (%s): body\n got %s\nwant %s", n, where, raw, s.expand(c.Body))
		}
	}
	auth := r.Header.Get("Authorization")
	switch {
	case c.Bearer != "" && auth != "Bearer "+c.Bearer:
		t.Errorf("request %d (%s): Authorization = %q, want Bearer %s", n, where, auth, c.Bearer)
	case c.Bearer == "" && auth != "" && c.Header["Authorization"] == "":
		t.Errorf("request %d (%s): unexpected Authorization header", n, where)
	}
	for k, v := range c.Header {
		if got := r.Header.Get(k); got != s.expand(v) {
			t.Errorf("request %d (%s): header %s = %q, want %q", n, where, k, got, s.expand(v))
		}
	}
	if c.Block != nil {
		select {
		case <-c.Block:
		case <-r.Context().Done():
			return
		}
	}
	if c.Resp != "" {
		w.Header().Set("Content-Type", "application/json")
	}
	for k, v := range c.RespHeader {
		w.Header().Set(k, v)
	}
	status := c.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	io.WriteString(w, s.expand(c.Resp))
}

// JSONEqual reports whether a and b hold equal JSON values.
func JSONEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
