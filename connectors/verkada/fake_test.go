package verkada

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

const (
	testAPIKey    = "verkada-API-KEY-0c4e"
	testEntryCode = "730921"
)

// fakeVerkada is a small stateful Verkada org on httptest: Access users
// with cards, license plates and unlock permissions, the API-key → token
// exchange, the x-verkada-auth check and injected failures, answering the
// documented shapes (https://apidocs.verkada.com/).
type fakeVerkada struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	users    map[string]*fakeUser // by user_id
	tokens   map[string]bool
	tokenSeq int
	fail     []int
	slow     chan struct{}
	requests []string
}

type fakeUser struct {
	id, externalID, email string
	cards                 []*fakeCard
	plates                []*fakePlate
	ble, remote           bool
	entryCode             string
}

type fakeCard struct {
	id, number, facility string
	active               bool
}

type fakePlate struct {
	number string
	active bool
}

func newFake(t *testing.T) *fakeVerkada {
	f := &fakeVerkada{t: t, users: map[string]*fakeUser{}, tokens: map[string]bool{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// seedDana: two cards (one already inactive), a plate, mobile unlock on.
func (f *fakeVerkada) seedDana() {
	f.users["801c9551-b04c-4293-84ad-b0a6aa0588b3"] = &fakeUser{
		id: "801c9551-b04c-4293-84ad-b0a6aa0588b3", externalID: "E100", email: "dana@example.com",
		cards: []*fakeCard{{id: "c-1", number: "1234", facility: "111", active: true}, {id: "c-2", number: "5678", facility: "111", active: true},
			{id: "c-old", number: "42", facility: "111"}},
		plates:    []*fakePlate{{number: "KIN123", active: true}},
		ble:       true,
		entryCode: testEntryCode,
	}
}

func (f *fakeVerkada) config() Config { return Config{APIURL: f.srv.URL, APIKey: secretOf(testAPIKey)} }

func (f *fakeVerkada) inject(status ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = append(f.fail, status...)
}

func (f *fakeVerkada) setSlow() {
	f.mu.Lock()
	defer f.mu.Unlock()
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

func (f *fakeVerkada) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	slow := f.slow
	f.mu.Unlock()
	if slow != nil {
		select {
		case <-slow:
		case <-r.Context().Done():
			return
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path == "/token" {
		if r.Method != http.MethodPost || r.Header.Get("x-api-key") != testAPIKey {
			verr(w, 401, "Invalid API key")
			return
		}
		f.tokenSeq++
		tok := fmt.Sprintf("v2_verkada-TOKEN-%d", f.tokenSeq)
		f.tokens[tok] = true
		writeJSON(w, 200, map[string]string{"token": tok})
		return
	}
	if !f.tokens[r.Header.Get("x-verkada-auth")] {
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
	find := func() *fakeUser {
		if id := q.Get("user_id"); id != "" {
			return f.users[id]
		}
		for _, u := range f.users {
			if ext := q.Get("external_id"); ext != "" && u.externalID == ext {
				return u
			}
		}
		return nil
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == pathUsers:
		var ms []map[string]any
		for _, u := range f.users {
			ms = append(ms, map[string]any{"user_id": u.id, "email": u.email, "external_id": u.externalID, "full_name": "Dana Scully"})
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
		for _, k := range u.cards {
			if k.id == q.Get("card_id") {
				k.active = false
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
		for _, p := range u.plates {
			if p.number == q.Get("license_plate_number") {
				p.active = false
				writeJSON(w, 200, map[string]any{"license_plate_number": p.number, "active": false})
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
		u.entryCode = ""
		writeJSON(w, 200, map[string]any{})
	case r.Method == http.MethodPut && (r.URL.Path == pathBLEOff || r.URL.Path == pathRemoteOff):
		u := find()
		if u == nil {
			verr(w, 404, "User not found")
			return
		}
		if r.URL.Path == pathBLEOff {
			u.ble = false
		} else {
			u.remote = false
		}
		writeJSON(w, 200, u.json())
	default:
		verr(w, 404, "Not found")
	}
}

func (k *fakeCard) json() map[string]any {
	return map[string]any{"card_id": k.id, "active": k.active, "card_number": k.number, "facility_code": k.facility, "type": "HID"}
}

func (u *fakeUser) json() map[string]any {
	cards := []map[string]any{}
	for _, k := range u.cards {
		cards = append(cards, k.json())
	}
	plates := []map[string]any{}
	for _, p := range u.plates {
		plates = append(plates, map[string]any{"license_plate_number": p.number, "active": p.active, "name": "car"})
	}
	return map[string]any{"user_id": u.id, "external_id": u.externalID, "email": u.email, "cards": cards,
		"license_plates": plates, "ble_unlock": u.ble, "remote_unlock": u.remote, "entry_code": u.entryCode}
}
