package bot_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/internal/testkit"
)

// TestAPICaseViewMarksSimulated: the API's view of a case run on sandbox
// connectors says "simulated": true, names the simulated connectors, and
// marks every simulated action; an action on a real connector (badge, its
// flag cleared as a real connector has it) is not marked.
func TestAPICaseViewMarksSimulated(t *testing.T) {
	s := newServer(t, testkit.Options{}, false)
	badge, _ := s.k.Connectors.Get("badge")
	badge.Simulated = false // before any worker or case reads it
	if _, err := s.k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	r := s.do(t, "POST", "/api/v1/cases", "Bearer "+token, `{"employee_id":"E1","reason":"resigned"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	created := r.json(t)
	if created["simulated"] != true {
		t.Errorf("the created case is not marked simulated: %s", r.body)
	}
	c := s.waitClosed(t, int64(created["id"].(float64)), 30*time.Second)
	if c["simulated"] != true {
		t.Errorf("case view simulated = %v, want true", c["simulated"])
	}
	var names []string
	for _, n := range c["simulated_connectors"].([]any) {
		names = append(names, fmt.Sprint(n))
	}
	if !slices.Equal(names, []string{"ad", "assets", "okta", "payroll"}) {
		t.Errorf("simulated_connectors = %v", names)
	}
	for _, a := range c["actions"].([]any) {
		a := a.(map[string]any)
		if want := a["connector"] != "badge"; (a["simulated"] == true) != want {
			t.Errorf("action %v on %v: simulated = %v, want %t", a["name"], a["connector"], a["simulated"], want)
		}
	}
}
