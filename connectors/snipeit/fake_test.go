package snipeit

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/kineticsec/kinetic/connectors"
)

// fakeSnipeIT is a small stateful Snipe-IT for the conformance kit: users,
// hardware with assignment, status label and notes, and the answers the
// real API gives (200 with {"status":"error"} for a missing asset).
type fakeSnipeIT struct {
	t     *testing.T
	srv   *httptest.Server
	token string

	mu      sync.Mutex
	users   []user
	assets  map[int]*fakeAsset
	inject  connectors.Kind // next request fails with this kind
	slow    bool
	blocked chan struct{}
}

type fakeAsset struct {
	id       int
	tag      string
	status   int
	notes    string
	assigned int // user id, 0 none
}

func newFake(t *testing.T) *fakeSnipeIT {
	f := &fakeSnipeIT{t: t, token: "snipe-token-7c1e", assets: map[int]*fakeAsset{}, blocked: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() { close(f.blocked); f.srv.Close() })
	f.users = []user{{ID: 5, Username: "dana", Email: "dana@example.com", EmployeeNum: "E100", Name: "Dana K"}}
	f.assets[12] = &fakeAsset{id: 12, tag: "LT-1003", status: 2, assigned: 5}
	return f
}

func (f *fakeSnipeIT) failWith(kind connectors.Kind) {
	f.mu.Lock()
	f.inject = kind
	f.mu.Unlock()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeSnipeIT) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		writeJSON(w, 401, map[string]string{"status": "error", "message": "Unauthorized."})
		return
	}
	f.mu.Lock()
	inject, slow := f.inject, f.slow
	f.inject = ""
	f.mu.Unlock()
	if slow {
		select {
		case <-r.Context().Done():
		case <-f.blocked:
		}
		return
	}
	switch inject {
	case connectors.KindTransient:
		writeJSON(w, 502, map[string]string{"status": "error", "messages": "bad gateway"})
		return
	case connectors.KindRateLimited:
		w.Header().Set("Retry-After", "30")
		writeJSON(w, 429, map[string]string{"status": "error", "messages": "Too Many Requests"})
		return
	case connectors.KindAuth:
		writeJSON(w, 401, map[string]string{"status": "error", "message": "Unauthorized."})
		return
	case connectors.KindForbidden:
		writeJSON(w, 403, map[string]string{"status": "error", "messages": "You do not have permission to access this resource."})
		return
	case connectors.KindInvalid:
		writeJSON(w, 200, map[string]any{"status": "error", "messages": map[string][]string{"status_id": {"The selected status id is invalid."}}, "payload": nil})
		return
	case connectors.KindNotFound:
		writeJSON(w, 200, map[string]any{"status": "error", "messages": "Asset does not exist."})
		return
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	p := r.URL.Path
	switch {
	case r.Method == http.MethodGet && p == "/api/v1/users":
		var rows []user
		for _, u := range f.users {
			q := r.URL.Query()
			if (q.Get("employee_num") != "" && u.EmployeeNum == q.Get("employee_num")) ||
				(q.Get("search") != "" && (strings.Contains(u.Email, q.Get("search")) || strings.Contains(u.Username, q.Get("search")))) {
				rows = append(rows, u)
			}
		}
		writeJSON(w, 200, map[string]any{"total": len(rows), "rows": rows})
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/api/v1/users/"):
		parts := strings.Split(strings.TrimPrefix(p, "/api/v1/users/"), "/")
		uid, _ := strconv.Atoi(parts[0])
		rows := []map[string]any{}
		if len(parts) == 2 && parts[1] == "assets" {
			for _, a := range f.assets {
				if a.assigned == uid {
					rows = append(rows, map[string]any{"id": a.id, "asset_tag": a.tag, "name": "Laptop", "serial": "C02X", "model": map[string]any{"id": 1, "name": "MacBook Pro 14"}, "category": map[string]any{"id": 2, "name": "Laptops"}})
				}
			}
		}
		writeJSON(w, 200, map[string]any{"total": len(rows), "rows": rows})
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/api/v1/hardware/bytag/"):
		tag := strings.TrimPrefix(p, "/api/v1/hardware/bytag/")
		for _, a := range f.assets {
			if a.tag == tag {
				writeJSON(w, 200, a.json())
				return
			}
		}
		writeJSON(w, 200, map[string]any{"status": "error", "messages": "Asset does not exist."})
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/checkin"):
		a := f.asset(p, "/checkin")
		if a == nil {
			writeJSON(w, 200, map[string]any{"status": "error", "messages": "Asset does not exist."})
			return
		}
		if a.assigned == 0 {
			writeJSON(w, 200, map[string]any{"status": "error", "messages": "This asset is not checked out."})
			return
		}
		var body struct {
			StatusID int `json:"status_id"`
		}
		raw, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(raw, &body)
		a.assigned = 0
		if body.StatusID != 0 {
			a.status = body.StatusID
		}
		writeJSON(w, 200, map[string]any{"status": "success", "messages": "Asset checked in successfully.", "payload": map[string]any{"asset": a.tag}})
	case r.Method == http.MethodPatch && strings.HasPrefix(p, "/api/v1/hardware/"):
		a := f.asset(p, "")
		if a == nil {
			writeJSON(w, 200, map[string]any{"status": "error", "messages": "Asset does not exist."})
			return
		}
		var body struct {
			StatusID *int    `json:"status_id"`
			Notes    *string `json:"notes"`
		}
		raw, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(raw, &body)
		if body.StatusID != nil {
			a.status = *body.StatusID
		}
		if body.Notes != nil {
			a.notes = *body.Notes
		}
		writeJSON(w, 200, map[string]any{"status": "success", "messages": "Asset updated successfully.", "payload": a.json()})
	default:
		f.t.Errorf("fake Snipe-IT: unexpected %s %s", r.Method, p)
		writeJSON(w, 404, map[string]string{"status": "error", "messages": "404 not found"})
	}
}

func (f *fakeSnipeIT) asset(p, suffix string) *fakeAsset {
	id, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(p, "/api/v1/hardware/"), suffix))
	return f.assets[id]
}

func (a *fakeAsset) json() map[string]any {
	m := map[string]any{
		"id": a.id, "asset_tag": a.tag, "notes": a.notes,
		"status_label": map[string]any{"id": a.status, "name": fmt.Sprintf("label %d", a.status)},
		"assigned_to":  nil,
	}
	if a.assigned != 0 {
		m["assigned_to"] = map[string]any{"id": a.assigned, "type": "user", "username": "dana"}
	}
	return m
}

// fakes maps a connector built by the conformance harness to its fake.
var fakes sync.Map
