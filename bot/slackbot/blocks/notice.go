package blocks

import (
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/kineticsec/kinetic/store"
)

// A notice to a receiving team (payroll, benefits) in Slack: the card
// posted to the team's route with the notice's dates and an Acknowledge
// button (its value the notice, NoticeValue); after the acknowledgement
// the same card is replaced by one that says who acknowledged, without
// the button. The engine authorizes every click (members of the approver
// group named like the team, never the departing person).

// ActionAckNotice is the Acknowledge button's action id.
const ActionAckNotice = "kinetic.notice.acknowledge"

// noticeDateLines are the dates a notice card shows, in order, with
// their labels and the params key of the rule that decided each.
var noticeDateLines = []struct{ key, label, rule string }{
	{"last_working_day", "Last working day", ""},
	{"final_pay_date", "Final pay date", "final_pay_rule"},
	{"leave_payout", "Accrued leave paid out", ""},
	{"benefits_end_date", "Benefits end", "benefits_end_rule"},
	{"continuation_notice", "Continuation coverage notice", ""},
}

// NoticeCard builds the card of notice n about person's offboarding:
// the team, how it was sent and to whom, its dates (from the engine's
// NoticeDates; none when nil) and, while it is unacknowledged and buttons
// is set, Acknowledge; once acknowledged, by whom and when. mention, a
// Slack user group id, is mentioned first.
func NoticeCard(n store.Notice, person string, dates map[string]string, buttons bool, mention string) ([]slack.Block, string) {
	state := "*awaiting acknowledgement*"
	if !n.Open() {
		state = ":white_check_mark: *acknowledged*"
	}
	head := fmt.Sprintf(":envelope: Notice to *%s* about *%s*'s offboarding — %s", data(n.Team, 60), data(person, 100), state)
	bs := []slack.Block{section(head)}
	var lines []string
	for _, l := range noticeDateLines {
		v := dates[l.key]
		if v == "" {
			continue
		}
		line := "• " + l.label + ": *" + data(v, 40) + "*"
		if r := dates[l.rule]; l.rule != "" && r != "" {
			line += " (" + data(r, 60) + ")"
		}
		lines = append(lines, line)
	}
	if len(lines) > 0 {
		bs = append(bs, section(strings.Join(lines, "\n")))
	}
	if !n.Open() && n.AcknowledgedAt != nil {
		bs = append(bs, section(fmt.Sprintf("Acknowledged by %s (%s) %s", data(n.AcknowledgedBy, 80), data(n.AcknowledgedHow, 20), when(*n.AcknowledgedAt))))
	}
	var els []slack.BlockElement
	if buttons && n.Open() {
		els = append(els, button(ActionAckNotice, NoticeValue(n.ID), "Acknowledge", slack.StylePrimary))
	}
	els = append(els, button(ActionOpenCase, CaseValue(n.CaseID), "Open case", ""))
	bs = append(bs, slack.NewActionBlock("", els...))
	sent := "sent by " + data(n.Channel, 20)
	if n.Recipients != "" {
		sent += " to " + data(strings.ReplaceAll(n.Recipients, ",", ", "), 160)
	}
	bs = add(bs, ctxBlock(fmt.Sprintf("Case %d · notice %d · %s %s", n.CaseID, n.ID, sent, when(n.SentAt))))
	word := "awaiting acknowledgement"
	if !n.Open() {
		word = "acknowledged"
	}
	text := fallback(fmt.Sprintf("Notice to %s about %s's offboarding: %s (case %d)", oneLine(n.Team), oneLine(person), word, n.CaseID))
	if m := subteamMention(mention); m != "" {
		bs = append([]slack.Block{section(m)}, bs...)
		text = m + " " + text
	}
	return bs, text
}

// NoticeDateLine is one date a notice card shows: its label, its value
// and the rule that decided it ("" when none).
type NoticeDateLine struct{ Label, Value, Rule string }

// NoticeDateLines are the dates a notice card shows, in order, from the
// engine's NoticeDates (the Teams card shows the same).
func NoticeDateLines(dates map[string]string) []NoticeDateLine {
	var out []NoticeDateLine
	for _, l := range noticeDateLines {
		if v := dates[l.key]; v != "" {
			line := NoticeDateLine{Label: l.label, Value: v}
			if l.rule != "" {
				line.Rule = dates[l.rule]
			}
			out = append(out, line)
		}
	}
	return out
}
