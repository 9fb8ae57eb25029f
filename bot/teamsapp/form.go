package teamsapp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/bot/teams/cards"
	"github.com/kineticsec/kinetic/bot/teams/connector"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/engine"
	txt "github.com/kineticsec/kinetic/internal/text"
	"github.com/kineticsec/kinetic/store"
)

// maxNoteBytes bounds the form's note used as each exception's reason, as
// in Slack.
const maxNoteBytes = 1000

// submitOffboard handles the offboard form's submitOffboard invoke as
// Slack's modal submission: the answers are parsed, the people mapped by
// AAD object id and the engine's checks run before Teams gets its answer.
// Problems come back as the form again, with the answers kept and each
// problem under its field; an accepted form opens the case in the
// background and is answered with a "planning…" card.
func (a *App) submitOffboard(ctx context.Context, act *connector.Activity, inv cards.Invoke, req *directory.Employee) invokeResponse {
	refuse := func(errs map[string]string) invokeResponse {
		return cardResponse(cards.OffboardForm(a.now(), inv.Inputs, errs))
	}
	in, errs := cards.ParseOffboardSubmission(inv, a.now(), nil)
	var emp *directory.Employee
	if in.UserID != "" && errs[blocks.FieldPerson] == "" {
		var err error
		emp, err = a.ppl.hr(ctx, in.UserID)
		switch {
		case errors.Is(err, errNoPerson):
			errs[blocks.FieldPerson] = "That person is not in the HR directory."
		case err != nil:
			a.log.WithError(err).Warn("mapping a Teams user to HR failed")
			errs[blocks.FieldPerson] = "Kinetic could not look this person up just now; try again."
		case emp.ID == req.ID:
			errs[blocks.FieldPerson] = "You can't offboard yourself."
		default:
			// Re-read the dates in the employee's own zone.
			in, errs = cards.ParseOffboardSubmission(inv, a.now(), zone(emp))
		}
	}
	if len(errs) > 0 {
		return refuse(errs)
	}
	r := engine.Request{
		EmployeeID: emp.ID, Requester: req.ID, Trigger: store.TriggerTeams, Reason: in.Reason,
		Involuntary: in.Immediate, EffectiveAt: in.EffectiveAt, AwaitConfirmation: !in.Immediate,
	}
	if in.Notes != "" {
		r.Reason = in.Reason + ": " + in.Notes
	}
	why := func(fallback string) string {
		if in.Notes == "" {
			return fallback
		}
		return txt.ClipBytes(in.Notes, maxNoteBytes-len("…"))
	}
	fwdField := blocks.FieldForwardEmail
	if in.ForwardDays > 0 {
		to := in.ForwardToEmail
		if in.ForwardToUser != "" {
			fwdField = blocks.FieldForwardUser
			fwd, err := a.ppl.hr(ctx, in.ForwardToUser)
			if err != nil || fwd.Email == "" {
				return refuse(map[string]string{blocks.FieldForwardUser: "That person has no email in the HR directory; give an address instead."})
			}
			to = fwd.Email
		}
		r.Exceptions = append(r.Exceptions, engine.ExceptionRequest{Kind: "email_forwarding", ForwardTo: to, Days: in.ForwardDays, Via: "teams", Reason: why("requested in the offboarding form")})
	}
	if in.LegalHold {
		r.Exceptions = append(r.Exceptions, engine.ExceptionRequest{Kind: "legal_hold", Via: "teams", Reason: why("requested in the offboarding form")})
	}
	if !in.EquipmentReturnBy.IsZero() {
		days := int(in.EquipmentReturnBy.Sub(a.now()).Hours()/24) + 1
		if !r.EffectiveAt.IsZero() {
			days = int(in.EquipmentReturnBy.Sub(r.EffectiveAt).Hours()/24) + 1
		}
		if days > 0 {
			r.Exceptions = append(r.Exceptions, engine.ExceptionRequest{Kind: "late_laptop", Days: days, Via: "teams", Reason: why("equipment return date set in the offboarding form")})
		}
	}
	if errs := a.precheckForm(ctx, r, fwdField); len(errs) > 0 {
		return refuse(errs)
	}
	a.openInBackground(act, r)
	return cardResponse(cards.Planning(emp.Name, in.Immediate))
}

// Form fields each exception kind of the form is asked for in.
var exceptionFields = map[string]string{"legal_hold": blocks.FieldLegalHold, "late_laptop": blocks.FieldEquipment}

// precheckForm runs the engine's checks of an offboard form's request and
// returns its refusals keyed by the form's fields, as Slack's precheckForm
// does: each exception's (all of them, so every problem shows at once),
// then the request's. fwdField is the field the forwarding target came from.
func (a *App) precheckForm(ctx context.Context, r engine.Request, fwdField string) map[string]string {
	errs := map[string]string{}
	for _, x := range r.Exceptions {
		field := exceptionFields[x.Kind]
		if x.Kind == "email_forwarding" {
			// The address alone first (a one-day request), so that a
			// refused domain is shown at the address, then the days.
			one := x
			one.Days = 1
			if err := a.eng.CheckException(one); err != nil {
				errs[fwdField] = fieldText(err)
				continue
			}
			field = blocks.FieldForwardDays
		}
		if err := a.eng.CheckException(x); err != nil {
			errs[field] = fieldText(err)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	err := a.eng.Precheck(ctx, r)
	if err == nil {
		return nil
	}
	var fe *engine.FieldError
	field := blocks.FieldPerson
	if errors.As(err, &fe) {
		switch f := fe.Field; {
		case f == engine.FieldReason:
			return map[string]string{blocks.FieldNotes: fmt.Sprintf("Too long: the reason and notes together may have at most %d characters.", blocks.MaxReasonLen)}
		case f == engine.FieldEffective:
			field = blocks.FieldLastDay
		case f == engine.FieldRequester:
			return map[string]string{blocks.FieldPerson: "You may not offboard this person: " + fieldText(err) + " Their manager, HR or an admin may."}
		case strings.HasPrefix(f, engine.FieldExceptionPrefix):
			kind := strings.TrimPrefix(f, engine.FieldExceptionPrefix)
			if field = exceptionFields[kind]; kind == "email_forwarding" {
				field = fwdField
			}
		}
	} else if !errors.Is(err, engine.ErrInvalidRequest) && !errors.Is(err, engine.ErrNotAllowed) {
		a.log.WithError(err).Warn("checking an offboard form failed")
		return map[string]string{blocks.FieldPerson: "Kinetic could not check this just now; try again."}
	}
	if field == "" {
		field = blocks.FieldPerson
	}
	return map[string]string{field: fieldText(err)}
}

// fieldText is an engine refusal as a form field's error: one sentence,
// starting with a capital.
func fieldText(err error) string {
	var open *engine.CaseOpenError
	switch {
	case errors.As(err, &open):
		return fmt.Sprintf("An offboarding is already in progress for this person (case %d); \"status @person\" shows it.", open.CaseID)
	case errors.Is(err, engine.ErrUnknownEmployee):
		return "That person is not in the HR directory."
	}
	msg := err.Error()
	for _, prefix := range []string{engine.ErrInvalidRequest.Error() + ": ", engine.ErrNotAllowed.Error() + ": ",
		engine.ErrInactiveEmployee.Error() + ": "} {
		msg = strings.TrimPrefix(msg, prefix)
	}
	if r, n := utf8.DecodeRuneInString(msg); n > 0 {
		msg = string(unicode.ToUpper(r)) + msg[n:]
	}
	return strings.TrimSuffix(msg, ".") + "."
}
