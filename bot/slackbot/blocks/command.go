package blocks

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	txt "github.com/kineticsec/kinetic/internal/text"
)

// CommandKind says what a /offboard command asks for.
type CommandKind string

// Command kinds.
const (
	// CommandModal: no arguments; open OffboardModal.
	CommandModal CommandKind = "modal"
	// CommandOffboard: offboard the mentioned person.
	CommandOffboard CommandKind = "offboard"
	// CommandStatus: show the mentioned person's case.
	CommandStatus CommandKind = "status"
	// CommandCancel: cancel the mentioned person's open case.
	CommandCancel CommandKind = "cancel"
	// CommandRestore: ask for the mentioned person's last closed case to
	// be undone (a rehire, a case opened by mistake); Reason is required.
	CommandRestore CommandKind = "restore"
	// CommandHelp: show HelpText.
	CommandHelp CommandKind = "help"
)

// Command is a parsed /offboard command.
type Command struct {
	Kind CommandKind
	// UserID is the mentioned Slack user (offboard, status, cancel).
	UserID string
	// UserName is the name Slack put in the mention, if any: for messages
	// only, never to identify anyone.
	UserName string
	// Reason is the rest of the text (offboard, cancel), with Slack's
	// escaping undone; may be empty.
	Reason string
	// Now asks for an immediate start (--now).
	Now bool
	// Effective is the --effective wall time, nil when not given. The
	// caller applies the employee's zone (WallTime.In).
	Effective *WallTime
}

// WallTime is a local date and time of day without a zone.
type WallTime struct {
	Year   int
	Month  time.Month
	Day    int
	Hour   int
	Minute int
}

// In is the wall time in loc. A time skipped by a daylight-saving change
// moves forward as time.Date does (02:30 on a spring-forward night is
// 03:30).
func (w WallTime) In(loc *time.Location) time.Time {
	return time.Date(w.Year, w.Month, w.Day, w.Hour, w.Minute, 0, 0, loc)
}

// String is "2006-01-02 15:04".
func (w WallTime) String() string {
	return fmt.Sprintf("%04d-%02d-%02d %02d:%02d", w.Year, int(w.Month), w.Day, w.Hour, w.Minute)
}

// Errors from ParseCommand, wrapped with details; each reads well on its
// own in an ephemeral reply. Test with errors.Is.
var (
	// ErrUsage: the text is not one of the command's forms.
	ErrUsage = errors.New("that's not a form /offboard knows (try /offboard help)")
	// ErrNotAPerson: the mention is a channel, user group, @here or link.
	ErrNotAPerson = errors.New("not a person")
	// ErrUnlinkedMention: "@name" typed as plain text, which Slack did not
	// turn into a user.
	ErrUnlinkedMention = errors.New("mention a person with @ so Slack links it")
	// ErrBadDate: --effective is not YYYY-MM-DD [HH:MM].
	ErrBadDate = errors.New("use --effective YYYY-MM-DD or --effective YYYY-MM-DD HH:MM (24-hour)")
	// ErrReasonTooLong: the reason is longer than MaxReasonLen characters.
	ErrReasonTooLong = fmt.Errorf("the reason is at most %d characters", MaxReasonLen)
)

// MaxReasonLen is the most characters a reason (typed after the person, or
// in a form) may have.
const MaxReasonLen = maxReasonLen

// maxCommandLen bounds the text ParseCommand reads, in bytes: room for a
// mention, the options and a reason of MaxReasonLen characters of up to 4
// bytes each.
const maxCommandLen = 200 + 4*maxReasonLen

// ParseCommand parses the text of a /offboard slash command (sent with
// should_escape on, so mentions arrive as <@U123|name>). The forms are:
//
//	(empty)                                    open the offboard modal
//	help
//	@user [reason…]                            offboard at the policy's default time
//	@user --now [reason…]                      start immediately
//	@user --effective 2026-12-04 [17:00] [reason…]
//	status @user
//	cancel @user [reason…]
//	restore @user reason…
//
// Options may come anywhere after the person. The time defaults to 17:00;
// it is a wall time the caller places in the employee's zone. A mention of
// a channel or user group is ErrNotAPerson; a plain "@name" (not linked by
// Slack) is ErrUnlinkedMention. Dates are checked for shape and for being
// real days, not against the clock.
func ParseCommand(text string) (Command, error) {
	if len(text) > maxCommandLen {
		return Command{}, fmt.Errorf("%w: the text is too long (a reason may have at most %d characters)", ErrUsage, maxReasonLen)
	}
	if !utf8.ValidString(text) {
		return Command{}, fmt.Errorf("%w: the text is not valid UTF-8", ErrUsage)
	}
	toks := tokenize(text)
	if len(toks) == 0 {
		return Command{Kind: CommandModal}, nil
	}
	switch strings.ToLower(toks[0]) {
	case "help", "-h", "--help", "?":
		return Command{Kind: CommandHelp}, nil
	case "status":
		if len(toks) < 2 {
			return Command{}, fmt.Errorf("%w: say whose status, as in /offboard status @dana", ErrUsage)
		}
		id, name, err := mention(toks[1])
		if err != nil {
			return Command{}, err
		}
		if len(toks) > 2 {
			return Command{}, fmt.Errorf("%w: status takes one person and nothing else", ErrUsage)
		}
		return Command{Kind: CommandStatus, UserID: id, UserName: name}, nil
	case "cancel":
		if len(toks) < 2 {
			return Command{}, fmt.Errorf("%w: say whose offboarding to cancel, as in /offboard cancel @dana", ErrUsage)
		}
		id, name, err := mention(toks[1])
		if err != nil {
			return Command{}, err
		}
		reason, err := reasonOf(toks[2:])
		if err != nil {
			return Command{}, err
		}
		for _, t := range toks[2:] {
			if isOption(t) {
				return Command{}, fmt.Errorf("%w: cancel takes no options", ErrUsage)
			}
		}
		return Command{Kind: CommandCancel, UserID: id, UserName: name, Reason: reason}, nil
	case "restore":
		if len(toks) < 2 {
			return Command{}, fmt.Errorf("%w: say whose access to restore, as in /offboard restore @dana rehired", ErrUsage)
		}
		id, name, err := mention(toks[1])
		if err != nil {
			return Command{}, err
		}
		for _, t := range toks[2:] {
			if isOption(t) {
				return Command{}, fmt.Errorf("%w: restore takes no options", ErrUsage)
			}
		}
		reason, err := reasonOf(toks[2:])
		if err != nil {
			return Command{}, err
		}
		if strings.TrimSpace(reason) == "" {
			return Command{}, fmt.Errorf("%w: say why, as in /offboard restore @dana rehired", ErrUsage)
		}
		return Command{Kind: CommandRestore, UserID: id, UserName: name, Reason: reason}, nil
	}

	id, name, err := mention(toks[0])
	if err != nil {
		return Command{}, err
	}
	cmd := Command{Kind: CommandOffboard, UserID: id, UserName: name}
	var rest []string
	for i := 1; i < len(toks); i++ {
		t := dashes(toks[i])
		opt, val, hasVal := strings.Cut(t, "=")
		switch {
		case opt == "--now" && !hasVal:
			cmd.Now = true
		case opt == "--effective":
			if cmd.Effective != nil {
				return Command{}, fmt.Errorf("%w: --effective given twice", ErrUsage)
			}
			if !hasVal {
				if i+1 >= len(toks) {
					return Command{}, fmt.Errorf("%w: --effective needs a date", ErrBadDate)
				}
				i++
				val = toks[i]
			}
			w, err := parseDate(val)
			if err != nil {
				return Command{}, err
			}
			w.Hour, w.Minute, _ = parseClock(DefaultTime)
			if i+1 < len(toks) && looksLikeClock(toks[i+1]) {
				i++
				if w.Hour, w.Minute, err = parseClock(toks[i]); err != nil {
					return Command{}, err
				}
			}
			cmd.Effective = &w
		case isOption(t):
			return Command{}, fmt.Errorf("%w: unknown option %s", ErrUsage, txt.Fit(oneLine(toks[i]), 40))
		default:
			rest = append(rest, toks[i])
		}
	}
	if cmd.Now && cmd.Effective != nil {
		return Command{}, fmt.Errorf("%w: use --now or --effective, not both", ErrUsage)
	}
	if cmd.Reason, err = reasonOf(rest); err != nil {
		return Command{}, err
	}
	return cmd, nil
}

// tokenize splits on white space, keeping Slack's <…> markup (whose label
// may hold spaces, as in <@U123|Dana Whitfield>) as one token.
func tokenize(s string) []string {
	var toks []string
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if unicode.IsSpace(r) {
			i += n
			continue
		}
		j := i
		if s[i] == '<' {
			if k := strings.IndexByte(s[i:], '>'); k > 0 {
				j = i + k + 1
				toks = append(toks, s[i:j])
				i = j
				continue
			}
		}
		for j < len(s) {
			r, n := utf8.DecodeRuneInString(s[j:])
			if unicode.IsSpace(r) {
				break
			}
			j += n
		}
		toks = append(toks, s[i:j])
		i = j
	}
	return toks
}

// dashes undoes the "smart dashes" some keyboards and clients put in for
// "--" (an em or en dash).
func dashes(t string) string {
	for _, d := range []string{"\u2014", "\u2013"} {
		if strings.HasPrefix(t, d) {
			return "--" + strings.TrimPrefix(t, d)
		}
	}
	return t
}

// isOption: "--x", "—x", or "-x" with a letter after the dash.
func isOption(t string) bool {
	t = dashes(t)
	if strings.HasPrefix(t, "--") && len(t) > 2 {
		return true
	}
	if len(t) > 1 && t[0] == '-' {
		r, _ := utf8.DecodeRuneInString(t[1:])
		return unicode.IsLetter(r)
	}
	return false
}

// slackUserID reports whether s looks like a Slack user id (U… or W…, upper
// case letters and digits).
func slackUserID(s string) bool {
	if len(s) < 3 || len(s) > 32 || (s[0] != 'U' && s[0] != 'W') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// mention reads a token that must name one person.
func mention(t string) (id, name string, err error) {
	switch {
	case strings.HasPrefix(t, "<@") && strings.HasSuffix(t, ">"):
		id, name, _ = strings.Cut(t[2:len(t)-1], "|")
		if !slackUserID(id) {
			return "", "", fmt.Errorf("%w: %s is not a user mention", ErrNotAPerson, txt.Fit(oneLine(t), 60))
		}
		return id, strings.TrimPrefix(name, "@"), nil
	case strings.HasPrefix(t, "<#"):
		return "", "", fmt.Errorf("%w: %s is a channel; mention a person with @", ErrNotAPerson, markupText(t))
	case strings.HasPrefix(t, "<!subteam^"):
		return "", "", fmt.Errorf("%w: %s is a user group; offboard one person at a time", ErrNotAPerson, markupText(t))
	case strings.HasPrefix(t, "<!"):
		return "", "", fmt.Errorf("%w: %s is not one person", ErrNotAPerson, markupText(t))
	case strings.HasPrefix(t, "<") && strings.HasSuffix(t, ">"):
		return "", "", fmt.Errorf("%w: %s is a link; mention a person with @", ErrNotAPerson, markupText(t))
	case strings.HasPrefix(t, "@") || strings.HasPrefix(t, "＠"):
		return "", "", fmt.Errorf("%w (%s is plain text: pick the person from the list as you type)", ErrUnlinkedMention, txt.Fit(oneLine(t), 60))
	}
	return "", "", fmt.Errorf("%w: start with the person, as in /offboard @dana", ErrUsage)
}

// markupText is what people see for Slack markup: <#C1|general> →
// #general, <!subteam^S1|@eng> → @eng, <!here> → @here, <http://x|y> → y.
func markupText(t string) string {
	inner := strings.TrimSuffix(strings.TrimPrefix(t, "<"), ">")
	ref, label, hasLabel := strings.Cut(inner, "|")
	switch {
	case hasLabel && strings.HasPrefix(ref, "#"):
		label = "#" + strings.TrimPrefix(label, "#")
	case hasLabel:
	case strings.HasPrefix(ref, "!"):
		label = "@" + strings.TrimPrefix(ref, "!")
	default:
		label = ref
	}
	return txt.Fit(oneLine(unescape(label)), 60)
}

// unescape undoes Slack's escaping of &, < and > in message text.
func unescape(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

// reasonOf joins the reason words, refusing a second person (offboard one
// at a time) and turning other markup into its text.
func reasonOf(toks []string) (string, error) {
	words := make([]string, 0, len(toks))
	for _, t := range toks {
		switch {
		case strings.HasPrefix(t, "<@") && strings.HasSuffix(t, ">"):
			return "", fmt.Errorf("%w: offboard one person at a time", ErrUsage)
		case strings.HasPrefix(t, "<") && strings.HasSuffix(t, ">"):
			words = append(words, markupText(t))
		default:
			words = append(words, unescape(t))
		}
	}
	r := oneLine(strings.Join(words, " "))
	if n := utf8.RuneCountInString(r); n > maxReasonLen {
		return "", fmt.Errorf("%w (yours has %d)", ErrReasonTooLong, n)
	}
	return r, nil
}

// parseDate reads YYYY-MM-DD, a real calendar day.
func parseDate(s string) (WallTime, error) {
	if len(s) != len("2006-01-02") || s[4] != '-' || s[7] != '-' {
		return WallTime{}, fmt.Errorf("%w (got %q)", ErrBadDate, txt.Fit(oneLine(s), 40))
	}
	y, err1 := digits(s[0:4])
	m, err2 := digits(s[5:7])
	d, err3 := digits(s[8:10])
	if err1 != nil || err2 != nil || err3 != nil || y < 2000 || m < 1 || m > 12 || d < 1 ||
		d > time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day() {
		return WallTime{}, fmt.Errorf("%w (%q is not a date)", ErrBadDate, s)
	}
	return WallTime{Year: y, Month: time.Month(m), Day: d}, nil
}

// looksLikeClock: the token after a date is a time when it has a colon
// between digits ("17:00", "9:30").
func looksLikeClock(t string) bool {
	h, m, ok := strings.Cut(t, ":")
	return ok && h != "" && m != "" && h[0] >= '0' && h[0] <= '9' && m[0] >= '0' && m[0] <= '9'
}

// parseClock reads H:MM or HH:MM, 24-hour, 00:00 to 23:59.
func parseClock(s string) (hour, minute int, err error) {
	h, m, ok := strings.Cut(s, ":")
	if ok && (len(h) == 1 || len(h) == 2) && len(m) == 2 {
		hour, err1 := digits(h)
		minute, err2 := digits(m)
		if err1 == nil && err2 == nil && hour < 24 && minute < 60 {
			return hour, minute, nil
		}
	}
	return 0, 0, fmt.Errorf("%w (%q is not a 24-hour time)", ErrBadDate, txt.Fit(oneLine(s), 20))
}

// digits parses ASCII digits only (no sign, no spaces).
func digits(s string) (int, error) {
	if s == "" {
		return 0, strconv.ErrSyntax
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, strconv.ErrSyntax
		}
	}
	return strconv.Atoi(s)
}

// HelpText is the reply to /offboard help (mrkdwn). Its example date is a
// week after now, so it is never in the past.
func HelpText(now time.Time) string {
	example := now.AddDate(0, 0, 7).Format(time.DateOnly)
	return strings.Join([]string{
		"*Offboard someone with Kinetic*",
		"`/offboard` — open a form to fill in.",
		"`/offboard @user [reason]` — offboard someone: Kinetic shows you the plan, and nothing runs until you confirm it.",
		"`/offboard @user --now [reason]` — start revoking access immediately (an involuntary departure).",
		"`/offboard @user --effective " + example + " 17:00 [reason]` — start at that date and time in their time zone (the time is optional; 24-hour, default 17:00).",
		"`/offboard status @user` — show their offboarding.",
		"`/offboard cancel @user [reason]` — cancel their offboarding before it finishes.",
		"`/offboard restore @user reason` — ask to undo their last closed offboarding (a rehire, a mistake); its approvers decide.",
		"`/offboard help` — this message.",
		"Pick the person from the list as you type `@`, so Slack links them. Only their manager, HR or an admin can offboard someone.",
	}, "\n")
}
