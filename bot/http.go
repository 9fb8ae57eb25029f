// Package bot holds Kinetic's front ends: the HTTP server that `kinetic
// serve` runs, with health and readiness probes, Prometheus metrics and the
// JSON API other systems integrate through. Chat front ends (bot/slackbot,
// bot/teams) and HR webhooks mount on the same server. Front ends verify
// and translate requests, then hand them to the engine; they never call
// connectors.
package bot

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/jsonbody"
	"github.com/kineticsec/kinetic/store"
)

// ServerOptions configure the HTTP handler.
type ServerOptions struct {
	Engine *engine.Engine
	// Ready checks dependencies for /readyz.
	Ready func(context.Context) error
	// Metrics is served at /metrics; nil serves none (kinetic serve with
	// http.metrics_addr serves it on a listener of its own, MetricsMux).
	Metrics *prometheus.Registry
	// APIClients are the API's clients by name: token, scopes and the
	// people each may act for. With none (and no APITokens), the /api/v1
	// routes answer 401 to everyone.
	APIClients map[string]APIClient
	// APITokens is the legacy form: bearer tokens by client name, each a
	// client with every scope that may act for anyone (trusted).
	APITokens map[string]string
	// MetricsToken, when set, is the bearer token /metrics requires.
	MetricsToken string
	Log          *logrus.Entry
	// ProbesOnly serves /healthz, /readyz and /metrics only (kinetic
	// worker).
	ProbesOnly bool
	// Routes mount further front ends on the same mux (bot/hr's webhooks,
	// chat front ends); each adds its own patterns.
	Routes []func(*http.ServeMux)
	// HTTPMetrics is where the request metrics (kinetic_http_*) are
	// registered; nil means Metrics (none when both are nil).
	HTTPMetrics prometheus.Registerer
	// Queues, when set, is the queue dashboard (asynqmon, rooted at
	// QueuesPath), served to API clients with the queues:operate scope.
	Queues http.Handler
}

// QueuesPath is where the queue dashboard is mounted.
const QueuesPath = "/ops/queues"

// NewHandler returns the HTTP handler for `kinetic serve`.
func NewHandler(o ServerOptions) http.Handler {
	if o.Log == nil {
		o.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		jsonbody.Write(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if o.Ready != nil {
			if err := o.Ready(ctx); err != nil {
				// Anyone may ask: say which dependency is down, never
				// its error (addresses, driver messages), which is logged.
				down := "dependency"
				var dep interface{ Dependency() string }
				if errors.As(err, &dep) {
					down = dep.Dependency()
				}
				o.Log.WithError(err).WithField("dependency", down).Warn("not ready")
				jsonbody.Write(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "down": down, "error": down + " is unavailable"})
				return
			}
		}
		jsonbody.Write(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	if o.Metrics != nil {
		mux.Handle("GET /metrics", MetricsHandler(o.Metrics, o.MetricsToken))
	}
	reg := o.HTTPMetrics
	if reg == nil && o.Metrics != nil {
		reg = o.Metrics
	}
	hm := NewHTTPMetrics(reg)
	if o.ProbesOnly {
		return traced(accessLog(mux, o.Log, hm))
	}
	api := &api{o: o, clients: clientsOf(o)}
	if o.Queues != nil {
		q := api.auth(o.Queues.ServeHTTP, configs.ScopeQueuesOperate)
		mux.HandleFunc(QueuesPath, q)
		mux.HandleFunc(QueuesPath+"/", q)
	}
	mux.HandleFunc("POST /api/v1/cases", api.auth(api.createCase, configs.ScopeCasesCreate))
	mux.HandleFunc("GET /api/v1/cases/{id}", api.auth(api.getCase))
	mux.HandleFunc("POST /api/v1/cases/{id}/cancel", api.auth(api.cancelCase, configs.ScopeCasesCancel))
	mux.HandleFunc("POST /api/v1/cases/{id}/restore", api.auth(api.restoreCase, configs.ScopeCasesCreate))
	api.routesApprovals(mux)
	noticeAckRoutes(mux, o.Engine, o.Log)
	api.routesEquipment(mux)
	api.routesReconcile(mux)
	for _, mount := range o.Routes {
		mount(mux)
	}
	return traced(accessLog(strictQuery(mux), o.Log, hm))
}

// maxQueryValue bounds a query parameter (an HR id, a status, a case id).
const maxQueryValue = 256

// strictQuery answers 400 to a query string that could not be stored or
// looked up as given: a NUL or invalid UTF-8 (PostgreSQL refuses both, a
// 500), or a value over 256 bytes.
func strictQuery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "" {
			q, err := url.ParseQuery(r.URL.RawQuery)
			if err != nil {
				writeError(w, http.StatusBadRequest, "malformed query string")
				return
			}
			for k, vs := range q {
				for _, v := range append(vs, k) {
					if len(v) > maxQueryValue || strings.IndexByte(v, 0) >= 0 || !utf8.ValidString(v) {
						writeError(w, http.StatusBadRequest, fmt.Sprintf("query parameter %q: a NUL, invalid UTF-8 or over %d bytes", jsonbody.Clip(k, jsonbody.EchoMax), maxQueryValue))
						return
					}
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

type api struct {
	o       ServerOptions
	clients map[string]APIClient
}

// APIClient is one client of the JSON API. Every request it makes is
// authenticated as the principal "VIA:NAME" ("api:ticketing"), which the
// engine checks every named actor ("as", "requested_by") against and
// records in the audit trail.
type APIClient struct {
	Token string
	// Scopes are the configs.APIScopes it holds.
	Scopes []string
	// ActAs are the people it may act for (see engine.Principal.ActAs).
	ActAs []string
	// Via is the principal's kind: "api" (default) or "cli" (the
	// KINETIC_API_TOKEN client the kinetic command uses).
	Via string
}

// LegacyClient is what an http.api_tokens entry is: every scope, and it
// may act for anyone.
func LegacyClient(token string) APIClient {
	return APIClient{Token: token, Scopes: slices.Clone(configs.APIScopes), ActAs: []string{engine.ActAsAny}}
}

// clientsOf merges APIClients and the legacy APITokens.
func clientsOf(o ServerOptions) map[string]APIClient {
	out := map[string]APIClient{}
	for name, tok := range o.APITokens {
		out[name] = LegacyClient(tok)
	}
	for name, c := range o.APIClients {
		out[name] = c
	}
	return out
}

type clientKey struct{}

// client is the authenticated client of a request.
type client struct {
	name string
	APIClient
}

func (c client) principal() engine.Principal {
	via := c.Via
	if via == "" {
		via = "api"
	}
	return engine.Principal{ID: via + ":" + c.name, ActAs: c.ActAs}
}

func (c client) has(scope string) bool { return slices.Contains(c.Scopes, scope) }

// auth checks the bearer token in constant time against every configured
// token, then that the client holds one of scopes (none: any
// authenticated client), and records the client and its principal in the
// request's context.
func (a *api) auth(next http.HandlerFunc, scopes ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// The scheme is case-insensitive (RFC 9110 §11.1): "bearer x" is
		// as valid as "Bearer x".
		scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		ok = ok && strings.EqualFold(scheme, "Bearer")
		var found *client
		if ok && tok != "" {
			for name, c := range a.clients {
				if c.Token != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(c.Token)) == 1 {
					found = &client{name: name, APIClient: c}
				}
			}
		}
		if found == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="kinetic"`)
			writeError(w, http.StatusUnauthorized, "a valid bearer token is required")
			return
		}
		if len(scopes) > 0 && !slices.ContainsFunc(scopes, found.has) {
			writeError(w, http.StatusForbidden, fmt.Sprintf("API client %s lacks the scope this needs (%s)", found.name, strings.Join(scopes, " or ")))
			return
		}
		ctx := context.WithValue(r.Context(), clientKey{}, *found)
		ctx = engine.WithPrincipal(ctx, found.principal())
		notePrincipal(ctx, found.principal().ID)
		next(w, r.WithContext(ctx))
	}
}

// clientOf returns the request's authenticated client.
func clientOf(r *http.Request) client {
	c, _ := r.Context().Value(clientKey{}).(client)
	return c
}

// via is how a decision records the front end: "api:NAME" or "cli:NAME".
func via(r *http.Request) string { return clientOf(r).principal().ID }

// CreateCaseRequest is the body of POST /api/v1/cases.
type CreateCaseRequest struct {
	// EmployeeID or Email names the person.
	EmployeeID string `json:"employee_id" maxlen:"128"`
	Email      string `json:"email" maxlen:"320"`
	// RequestedBy, when set, is the HR id of the person on whose behalf the
	// client asks; they are authorized like a chat requester. Otherwise the
	// API client itself is the requester.
	RequestedBy string `json:"requested_by" maxlen:"128"`
	Reason      string `json:"reason" maxlen:"1000"`
	Involuntary bool   `json:"involuntary"`
	// EffectiveAt is RFC 3339; empty means now.
	EffectiveAt string `json:"effective_at" maxlen:"64"`
	// IdempotencyKey is at most 128 bytes: it is stored prefixed with
	// the client's name.
	IdempotencyKey string `json:"idempotency_key" maxlen:"128"`
	// Exceptions are requested with the case, atomically; "as" defaults to
	// the requester.
	Exceptions []ExceptionBody `json:"exceptions"`
}

func (a *api) createCase(w http.ResponseWriter, r *http.Request) {
	cl := clientOf(r)
	client := cl.name
	var body CreateCaseRequest
	if !decode(w, r, &body) {
		return
	}
	req := engine.Request{
		EmployeeID: body.EmployeeID, Email: body.Email, Trigger: store.TriggerAPI,
		Reason: body.Reason, Involuntary: body.Involuntary, IdempotencyKey: body.IdempotencyKey,
	}
	if body.IdempotencyKey != "" {
		req.IdempotencyKey = "api:" + client + ":" + body.IdempotencyKey
	}
	for _, x := range body.Exceptions {
		req.Exceptions = append(req.Exceptions, x.request(0, via(r)))
	}
	if body.RequestedBy != "" {
		req.Requester = body.RequestedBy
	} else {
		req.Requester, req.System = cl.principal().ID, true
	}
	if body.EffectiveAt != "" {
		t, err := time.Parse(time.RFC3339, body.EffectiveAt)
		if err != nil {
			writeError(w, http.StatusBadRequest, "effective_at must be RFC 3339, e.g. 2026-12-04T17:00:00-05:00")
			return
		}
		req.EffectiveAt = t
	}
	opened, err := a.o.Engine.Open(r.Context(), req)
	if err != nil {
		status, msg := classify(err)
		if status >= 500 {
			a.o.Log.WithError(err).Error("opening a case failed")
		}
		var open *engine.CaseOpenError
		if errors.As(err, &open) {
			jsonbody.Write(w, status, ErrorResponse{Error: msg, CaseID: open.CaseID})
			return
		}
		writeError(w, status, msg)
		return
	}
	status := http.StatusCreated
	c := opened.Case
	if !opened.Created {
		// A replay of an earlier request: answer with the case as it is
		// now, actions included, like the first answer and GET.
		status = http.StatusOK
		if fresh, err := a.o.Engine.Store().CaseWithActions(r.Context(), c.ID); err == nil {
			c = fresh
		}
	}
	v := caseResponse(c, nil)
	// An involuntary request for a voluntary case already open: that case
	// became involuntary and starts now.
	v.Upgraded = opened.Upgraded
	jsonbody.Write(w, status, v)
}

// CancelCaseRequest is the body of POST /api/v1/cases/{id}/cancel.
type CancelCaseRequest struct {
	// As is the HR id of the person cancelling; the engine authorizes them
	// as it does a Slack /offboard cancel (engine.CancelCase).
	As     string `json:"as" maxlen:"128"`
	Reason string `json:"reason" maxlen:"1000"`
}

// cancelCase cancels an open case that has not started, for the person
// named in "as": 200 with the cancelled case; 403 when they may not, 409
// when it has started, 400 when it is already closed, 404 when unknown.
func (a *api) cancelCase(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "case")
	if !ok {
		return
	}
	var body CancelCaseRequest
	if !decode(w, r, &body) || !requireAs(w, body.As) {
		return
	}
	reason := strings.TrimSpace(body.Reason)
	if reason == "" {
		reason = "cancelled through the API"
	}
	err := a.o.Engine.CancelCase(r.Context(), engine.CancelRequest{CaseID: id, By: body.As, Reason: reason})
	if err != nil {
		a.fail(w, err)
		return
	}
	c, err := a.o.Engine.Store().CaseWithActions(r.Context(), id)
	if err != nil {
		a.fail(w, err)
		return
	}
	jsonbody.Write(w, http.StatusOK, caseResponse(c, nil))
}

// RestoreCaseRequest is the body of POST /api/v1/cases/{id}/restore.
type RestoreCaseRequest struct {
	// As is the HR id of the person asking; the engine authorizes them
	// (engine.RequestRestore).
	As     string `json:"as" maxlen:"128"`
	Reason string `json:"reason" maxlen:"1000"`
}

// RestoreCaseResponse answers a restore request.
type RestoreCaseResponse struct {
	CaseID     int64 `json:"case_id"`
	ApprovalID int64 `json:"approval_id"`
}

// restoreCase opens a restore request on a closed case (a rehire, or a
// case opened by mistake), for the person named in "as": 201 with the
// approval that decides it; 403 when they may not, 400 when the case is
// open or a restore is already pending, 404 when unknown.
func (a *api) restoreCase(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "case")
	if !ok {
		return
	}
	var body RestoreCaseRequest
	if !decode(w, r, &body) || !requireAs(w, body.As) {
		return
	}
	apID, err := a.o.Engine.RequestRestore(r.Context(), id, body.As, body.Reason)
	if err != nil {
		a.fail(w, err)
		return
	}
	jsonbody.Write(w, http.StatusCreated, RestoreCaseResponse{CaseID: id, ApprovalID: apID})
}

func (a *api) getCase(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, "case id must be a positive integer")
		return
	}
	c, err := a.o.Engine.Store().CaseWithActions(r.Context(), id)
	if err == nil && !a.maySee(r, c) {
		err = store.ErrNotFound // the same answer as for a case that does not exist
	}
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("case %d not found", id))
		return
	}
	if err != nil {
		a.o.Log.WithError(err).Error("loading a case failed")
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	eq, _ := a.o.Engine.Store().EquipmentTasks(r.Context(), id)
	v := caseResponse(c, eq)
	if items, _ := a.o.Engine.OpenItems(r.Context(), id); items != nil {
		v.OpenItems = openItemViews(items)
	}
	jsonbody.Write(w, http.StatusOK, v)
}

// maySee reports whether the request's client may read case c: with
// cases:read any case, without it only the cases it opened.
func (a *api) maySee(r *http.Request, c *store.Case) bool {
	cl := clientOf(r)
	return cl.has(configs.ScopeCasesRead) || (c.OpenedBy != "" && c.OpenedBy == cl.principal().ID)
}

// classify maps engine errors to HTTP statuses and messages safe to show.
func classify(err error) (int, string) {
	var open *engine.CaseOpenError
	switch {
	case errors.As(err, &open):
		return http.StatusConflict, err.Error()
	case errors.Is(err, engine.ErrUnknownEmployee):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, engine.ErrInactiveEmployee):
		return http.StatusUnprocessableEntity, err.Error()
	case errors.Is(err, engine.ErrNotAllowed):
		return http.StatusForbidden, err.Error()
	case errors.Is(err, engine.ErrCaseStarted):
		return http.StatusConflict, err.Error()
	case errors.Is(err, engine.ErrInvalidRequest):
		return http.StatusBadRequest, err.Error()
	}
	return http.StatusInternalServerError, "internal error"
}

// maxErrorMessage bounds an error message: the request's values are
// bounded by their field sizes, and whatever else is echoed is clipped.
const maxErrorMessage = 512

func writeError(w http.ResponseWriter, status int, msg string) {
	jsonbody.Write(w, status, ErrorResponse{Error: jsonbody.Clip(msg, maxErrorMessage)})
}
