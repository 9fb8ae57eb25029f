package teamstest

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kineticsec/kinetic/internal/jsonbody"
)

// GraphScope is the client-credentials scope a Graph token is asked with.
const GraphScope = "https://graph.microsoft.com/.default"

// GraphUser is a user of the fake Graph.
type GraphUser struct {
	ID, Mail, UPN string
}

// GraphRequest is one request the fake Graph answered: method, the
// escaped path and the raw query.
type GraphRequest struct {
	Method, Path, Query string
}

func (r GraphRequest) String() string { return r.Method + " " + r.Path + "?" + r.Query }

// Graph is a fake Microsoft Graph (v1.0) and its tenant's token endpoint:
// GET /v1.0/users/{id} and GET
// /v1.0/groups/{id}/transitiveMembers/microsoft.graph.user, paged by
// PageSize with @odata.nextLink. Every request must carry the token it
// issued; a request it does not serve fails the test.
type Graph struct {
	t   testing.TB
	srv *httptest.Server

	// AppID and Secret are the client credentials it accepts; with
	// Certificate set, a client assertion signed by that certificate's key
	// is accepted too.
	AppID, Secret string
	Certificate   *x509.Certificate
	auth          clientAuth
	// PageSize is the number of users a page holds (default 2, so paging
	// is exercised).
	PageSize int

	tokens atomic.Int64
	token  string

	mu     sync.Mutex
	users  map[string]GraphUser
	groups map[string][]string // group id → user ids (already flattened)
	reqs   []GraphRequest
	fails  []failure
	bad    []string
}

// NewGraph starts a fake Graph on https (production configuration
// requires https URLs; trust it with CertPool).
func NewGraph(t testing.TB) *Graph {
	t.Helper()
	g := &Graph{t: t, AppID: "test-app-id", Secret: "test-app-secret", PageSize: 2, token: "fake-graph-token",
		users: map[string]GraphUser{}, groups: map[string][]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+TokenPath, g.serveToken)
	mux.HandleFunc("GET /v1.0/users/{id}", g.serveUser)
	mux.HandleFunc("GET /v1.0/groups/{id}/transitiveMembers/microsoft.graph.user", g.serveGroup)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		g.problem("unexpected %s %s", r.Method, r.URL.EscapedPath())
		http.Error(w, "not found", http.StatusNotFound)
	})
	g.srv = httptest.NewUnstartedServer(mux)
	start(g.srv, true)
	t.Cleanup(func() {
		g.srv.Close()
		g.mu.Lock()
		defer g.mu.Unlock()
		for _, p := range g.bad {
			t.Errorf("fake graph: %s", p)
		}
	})
	return g
}

// URL is the Graph base URL (…/v1.0).
func (g *Graph) URL() string { return g.srv.URL + "/v1.0" }

// TokenURL is its token endpoint.
func (g *Graph) TokenURL() string { return g.srv.URL + TokenPath }

// CertPool trusts the fake's certificate.
func (g *Graph) CertPool() *x509.CertPool { return certPool(g.srv) }

// TokenRequests is how many tokens were issued.
func (g *Graph) TokenRequests() int64 { return g.tokens.Load() }

// AddUser adds (or replaces) a user.
func (g *Graph) AddUser(u GraphUser) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.users[u.ID] = u
}

// SetGroup sets a group's transitive members (user ids); an unknown id
// is left out of the answer as Graph leaves out what it cannot read.
func (g *Graph) SetGroup(id string, userIDs ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.groups[id] = append([]string(nil), userIDs...)
}

// RemoveGroup deletes a group: its listing then answers 404.
func (g *Graph) RemoveGroup(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.groups, id)
}

// Fail makes the next n Graph calls (not token requests) answer status,
// with Retry-After when retryAfter is set; an html status body when
// status is negative (its absolute value is the status).
func (g *Graph) Fail(n, status int, retryAfter string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for range n {
		g.fails = append(g.fails, failure{status, retryAfter})
	}
}

// Requests returns the Graph calls answered so far, in order.
func (g *Graph) Requests() []GraphRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]GraphRequest(nil), g.reqs...)
}

func (g *Graph) problem(format string, args ...any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.bad = append(g.bad, fmt.Sprintf(format, args...))
}

func (g *Graph) serveToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("scope") != GraphScope {
		g.problem("token request with grant_type=%q scope=%q", r.PostForm.Get("grant_type"), r.PostForm.Get("scope"))
		jsonbody.Write(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	if code, desc := g.auth.check(r.PostForm, g.AppID, g.Secret, g.Certificate, g.TokenURL()); code != "" {
		status := http.StatusUnauthorized
		if code == "invalid_request" {
			status = http.StatusBadRequest
		}
		jsonbody.Write(w, status, map[string]string{"error": code, "error_description": desc})
		return
	}
	g.tokens.Add(1)
	jsonbody.Write(w, http.StatusOK, map[string]any{"access_token": g.token, "token_type": "Bearer", "expires_in": 3600})
}

// pre records the request, checks its bearer and applies an injected
// failure; false means the answer was written.
func (g *Graph) pre(w http.ResponseWriter, r *http.Request) bool {
	g.mu.Lock()
	g.reqs = append(g.reqs, GraphRequest{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery})
	var f *failure
	if len(g.fails) > 0 {
		f = &g.fails[0]
		g.fails = g.fails[1:]
	}
	g.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+g.token {
		g.problem("%s %s without the app's Graph token", r.Method, r.URL.Path)
		jsonbody.Write(w, http.StatusUnauthorized, map[string]any{"error": map[string]string{"code": "InvalidAuthenticationToken", "message": "Access token is empty."}})
		return false
	}
	if r.URL.Query().Get("$select") != "id,mail,userPrincipalName" {
		g.problem("%s %s selects %q", r.Method, r.URL.Path, r.URL.Query().Get("$select"))
	}
	if f == nil {
		return true
	}
	if f.retryAfter != "" {
		w.Header().Set("Retry-After", f.retryAfter)
	}
	if f.status < 0 {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(-f.status)
		_, _ = w.Write([]byte("<html><body>Service Unavailable</body></html>"))
		return false
	}
	jsonbody.Write(w, f.status, map[string]any{"error": map[string]string{"code": "Injected_" + strconv.Itoa(f.status), "message": "injected failure"}})
	return false
}

func (g *Graph) serveUser(w http.ResponseWriter, r *http.Request) {
	if !g.pre(w, r) {
		return
	}
	id := r.PathValue("id")
	g.mu.Lock()
	u, ok := g.users[id]
	if !ok {
		for _, x := range g.users {
			if strings.EqualFold(x.UPN, id) {
				u, ok = x, true
			}
		}
	}
	g.mu.Unlock()
	if !ok {
		jsonbody.Write(w, http.StatusNotFound, map[string]any{"error": map[string]string{"code": "Request_ResourceNotFound", "message": "Resource '" + id + "' does not exist."}})
		return
	}
	jsonbody.Write(w, http.StatusOK, map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(id,mail,userPrincipalName)/$entity",
		"id": u.ID, "mail": nullable(u.Mail), "userPrincipalName": u.UPN})
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (g *Graph) serveGroup(w http.ResponseWriter, r *http.Request) {
	if !g.pre(w, r) {
		return
	}
	id := r.PathValue("id")
	g.mu.Lock()
	members, ok := g.groups[id]
	var users []map[string]any
	for _, m := range members {
		if u, ok := g.users[m]; ok {
			users = append(users, map[string]any{"@odata.type": "#microsoft.graph.user", "id": u.ID, "mail": nullable(u.Mail), "userPrincipalName": u.UPN})
		}
	}
	size := g.PageSize
	g.mu.Unlock()
	if !ok {
		jsonbody.Write(w, http.StatusNotFound, map[string]any{"error": map[string]string{"code": "Request_ResourceNotFound", "message": "Resource '" + id + "' does not exist."}})
		return
	}
	skip, _ := strconv.Atoi(r.URL.Query().Get("$skiptoken"))
	end := min(skip+size, len(users))
	if skip > len(users) {
		skip = len(users)
	}
	body := map[string]any{"value": append([]map[string]any{}, users[skip:end]...)}
	if end < len(users) {
		q := r.URL.Query()
		q.Set("$skiptoken", strconv.Itoa(end))
		body["@odata.nextLink"] = "https://" + r.Host + r.URL.EscapedPath() + "?" + q.Encode()
	}
	jsonbody.Write(w, http.StatusOK, body)
}
