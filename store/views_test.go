package store

import (
	"errors"
	"reflect"
	"strconv"
	"testing"
	"time"

	"gorm.io/gorm"
)

// The gorm handle is not part of Store's API: front ends call named
// methods (issue 13: "store.Store.DB unexported").
func TestStoreExportsNoGormHandle(t *testing.T) {
	typ := reflect.TypeOf(Store{})
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.IsExported() && f.Type == reflect.TypeOf(&gorm.DB{}) {
			t.Fatalf("Store exports its gorm handle as %s", f.Name)
		}
	}
}

// The named reads the Slack app, the bench and the demo use return what
// their names say.
func TestNamedViews(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := ctxForTest(t)
		now := time.Now().UTC()
		old := Case{EmployeeID: "E1", Trigger: TriggerAPI, Requester: "A1", EffectiveAt: now, Status: CaseCompleted, ClosedAt: &now, CreatedAt: now, UpdatedAt: now}
		cur := Case{EmployeeID: "E1", Trigger: TriggerHR, Requester: "A1", EffectiveAt: now, Status: CaseRunning, CreatedAt: now, UpdatedAt: now}
		other := Case{EmployeeID: "E2", Trigger: TriggerAPI, Requester: "A1", EffectiveAt: now, Status: CaseScheduled, CreatedAt: now, UpdatedAt: now}
		err := s.Tx(ctx, func(tx *gorm.DB) error {
			for _, c := range []*Case{&old, &cur, &other} {
				if err := tx.Create(c).Error; err != nil {
					return err
				}
			}
			for i, st := range []string{ActionRunning, ActionRunning, ActionSucceeded} {
				a := Action{CaseID: cur.ID, Name: "a" + string(rune('0'+i)), Connector: "ad", Operation: "disable_account", Phase: 1, Status: st, MaxAttempts: 1}
				if err := tx.Create(&a).Error; err != nil {
					return err
				}
			}
			_, err := AppendAudit(tx, Entry{CaseID: cur.ID, Actor: "api", Event: "case.created", Result: "ok"},
				Entry{CaseID: cur.ID, Actor: "api", Event: "case.started", Result: "ok"},
				Entry{CaseID: other.ID, Actor: "api", Event: "case.created", Result: "ok"})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}

		if c, err := s.Case(ctx, cur.ID); err != nil || c.Trigger != TriggerHR || len(c.Actions) != 0 {
			t.Fatalf("Case: %+v %v", c, err)
		}
		if _, err := s.Case(ctx, 9999); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Case of an unknown id: %v, want ErrNotFound", err)
		}
		if c, err := s.NewestCaseFor(ctx, "E1"); err != nil || c.ID != cur.ID {
			t.Fatalf("NewestCaseFor: %+v %v, want case %d", c, err, cur.ID)
		}
		if _, err := s.NewestCaseFor(ctx, "E9"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("NewestCaseFor nobody: %v, want ErrNotFound", err)
		}
		open, err := s.OpenCases(ctx, 10)
		if err != nil || len(open) != 2 || open[0].ID != other.ID || open[1].ID != cur.ID {
			t.Fatalf("OpenCases: %+v %v, want cases %d, %d", open, err, other.ID, cur.ID)
		}
		if total, nOpen, err := s.CaseCounts(ctx); err != nil || total != 3 || nOpen != 2 {
			t.Fatalf("CaseCounts: %d %d %v, want 3 2", total, nOpen, err)
		}
		if st, err := s.CaseStatus(ctx, other.ID); err != nil || st != CaseScheduled {
			t.Fatalf("CaseStatus: %q %v", st, err)
		}
		counts, err := s.ActionStatusCounts(ctx)
		if err != nil || counts[ActionRunning] != 2 || counts[ActionSucceeded] != 1 {
			t.Fatalf("ActionStatusCounts: %v %v", counts, err)
		}
		ids, err := s.RunningActionIDs(ctx)
		if err != nil || len(ids) != 2 {
			t.Fatalf("RunningActionIDs: %v %v", ids, err)
		}
		evs, err := s.AuditEventsOfActionsSince(ctx, ids, now.Add(-time.Hour))
		if err != nil || len(evs) != 0 {
			t.Fatalf("AuditEventsOfActionsSince: %d events %v, want none (no action events)", len(evs), err)
		}
		n, head, err := s.CaseAuditSummary(ctx, cur.ID)
		if err != nil || n != 2 || len(head) != 64 {
			t.Fatalf("CaseAuditSummary: %d %q %v, want 2 events and the head hash", n, head, err)
		}
		all, err := s.AllCasesWithActions(ctx)
		if err != nil || len(all) != 3 || len(all[1].Actions) != 3 {
			t.Fatalf("AllCasesWithActions: %d cases %v", len(all), err)
		}

		for i, k := range []string{ChatKindStatus, "thread", ChatKindStatus} {
			m := ChatMessage{CaseID: cur.ID, Platform: "slack", Channel: "C" + strconv.Itoa(i), TS: "1.0" + strconv.Itoa(i), Kind: k}
			if err := s.RecordChatMessage(ctx, &m); err != nil || m.ID == 0 {
				t.Fatalf("RecordChatMessage: %+v %v", m, err)
			}
		}
		ms, err := s.ChatMessagesFor(ctx, cur.ID, "slack", ChatKindStatus)
		if err != nil || len(ms) != 2 || ms[0].ID > ms[1].ID {
			t.Fatalf("ChatMessagesFor status: %+v %v", ms, err)
		}
		if all, _ := s.ChatMessagesFor(ctx, cur.ID, "slack"); len(all) != 3 {
			t.Fatalf("ChatMessagesFor all kinds: %d, want 3", len(all))
		}
		if none, _ := s.ChatMessagesFor(ctx, cur.ID, "teams"); len(none) != 0 {
			t.Fatalf("ChatMessagesFor another platform: %d, want 0", len(none))
		}
		if m, found, err := s.ChatMessageByID(ctx, ms[1].ID); err != nil || !found || m.ID != ms[1].ID {
			t.Fatalf("ChatMessageByID: %+v %v %v", m, found, err)
		}
		if m, found, err := s.ChatMessageByID(ctx, 9999); err != nil || found || m.ID != 0 {
			t.Fatalf("ChatMessageByID unknown: %+v %v %v, want not found and no error", m, found, err)
		}
		if err := s.db.WithContext(ctx).Create(&HREventRecord{Source: "bamboohr", EventID: "E1:terminate", Kind: "terminate", Outcome: "opened"}).Error; err != nil {
			t.Fatal(err)
		}
		if seen, err := s.HREventRecorded(ctx, "bamboohr", "E1:terminate"); err != nil || !seen {
			t.Fatalf("HREventRecorded: %v %v, want seen", seen, err)
		}
		if seen, err := s.HREventRecorded(ctx, "bamboohr", "E2:terminate"); err != nil || seen {
			t.Fatalf("HREventRecorded of another event: %v %v, want not seen", seen, err)
		}
	})
}
