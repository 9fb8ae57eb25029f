package frontend

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/engine"
)

// exceptionFields are the offboard form's fields each exception kind is
// asked for in (the form's field names are blocks.Field*, in Slack's modal
// and Teams' card alike).
var exceptionFields = map[string]string{"legal_hold": blocks.FieldLegalHold, "late_laptop": blocks.FieldEquipment}

// PrecheckForm runs the engine's checks of an offboard form's request
// (engine.CheckException for each exception, then engine.Precheck: no
// connector call, so within a chat platform's callback time) and returns
// its refusals keyed by the form's fields, every exception's problems at
// once; nil when the request would be taken. fwdField is the field the
// forwarding target came from (an address, or a person); statusHint says
// how to follow an open case on this platform.
func PrecheckForm(ctx context.Context, eng *engine.Engine, log *logrus.Entry, r engine.Request, fwdField, statusHint string) map[string]string {
	errs := map[string]string{}
	for _, x := range r.Exceptions {
		field := exceptionFields[x.Kind]
		if x.Kind == "email_forwarding" {
			// The address alone first (a one-day request), so that a
			// refused domain is shown at the address, then the days.
			one := x
			one.Days = 1
			if err := eng.CheckException(one); err != nil {
				errs[fwdField] = FieldText(err, statusHint)
				continue
			}
			field = blocks.FieldForwardDays
		}
		if err := eng.CheckException(x); err != nil {
			errs[field] = FieldText(err, statusHint)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	err := eng.Precheck(ctx, r)
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
			return map[string]string{blocks.FieldPerson: "You may not offboard this person: " + FieldText(err, statusHint) + " Their manager, HR or an admin may."}
		case strings.HasPrefix(f, engine.FieldExceptionPrefix):
			kind := strings.TrimPrefix(f, engine.FieldExceptionPrefix)
			if field = exceptionFields[kind]; kind == "email_forwarding" {
				field = fwdField
			}
		}
	} else if !errors.Is(err, engine.ErrInvalidRequest) && !errors.Is(err, engine.ErrNotAllowed) {
		log.WithError(err).Warn("checking an offboard form failed")
		return map[string]string{blocks.FieldPerson: "Kinetic could not check this just now; try again."}
	}
	if field == "" {
		field = blocks.FieldPerson
	}
	return map[string]string{field: FieldText(err, statusHint)}
}

// FieldText is an engine refusal as a form field's error: one sentence,
// starting with a capital; statusHint says how to follow an open case.
func FieldText(err error, statusHint string) string {
	var open *engine.CaseOpenError
	switch {
	case errors.As(err, &open):
		return fmt.Sprintf("An offboarding is already in progress for this person (case %d); %s", open.CaseID, statusHint)
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
