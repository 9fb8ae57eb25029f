// Package verkadatest is a small stateful Verkada org on httptest (Access users with cards, license plates and unlock permissions, the API-key to token exchange, the x-verkada-auth check, injected failures) for the verkada package's tests and the end-to-end tests.
// Nothing in production imports it.
package verkadatest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// The Access Control API paths the fake serves (the verkada package's
// own constants are unexported, and importing it would be a cycle for its
// tests).
const (
	pathUsers     = "/access/v1/access_users"
	pathUser      = "/access/v1/access_users/user"
	pathCardOff   = "/access/v1/credentials/card/deactivate"
	pathPlateOff  = "/access/v1/credentials/license_plate/deactivate"
	pathBLEOff    = "/access/v1/access_users/user/ble/deactivate"
	pathRemoteOff = "/access/v1/access_users/user/remote_unlock/deactivate"
	pathEntryCode = "/access/v1/access_users/user/entry_code"
)

// The API key the fake accepts and the entry code it seeds.
const (
	APIKey    = "verkada-API-KEY-0c4e"
	EntryCode = "730921"
)

// Verkada is a small stateful Verkada org on httptest: Access users
// with cards, license plates and unlock permissions, the API-key → token
// exchange, the x-verkada-auth check and injected failures, answering the
// documented shapes (https://apidocs.verkada.com/).
type Verkada struct {
	t   *testing.T
	Srv *httptest.Server

	Mu       sync.Mutex
	Users    map[string]*User // by user_id
	Tokens   map[string]bool
	tokenSeq int
	fail     []int
	slow     chan struct{}
	Requests []string
}

type User struct {
	ID, ExternalID, Email string
	Cards                 []*Card
	Plates                []*Plate
	BLE, Remote           bool
	EntryCode             string
}

type Card struct {
	ID, Number, Facility string
	Active               bool
}

type Plate struct {
	Number string
	Active bool
}

// New starts the fake; it is closed when the test ends.
func New(t *testing.T) *Verkada {
	f := &Verkada{t: t, Users: map[string]*User{}, Tokens: map[string]bool{}}
	f.Srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Srv.Close)
	return f
}

// SeedDana: two cards (one already inactive), a plate, mobile unlock on.
func (f *Verkada) SeedDana() {
	f.Users["801c9551-b04c-4293-84ad-b0a6aa0588b3"] = &User{
		ID: "801c9551-b04c-4293-84ad-b0a6aa0588b3", ExternalID: "E100", Email: "dana@example.com",
		Cards: []*Card{{ID: "c-1", Number: "1234", Facility: "111", Active: true}, {ID: "c-2", Number: "5678", Facility: "111", Active: true},
			{ID: "c-old", Number: "42", Facility: "111"}},
		Plates:    []*Plate{{Number: "KIN123", Active: true}},
		BLE:       true,
		EntryCode: EntryCode,
	}
}

// Inject makes the next API requests answer these statuses, in order.
func (f *Verkada) Inject(status ...int) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.fail = append(f.fail, status...)
}

// SetSlow makes requests block until the test ends (for cancellation).
func (f *Verkada) SetSlow() {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.slow = make(chan struct{})
	ch := f.slow
	f.t.Cleanup(func() { close(ch) })
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func verr(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"id": "0e2d", "message": msg, "data": nil})
}

func (f *Verkada) serve(w http.ResponseWriter, r *http.Request) {
	f.Mu.Lock()
	f.Requests = append(f.Requests, r.Method+" "+r.URL.Path)
	slow := f.slow
	f.Mu.Unlock()
	if slow != nil {
		select {
		case <-slow:
		case <-r.Context().Done():
			return
		}
	}
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if r.URL.Path == "/token" {
		if r.Method != http.MethodPost || r.Header.Get("x-api-key") != APIKey {
			verr(w, 401, "Invalid API key")
			return
		}
		f.tokenSeq++
		tok := fmt.Sprintf("v2_verkada-TOKEN-%d", f.tokenSeq)
		f.Tokens[tok] = true
		writeJSON(w, 200, map[string]string{"token": tok})
		return
	}
	if !f.Tokens[r.Header.Get("x-verkada-auth")] {
		verr(w, 401, "Token expired")
		return
	}
	if len(f.fail) > 0 {
		st := f.fail[0]
		f.fail = f.fail[1:]
		if st == 429 {
			w.Header().Set("Retry-After", "7")
		}
		verr(w, st, "injected")
		return
	}
	q := r.URL.Query()
	find := func() *User {
		if id := q.Get("user_id"); id != "" {
			return f.Users[id]
		}
		for _, u := range f.Users {
			if ext := q.Get("external_id"); ext != "" && u.ExternalID == ext {
				return u
			}
		}
		return nil
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == pathUsers:
		var ms []map[string]any
		for _, u := range f.Users {
			ms = append(ms, map[string]any{"user_id": u.ID, "email": u.Email, "external_id": u.ExternalID, "full_name": "Dana Scully"})
		}
		writeJSON(w, 200, map[string]any{"access_members": ms})
	case r.Method == http.MethodGet && r.URL.Path == pathUser:
		u := find()
		if u == nil {
			verr(w, 404, "User not found")
			return
		}
		writeJSON(w, 200, u.json())
	case r.Method == http.MethodPut && r.URL.Path == pathCardOff:
		u := find()
		if u == nil {
			verr(w, 404, "User not found")
			return
		}
		for _, k := range u.Cards {
			if k.ID == q.Get("card_id") {
				k.Active = false
				writeJSON(w, 200, k.json())
				return
			}
		}
		verr(w, 404, "Card not found")
	case r.Method == http.MethodPut && r.URL.Path == pathPlateOff:
		u := find()
		if u == nil {
			verr(w, 404, "User not found")
			return
		}
		for _, p := range u.Plates {
			if p.Number == q.Get("license_plate_number") {
				p.Active = false
				writeJSON(w, 200, map[string]any{"license_plate_number": p.Number, "active": false})
				return
			}
		}
		verr(w, 404, "License plate not found")
	case r.Method == http.MethodDelete && r.URL.Path == pathEntryCode:
		u := find()
		if u == nil {
			verr(w, 404, "User not found")
			return
		}
		u.EntryCode = ""
		writeJSON(w, 200, map[string]any{})
	case r.Method == http.MethodPut && (r.URL.Path == pathBLEOff || r.URL.Path == pathRemoteOff):
		u := find()
		if u == nil {
			verr(w, 404, "User not found")
			return
		}
		if r.URL.Path == pathBLEOff {
			u.BLE = false
		} else {
			u.Remote = false
		}
		writeJSON(w, 200, u.json())
	default:
		verr(w, 404, "Not found")
	}
}

func (k *Card) json() map[string]any {
	return map[string]any{"card_id": k.ID, "active": k.Active, "card_number": k.Number, "facility_code": k.Facility, "type": "HID"}
}

func (u *User) json() map[string]any {
	cards := []map[string]any{}
	for _, k := range u.Cards {
		cards = append(cards, k.json())
	}
	plates := []map[string]any{}
	for _, p := range u.Plates {
		plates = append(plates, map[string]any{"license_plate_number": p.Number, "active": p.Active, "name": "car"})
	}
	return map[string]any{"user_id": u.ID, "external_id": u.ExternalID, "email": u.Email, "cards": cards,
		"license_plates": plates, "ble_unlock": u.BLE, "remote_unlock": u.Remote, "entry_code": u.EntryCode}
}

// RequestLog returns the API requests so far, in order.
func (f *Verkada) RequestLog() []string {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return append([]string(nil), f.Requests...)
}
