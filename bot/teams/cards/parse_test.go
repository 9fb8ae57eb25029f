package cards

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
)

func TestParseInvoke(t *testing.T) {
	good := []struct {
		verb, data string
		id         int64
		inputs     map[string]string
	}{
		{VerbConfirmPlan, `{"kineticId":"case:42"}`, 42, nil},
		{VerbDeny, `{"kineticId":"approval:7","reason":"no way"}`, 7, map[string]string{"reason": "no way"}},
		{VerbRefresh, `{"kineticId":"approval:7"}`, 7, nil},
		{VerbSkip, `{"kineticId":"action:903","reason":"done elsewhere"}`, 903, map[string]string{"reason": "done elsewhere"}},
		{VerbSubmitOffboard, `{"person":"x","legal_hold":true}`, 0, map[string]string{"person": "x", "legal_hold": "true"}},
	}
	for _, g := range good {
		inv, err := ParseInvoke(g.verb, json.RawMessage(g.data))
		if err != nil || inv.ID != g.id || inv.Verb != g.verb {
			t.Errorf("%s %s: %+v, %v", g.verb, g.data, inv, err)
			continue
		}
		for k, v := range g.inputs {
			if inv.Inputs[k] != v {
				t.Errorf("%s: input %s = %q, want %q", g.verb, k, inv.Inputs[k], v)
			}
		}
	}
	bad := []struct{ verb, data, says string }{
		{"launchMissiles", `{"kineticId":"case:1"}`, "unknown verb"},
		{"", `{}`, "unknown verb"},
		{VerbApprove, `{"kineticId":"case:7"}`, "want a approval"},
		{VerbApprove, `{}`, "needs a approval id"},
		{VerbRetry, `{"kineticId":"action:007"}`, "not a positive id"},
		{VerbRetry, `{"kineticId":"action:-1"}`, "not a positive id"},
		{VerbRetry, `{"kineticId":"action:99999999999999999999"}`, "out of range"},
		{VerbRetry, `{"kineticId":7}`, "not a text value"},
		{VerbRetry, `[1]`, "not an object"},
		{VerbRetry, `null`, "not an object"},
		{VerbRetry, `{"kineticId":"action:1","x":{"y":1}}`, "not a text value"},
		{VerbSubmitOffboard, `{"kineticId":"case:1"}`, "carries no id"},
		{VerbRetry, `{"kineticId":"action:1","pad":"` + strings.Repeat("a", maxInvokeData) + `"}`, "too large"},
	}
	for _, b := range bad {
		_, err := ParseInvoke(b.verb, json.RawMessage(b.data))
		if !errors.Is(err, ErrBadInvoke) || !strings.Contains(err.Error(), b.says) {
			t.Errorf("%s %.60s: err %v, want one saying %q", b.verb, b.data, err, b.says)
		}
	}
}

func FuzzParseInvoke(f *testing.F) {
	f.Add(VerbConfirmPlan, `{"kineticId":"case:42"}`)
	f.Add(VerbDeny, `{"kineticId":"approval:7","reason":"x"}`)
	f.Add(VerbSubmitOffboard, `{"person":"x"}`)
	f.Add("nope", `{}`)
	f.Fuzz(func(t *testing.T, verb, data string) {
		inv, err := ParseInvoke(verb, json.RawMessage(data))
		if err != nil {
			if !errors.Is(err, ErrBadInvoke) {
				t.Fatalf("error %v does not wrap ErrBadInvoke", err)
			}
			return
		}
		kind := verbKind[verb]
		if kind == "" {
			if inv.ID != 0 {
				t.Fatalf("%s carries id %d", verb, inv.ID)
			}
			return
		}
		// An accepted id is the one Kinetic builds for it.
		want := map[string]func(int64) string{blocks.KindCase: blocks.CaseValue, blocks.KindApproval: blocks.ApprovalValue, blocks.KindAction: blocks.ActionValue}[kind](inv.ID)
		var d struct {
			ID string `json:"kineticId"`
		}
		if json.Unmarshal([]byte(data), &d) != nil || d.ID != want || inv.ID <= 0 {
			t.Fatalf("accepted %q for %s as %d", data, verb, inv.ID)
		}
	})
}

func TestParseReason(t *testing.T) {
	if r, errs := ParseReason(Invoke{Verb: VerbApproveWithReason, Inputs: map[string]string{InputApproveReason: "Sam covers"}}); r != "Sam covers" || len(errs) != 0 {
		t.Errorf("approve reason: %q %v", r, errs)
	}
	if _, errs := ParseReason(Invoke{Verb: VerbApproveWithReason, Inputs: map[string]string{InputReason: "wrong input"}}); errs[InputApproveReason] == "" {
		t.Errorf("approve reason read from the deny input: %v", errs)
	}
	for in, want := range map[string]string{"": "Say why.", " a ": "Say a little more.", "fine reason": "", strings.Repeat("x", blocks.MaxReasonLen+1): "Keep it under"} {
		r, errs := ParseReason(Invoke{Verb: VerbDeny, Inputs: map[string]string{InputReason: in}})
		if !strings.HasPrefix(errs[InputReason], want) || (want == "") != (len(errs) == 0) {
			t.Errorf("reason %.20q: errs %v, want %q", in, errs, want)
		}
		if r != strings.TrimSpace(in) {
			t.Errorf("reason %q came back as %q", in, r)
		}
	}
}

const aad = "3f2a9c1d-0b4e-4f6a-8b8c-9d0e1f2a3b4c"

func TestParseOffboardSubmission(t *testing.T) {
	submit := func(kv ...string) Invoke {
		inv := Invoke{Verb: VerbSubmitOffboard, Inputs: map[string]string{}}
		for i := 0; i+1 < len(kv); i += 2 {
			inv.Inputs[kv[i]] = kv[i+1]
		}
		return inv
	}
	in, errs := ParseOffboardSubmission(submit(inPerson, aad, inReason, blocks.ReasonVoluntary, inLastDay, "2026-12-11", inLastTime, "16:30",
		inForwardUser, "11111111-2222-3333-4444-555555555555", inForwardDays, "14", inLegalHold, "true", inEquipment, "2026-12-18"), now, nil)
	if len(errs) != 0 {
		t.Fatalf("valid form refused: %v", errs)
	}
	if in.UserID != aad || !in.EffectiveAt.Equal(time.Date(2026, 12, 11, 16, 30, 0, 0, time.UTC)) || in.ForwardDays != 14 || !in.LegalHold ||
		in.EquipmentReturnBy.IsZero() {
		t.Errorf("parsed %+v", in)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	in, errs = ParseOffboardSubmission(submit(inPerson, aad, inReason, blocks.ReasonVoluntary, inLastDay, "2026-12-11"), now, berlin)
	if len(errs) != 0 || !in.EffectiveAt.Equal(time.Date(2026, 12, 11, 16, 0, 0, 0, time.UTC)) {
		t.Errorf("default 17:00 Berlin: %v %v", in.EffectiveAt, errs)
	}
	cases := []struct {
		name  string
		form  Invoke
		field string
		says  string
	}{
		{"no person", submit(inReason, blocks.ReasonVoluntary, inLastDay, "2026-12-11"), inPerson, "Choose the person"},
		{"person not an aad id", submit(inPerson, "Dana Whitfield", inReason, blocks.ReasonVoluntary, inLastDay, "2026-12-11"), inPerson, "not a person"},
		{"no reason", submit(inPerson, aad, inLastDay, "2026-12-11"), inReason, "Choose a reason"},
		{"odd reason", submit(inPerson, aad, inReason, "revenge", inLastDay, "2026-12-11"), inReason, "one of the reasons"},
		{"past day", submit(inPerson, aad, inReason, blocks.ReasonVoluntary, inLastDay, "2026-12-01"), inLastDay, "in the past"},
		{"bad date", submit(inPerson, aad, inReason, blocks.ReasonVoluntary, inLastDay, "12/11/2026"), inLastDay, "Pick the last day"},
		{"too far", submit(inPerson, aad, inReason, blocks.ReasonVoluntary, inLastDay, "2028-01-01"), inLastDay, "more than a year"},
		{"bad time", submit(inPerson, aad, inReason, blocks.ReasonVoluntary, inLastDay, "2026-12-11", inLastTime, "25:00"), inLastTime, "Pick a time"},
		{"passed today", submit(inPerson, aad, inReason, blocks.ReasonVoluntary, inLastDay, "2026-12-04", inLastTime, "09:00"), inLastTime, "already passed"},
		{"days no target", submit(inPerson, aad, inReason, blocks.ReasonVoluntary, inLastDay, "2026-12-11", inForwardDays, "5"), inForwardUser, "Say who"},
		{"target no days", submit(inPerson, aad, inReason, blocks.ReasonVoluntary, inLastDay, "2026-12-11", inForwardEmail, "sam@example.com"), inForwardDays, "how many days"},
		{"too many days", submit(inPerson, aad, inReason, blocks.ReasonVoluntary, inLastDay, "2026-12-11", inForwardEmail, "sam@example.com", inForwardDays, "31"), inForwardDays, "1 to 30"},
		{"both targets", submit(inPerson, aad, inReason, blocks.ReasonVoluntary, inLastDay, "2026-12-11", inForwardEmail, "sam@example.com", inForwardUser, aad, inForwardDays, "3"), inForwardEmail, "not both"},
		{"bad email", submit(inPerson, aad, inReason, blocks.ReasonVoluntary, inLastDay, "2026-12-11", inForwardEmail, "Sam <sam@example.com>", inForwardDays, "3"), inForwardEmail, "one email address"},
		{"forward user not aad", submit(inPerson, aad, inReason, blocks.ReasonVoluntary, inLastDay, "2026-12-11", inForwardUser, "sam", inForwardDays, "3"), inForwardUser, "Choose a person"},
		{"equipment past", submit(inPerson, aad, inReason, blocks.ReasonVoluntary, inLastDay, "2026-12-11", inEquipment, "2026-11-01"), inEquipment, "in the past"},
		{"long notes", submit(inPerson, aad, inReason, blocks.ReasonVoluntary, inLastDay, "2026-12-11", inNotes, strings.Repeat("n", blocks.MaxReasonLen+1)), inNotes, "under"},
	}
	for _, c := range cases {
		_, errs := ParseOffboardSubmission(c.form, now, nil)
		if !strings.Contains(errs[c.field], c.says) {
			t.Errorf("%s: errs %v, want %s saying %q", c.name, errs, c.field, c.says)
		}
	}
	// Involuntary starts at once, whatever the date.
	in, errs = ParseOffboardSubmission(submit(inPerson, aad, inReason, blocks.ReasonInvoluntary, inLastDay, "2026-12-01"), now, nil)
	if len(errs) != 0 || !in.Immediate {
		t.Errorf("involuntary: %+v %v", in, errs)
	}
}

// TestFormRoundTrip: the form's inputs, submitted as Teams sends them
// (all strings), parse through ParseInvoke and ParseOffboardSubmission.
func TestFormRoundTrip(t *testing.T) {
	data, _ := json.Marshal(map[string]any{inPerson: aad, inReason: blocks.ReasonVoluntary, inLastDay: "2026-12-11", inLastTime: "17:00",
		inLegalHold: "false", inNotes: "", inForwardEmail: "", inForwardDays: "", inEquipment: ""})
	inv, err := ParseInvoke(VerbSubmitOffboard, data)
	if err != nil {
		t.Fatal(err)
	}
	if _, errs := ParseOffboardSubmission(inv, now, nil); len(errs) != 0 {
		t.Errorf("round trip: %v", errs)
	}
	ids := map[string]bool{}
	for _, e := range OffboardForm(now, nil, nil).Body {
		if id, ok := e["id"].(string); ok {
			ids[id] = true
		}
	}
	for _, id := range []string{inPerson, inLastDay, inLastTime, inReason, inNotes, inForwardUser, inForwardEmail, inForwardDays, inLegalHold, inEquipment} {
		if !ids[id] {
			t.Errorf("the form has no input %q", id)
		}
	}
}
