package bot

import (
	"errors"
	"net/http"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/jsonbody"
)

// The reconciliation API: the report of the last scan after close (see
// engine.ReconcileCase). It shows any case's residual access, so it needs
// scope audit:read.
func (a *api) routesReconcile(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/reconcile/last", a.auth(a.lastReconcile, configs.ScopeAuditRead))
}

// ReconcileResponse is the body of GET /api/v1/reconcile/last.
type ReconcileResponse struct {
	Run       ReconcileRunView `json:"run"`
	Residuals []ResidualView   `json:"residuals"`
	// Problems are the checks that could not be made.
	Problems []string `json:"problems"`
}

func (a *api) lastReconcile(w http.ResponseWriter, r *http.Request) {
	rep, err := a.o.Engine.LastReconcile(r.Context())
	if errors.Is(err, engine.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no reconciliation has run yet")
		return
	}
	if err != nil {
		a.o.Log.WithError(err).Error("reading the last reconciliation")
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	out := ReconcileResponse{Run: reconcileRunView(rep.Run), Residuals: make([]ResidualView, 0, len(rep.Residuals)), Problems: rep.Problems}
	for _, res := range rep.Residuals {
		out.Residuals = append(out.Residuals, residualView(res))
	}
	if out.Problems == nil {
		out.Problems = []string{}
	}
	jsonbody.Write(w, http.StatusOK, out)
}
