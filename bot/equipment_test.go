package bot_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/bot"
	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// POST /api/v1/equipment/{id}/move: the team's moves through the API, and
// every refusal — no token, no scope, a principal that may not act for the
// person, the departing person, someone outside the team, a skipped step, a
// disposal without its reference, a malformed or oversized body, an unknown
// task — answered with its status and a clear error, changing nothing.
func TestEquipmentAPI(t *testing.T) {
	clients := personClients()
	clients["reader"] = bot.APIClient{Token: "test-token-reader", Scopes: []string{configs.ScopeCasesRead}, ActAs: []string{engine.ActAsAny}}
	clients["as-T1"] = bot.APIClient{Token: "test-token-as-T1", Scopes: []string{configs.ScopeActionsOperate}, ActAs: []string{"T1"}}
	s := newServerWith(t, testkit.Options{}, false, clients)
	ctx := context.Background()
	o, err := s.k.Engine.Open(ctx, engine.Request{EmployeeID: "E7", Requester: "M1", Reason: "resigned", Trigger: store.TriggerAPI})
	if err != nil {
		t.Fatal(err)
	}
	tasks, _ := s.k.Store.EquipmentTasks(ctx, o.Case.ID)
	var lt store.EquipmentTask
	for _, x := range tasks {
		if x.AssetTag == "LT-7" {
			lt = x
		}
	}
	path := fmt.Sprintf("/api/v1/equipment/%d/move", lt.ID)
	state := func() string {
		x, err := s.k.Store.EquipmentTask(ctx, lt.ID)
		if err != nil {
			t.Fatal(err)
		}
		n := s.k.Count(t, &store.AuditEvent{}, "case_id = ?", o.Case.ID)
		return fmt.Sprintf("%s %q %q %d", x.Status, x.Reference, x.StatusBy, n)
	}
	for _, tc := range []struct {
		name, path, auth, body string
		status                 int
		want                   string
	}{
		{"no token", path, "", `{"as":"T1","to":"return_requested"}`, http.StatusUnauthorized, ""},
		{"a client without actions:operate", path, "Bearer test-token-reader", `{"as":"T1","to":"return_requested"}`, http.StatusForbidden, "actions:operate"},
		{"a client acting for someone else", path, bearerFor("X1"), `{"as":"T1","to":"return_requested"}`, http.StatusForbidden, "not allowed"},
		{"the departing person", path, bearer, `{"as":"E7","to":"return_requested"}`, http.StatusForbidden, "departing employee"},
		{"someone outside the team", path, bearer, `{"as":"X1","to":"return_requested"}`, http.StatusForbidden, "it-assets"},
		{"a skipped step", path, bearer, `{"as":"T1","to":"wiped"}`, http.StatusBadRequest, "moves to return_requested, received, lost"},
		{"a disposal without its reference", path, bearer, `{"as":"T1","to":"disposed"}`, http.StatusBadRequest, "certificate"},
		{"an unknown status", path, bearer, `{"as":"T1","to":"shredded"}`, http.StatusBadRequest, "not an equipment status"},
		{"an unknown field", path, bearer, `{"as":"T1","to":"received","colour":"grey"}`, http.StatusBadRequest, "colour"},
		{"an oversized note", path, bearer, `{"as":"T1","to":"received","note":"` + strings.Repeat("x", 1001) + `"}`, http.StatusBadRequest, "note"},
		{"no as", path, bearer, `{"to":"received"}`, http.StatusBadRequest, "as"},
		{"an unknown task", "/api/v1/equipment/99999/move", bearer, `{"as":"T1","to":"received"}`, http.StatusNotFound, "99999"},
		{"a bad id", "/api/v1/equipment/x1/move", bearer, `{"as":"T1","to":"received"}`, http.StatusBadRequest, "positive integer"},
	} {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			before := state()
			r := s.do(t, http.MethodPost, tc.path, tc.auth, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.want != "" {
				if msg, _ := r.json(t)["error"].(string); !strings.Contains(msg, tc.want) {
					t.Errorf("error %q, want it to mention %q", msg, tc.want)
				}
			}
			if after := state(); after != before {
				t.Fatalf("a refused request changed the task: %s → %s", before, after)
			}
		})
	}

	move := func(auth, to, ref string) map[string]any {
		t.Helper()
		r := s.do(t, http.MethodPost, path, auth, fmt.Sprintf(`{"as":"T1","to":%q,"reference":%q,"note":"desk"}`, to, ref))
		if r.status != http.StatusOK {
			t.Fatalf("moving to %s: %d %s", to, r.status, r.body)
		}
		return r.json(t)
	}
	if m := move("Bearer test-token-as-T1", store.EquipmentReturnRequested, ""); m["changed"] != true {
		t.Fatalf("first move: %v", m)
	}
	if m := move("Bearer test-token-as-T1", store.EquipmentReturnRequested, ""); m["changed"] != false {
		t.Fatalf("a repeated move: %v (want changed false)", m)
	}
	move(bearer, store.EquipmentReceived, "")
	if r := s.do(t, http.MethodPost, path, bearer, `{"as":"T1","to":"return_requested"}`); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "does not move back") {
		t.Fatalf("backwards: %d %s", r.status, r.body)
	}
	move(bearer, store.EquipmentWiped, "")
	m := move(bearer, store.EquipmentDisposed, "COD-7")
	task, _ := m["task"].(map[string]any)
	if task["status"] != store.EquipmentDisposed || task["reference"] != "COD-7" || task["status_by"] != "T1" {
		t.Fatalf("disposed: %v", m)
	}
	c := s.do(t, http.MethodGet, fmt.Sprintf("/api/v1/cases/%d", o.Case.ID), bearer, "").json(t)
	items, _ := c["open_items"].([]any)
	found := false
	for _, it := range items {
		it := it.(map[string]any)
		if it["kind"] == string(engine.OpenEquipment) && it["name"] == "PH-7" && it["owner"] == "channel:it-assets" && it["due_at"] != nil {
			found = true
		}
		if it["name"] == "LT-7" {
			t.Errorf("a disposed device is still open: %v", it)
		}
	}
	if !found {
		t.Fatalf("open_items lacks the phone: %v", items)
	}
}
