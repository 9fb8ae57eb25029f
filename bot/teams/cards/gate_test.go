package cards

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/engine/view"
	"github.com/kineticsec/kinetic/store"
)

// Once access is fully revoked, an open case's Teams status card says so
// and lists what is still open, with whom and by when; a closed case
// states both moments.
func TestStatusCardReportsTheCompletionGate(t *testing.T) {
	eff := time.Date(2026, 12, 7, 17, 0, 0, 0, time.UTC)
	revoked, due := eff.Add(2*time.Minute), eff.Add(7*24*time.Hour)
	c := store.Case{ID: 3, EmployeeID: "E1003", EmployeeName: "Amara Okafor", Status: store.CaseRunning, EffectiveAt: eff, RevokedAt: &revoked}
	open := []view.OpenItem{{Kind: view.OpenEquipment, ID: 9, Name: "LT-1003", Status: store.EquipmentReturnRequested, Owner: "channel:it-assets", DueAt: &due},
		{Kind: view.OpenNotice, ID: 4, Name: "notice to payroll", Status: "unacknowledged", Owner: "channel:payroll", To: "payroll@corp.example"}}
	render := func(c store.Case, x blocks.StatusExtras) string {
		b, err := json.Marshal(StatusCard(c, nil, eff.Add(time.Hour), x))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	s := render(c, blocks.StatusExtras{Open: open})
	for _, want := range []string{"Access fully revoked", "not closed yet", "Still open", "LT-1003", "return requested", "it-assets", "due ", "notice to payroll", "unacknowledged", "sent to payroll@corp.example"} {
		if !strings.Contains(s, want) {
			t.Errorf("the card lacks %q: %s", want, s)
		}
	}
	closed := eff.Add(3 * time.Hour)
	c.Status, c.ClosedAt = store.CaseCompleted, &closed
	if s := render(c, blocks.StatusExtras{}); !strings.Contains(s, "**Closed**") || strings.Contains(s, "Still open") {
		t.Errorf("closed card: %s", s)
	}
}
