// Package hrtest is the test kit of the HR directory sources: a scripted
// HTTP server that checks each request's method, path, query, headers and
// body in order and fails the test if an expected call never came, and a
// settable clock.
package hrtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// Call is one expected request and the answer to give.
type Call struct {
	Method string
	// Path is the exact escaped path, e.g. /api/gateway.php/acme/v1/reports/custom.
	Path string
	// Query lists parameters that must have exactly these values; others
	// are not checked.
	Query url.Values
	// Header lists headers that must have exactly these values.
	Header map[string]string
	// JSONBody, when set, must equal the request body as JSON.
	JSONBody string
	// Form lists form fields (of an application/x-www-form-urlencoded
	// body) that must have exactly these values; a nil value means absent.
	Form url.Values
	// Status is the answer's status; default 200.
	Status int
	// Reply is the answer's body.
	Reply string
	// Arrived, when set, is closed when the request arrives; Hold, when
	// set, is waited for before answering.
	Arrived chan struct{}
	Hold    chan struct{}
}

func (c Call) String() string { return c.Method + " " + c.Path }

// Server is a scripted server.
type Server struct {
	*httptest.Server
	t      testing.TB
	mu     sync.Mutex
	script []Call
	next   int
}

// NewServer starts a server expecting calls, in order; more may be added
// with Expect. At the end of the test every expected call must have come.
func NewServer(t testing.TB, calls ...Call) *Server {
	s := &Server{t: t, script: calls}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.script[s.next:] {
			t.Errorf("expected call never came: %s", c)
		}
	})
	return s
}

// Expect appends calls to the script.
func (s *Server) Expect(calls ...Call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, calls...)
}

// Served returns how many requests arrived.
func (s *Server) Served() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

// Pending returns how many expected calls have not come yet.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.script) - s.next
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	if s.next >= len(s.script) {
		s.next++
		s.script = append(s.script, Call{Method: r.Method, Path: r.URL.EscapedPath()})
		s.mu.Unlock()
		s.t.Errorf("unexpected request %s %s", r.Method, r.URL)
		http.Error(w, "unexpected request", http.StatusTeapot)
		return
	}
	c := s.script[s.next]
	s.next++
	s.mu.Unlock()
	if c.Arrived != nil {
		close(c.Arrived)
	}
	var problems []string
	if r.Method != c.Method {
		problems = append(problems, fmt.Sprintf("method %s, want %s", r.Method, c.Method))
	}
	if p := r.URL.EscapedPath(); p != c.Path {
		problems = append(problems, fmt.Sprintf("path %s, want %s", p, c.Path))
	}
	q := r.URL.Query()
	for k, want := range c.Query {
		if got := q[k]; !reflect.DeepEqual(got, want) {
			problems = append(problems, fmt.Sprintf("query %s=%q, want %q", k, got, want))
		}
	}
	for k, want := range c.Header {
		if got := r.Header.Get(k); got != want {
			problems = append(problems, fmt.Sprintf("header %s: %q, want %q", k, got, want))
		}
	}
	if c.JSONBody != "" {
		var got, want any
		if err := json.Unmarshal(body, &got); err != nil {
			problems = append(problems, fmt.Sprintf("body is not JSON: %v: %s", err, body))
		}
		if err := json.Unmarshal([]byte(c.JSONBody), &want); err != nil {
			problems = append(problems, fmt.Sprintf("script body is not JSON: %v", err))
		}
		if !reflect.DeepEqual(got, want) {
			problems = append(problems, fmt.Sprintf("body %s, want %s", bytes.TrimSpace(body), c.JSONBody))
		}
	}
	if c.Form != nil {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			problems = append(problems, fmt.Sprintf("body is not a form: %v", err))
		}
		for k, want := range c.Form {
			if got := form[k]; !reflect.DeepEqual(got, want) {
				problems = append(problems, fmt.Sprintf("form %s=%q, want %q", k, got, want))
			}
		}
	}
	if len(problems) > 0 {
		s.t.Errorf("request %s %s (expected %s): %s", r.Method, r.URL, c, strings.Join(problems, "; "))
	}
	if c.Hold != nil {
		<-c.Hold
	}
	st := c.Status
	if st == 0 {
		st = http.StatusOK
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(st)
	_, _ = io.WriteString(w, c.Reply)
}

// BasicAuth returns the Authorization header value for user and password.
func BasicAuth(user, password string) string {
	r, _ := http.NewRequest("GET", "http://x/", nil)
	r.SetBasicAuth(user, password)
	return r.Header.Get("Authorization")
}

// Clock is a settable clock; the zero value starts at 2030-01-01T00:00Z.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t.IsZero() {
		c.t = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return c.t
}

// Advance moves the clock on.
func (c *Clock) Advance(d time.Duration) {
	c.Now()
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Wait waits for ch to close, failing the test after 10 seconds.
func Wait(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}
