package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/kineticsec/kinetic/bot"
	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/app"
	"github.com/kineticsec/kinetic/internal/text"
	"github.com/kineticsec/kinetic/store"
)

// The demo's asset desk: an API client of the it-assets team (approver
// group it-assets: E1020, E1021) that moves devices on its members'
// behalf, as a ticketing system or the team's own tooling would, through
// the same engine checks as the team's Slack buttons.
const (
	demoAssetDeskToken = "demo-asset-desk-token"
	demoAssetMember    = "E1020"
)

// equipmentPhase shows the completion gate on Amara Okafor's case: access
// was fully revoked long ago, and the case stays open until her laptop
// LT-1003 has a final disposition. The it-assets team moves it open →
// return requested → received → wiped → disposed through the JSON API;
// the departing person, someone outside the team and a disposal without
// its certificate are refused and change nothing. The case then closes,
// reporting both moments.
func equipmentPhase(ctx context.Context, a *app.App, o Options, c *store.Case, check func(bool, string, ...any)) bool {
	fmt.Fprintf(o.Out, "\nEquipment recovery for %s (the it-assets team, through POST /api/v1/equipment/{id}/move):\n", c.EmployeeName)
	h := bot.NewHandler(bot.ServerOptions{Engine: a.Engine, Log: o.Log, APIClients: map[string]bot.APIClient{
		"asset-desk": {Token: demoAssetDeskToken, Scopes: []string{configs.ScopeActionsOperate}, ActAs: []string{engine.ActAsAny}},
	}})
	move := func(task int64, as, to, ref string) (int, string) {
		b, _ := json.Marshal(bot.EquipmentMoveRequest{As: as, To: to, Reference: ref, Note: "asset desk"})
		req := httptest.NewRequest(http.MethodPost, fmt.Sprintf("/api/v1/equipment/%d/move", task), bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+demoAssetDeskToken)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, strings.Join(strings.Fields(rec.Body.String()), " ")
	}
	tasks, err := a.Store.EquipmentTasks(ctx, c.ID)
	if err != nil || len(tasks) == 0 {
		check(false, "%s has an equipment task (%v)", c.EmployeeName, err)
		return false
	}
	lt := tasks[0]
	before, _ := a.Store.CaseWithActions(ctx, c.ID)
	check(before.RevokedAt != nil && before.ClosedAt == nil && before.Status == store.CaseRunning,
		"%s: access fully revoked %s, yet the case is %s while %s (%s) is %s — not closed", c.EmployeeName,
		sinceEffective(before, before.RevokedAt), before.Status, lt.AssetTag, lt.Category, lt.Status)

	refused := func(as, to, ref, why string) {
		was, _ := a.Store.EquipmentTask(ctx, lt.ID)
		code, body := move(lt.ID, as, to, ref)
		now, _ := a.Store.EquipmentTask(ctx, lt.ID)
		check(code >= 400 && now.Status == was.Status && now.UpdatedAt.Equal(was.UpdatedAt), "%s: refused (%d) and nothing changed — %s", why, code, text.Fit(body, 160))
	}
	refused(c.EmployeeID, store.EquipmentReturnRequested, "", fmt.Sprintf("%s moving her own laptop", c.EmployeeName))
	refused("E1004", store.EquipmentReturnRequested, "", "a colleague outside it-assets (E1004)")
	for _, to := range []string{store.EquipmentReturnRequested, store.EquipmentReceived, store.EquipmentWiped} {
		code, body := move(lt.ID, demoAssetMember, to, "")
		check(code == http.StatusOK, "it-assets (%s) marks %s %s %s", demoAssetMember, lt.AssetTag, engine.EquipmentWord(to), errBody(code, body))
		if to == store.EquipmentReceived {
			refused(demoAssetMember, store.EquipmentReturnRequested, "", "moving it back to return requested")
		}
	}
	if now, err := a.Store.EquipmentTask(ctx, lt.ID); err == nil {
		lt = *now
	}
	refused(demoAssetMember, store.EquipmentDisposed, "", "a disposal without its certificate-of-destruction reference")
	code, body := move(lt.ID, demoAssetMember, store.EquipmentDisposed, "COD-2026-1003")
	check(code == http.StatusOK, "it-assets (%s) records %s disposed of, certificate COD-2026-1003 %s", demoAssetMember, lt.AssetTag, errBody(code, body))

	// Each move is recorded on the asset tracker by an action the workers
	// run; the case closes once the last of them has settled.
	after, err := a.Store.CaseWithActions(ctx, c.ID)
	for deadline := time.Now().Add(20 * time.Second); err == nil && after.ClosedAt == nil && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(100 * time.Millisecond): // polling the database, bounded by the deadline
		}
		after, err = a.Store.CaseWithActions(ctx, c.ID)
	}
	if err != nil {
		return false
	}
	ok := after.ClosedAt != nil && after.RevokedAt != nil && after.RevokedAt.Before(*after.ClosedAt)
	check(ok, "%s: access fully revoked %s; closed %s, once the laptop was disposed of (%s)", c.EmployeeName,
		sinceEffective(after, after.RevokedAt), sinceEffective(after, after.ClosedAt), after.Status)
	check(strings.Contains(after.Summary, "access fully revoked") && strings.Contains(after.Summary, "1 device: 1 disposed"),
		"the case summary (the audit record of the close) carries both figures and the device's disposition")
	return ok
}

// sinceEffective says how long after c's effective time t was.
func sinceEffective(c *store.Case, t *time.Time) string {
	if t == nil {
		return "(not yet)"
	}
	return t.Sub(c.EffectiveAt).Round(time.Millisecond).String() + " after the effective time"
}

func errBody(code int, body string) string {
	if code == http.StatusOK {
		return ""
	}
	return fmt.Sprintf("(HTTP %d: %s)", code, text.Fit(body, 200))
}
