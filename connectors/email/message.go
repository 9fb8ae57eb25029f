package email

import (
	"fmt"
	"strings"

	gomail "github.com/wneessen/go-mail"

	"github.com/kineticsec/kinetic/connectors"
)

// Templates: the notice's kind (the action's params.template).
const (
	TemplateFinalPay = "final_pay"
	TemplateBenefits = "benefits"
)

// dateLines are the notice parameters shown in the body, in order, with
// their labels and the header that repeats them for machine readers.
var dateLines = []struct{ key, label, header, rule string }{
	{"last_working_day", "Last working day", "X-Kinetic-Last-Working-Day", ""},
	{"final_pay_date", "Final pay date", "X-Kinetic-Final-Pay-Date", "final_pay_rule"},
	{"leave_payout", "Accrued leave paid out", "X-Kinetic-Leave-Payout", ""},
	{"benefits_end_date", "Benefits end", "X-Kinetic-Benefits-End-Date", "benefits_end_rule"},
	{"continuation_notice", "Continuation coverage notice", "X-Kinetic-Continuation-Notice", ""},
}

// caseRef is the case reference the subject, a header and the body carry.
func caseRef(req connectors.Request) string {
	if r := strings.TrimSpace(req.Params["case_reference"]); r != "" {
		return r
	}
	return req.IdempotencyKey
}

// MessageID returns the Message-ID (without angle brackets) of the notice
// for an idempotency key and team: the same for every resend.
func MessageID(idempotencyKey, team, domain string) string {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' {
				return r
			}
			return '_'
		}, s)
	}
	return clean(idempotencyKey) + "." + clean(team) + "@" + domain
}

// message builds the notice for one team and returns it with its
// Message-ID.
func (c *Connector) message(req connectors.Request, team string) (*gomail.Msg, string, error) {
	p := req.Params
	s := req.Subject
	m := gomail.NewMsg()
	if err := m.FromFormat(c.from.Name, c.from.Address); err != nil {
		return nil, "", fmt.Errorf("from: %w", err)
	}
	if err := m.To(c.cfg.Teams[team]...); err != nil {
		return nil, "", fmt.Errorf("teams.%s: %w", team, err)
	}
	ref := caseRef(req)
	who := s.DisplayName
	if who == "" {
		who = s.Email
	}
	kind := "Offboarding notice"
	switch p["template"] {
	case TemplateFinalPay:
		kind = "Final pay"
	case TemplateBenefits:
		kind = "Benefits end"
	}
	subject := fmt.Sprintf("[%s] %s: %s (%s)", ref, kind, oneLine(who), oneLine(s.EmployeeID))
	if d := p["last_working_day"]; d != "" {
		subject += ", last working day " + oneLine(d)
	}
	m.Subject(subject)
	mid := MessageID(req.IdempotencyKey, team, c.domain)
	m.SetMessageIDWithValue(mid)
	m.SetDate()
	m.SetGenHeader("X-Kinetic-Case", oneLine(ref))
	m.SetGenHeader("X-Kinetic-Team", team)
	if t := p["template"]; t != "" {
		m.SetGenHeader("X-Kinetic-Notice", oneLine(t))
	}

	var b strings.Builder
	fmt.Fprintf(&b, "Kinetic offboarding notice for the %s team.\n\n", team)
	fmt.Fprintf(&b, "%-30s %s\n", "Employee:", oneLine(who))
	fmt.Fprintf(&b, "%-30s %s\n", "HR id:", oneLine(s.EmployeeID))
	if s.Email != "" {
		fmt.Fprintf(&b, "%-30s %s\n", "Work email:", oneLine(s.Email))
	}
	fmt.Fprintf(&b, "%-30s %s\n", "Case:", oneLine(ref))
	for _, l := range dateLines {
		v, ok := p[l.key]
		if !ok {
			continue
		}
		if v == "" {
			v = "none"
		}
		m.SetGenHeader(gomail.Header(l.header), oneLine(v))
		if r := p[l.rule]; l.rule != "" && r != "" {
			v += " (policy rule " + oneLine(r) + ")"
		}
		fmt.Fprintf(&b, "%-30s %s\n", l.label+":", oneLine(v))
	}
	if note := strings.TrimSpace(p["note"]); note != "" {
		fmt.Fprintf(&b, "\n%s\n", note)
	}
	if link := p["ack_url."+team]; link != "" {
		fmt.Fprintf(&b, "\nPlease confirm that the %s team has this notice:\n%s\n(the link opens a confirmation page; it works once, for the %s team's addresses, until it expires)\n", team, link, team)
	} else {
		fmt.Fprintf(&b, "\nPlease confirm that the %s team has this notice in Kinetic (case %s); a reply to this message is not a confirmation.\n", team, oneLine(ref))
	}
	m.SetBodyString(gomail.TypeTextPlain, b.String())
	return m, mid, nil
}

// oneLine keeps a value from HR or policy on one line (no header or body
// line injection).
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
