package cards

import (
	"fmt"
	"strings"
	"time"

	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
)

// Input ids of the offboard form. ParseOffboardSubmission's error map is
// keyed by blocks' Field names, which are these ids.
const (
	inPerson       = blocks.FieldPerson
	inLastDay      = blocks.FieldLastDay
	inLastTime     = blocks.FieldLastTime
	inReason       = blocks.FieldReason
	inNotes        = blocks.FieldNotes
	inForwardUser  = blocks.FieldForwardUser
	inForwardEmail = blocks.FieldForwardEmail
	inForwardDays  = blocks.FieldForwardDays
	inLegalHold    = blocks.FieldLegalHold
	inEquipment    = blocks.FieldEquipment
)

// peoplePicker is an Input.ChoiceSet that searches the organization's
// people: Teams' people picker, empty static choices and choices.data of
// Data.Query with dataset "graph.microsoft.com/users" ("People Picker in
// Adaptive Cards", learn.microsoft.com/microsoftteams/platform/
// task-modules-and-cards/cards/people-picker); the value is the person's
// AAD object id.
func peoplePicker(id, label string, required bool, value string) Element {
	e := Element{"type": "Input.ChoiceSet", "id": id, "label": label, "isRequired": required,
		"choices": []any{}, "choices.data": Element{"type": "Data.Query", "dataset": "graph.microsoft.com/users"}}
	if required {
		e["errorMessage"] = "Choose a person."
	}
	if value != "" {
		e["value"] = value
	}
	return e
}

// OffboardForm is the offboard form as a card, blocks.OffboardModal's
// fields: person (people picker), last day and time, reason, notes,
// forwarding to a person or address and for how many days, legal hold and
// the equipment return date. It submits verb submitOffboard; read it with
// ParseOffboardSubmission. errs, from a previous submission, are shown
// under their fields, with prev's answers kept.
func OffboardForm(now time.Time, prev map[string]string, errs map[string]string) *Card {
	today := now.UTC().Format("2006-01-02")
	val := func(id string) string { return fit(prev[id], blocks.MaxReasonLen) }
	var body []Element
	body = append(body, heading("Offboard someone"), text("Kinetic plans it first; nothing runs until you confirm the plan."))
	field := func(e Element) {
		body = append(body, e)
		if msg := errs[e["id"].(string)]; msg != "" {
			body = append(body, text("⚠ "+md(fit(msg, 200)), "color", "Attention", "size", "Small"))
		}
	}
	field(peoplePicker(inPerson, "Person to offboard", true, val(inPerson)))
	field(Element{"type": "Input.Date", "id": inLastDay, "label": "Last day", "isRequired": true, "min": today,
		"errorMessage": "Pick the last day.", "value": cmpOr(val(inLastDay), today)})
	field(Element{"type": "Input.Time", "id": inLastTime, "label": "Time (in their time zone)", "value": cmpOr(val(inLastTime), blocks.DefaultTime)})
	field(Element{"type": "Input.ChoiceSet", "id": inReason, "label": "Reason", "isRequired": true, "errorMessage": "Choose a reason.",
		"value": val(inReason), "choices": []map[string]string{
			{"title": "Voluntary", "value": blocks.ReasonVoluntary},
			{"title": "Involuntary (starts at once)", "value": blocks.ReasonInvoluntary},
			{"title": "End of contract", "value": blocks.ReasonEndOfContract}}})
	field(Element{"type": "Input.Text", "id": inNotes, "label": "Notes", "isMultiline": true, "maxLength": blocks.MaxReasonLen, "value": val(inNotes)})
	field(peoplePicker(inForwardUser, "Forward their email to (a person)", false, val(inForwardUser)))
	field(Element{"type": "Input.Text", "id": inForwardEmail, "label": "…or to an address", "style": "Email", "maxLength": 320,
		"value": val(inForwardEmail)})
	field(Element{"type": "Input.Number", "id": inForwardDays, "label": fmt.Sprintf("Forward for how many days (1–%d)", blocks.MaxForwardDays),
		"min": 1, "max": blocks.MaxForwardDays, "value": numOrNil(val(inForwardDays))})
	field(Element{"type": "Input.Toggle", "id": inLegalHold, "title": "Legal hold on mailbox and files", "valueOn": "true", "valueOff": "false",
		"value": cmpOr(val(inLegalHold), "false")})
	field(Element{"type": "Input.Date", "id": inEquipment, "label": "Equipment back by", "min": today, "value": val(inEquipment)})
	ex := execute(VerbSubmitOffboard, "Plan offboarding", nil, "positive")
	ex.AssociatedInputs = "auto"
	c := newCard("Offboard someone")
	c.Body = body
	c.Actions = []any{ex}
	for _, e := range c.Body { // drop empty values: the schema wants strings, the client the default
		if v, ok := e["value"]; ok && (v == "" || v == nil) {
			delete(e, "value")
		}
	}
	return c
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func numOrNil(s string) any {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err == nil && fmt.Sprint(n) == s {
		return n
	}
	return nil
}

// ParseOffboardSubmission validates a submitted OffboardForm (a
// submitOffboard invoke's inputs) with blocks.CheckOffboard's rules: dates
// in loc (nil means UTC) against now, forwarding to exactly one target for
// 1 to 30 days. OffboardInput.UserID and ForwardToUser are AAD object ids.
// Problems come back keyed by input id; the input is valid only when the
// map is empty.
func ParseOffboardSubmission(inv Invoke, now time.Time, loc *time.Location) (blocks.OffboardInput, map[string]string) {
	in := func(id string) string { return strings.TrimSpace(inv.Inputs[id]) }
	f := blocks.OffboardFields{
		Person: in(inPerson), Reason: in(inReason), LastDay: in(inLastDay), LastTime: in(inLastTime), Notes: in(inNotes),
		ForwardUser: in(inForwardUser), ForwardEmail: in(inForwardEmail), ForwardDays: in(inForwardDays),
		LegalHold: in(inLegalHold) == "true", EquipmentBy: in(inEquipment),
	}
	return blocks.CheckOffboard(f, now, loc, AADObjectID)
}

// AADObjectID reports whether s is an Entra (AAD) object id: a GUID,
// 8-4-4-4-12 hex digits.
func AADObjectID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// Planning is the answer to an accepted offboard form: the case is being
// planned, and the plan comes to the requester's 1:1 chat to confirm.
func Planning(name string, immediate bool) *Card {
	fb := "Planning the offboarding of " + name
	if immediate {
		fb = "Starting the offboarding of " + name
	}
	c := newCard(fb)
	msg := "⏳ Planning the offboarding of **" + data(name, 80) + "**… Kinetic is looking up their accounts and will send you the plan to confirm in a 1:1 chat. Nothing runs until you do."
	if immediate {
		msg = "⏳ Starting the involuntary offboarding of **" + data(name, 80) + "** now. Kinetic is looking up their accounts and will tell you when it has started."
	}
	c.Body = []Element{text(msg)}
	return c
}
