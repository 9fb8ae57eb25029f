package teamsapp

import (
	"context"
	"errors"
	"github.com/kineticsec/kinetic/bot/frontend"

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
	if errs := frontend.PrecheckForm(ctx, a.eng, a.log, r, fwdField, `"status @person" shows it.`); len(errs) > 0 {
		return refuse(errs)
	}
	a.openInBackground(act, r)
	return cardResponse(cards.Planning(emp.Name, in.Immediate))
}
