package servicenow

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/conformance"
	"github.com/kineticsec/kinetic/internal/secret"
)

// fakeSN is a small stateful ServiceNow instance: one task table over the
// Table API (search by correlation_id, insert, read with display values and
// the work notes journal, update), HTTP basic, and injected failures.
type fakeSN struct {
	t    *testing.T
	srv  *httptest.Server
	mu   sync.Mutex
	recs map[string]map[string]string // sys_id → fields
	seq  int
	fail []int
}

func newFakeSN(t *testing.T) *fakeSN {
	f := &fakeSN{t: t, recs: map[string]map[string]string{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSN) answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (f *fakeSN) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.fail) > 0 {
		st := f.fail[0]
		f.fail = f.fail[1:]
		if st == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "3")
		}
		f.answer(w, st, map[string]any{"error": map[string]string{"message": "injected"}, "status": "failure"})
		return
	}
	if u, p, ok := r.BasicAuth(); !ok || u != "kinetic.integration" || p != password {
		f.answer(w, 401, map[string]any{"error": map[string]string{"message": "User Not Authenticated"}})
		return
	}
	const base = "/api/now/table/incident"
	id, hasID := strings.CutPrefix(r.URL.Path, base+"/")
	switch {
	case r.Method == "GET" && r.URL.Path == base:
		q := r.URL.Query().Get("sysparm_query")
		corr, _, _ := strings.Cut(strings.TrimPrefix(q, "correlation_id="), "^")
		var out []map[string]string
		for i := 1; i <= f.seq; i++ {
			if rec, ok := f.recs[fmt.Sprint("sys", i)]; ok && rec["correlation_id"] == corr {
				out = append(out, rec)
			}
		}
		if out == nil {
			out = []map[string]string{}
		}
		f.answer(w, 200, map[string]any{"result": out})
	case r.Method == "POST" && r.URL.Path == base:
		var body map[string]string
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &body)
		f.seq++
		rec := map[string]string{"sys_id": fmt.Sprint("sys", f.seq), "number": fmt.Sprintf("INC%07d", f.seq), "state": "1", "active": "true", "work_notes": ""}
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
			var body map[string]string
			b, _ := io.ReadAll(r.Body)
			json.Unmarshal(b, &body)
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

func TestTicketerConformance(t *testing.T) {
	fakes := map[connectors.Ticketer]*fakeSN{}
	conformance.RunTicketer(t, conformance.TicketHarness{
		New: func(t *testing.T) connectors.Ticketer {
			f := newFakeSN(t)
			c, err := New("snow", Config{InstanceURL: f.srv.URL, Username: "kinetic.integration", Password: secret.FromValue(password)}, testPolicy)
			if err != nil {
				t.Fatal(err)
			}
			fakes[c] = f
			return c
		},
		Delete: func(t *testing.T, c connectors.Ticketer, ref connectors.TicketRef) {
			f := fakes[c]
			f.mu.Lock()
			delete(f.recs, ref.ID)
			f.mu.Unlock()
		},
		InjectFailure: func(t *testing.T, c connectors.Ticketer, kind connectors.Kind) {
			f := fakes[c]
			st := map[connectors.Kind]int{connectors.KindTransient: 503, connectors.KindRateLimited: 429, connectors.KindAuth: 401, connectors.KindForbidden: 403, connectors.KindInvalid: 400}[kind]
			f.mu.Lock()
			f.fail = append(f.fail, st)
			f.mu.Unlock()
		},
		Secrets: []string{password},
	})
}
