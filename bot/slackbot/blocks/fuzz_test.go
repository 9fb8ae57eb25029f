package blocks

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // the zones below, wherever the tests run
	"unicode/utf8"

	"github.com/slack-go/slack"
)

// Fuzz targets for the modal submissions Slack posts back: the
// view_submission payload is decoded as the transport decodes it
// (slack.InteractionCallback) and its view read by the Parse functions.
// Seeds live in testdata/fuzz/<target>.

// fuzzZones are the zones a submission is read in: nil (UTC), and zones
// with DST, half-hour and 45-minute offsets, and +14:00.
var fuzzZones = []string{"", "UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Lord_Howe", "Asia/Kathmandu", "Pacific/Kiritimati"}

// offboardBlocks are the block ids of OffboardModal's inputs: the only keys
// an errors answer may use, or Slack refuses it.
var offboardBlocks = map[string]bool{
	blockPerson: true, blockLastDay: true, blockLastTime: true, blockReason: true, blockNotes: true,
	blockForwardUser: true, blockForwardEmail: true, blockForwardDays: true, blockLegalHold: true, blockEquipment: true,
}

// viewPayload is a view_submission payload carrying callbackID, metadata
// and the given state values.
func viewPayload(callbackID, metadata string, values map[string]map[string]slack.BlockAction) []byte {
	b, err := json.Marshal(map[string]any{
		"type": "view_submission", "user": map[string]any{"id": "U0MANAGER"}, "trigger_id": "t-1",
		"view": map[string]any{"id": "V1", "type": "modal", "callback_id": callbackID, "private_metadata": metadata,
			"state": map[string]any{"values": values}},
	})
	if err != nil {
		panic(err)
	}
	return b
}

// fuzzNow maps n to an instant between 2023 and 2043.
func fuzzNow(n int64) time.Time {
	const span = 20 * 365 * 24 * 3600
	if n < 0 {
		n = -(n + 1)
	}
	return time.Unix(1_700_000_000+n%span, 0)
}

// loadZones loads fuzzZones once ("" stays nil).
var loadZones = sync.OnceValues(func() ([]*time.Location, error) {
	locs := make([]*time.Location, len(fuzzZones))
	for i, name := range fuzzZones {
		if name == "" {
			continue
		}
		loc, err := time.LoadLocation(name)
		if err != nil {
			return nil, err
		}
		locs[i] = loc
	}
	return locs, nil
})

func fuzzZone(t *testing.T, i int) *time.Location {
	locs, err := loadZones()
	if err != nil {
		t.Fatal(err)
	}
	return locs[uint(i)%uint(len(locs))]
}

// FuzzParseOffboardSubmission decodes arbitrary view_submission payloads
// and reads them with ParseOffboardSubmission, at arbitrary times and in
// several zones. Errors are keyed only by the modal's block ids (else Slack
// refuses the answer) and say something; the result is deterministic; and
// a submission without errors keeps every promise of OffboardInput: a
// Slack user id, one of the three reasons, an effective time in the zone
// that is neither past nor more than a year ahead (none when immediate),
// trimmed notes of at most 1000 characters, forwarding for 1 to 30 days to
// exactly one valid target or none, and an equipment date that is a
// midnight not before today.
func FuzzParseOffboardSubmission(f *testing.F) {
	now := time.Date(2026, 12, 4, 19, 5, 0, 0, time.UTC)
	st := func(kv ...string) map[string]map[string]slack.BlockAction {
		vals := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			vals[kv[i]] = kv[i+1]
		}
		return submission(vals).State.Values
	}
	ok := []string{blockPerson, "U0DANA", blockLastDay, "2026-12-11", blockLastTime, "17:00", blockReason, ReasonVoluntary}
	for _, vals := range [][]string{
		ok,
		append(ok[:len(ok):len(ok)], blockForwardUser, "U0SAM", blockForwardDays, "30", blockLegalHold, optLegalHold, blockEquipment, "2026-12-18"),
		append(ok[:len(ok):len(ok)], blockForwardEmail, " sam@example.com ", blockForwardDays, "1", blockNotes, "  handover to Sam \n"),
		{blockPerson, "U0DANA", blockLastDay, "2026-12-01", blockReason, ReasonInvoluntary},
		{blockPerson, "C0CHANNEL", blockLastDay, "2026-02-30", blockLastTime, "24:00", blockReason, "fired", blockForwardDays, "31"},
		{},
	} {
		f.Add(viewPayload(ModalOffboard, "", st(vals...)), now.Unix(), 3)
	}
	f.Add([]byte(`{"type":"view_submission","view":{"callback_id":"kinetic.offboard","state":null}}`), now.Unix(), 0)
	f.Add([]byte(`{"type":"view_submission","view":{"state":{"values":{"person":{"value":{"type":"users_select","selected_user":7}}}}}}`), now.Unix(), 0)

	f.Fuzz(func(t *testing.T, payload []byte, nowUnix int64, zone int) {
		var cb slack.InteractionCallback
		if json.Unmarshal(payload, &cb) != nil {
			return
		}
		now, loc := fuzzNow(nowUnix), fuzzZone(t, zone)
		in, errs := ParseOffboardSubmission(cb.View, now, loc)
		in2, errs2 := ParseOffboardSubmission(cb.View, now, loc)
		if !reflect.DeepEqual(in, in2) || !reflect.DeepEqual(errs, errs2) {
			t.Fatal("ParseOffboardSubmission is not deterministic")
		}
		if errs == nil {
			t.Fatal("a nil error map")
		}
		for k, msg := range errs {
			if !offboardBlocks[k] || strings.TrimSpace(msg) == "" {
				t.Fatalf("error %q: %q is not a message on one of the modal's inputs", k, msg)
			}
		}
		if len(errs) > 0 {
			return
		}
		if loc == nil {
			loc = time.UTC
		}
		checkOffboardInput(t, in, now.In(loc), loc)
	})
}

func checkOffboardInput(t *testing.T, in OffboardInput, now time.Time, loc *time.Location) {
	t.Helper()
	if !slackUserID(in.UserID) {
		t.Fatalf("accepted person %q", in.UserID)
	}
	switch in.Reason {
	case ReasonVoluntary, ReasonEndOfContract, ReasonInvoluntary:
	default:
		t.Fatalf("accepted reason %q", in.Reason)
	}
	if in.Immediate != (in.Reason == ReasonInvoluntary) {
		t.Fatalf("immediate %t for reason %q", in.Immediate, in.Reason)
	}
	if in.Immediate != in.EffectiveAt.IsZero() {
		t.Fatalf("immediate %t with effective time %v", in.Immediate, in.EffectiveAt)
	}
	if at := in.EffectiveAt; !at.IsZero() {
		if at.Location() != loc || at.Before(now) || at.Sub(now) > maxAhead {
			t.Fatalf("effective %v (%s), now %v", at, at.Location(), now)
		}
	}
	if in.Notes != strings.TrimSpace(in.Notes) || utf8.RuneCountInString(in.Notes) > maxReasonLen {
		t.Fatalf("notes %q", in.Notes)
	}
	target := in.ForwardToUser != "" || in.ForwardToEmail != ""
	switch {
	case in.ForwardToUser != "" && in.ForwardToEmail != "":
		t.Fatal("forwarding to a person and an address")
	case in.ForwardToUser != "" && !slackUserID(in.ForwardToUser):
		t.Fatalf("forwarding to person %q", in.ForwardToUser)
	case in.ForwardToEmail != "" && (!plainEmail(in.ForwardToEmail) || in.ForwardToEmail != strings.TrimSpace(in.ForwardToEmail)):
		t.Fatalf("forwarding to address %q", in.ForwardToEmail)
	case target != (in.ForwardDays != 0):
		t.Fatalf("forwarding target %t for %d days", target, in.ForwardDays)
	case in.ForwardDays < 0 || in.ForwardDays > maxForwardDays:
		t.Fatalf("forwarding for %d days", in.ForwardDays)
	}
	if e := in.EquipmentReturnBy; !e.IsZero() {
		today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
		y, m, d := e.Date()
		if e.Location() != loc || e.Before(today) || !e.Equal(time.Date(y, m, d, 0, 0, 0, 0, loc)) {
			t.Fatalf("equipment back by %v, today %v", e, today)
		}
	}
}

// FuzzParseReason decodes arbitrary view_submission payloads and reads them
// as a deny or skip reason modal. A refusal wraps ErrBadValue; an accepted
// view is the right modal and its metadata is exactly the value the modal
// was built with (ApprovalValue or ActionValue of the id returned); errors
// are keyed by the reason's block only; a reason without errors is trimmed
// and 3 to 1000 characters long.
func FuzzParseReason(f *testing.F) {
	why := func(v string) map[string]map[string]slack.BlockAction {
		return map[string]map[string]slack.BlockAction{blockWhy: {actionValue: {Type: "plain_text_input", Value: v}}}
	}
	f.Add(viewPayload(ModalDenyReason, ApprovalValue(42), why("Not needed: the mailbox is archived.")), false)
	f.Add(viewPayload(ModalSkipReason, ActionValue(7), why("  done by hand \n")), true)
	f.Add(viewPayload(ModalDenyReason, ApprovalValue(42), why("no")), false)
	f.Add(viewPayload(ModalSkipReason, ApprovalValue(7), why("wrong kind of id")), true)
	f.Add(viewPayload(ModalDenyReason, "approval:042", why("leading zero")), false)
	f.Add(viewPayload(ModalOffboard, ApprovalValue(1), nil), false)
	f.Add([]byte(`{"type":"view_submission","view":{"callback_id":"kinetic.deny_reason","private_metadata":"approval:9223372036854775807"}}`), false)
	f.Add([]byte(`{}`), true)

	f.Fuzz(func(t *testing.T, payload []byte, skip bool) {
		var cb slack.InteractionCallback
		if json.Unmarshal(payload, &cb) != nil {
			return
		}
		parse, callbackID, value := ParseDenyReason, ModalDenyReason, ApprovalValue
		if skip {
			parse, callbackID, value = ParseSkipReason, ModalSkipReason, ActionValue
		}
		id, reason, errs, err := parse(cb.View)
		if err != nil {
			if !errors.Is(err, ErrBadValue) {
				t.Fatalf("refusal %v does not wrap ErrBadValue", err)
			}
			if id != 0 || reason != "" || errs != nil {
				t.Fatalf("a refusal with results: %d %q %v", id, reason, errs)
			}
			return
		}
		if cb.View.CallbackID != callbackID || id <= 0 || cb.View.PrivateMetadata != value(id) {
			t.Fatalf("accepted view %q with metadata %q as id %d", cb.View.CallbackID, cb.View.PrivateMetadata, id)
		}
		for k, msg := range errs {
			if k != blockWhy || strings.TrimSpace(msg) == "" {
				t.Fatalf("error %q: %q", k, msg)
			}
		}
		if len(errs) > 0 {
			return
		}
		if n := utf8.RuneCountInString(reason); reason != strings.TrimSpace(reason) || n < 3 || n > maxReasonLen {
			t.Fatalf("accepted reason %q", reason)
		}
	})
}
