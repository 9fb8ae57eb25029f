package emailroute_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/kineticsec/kinetic/bot/emailroute"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/mailer"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/routing"
	"github.com/kineticsec/kinetic/internal/smtptest"
)

func notifier(t *testing.T, s *smtptest.Server, retry ...time.Duration) *emailroute.Notifier {
	t.Helper()
	pol, err := outbound.NewURLPolicy([]string{"127.0.0.1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mailer.New(mailer.Options{Host: "127.0.0.1", Port: s.Port, CAFile: s.CAFile, Username: "kinetic", Password: smtptest.Password, Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	routes := routing.New(map[string]routing.Route{
		"hr-partners":     {Email: []string{"hrbp@example.test"}},
		"it-identity":     {Channel: "C0IDENT01"},
		"security-alerts": {Channel: "C0SEC0001", Email: []string{"soc@example.test"}},
	}, nil, "slack:")
	n := emailroute.New(emailroute.Options{Mailer: m, From: "Kinetic <kinetic@example.test>", Routes: routes, AlertsRoute: "security-alerts", Retry: retry})
	t.Cleanup(n.Close)
	return n
}

var escalation = engine.Event{Kind: engine.EventEscalation, CaseID: 7, ActionID: 3, Name: "disable_ad", Status: "failed", Level: 1,
	Targets: []string{"channel:hr-partners", "channel:it-identity"}, Detail: "disable_ad (disable_account on ad) for Erin Employee is overdue by 2h0m0s",
	At: time.Date(2026, 3, 18, 12, 0, 0, 0, time.UTC)}

func TestEmailRouteGetsTheCardsText(t *testing.T) {
	s := smtptest.Start(t, false, false)
	n := notifier(t, s)
	n.Observe(escalation)
	n.Observe(engine.Event{Kind: engine.EventAction, CaseID: 7, Targets: []string{"channel:hr-partners"}}) // not a routed kind
	d := s.Next()
	n.Close()
	s.None() // it-identity has no email route; the action event is not routed
	if len(d.Rcpts) != 1 || d.Rcpts[0] != "hrbp@example.test" || !d.TLS {
		t.Fatalf("delivered to %v (tls %v)", d.Rcpts, d.TLS)
	}
	m, body := smtptest.Parse(t, d.Data)
	subject, text := emailroute.Text(escalation, []string{"#hr-partners (email)"})
	if m.Header.Get("Subject") != subject || !strings.Contains(subject, "Escalation level 1") || !strings.Contains(subject, "case 7") {
		t.Errorf("Subject %q, want %q", m.Header.Get("Subject"), subject)
	}
	body = strings.ReplaceAll(body, "\r\n", "\n")
	if !strings.HasPrefix(body, text) || !strings.Contains(body, "overdue by 2h0m0s") {
		t.Errorf("body:\n%s\nwant it to start with:\n%s", body, text)
	}
}

func TestEmailDeliveryFailureIsRaised(t *testing.T) {
	s := smtptest.Start(t, false, false)
	n := notifier(t, s)
	s.FailData(451, smtp.EnhancedCode{4, 3, 0}, "mailbox busy") // the hr-partners message
	n.Observe(escalation)
	d := s.Next()
	n.Close()
	if d.Rcpts[0] != "soc@example.test" {
		t.Fatalf("first delivered message went to %v, want the security route", d.Rcpts)
	}
	m, body := smtptest.Parse(t, d.Data)
	if !strings.HasPrefix(m.Header.Get("Subject"), "Delivery failure: ") || !strings.Contains(body, "#hr-partners by email (hrbp@example.test)") || !strings.Contains(body, "451") {
		t.Errorf("delivery failure message:\n%s\n%s", m.Header.Get("Subject"), body)
	}
	if strings.Contains(body, smtptest.Password) {
		t.Error("password in the failure message")
	}
	s.None()
}

// outcomes keeps what the notifier reports of return instructions
// emails, as the engine's ReturnInstructionsSent receives them.
type outcomes chan error

func (o outcomes) ReturnInstructionsSent(_ context.Context, _ engine.Event, err error) error {
	o <- err
	return nil
}

var instructions = engine.Event{Kind: engine.EventReturnInstructions, CaseID: 7, EquipmentID: 3, Name: "Returning LT-7 (laptop) after your last day",
	Detail: "Hello Gia,\n\nPlease return LT-7.\n", Email: "gia.home@mail.example", At: time.Date(2026, 3, 18, 12, 0, 0, 0, time.UTC)}

// A transient refusal (451) is tried again and the message then sent to
// the private address alone; the outcome is reported once, as sent. A
// permanent refusal (550) is not tried again, and is reported with the
// address masked.
func TestReturnInstructionsRetriedThenReported(t *testing.T) {
	s := smtptest.Start(t, false, false)
	n := notifier(t, s, time.Millisecond)
	got := outcomes(make(chan error, 4))
	n.Bind(got)
	s.FailData(451, smtp.EnhancedCode{4, 3, 0}, "try later")
	n.Observe(instructions)
	d := s.Next()
	if err := <-got; err != nil {
		t.Fatalf("reported %v, want sent", err)
	}
	if len(d.Rcpts) != 1 || d.Rcpts[0] != "gia.home@mail.example" {
		t.Fatalf("delivered to %v", d.Rcpts)
	}
	m, body := smtptest.Parse(t, d.Data)
	if m.Header.Get("Subject") != instructions.Name || !strings.Contains(body, "Please return LT-7.") || !strings.Contains(body, "your private address") {
		t.Errorf("message: %v\n%s", m.Header, body)
	}

	s.FailData(550, smtp.EnhancedCode{5, 1, 1}, "no such user gia.home@mail.example")
	n.Observe(instructions)
	err := <-got
	n.Close()
	if err == nil || !strings.Contains(err.Error(), "550") || strings.Contains(err.Error(), "gia.home@") || !strings.Contains(err.Error(), "g***@mail.example") {
		t.Fatalf("reported %v, want the 550 with the address masked", err)
	}
	s.None()
	if len(got) != 0 {
		t.Fatalf("%d more outcomes reported", len(got))
	}
}
