package cards

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/engine/view"
	"github.com/kineticsec/kinetic/store"
)

// The cards of the people's work after the revocations, as in Slack: a
// notice to a receiving team with Acknowledge, an equipment task with one
// button per move the engine allows next, the disposal form, and the HR
// batch summary. Every button is an Action.Execute carrying one id; the
// engine authorizes each click.

func noticeData(id int64) *Data    { return &Data{ID: blocks.NoticeValue(id)} }
func equipmentData(id int64) *Data { return &Data{ID: blocks.EquipmentValue(id)} }
func residualData(id int64) *Data  { return &Data{ID: blocks.ResidualValue(id)} }

// NoticeCard is blocks.NoticeCard for Teams: notice n about person's
// offboarding, its dates (from the engine's NoticeDates) and, while it is
// unacknowledged and buttons is set, Acknowledge (verb ackNotice); once
// acknowledged, by whom and when, and no button.
func NoticeCard(n store.Notice, person string, dates map[string]string, buttons bool) *Card {
	state := "**awaiting acknowledgement**"
	if !n.Open() {
		state = "✅ **acknowledged**"
	}
	body := []Element{text(fmt.Sprintf("✉ Notice to **%s** about **%s**'s offboarding — %s", data(n.Team, 60), data(person, 100), state))}
	var kv []string
	for _, l := range blocks.NoticeDateLines(dates) {
		v := fit(l.Value, 40)
		if l.Rule != "" {
			v += " (" + fit(l.Rule, 60) + ")"
		}
		kv = append(kv, l.Label, v)
	}
	if len(kv) > 0 {
		body = append(body, facts(kv...))
	}
	if !n.Open() && n.AcknowledgedAt != nil {
		body = append(body, text(fmt.Sprintf("Acknowledged by %s (%s) %s", data(n.AcknowledgedBy, 80), data(n.AcknowledgedHow, 20), when(*n.AcknowledgedAt))))
	}
	var btns []any
	if buttons && n.Open() {
		btns = append(btns, execute(VerbAckNotice, "Acknowledge", noticeData(n.ID), "positive"))
	}
	btns = append(btns, execute(VerbOpenCase, "Open case", caseData(n.CaseID), ""))
	body = append(body, actionSet(btns...))
	sent := "sent by " + data(n.Channel, 20)
	if n.Recipients != "" {
		sent += " to " + data(strings.ReplaceAll(n.Recipients, ",", ", "), 160)
	}
	body = append(body, note(fmt.Sprintf("Case %d · notice %d · %s %s", n.CaseID, n.ID, sent, when(n.SentAt))))
	word := "awaiting acknowledgement"
	if !n.Open() {
		word = "acknowledged"
	}
	return newCard(fmt.Sprintf("Notice to %s about %s's offboarding: %s (case %d)", oneLine(n.Team), oneLine(person), word, n.CaseID)).fitBody(nil, body, nil)
}

// EquipmentCard is blocks.EquipmentCard for Teams: equipment task t of
// person's offboarding, what happened (ev's detail), its team, status and
// due date and — when buttons is set and the task has no final
// disposition — one button per status in next (engine.EquipmentNext):
// Lost and Wiped behind a confirmation (Adaptive Cards have no confirm
// dialog: an Action.ShowCard says what it means), Disposed… asking for
// the certificate reference (verb disposeEquipment); the others move the
// task at once (verb moveEquipment with the status as input "to").
func EquipmentCard(ev view.Event, t store.EquipmentTask, person string, next []string, buttons bool) *Card {
	head := fmt.Sprintf("📦 **%s** (%s) of **%s** — **%s**", data(t.AssetTag, 60), data(orOther(t.Category), 40), data(person, 100), data(blocks.EquipmentWord(t.Status), 40))
	if ev.Kind == view.EventEquipmentOverdue {
		head = fmt.Sprintf("🚨 **Overdue (level %d)**: ", ev.Level) + head
	}
	body := []Element{text(head)}
	if !blank(ev.Detail) {
		body = append(body, text(para(ev.Detail, 500)))
	}
	var btns []any
	if buttons && !store.EquipmentFinal(t.Status) {
		for _, st := range next {
			label, ok := blocks.EquipmentButtonLabel(st)
			if !ok {
				continue
			}
			style := ""
			if len(btns) == 0 {
				style = "positive"
			}
			switch st {
			case store.EquipmentDisposed:
				btns = append(btns, disposeAction(t.ID, t.AssetTag))
			case store.EquipmentLost:
				btns = append(btns, confirmMove(t.ID, st, label, "It is recorded as lost, a final disposition; it does not come back.", "destructive"))
			case store.EquipmentWiped:
				btns = append(btns, confirmMove(t.ID, st, label, "Only once its storage was erased; a legal hold forbids it.", style))
			default:
				btns = append(btns, moveAction(t.ID, st, label, style))
			}
		}
	}
	btns = append(btns, execute(VerbOpenCase, "Open case", caseData(t.CaseID), ""))
	body = append(body, actionSet(btns...))
	fs := []string{"team " + data(t.AssigneeTeam, 60)}
	if t.Description != "" {
		fs = append([]string{data(t.Description, 120)}, fs...)
	}
	if t.Location != "" {
		fs = append(fs, "at "+data(t.Location, 60))
	}
	if t.DueAt != nil && !store.EquipmentFinal(t.Status) {
		fs = append(fs, "due "+day(*t.DueAt))
	}
	if t.Reference != "" {
		fs = append(fs, "certificate "+data(t.Reference, 100))
	}
	body = append(body, note(fmt.Sprintf("Case %d · equipment task %d · %s", t.CaseID, t.ID, strings.Join(fs, " · "))))
	return newCard(fmt.Sprintf("%s (%s) of %s: %s (case %d)", oneLine(t.AssetTag), oneLine(orOther(t.Category)), oneLine(person),
		blocks.EquipmentWord(t.Status), t.CaseID)).fitBody(nil, body, nil)
}

func orOther(s string) string {
	if s == "" {
		return "other"
	}
	return s
}

// moveAction is an equipment move's button; its data: the task and, as input "to", the
// status (Teams merges inputs into data; ParseInvoke reads it as one).
func moveAction(id int64, to, label, style string) *Execute {
	ex := execute(VerbMoveEquipment, label, equipmentData(id), style)
	ex.Data.To = to
	return ex
}

func confirmMove(id int64, to, label, what, style string) Element {
	return Element{"type": "Action.ShowCard", "title": fit(label+"…", 40), "card": Element{
		"type":    "AdaptiveCard",
		"body":    []Element{text(para(what, 300))},
		"actions": []any{moveAction(id, to, label, style)},
	}}
}

// disposeAction asks for the certificate-of-destruction reference in the
// card (an Action.ShowCard with a required input), sending
// disposeEquipment with it.
func disposeAction(id int64, tag string) Element {
	ex := execute(VerbDisposeEquipment, "Disposed", equipmentData(id), "")
	ex.AssociatedInputs = "auto"
	return Element{"type": "Action.ShowCard", "title": "Disposed…", "card": Element{
		"type": "AdaptiveCard",
		"body": []Element{text(fmt.Sprintf("You are recording **%s** as disposed of: a final disposition.", data(tag, 60))),
			{"type": "Input.Text", "id": InputReference, "label": "Certificate of destruction", "isRequired": true, "placeholder": "COD-2026-0042",
				"maxLength": blocks.MaxReferenceLen, "errorMessage": "Give the certificate-of-destruction reference (up to " + strconv.Itoa(blocks.MaxReferenceLen) + " characters)."}},
		"actions": []any{ex},
	}}
}

// InputReference is the disposal form's input id.
const InputReference = "reference"

// ParseDisposal reads the certificate reference of a disposeEquipment
// invoke, with blocks.CheckReference's rule: the problem keyed by the
// input's id, if any.
func ParseDisposal(inv Invoke) (string, map[string]string) {
	ref := strings.TrimSpace(inv.Inputs[InputReference])
	errs := map[string]string{}
	if msg := blocks.CheckReference(ref); msg != "" {
		errs[InputReference] = msg
	}
	return ref, errs
}

// BatchSummary is blocks.BatchSummary for an HR batch in Teams: one card
// for the cases opened by one HR batch past the threshold, instead of a
// status card each, updated as cases join: how many, and their ids (as
// many as fit, then a count of the rest).
func BatchSummary(caseIDs []int64) *Card {
	n := len(caseIDs)
	body := []Element{text(fmt.Sprintf("📥 **HR batch**: %s opened from HR events", counted(n, "offboarding"))),
		text("Kinetic posts this one card for them instead of a status card each. Ask Kinetic `status @person` for one of them.")}
	if n > 0 {
		const budget = 2500
		var b strings.Builder
		b.WriteString("Cases: ")
		for i, id := range caseIDs {
			s := strconv.FormatInt(id, 10)
			if i > 0 {
				s = ", " + s
			}
			if b.Len()+len(s) > budget {
				fmt.Fprintf(&b, " and %d more", n-i)
				break
			}
			b.WriteString(s)
		}
		body = append(body, text(b.String()))
	}
	return newCard(fmt.Sprintf("HR batch: %s opened from HR events", counted(n, "offboarding"))).fitBody(nil, body, nil)
}
