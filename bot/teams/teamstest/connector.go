package teamstest

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kineticsec/kinetic/bot/teams/connector"
	"github.com/kineticsec/kinetic/internal/jsonbody"
)

// TokenPath is where a Connector answers client-credentials token requests.
const TokenPath = "/oauth2/v2.0/token"

// Call is one request the fake Bot Connector accepted.
type Call struct {
	Method         string
	Op             string // "send", "reply", "update", "create"
	ConversationID string
	ActivityID     string // reply/update: the activity in the path
	Activity       *connector.Activity
	Params         *connector.ConversationParameters
}

type failure struct {
	status     int
	retryAfter string
}

// Connector is a fake Bot Connector service (and its token endpoint). It
// checks method, path, the bearer token and the JSON body of each call and
// records every accepted call.
type Connector struct {
	t   testing.TB
	srv *httptest.Server

	// AppID and Secret are the client credentials it accepts; with
	// Certificate set, a client assertion signed by that certificate's key
	// is accepted too (and checked as Entra ID checks it).
	AppID, Secret string
	Certificate   *x509.Certificate
	auth          clientAuth

	tokenCount atomic.Int64
	token      string

	mu     sync.Mutex
	calls  []Call
	fails  []failure
	bad    []string
	nextID int
}

// NewConnector starts the fake service on plain http.
func NewConnector(t testing.TB) *Connector {
	t.Helper()
	return newConnector(t, false)
}

// NewTLSConnector is NewConnector on https (httptest.NewTLSServer): its
// serviceUrl and token URL are https URLs, as production configuration
// requires; clients trust it through CertPool.
func NewTLSConnector(t testing.TB) *Connector {
	t.Helper()
	return newConnector(t, true)
}

// CertPool holds the certificate of an https service (nil on http).
func (c *Connector) CertPool() *x509.CertPool { return certPool(c.srv) }

// certPool is the pool trusting srv's certificate, nil for plain http.
func certPool(srv *httptest.Server) *x509.CertPool {
	if srv.Certificate() == nil {
		return nil
	}
	p := x509.NewCertPool()
	p.AddCert(srv.Certificate())
	return p
}

// start starts srv, on https when useTLS.
func start(srv *httptest.Server, useTLS bool) {
	if useTLS {
		srv.StartTLS()
		return
	}
	srv.Start()
}

func newConnector(t testing.TB, useTLS bool) *Connector {
	t.Helper()
	c := &Connector{t: t, AppID: "test-app-id", Secret: "test-app-secret", token: "fake-bot-token"}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+TokenPath, c.serveToken)
	mux.HandleFunc("POST /v3/conversations", c.serveCreate)
	mux.HandleFunc("POST /v3/conversations/{conv}/activities", c.serveActivity("send"))
	mux.HandleFunc("POST /v3/conversations/{conv}/activities/{id}", c.serveActivity("reply"))
	mux.HandleFunc("PUT /v3/conversations/{conv}/activities/{id}", c.serveActivity("update"))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.problem("unexpected %s %s", r.Method, r.URL.EscapedPath())
		http.Error(w, "not found", http.StatusNotFound)
	})
	c.srv = httptest.NewUnstartedServer(mux)
	start(c.srv, useTLS)
	t.Cleanup(func() {
		c.srv.Close()
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, p := range c.bad {
			t.Errorf("fake bot connector: %s", p)
		}
	})
	return c
}

// URL is the serviceUrl of the fake service.
func (c *Connector) URL() string { return c.srv.URL }

// TokenURL is its token endpoint.
func (c *Connector) TokenURL() string { return c.srv.URL + TokenPath }

// TokenRequests is how many tokens were issued.
func (c *Connector) TokenRequests() int64 { return c.tokenCount.Load() }

// Fail makes the next n activity/conversation calls answer status (with a
// Retry-After header when retryAfter is not empty).
func (c *Connector) Fail(n, status int, retryAfter string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for range n {
		c.fails = append(c.fails, failure{status, retryAfter})
	}
}

// Calls returns the accepted calls so far, in order.
func (c *Connector) Calls() []Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Call(nil), c.calls...)
}

func (c *Connector) problem(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bad = append(c.bad, fmt.Sprintf(format, args...))
}

func (c *Connector) serveToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("scope") != connector.Scope {
		c.problem("token request with grant_type=%q scope=%q", r.PostForm.Get("grant_type"), r.PostForm.Get("scope"))
		jsonbody.Write(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	if code, desc := c.auth.check(r.PostForm, c.AppID, c.Secret, c.Certificate, c.TokenURL()); code != "" {
		// Wrong credentials are a configuration error, answered as Entra
		// answers them, not a bug of the client.
		status := http.StatusUnauthorized
		if code == "invalid_request" {
			status = http.StatusBadRequest
		}
		jsonbody.Write(w, status, map[string]string{"error": code, "error_description": desc})
		return
	}
	c.tokenCount.Add(1)
	jsonbody.Write(w, http.StatusOK, map[string]any{"access_token": c.token, "token_type": "Bearer", "expires_in": 3600})
}

// pre checks the bearer token and applies an injected failure; false means
// the answer was written.
func (c *Connector) pre(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Authorization") != "Bearer "+c.token {
		c.problem("%s %s without the bot's bearer token", r.Method, r.URL.Path)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return false
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		c.problem("%s %s with content type %q", r.Method, r.URL.Path, ct)
	}
	c.mu.Lock()
	var f *failure
	if len(c.fails) > 0 {
		f = &c.fails[0]
		c.fails = c.fails[1:]
	}
	c.mu.Unlock()
	if f != nil {
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		jsonbody.Write(w, f.status, map[string]any{"error": map[string]string{"code": "Injected", "message": "injected failure"}})
		return false
	}
	return true
}

func (c *Connector) id(prefix string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	return fmt.Sprintf("%s-%d", prefix, c.nextID)
}

func (c *Connector) serveActivity(op string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !c.pre(w, r) {
			return
		}
		var a connector.Activity
		if err := jsonbody.Read(w, r, 1<<20, &a, jsonbody.Options{}); err != nil {
			c.problem("%s: body: %v", op, err)
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		call := Call{Method: r.Method, Op: op, ConversationID: r.PathValue("conv"), ActivityID: r.PathValue("id"), Activity: &a}
		bad := ""
		switch {
		case a.Type == "":
			bad = fmt.Sprintf("%s: activity without a type", op)
		case op == "reply" && a.ReplyToID != call.ActivityID:
			bad = fmt.Sprintf("reply: replyToId %q, path activity %q", a.ReplyToID, call.ActivityID)
		}
		if bad != "" {
			c.problem("%s", bad)
			jsonbody.Write(w, http.StatusBadRequest, map[string]any{"error": map[string]string{"code": "BadArgument", "message": "bad activity"}})
			return
		}
		id := call.ActivityID
		if op != "update" {
			id = c.id("activity")
		}
		c.mu.Lock()
		c.calls = append(c.calls, call)
		c.mu.Unlock()
		jsonbody.Write(w, http.StatusOK, connector.ResourceResponse{ID: id})
	}
}

func (c *Connector) serveCreate(w http.ResponseWriter, r *http.Request) {
	if !c.pre(w, r) {
		return
	}
	var p connector.ConversationParameters
	if err := jsonbody.Read(w, r, 1<<20, &p, jsonbody.Options{}); err != nil {
		c.problem("create: body: %v", err)
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	if len(p.Members) != 1 || p.Members[0].ID == "" || p.TenantID == "" || p.Bot == nil || p.Bot.ID == "" {
		// Teams refuses a 1:1 conversation without one member, the bot
		// and tenantId.
		c.problem("create: want one member, bot and tenantId, got %d members, tenant %q", len(p.Members), p.TenantID)
		jsonbody.Write(w, http.StatusBadRequest, map[string]any{"error": map[string]string{"code": "BadArgument", "message": "bad conversation parameters"}})
		return
	}
	c.mu.Lock()
	c.calls = append(c.calls, Call{Method: r.Method, Op: "create", Params: &p})
	c.mu.Unlock()
	jsonbody.Write(w, http.StatusCreated, connector.ConversationResourceResponse{ID: "a:" + p.Members[0].ID, ServiceURL: c.URL()})
}
