// Package brivotest is a small stateful Brivo account on httptest (users with credentials, the password grant, the api-key and bearer checks, paging, injected failures) for the brivo package's tests and the end-to-end tests.
// Nothing in production imports it.
package brivotest

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
	APIKey       = "brivo-API-KEY-7f3a"
	ClientID     = "kinetic-app"
	ClientSecret = "brivo-CLIENT-SECRET-91c2"
	Username     = "svc-kinetic"
	Password     = "brivo-ADMIN-PASSWORD-5d8e"
	PIN          = "48151623"
)

// Brivo is a small stateful Brivo account on httptest: users with
// credentials, the password grant, the api-key and bearer checks, paging,
// and injected failures. It answers the documented request and response
// shapes (https://apidocs.brivo.com/).
type Brivo struct {
	t   *testing.T
	Srv *httptest.Server

	Mu       sync.Mutex
	Users    map[string]*User // by id
	Tokens   map[string]bool
	tokenSeq int
	fail     []int // statuses for the next API requests (not the token endpoint)
	slow     chan struct{}
	Requests []string
	PageSize int
}

type User struct {
	ID, ExternalID string
	CustomFields   map[int]string
	Suspended      bool
	Creds          []Cred
}

type Cred struct {
	ID      int
	Format  string
	Ref     string
	Encoded string
}

// New starts the fake; it is closed when the test ends.
func New(t *testing.T) *Brivo {
	f := &Brivo{t: t, Users: map[string]*User{}, Tokens: map[string]bool{}, PageSize: 100}
	f.Srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Srv.Close)
	return f
}

// SeedDana gives E100 a Brivo user with a card and a PIN.
func (f *Brivo) SeedDana() {
	f.Users["442211"] = &User{ID: "442211", ExternalID: "E100", CustomFields: map[int]string{77: "E100"},
		Creds: []Cred{{ID: 38981, Format: "HID 26 bit Card", Ref: "329", Encoded: "28c0293"}, {ID: 611729, Format: "PIN Code", Encoded: PIN}}}
}

// Inject makes the next API requests answer these statuses, in order.
func (f *Brivo) Inject(status ...int) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.fail = append(f.fail, status...)
}

// SetSlow makes requests block until the test ends (for cancellation).
func (f *Brivo) SetSlow() {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.slow = make(chan struct{})
	ch := f.slow
	f.t.Cleanup(func() { close(ch) })
}

// WriteJSON writes v as a JSON answer with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *Brivo) serve(w http.ResponseWriter, r *http.Request) {
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
	if r.URL.Path == "/oauth/token" {
		f.token(w, r)
		return
	}
	if r.Header.Get("api-key") != APIKey {
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, "<h1>Developer Inactive</h1>")
		return
	}
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "bearer ")
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if !f.Tokens[tok] {
		WriteJSON(w, 401, map[string]string{"error": "invalid_token", "error_description": "Invalid access token"})
		return
	}
	if len(f.fail) > 0 {
		st := f.fail[0]
		f.fail = f.fail[1:]
		if st == 429 {
			w.Header().Set("Retry-After", "7")
		}
		WriteJSON(w, st, map[string]any{"code": st, "message": "injected"})
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
		for _, u := range f.Users {
			if u.ExternalID == parts[0] {
				WriteJSON(w, 200, u.json())
				return
			}
		}
		WriteJSON(w, 404, map[string]any{"code": 404, "message": "User not found"})
	case len(parts) == 2 && parts[1] == "credentials" && r.Method == http.MethodGet:
		u := f.Users[parts[0]]
		if u == nil {
			WriteJSON(w, 404, map[string]any{"code": 404, "message": "User not found"})
			return
		}
		offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
		size, _ := strconv.Atoi(r.URL.Query().Get("pageSize"))
		size = min(max(size, 1), f.PageSize)
		var data []map[string]any
		for i := offset; i < len(u.Creds) && i < offset+size; i++ {
			k := u.Creds[i]
			data = append(data, map[string]any{"id": k.ID, "credentialFormat": map[string]any{"id": 1, "name": k.Format},
				"referenceId": k.Ref, "encodedCredential": k.Encoded, "accountId": 5022})
		}
		WriteJSON(w, 200, map[string]any{"data": data, "count": len(u.Creds)})
	case len(parts) == 2 && parts[1] == "suspended" && r.Method == http.MethodPut:
		u := f.Users[parts[0]]
		if u == nil {
			WriteJSON(w, 404, map[string]any{"code": 404, "message": "User not found"})
			return
		}
		var body struct {
			Suspended *bool `json:"suspended"`
		}
		if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&body) != nil || body.Suspended == nil {
			WriteJSON(w, 400, map[string]any{"code": 400, "message": "Invalid criteria provided"})
			return
		}
		u.Suspended = *body.Suspended
		id, _ := strconv.Atoi(u.ID)
		WriteJSON(w, 200, map[string]any{"id": id, "suspended": u.Suspended})
	case len(parts) == 3 && parts[1] == "credentials" && r.Method == http.MethodDelete:
		u := f.Users[parts[0]]
		cid, _ := strconv.Atoi(parts[2])
		if u == nil {
			WriteJSON(w, 404, map[string]any{"code": 404, "message": "User not found"})
			return
		}
		for i, k := range u.Creds {
			if k.ID == cid {
				u.Creds = append(u.Creds[:i], u.Creds[i+1:]...)
				w.WriteHeader(204)
				return
			}
		}
		WriteJSON(w, 404, map[string]any{"code": 404, "message": "Credential not found"})
	default:
		w.WriteHeader(596)
		io.WriteString(w, "<h1>596 Service Not Found</h1>")
	}
}

func (f *Brivo) list(w http.ResponseWriter, r *http.Request) {
	filter := r.URL.Query().Get("filter")
	field, value, ok := strings.Cut(filter, "__exact:")
	id, err := strconv.Atoi(strings.TrimPrefix(field, "cf_"))
	if !ok || err != nil {
		WriteJSON(w, 400, map[string]any{"code": 400, "message": "Invalid criteria provided"})
		return
	}
	var data []map[string]any
	ids := make([]string, 0, len(f.Users))
	for k := range f.Users {
		ids = append(ids, k)
	}
	sort.Strings(ids)
	for _, k := range ids {
		if u := f.Users[k]; u.CustomFields[id] == value {
			data = append(data, u.json())
		}
	}
	WriteJSON(w, 200, map[string]any{"data": data, "offset": 0, "pageSize": 100, "count": len(data)})
}

func (u *User) json() map[string]any {
	id, _ := strconv.Atoi(u.ID)
	return map[string]any{"id": id, "externalId": u.ExternalID, "firstName": "Dana", "lastName": "Scully",
		"pin": PIN, "suspended": u.Suspended, "created": "2010-06-15T04:00:00Z"}
}

func (f *Brivo) token(w http.ResponseWriter, r *http.Request) {
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(ClientID+":"+ClientSecret))
	if r.Method != http.MethodPost || r.Header.Get("Authorization") != want || r.Header.Get("api-key") != APIKey ||
		r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		WriteJSON(w, 401, map[string]any{"status": 401, "error": "Unauthorized", "message": "Bad credentials", "path": "/oauth/token"})
		return
	}
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	if form.Get("grant_type") != "password" || form.Get("username") != Username || form.Get("password") != Password {
		WriteJSON(w, 400, map[string]any{"error": "invalid_grant", "error_description": "Bad credentials"})
		return
	}
	f.Mu.Lock()
	f.tokenSeq++
	tok := fmt.Sprintf("brivo-ACCESS-TOKEN-%d", f.tokenSeq)
	f.Tokens[tok] = true
	f.Mu.Unlock()
	WriteJSON(w, 200, map[string]any{"access_token": tok, "token_type": "bearer", "refresh_token": "brivo-REFRESH", "expires_in": 300})
}

// RequestLog returns the API requests so far ("METHOD path"), in order.
func (f *Brivo) RequestLog() []string {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return append([]string(nil), f.Requests...)
}
