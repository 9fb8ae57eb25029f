// Package servicenowtest is a small stateful ServiceNow instance for tests:
// the servicenow connector's own tests and the engine's tests of the
// tickets it files for equipment tasks and manual steps.
package servicenowtest

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Fake is a ServiceNow instance on httptest with one task table (incident)
// over the Table API: search by correlation_id, insert, read with display
// values and the work notes journal, update. It checks HTTP basic against
// the username and password it was made with, that every body is a JSON
// object, and fails the test on a request it does not serve. Statuses
// queued with Fail answer the next requests instead (429 with a
// Retry-After of 3 s).
type Fake struct {
	t testing.TB
	// Server is the instance: its URL is the connector's instance_url.
	Server             *httptest.Server
	username, password string

	mu   sync.Mutex
	recs map[string]map[string]string // sys_id → fields
	seq  int
	fail []int
	log  []string
}

// Table is the path of the table the fake serves.
const Table = "/api/now/table/incident"

// New starts a fake accepting HTTP basic username:password; it stops when
// the test ends.
func New(t testing.TB, username, password string) *Fake {
	f := &Fake{t: t, username: username, password: password, recs: map[string]map[string]string{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Server.Close)
	return f
}

// Fail makes the next requests answer these statuses, one each, in order.
func (f *Fake) Fail(statuses ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = append(f.fail, statuses...)
}

// Delete removes a record, as an administrator deleting the ticket would.
func (f *Fake) Delete(sysID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.recs, sysID)
}

// Record returns a copy of the record sys_id's fields (nil when absent):
// number, state, active, correlation_id, short_description,
// assignment_group, work_notes (the journal, newest first), close_code…
func (f *Fake) Record(sysID string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.recs[sysID])
}

// Records returns copies of every record, in creation order.
func (f *Fake) Records() []map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []map[string]string
	for i := 1; i <= f.seq; i++ {
		if r, ok := f.recs[fmt.Sprint("sys", i)]; ok {
			out = append(out, maps.Clone(r))
		}
	}
	return out
}

// Requests returns "METHOD path" of every request served so far (failed
// ones included), in order.
func (f *Fake) Requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

func (f *Fake) answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// body decodes a request body that must be a JSON object of strings.
func (f *Fake) body(w http.ResponseWriter, r *http.Request) (map[string]string, bool) {
	var body map[string]string
	b, _ := io.ReadAll(r.Body)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		f.t.Errorf("fake ServiceNow: %s %s with Content-Type %q", r.Method, r.URL.Path, ct)
	}
	if err := json.Unmarshal(b, &body); err != nil {
		f.t.Errorf("fake ServiceNow: %s %s body is not a JSON object of strings: %v", r.Method, r.URL.Path, err)
		f.answer(w, 400, map[string]any{"error": map[string]string{"message": "Exception while reading request"}, "status": "failure"})
		return nil, false
	}
	return body, true
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, r.Method+" "+r.URL.Path)
	if len(f.fail) > 0 {
		st := f.fail[0]
		f.fail = f.fail[1:]
		if st == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "3")
		}
		f.answer(w, st, map[string]any{"error": map[string]string{"message": "injected"}, "status": "failure"})
		return
	}
	if u, p, ok := r.BasicAuth(); !ok || u != f.username || p != f.password {
		f.answer(w, 401, map[string]any{"error": map[string]string{"message": "User Not Authenticated"}})
		return
	}
	id, hasID := strings.CutPrefix(r.URL.Path, Table+"/")
	switch {
	case r.Method == "GET" && r.URL.Path == Table:
		q := r.URL.Query().Get("sysparm_query")
		corr, _, _ := strings.Cut(strings.TrimPrefix(q, "correlation_id="), "^")
		out := []map[string]string{}
		for i := 1; i <= f.seq; i++ {
			if rec, ok := f.recs[fmt.Sprint("sys", i)]; ok && rec["correlation_id"] == corr {
				out = append(out, rec)
			}
		}
		f.answer(w, 200, map[string]any{"result": out})
	case r.Method == "POST" && r.URL.Path == Table:
		body, ok := f.body(w, r)
		if !ok {
			return
		}
		f.seq++
		rec := map[string]string{"sys_id": fmt.Sprint("sys", f.seq), "number": fmt.Sprintf("INC%07d", 10000+f.seq), "state": "1", "active": "true", "work_notes": ""}
		for k, v := range body {
			rec[k] = v
		}
		f.recs[rec["sys_id"]] = rec
		f.answer(w, 201, map[string]any{"result": rec})
	case hasID && (r.Method == "GET" || r.Method == "PATCH"):
		rec, ok := f.recs[id]
		if !ok {
			f.answer(w, 404, map[string]any{"error": map[string]string{"message": "No Record found"}})
			return
		}
		if r.Method == "PATCH" {
			body, ok := f.body(w, r)
			if !ok {
				return
			}
			for k, v := range body {
				if k == "work_notes" {
					rec[k] = "2026-12-07 19:00:00 - Kinetic (Work notes)\n" + v + "\n\n" + rec[k]
					continue
				}
				rec[k] = v
			}
			if rec["state"] == "6" || rec["state"] == "7" {
				rec["active"] = "false"
			}
			f.answer(w, 200, map[string]any{"result": rec})
			return
		}
		out := map[string]any{}
		for k, v := range rec {
			out[k] = map[string]string{"value": v, "display_value": v}
		}
		out["work_notes"] = map[string]string{"value": "", "display_value": rec["work_notes"]}
		f.answer(w, 200, map[string]any{"result": out})
	default:
		f.t.Errorf("fake ServiceNow: unexpected %s %s", r.Method, r.URL)
		f.answer(w, 400, map[string]any{"error": map[string]string{"message": "unexpected"}})
	}
}
