// Package jamftest is a small stateful Jamf Pro on httptest (the OAuth
// client-credentials token, computer and mobile device inventory, the MDM
// command queue) for the jamf package's tests and the end-to-end tests.
// Nothing in production imports it.
package jamftest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
)

// The credentials the fake accepts and the lock PIN the connector sends.
// None may appear in an error or detail.
const (
	ClientID = "kinetic"
	Secret   = "jamf-secret-5d2a"
	Token    = "jamf-token-88c0"
	PIN      = "482913"
)

// Fake is a small stateful Jamf Pro: Dana's (dana@example.com) Mac
// (management id mgmt-mac) and iPhone (mgmt-ios), and the MDM command
// queue the POSTs fill. It checks the token grant, the bearer token and
// Accept header, that command bodies are JSON, and fails the test on a
// request it does not serve.
type Fake struct {
	t testing.TB
	// Srv is the instance: its URL is the connector's url.
	Srv *httptest.Server

	// Mu guards Commands, which a test may read.
	Mu       sync.Mutex
	Commands []map[string]any
	inject   connectors.Kind
	slow     bool
	done     chan struct{}
	log      []string
}

// New starts the fake; it is closed when the test ends.
func New(t testing.TB) *Fake {
	f := &Fake{t: t, done: make(chan struct{})}
	f.Srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() { close(f.done); f.Srv.Close() })
	return f
}

// FailWith makes the next API request fail the way Jamf Pro fails with
// kind (auth: the token refetch after the 401 fails too).
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

// Requests returns "METHOD path" of every request served so far, in order.
func (f *Fake) Requests() []string {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return append([]string(nil), f.log...)
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	isToken := r.URL.Path == "/api/oauth/token"
	f.Mu.Lock()
	f.log = append(f.log, r.Method+" "+r.URL.Path)
	inject, slow := f.inject, f.slow
	switch {
	case !isToken:
		f.inject = ""
		if inject == connectors.KindAuth {
			f.inject = "auth-token"
		}
	case inject == connectors.KindAuth || inject == "auth-token":
		f.inject = ""
	default:
		inject = ""
	}
	f.Mu.Unlock()
	if slow {
		select {
		case <-r.Context().Done():
		case <-f.done:
		}
		return
	}
	if isToken {
		if r.Method != http.MethodPost {
			f.t.Errorf("fake Jamf: token request %s", r.Method)
		}
		_ = r.ParseForm()
		if g := r.PostForm.Get("grant_type"); g != "client_credentials" {
			f.t.Errorf("fake Jamf: grant_type %q", g)
		}
		if r.PostForm.Get("client_secret") != Secret || r.PostForm.Get("client_id") != ClientID || inject != "" {
			writeJSON(w, 401, map[string]string{"error": "invalid_client"})
			return
		}
		writeJSON(w, 200, map[string]any{"access_token": Token, "token_type": "Bearer", "expires_in": 299})
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+Token {
		writeJSON(w, 401, jamfErr(401, "INVALID_TOKEN", "token"))
		return
	}
	if a := r.Header.Get("Accept"); a != "application/json" {
		f.t.Errorf("fake Jamf: %s %s with Accept %q", r.Method, r.URL.Path, a)
	}
	switch inject {
	case connectors.KindTransient:
		writeJSON(w, 500, jamfErr(500, "INTERNAL", "boom"))
		return
	case connectors.KindRateLimited:
		w.Header().Set("Retry-After", "5")
		writeJSON(w, 429, jamfErr(429, "TOO_MANY_REQUESTS", "slow down"))
		return
	case connectors.KindAuth:
		writeJSON(w, 401, jamfErr(401, "INVALID_TOKEN", "expired"))
		return
	case connectors.KindForbidden:
		writeJSON(w, 403, jamfErr(403, "INVALID_PRIVILEGE", "Forbidden"))
		return
	case connectors.KindInvalid:
		writeJSON(w, 400, jamfErr(400, "INVALID_FIELD", "filter is invalid"))
		return
	case connectors.KindNotFound:
		writeJSON(w, 404, jamfErr(404, "NOT_FOUND", "not found"))
		return
	}
	f.Mu.Lock()
	defer f.Mu.Unlock()
	filter := r.URL.Query().Get("filter")
	switch {
	case r.Method == "GET" && r.URL.Path == "/api/v1/computers-inventory":
		rows := []any{}
		if filter == `userAndLocation.email=="dana@example.com"` {
			rows = append(rows, map[string]any{"id": "17", "general": map[string]any{"name": "Dana MacBook", "managementId": "mgmt-mac"},
				"hardware": map[string]any{"serialNumber": "C02X"}, "userAndLocation": map[string]any{"email": "dana@example.com", "username": "dana"}})
		}
		writeJSON(w, 200, map[string]any{"totalCount": len(rows), "results": rows})
	case r.Method == "GET" && r.URL.Path == "/api/v2/mobile-devices/detail":
		rows := []any{}
		if filter == `emailAddress=="dana@example.com"` {
			rows = append(rows, map[string]any{"mobileDeviceId": "4", "general": map[string]any{"displayName": "Dana iPhone", "managementId": "mgmt-ios"},
				"hardware": map[string]any{"serialNumber": "F2LX"}, "userAndLocation": map[string]any{"emailAddress": "dana@example.com"}})
		}
		writeJSON(w, 200, map[string]any{"totalCount": len(rows), "results": rows})
	case r.Method == "GET" && r.URL.Path == "/api/v2/mdm/commands":
		rows := []any{}
		for _, c := range f.Commands {
			id := c["client"].(map[string]any)["managementId"].(string)
			if strings.Contains(filter, id) && strings.HasSuffix(filter, "command=="+c["commandType"].(string)) {
				rows = append(rows, c)
			}
		}
		writeJSON(w, 200, map[string]any{"totalCount": len(rows), "results": rows})
	case r.Method == "POST" && r.URL.Path == "/api/v2/mdm/commands":
		raw, _ := io.ReadAll(r.Body)
		var body struct {
			ClientData []struct {
				ManagementID string `json:"managementId"`
			} `json:"clientData"`
			CommandData map[string]any `json:"commandData"`
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") || json.Unmarshal(raw, &body) != nil ||
			len(body.ClientData) == 0 || body.CommandData["commandType"] == nil {
			f.t.Errorf("fake Jamf: command with Content-Type %q and body %q, want clientData and commandData.commandType", ct, raw)
			writeJSON(w, 400, jamfErr(400, "INVALID_FIELD", "commandData"))
			return
		}
		var out []any
		for i, cd := range body.ClientData {
			uuid := cd.ManagementID + "-cmd-" + string(rune('a'+i))
			f.Commands = append(f.Commands, map[string]any{"uuid": uuid, "client": map[string]any{"managementId": cd.ManagementID, "clientType": "COMPUTER"},
				"commandState": "PENDING", "commandType": body.CommandData["commandType"], "dateSent": time.Now().UTC().Format(time.RFC3339)})
			out = append(out, map[string]string{"id": uuid, "href": "/v2/mdm/commands/" + uuid})
		}
		writeJSON(w, 201, out)
	default:
		f.t.Errorf("fake Jamf: unexpected %s %s", r.Method, r.URL.Path)
		writeJSON(w, 400, jamfErr(400, "INVALID_PATH", "unexpected"))
	}
}

func jamfErr(status int, code, desc string) map[string]any {
	return map[string]any{"httpStatus": status, "errors": []any{map[string]any{"code": code, "description": desc, "id": "0"}}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
