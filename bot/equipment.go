package bot

import (
	"net/http"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/jsonbody"
)

// The equipment API: the recovering team's buttons, for a ticketing system
// or an asset tracker that moves a device on their behalf. The client
// says for whom it acts ("as"); the engine checks that it may act for that
// person, that the person is on the task's team (or an admin) and not the
// departing employee, and that the move is the next step (see
// engine.MoveEquipment). It needs scope actions:operate.
func (a *api) routesEquipment(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/equipment/{id}/move", a.auth(a.moveEquipment, configs.ScopeActionsOperate))
}

// EquipmentMoveRequest is the body of POST /api/v1/equipment/{id}/move.
type EquipmentMoveRequest struct {
	// As is the HR id of the person moving the device.
	As string `json:"as" maxlen:"128"`
	// To is the new status: return_requested, received, wiped, preserved,
	// redeployed, disposed or lost.
	To string `json:"to" maxlen:"32"`
	// Note is what they say (the courier's tracking number…).
	Note string `json:"note" maxlen:"1000"`
	// Reference is the certificate-of-destruction reference a disposal
	// requires.
	Reference string `json:"reference" maxlen:"256"`
}

func (a *api) moveEquipment(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "equipment task")
	if !ok {
		return
	}
	var body EquipmentMoveRequest
	if !decode(w, r, &body) || !requireAs(w, body.As) {
		return
	}
	res, err := a.o.Engine.MoveEquipment(r.Context(), engine.EquipmentMove{TaskID: id, To: body.To, Actor: body.As,
		Note: body.Note, Reference: body.Reference, Via: "api"})
	if err != nil {
		a.fail(w, err)
		return
	}
	jsonbody.Write(w, http.StatusOK, EquipmentMoveResponse{Task: equipmentView(res.Task), Changed: res.Changed})
}
