package blocks

import (
	"cmp"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	txt "github.com/kineticsec/kinetic/internal/text"
	"github.com/kineticsec/kinetic/store"
)

// Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks and
// the pages of each block, element and view).
const (
	maxMessageBlocks = 50
	maxViewBlocks    = 100
	maxSectionText   = 3000
	maxFieldText     = 2000
	maxFields        = 10
	maxHeaderText    = 150
	maxButtonText    = 75
	maxContextElems  = 10
	maxModalTitle    = 24
	maxOptionText    = 75
	// maxMessageChars keeps a message's text well below the point where
	// Slack answers msg_blocks_too_long (reported near 13,000 characters in
	// total, below the documented per-block limits).
	maxMessageChars = 11000
)

// esc escapes the three characters Slack's mrkdwn treats as markup, so data
// can never become a mention, a channel link or a URL.
func esc(s string) string {
	if !strings.ContainsAny(s, "&<>") {
		return s
	}
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	return r.Replace(s)
}

// oneLine is outside data fit for one line (text.DataLine).
func oneLine(s string) string { return txt.DataLine(s) }

// blank reports whether outside text shows as nothing.
func blank(s string) bool { return oneLine(s) == "" }

// data renders a value from outside for mrkdwn: one line, clipped to n
// runes, escaped.
func data(s string, n int) string { return esc(txt.Fit(oneLine(s), n)) }

// para renders free text from outside (a reason, a summary) for mrkdwn,
// keeping its line breaks.
func para(s string, n int) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	for i, l := range lines {
		lines[i] = oneLine(l)
	}
	return localTimes(esc(txt.Fit(strings.TrimSpace(strings.Join(lines, "\n")), n)))
}

// rfc3339 matches a timestamp as the engine writes it into details and
// summaries ("due 2026-12-07T03:15:50Z").
var rfc3339 = regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})`)

// maxLocalTimes bounds the timestamps of one text shown in each viewer's
// zone (each token is longer than the timestamp it replaces).
const maxLocalTimes = 8

// localTimes shows the RFC 3339 timestamps in escaped text in each
// viewer's own zone (when's Slack date token, built from the parsed time,
// never from the text); past maxLocalTimes, or unparsable, they stay.
func localTimes(s string) string {
	n := 0
	return rfc3339.ReplaceAllStringFunc(s, func(m string) string {
		t, err := time.Parse(time.RFC3339Nano, m)
		if err != nil || n >= maxLocalTimes {
			return m
		}
		n++
		return when(t)
	})
}

// code renders text for a code block: backticks would end it early.
func code(s string, n int) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), "```", "'''")
	return "```" + esc(txt.Fit(s, n)) + "```"
}

// fitRunes cuts text that is already escaped mrkdwn to at most n runes
// without splitting an entity such as &amp;.
func fitRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	s = txt.Fit(s, n)
	s = strings.TrimSuffix(s, "…")
	if amp := strings.LastIndexByte(s, '&'); amp >= 0 && amp >= len(s)-5 && !strings.Contains(s[amp:], ";") {
		s = s[:amp]
	}
	return s + "…"
}

func mdText(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, fitRunes(s, maxSectionText), false, false)
}

func plainText(s string, n int) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, txt.Fit(oneLine(s), n), true, false)
}

func section(s string) *slack.SectionBlock {
	return slack.NewSectionBlock(mdText(s), nil, nil)
}

// fieldsSection builds a section of two-column fields ("*Label*\nvalue"),
// dropping empty values, at most maxFields.
func fieldsSection(kv ...string) slack.Block {
	var fs []*slack.TextBlockObject
	for i := 0; i+1 < len(kv) && len(fs) < maxFields; i += 2 {
		if kv[i+1] == "" {
			continue
		}
		fs = append(fs, slack.NewTextBlockObject(slack.MarkdownType, fitRunes("*"+kv[i]+"*\n"+kv[i+1], maxFieldText), false, false))
	}
	if len(fs) == 0 {
		return nil
	}
	return slack.NewSectionBlock(nil, fs, nil)
}

func header(s string) *slack.HeaderBlock {
	return slack.NewHeaderBlock(plainText(s, maxHeaderText))
}

func ctxBlock(parts ...string) slack.Block {
	var els []slack.MixedElement
	for _, p := range parts {
		if p == "" || len(els) == maxContextElems {
			continue
		}
		els = append(els, slack.NewTextBlockObject(slack.MarkdownType, fitRunes(p, maxSectionText), false, false))
	}
	if len(els) == 0 {
		return nil
	}
	return slack.NewContextBlock("", els...)
}

func button(actionID, value, label string, style slack.Style) *slack.ButtonBlockElement {
	b := slack.NewButtonBlockElement(actionID, value, plainText(label, maxButtonText))
	b.Style = style
	return b
}

func confirm(title, text, yes, no string) *slack.ConfirmationBlockObject {
	return slack.NewConfirmationBlockObject(plainText(title, 100), slack.NewTextBlockObject(slack.MarkdownType, fitRunes(text, 300), false, false),
		plainText(yes, 30), plainText(no, 30))
}

// sections packs lines into as few section blocks as fit maxSectionText
// each; a line longer than that on its own is cut.
func sections(lines []string) []slack.Block {
	var out []slack.Block
	var cur strings.Builder
	curLen := 0
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, section(cur.String()))
			cur.Reset()
			curLen = 0
		}
	}
	for _, l := range lines {
		l = fitRunes(l, maxSectionText)
		n := utf8.RuneCountInString(l)
		if curLen > 0 && curLen+1+n > maxSectionText {
			flush()
		}
		if curLen > 0 {
			cur.WriteByte('\n')
			curLen++
		}
		cur.WriteString(l)
		curLen += n
	}
	flush()
	return out
}

// textLen counts the characters of text a message's blocks carry, for the
// overall budget (maxMessageChars).
func textLen(bs []slack.Block) int {
	n := 0
	add := func(t *slack.TextBlockObject) {
		if t != nil {
			n += utf8.RuneCountInString(t.Text)
		}
	}
	for _, b := range bs {
		switch b := b.(type) {
		case *slack.SectionBlock:
			add(b.Text)
			for _, f := range b.Fields {
				add(f)
			}
		case *slack.HeaderBlock:
			add(b.Text)
		case *slack.ContextBlock:
			for _, e := range b.ContextElements.Elements {
				if t, ok := e.(*slack.TextBlockObject); ok {
					add(t)
				}
			}
		case *slack.ActionBlock:
			n += 100 * len(b.Elements.ElementSet)
		}
	}
	return n
}

// utc formats a time for people in UTC: "2026-12-04 17:00 UTC".
func utc(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") + " UTC" }

// span formats a duration coarsely for people: "2d 3h", "3h 5m", "12m",
// "less than a minute".
func span(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	d = d.Truncate(time.Minute)
	days, hours, mins := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case days > 0 && hours > 0:
		return fmt.Sprintf("%dd %dh", days, hours)
	case days > 0:
		return fmt.Sprintf("%dd", days)
	case hours > 0 && mins > 0:
		return fmt.Sprintf("%dh %dm", hours, mins)
	case hours > 0:
		return fmt.Sprintf("%dh", hours)
	case mins > 0:
		return fmt.Sprintf("%dm", mins)
	}
	return "less than a minute"
}

// relative says when t is from now: "in 3h", "12m ago", "now".
func relative(t, now time.Time) string {
	d := t.Sub(now)
	switch {
	case d > -time.Minute && d < time.Minute:
		return "now"
	case d > 0:
		return "in " + span(d)
	}
	return span(d) + " ago"
}

// who names a person from an HR id, by display name when known.
func who(id string, names map[string]string) string {
	if n := names[id]; n != "" {
		return n
	}
	if id == "" {
		return "unknown"
	}
	return id
}

// hashPrefix shortens a hash for display.
func hashPrefix(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// fallback prepares a message's plain-text fallback: Slack reads the
// top-level text as mrkdwn too (a <!channel> there would notify the
// channel), so it is escaped, on one line and short.
func fallback(s string) string { return esc(txt.Fit(oneLine(s), 1000)) }

// fit keeps a message within maxMessageBlocks and maxMessageChars: head
// and tail stay whole, body loses blocks from its end, and a note says so.
func fit(head, body, tail []slack.Block) []slack.Block {
	room := maxMessageBlocks - len(head) - len(tail)
	chars := maxMessageChars - textLen(head) - textLen(tail)
	if len(body) > room || textLen(body) > chars {
		note := section("_Not everything fits in one message; the rest is left out._")
		for len(body) > 0 && (len(body) > room-1 || textLen(body) > chars-textLen([]slack.Block{note})) {
			body = body[:len(body)-1]
		}
		body = append(body, note)
	}
	out := make([]slack.Block, 0, len(head)+len(body)+len(tail))
	return append(append(append(out, head...), body...), tail...)
}

// add appends the blocks that are not nil.
func add(bs []slack.Block, more ...slack.Block) []slack.Block {
	for _, b := range more {
		if b != nil {
			bs = append(bs, b)
		}
	}
	return bs
}

// counted is "1 word" or "N words".
func counted(n int, word string) string {
	return fmt.Sprintf("%d %s", n, txt.Plural(n, word))
}

// when renders a time with Slack's date formatting, so each viewer sees it
// in their own zone, by their own clock: Slack renders it as "Dec 14, 2026
// 11:00 AM" ("today", "yesterday" or "tomorrow" for the date when it is
// one of those). Clients that cannot render it show the fallback, in UTC. Use it
// in mrkdwn only; plain-text fields and fallback texts use utc.
func when(t time.Time) string {
	return slackDate(t, "{date_short_pretty} {time}", utc(t))
}

// day is when without the time of day: "Jan 6, 2027" in the viewer's zone.
func day(t time.Time) string {
	return slackDate(t, "{date_short_pretty}", t.UTC().Format("Jan 2, 2006"))
}

// slackDate is Slack's <!date^UNIX^FORMAT|FALLBACK> token.
func slackDate(t time.Time, format, fb string) string {
	return fmt.Sprintf("<!date^%d^%s|%s>", t.Unix(), format, esc(strings.NewReplacer("|", "/", "^", " ").Replace(fb)))
}

// localTime states a time in a person's own zone, for where it matters
// (an employee's last day): "Mon Dec 14, 17:00 Lagos time (WAT)". It is
// "" when the zone is unknown (nil) or UTC, where when says it all.
func localTime(t time.Time, loc *time.Location) string {
	if loc == nil || loc == time.UTC || loc.String() == "UTC" || loc.String() == "Local" {
		return ""
	}
	lt := t.In(loc)
	abbr := lt.Format("MST")
	if strings.HasPrefix(abbr, "+") || strings.HasPrefix(abbr, "-") {
		abbr = "UTC" + abbr
	}
	if city := zoneCity(loc); city != "" {
		return lt.Format("Mon Jan 2, 15:04") + " " + city + " time (" + abbr + ")"
	}
	return lt.Format("Mon Jan 2, 15:04") + " (" + abbr + ")"
}

// zoneCity is the city of an IANA zone name: "America/New_York" is "New
// York".
func zoneCity(loc *time.Location) string {
	name := loc.String()
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	return strings.ReplaceAll(name, "_", " ")
}

// person names someone for mrkdwn by display name with the HR id, which
// an auditor matches against the audit trail: "Mia Manager (E0002)"; just
// the id when the name is unknown.
func person(id string, names map[string]string) string {
	n := who(id, names)
	if id == "" || n == id || blank(n) {
		return data(cmp.Or(id, "unknown"), 80)
	}
	return data(n, 80) + " (" + data(id, 40) + ")"
}

// actionTitle is an action as people know it: the policy's description
// ("Block Microsoft 365 sign-in"), else its catalog name.
func actionTitle(a store.Action) string {
	if !blank(a.Description) {
		return a.Description
	}
	return a.Name
}
