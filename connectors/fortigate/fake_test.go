package fortigate

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

// fakeFortiGate is a FortiOS REST API at the HTTP level: local users, the
// SSL-VPN and IPsec monitors, with the request and answer shapes of the
// FortiOS 7.x REST API. Every request must carry the Bearer token and the
// vdom query and nothing else; any call it does not know fails the test.
// Each request is logged as "METHOD path?query body" for in-order checks.
type fakeFortiGate struct {
	t     *testing.T
	srv   *httptest.Server
	token string

	mu       sync.Mutex
	users    map[string]*fakeUser // by lower-cased name
	ssl      []fakeSSL
	tunnels  []*fakeTunnel
	log      []string
	failNext []fakeFailure // answered instead of the next requests, in order
	reappear bool          // a deleted SSL session comes back (a client reconnecting)
	stall    chan struct{} // when set, requests block until their context ends
}

type fakeUser struct{ name, status string }

type fakeSSL struct {
	index int
	user  string
}

type fakeTunnel struct {
	name, xauth string
	proxies     []fakeProxy
}

type fakeProxy struct {
	p2name string
	serial int
	status string
}

type fakeFailure struct {
	status      int
	contentType string
	body        string
	header      map[string]string
}

const fakeToken = "fgt-TOKEN-7f3a9c1e55"

func newFake(t *testing.T, tlsServer bool) *fakeFortiGate {
	f := &fakeFortiGate{t: t, token: fakeToken, users: map[string]*fakeUser{}}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the TLS test's refused handshakes
	if tlsServer {
		f.srv.StartTLS()
	} else {
		f.srv.Start()
	}
	t.Cleanup(f.srv.Close)
	return f
}

// seedDana gives dana an enabled local user, two SSL-VPN sessions and one
// IPsec dial-up tunnel with two phase 2 selectors up; sam, another user,
// has a session that must stay.
func (f *fakeFortiGate) seedDana() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users["dana"] = &fakeUser{name: "dana", status: statusEnable}
	f.users["sam"] = &fakeUser{name: "sam", status: statusEnable}
	f.ssl = []fakeSSL{{index: 3, user: "dana"}, {index: 4, user: "sam"}, {index: 7, user: "DANA"}}
	f.tunnels = []*fakeTunnel{
		{name: "dialup_0", xauth: "dana", proxies: []fakeProxy{{"dialup-p2", 11, "up"}, {"dialup-p2b", 12, "up"}}},
		{name: "dialup_1", xauth: "sam", proxies: []fakeProxy{{"dialup-p2", 13, "up"}}},
	}
}

func (f *fakeFortiGate) requestLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

func (f *fakeFortiGate) resetLog() {
	f.mu.Lock()
	f.log = nil
	f.mu.Unlock()
}

func (f *fakeFortiGate) fail(ff ...fakeFailure) {
	f.mu.Lock()
	f.failNext = append(f.failNext, ff...)
	f.mu.Unlock()
}

func (f *fakeFortiGate) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeFortiGate) envelope(r *http.Request, results any) map[string]any {
	return map[string]any{
		"http_method": r.Method, "results": results, "vdom": "root", "path": "x", "name": "y",
		"status": "success", "http_status": 200, "serial": "FGVM01TM00000000", "version": "v7.4.4", "build": 2662,
	}
}

func (f *fakeFortiGate) errorEnvelope(r *http.Request, status, code int) map[string]any {
	return map[string]any{"http_method": r.Method, "status": "error", "http_status": status, "error": code, "vdom": "root"}
}

func (f *fakeFortiGate) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	entry := r.Method + " " + r.URL.Path + "?" + r.URL.RawQuery
	if len(body) > 0 {
		entry += " " + strings.TrimSpace(string(body))
	}
	f.log = append(f.log, entry)
	stall := f.stall
	var failure *fakeFailure
	if len(f.failNext) > 0 {
		if f.failNext[0].status > 0 {
			failure = &f.failNext[0]
		}
		f.failNext = f.failNext[1:]
	}
	f.mu.Unlock()

	if stall != nil {
		<-r.Context().Done()
		return
	}
	if failure != nil {
		for k, v := range failure.header {
			w.Header().Set(k, v)
		}
		if failure.contentType != "" {
			w.Header().Set("Content-Type", failure.contentType)
		}
		w.WriteHeader(failure.status)
		_, _ = io.WriteString(w, failure.body)
		return
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+f.token {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if q := r.URL.Query(); len(q) != 1 || q.Get("vdom") != "root" {
		f.t.Errorf("fake FortiGate: %s: query %q, want exactly vdom=root (no access_token in URLs)", entry, r.URL.RawQuery)
	}
	if len(body) > 0 && r.Header.Get("Content-Type") != "application/json" {
		f.t.Errorf("fake FortiGate: %s: Content-Type %q", entry, r.Header.Get("Content-Type"))
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case strings.HasPrefix(r.URL.Path, pathLocalUser):
		name, err := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), pathLocalUser))
		if err != nil {
			f.t.Errorf("fake FortiGate: bad user path %q", r.URL.EscapedPath())
		}
		u := f.users[strings.ToLower(name)]
		if u == nil {
			f.writeJSON(w, http.StatusNotFound, f.errorEnvelope(r, 404, -3))
			return
		}
		switch r.Method {
		case http.MethodGet:
			f.writeJSON(w, 200, f.envelope(r, []map[string]any{{"name": u.name, "q_origin_key": u.name, "status": u.status, "type": "password", "passwd": "ENC XXXX", "email-to": ""}}))
		case http.MethodPut:
			var in map[string]any
			if err := json.Unmarshal(body, &in); err != nil || len(in) != 1 || in["status"] != statusDisable {
				f.t.Errorf("fake FortiGate: PUT user body %s, want {\"status\":\"disable\"}", body)
				f.writeJSON(w, 400, f.errorEnvelope(r, 400, -1))
				return
			}
			u.status = statusDisable
			f.writeJSON(w, 200, map[string]any{"http_method": "PUT", "revision": "abc", "mkey": u.name, "status": "success", "http_status": 200, "vdom": "root"})
		default:
			f.t.Errorf("fake FortiGate: unexpected %s", entry)
			w.WriteHeader(405)
		}
	case r.Method == http.MethodGet && r.URL.Path == pathSSL:
		var out []map[string]any
		for _, s := range f.ssl {
			out = append(out, map[string]any{"index": s.index, "user_name": s.user, "remote_host": "198.51.100.7", "last_login_time": "2026-12-07 09:00:00",
				"subsessions": []map[string]any{{"index": s.index*100 + 1, "mode": "Tunnel", "aip": "10.212.134.200"}}})
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
		for i, s := range f.ssl {
			if s.index == *in.Index {
				if !f.reappear {
					f.ssl = append(f.ssl[:i], f.ssl[i+1:]...)
				}
				f.writeJSON(w, 200, f.envelope(r, map[string]any{}))
				return
			}
		}
		f.writeJSON(w, 404, f.errorEnvelope(r, 404, -3))
	case r.Method == http.MethodGet && r.URL.Path == pathIPsec:
		out := []map[string]any{}
		for _, t := range f.tunnels {
			var px []map[string]any
			for _, p := range t.proxies {
				px = append(px, map[string]any{"p2name": p.p2name, "p2serial": p.serial, "status": p.status, "expire": 1000})
			}
			out = append(out, map[string]any{"name": t.name, "type": "dialup", "xauth_user": t.xauth, "rgwy": "203.0.113.9", "proxyid": px})
		}
		f.writeJSON(w, 200, f.envelope(r, out))
	case r.Method == http.MethodPost && r.URL.Path == pathIPsecDown:
		var in map[string]any
		if err := json.Unmarshal(body, &in); err != nil || len(in) != 3 {
			f.t.Errorf("fake FortiGate: tunnel_down body %s", body)
			f.writeJSON(w, 400, f.errorEnvelope(r, 400, -1))
			return
		}
		for _, t := range f.tunnels {
			for i := range t.proxies {
				p := &t.proxies[i]
				if t.name == in["p1name"] && p.p2name == in["p2name"] && fmt.Sprint(p.serial) == fmt.Sprint(in["p2serial"]) {
					p.status = "down"
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

// failureFor is the answer that provokes an error of kind k.
func failureFor(k connectors.Kind) fakeFailure {
	switch k {
	case connectors.KindTransient:
		return fakeFailure{status: 503, contentType: "application/json", body: `{"status":"error","http_status":503}`}
	case connectors.KindRateLimited:
		return fakeFailure{status: 429, header: map[string]string{"Retry-After": "7"}}
	case connectors.KindAuth:
		return fakeFailure{status: 401, body: "Authorization: Bearer " + fakeToken}
	case connectors.KindForbidden:
		return fakeFailure{status: 403, contentType: "application/json", body: `{"status":"error","http_status":403,"error":-37}`}
	case connectors.KindNotFound:
		return fakeFailure{status: 404, contentType: "application/json", body: `{"status":"error","http_status":404,"error":-3}`}
	default:
		return fakeFailure{status: 400, contentType: "application/json", body: `{"status":"error","http_status":400,"error":-651,"cli_error":"bad token ` + fakeToken + `"}`}
	}
}
