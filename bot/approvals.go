package bot

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/jsonbody"
)

// The approvals API: everything an approver or HR operator does in chat is
// also possible here, so Kinetic works without chat. A client says on
// whose behalf it acts ("as", an HR id); the engine checks that the client
// may act for that person (its act_as), that the person is not the
// departing employee, and the person against the policy like any chat
// user. Each route needs a scope (configs.APIScopes).
func (a *api) routesApprovals(mux *http.ServeMux) {
	read := []string{configs.ScopeCasesRead, configs.ScopeApprovalsDecide}
	mux.HandleFunc("GET /api/v1/approvals", a.auth(a.listApprovals, read...))
	mux.HandleFunc("GET /api/v1/approvals/{id}", a.auth(a.getApproval, read...))
	mux.HandleFunc("POST /api/v1/approvals/{id}/approve", a.auth(a.decideApproval(true), configs.ScopeApprovalsDecide))
	mux.HandleFunc("POST /api/v1/approvals/{id}/deny", a.auth(a.decideApproval(false), configs.ScopeApprovalsDecide))
	mux.HandleFunc("POST /api/v1/approvals/{id}/release", a.auth(a.releaseHold, configs.ScopeCasesCreate))
	mux.HandleFunc("POST /api/v1/cases/{id}/exceptions", a.auth(a.requestException, configs.ScopeCasesCreate))
	mux.HandleFunc("GET /api/v1/batches", a.auth(a.listBatches, configs.ScopeCasesRead, configs.ScopeBatchesDecide))
	mux.HandleFunc("POST /api/v1/batches/{id}/approve", a.auth(a.decideBatch(true), configs.ScopeBatchesDecide))
	mux.HandleFunc("POST /api/v1/batches/{id}/deny", a.auth(a.decideBatch(false), configs.ScopeBatchesDecide))
	mux.HandleFunc("POST /api/v1/cases/{id}/confirm", a.auth(a.confirmCase, configs.ScopeCasesCreate))
	mux.HandleFunc("POST /api/v1/actions/{id}/{op}", a.auth(a.operateAction, configs.ScopeActionsOperate))
	mux.HandleFunc("POST /api/v1/notices/{id}/ack", a.auth(a.ackNotice, configs.ScopeActionsOperate))
}

// confirmCase starts a case that awaits its requester's confirmation.
func (a *api) confirmCase(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "case")
	if !ok {
		return
	}
	var body DecisionRequest
	if !decode(w, r, &body) {
		return
	}
	if !requireAs(w, body.As) {
		return
	}
	c, err := a.o.Engine.Confirm(r.Context(), id, body.As)
	if err != nil {
		a.fail(w, err)
		return
	}
	jsonbody.Write(w, http.StatusOK, caseResponse(c, nil))
}

// operateAction is the owning team's buttons: retry, skip, done, escalate.
func (a *api) operateAction(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "action")
	if !ok {
		return
	}
	var body DecisionRequest
	if !decode(w, r, &body) || !requireAs(w, body.As) {
		return
	}
	ctx, eng := r.Context(), a.o.Engine
	var err error
	switch r.PathValue("op") {
	case "retry":
		err = eng.RetryAction(ctx, id, body.As)
	case "skip":
		err = eng.SkipAction(ctx, id, body.As, body.Reason)
	case "done":
		err = eng.MarkDone(ctx, id, body.As, body.Reason)
	case "escalate":
		err = eng.EscalateNow(ctx, id, body.As)
	default:
		writeError(w, http.StatusNotFound, "unknown operation (retry, skip, done, escalate)")
		return
	}
	if err != nil {
		a.fail(w, err)
		return
	}
	act, err := eng.Store().Action(ctx, id)
	if err != nil {
		a.fail(w, err)
		return
	}
	jsonbody.Write(w, http.StatusOK, actionView(*act))
}

// DecisionRequest is the body of approve, deny, release and batch
// decisions.
type DecisionRequest struct {
	// As is the HR id of the person deciding.
	As     string `json:"as" maxlen:"128"`
	Reason string `json:"reason" maxlen:"1000"`
	// CaseIDs releases only these cases of a batch (approve only).
	CaseIDs []int64 `json:"case_ids,omitempty"`
}

// ExceptionBody is the body of POST /api/v1/cases/{id}/exceptions, and an
// element of CreateCaseRequest.Exceptions.
type ExceptionBody struct {
	Kind      string `json:"kind" maxlen:"64"`
	As        string `json:"as" maxlen:"128"`
	Reason    string `json:"reason" maxlen:"1000"`
	ForwardTo string `json:"forward_to" maxlen:"320"`
	Days      int    `json:"days"`
	Action    string `json:"action" maxlen:"128"`
}

func (x ExceptionBody) request(caseID int64, via string) engine.ExceptionRequest {
	return engine.ExceptionRequest{CaseID: caseID, Kind: x.Kind, Requester: x.As, Reason: x.Reason, Via: via,
		ForwardTo: x.ForwardTo, Days: x.Days, Action: x.Action}
}

// MaxAPIBody is the largest API request body (64 KiB); a larger one is
// answered 413.
const MaxAPIBody = 64 << 10

// decode reads a strict JSON body into v (internal/jsonbody: one document
// and nothing after it, no duplicate keys, NUL or invalid UTF-8, no unknown
// fields, string fields within their maxlen), answering 413 or 400 itself
// on failure.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	err := jsonbody.Read(w, r, MaxAPIBody, v, jsonbody.Options{})
	switch {
	case errors.Is(err, jsonbody.ErrTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, err.Error())
		return false
	case err != nil:
		writeError(w, http.StatusBadRequest, err.Error())
		return false
	}
	return true
}

// requireAs answers 400 unless the body names who is acting.
func requireAs(w http.ResponseWriter, as string) bool {
	if strings.TrimSpace(as) == "" {
		writeError(w, http.StatusBadRequest, `"as" (the acting person's HR id) is required`)
		return false
	}
	return true
}

func pathID(w http.ResponseWriter, r *http.Request, what string) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, what+" id must be a positive integer")
		return 0, false
	}
	return id, true
}

func (a *api) fail(w http.ResponseWriter, err error) {
	status, msg := classify(err)
	if errors.Is(err, engine.ErrNotFound) {
		status, msg = http.StatusNotFound, err.Error()
	}
	if status >= 500 {
		a.o.Log.WithError(err).Error("approvals API")
	}
	writeError(w, status, msg)
}

func (a *api) listApprovals(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var caseID int64
	if c := q.Get("case"); c != "" {
		var err error
		if caseID, err = strconv.ParseInt(c, 10, 64); err != nil || caseID <= 0 {
			writeError(w, http.StatusBadRequest, "case must be a positive integer")
			return
		}
	}
	vs, err := a.o.Engine.Approvals(r.Context(), q.Get("status"), q.Get("for"), caseID)
	if err != nil {
		a.fail(w, err)
		return
	}
	out := make([]ApprovalResponse, 0, len(vs))
	for i := range vs {
		out = append(out, approvalResponse(&vs[i]))
	}
	jsonbody.Write(w, http.StatusOK, out)
}

func (a *api) getApproval(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "approval")
	if !ok {
		return
	}
	v, err := a.o.Engine.Approval(r.Context(), id)
	if err != nil {
		a.fail(w, err)
		return
	}
	jsonbody.Write(w, http.StatusOK, approvalResponse(v))
}

func (a *api) decideApproval(approve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := pathID(w, r, "approval")
		if !ok {
			return
		}
		var body DecisionRequest
		if !decode(w, r, &body) || !requireAs(w, body.As) {
			return
		}
		if _, err := a.o.Engine.Decide(r.Context(), engine.Decision{ApprovalID: id, Approver: body.As, Approve: approve,
			Reason: body.Reason, Via: via(r)}); err != nil {
			a.fail(w, err)
			return
		}
		a.getApproval(w, r)
	}
}

func (a *api) releaseHold(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "approval")
	if !ok {
		return
	}
	var body DecisionRequest
	if !decode(w, r, &body) || !requireAs(w, body.As) {
		return
	}
	ap, err := a.o.Engine.RequestRelease(r.Context(), id, body.As, body.Reason)
	if err != nil {
		a.fail(w, err)
		return
	}
	v, err := a.o.Engine.Approval(r.Context(), ap.ID)
	if err != nil {
		a.fail(w, err)
		return
	}
	jsonbody.Write(w, http.StatusCreated, approvalResponse(v))
}

func (a *api) requestException(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "case")
	if !ok {
		return
	}
	var body ExceptionBody
	if !decode(w, r, &body) || !requireAs(w, body.As) {
		return
	}
	ap, err := a.o.Engine.RequestException(r.Context(), body.request(id, via(r)))
	if err != nil {
		a.fail(w, err)
		return
	}
	v, err := a.o.Engine.Approval(r.Context(), ap.ID)
	if err != nil {
		a.fail(w, err)
		return
	}
	jsonbody.Write(w, http.StatusCreated, approvalResponse(v))
}

func (a *api) listBatches(w http.ResponseWriter, r *http.Request) {
	bs, err := a.o.Engine.Batches(r.Context(), r.URL.Query().Get("status"))
	if err != nil {
		a.fail(w, err)
		return
	}
	out := make([]BatchResponse, 0, len(bs))
	for _, b := range bs {
		out = append(out, batchResponse(b))
	}
	jsonbody.Write(w, http.StatusOK, out)
}

func (a *api) decideBatch(approve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := pathID(w, r, "batch")
		if !ok {
			return
		}
		var body DecisionRequest
		if !decode(w, r, &body) || !requireAs(w, body.As) {
			return
		}
		if !approve && len(body.CaseIDs) > 0 {
			writeError(w, http.StatusBadRequest, "case_ids releases cases; a denial applies to the whole batch")
			return
		}
		b, err := a.o.Engine.DecideBatch(r.Context(), id, body.As, approve, body.CaseIDs, body.Reason)
		if err != nil {
			a.fail(w, err)
			return
		}
		jsonbody.Write(w, http.StatusOK, BatchDecisionResponse{ID: b.ID, Status: b.Status, Detail: fmt.Sprintf("batch %d is %s", b.ID, b.Status)})
	}
}
