package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestNoticesOpenUntilAcknowledgedOnce(t *testing.T) {
	s := OpenTest(t)
	ctx := context.Background()
	now := time.Date(2026, 3, 18, 9, 0, 0, 0, time.UTC)
	c := Case{EmployeeID: "E1", Trigger: TriggerAPI, Requester: "E2", EffectiveAt: now, Status: CaseRunning}
	if err := s.Conn(ctx).Create(&c).Error; err != nil {
		t.Fatal(err)
	}
	payroll, err := RecordNoticeSent(s.Conn(ctx), Notice{CaseID: c.ID, ActionID: 7, Team: "payroll", Channel: NoticeEmail, MessageID: "<a@x>", SentAt: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RecordNoticeSent(s.Conn(ctx), Notice{CaseID: c.ID, ActionID: 7, Team: "benefits", Channel: NoticeEmail, MessageID: "<b@x>", SentAt: now}); err != nil {
		t.Fatal(err)
	}
	// A retried action sends again: same row, first SentAt kept.
	again, err := RecordNoticeSent(s.Conn(ctx), Notice{CaseID: c.ID, ActionID: 7, Team: "payroll", Channel: NoticeEmail, MessageID: "<c@x>", SentAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != payroll.ID || !again.SentAt.Equal(now) || again.MessageID != "<c@x>" {
		t.Errorf("resend: %+v (first %+v)", again, payroll)
	}
	open, err := s.OpenNotices(ctx, c.ID)
	if err != nil || len(open) != 2 {
		t.Fatalf("open notices %v, %v; want 2", open, err)
	}
	if err := AcknowledgeNotice(s.Conn(ctx), payroll.ID, "pat@payroll.example", AckLink, now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := AcknowledgeNotice(s.Conn(ctx), payroll.ID, "mallory@payroll.example", AckLink, now.Add(3*time.Hour)); !errors.Is(err, ErrNoticeAcknowledged) {
		t.Errorf("second acknowledgement: %v, want ErrNoticeAcknowledged", err)
	}
	if err := AcknowledgeNotice(s.Conn(ctx), 999, "x", AckLink, now); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown notice: %v, want ErrNotFound", err)
	}
	n, _ := s.Notice(ctx, payroll.ID)
	if n.AcknowledgedBy != "pat@payroll.example" || n.AcknowledgedHow != AckLink || n.Open() {
		t.Errorf("acknowledged notice %+v: the first acknowledgement must stand", n)
	}
	open, _ = s.OpenNotices(ctx, c.ID)
	if len(open) != 1 || open[0].Team != "benefits" {
		t.Errorf("open notices after one acknowledgement: %+v", open)
	}
	due, _ := s.UnacknowledgedSince(ctx, now.Add(time.Minute), 10)
	if len(due) != 1 {
		t.Fatalf("unacknowledged: %+v", due)
	}
	if ok, _ := MarkNoticeEscalated(s.Conn(ctx), due[0].ID, 0, now); !ok {
		t.Error("first escalation not recorded")
	}
	if ok, _ := MarkNoticeEscalated(s.Conn(ctx), due[0].ID, 0, now); ok {
		t.Error("the same level fired twice")
	}
}
