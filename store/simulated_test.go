package store

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
)

// TestExportAuditMarksSimulated: the audit export of a case whose actions
// ran on simulated systems says so. In JSON every event of a simulated
// action, and every case-level event, carries "simulated": true (and still
// hashes to its hash); in CSV a last column, simulated, says which rows
// are. The real action's events are not marked.
func TestExportAuditMarksSimulated(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := ctxForTest(t)
		now := time.Now().UTC()
		c := Case{EmployeeID: "E1", Trigger: TriggerAPI, Requester: "api:hris", EffectiveAt: now, Status: CaseCompleted, Simulated: true, CreatedAt: now, UpdatedAt: now}
		var sim, real Action
		err := s.Tx(ctx, func(tx *gorm.DB) error {
			if err := tx.Create(&c).Error; err != nil {
				return err
			}
			sim = Action{CaseID: c.ID, Name: "disable_ad", Connector: "ad", Operation: "disable_account", Phase: 1, Status: ActionSucceeded, MaxAttempts: 1, Simulated: true}
			real = Action{CaseID: c.ID, Name: "deactivate_okta", Connector: "okta", Operation: "deactivate_user", Phase: 1, Status: ActionSucceeded, MaxAttempts: 1}
			if err := tx.Create(&sim).Error; err != nil {
				return err
			}
			if err := tx.Create(&real).Error; err != nil {
				return err
			}
			_, err := AppendAudit(tx,
				Entry{CaseID: c.ID, Actor: "api:hris", Event: "case.created", Result: "ok"},
				Entry{CaseID: c.ID, ActionID: sim.ID, Actor: "worker", System: "ad", Event: "action.finished", Result: "succeeded"},
				Entry{CaseID: c.ID, ActionID: real.ID, Actor: "worker", System: "okta", Event: "action.finished", Result: "succeeded"})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		want := map[int64]bool{0: true, sim.ID: true, real.ID: false} // by action id

		var js bytes.Buffer
		if _, err := s.ExportAudit(ctx, c.ID, "json", &js); err != nil {
			t.Fatal(err)
		}
		var evs []struct {
			AuditEvent
			Simulated bool `json:"simulated"`
		}
		if err := json.Unmarshal(js.Bytes(), &evs); err != nil || len(evs) != 3 {
			t.Fatalf("json export: %d events, %v\n%s", len(evs), err, js.String())
		}
		for _, e := range evs {
			if e.Simulated != want[e.ActionID] {
				t.Errorf("json event %d (action %d) simulated = %t, want %t", e.Seq, e.ActionID, e.Simulated, want[e.ActionID])
			}
			if HashEvent(&e.AuditEvent) != e.Hash {
				t.Errorf("json event %d does not hash to its hash", e.Seq)
			}
		}

		var cs bytes.Buffer
		if _, err := s.ExportAudit(ctx, c.ID, "csv", &cs); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(&cs).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 4 || strings.Join(rows[0], ",") != "seq,time,case_id,action_id,actor,system,event,result,detail,prev_hash,hash,links,simulated" {
			t.Fatalf("csv export: %d rows, header %v", len(rows), rows[0])
		}
		for i, row := range rows[1:] {
			if wantCell := map[bool]string{true: "true", false: "false"}[want[evs[i].ActionID]]; row[12] != wantCell {
				t.Errorf("csv row %d (action %s) simulated = %q, want %q", i+1, row[3], row[12], wantCell)
			}
		}
	})
}
