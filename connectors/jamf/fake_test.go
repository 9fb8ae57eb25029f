package jamf

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

const (
	fakeSecret = "jamf-secret-5d2a"
	fakeToken  = "jamf-token-88c0"
	fakePIN    = "482913"
)

// fakeJamf is a small stateful Jamf Pro for the conformance kit: Dana's
// Mac and iPhone, and the MDM command queue the POSTs fill.
type fakeJamf struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	commands []map[string]any
	inject   connectors.Kind
	slow     bool
	done     chan struct{}
}

func newFake(t *testing.T) *fakeJamf {
	f := &fakeJamf{t: t, done: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() { close(f.done); f.srv.Close() })
	return f
}

func (f *fakeJamf) serve(w http.ResponseWriter, r *http.Request) {
	isToken := r.URL.Path == "/api/oauth/token"
	f.mu.Lock()
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
	f.mu.Unlock()
	if slow {
		select {
		case <-r.Context().Done():
		case <-f.done:
		}
		return
	}
	if isToken {
		_ = r.ParseForm()
		if r.PostForm.Get("client_secret") != fakeSecret || inject != "" {
			writeJSON(w, 401, map[string]string{"error": "invalid_client"})
			return
		}
		writeJSON(w, 200, map[string]any{"access_token": fakeToken, "token_type": "Bearer", "expires_in": 299})
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+fakeToken {
		writeJSON(w, 401, jamfErr(401, "INVALID_TOKEN", "token"))
		return
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
	f.mu.Lock()
	defer f.mu.Unlock()
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
		for _, c := range f.commands {
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
		_ = json.Unmarshal(raw, &body)
		var out []any
		for i, cd := range body.ClientData {
			uuid := cd.ManagementID + "-cmd-" + string(rune('a'+i))
			f.commands = append(f.commands, map[string]any{"uuid": uuid, "client": map[string]any{"managementId": cd.ManagementID, "clientType": "COMPUTER"},
				"commandState": "PENDING", "commandType": body.CommandData["commandType"], "dateSent": time.Now().UTC().Format(time.RFC3339)})
			out = append(out, map[string]string{"id": uuid, "href": "/v2/mdm/commands/" + uuid})
		}
		writeJSON(w, 201, out)
	default:
		f.t.Errorf("fake Jamf: unexpected %s %s", r.Method, r.URL.Path)
		w.WriteHeader(500)
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

var fakes sync.Map
