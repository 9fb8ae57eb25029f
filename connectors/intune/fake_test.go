package intune

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
)

// fakeIntune is a small stateful Graph + token endpoint for the
// conformance kit: one user with one managed device whose
// deviceActionResults record the actions sent to it.
type fakeIntune struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	devices map[string][]map[string]any // upn → devices
	inject  connectors.Kind
	slow    bool
	done    chan struct{}
}

const fakeSecret = "intune-secret-93fa"
const fakeToken = "eyJ-intune-token-41b2"

func newFake(t *testing.T) *fakeIntune {
	f := &fakeIntune{t: t, done: make(chan struct{}), devices: map[string][]map[string]any{
		"dana@example.com": {{"id": "dev-1", "deviceName": "DANA-LT", "serialNumber": "C02X", "operatingSystem": "Windows",
			"managementState": "managed", "userPrincipalName": "dana@example.com", "deviceActionResults": []any{}}},
	}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() { close(f.done); f.srv.Close() })
	return f
}

func (f *fakeIntune) serve(w http.ResponseWriter, r *http.Request) {
	isToken := strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token")
	f.mu.Lock()
	inject, slow := f.inject, f.slow
	switch {
	case !isToken:
		f.inject = ""
		if inject == connectors.KindAuth {
			f.inject = "auth-token" // the token refetch after the 401 fails too
		}
	case inject == connectors.KindAuth || inject == "auth-token":
		f.inject = ""
	default:
		inject = "" // other failures are the API's, not the token endpoint's
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
			writeJSON(w, 401, map[string]string{"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."})
			return
		}
		writeJSON(w, 200, map[string]any{"token_type": "Bearer", "expires_in": 3599, "access_token": fakeToken})
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+fakeToken {
		writeJSON(w, 401, graphErr("InvalidAuthenticationToken", "Access token is empty."))
		return
	}
	switch inject {
	case connectors.KindTransient:
		writeJSON(w, 503, graphErr("ServiceUnavailable", "try later"))
		return
	case connectors.KindRateLimited:
		w.Header().Set("Retry-After", "10")
		writeJSON(w, 429, graphErr("TooManyRequests", "throttled"))
		return
	case connectors.KindAuth:
		writeJSON(w, 401, graphErr("InvalidAuthenticationToken", "expired"))
		return
	case connectors.KindForbidden:
		writeJSON(w, 403, graphErr("Forbidden", "Application is not authorized to perform this operation."))
		return
	case connectors.KindInvalid:
		writeJSON(w, 400, graphErr("BadRequest", "Resource not found for the segment 'managedDevice'."))
		return
	case connectors.KindNotFound:
		writeJSON(w, 404, graphErr("ResourceNotFound", "not found"))
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p := strings.TrimPrefix(r.URL.Path, "/v1.0")
	switch {
	case r.Method == "GET" && strings.HasPrefix(p, "/users/") && strings.HasSuffix(p, "/managedDevices"):
		upn := strings.TrimSuffix(strings.TrimPrefix(p, "/users/"), "/managedDevices")
		ds, ok := f.devices[upn]
		if !ok {
			writeJSON(w, 404, graphErr("Request_ResourceNotFound", "Resource '"+upn+"' does not exist"))
			return
		}
		writeJSON(w, 200, map[string]any{"value": ds})
	case r.Method == "POST" && strings.HasPrefix(p, "/deviceManagement/managedDevices/"):
		parts := strings.Split(strings.TrimPrefix(p, "/deviceManagement/managedDevices/"), "/")
		for _, ds := range f.devices {
			for _, d := range ds {
				if d["id"] == parts[0] {
					res := d["deviceActionResults"].([]any)
					d["deviceActionResults"] = append(res, map[string]any{"actionName": parts[1], "actionState": "pending",
						"startDateTime": time.Now().UTC().Format(time.RFC3339), "lastUpdatedDateTime": time.Now().UTC().Format(time.RFC3339)})
					w.WriteHeader(204)
					return
				}
			}
		}
		writeJSON(w, 404, graphErr("ResourceNotFound", "no device"))
	default:
		f.t.Errorf("fake Intune: unexpected %s %s", r.Method, r.URL.Path)
		w.WriteHeader(500)
	}
}

func graphErr(code, msg string) map[string]any {
	return map[string]any{"error": map[string]any{"code": code, "message": msg}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

var fakes sync.Map
