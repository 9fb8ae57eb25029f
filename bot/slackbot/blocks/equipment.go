package blocks

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/kineticsec/kinetic/engine/view"
	"github.com/kineticsec/kinetic/store"
)

// Equipment recovery in Slack: the card an equipment task's team gets,
// with one button per move the engine allows next, and the form a
// disposal asks its certificate-of-destruction reference in. Every
// button's value is the task (EquipmentValue); the engine authorizes
// each click again (the task's team and admins only, never the departing
// person).

// Action ids of the equipment buttons, one per status a task moves to.
const (
	ActionEquipReturnRequested = "kinetic.equipment.return_requested"
	ActionEquipReceived        = "kinetic.equipment.received"
	ActionEquipWiped           = "kinetic.equipment.wiped"
	ActionEquipPreserved       = "kinetic.equipment.preserved"
	ActionEquipRedeployed      = "kinetic.equipment.redeployed"
	ActionEquipDisposed        = "kinetic.equipment.disposed"
	ActionEquipLost            = "kinetic.equipment.lost"
)

// ModalDisposeReference is the callback id of the disposal form; its
// private_metadata is the task (EquipmentValue).
const ModalDisposeReference = "kinetic.dispose_reference"

// blockReference is the disposal form's reference input.
const blockReference = "reference"

// maxReferenceLen bounds a certificate reference (the column's size).
const maxReferenceLen = 256

// equipButtons maps a status to its button's action id and label.
var equipButtons = map[string]struct{ id, label string }{
	store.EquipmentReturnRequested: {ActionEquipReturnRequested, "Request return"},
	store.EquipmentReceived:        {ActionEquipReceived, "Received"},
	store.EquipmentWiped:           {ActionEquipWiped, "Wiped"},
	store.EquipmentPreserved:       {ActionEquipPreserved, "Preserve (legal hold)"},
	store.EquipmentRedeployed:      {ActionEquipRedeployed, "Redeployed"},
	store.EquipmentDisposed:        {ActionEquipDisposed, "Disposed…"},
	store.EquipmentLost:            {ActionEquipLost, "Lost"},
}

// EquipmentStatusOf returns the status an equipment button moves its task
// to, and whether actionID is an equipment button.
func EquipmentStatusOf(actionID string) (string, bool) {
	for st, b := range equipButtons {
		if b.id == actionID {
			return st, true
		}
	}
	return "", false
}

// EquipmentCard builds the message about equipment task t of person's
// offboarding: what happened (ev's detail), the device, its team, its
// status and due date, and — when buttons is set and the task has no
// final disposition — one button per move in next (engine.EquipmentNext),
// in that order; Lost and Wiped ask for confirmation, Disposed… opens the
// form for the certificate reference. mention, a Slack user group id,
// is mentioned first.
func EquipmentCard(ev view.Event, t store.EquipmentTask, person string, next []string, buttons bool, mention string) ([]slack.Block, string) {
	head := fmt.Sprintf(":package: *%s* (%s) of *%s* — *%s*", data(t.AssetTag, 60), data(orNone(t.Category), 40), data(person, 100), data(statusWordEquip(t.Status), 40))
	if ev.Kind == view.EventEquipmentOverdue {
		head = fmt.Sprintf(":rotating_light: *Overdue (level %d)*: ", ev.Level) + head
	}
	bs := []slack.Block{section(head)}
	var facts []string
	if t.Description != "" {
		facts = append(facts, data(t.Description, 120))
	}
	facts = append(facts, "team "+data(t.AssigneeTeam, 60))
	if t.Location != "" {
		facts = append(facts, "at "+data(t.Location, 60))
	}
	if t.DueAt != nil && !store.EquipmentFinal(t.Status) {
		facts = append(facts, "due "+day(*t.DueAt))
	}
	if t.Reference != "" {
		facts = append(facts, "certificate "+data(t.Reference, 100))
	}
	if ev.Detail != "" {
		bs = append(bs, section(data(ev.Detail, 500)))
	}
	var els []slack.BlockElement
	if buttons && !store.EquipmentFinal(t.Status) {
		for _, st := range next {
			b, ok := equipButtons[st]
			if !ok {
				continue
			}
			style := slack.Style("")
			if len(els) == 0 {
				style = slack.StylePrimary
			}
			el := button(b.id, EquipmentValue(t.ID), b.label, style)
			switch st {
			case store.EquipmentLost:
				el.Style = slack.StyleDanger
				el.Confirm = confirm("Mark "+oneLine(t.AssetTag)+" lost?", "It is recorded as lost, a final disposition; it does not come back.", "Lost", "Back")
			case store.EquipmentWiped:
				el.Confirm = confirm("Mark "+oneLine(t.AssetTag)+" wiped?", "Only once its storage was erased; a legal hold forbids it.", "Wiped", "Back")
			}
			els = append(els, el)
		}
	}
	els = append(els, button(ActionOpenCase, CaseValue(t.CaseID), "Open case", ""))
	bs = append(bs, slack.NewActionBlock("", els...))
	bs = add(bs, ctxBlock(fmt.Sprintf("Case %d · equipment task %d · %s", t.CaseID, t.ID, strings.Join(facts, " · "))))
	text := fallback(fmt.Sprintf("%s (%s) of %s: %s (case %d)", oneLine(t.AssetTag), oneLine(orNone(t.Category)), oneLine(person), statusWordEquip(t.Status), t.CaseID))
	if m := subteamMention(mention); m != "" {
		bs = append([]slack.Block{section(m)}, bs...)
		text = m + " " + text
	}
	return bs, text
}

// DisposeModal asks for the certificate-of-destruction reference of
// equipment task taskID (asset tag tag of person); the Disposed… button
// opens it. Read it with ParseDisposeReference.
func DisposeModal(taskID int64, tag, person string) slack.ModalViewRequest {
	ref := slack.NewPlainTextInputBlockElement(plainText("COD-2026-0042", 150), actionValue)
	ref.MaxLength = maxReferenceLen
	ref.FocusOnLoad = true
	intro := fmt.Sprintf("You are recording *%s* of *%s* as disposed of: a final disposition. Give the certificate-of-destruction reference.",
		data(tag, 60), data(person, 100))
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		Title:           plainText("Dispose of device", maxModalTitle),
		Submit:          plainText("Disposed", maxModalTitle),
		Close:           plainText("Back", maxModalTitle),
		CallbackID:      ModalDisposeReference,
		PrivateMetadata: EquipmentValue(taskID),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			section(intro),
			input(blockReference, "Certificate of destruction", "Recorded on the task and in the audit trail.", ref, false),
		}},
	}
}

// ParseDisposeReference reads a submitted DisposeModal: the task and the
// reference. Problems come back keyed by block id for response_action
// "errors"; a view that is not the form, or whose metadata is not a
// task, is an error wrapping ErrBadValue.
func ParseDisposeReference(v slack.View) (taskID int64, reference string, errs map[string]string, err error) {
	if v.CallbackID != ModalDisposeReference {
		return 0, "", nil, fmt.Errorf("%w: view %q is not %s", ErrBadValue, v.CallbackID, ModalDisposeReference)
	}
	id, err := ParseID(v.PrivateMetadata, KindEquipment)
	if err != nil {
		return 0, "", nil, err
	}
	b, _ := stateValue(v, blockReference)
	ref := strings.TrimSpace(b.Value)
	errs = map[string]string{}
	switch {
	case ref == "":
		errs[blockReference] = "A disposal needs its certificate-of-destruction reference."
	case len(ref) > maxReferenceLen || !utf8.ValidString(ref):
		errs[blockReference] = fmt.Sprintf("Keep it under %d characters.", maxReferenceLen)
	}
	return id, ref, errs, nil
}

// FieldReference is the disposal form's reference block id, for front
// ends that show an engine refusal next to it.
const FieldReference = blockReference

func statusWordEquip(s string) string {
	switch s {
	case store.EquipmentReturnRequested:
		return "return requested"
	case store.EquipmentPreserved:
		return "preserved under legal hold"
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "other"
	}
	return s
}

// AccessRevoked is the case thread's reply when access is fully revoked
// (view.EventAccessRevoked): every revocation verified, and how long after
// the effective time; the case stays open for people's work.
func AccessRevoked(ev view.Event) ([]slack.Block, string) {
	line := ":lock: *Access fully revoked*: " + data(ev.Detail, 300) + ". The case closes once the people's work still open is done (see the status card)."
	return []slack.Block{section(line)}, fallback(fmt.Sprintf("Access fully revoked (case %d): %s", ev.CaseID, ev.Detail))
}

// The same words for the Teams cards (bot/teams/cards), so both chats
// name statuses and buttons alike.

// EquipmentWord is how a card names equipment status s.
func EquipmentWord(s string) string { return statusWordEquip(s) }

// EquipmentButtonLabel is the label of the button that moves a task to
// status, and whether there is such a button.
func EquipmentButtonLabel(status string) (string, bool) {
	b, ok := equipButtons[status]
	return b.label, ok
}

// CheckReference is ParseDisposeReference's rule for a
// certificate-of-destruction reference: "" when ref (trimmed) is fine,
// else what to say.
func CheckReference(ref string) string {
	switch {
	case ref == "":
		return "A disposal needs its certificate-of-destruction reference."
	case len(ref) > maxReferenceLen || !utf8.ValidString(ref):
		return fmt.Sprintf("Keep it under %d characters.", maxReferenceLen)
	}
	return ""
}

// MaxReferenceLen bounds a certificate-of-destruction reference.
const MaxReferenceLen = maxReferenceLen
