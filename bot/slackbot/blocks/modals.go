package blocks

import (
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

// Offboarding reasons offered by the offboard modal.
const (
	ReasonVoluntary     = "voluntary"
	ReasonInvoluntary   = "involuntary"
	ReasonEndOfContract = "end_of_contract"
)

// Block and action ids of the offboard modal's inputs. Error maps returned
// by the Parse functions are keyed by these block ids, as a view_submission
// response_action "errors" needs.
const (
	blockPerson       = "person"
	blockLastDay      = "last_day"
	blockLastTime     = "last_time"
	blockReason       = "reason"
	blockNotes        = "notes"
	blockForwardUser  = "forward_user"
	blockForwardEmail = "forward_email"
	blockForwardDays  = "forward_days"
	blockLegalHold    = "legal_hold"
	blockEquipment    = "equipment_by"
	blockWhy          = "why"

	actionValue  = "value"
	optLegalHold = "legal_hold"

	// DefaultTime is the time of day an offboarding takes effect when only
	// a date is given.
	DefaultTime = "17:00"

	maxForwardDays = 30
	maxReasonLen   = 1000
	// maxAhead is how far ahead a last day may be: further is taken for a
	// typo, and HR schedules those.
	maxAhead = 366 * 24 * time.Hour
)

// OffboardInput is a validated offboard modal submission.
type OffboardInput struct {
	// UserID is the Slack user to offboard; the caller maps it to an HR id.
	UserID string
	// EffectiveAt is the last day and time, read in the zone passed to
	// ParseOffboardSubmission. Zero when Immediate.
	EffectiveAt time.Time
	// Immediate is set for involuntary offboardings, which start at once
	// whatever date was picked.
	Immediate bool
	// Reason is ReasonVoluntary, ReasonInvoluntary or ReasonEndOfContract.
	Reason string
	// Notes is the free-text note, trimmed; may be empty.
	Notes string
	// ForwardToUser (a Slack user) or ForwardToEmail, with ForwardDays in
	// 1..30, request the email_forwarding exception; all empty/zero when
	// not requested.
	ForwardToUser  string
	ForwardToEmail string
	ForwardDays    int
	// LegalHold requests a legal hold on the mailbox and files.
	LegalHold bool
	// EquipmentReturnBy is the date equipment must be back by, midnight in
	// the zone passed; zero when not given.
	EquipmentReturnBy time.Time
}

func input(blockID, label, hint string, el slack.BlockElement, optional bool) *slack.InputBlock {
	var h *slack.TextBlockObject
	if hint != "" {
		h = plainText(hint, 2000)
	}
	in := slack.NewInputBlock(blockID, plainText(label, 2000), h, el)
	in.Optional = optional
	return in
}

func option(value, text string) *slack.OptionBlockObject {
	return slack.NewOptionBlockObject(value, plainText(text, maxOptionText), nil)
}

// ShortcutOffboard is the callback id of the global shortcut "Offboard
// someone" (deployments/slack/manifest.yaml): it opens OffboardModal.
const ShortcutOffboard = "kinetic.offboard_shortcut"

// OffboardModal builds the modal /offboard opens without arguments: the
// person (a user picker), the last day (date picker, today in now's zone)
// and time (time picker, 17:00), the reason (voluntary, involuntary, end
// of contract), a note, and the optional exceptions: forward email to a
// person or address for 1–30 days, legal hold, and an equipment return
// date. Its callback id is ModalOffboard; read it with
// ParseOffboardSubmission.
func OffboardModal(now time.Time) slack.ModalViewRequest {
	person := slack.NewOptionsSelectBlockElement(slack.OptTypeUser, plainText("Choose a person", 150), actionValue)
	day := slack.NewDatePickerBlockElement(actionValue)
	day.InitialDate = now.Format(time.DateOnly)
	at := slack.NewTimePickerBlockElement(actionValue)
	at.InitialTime = DefaultTime
	reason := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plainText("Choose a reason", 150), actionValue,
		option(ReasonVoluntary, "Voluntary (resignation)"),
		option(ReasonInvoluntary, "Involuntary (starts immediately)"),
		option(ReasonEndOfContract, "End of contract"),
	)
	notes := slack.NewPlainTextInputBlockElement(plainText("Anything approvers should know", 150), actionValue)
	notes.Multiline = true
	notes.MaxLength = maxReasonLen
	fwdUser := slack.NewOptionsSelectBlockElement(slack.OptTypeUser, plainText("Choose a person", 150), actionValue)
	fwdEmail := slack.NewEmailTextInputBlockElement(plainText("name@example.com", 150), actionValue)
	days := slack.NewNumberInputBlockElement(plainText("1–30", 150), actionValue, false)
	days.MinValue, days.MaxValue = "1", strconv.Itoa(maxForwardDays)
	hold := slack.NewCheckboxGroupsBlockElement(actionValue,
		slack.NewOptionBlockObject(optLegalHold, plainText("Place the mailbox and files under legal hold", maxOptionText), nil))
	equip := slack.NewDatePickerBlockElement(actionValue)

	blocks := []slack.Block{
		input(blockPerson, "Who is leaving?", "", person, false),
		input(blockLastDay, "Last day", "", day, false),
		input(blockLastTime, "Access ends at", "In the employee's time zone.", at, false),
		input(blockReason, "Reason", "Involuntary offboardings revoke access immediately, whatever the date.", reason, false),
		input(blockNotes, "Notes", "", notes, true),
		slack.NewDividerBlock(),
		section("*Exceptions* (optional; each goes to approvers)"),
		input(blockForwardUser, "Forward their email to", "A person, or an address below.", fwdUser, true),
		input(blockForwardEmail, "…or to this address", "", fwdEmail, true),
		input(blockForwardDays, "Forward for how many days?", "1 to 30 days.", days, true),
		input(blockLegalHold, "Legal hold", "", hold, true),
		input(blockEquipment, "Equipment returned by", "Leave empty for the policy's default.", equip, true),
	}
	return slack.ModalViewRequest{
		Type:       slack.VTModal,
		Title:      plainText("Offboard someone", maxModalTitle),
		Submit:     plainText("Review plan", maxModalTitle),
		Close:      plainText("Cancel", maxModalTitle),
		CallbackID: ModalOffboard,
		Blocks:     slack.Blocks{BlockSet: blocks},
	}
}

// stateValue returns the submitted value of an input block's element.
func stateValue(v slack.View, blockID string) (slack.BlockAction, bool) {
	if v.State == nil {
		return slack.BlockAction{}, false
	}
	b, ok := v.State.Values[blockID][actionValue]
	return b, ok
}

// ParseOffboardSubmission validates a submitted offboard modal. Dates and
// times are read in loc (the employee's zone when known; nil means UTC) and
// checked against now: the last day may not be in the past (for an
// involuntary offboarding, which starts at once, the date is not checked),
// nor more than a year ahead; forward days must be 1..30 and need exactly
// one target; the equipment date may not be in the past. Problems come back
// as a map from block id to message, ready for a view_submission
// response_action "errors"; the input is valid only when it is empty.
func ParseOffboardSubmission(view slack.View, now time.Time, loc *time.Location) (OffboardInput, map[string]string) {
	var f OffboardFields
	b, _ := stateValue(view, blockPerson)
	f.Person = b.SelectedUser
	b, _ = stateValue(view, blockReason)
	f.Reason = b.SelectedOption.Value
	b, _ = stateValue(view, blockLastDay)
	f.LastDay = b.SelectedDate
	b, _ = stateValue(view, blockLastTime)
	f.LastTime = b.SelectedTime
	b, _ = stateValue(view, blockNotes)
	f.Notes = b.Value
	b, _ = stateValue(view, blockForwardUser)
	f.ForwardUser = b.SelectedUser
	b, _ = stateValue(view, blockForwardEmail)
	f.ForwardEmail = b.Value
	b, _ = stateValue(view, blockForwardDays)
	f.ForwardDays = b.Value
	b, _ = stateValue(view, blockLegalHold)
	for _, o := range b.SelectedOptions {
		if o.Value == optLegalHold {
			f.LegalHold = true
		}
	}
	b, _ = stateValue(view, blockEquipment)
	f.EquipmentBy = b.SelectedDate
	return CheckOffboard(f, now, loc, slackUserID)
}

// OffboardFields are an offboard form's raw answers, as a chat front end
// reads them from its own form (the Slack modal, a Teams card): dates are
// YYYY-MM-DD, times HH:MM, people the front end's user ids.
type OffboardFields struct {
	Person, Reason, LastDay, LastTime, Notes string
	ForwardUser, ForwardEmail, ForwardDays   string
	LegalHold                                bool
	EquipmentBy                              string
}

// Keys of the error map CheckOffboard returns, one per form field; the
// Slack modal's block ids are the same names.
const (
	FieldPerson       = blockPerson
	FieldLastDay      = blockLastDay
	FieldLastTime     = blockLastTime
	FieldReason       = blockReason
	FieldNotes        = blockNotes
	FieldForwardUser  = blockForwardUser
	FieldForwardEmail = blockForwardEmail
	FieldForwardDays  = blockForwardDays
	FieldLegalHold    = blockLegalHold
	FieldEquipment    = blockEquipment
	// MaxForwardDays is the form's limit on forwarding days.
	MaxForwardDays = maxForwardDays
)

// CheckOffboard validates an offboard form's answers with the rules
// ParseOffboardSubmission documents, for every chat front end; validUser
// says whether a person id is one of the front end's users. OffboardInput's
// UserID and ForwardToUser carry the front end's ids as given.
func CheckOffboard(f OffboardFields, now time.Time, loc *time.Location, validUser func(string) bool) (OffboardInput, map[string]string) {
	if loc == nil {
		loc = time.UTC
	}
	now = now.In(loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	var in OffboardInput
	errs := map[string]string{}

	if f.Person != "" {
		if !validUser(f.Person) {
			errs[blockPerson] = "That is not a person Kinetic can offboard."
		}
		in.UserID = f.Person
	} else {
		errs[blockPerson] = "Choose the person to offboard."
	}

	switch in.Reason = f.Reason; in.Reason {
	case ReasonVoluntary, ReasonEndOfContract:
	case ReasonInvoluntary:
		in.Immediate = true
	case "":
		errs[blockReason] = "Choose a reason."
	default:
		errs[blockReason] = "Choose one of the reasons offered."
	}

	day, dayErr := parseDate(f.LastDay)
	clock := f.LastTime
	if clock == "" {
		clock = DefaultTime
	}
	hour, minute, timeErr := parseClock(clock)
	switch {
	case dayErr != nil:
		errs[blockLastDay] = "Pick the last day."
	case timeErr != nil:
		errs[blockLastTime] = "Pick a time of day."
	case !in.Immediate:
		day.Hour, day.Minute = hour, minute
		at := day.In(loc)
		switch {
		case at.Before(today):
			errs[blockLastDay] = "The last day can't be in the past."
		case at.Before(now):
			errs[blockLastTime] = "That time has already passed today. Pick a later time, or Involuntary to start now."
		case at.Sub(now) > maxAhead:
			errs[blockLastDay] = "That is more than a year ahead; HR schedules those."
		default:
			in.EffectiveAt = at
		}
	}

	in.Notes = strings.TrimSpace(f.Notes)
	if utf8.RuneCountInString(in.Notes) > maxReasonLen {
		errs[blockNotes] = fmt.Sprintf("Keep notes under %d characters.", maxReasonLen)
	}

	in.ForwardToUser = f.ForwardUser
	in.ForwardToEmail = strings.TrimSpace(f.ForwardEmail)
	daysText := strings.TrimSpace(f.ForwardDays)
	if in.ForwardToEmail != "" && !plainEmail(in.ForwardToEmail) {
		errs[blockForwardEmail] = "Enter one email address, like name@example.com."
	}
	if in.ForwardToUser != "" && !validUser(in.ForwardToUser) {
		errs[blockForwardUser] = "Choose a person."
	}
	if in.ForwardToUser != "" && in.ForwardToEmail != "" {
		errs[blockForwardEmail] = "Forward to a person or to an address, not both."
	}
	if daysText != "" {
		n, err := strconv.Atoi(daysText)
		if err != nil || n < 1 || n > maxForwardDays {
			errs[blockForwardDays] = fmt.Sprintf("Enter a whole number of days from 1 to %d.", maxForwardDays)
		} else {
			in.ForwardDays = n
		}
	}
	switch target := in.ForwardToUser != "" || in.ForwardToEmail != ""; {
	case target && daysText == "":
		errs[blockForwardDays] = fmt.Sprintf("Say for how many days (1 to %d).", maxForwardDays)
	case !target && daysText != "":
		errs[blockForwardUser] = "Say who gets the forwarded email."
	}

	in.LegalHold = f.LegalHold

	if f.EquipmentBy != "" {
		d, err := parseDate(f.EquipmentBy)
		switch {
		case err != nil:
			errs[blockEquipment] = "Pick a date."
		default:
			at := d.In(loc)
			if at.Before(today) {
				errs[blockEquipment] = "The return date can't be in the past."
			} else {
				in.EquipmentReturnBy = at
			}
		}
	}
	return in, errs
}

// plainEmail accepts one bare address: name@example.com, no display name.
func plainEmail(s string) bool {
	if len(s) > 320 || strings.ContainsAny(s, " <>") {
		return false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return false
	}
	_, domain, _ := strings.Cut(s, "@")
	return strings.Contains(domain, ".")
}

func reasonModal(callbackID, metadata, title, label, submit, intro string) slack.ModalViewRequest {
	why := slack.NewPlainTextInputBlockElement(plainText("Why?", 150), actionValue)
	why.Multiline = true
	why.MaxLength = maxReasonLen
	why.FocusOnLoad = true
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		Title:           plainText(title, maxModalTitle),
		Submit:          plainText(submit, maxModalTitle),
		Close:           plainText("Back", maxModalTitle),
		CallbackID:      callbackID,
		PrivateMetadata: metadata,
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			section(intro),
			input(blockWhy, label, "Recorded in the audit trail.", why, false),
		}},
	}
}

// SkipReasonModal asks why action actionID — what, its policy
// description or else its name, on person's offboarding — is skipped (the
// Skip button opens it). Its callback id is ModalSkipReason and its
// private_metadata the action (ActionValue); read it with ParseSkipReason.
func SkipReasonModal(actionID int64, what, person string) slack.ModalViewRequest {
	intro := fmt.Sprintf("You are skipping *%s* for *%s*: Kinetic will not do it, and the case closes with exceptions. Say why.",
		data(what, 150), data(person, 100))
	return reasonModal(ModalSkipReason, ActionValue(actionID), "Skip action", "Reason for skipping", "Skip", intro)
}

// ParseSkipReason reads a submitted SkipReasonModal: the action and the
// reason. Problems come back keyed by block id for response_action
// "errors"; a view whose metadata is not an action is an error.
func ParseSkipReason(view slack.View) (actionID int64, reason string, errs map[string]string, err error) {
	return parseReason(view, ModalSkipReason, KindAction)
}

// MarkDoneModal asks who collected or disabled the badge of a manual
// badge step (a facility whose access control has no API): task is the
// step as the owning team was told it (engine's manual task: the person,
// the badge numbers, the doors). Its callback id is ModalMarkDone and its
// private_metadata the action (ActionValue); read it with ParseMarkDone.
func MarkDoneModal(actionID int64, task string) slack.ModalViewRequest {
	who := slack.NewPlainTextInputBlockElement(plainText("Name, and how: collected at the desk, disabled in the panel", 150), actionValue)
	who.MaxLength = maxReasonLen
	who.FocusOnLoad = true
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		Title:           plainText("Mark done", maxModalTitle),
		Submit:          plainText("Mark done", maxModalTitle),
		Close:           plainText("Back", maxModalTitle),
		CallbackID:      ModalMarkDone,
		PrivateMetadata: ActionValue(actionID),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			section(data(task, 2000) + "\n\nKinetic records you as having done it; it stays unverified."),
			input(blockWhy, "Who collected or disabled it?", "Recorded in the audit trail.", who, false),
		}},
	}
}

// ParseMarkDone reads a submitted MarkDoneModal: the action and who
// collected or disabled the badge, with problems keyed by block id.
func ParseMarkDone(view slack.View) (actionID int64, who string, errs map[string]string, err error) {
	actionID, who, errs, err = parseReason(view, ModalMarkDone, KindAction)
	if errs[blockWhy] == "Say why." {
		errs[blockWhy] = "Say who collected or disabled it."
	}
	return actionID, who, errs, err
}

func parseReason(view slack.View, callbackID, kind string) (int64, string, map[string]string, error) {
	if view.CallbackID != callbackID {
		return 0, "", nil, fmt.Errorf("%w: view %q is not %s", ErrBadValue, view.CallbackID, callbackID)
	}
	id, err := ParseID(view.PrivateMetadata, kind)
	if err != nil {
		return 0, "", nil, err
	}
	b, _ := stateValue(view, blockWhy)
	reason := strings.TrimSpace(b.Value)
	errs := map[string]string{}
	if msg := CheckReason(reason); msg != "" {
		errs[blockWhy] = msg
	}
	return id, reason, errs, nil
}

// CheckReason is the rule for a decision's or skip's reason (already
// trimmed), for every chat front end: the message to show, "" when it is
// fine.
func CheckReason(reason string) string {
	switch n := utf8.RuneCountInString(reason); {
	case n == 0:
		return "Say why."
	case n < 3:
		return "Say a little more."
	case n > maxReasonLen:
		return fmt.Sprintf("Keep it under %d characters.", maxReasonLen)
	}
	return ""
}
