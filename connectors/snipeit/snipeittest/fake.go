// Package snipeittest is a small stateful Snipe-IT on httptest (users,
// hardware with assignment, status label and notes, check-in) for the
// snipeit package's tests and the end-to-end tests. Nothing in production
// imports it.
package snipeittest

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

// Token is the personal access token the fake accepts. It must never
// appear in an error or detail.
const Token = "snipe-token-7c1e"

// Fake is a small stateful Snipe-IT: users, hardware with assignment,
// status label and notes, and the answers the real API gives (200 with
// {"status":"error"} for a missing asset). It checks the bearer token and
// Accept header of every request and that every body is a JSON object,
// and fails the test on a request it does not serve.
type Fake struct {
	t testing.TB
	// Srv is the instance: its URL is the connector's url.
	Srv *httptest.Server

	// Mu guards Users and Assets, which a test may read and seed.
	Mu      sync.Mutex
	Users   []User
	Assets  map[int]*Asset // by id
	inject  connectors.Kind
	slow    bool
	blocked chan struct{}
	log     []string
}

// User is a Snipe-IT user as the users listing shows it.
type User struct {
	ID          int    `json:"id"`
	Username    string `json:"username"`
	Email       string `json:"email"`
	EmployeeNum string `json:"employee_num"`
	Name        string `json:"name"`
}

// Asset is one hardware asset.
type Asset struct {
	ID                                 int
	Tag, Name, Serial, Model, Category string
	Status                             int    // status label id
	Notes                              string // as the API shows them
	Assigned                           int    // user id checked out to, 0 none
	// Checkins are the notes of the check-ins, in order.
	Checkins []string
}

// New starts an empty fake; it is closed when the test ends.
func New(t testing.TB) *Fake {
	f := &Fake{t: t, Assets: map[int]*Asset{}, blocked: make(chan struct{})}
	f.Srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() { close(f.blocked); f.Srv.Close() })
	return f
}

// SeedDana adds Dana (user 5, E100, dana@example.com) and her laptop
// LT-1003 (asset 12, status 2), checked out to her.
func (f *Fake) SeedDana() {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Users = append(f.Users, User{ID: 5, Username: "dana", Email: "dana@example.com", EmployeeNum: "E100", Name: "Dana K"})
	f.Assets[12] = &Asset{ID: 12, Tag: "LT-1003", Name: "Laptop", Serial: "C02X", Model: "MacBook Pro 14", Category: "Laptops", Status: 2, Assigned: 5}
}

// FailWith makes the next request fail the way Snipe-IT fails with kind.
func (f *Fake) FailWith(kind connectors.Kind) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.inject = kind
}

// Block makes every request hang until its context ends (or the test).
func (f *Fake) Block() {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.slow = true
}

// Asset returns a copy of the asset tagged tag (nil when absent).
func (f *Fake) Asset(tag string) *Asset {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	for _, a := range f.Assets {
		if a.Tag == tag {
			c := *a
			c.Checkins = append([]string(nil), a.Checkins...)
			return &c
		}
	}
	return nil
}

// Requests returns "METHOD path" of every request served so far, in order.
func (f *Fake) Requests() []string {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return append([]string(nil), f.log...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// body decodes a request body that must be a JSON object.
func (f *Fake) body(r *http.Request, v any) bool {
	raw, _ := io.ReadAll(r.Body)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		f.t.Errorf("fake Snipe-IT: %s %s with Content-Type %q", r.Method, r.URL.Path, ct)
		return false
	}
	if err := json.Unmarshal(raw, v); err != nil {
		f.t.Errorf("fake Snipe-IT: %s %s body %q is not a JSON object: %v", r.Method, r.URL.Path, raw, err)
		return false
	}
	return true
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	f.Mu.Lock()
	f.log = append(f.log, r.Method+" "+r.URL.Path)
	f.Mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+Token {
		writeJSON(w, 401, map[string]string{"status": "error", "message": "Unauthorized."})
		return
	}
	if a := r.Header.Get("Accept"); a != "application/json" {
		f.t.Errorf("fake Snipe-IT: %s %s with Accept %q (Snipe-IT answers HTML without application/json)", r.Method, r.URL.Path, a)
	}
	f.Mu.Lock()
	inject, slow := f.inject, f.slow
	f.inject = ""
	f.Mu.Unlock()
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

	f.Mu.Lock()
	defer f.Mu.Unlock()
	p := r.URL.Path
	switch {
	case r.Method == http.MethodGet && p == "/api/v1/users":
		rows := []User{}
		q := r.URL.Query()
		for _, u := range f.Users {
			if (q.Get("employee_num") != "" && u.EmployeeNum == q.Get("employee_num")) ||
				(q.Get("search") != "" && (strings.Contains(u.Email, q.Get("search")) || strings.Contains(u.Username, q.Get("search")))) {
				rows = append(rows, u)
			}
		}
		writeJSON(w, 200, map[string]any{"total": len(rows), "rows": rows})
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/api/v1/users/"):
		parts := strings.Split(strings.TrimPrefix(p, "/api/v1/users/"), "/")
		uid, err := strconv.Atoi(parts[0])
		if err != nil || len(parts) != 2 || (parts[1] != "assets" && parts[1] != "accessories" && parts[1] != "licenses") {
			f.t.Errorf("fake Snipe-IT: unexpected %s %s", r.Method, p)
			writeJSON(w, 404, map[string]string{"status": "error", "messages": "404 not found"})
			return
		}
		rows := []map[string]any{}
		if parts[1] == "assets" {
			for id := range len(f.Assets) + 1000 { // in id order
				if a, ok := f.Assets[id]; ok && a.Assigned == uid {
					rows = append(rows, map[string]any{"id": a.ID, "asset_tag": a.Tag, "name": a.Name, "serial": a.Serial,
						"model": map[string]any{"id": 1, "name": a.Model}, "category": map[string]any{"id": 2, "name": a.Category},
						"status_label": map[string]any{"id": a.Status, "name": fmt.Sprintf("label %d", a.Status)}})
				}
			}
		}
		writeJSON(w, 200, map[string]any{"total": len(rows), "rows": rows})
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/api/v1/hardware/bytag/"):
		tag := strings.TrimPrefix(p, "/api/v1/hardware/bytag/")
		for _, a := range f.Assets {
			if a.Tag == tag {
				writeJSON(w, 200, f.json(a))
				return
			}
		}
		writeJSON(w, 200, map[string]any{"status": "error", "messages": "Asset does not exist."})
	case r.Method == http.MethodPost && strings.HasPrefix(p, "/api/v1/hardware/") && strings.HasSuffix(p, "/checkin"):
		var body struct {
			StatusID int    `json:"status_id"`
			Note     string `json:"note"`
		}
		if !f.body(r, &body) {
			writeJSON(w, 200, map[string]any{"status": "error", "messages": "The given data was invalid."})
			return
		}
		a := f.asset(p, "/checkin")
		if a == nil {
			writeJSON(w, 200, map[string]any{"status": "error", "messages": "Asset does not exist."})
			return
		}
		if a.Assigned == 0 {
			writeJSON(w, 200, map[string]any{"status": "error", "messages": "This asset is not checked out."})
			return
		}
		a.Assigned = 0
		a.Checkins = append(a.Checkins, body.Note)
		if body.StatusID != 0 {
			a.Status = body.StatusID
		}
		writeJSON(w, 200, map[string]any{"status": "success", "messages": "Asset checked in successfully.", "payload": map[string]any{"asset": a.Tag}})
	case r.Method == http.MethodPatch && strings.HasPrefix(p, "/api/v1/hardware/"):
		var body struct {
			StatusID *int    `json:"status_id"`
			Notes    *string `json:"notes"`
		}
		if !f.body(r, &body) {
			writeJSON(w, 200, map[string]any{"status": "error", "messages": "The given data was invalid."})
			return
		}
		a := f.asset(p, "")
		if a == nil {
			writeJSON(w, 200, map[string]any{"status": "error", "messages": "Asset does not exist."})
			return
		}
		if body.StatusID != nil {
			a.Status = *body.StatusID
		}
		if body.Notes != nil {
			a.Notes = *body.Notes
		}
		writeJSON(w, 200, map[string]any{"status": "success", "messages": "Asset updated successfully.", "payload": f.json(a)})
	default:
		f.t.Errorf("fake Snipe-IT: unexpected %s %s", r.Method, p)
		writeJSON(w, 404, map[string]string{"status": "error", "messages": "404 not found"})
	}
}

func (f *Fake) asset(p, suffix string) *Asset {
	id, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(p, "/api/v1/hardware/"), suffix))
	if err != nil {
		return nil
	}
	return f.Assets[id]
}

func (f *Fake) json(a *Asset) map[string]any {
	m := map[string]any{
		"id": a.ID, "asset_tag": a.Tag, "name": a.Name, "serial": a.Serial, "notes": a.Notes,
		"status_label": map[string]any{"id": a.Status, "name": fmt.Sprintf("label %d", a.Status)},
		"assigned_to":  nil,
	}
	if a.Assigned != 0 {
		name := ""
		for _, u := range f.Users {
			if u.ID == a.Assigned {
				name = u.Username
			}
		}
		m["assigned_to"] = map[string]any{"id": a.Assigned, "type": "user", "username": name}
	}
	return m
}
