// Package intunetest is a small stateful Microsoft Graph (Intune managed
// devices) and identity-platform token endpoint on httptest, for the
// intune package's tests and the end-to-end tests. Nothing in production
// imports it.
package intunetest

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

// The credentials the fake accepts. The secret and the token must never
// appear in an error or detail.
const (
	Tenant   = "contoso"
	ClientID = "app-1"
	Secret   = "intune-secret-93fa"
	Token    = "eyJ-intune-token-41b2"
)

// Fake is the token endpoint (client credentials for Tenant) and Graph
// v1.0's managed devices: users' devices whose deviceActionResults record
// the actions sent to them. It checks the grant's form, the bearer token
// and Accept header, the action bodies, and fails the test on a request
// it does not serve.
type Fake struct {
	t testing.TB
	// Srv serves both: the connector's authority_url is its URL, the
	// graph_url its URL + "/v1.0".
	Srv *httptest.Server

	// Mu guards Devices, which a test may seed and read.
	Mu      sync.Mutex
	Devices map[string][]map[string]any // upn → devices (Graph's managedDevice JSON)
	inject  connectors.Kind
	slow    bool
	done    chan struct{}
	log     []string
}

// New starts a fake with no devices; it is closed when the test ends.
func New(t testing.TB) *Fake {
	f := &Fake{t: t, done: make(chan struct{}), Devices: map[string][]map[string]any{}}
	f.Srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() { close(f.done); f.Srv.Close() })
	return f
}

// AddDevice gives upn a managed device.
func (f *Fake) AddDevice(upn, id, name, serial, os string) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Devices[upn] = append(f.Devices[upn], map[string]any{"id": id, "deviceName": name, "serialNumber": serial, "operatingSystem": os,
		"managementState": "managed", "userPrincipalName": upn, "deviceActionResults": []any{}})
}

// SeedDana gives dana@example.com one managed Windows laptop (dev-1).
func (f *Fake) SeedDana() { f.AddDevice("dana@example.com", "dev-1", "DANA-LT", "C02X", "Windows") }

// FailWith makes the next Graph request fail the way Graph fails with
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

// Actions returns the actionName of every action sent to device id, in
// order.
func (f *Fake) Actions(id string) []string {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	var out []string
	for _, ds := range f.Devices {
		for _, d := range ds {
			if d["id"] == id {
				for _, r := range d["deviceActionResults"].([]any) {
					out = append(out, r.(map[string]any)["actionName"].(string))
				}
			}
		}
	}
	return out
}

// Requests returns "METHOD path" of every request served so far, in order.
func (f *Fake) Requests() []string {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return append([]string(nil), f.log...)
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	isToken := strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token")
	f.Mu.Lock()
	f.log = append(f.log, r.Method+" "+r.URL.Path)
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
	f.Mu.Unlock()
	if slow {
		select {
		case <-r.Context().Done():
		case <-f.done:
		}
		return
	}
	if isToken {
		if r.Method != http.MethodPost || r.URL.Path != "/"+Tenant+"/oauth2/v2.0/token" {
			f.t.Errorf("fake Intune: token request %s %s, want POST /%s/oauth2/v2.0/token", r.Method, r.URL.Path, Tenant)
		}
		_ = r.ParseForm()
		if g := r.PostForm.Get("grant_type"); g != "client_credentials" {
			f.t.Errorf("fake Intune: grant_type %q", g)
		}
		if r.PostForm.Get("client_secret") != Secret || r.PostForm.Get("client_id") != ClientID || inject != "" {
			writeJSON(w, 401, map[string]string{"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."})
			return
		}
		writeJSON(w, 200, map[string]any{"token_type": "Bearer", "expires_in": 3599, "access_token": Token})
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+Token {
		writeJSON(w, 401, graphErr("InvalidAuthenticationToken", "Access token is empty."))
		return
	}
	if a := r.Header.Get("Accept"); a != "application/json" {
		f.t.Errorf("fake Intune: %s %s with Accept %q", r.Method, r.URL.Path, a)
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
	f.Mu.Lock()
	defer f.Mu.Unlock()
	p := strings.TrimPrefix(r.URL.Path, "/v1.0")
	switch {
	case r.Method == "GET" && strings.HasPrefix(p, "/users/") && strings.HasSuffix(p, "/managedDevices"):
		upn := strings.TrimSuffix(strings.TrimPrefix(p, "/users/"), "/managedDevices")
		ds, ok := f.Devices[upn]
		if !ok {
			writeJSON(w, 404, graphErr("Request_ResourceNotFound", "Resource '"+upn+"' does not exist"))
			return
		}
		writeJSON(w, 200, map[string]any{"value": ds})
	case r.Method == "POST" && strings.HasPrefix(p, "/deviceManagement/managedDevices/"):
		parts := strings.Split(strings.TrimPrefix(p, "/deviceManagement/managedDevices/"), "/")
		if len(parts) != 2 || (parts[1] != "remoteLock" && parts[1] != "retire" && parts[1] != "wipe") {
			f.t.Errorf("fake Intune: unexpected %s %s", r.Method, r.URL.Path)
			writeJSON(w, 400, graphErr("BadRequest", "Resource not found for the segment"))
			return
		}
		raw, _ := io.ReadAll(r.Body)
		if parts[1] == "wipe" {
			var body map[string]any
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") || json.Unmarshal(raw, &body) != nil {
				f.t.Errorf("fake Intune: wipe with Content-Type %q and body %q, want a JSON object", ct, raw)
			}
		} else if len(raw) > 0 {
			f.t.Errorf("fake Intune: %s takes no body, got %q", parts[1], raw)
		}
		for _, ds := range f.Devices {
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
		writeJSON(w, 400, graphErr("BadRequest", "unexpected"))
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
