package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kineticsec/kinetic/connectors"
)

// maxRequestBody bounds the body of a call to the Server.
const maxRequestBody = 1 << 20

// Server hosts sandbox Connectors over HTTP so that several processes (a
// benchmark's or a fault-injection test's Kinetic workers) share each
// instance's state through Remote clients. The process that creates the
// Server (the benchmark or the test) keeps the Connectors, seeds them, sets
// their latency and failures, and reads their Effects and Stats directly.
//
// Routes, all answering JSON (the connectors types encoded as they are):
//
//	POST /v1/{instance}/lookup   connectors.Subject → connectors.LookupResult
//	POST /v1/{instance}/do       connectors.Request → connectors.Result
//	POST /v1/{instance}/verify   connectors.Request → connectors.Verification
//	GET  /v1/{instance}/effects  → []Effect
//	GET  /v1/{instance}/stats    → Stats
//
// An unknown instance or route answers 404, a body that is not the expected
// JSON 400, a wrong method 405, each with an error body. A connector error
// answers the error's Status (or, without one, a status for its Kind: 429
// rate_limited, 503 transient, 404 not_found, 400 invalid, 401 auth, 403
// forbidden, 500 otherwise) with the body
//
//	{"kind": "rate_limited", "status": 429, "retry_after_ms": 1500, "message": "…"}
//
// and a Retry-After header (whole seconds, rounded up) when the error
// carries a RetryAfter.
//
// A call runs to completion even when the client goes away mid-call (its
// context is detached from the request's cancellation), as with a real
// SaaS API: an effect either happens fully or not at all, and a killed
// worker cannot stop one midway.
//
// A Server is safe for concurrent use; its set of instances is fixed at
// NewServer.
type Server struct {
	conns map[string]*Connector
}

// NewServer returns a Server hosting conns, keyed by their Name. A later
// connector with the same name as an earlier one replaces it; nil entries
// are skipped.
func NewServer(conns ...*Connector) *Server {
	s := &Server{conns: make(map[string]*Connector, len(conns))}
	for _, c := range conns {
		if c != nil {
			s.conns[c.Name()] = c
		}
	}
	return s
}

// Connector returns the hosted instance with that name.
func (s *Server) Connector(name string) (*Connector, bool) {
	c, ok := s.conns[name]
	return c, ok
}

// errorBody is the JSON body of every error answer.
type errorBody struct {
	Kind         connectors.Kind `json:"kind"`
	Status       int             `json:"status"`
	RetryAfterMS int64           `json:"retry_after_ms"`
	Message      string          `json:"message"`
}

// ServeHTTP answers the routes listed on Server.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	instance, action, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || instance == "" || strings.Contains(action, "/") {
		writeError(w, http.StatusNotFound, connectors.KindNotFound, "no such route (want /v1/{instance}/{lookup|do|verify|effects|stats})")
		return
	}
	method := http.MethodPost
	switch action {
	case "lookup", "do", "verify":
	case "effects", "stats":
		method = http.MethodGet
	default:
		writeError(w, http.StatusNotFound, connectors.KindNotFound, fmt.Sprintf("no such route %q (want lookup, do, verify, effects or stats)", action))
		return
	}
	if r.Method != method {
		w.Header().Set("Allow", method)
		writeError(w, http.StatusMethodNotAllowed, connectors.KindInvalid, fmt.Sprintf("%s wants %s, not %s", action, method, r.Method))
		return
	}
	c, ok := s.conns[instance]
	if !ok {
		writeError(w, http.StatusNotFound, connectors.KindNotFound, fmt.Sprintf("no sandbox instance %q on this server", instance))
		return
	}
	// Detached from the client: a call that has started finishes.
	ctx := context.WithoutCancel(r.Context())
	switch action {
	case "lookup":
		var subj connectors.Subject
		if decodeBody(w, r, &subj) {
			res, err := c.Lookup(ctx, subj)
			answer(w, res, err)
		}
	case "do":
		var req connectors.Request
		if decodeBody(w, r, &req) {
			res, err := c.Do(ctx, req)
			answer(w, res, err)
		}
	case "verify":
		var req connectors.Request
		if decodeBody(w, r, &req) {
			res, err := c.Verify(ctx, req)
			answer(w, res, err)
		}
	case "effects":
		effects := c.Effects()
		if effects == nil {
			effects = []Effect{}
		}
		writeJSON(w, http.StatusOK, effects)
	case "stats":
		writeJSON(w, http.StatusOK, c.Stats())
	}
}

// decodeBody decodes the request body into v: one JSON value, no unknown
// field, nothing after it. On failure it answers 400 and returns false.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if dec.Decode(new(json.RawMessage)) != io.EOF {
			err = errors.New("unexpected data after the JSON value")
		}
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, connectors.KindInvalid, "bad request body: "+err.Error())
		return false
	}
	return true
}

// answer writes a call's result, or its error as an error answer.
func answer(w http.ResponseWriter, res any, err error) {
	if err == nil {
		writeJSON(w, http.StatusOK, res)
		return
	}
	body := errorBody{Kind: connectors.KindOf(err), Message: err.Error()}
	var ce *connectors.Error
	if errors.As(err, &ce) {
		body.Status = ce.Status
		if ce.RetryAfter > 0 {
			// Whole milliseconds, rounded up, so a client waiting
			// retry_after_ms is never early.
			body.RetryAfterMS = int64((ce.RetryAfter + time.Millisecond - 1) / time.Millisecond)
			secs := int64((ce.RetryAfter + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		}
		if ce.Err != nil {
			// The client adds the connector, op, kind and status itself.
			body.Message = ce.Err.Error()
		} else {
			body.Message = string(ce.Kind)
		}
	}
	status := body.Status
	if status < 400 || status > 599 {
		status = statusOfKind(body.Kind)
	}
	if body.Status == 0 {
		body.Status = status
	}
	writeJSON(w, status, body)
}

// statusOfKind is the HTTP status answering a connector error of kind k
// that carries no status of its own.
func statusOfKind(k connectors.Kind) int {
	switch k {
	case connectors.KindRateLimited:
		return http.StatusTooManyRequests
	case connectors.KindTransient:
		return http.StatusServiceUnavailable
	case connectors.KindNotFound:
		return http.StatusNotFound
	case connectors.KindInvalid:
		return http.StatusBadRequest
	case connectors.KindAuth:
		return http.StatusUnauthorized
	case connectors.KindForbidden:
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, status int, kind connectors.Kind, msg string) {
	writeJSON(w, status, errorBody{Kind: kind, Status: status, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(errorBody{Kind: connectors.KindInvalid, Status: status, Message: "encoding the answer: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
