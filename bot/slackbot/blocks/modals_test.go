package blocks

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

// submission builds a submitted offboard view from block id → value, the
// value going into the field the block's element fills.
func submission(vals map[string]string) slack.View {
	st := map[string]map[string]slack.BlockAction{}
	for block, v := range vals {
		var a slack.BlockAction
		switch block {
		case blockPerson, blockForwardUser:
			a.SelectedUser = v
		case blockLastDay, blockEquipment:
			a.SelectedDate = v
		case blockLastTime:
			a.SelectedTime = v
		case blockReason:
			a.SelectedOption.Value = v
		case blockLegalHold:
			if v != "" {
				a.SelectedOptions = []slack.OptionBlockObject{{Value: v}}
			}
		default:
			a.Value = v
		}
		st[block] = map[string]slack.BlockAction{actionValue: a}
	}
	return slack.View{CallbackID: ModalOffboard, State: &slack.ViewState{Values: st}}
}

func with(base map[string]string, kv ...string) map[string]string {
	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "-" {
			delete(m, kv[i])
		} else {
			m[kv[i]] = kv[i+1]
		}
	}
	return m
}

func TestParseOffboardSubmission(t *testing.T) {
	// 2026-12-04 19:05 UTC is 20:05 in Berlin.
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	ok := map[string]string{blockPerson: "U0DANA", blockLastDay: "2026-12-11", blockLastTime: "17:00", blockReason: ReasonVoluntary}
	eff := time.Date(2026, 12, 11, 17, 0, 0, 0, berlin)

	for _, tc := range []struct {
		name string
		vals map[string]string
		want OffboardInput
	}{
		{"minimal", ok, OffboardInput{UserID: "U0DANA", EffectiveAt: eff, Reason: ReasonVoluntary}},
		{"time defaults to 17:00", with(ok, blockLastTime, "-"), OffboardInput{UserID: "U0DANA", EffectiveAt: eff, Reason: ReasonVoluntary}},
		{"later today", with(ok, blockLastDay, "2026-12-04", blockLastTime, "21:00"),
			OffboardInput{UserID: "U0DANA", EffectiveAt: time.Date(2026, 12, 4, 21, 0, 0, 0, berlin), Reason: ReasonVoluntary}},
		{"involuntary ignores a past date", with(ok, blockReason, ReasonInvoluntary, blockLastDay, "2026-12-01", blockNotes, "  policy breach \n"),
			OffboardInput{UserID: "U0DANA", Immediate: true, Reason: ReasonInvoluntary, Notes: "policy breach"}},
		{"every exception", with(ok, blockReason, ReasonEndOfContract, blockForwardUser, "U0SAM", blockForwardDays, "30",
			blockLegalHold, optLegalHold, blockEquipment, "2026-12-18"),
			OffboardInput{UserID: "U0DANA", EffectiveAt: eff, Reason: ReasonEndOfContract, ForwardToUser: "U0SAM", ForwardDays: 30,
				LegalHold: true, EquipmentReturnBy: time.Date(2026, 12, 18, 0, 0, 0, 0, berlin)}},
		{"forward to an address", with(ok, blockForwardEmail, " sam@example.com ", blockForwardDays, "1"),
			OffboardInput{UserID: "U0DANA", EffectiveAt: eff, Reason: ReasonVoluntary, ForwardToEmail: "sam@example.com", ForwardDays: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, errs := ParseOffboardSubmission(submission(tc.vals), now, berlin)
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}

	for _, tc := range []struct {
		name  string
		vals  map[string]string
		block string
		says  string
	}{
		{"no person", with(ok, blockPerson, "-"), blockPerson, "Choose the person"},
		{"not a user id", with(ok, blockPerson, "C0CHANNEL"), blockPerson, "not a person"},
		{"no reason", with(ok, blockReason, "-"), blockReason, "Choose a reason"},
		{"unknown reason", with(ok, blockReason, "layoff"), blockReason, "one of the reasons"},
		{"no date", with(ok, blockLastDay, "-"), blockLastDay, "Pick the last day"},
		{"unparseable date", with(ok, blockLastDay, "2026-02-30"), blockLastDay, "Pick the last day"},
		{"unparseable time", with(ok, blockLastTime, "25:00"), blockLastTime, "time of day"},
		{"yesterday", with(ok, blockLastDay, "2026-12-03"), blockLastDay, "can't be in the past"},
		// 19:05 UTC is already 20:05 in Berlin: 20:00 there has passed,
		// although 20:00 UTC has not.
		{"earlier today in the employee's zone", with(ok, blockLastDay, "2026-12-04", blockLastTime, "20:00"), blockLastTime, "already passed"},
		{"more than a year ahead", with(ok, blockLastDay, "2028-01-01"), blockLastDay, "more than a year"},
		{"days without target", with(ok, blockForwardDays, "10"), blockForwardUser, "who gets"},
		{"target without days", with(ok, blockForwardUser, "U0SAM"), blockForwardDays, "how many days"},
		{"zero days", with(ok, blockForwardUser, "U0SAM", blockForwardDays, "0"), blockForwardDays, "1 to 30"},
		{"31 days", with(ok, blockForwardUser, "U0SAM", blockForwardDays, "31"), blockForwardDays, "1 to 30"},
		{"fractional days", with(ok, blockForwardUser, "U0SAM", blockForwardDays, "2.5"), blockForwardDays, "1 to 30"},
		{"both targets", with(ok, blockForwardUser, "U0SAM", blockForwardEmail, "sam@example.com", blockForwardDays, "5"), blockForwardEmail, "not both"},
		{"bad address", with(ok, blockForwardEmail, "Sam <sam@example.com>", blockForwardDays, "5"), blockForwardEmail, "one email address"},
		{"address without domain dot", with(ok, blockForwardEmail, "sam@localhost", blockForwardDays, "5"), blockForwardEmail, "one email address"},
		{"equipment date in the past", with(ok, blockEquipment, "2026-12-01"), blockEquipment, "can't be in the past"},
		{"notes too long", with(ok, blockNotes, strings.Repeat("x", 1001)), blockNotes, "under 1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := ParseOffboardSubmission(submission(tc.vals), now, berlin)
			if len(errs) != 1 || !strings.Contains(errs[tc.block], tc.says) {
				t.Errorf("errors %v, want only %s: …%s…", errs, tc.block, tc.says)
			}
		})
	}

	t.Run("no state at all", func(t *testing.T) {
		_, errs := ParseOffboardSubmission(slack.View{}, now, nil)
		for _, b := range []string{blockPerson, blockReason, blockLastDay} {
			if errs[b] == "" {
				t.Errorf("no error for %s: %v", b, errs)
			}
		}
	})
	t.Run("error keys are input blocks of the modal", func(t *testing.T) {
		inputs := map[string]bool{}
		for _, b := range OffboardModal(now).Blocks.BlockSet {
			if in, ok := b.(*slack.InputBlock); ok {
				inputs[in.BlockID] = true
			}
		}
		for _, k := range []string{blockPerson, blockLastDay, blockLastTime, blockReason, blockNotes, blockForwardUser, blockForwardEmail, blockForwardDays, blockLegalHold, blockEquipment} {
			if !inputs[k] {
				t.Errorf("%s is not an input block of the modal", k)
			}
		}
	})
}

func TestReasonModals(t *testing.T) {
	reason := func(v slack.View, text string) slack.View {
		v.State = &slack.ViewState{Values: map[string]map[string]slack.BlockAction{blockWhy: {actionValue: {Value: text}}}}
		return v
	}
	view := func(m slack.ModalViewRequest) slack.View {
		return slack.View{CallbackID: m.CallbackID, PrivateMetadata: m.PrivateMetadata}
	}

	id, why, errs, err := ParseDenyReason(reason(view(denyModal7()), "  shared inbox instead "))
	if err != nil || len(errs) > 0 || id != 7 || why != "shared inbox instead" {
		t.Errorf("deny: %d %q %v %v", id, why, errs, err)
	}
	id, why, errs, err = ParseSkipReason(reason(view(SkipReasonModal(913, "Deprovision Zoom", "Dana Whitfield")), "app retired last year"))
	if err != nil || len(errs) > 0 || id != 913 || why != "app retired last year" {
		t.Errorf("skip: %d %q %v %v", id, why, errs, err)
	}
	if _, _, errs, _ := ParseDenyReason(reason(view(denyModal7()), "  ")); errs[blockWhy] == "" {
		t.Error("an empty reason is accepted")
	}
	if _, _, errs, _ := ParseSkipReason(reason(view(SkipReasonModal(913, "Deprovision Zoom", "Dana Whitfield")), strings.Repeat("y", 1001))); errs[blockWhy] == "" {
		t.Error("an overlong reason is accepted")
	}
	// Metadata of the wrong kind, or a view of another modal, is refused:
	// a deny modal never names an action.
	v := view(denyModal7())
	v.PrivateMetadata = ActionValue(913)
	if _, _, _, err := ParseDenyReason(reason(v, "because")); !errors.Is(err, ErrBadValue) {
		t.Errorf("deny with action metadata: %v", err)
	}
	if _, _, _, err := ParseSkipReason(reason(view(denyModal7()), "because")); !errors.Is(err, ErrBadValue) {
		t.Errorf("skip parser on a deny view: %v", err)
	}
}
