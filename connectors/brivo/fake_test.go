package brivo

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Test credentials. None may appear in an error or detail.
const (
	testAPIKey       = "brivo-API-KEY-7f3a"
	testClientID     = "kinetic-app"
	testClientSecret = "brivo-CLIENT-SECRET-91c2"
	testUsername     = "svc-kinetic"
	testPassword     = "brivo-ADMIN-PASSWORD-5d8e"
	testPIN          = "48151623"
)

// fakeBrivo is a small stateful Brivo account on httptest: users with
// credentials, the password grant, the api-key and bearer checks, paging,
// and injected failures. It answers the documented request and response
// shapes (https://apidocs.brivo.com/).
type fakeBrivo struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	users    map[string]*fakeUser // by id
	tokens   map[string]bool
	tokenSeq int
	fail     []int // statuses for the next API requests (not the token endpoint)
	slow     chan struct{}
	requests []string
	pageSize int
}

type fakeUser struct {
	id, externalID string
	customFields   map[int]string
	suspended      bool
	creds          []fakeCred
}

type fakeCred struct {
	id      int
	format  string
	ref     string
	encoded string
}

func newFake(t *testing.T) *fakeBrivo {
	f := &fakeBrivo{t: t, users: map[string]*fakeUser{}, tokens: map[string]bool{}, pageSize: 100}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// seedDana gives E100 a Brivo user with a card and a PIN.
func (f *fakeBrivo) seedDana() {
	f.users["442211"] = &fakeUser{id: "442211", externalID: "E100", customFields: map[int]string{77: "E100"},
		creds: []fakeCred{{id: 38981, format: "HID 26 bit Card", ref: "329", encoded: "28c0293"}, {id: 611729, format: "PIN Code", encoded: testPIN}}}
}

func (f *fakeBrivo) config() Config {
	return Config{
		APIURL: f.srv.URL, AuthURL: f.srv.URL,
		APIKey: secretOf(testAPIKey), ClientID: testClientID, ClientSecret: secretOf(testClientSecret),
		Username: testUsername, Password: secretOf(testPassword),
	}
}

func (f *fakeBrivo) inject(status ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = append(f.fail, status...)
}

func (f *fakeBrivo) setSlow() {
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

func (f *fakeBrivo) serve(w http.ResponseWriter, r *http.Request) {
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
	if r.URL.Path == "/oauth/token" {
		f.token(w, r)
		return
	}
	if r.Header.Get("api-key") != testAPIKey {
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, "<h1>Developer Inactive</h1>")
		return
	}
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "bearer ")
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.tokens[tok] {
		writeJSON(w, 401, map[string]string{"error": "invalid_token", "error_description": "Invalid access token"})
		return
	}
	if len(f.fail) > 0 {
		st := f.fail[0]
		f.fail = f.fail[1:]
		if st == 429 {
			w.Header().Set("Retry-After", "7")
		}
		writeJSON(w, st, map[string]any{"code": st, "message": "injected"})
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) < 3 || parts[0] != "v1" || parts[1] != "api" || parts[2] != "users" {
		w.WriteHeader(596)
		io.WriteString(w, "<h1>596 Service Not Found</h1>")
		return
	}
	parts = parts[3:]
	switch {
	case len(parts) == 0 && r.Method == http.MethodGet:
		f.list(w, r)
	case len(parts) == 2 && parts[1] == "external" && r.Method == http.MethodGet:
		for _, u := range f.users {
			if u.externalID == parts[0] {
				writeJSON(w, 200, u.json())
				return
			}
		}
		writeJSON(w, 404, map[string]any{"code": 404, "message": "User not found"})
	case len(parts) == 2 && parts[1] == "credentials" && r.Method == http.MethodGet:
		u := f.users[parts[0]]
		if u == nil {
			writeJSON(w, 404, map[string]any{"code": 404, "message": "User not found"})
			return
		}
		offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
		size, _ := strconv.Atoi(r.URL.Query().Get("pageSize"))
		size = min(max(size, 1), f.pageSize)
		var data []map[string]any
		for i := offset; i < len(u.creds) && i < offset+size; i++ {
			k := u.creds[i]
			data = append(data, map[string]any{"id": k.id, "credentialFormat": map[string]any{"id": 1, "name": k.format},
				"referenceId": k.ref, "encodedCredential": k.encoded, "accountId": 5022})
		}
		writeJSON(w, 200, map[string]any{"data": data, "count": len(u.creds)})
	case len(parts) == 2 && parts[1] == "suspended" && r.Method == http.MethodPut:
		u := f.users[parts[0]]
		if u == nil {
			writeJSON(w, 404, map[string]any{"code": 404, "message": "User not found"})
			return
		}
		var body struct {
			Suspended *bool `json:"suspended"`
		}
		if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&body) != nil || body.Suspended == nil {
			writeJSON(w, 400, map[string]any{"code": 400, "message": "Invalid criteria provided"})
			return
		}
		u.suspended = *body.Suspended
		id, _ := strconv.Atoi(u.id)
		writeJSON(w, 200, map[string]any{"id": id, "suspended": u.suspended})
	case len(parts) == 3 && parts[1] == "credentials" && r.Method == http.MethodDelete:
		u := f.users[parts[0]]
		cid, _ := strconv.Atoi(parts[2])
		if u == nil {
			writeJSON(w, 404, map[string]any{"code": 404, "message": "User not found"})
			return
		}
		for i, k := range u.creds {
			if k.id == cid {
				u.creds = append(u.creds[:i], u.creds[i+1:]...)
				w.WriteHeader(204)
				return
			}
		}
		writeJSON(w, 404, map[string]any{"code": 404, "message": "Credential not found"})
	default:
		w.WriteHeader(596)
		io.WriteString(w, "<h1>596 Service Not Found</h1>")
	}
}

func (f *fakeBrivo) list(w http.ResponseWriter, r *http.Request) {
	filter := r.URL.Query().Get("filter")
	field, value, ok := strings.Cut(filter, "__exact:")
	id, err := strconv.Atoi(strings.TrimPrefix(field, "cf_"))
	if !ok || err != nil {
		writeJSON(w, 400, map[string]any{"code": 400, "message": "Invalid criteria provided"})
		return
	}
	var data []map[string]any
	ids := make([]string, 0, len(f.users))
	for k := range f.users {
		ids = append(ids, k)
	}
	sort.Strings(ids)
	for _, k := range ids {
		if u := f.users[k]; u.customFields[id] == value {
			data = append(data, u.json())
		}
	}
	writeJSON(w, 200, map[string]any{"data": data, "offset": 0, "pageSize": 100, "count": len(data)})
}

func (u *fakeUser) json() map[string]any {
	id, _ := strconv.Atoi(u.id)
	return map[string]any{"id": id, "externalId": u.externalID, "firstName": "Dana", "lastName": "Scully",
		"pin": testPIN, "suspended": u.suspended, "created": "2010-06-15T04:00:00Z"}
}

func (f *fakeBrivo) token(w http.ResponseWriter, r *http.Request) {
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(testClientID+":"+testClientSecret))
	if r.Method != http.MethodPost || r.Header.Get("Authorization") != want || r.Header.Get("api-key") != testAPIKey ||
		r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		writeJSON(w, 401, map[string]any{"status": 401, "error": "Unauthorized", "message": "Bad credentials", "path": "/oauth/token"})
		return
	}
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	if form.Get("grant_type") != "password" || form.Get("username") != testUsername || form.Get("password") != testPassword {
		writeJSON(w, 400, map[string]any{"error": "invalid_grant", "error_description": "Bad credentials"})
		return
	}
	f.mu.Lock()
	f.tokenSeq++
	tok := fmt.Sprintf("brivo-ACCESS-TOKEN-%d", f.tokenSeq)
	f.tokens[tok] = true
	f.mu.Unlock()
	writeJSON(w, 200, map[string]any{"access_token": tok, "token_type": "bearer", "refresh_token": "brivo-REFRESH", "expires_in": 300})
}
