// Package scripted is the test server the ITSM connectors' tests use: an
// httptest server that expects an exact sequence of requests, checks each
// one's method, path, query, authorization and JSON body, answers with the
// step's canned response, and fails the test on a request out of order, a
// request after the script ended, or a step that never came. It is for
// tests only.
package scripted

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sync"
	"testing"
)

// Step is one expected request and its answer.
type Step struct {
	Method string
	Path   string // the escaped path, e.g. /rest/api/3/issue/OPS-1
	// Query, when not nil, must equal the request's query exactly.
	Query url.Values
	// Body, when not nil, must equal the request body decoded as JSON
	// (compare a map[string]any or []any literal).
	Body any
	// Check, when set, inspects the request further (and its raw body).
	Check func(t testing.TB, r *http.Request, body []byte)

	Status int
	Header map[string]string // response headers; Content-Type defaults to application/json
	Reply  string            // response body
	// Block, when set, is waited on before answering (or until the
	// request is cancelled): for cancellation tests.
	Block <-chan struct{}
	// Drop closes the connection instead of answering: the request was
	// received (and, for the test, carried out) but its answer is lost.
	Drop bool
}

// Server serves a script.
type Server struct {
	*httptest.Server
	t    testing.TB
	auth string

	mu    sync.Mutex
	steps []Step
	next  int
}

// New starts a server that requires the Authorization header value auth
// on every request (empty: not checked) and expects steps in order.
func New(t testing.TB, auth string, steps ...Step) *Server {
	s := &Server{t: t, auth: auth, steps: steps}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.Server.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, st := range s.steps[s.next:] {
			t.Errorf("scripted server: expected %s %s never came", st.Method, st.Path)
		}
	})
	return s
}

// Add appends steps to the script.
func (s *Server) Add(steps ...Step) {
	s.mu.Lock()
	s.steps = append(s.steps, steps...)
	s.mu.Unlock()
}

// Done reports how many steps were served.
func (s *Server) Done() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	if s.next >= len(s.steps) {
		s.mu.Unlock()
		s.t.Errorf("scripted server: unexpected request after the script ended: %s %s?%s", r.Method, r.URL.EscapedPath(), r.URL.RawQuery)
		http.Error(w, "unexpected", http.StatusTeapot)
		return
	}
	st := s.steps[s.next]
	s.next++
	n := s.next
	s.mu.Unlock()

	where := fmt.Sprintf("request %d (%s %s)", n, st.Method, st.Path)
	if r.Method != st.Method || r.URL.EscapedPath() != st.Path {
		s.t.Errorf("scripted server: %s: got %s %s", where, r.Method, r.URL.EscapedPath())
	}
	if st.Query != nil && !reflect.DeepEqual(map[string][]string(r.URL.Query()), map[string][]string(st.Query)) {
		s.t.Errorf("scripted server: %s: query\n got %v\nwant %v", where, r.URL.Query(), st.Query)
	}
	if s.auth != "" && r.Header.Get("Authorization") != s.auth {
		s.t.Errorf("scripted server: %s: wrong Authorization header", where)
	}
	if st.Body != nil {
		var got any
		if err := json.Unmarshal(body, &got); err != nil {
			s.t.Errorf("scripted server: %s: body is not JSON: %q", where, body)
		} else if want := normalize(st.Body); !reflect.DeepEqual(got, want) {
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(want)
			s.t.Errorf("scripted server: %s: body\n got %s\nwant %s", where, gb, wb)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			s.t.Errorf("scripted server: %s: Content-Type %q, want application/json", where, ct)
		}
	}
	if st.Check != nil {
		st.Check(s.t, r, body)
	}
	if st.Block != nil {
		select {
		case <-st.Block:
		case <-r.Context().Done():
			return
		}
	}
	if st.Drop {
		hj, ok := w.(http.Hijacker)
		if !ok {
			s.t.Errorf("scripted server: %s: cannot drop the connection", where)
			return
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	if _, ok := st.Header["Content-Type"]; !ok {
		w.Header().Set("Content-Type", "application/json")
	}
	for k, v := range st.Header {
		w.Header().Set(k, v)
	}
	status := st.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	io.WriteString(w, st.Reply)
}

// normalize round-trips v through JSON so a Go literal compares equal to
// a decoded body.
func normalize(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}
