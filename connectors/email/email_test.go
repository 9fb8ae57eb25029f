package email

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/conformance"
	"github.com/kineticsec/kinetic/internal/secret"
	"github.com/kineticsec/kinetic/internal/smtptest"
)

var dana = connectors.Subject{EmployeeID: "E1003", Email: "dana.lee@corp.example", DisplayName: "Dana Lee"}

// finalPay is a notify request as the engine sends it: the policy's
// params plus the dates internal/paydates computed and the case reference.
func finalPay() connectors.Request {
	return connectors.Request{
		Operation: connectors.OpNotify, Subject: dana, IdempotencyKey: "kinetic-action-42",
		Params: map[string]string{
			"template": "final_pay", "case_reference": "KIN-17",
			"last_working_day": "2026-03-18", "final_pay_date": "2026-03-18", "final_pay_rule": "california-involuntary",
			"leave_payout": "yes", "benefits_end_date": "2026-03-31", "benefits_end_rule": "united-states",
			"continuation_notice": "cobra",
			"ack_url.payroll":     "https://kinetic.corp.example/notices/ack?t=tok-payroll",
		},
	}
}

func TestNoticeReachesEachTeamWithItsDates(t *testing.T) {
	for _, mode := range []string{TLSStartTLS, TLSImplicit} {
		t.Run(mode, func(t *testing.T) {
			s := smtptest.Start(t, mode == TLSImplicit, false)
			c := newConn(t, testConfig(s, mode))
			res, err := c.Do(context.Background(), finalPay())
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != connectors.OutcomeDone || res.Detail != "notice sent to benefits, payroll" {
				t.Errorf("result %+v", res)
			}
			if res.Data["message_id.payroll"] != "kinetic-action-42.payroll@corp.example" || res.Data["recipients.benefits"] != "benefits@corp.example,hr-ops@corp.example" || res.Data["channel"] != "email" {
				t.Errorf("data %v", res.Data)
			}
			// Teams are served in name order: benefits, then payroll.
			byTeam := map[string]smtptest.Delivered{}
			for range 2 {
				d := s.Next()
				m, _ := smtptest.Parse(t, d.Data)
				byTeam[m.Header.Get("X-Kinetic-Team")] = d
			}
			b, p := byTeam["benefits"], byTeam["payroll"]
			if strings.Join(b.Rcpts, ",") != "benefits@corp.example,hr-ops@corp.example" || strings.Join(p.Rcpts, ",") != "payroll@corp.example" {
				t.Errorf("recipients: benefits %v, payroll %v", b.Rcpts, p.Rcpts)
			}
			if !p.TLS || p.Authed != "kinetic" || p.From != "offboarding@corp.example" {
				t.Errorf("payroll message: tls=%v authed=%q from=%q", p.TLS, p.Authed, p.From)
			}
			m, body := smtptest.Parse(t, p.Data)
			for h, want := range map[string]string{
				"Subject":                       "[KIN-17] Final pay: Dana Lee (E1003), last working day 2026-03-18",
				"Message-Id":                    "<kinetic-action-42.payroll@corp.example>",
				"X-Kinetic-Case":                "KIN-17",
				"X-Kinetic-Notice":              "final_pay",
				"X-Kinetic-Final-Pay-Date":      "2026-03-18",
				"X-Kinetic-Benefits-End-Date":   "2026-03-31",
				"X-Kinetic-Last-Working-Day":    "2026-03-18",
				"X-Kinetic-Leave-Payout":        "yes",
				"X-Kinetic-Continuation-Notice": "cobra",
				"To":                            "<payroll@corp.example>",
			} {
				if got := m.Header.Get(h); got != want {
					t.Errorf("%s: %q, want %q", h, got, want)
				}
			}
			if _, err := m.Header.Date(); err != nil {
				t.Errorf("Date header: %v", err)
			}
			for _, want := range []string{
				"Kinetic offboarding notice for the payroll team.",
				"Employee:                      Dana Lee",
				"Case:                          KIN-17",
				"Final pay date:                2026-03-18 (policy rule california-involuntary)",
				"Benefits end:                  2026-03-31 (policy rule united-states)",
				"Accrued leave paid out:        yes",
				"Continuation coverage notice:  cobra",
				"https://kinetic.corp.example/notices/ack?t=tok-payroll",
			} {
				if !strings.Contains(body, want) {
					t.Errorf("payroll body lacks %q:\n%s", want, body)
				}
			}
			_, bbody := smtptest.Parse(t, b.Data)
			if strings.Contains(bbody, "tok-payroll") || !strings.Contains(bbody, "in Kinetic (case KIN-17)") {
				t.Errorf("benefits body carries another team's link or no way to confirm:\n%s", bbody)
			}

			// The same notice again: nothing sent, already done.
			again, err := c.Do(context.Background(), finalPay())
			if err != nil || again.Outcome != connectors.OutcomeAlreadyDone {
				t.Fatalf("second Do: %+v, %v", again, err)
			}
			s.None()
		})
	}
}

func TestOnlyTheNamedTeams(t *testing.T) {
	s := smtptest.Start(t, false, false)
	c := newConn(t, testConfig(s, TLSStartTLS))
	req := finalPay()
	req.Params["teams"] = "payroll"
	if _, err := c.Do(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if d := s.Next(); d.Rcpts[0] != "payroll@corp.example" {
		t.Errorf("sent to %v", d.Rcpts)
	}
	s.None()
	req.Params["teams"] = "payroll,legal"
	_, err := c.Do(context.Background(), req)
	if connectors.KindOf(err) != connectors.KindInvalid || !strings.Contains(err.Error(), `team "legal" is not configured`) {
		t.Errorf("unknown team: %v", err)
	}
}

func TestHeaderInjectionFromHRIsFlattened(t *testing.T) {
	s := smtptest.Start(t, false, false)
	c := newConn(t, testConfig(s, TLSStartTLS))
	req := finalPay()
	req.Params["teams"] = "payroll"
	req.Subject.DisplayName = "Dana\r\nBcc: attacker@evil.example"
	if _, err := c.Do(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	d := s.Next()
	m, _ := smtptest.Parse(t, d.Data)
	if m.Header.Get("Bcc") != "" || len(d.Rcpts) != 1 {
		t.Errorf("header injected: Bcc %q, recipients %v", m.Header.Get("Bcc"), d.Rcpts)
	}
}

func TestServerRepliesAreClassified(t *testing.T) {
	for _, tc := range []struct {
		name  string
		code  int
		enh   smtp.EnhancedCode
		kind  connectors.Kind
		retry bool
	}{
		{"421 service not available", 421, smtp.EnhancedCode{4, 3, 2}, connectors.KindTransient, true},
		{"451 local error", 451, smtp.EnhancedCode{4, 3, 0}, connectors.KindTransient, true},
		{"450 4.7.x throttled", 450, smtp.EnhancedCode{4, 7, 1}, connectors.KindRateLimited, true},
		{"550 5.7.1 relay refused", 550, smtp.EnhancedCode{5, 7, 1}, connectors.KindForbidden, false},
		{"554 transaction failed", 554, smtp.EnhancedCode{5, 6, 0}, connectors.KindInvalid, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := smtptest.Start(t, false, false)
			c := newConn(t, testConfig(s, TLSStartTLS))
			s.FailData(tc.code, tc.enh, "refused for the test")
			req := finalPay()
			req.Params["teams"] = "payroll"
			_, err := c.Do(context.Background(), req)
			var ce *connectors.Error
			if !errors.As(err, &ce) || ce.Kind != tc.kind || ce.Retryable() != tc.retry || ce.Status != tc.code {
				t.Fatalf("error %v (%T), want kind %s status %d", err, err, tc.kind, tc.code)
			}
			if tc.retry {
				// The retry delivers: the notice is not lost.
				if _, err := c.Do(context.Background(), req); err != nil {
					t.Fatalf("retry: %v", err)
				}
				s.Next()
			}
		})
	}
	t.Run("535 bad credentials", func(t *testing.T) {
		s := smtptest.Start(t, false, false)
		s.SetFailAuth(true)
		c := newConn(t, testConfig(s, TLSStartTLS))
		_, err := c.Do(context.Background(), finalPay())
		if connectors.KindOf(err) != connectors.KindAuth || connectors.IsRetryable(err) {
			t.Fatalf("error %v, want auth", err)
		}
		if strings.Contains(err.Error(), testPassword) {
			t.Fatal("password in the error")
		}
		s.None()
	})
}

func TestOneTeamFailingKeepsTheOthers(t *testing.T) {
	s := smtptest.Start(t, false, false)
	c := newConn(t, testConfig(s, TLSStartTLS))
	s.FailData(451, smtp.EnhancedCode{4, 3, 0}, "try later") // benefits goes first
	res, err := c.Do(context.Background(), finalPay())
	if !connectors.IsRetryable(err) || !strings.Contains(err.Error(), "to benefits") {
		t.Fatalf("error %v, want a retryable one naming benefits", err)
	}
	if res.Data["message_id.payroll"] == "" || res.Data["message_id.benefits"] != "" {
		t.Errorf("partial data %v: payroll was served, benefits was not", res.Data)
	}
	if d := s.Next(); d.Rcpts[0] != "payroll@corp.example" {
		t.Errorf("delivered to %v", d.Rcpts)
	}
	// The retry sends benefits only.
	res, err = c.Do(context.Background(), finalPay())
	if err != nil || res.Outcome != connectors.OutcomeDone || res.Detail != "notice sent to benefits" {
		t.Fatalf("retry: %+v, %v", res, err)
	}
	if d := s.Next(); d.Rcpts[0] != "benefits@corp.example" {
		t.Errorf("retry delivered to %v", d.Rcpts)
	}
	s.None()
}

func TestUnreachableServerIsRetriedNeverLost(t *testing.T) {
	// A port nothing listens on: take one and close it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := smtptest.Start(t, false, false)
	cfg := testConfig(s, TLSStartTLS)
	cfg.Port = port
	c := newConn(t, cfg)
	req := finalPay()
	_, err = c.Do(context.Background(), req)
	if !connectors.IsRetryable(err) || connectors.KindOf(err) != connectors.KindTransient {
		t.Fatalf("unreachable server: %v, want a retryable transient error", err)
	}
	if strings.Contains(err.Error(), testPassword) {
		t.Fatal("password in the error")
	}
	// The mail server comes back (here: the action's retry reaches the
	// running one) and both teams get the notice.
	c.mail.SetPort(s.Port)
	res, err := c.Do(context.Background(), req)
	if err != nil || res.Outcome != connectors.OutcomeDone {
		t.Fatalf("retry: %+v, %v", res, err)
	}
	s.Next()
	s.Next()
}

func TestTLSIsNeverSkipped(t *testing.T) {
	t.Run("server without STARTTLS gets nothing", func(t *testing.T) {
		s := smtptest.Start(t, false, true)
		s.Srv.AllowInsecureAuth = true
		c := newConn(t, testConfig(s, TLSStartTLS))
		if _, err := c.Do(context.Background(), finalPay()); err == nil {
			t.Fatal("sent without TLS")
		}
		s.None()
	})
	t.Run("untrusted certificate is permanent", func(t *testing.T) {
		s := smtptest.Start(t, false, false)
		cfg := testConfig(s, TLSStartTLS)
		cfg.CAFile = ""
		c := newConn(t, cfg)
		_, err := c.Do(context.Background(), finalPay())
		if connectors.KindOf(err) != connectors.KindInvalid {
			t.Fatalf("error %v, want invalid (certificate)", err)
		}
		s.None()
	})
	t.Run("outbound policy refuses an internal server", func(t *testing.T) {
		s := smtptest.Start(t, false, false)
		c, err := New("mail", testConfig(s, TLSStartTLS), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Do(context.Background(), finalPay())
		if connectors.KindOf(err) != connectors.KindInvalid || !strings.Contains(err.Error(), "outbound") {
			t.Fatalf("error %v, want the outbound policy's refusal", err)
		}
		s.None()
	})
}

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		New: func(t *testing.T) connectors.Connector {
			s := smtptest.Start(t, false, false)
			c := newConn(t, testConfig(s, TLSStartTLS))
			servers.Store(c, s)
			return c
		},
		Present: dana,
		Missing: connectors.Subject{},
		Ops:     []connectors.Operation{connectors.OpNotify},
		Params:  map[connectors.Operation]map[string]string{connectors.OpNotify: finalPay().Params},
		InjectFailure: func(t *testing.T, c connectors.Connector, kind connectors.Kind) {
			v, _ := servers.Load(c)
			s := v.(*smtptest.Server)
			// The next connection is refused at AUTH, which both Lookup's
			// probe and Do's first send meet.
			switch kind {
			case connectors.KindTransient:
				s.FailNextAuth(421, smtp.EnhancedCode{4, 3, 2}, "try later")
			case connectors.KindRateLimited:
				s.FailNextAuth(421, smtp.EnhancedCode{4, 7, 0}, "slow down")
			case connectors.KindAuth:
				s.FailNextAuth(530, smtp.EnhancedCode{5, 7, 0}, "authentication required")
			case connectors.KindForbidden:
				s.FailNextAuth(554, smtp.EnhancedCode{5, 7, 1}, "not allowed")
			default:
				s.FailNextAuth(554, smtp.EnhancedCode{5, 5, 0}, "bad")
			}
			// Each injected failure is for a fresh notice (a sent one is
			// already done and would not reach the server).
			c.(*Connector).forgetSent()
		},
		// Slow points the connector at a server that accepts and never
		// greets, so a call is in flight until its context is cancelled.
		Slow: func(t *testing.T, c connectors.Connector) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			t.Cleanup(func() { ln.Close(); <-done })
			go func() {
				defer close(done)
				var conns []net.Conn
				defer func() {
					for _, c := range conns {
						c.Close()
					}
				}()
				for {
					conn, err := ln.Accept()
					if err != nil {
						return
					}
					conns = append(conns, conn)
				}
			}()
			c.(*Connector).mail.SetPort(ln.Addr().(*net.TCPAddr).Port)
		},
		Secrets: []string{testPassword},
	})
}

func TestConfigErrorsNameTheirKey(t *testing.T) {
	pw := secret.FromValue("x")
	ok := Config{Host: "smtp.corp.example", From: "k@corp.example", Teams: map[string][]string{"payroll": {"p@corp.example"}}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid block refused: %v", err)
	}
	for _, tc := range []struct {
		edit  func(c *Config)
		field string
	}{
		{func(c *Config) { c.Host = "" }, "host"},
		{func(c *Config) { c.Host = "smtp://smtp.corp.example:587" }, "host"},
		{func(c *Config) { c.Host = "0x7f000001" }, "host"},
		{func(c *Config) { c.Port = 70000 }, "port"},
		{func(c *Config) { c.TLS = "none" }, "tls"},
		{func(c *Config) { c.TLS = "ssl" }, "tls"},
		{func(c *Config) { c.Username = "kinetic" }, "password"},
		{func(c *Config) { c.Password = &pw }, "password"},
		{func(c *Config) { c.From = "" }, "from"},
		{func(c *Config) { c.From = "not an address" }, "from"},
		{func(c *Config) { c.Teams = nil }, "teams"},
		{func(c *Config) { c.Teams = map[string][]string{"payroll": nil} }, "teams.payroll"},
		{func(c *Config) { c.Teams = map[string][]string{"payroll": {"nope"}} }, "teams.payroll[0]"},
		{func(c *Config) { c.Teams = map[string][]string{"pay roll": {"p@corp.example"}} }, "teams.pay roll"},
	} {
		c := ok
		c.Teams = map[string][]string{"payroll": {"p@corp.example"}}
		tc.edit(&c)
		err := c.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%+v: error %v, want one at %s", c, err, tc.field)
		}
	}
	if p := (Config{TLS: TLSImplicit}).port(); p != 465 {
		t.Errorf("implicit default port %d", p)
	}
	if p := (Config{}).port(); p != 587 {
		t.Errorf("starttls default port %d", p)
	}
}

// servers maps each conformance connector to its SMTP server.
var servers sync.Map

// forgetSent clears the record of sent notices, as a restarted worker
// would have it.
func (c *Connector) forgetSent() {
	c.mu.Lock()
	c.sent = map[string]string{}
	c.mu.Unlock()
}
