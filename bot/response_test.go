package bot_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/kineticsec/kinetic/bot"
	"github.com/kineticsec/kinetic/internal/testkit"
)

// TestResponsesDecodeIntoTheSharedTypes: what the handlers write decodes,
// strictly (no field the type lacks), into the exported response types
// cli.go reads.
func TestResponsesDecodeIntoTheSharedTypes(t *testing.T) {
	s := newServer(t, testkit.Options{}, false)
	strict := func(t *testing.T, body []byte, v any) {
		t.Helper()
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Fatalf("%T: %v\n%s", v, err, body)
		}
	}
	r := s.do(t, "POST", "/api/v1/cases", "Bearer "+token, `{"employee_id":"E1","reason":"resigned"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	var c bot.CaseResponse
	strict(t, r.body, &c)
	if c.ID == 0 || c.EmployeeID != "E1" || c.Reason != "resigned" || !c.Simulated || len(c.SimulatedConnectors) == 0 {
		t.Errorf("case = %+v", c)
	}
	r = s.do(t, "POST", "/api/v1/cases", "Bearer "+token, `{"employee_id":"E1","reason":"again"}`)
	var e bot.ErrorResponse
	strict(t, r.body, &e)
	if r.status != http.StatusConflict || e.Error == "" || e.CaseID != c.ID {
		t.Errorf("a second case: %d %+v", r.status, e)
	}
	r = s.do(t, "GET", "/api/v1/batches", "Bearer "+token, "")
	var bs []bot.BatchResponse
	if err := json.Unmarshal(r.body, &bs); err != nil || r.status != http.StatusOK {
		t.Errorf("batches: %d %v", r.status, err)
	}
}
