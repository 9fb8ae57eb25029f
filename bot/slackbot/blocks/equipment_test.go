package blocks

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/kineticsec/kinetic/engine/view"
	"github.com/kineticsec/kinetic/store"
)

func rendered(t *testing.T, bs []slack.Block) string {
	t.Helper()
	b, err := json.Marshal(bs)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// An equipment card carries one button per next move, in order, plus Open
// case; without buttons (the manager's copy) or at a final disposition,
// Open case alone.
func TestEquipmentCardButtons(t *testing.T) {
	due := time.Date(2026, 12, 14, 17, 0, 0, 0, time.UTC)
	task := store.EquipmentTask{ID: 9, CaseID: 3, AssetTag: "LT-1003", Category: "laptop", AssigneeTeam: "it-assets", Status: store.EquipmentReceived, DueAt: &due}
	next := []string{store.EquipmentWiped, store.EquipmentPreserved, store.EquipmentLost}
	bs, text := EquipmentCard(view.Event{Kind: view.EventEquipment, Detail: "LT-1003 received"}, task, "Amara Okafor", next, true, "S0ASSETS1")
	want := []string{ActionEquipWiped + "=equipment:9", ActionEquipPreserved + "=equipment:9", ActionEquipLost + "=equipment:9", ActionOpenCase + "=case:3"}
	if got := buttons(bs); !slices.Equal(got, want) {
		t.Fatalf("buttons %v, want %v", got, want)
	}
	if !strings.Contains(text, "<!subteam^S0ASSETS1>") || !strings.Contains(text, "LT-1003") || !strings.Contains(text, "received") {
		t.Fatalf("text %q", text)
	}
	if s := rendered(t, bs); !strings.Contains(s, "team it-assets") || !strings.Contains(s, "due ") {
		t.Fatalf("the card does not say whose and by when: %s", s)
	}
	bs, _ = EquipmentCard(view.Event{Kind: view.EventEquipment}, task, "Amara Okafor", next, false, "")
	if got := buttons(bs); !slices.Equal(got, []string{ActionOpenCase + "=case:3"}) {
		t.Fatalf("without buttons: %v", got)
	}
	task.Status, task.Reference = store.EquipmentDisposed, "COD-1"
	bs, _ = EquipmentCard(view.Event{Kind: view.EventEquipment}, task, "Amara Okafor", nil, true, "")
	if got := buttons(bs); !slices.Equal(got, []string{ActionOpenCase + "=case:3"}) || !strings.Contains(rendered(t, bs), "certificate COD-1") {
		t.Fatalf("disposed: %v %s", got, rendered(t, bs))
	}
	for st := range equipButtons {
		id := equipButtons[st].id
		if got, ok := EquipmentStatusOf(id); !ok || got != st {
			t.Errorf("EquipmentStatusOf(%s) = %s %v", id, got, ok)
		}
	}
	if _, ok := EquipmentStatusOf(ActionRetry); ok {
		t.Error("Retry taken for an equipment button")
	}
}

// The disposal form requires a reference and names the task; a view that
// is not the form is an error.
func TestDisposeReference(t *testing.T) {
	m := DisposeModal(9, "LT-1003", "Amara Okafor")
	if m.CallbackID != ModalDisposeReference || m.PrivateMetadata != "equipment:9" {
		t.Fatalf("modal %s %s", m.CallbackID, m.PrivateMetadata)
	}
	view := func(meta, ref string) slack.View {
		return slack.View{CallbackID: ModalDisposeReference, PrivateMetadata: meta, State: &slack.ViewState{Values: map[string]map[string]slack.BlockAction{
			blockReference: {actionValue: {Value: ref}}}}}
	}
	if id, ref, errs, err := ParseDisposeReference(view("equipment:9", " COD-7 ")); err != nil || id != 9 || ref != "COD-7" || len(errs) != 0 {
		t.Fatalf("valid: %d %q %v %v", id, ref, errs, err)
	}
	if _, _, errs, err := ParseDisposeReference(view("equipment:9", "  ")); err != nil || errs[blockReference] == "" {
		t.Fatalf("empty reference: %v %v", errs, err)
	}
	if _, _, errs, err := ParseDisposeReference(view("equipment:9", strings.Repeat("x", 257))); err != nil || errs[blockReference] == "" {
		t.Fatalf("long reference: %v %v", errs, err)
	}
	if _, _, _, err := ParseDisposeReference(view("action:9", "COD-7")); err == nil {
		t.Fatal("an action's id taken for an equipment task")
	}
}

// Once access is fully revoked, an open case's status card says so and
// lists what is still open, with whom and by when; a closed case states
// both moments.
func TestStatusCardReportsTheCompletionGate(t *testing.T) {
	eff := time.Date(2026, 12, 7, 17, 0, 0, 0, time.UTC)
	revoked, due := eff.Add(2*time.Minute), eff.Add(7*24*time.Hour)
	c := store.Case{ID: 3, EmployeeID: "E1003", EmployeeName: "Amara Okafor", Status: store.CaseRunning, EffectiveAt: eff, RevokedAt: &revoked}
	acts := []store.Action{{ID: 1, CaseID: 3, Name: "disable_ad", Connector: "ad", Phase: 1, PhaseName: "critical", Status: store.ActionSucceeded, Verified: true}}
	open := []view.OpenItem{{Kind: view.OpenEquipment, ID: 9, Name: "LT-1003", Status: store.EquipmentReturnRequested, Owner: "channel:it-assets", DueAt: &due},
		{Kind: view.OpenManualStep, ID: 2, Name: "collect_badge", Status: store.ActionPending},
		{Kind: view.OpenNotice, ID: 4, Name: "notice to payroll", Status: "unacknowledged", Owner: "channel:payroll", To: "payroll@corp.example,pay-ops@corp.example"}}
	s := rendered(t, must(StatusCardWith(c, acts, eff.Add(time.Hour), StatusExtras{Open: open})))
	for _, want := range []string{"notice to payroll", "unacknowledged", "#payroll", "sent to payroll@corp.example, pay-ops@corp.example", "Access fully revoked", "2m0s after the effective time", "Not closed yet", "Still open", "LT-1003", "return requested", "#it-assets", "due ", "collect_badge", "manual step"} {
		if !strings.Contains(s, want) {
			t.Errorf("the card lacks %q: %s", want, s)
		}
	}
	closed := eff.Add(3 * time.Hour)
	c.Status, c.ClosedAt = store.CaseCompleted, &closed
	s = rendered(t, must(StatusCardWith(c, acts, closed, StatusExtras{})))
	if !strings.Contains(s, "Access fully revoked") || !strings.Contains(s, "*Closed*") || strings.Contains(s, "Still open") {
		t.Errorf("closed card: %s", s)
	}
	c.RevokedAt, c.ClosedAt = nil, nil
	s = rendered(t, must(StatusCardWith(c, acts, closed, StatusExtras{Open: open})))
	if strings.Contains(s, "Access fully revoked") || strings.Contains(s, "Still open") {
		t.Errorf("a card before access is revoked shows the gate: %s", s)
	}
}

func must(bs []slack.Block, _ string) []slack.Block { return bs }
