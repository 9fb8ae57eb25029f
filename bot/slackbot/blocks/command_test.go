package blocks

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func wall(y int, m time.Month, d, h, min int) *WallTime {
	return &WallTime{Year: y, Month: m, Day: d, Hour: h, Minute: min}
}

func TestParseCommand(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Command
	}{
		{"empty opens the modal", "", Command{Kind: CommandModal}},
		{"blank opens the modal", "  \t ", Command{Kind: CommandModal}},
		{"help", "help", Command{Kind: CommandHelp}},
		{"help in any case", "HELP me", Command{Kind: CommandHelp}},
		{"mention with reason", "<@U123ABC|dana> leaving for a competitor",
			Command{Kind: CommandOffboard, UserID: "U123ABC", UserName: "dana", Reason: "leaving for a competitor"}},
		{"name with spaces", "<@U123ABC|Dana Whitfield> --now",
			Command{Kind: CommandOffboard, UserID: "U123ABC", UserName: "Dana Whitfield", Now: true}},
		{"mention without name", "<@W0ABC12>", Command{Kind: CommandOffboard, UserID: "W0ABC12"}},
		{"effective with time and reason", "<@U123ABC> --effective 2026-12-04 17:00 end of contract",
			Command{Kind: CommandOffboard, UserID: "U123ABC", Effective: wall(2026, 12, 4, 17, 0), Reason: "end of contract"}},
		{"effective date only defaults to 17:00", "<@U123ABC> --effective 2026-12-04",
			Command{Kind: CommandOffboard, UserID: "U123ABC", Effective: wall(2026, 12, 4, 17, 0)}},
		{"effective with equals and short hour", "<@U123ABC> --effective=2026-12-04 9:30 bye",
			Command{Kind: CommandOffboard, UserID: "U123ABC", Effective: wall(2026, 12, 4, 9, 30), Reason: "bye"}},
		{"options after the reason", "<@U123ABC> contract ended --now",
			Command{Kind: CommandOffboard, UserID: "U123ABC", Reason: "contract ended", Now: true}},
		{"smart dashes", "<@U123ABC> \u2014now", Command{Kind: CommandOffboard, UserID: "U123ABC", Now: true}},
		{"leap day", "<@U123ABC> --effective 2028-02-29 00:00",
			Command{Kind: CommandOffboard, UserID: "U123ABC", Effective: wall(2028, 2, 29, 0, 0)}},
		{"slack escaping undone in the reason", "<@U123ABC> R&amp;D &lt;reorg&gt; see <https://wiki.example/x|the wiki> in <#C1|hr>",
			Command{Kind: CommandOffboard, UserID: "U123ABC", Reason: "R&D <reorg> see the wiki in #hr"}},
		{"status", "status <@U123ABC|dana>", Command{Kind: CommandStatus, UserID: "U123ABC", UserName: "dana"}},
		{"status in any case", "Status <@U123ABC>", Command{Kind: CommandStatus, UserID: "U123ABC"}},
		{"cancel", "cancel <@U123ABC>", Command{Kind: CommandCancel, UserID: "U123ABC"}},
		{"cancel with reason", "cancel <@U123ABC> wrong person", Command{Kind: CommandCancel, UserID: "U123ABC", Reason: "wrong person"}},
		{"restore with reason", "restore <@U123ABC> rehired in March", Command{Kind: CommandRestore, UserID: "U123ABC", Reason: "rehired in March"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCommand(tc.in)
			if err != nil {
				t.Fatalf("ParseCommand(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseCommand(%q)\n got %+v\nwant %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseCommandErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     error
		says     string
	}{
		{"plain @name is not linked", "@dana leaving", ErrUnlinkedMention, "mention a person with @ so Slack links it"},
		{"plain name", "dana leaving", ErrUsage, "start with the person"},
		{"channel", "<#C123|general> bye", ErrNotAPerson, "#general is a channel"},
		{"user group", "<!subteam^S123|@eng> bye", ErrNotAPerson, "@eng is a user group"},
		{"here", "<!here>", ErrNotAPerson, "@here is not one person"},
		{"link", "<mailto:dana@example.com|dana@example.com>", ErrNotAPerson, "is a link"},
		{"malformed user mention", "<@dana>", ErrNotAPerson, "not a user mention"},
		{"lower-case id", "<@u123>", ErrNotAPerson, "not a user mention"},
		{"unclosed mention", "<@U123ABC", ErrUsage, ""},
		{"two people", "<@U1AB> <@U2AB>", ErrUsage, "one person at a time"},
		{"now and effective", "<@U123ABC> --now --effective 2026-12-04", ErrUsage, "not both"},
		{"effective twice", "<@U123ABC> --effective 2026-12-04 --effective 2026-12-05", ErrUsage, "twice"},
		{"unknown option", "<@U123ABC> --later", ErrUsage, "unknown option --later"},
		{"single-dash option", "<@U123ABC> -now", ErrUsage, "unknown option -now"},
		{"effective without date", "<@U123ABC> --effective", ErrBadDate, "needs a date"},
		{"month 13", "<@U123ABC> --effective 2026-13-01", ErrBadDate, "not a date"},
		{"no 30 February", "<@U123ABC> --effective 2026-02-30", ErrBadDate, "not a date"},
		{"not a leap year", "<@U123ABC> --effective 2026-02-29", ErrBadDate, "not a date"},
		{"day first", "<@U123ABC> --effective 04-12-2026", ErrBadDate, ""},
		{"hour 24", "<@U123ABC> --effective 2026-12-04 24:00", ErrBadDate, "24-hour"},
		{"minute 60", "<@U123ABC> --effective 2026-12-04 17:60", ErrBadDate, "24-hour"},
		{"am/pm", "<@U123ABC> --effective 2026-12-04 5:00pm", ErrBadDate, "24-hour"},
		{"status without person", "status", ErrUsage, "whose status"},
		{"status of a channel", "status <#C1|general>", ErrNotAPerson, ""},
		{"status with extra words", "status <@U123ABC> now", ErrUsage, "nothing else"},
		{"cancel without person", "cancel", ErrUsage, "whose offboarding"},
		{"cancel with options", "cancel <@U123ABC> --now", ErrUsage, "no options"},
		{"restore without person", "restore", ErrUsage, "whose access to restore"},
		{"restore without reason", "restore <@U123ABC>", ErrUsage, "say why"},
		{"restore with options", "restore <@U123ABC> --now", ErrUsage, "no options"},
		{"reason too long", "<@U123ABC> " + strings.Repeat("word ", 250), ErrReasonTooLong, "at most 1000 characters (yours has 1249)"},
		{"invalid UTF-8", "<@U123ABC> \xff", ErrUsage, "UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCommand(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ParseCommand(%q) = %v, want %v", tc.in, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
		})
	}
}

func TestWallTimeIn(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	w := WallTime{Year: 2026, Month: 12, Day: 4, Hour: 17}
	if got := w.In(berlin).UTC(); !got.Equal(time.Date(2026, 12, 4, 16, 0, 0, 0, time.UTC)) {
		t.Errorf("17:00 in Berlin in December = %v UTC, want 16:00", got)
	}
	if w.String() != "2026-12-04 17:00" {
		t.Errorf("String() = %q", w.String())
	}
}

var commandErrors = []error{ErrUsage, ErrNotAPerson, ErrUnlinkedMention, ErrBadDate}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"", "help", "<@U123ABC|dana> bye", "<@U1AB> --effective 2026-12-04 17:00 x", "status <@U1AB>", "cancel <@U1AB> oops", "@dana", "<#C1|x>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cmd, err := ParseCommand(s)
		again, err2 := ParseCommand(s)
		if !reflect.DeepEqual(cmd, again) || (err == nil) != (err2 == nil) {
			t.Fatalf("ParseCommand(%q) is not deterministic", s)
		}
		if err != nil {
			known := false
			for _, e := range commandErrors {
				known = known || errors.Is(err, e)
			}
			if !known {
				t.Fatalf("ParseCommand(%q): unclassified error %v", s, err)
			}
			return
		}
		switch cmd.Kind {
		case CommandModal, CommandHelp:
			if cmd.UserID != "" || cmd.Reason != "" || cmd.Now || cmd.Effective != nil {
				t.Fatalf("ParseCommand(%q) = %+v: stray fields", s, cmd)
			}
			return
		case CommandOffboard, CommandStatus, CommandCancel:
		default:
			t.Fatalf("ParseCommand(%q): kind %q", s, cmd.Kind)
		}
		if !slackUserID(cmd.UserID) {
			t.Fatalf("ParseCommand(%q): user id %q", s, cmd.UserID)
		}
		if cmd.Now && cmd.Effective != nil {
			t.Fatalf("ParseCommand(%q): both now and effective", s)
		}
		if !utf8.ValidString(cmd.Reason) || cmd.Reason != strings.TrimSpace(cmd.Reason) || utf8.RuneCountInString(cmd.Reason) > maxReasonLen {
			t.Fatalf("ParseCommand(%q): reason %q", s, cmd.Reason)
		}
		if w := cmd.Effective; w != nil {
			tm := w.In(time.UTC)
			if tm.Year() != w.Year || tm.Month() != w.Month || tm.Day() != w.Day || tm.Hour() != w.Hour || tm.Minute() != w.Minute {
				t.Fatalf("ParseCommand(%q): %v is not a real wall time", s, *w)
			}
		}
	})
}
