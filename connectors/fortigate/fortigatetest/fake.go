// Package fortigatetest is a stateful fake FortiGate (the FortiOS 7.x REST
// API at the HTTP level: local users, the SSL-VPN and IPsec monitors) for
// the fortigate package's tests and the end-to-end tests that run a whole
// departure against it. Nothing in production imports it.
package fortigatetest

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/kineticsec/kinetic/connectors"
)

// FortiGate is a FortiOS REST API at the HTTP level: local users, the
// SSL-VPN and IPsec monitors, with the request and answer shapes of the
// FortiOS 7.x REST API. Every request must carry the Bearer token and the
// vdom query and nothing else; any call it does not know fails the test.
// Each request is logged as "METHOD path?query body" for in-order checks.
type FortiGate struct {
	t     *testing.T
	Srv   *httptest.Server
	Token string

	Mu       sync.Mutex
	Users    map[string]*User // by lower-cased name
	SSL      []SSLSession
	Tunnels  []*Tunnel
	log      []string
	FailNext []Failure     // answered instead of the next requests, in order
	Reappear bool          // a deleted SSL session comes back (a client reconnecting)
	Stall    chan struct{} // when set, requests block until their context ends
}

type User struct{ Name, Status string }

type SSLSession struct {
	Index int
	User  string
}

type Tunnel struct {
	Name, XAuth string
	Proxies     []Proxy
}

type Proxy struct {
	P2Name string
	Serial int
	Status string
}

type Failure struct {
	Status      int
	ContentType string
	Body        string
	Header      map[string]string
}

// The FortiOS REST paths and values the fake serves (the fortigate
// package's own constants are unexported, and importing it would be a
// cycle for its tests).
const (
	pathLocalUser  = "/api/v2/cmdb/user/local/"
	pathSSL        = "/api/v2/monitor/vpn/ssl"
	pathSSLDelete  = "/api/v2/monitor/vpn/ssl/delete"
	pathIPsec      = "/api/v2/monitor/vpn/ipsec"
	pathIPsecDown  = "/api/v2/monitor/vpn/ipsec/tunnel_down"
	statusEnable   = "enable"
	statusDisable  = "disable"
	sessionWebType = "websession"
)

// Token is the API token the fake accepts.
const Token = "fgt-TOKEN-7f3a9c1e55"

// New starts a fake FortiGate (over TLS when tlsServer), closed when the test ends.
func New(t *testing.T, tlsServer bool) *FortiGate {
	f := &FortiGate{t: t, Token: Token, Users: map[string]*User{}}
	f.Srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.Srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the TLS test's refused handshakes
	if tlsServer {
		f.Srv.StartTLS()
	} else {
		f.Srv.Start()
	}
	t.Cleanup(f.Srv.Close)
	return f
}

// SeedDana gives dana an enabled local user, two SSL-VPN sessions and one
// IPsec dial-up tunnel with two phase 2 selectors up; sam, another user,
// has a session that must stay.
func (f *FortiGate) SeedDana() {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Users["dana"] = &User{Name: "dana", Status: statusEnable}
	f.Users["sam"] = &User{Name: "sam", Status: statusEnable}
	f.SSL = []SSLSession{{Index: 3, User: "dana"}, {Index: 4, User: "sam"}, {Index: 7, User: "DANA"}}
	f.Tunnels = []*Tunnel{
		{Name: "dialup_0", XAuth: "dana", Proxies: []Proxy{{"dialup-p2", 11, "up"}, {"dialup-p2b", 12, "up"}}},
		{Name: "dialup_1", XAuth: "sam", Proxies: []Proxy{{"dialup-p2", 13, "up"}}},
	}
}

// RequestLog returns the requests so far, in order.
func (f *FortiGate) RequestLog() []string {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return append([]string(nil), f.log...)
}

// ResetLog forgets the requests so far.
func (f *FortiGate) ResetLog() {
	f.Mu.Lock()
	f.log = nil
	f.Mu.Unlock()
}

// Fail answers the next requests with these failures, in order.
func (f *FortiGate) Fail(ff ...Failure) {
	f.Mu.Lock()
	f.FailNext = append(f.FailNext, ff...)
	f.Mu.Unlock()
}

func (f *FortiGate) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *FortiGate) envelope(r *http.Request, results any) map[string]any {
	return map[string]any{
		"http_method": r.Method, "results": results, "vdom": "root", "path": "x", "name": "y",
		"status": "success", "http_status": 200, "serial": "FGVM01TM00000000", "version": "v7.4.4", "build": 2662,
	}
}

func (f *FortiGate) errorEnvelope(r *http.Request, status, code int) map[string]any {
	return map[string]any{"http_method": r.Method, "status": "error", "http_status": status, "error": code, "vdom": "root"}
}

func (f *FortiGate) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.Mu.Lock()
	entry := r.Method + " " + r.URL.Path + "?" + r.URL.RawQuery
	if len(body) > 0 {
		entry += " " + strings.TrimSpace(string(body))
	}
	f.log = append(f.log, entry)
	stall := f.Stall
	var failure *Failure
	if len(f.FailNext) > 0 {
		if f.FailNext[0].Status > 0 {
			failure = &f.FailNext[0]
		}
		f.FailNext = f.FailNext[1:]
	}
	f.Mu.Unlock()

	if stall != nil {
		<-r.Context().Done()
		return
	}
	if failure != nil {
		for k, v := range failure.Header {
			w.Header().Set(k, v)
		}
		if failure.ContentType != "" {
			w.Header().Set("Content-Type", failure.ContentType)
		}
		w.WriteHeader(failure.Status)
		_, _ = io.WriteString(w, failure.Body)
		return
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+f.Token {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if q := r.URL.Query(); len(q) != 1 || q.Get("vdom") != "root" {
		f.t.Errorf("fake FortiGate: %s: query %q, want exactly vdom=root (no access_token in URLs)", entry, r.URL.RawQuery)
	}
	if len(body) > 0 && r.Header.Get("Content-Type") != "application/json" {
		f.t.Errorf("fake FortiGate: %s: Content-Type %q", entry, r.Header.Get("Content-Type"))
	}

	f.Mu.Lock()
	defer f.Mu.Unlock()
	switch {
	case strings.HasPrefix(r.URL.Path, pathLocalUser):
		name, err := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), pathLocalUser))
		if err != nil {
			f.t.Errorf("fake FortiGate: bad user path %q", r.URL.EscapedPath())
		}
		u := f.Users[strings.ToLower(name)]
		if u == nil {
			f.writeJSON(w, http.StatusNotFound, f.errorEnvelope(r, 404, -3))
			return
		}
		switch r.Method {
		case http.MethodGet:
			f.writeJSON(w, 200, f.envelope(r, []map[string]any{{"name": u.Name, "q_origin_key": u.Name, "status": u.Status, "type": "password", "passwd": "ENC XXXX", "email-to": ""}}))
		case http.MethodPut:
			var in map[string]any
			if err := json.Unmarshal(body, &in); err != nil || len(in) != 1 || in["status"] != statusDisable {
				f.t.Errorf("fake FortiGate: PUT user body %s, want {\"status\":\"disable\"}", body)
				f.writeJSON(w, 400, f.errorEnvelope(r, 400, -1))
				return
			}
			u.Status = statusDisable
			f.writeJSON(w, 200, map[string]any{"http_method": "PUT", "revision": "abc", "mkey": u.Name, "status": "success", "http_status": 200, "vdom": "root"})
		default:
			f.t.Errorf("fake FortiGate: unexpected %s", entry)
			w.WriteHeader(405)
		}
	case r.Method == http.MethodGet && r.URL.Path == pathSSL:
		var out []map[string]any
		for _, s := range f.SSL {
			out = append(out, map[string]any{"index": s.Index, "user_name": s.User, "remote_host": "198.51.100.7", "last_login_time": "2026-12-07 09:00:00",
				"subsessions": []map[string]any{{"index": s.Index*100 + 1, "mode": "Tunnel", "aip": "10.212.134.200"}}})
		}
		if out == nil {
			out = []map[string]any{}
		}
		f.writeJSON(w, 200, f.envelope(r, out))
	case r.Method == http.MethodPost && r.URL.Path == pathSSLDelete:
		var in struct {
			Type  string `json:"type"`
			Index *int   `json:"index"`
		}
		if err := json.Unmarshal(body, &in); err != nil || in.Type != sessionWebType || in.Index == nil {
			f.t.Errorf("fake FortiGate: ssl/delete body %s", body)
			f.writeJSON(w, 400, f.errorEnvelope(r, 400, -1))
			return
		}
		for i, s := range f.SSL {
			if s.Index == *in.Index {
				if !f.Reappear {
					f.SSL = append(f.SSL[:i], f.SSL[i+1:]...)
				}
				f.writeJSON(w, 200, f.envelope(r, map[string]any{}))
				return
			}
		}
		f.writeJSON(w, 404, f.errorEnvelope(r, 404, -3))
	case r.Method == http.MethodGet && r.URL.Path == pathIPsec:
		out := []map[string]any{}
		for _, t := range f.Tunnels {
			var px []map[string]any
			for _, p := range t.Proxies {
				px = append(px, map[string]any{"p2name": p.P2Name, "p2serial": p.Serial, "status": p.Status, "expire": 1000})
			}
			out = append(out, map[string]any{"name": t.Name, "type": "dialup", "xauth_user": t.XAuth, "rgwy": "203.0.113.9", "proxyid": px})
		}
		f.writeJSON(w, 200, f.envelope(r, out))
	case r.Method == http.MethodPost && r.URL.Path == pathIPsecDown:
		var in map[string]any
		if err := json.Unmarshal(body, &in); err != nil || len(in) != 3 {
			f.t.Errorf("fake FortiGate: tunnel_down body %s", body)
			f.writeJSON(w, 400, f.errorEnvelope(r, 400, -1))
			return
		}
		for _, t := range f.Tunnels {
			for i := range t.Proxies {
				p := &t.Proxies[i]
				if t.Name == in["p1name"] && p.P2Name == in["p2name"] && fmt.Sprint(p.Serial) == fmt.Sprint(in["p2serial"]) {
					p.Status = "down"
					f.writeJSON(w, 200, f.envelope(r, map[string]any{}))
					return
				}
			}
		}
		f.writeJSON(w, 404, f.errorEnvelope(r, 404, -3))
	default:
		f.t.Errorf("fake FortiGate: unexpected call %s", entry)
		w.WriteHeader(http.StatusNotFound)
	}
}

// FailureFor is the answer that provokes an error of kind k.
func FailureFor(k connectors.Kind) Failure {
	switch k {
	case connectors.KindTransient:
		return Failure{Status: 503, ContentType: "application/json", Body: `{"status":"error","http_status":503}`}
	case connectors.KindRateLimited:
		return Failure{Status: 429, Header: map[string]string{"Retry-After": "7"}}
	case connectors.KindAuth:
		return Failure{Status: 401, Body: "Authorization: Bearer " + Token}
	case connectors.KindForbidden:
		return Failure{Status: 403, ContentType: "application/json", Body: `{"status":"error","http_status":403,"error":-37}`}
	case connectors.KindNotFound:
		return Failure{Status: 404, ContentType: "application/json", Body: `{"status":"error","http_status":404,"error":-3}`}
	default:
		return Failure{Status: 400, ContentType: "application/json", Body: `{"status":"error","http_status":400,"error":-651,"cli_error":"bad token ` + Token + `"}`}
	}
}
