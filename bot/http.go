// Package bot holds Kinetic's front ends: the HTTP server that `kinetic
// serve` runs, with health and readiness probes, Prometheus metrics and the
// JSON API other systems integrate through. Chat front ends (bot/slack,
// bot/teams) and HR webhooks mount on the same server. Front ends verify
// and translate requests, then hand them to the engine; they never call
// connectors.
package bot

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"

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
	// MetricsToken, when set, is the bearer token /metrics requires.
	MetricsToken string
	// APITokens maps API client names to bearer tokens. With none, the
	// /api/v1 routes answer 401 to everyone.
	APITokens map[string]string
	Log       *logrus.Entry
	// ProbesOnly serves /healthz, /readyz and /metrics only (kinetic
	// worker).
	ProbesOnly bool
	// Routes mount further front ends on the same mux (bot/hr's webhooks,
	// chat front ends); each adds its own patterns.
	Routes []func(*http.ServeMux)
}

// NewHandler returns the HTTP handler for `kinetic serve`.
func NewHandler(o ServerOptions) http.Handler {
	if o.Log == nil {
		o.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
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
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "down": down, "error": down + " is unavailable"})
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	if o.Metrics != nil {
		mux.Handle("GET /metrics", MetricsHandler(o.Metrics, o.MetricsToken))
	}
	if o.ProbesOnly {
		return mux
	}
	api := &api{o: o}
	mux.HandleFunc("POST /api/v1/cases", api.auth(api.createCase))
	mux.HandleFunc("GET /api/v1/cases/{id}", api.auth(api.getCase))
	api.routesApprovals(mux)
	for _, mount := range o.Routes {
		mount(mux)
	}
	return strictQuery(mux)
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

type api struct{ o ServerOptions }

type clientKey struct{}

// auth checks the bearer token in constant time against every configured
// token and records the client's name.
func (a *api) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// The scheme is case-insensitive (RFC 9110 §11.1): "bearer x" is
		// as valid as "Bearer x".
		scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		ok = ok && strings.EqualFold(scheme, "Bearer")
		client := ""
		if ok && tok != "" {
			for name, want := range a.o.APITokens {
				if want != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(want)) == 1 {
					client = name
				}
			}
		}
		if client == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="kinetic"`)
			writeError(w, http.StatusUnauthorized, "a valid bearer token is required")
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), clientKey{}, client)))
	}
}

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
	client := r.Context().Value(clientKey{}).(string)
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
		req.Exceptions = append(req.Exceptions, x.request(0, "api:"+client))
	}
	if body.RequestedBy != "" {
		req.Requester = body.RequestedBy
	} else {
		req.Requester, req.System = "api:"+client, true
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
			writeJSON(w, status, map[string]any{"error": msg, "case_id": open.CaseID})
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
	writeJSON(w, status, caseView(c, nil))
}

func (a *api) getCase(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, "case id must be a positive integer")
		return
	}
	c, err := a.o.Engine.Store().CaseWithActions(r.Context(), id)
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
	writeJSON(w, http.StatusOK, caseView(c, eq))
}

// caseView is the API's JSON for a case.
func caseView(c *store.Case, eq []store.EquipmentTask) map[string]any {
	v := map[string]any{
		"id": c.ID, "employee_id": c.EmployeeID, "employee_email": c.EmployeeEmail, "employee_name": c.EmployeeName,
		"trigger": c.Trigger, "requester": c.Requester, "reason": c.Reason, "involuntary": c.Involuntary,
		"status": c.Status, "effective_at": c.EffectiveAt, "policy_hash": c.PolicyHash, "summary": c.Summary,
		"started_at": c.StartedAt, "critical_done_at": c.CriticalDoneAt, "closed_at": c.ClosedAt, "created_at": c.CreatedAt,
		"actions": c.Actions,
	}
	if eq != nil {
		v["equipment"] = eq
	}
	return v
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
	case errors.Is(err, engine.ErrInvalidRequest):
		return http.StatusBadRequest, err.Error()
	}
	return http.StatusInternalServerError, "internal error"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// maxErrorMessage bounds an error message: the request's values are
// bounded by their field sizes, and whatever else is echoed is clipped.
const maxErrorMessage = 512

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": jsonbody.Clip(msg, maxErrorMessage)})
}
