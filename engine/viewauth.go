package engine

import (
	"context"
	"slices"

	"github.com/kineticsec/kinetic/store"
)

// Who may see a case: one rule for every view of one (a status command, an
// alert's Open case button, the Home tab), in every front end.

// MayView reports whether actor (an HR id) may see case c: an admin,
// someone with an HR role, the case's requester, the employee's manager or
// HR partner (as HR has them now, or had them when the case opened), a
// security officer, or a member of the owning team of a system the case
// acts on (who may operate its actions: see MayOperate). Never the
// departing employee, and never for a principal in ctx that may not act
// for actor. Front ends that refuse answer as if there were no case, so
// that nobody learns of an offboarding they may not see.
func (e *Engine) MayView(ctx context.Context, actor string, c *store.Case) bool {
	if c == nil || e.mayAct(ctx, OpView, actor, nil) != nil || selfCheck(OpView, actor, c.EmployeeID) != nil {
		return false
	}
	if e.admins[actor] || actor == c.Requester || slices.Contains(e.officer, actor) || e.hasHRRole(ctx, actor) {
		return true
	}
	if emp, err := e.snapshot(e.store.Conn(ctx), c.ID); err == nil && (actor == emp.Manager || actor == emp.HRPartner) {
		return true
	}
	if emp, err := e.dir.ByID(ctx, c.EmployeeID); err == nil && (actor == emp.Manager || actor == emp.HRPartner) {
		return true
	}
	acts := c.Actions
	if acts == nil {
		acts, _ = store.CaseActions(e.store.Conn(ctx), c.ID)
	}
	for i := range acts {
		if e.ownsSystem(actor, acts[i].Connector) {
			return true
		}
	}
	return false
}
