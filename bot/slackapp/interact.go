package slackapp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/slack-go/slack"

	slackbot "github.com/kineticsec/kinetic/bot/slackbot"
	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/store"
)

// Texts of interaction refusals.
const (
	textGone          = "That case, approval or action no longer exists. Nothing was changed."
	textUnknownButton = "Kinetic doesn't know that button (it may be from an older version). Nothing was changed."
	textBadButton     = "That button's data is not valid. Nothing was changed."
)

// Kinds of recorded messages besides the notifier's.
const kindPreview = "preview"

// buttonTimeout bounds the background work of one button click.
const buttonTimeout = 30 * time.Second

// Interaction implements slackbot.Handlers for buttons and modal
// submissions. Buttons are acknowledged at once and handled in the
// background (results and refusals come back as ephemeral messages or
// message updates); modal submissions are validated in the callback, since
// Slack shows response_action errors only in the answer.
func (a *App) Interaction(ctx context.Context, cb slack.InteractionCallback) slackbot.Response {
	switch cb.Type {
	case slack.InteractionTypeBlockActions:
		if len(cb.ActionCallback.BlockActions) == 0 {
			return slackbot.Ack()
		}
		act := *cb.ActionCallback.BlockActions[0]
		a.background(buttonTimeout, func(ctx context.Context) { a.button(ctx, cb, act) })
		return slackbot.Ack()
	case slack.InteractionTypeViewSubmission:
		switch cb.View.CallbackID {
		case blocks.ModalOffboard:
			return a.submitOffboard(ctx, cb)
		case blocks.ModalDenyReason:
			return a.submitDeny(ctx, cb)
		case blocks.ModalSkipReason:
			return a.submitSkip(ctx, cb)
		}
		a.log.WithField("callback_id", cb.View.CallbackID).Warn("submission of an unknown Slack view")
		return slackbot.ViewClear()
	}
	return slackbot.Ack()
}

// replyChannel is where an ephemeral answer to a click goes.
func replyChannel(cb slack.InteractionCallback) string {
	if cb.Channel.ID != "" {
		return cb.Channel.ID
	}
	return cb.Container.ChannelID
}

// button handles one click, in the background.
func (a *App) button(ctx context.Context, cb slack.InteractionCallback, act slack.BlockAction) {
	user, ch := cb.User.ID, replyChannel(cb)
	say := func(text string) { a.tell(ctx, ch, user, text) }
	var kind string
	switch act.ActionID {
	case blocks.ActionConfirmPlan, blocks.ActionCancelPlan, blocks.ActionOpenCase:
		kind = blocks.KindCase
	case blocks.ActionApprove, blocks.ActionDeny:
		kind = blocks.KindApproval
	case blocks.ActionRetry, blocks.ActionSkip, blocks.ActionMarkDone, blocks.ActionEscalateNow:
		kind = blocks.KindAction
	default:
		say(textUnknownButton)
		return
	}
	id, err := blocks.ParseID(act.Value, kind)
	if err != nil {
		say(textBadButton)
		return
	}
	who, err := a.ppl.hr(ctx, user)
	if err != nil {
		if errors.Is(err, errNoPerson) {
			say(textUnknownRequester)
		} else {
			say(textLookupFailed)
		}
		return
	}
	ctx = engine.WithPrincipal(ctx, slackPrincipal(user, who.ID))
	log := a.log.WithFields(map[string]any{"slack_user": user, "actor": who.ID, "button": act.ActionID, "id": id})
	switch act.ActionID {
	case blocks.ActionConfirmPlan:
		c, err := a.eng.Confirm(ctx, id, who.ID)
		if err != nil {
			say(engineError(err))
			return
		}
		a.resolvePreview(ctx, cb, c.ID, true, who)
		say(fmt.Sprintf(":white_check_mark: Confirmed. Case %d is %s; follow it in %s.", c.ID, statusWord(c.Status), a.where()))
	case blocks.ActionCancelPlan:
		c, err := a.st.CaseWithActions(ctx, id)
		if err != nil {
			say(engineError(err))
			return
		}
		// Only the requester answers their own plan.
		if c.Requester != who.ID {
			say("Kinetic refused: only the requester answers this plan.")
			return
		}
		if c.Status != store.CaseAwaitingConfirmation {
			say(fmt.Sprintf("Nothing to do: case %d is %s, not awaiting confirmation.", c.ID, statusWord(c.Status)))
			return
		}
		// The click's answer replaces the preview; the notifier leaves it.
		a.sent.claim(cb.Container.ChannelID, cb.Container.MessageTs)
		if err := a.eng.CancelCase(ctx, engine.CancelRequest{CaseID: c.ID, By: who.ID, Reason: "plan cancelled by the requester in Slack"}); err != nil {
			a.sent.unclaim(cb.Container.ChannelID, cb.Container.MessageTs)
			say(engineError(err))
			return
		}
		a.resolvePreview(ctx, cb, c.ID, false, who)
	case blocks.ActionOpenCase:
		c, err := a.st.CaseWithActions(ctx, id)
		if err != nil {
			say(engineError(err))
			return
		}
		bs, text := a.statusCard(ctx, c)
		a.tell(ctx, ch, user, text, bs...)
	case blocks.ActionApprove:
		if _, err := a.eng.Decide(ctx, engine.Decision{ApprovalID: id, Approver: who.ID, Approve: true, Via: "slack"}); err != nil {
			say(engineError(err))
			return
		}
		// The notifier updates every card of the approval (approval_decided).
	case blocks.ActionDeny:
		if _, err := a.eng.Approval(ctx, id); err != nil {
			say(engineError(err))
			return
		}
		if _, err := a.api.OpenViewContext(ctx, cb.TriggerID, blocks.DenyReasonModal(id)); err != nil {
			log.WithError(err).Warn("opening the deny reason modal failed")
			say("Kinetic could not open the form for a reason. Please click Deny again.")
		}
	case blocks.ActionSkip:
		if _, err := a.st.Action(ctx, id); err != nil {
			say(engineError(err))
			return
		}
		if _, err := a.api.OpenViewContext(ctx, cb.TriggerID, blocks.SkipReasonModal(id)); err != nil {
			log.WithError(err).Warn("opening the skip reason modal failed")
			say("Kinetic could not open the form for a reason. Please click Skip again.")
		}
	case blocks.ActionRetry:
		if err := a.eng.RetryAction(ctx, id, who.ID); err != nil {
			say(engineError(err))
			return
		}
		say(":arrows_counterclockwise: Retrying.")
	case blocks.ActionMarkDone:
		if err := a.eng.MarkDone(ctx, id, who.ID, "marked done in Slack"); err != nil {
			say(engineError(err))
			return
		}
		say(":white_check_mark: Marked done.")
	case blocks.ActionEscalateNow:
		if err := a.eng.EscalateNow(ctx, id, who.ID); err != nil {
			say(engineError(err))
			return
		}
		say(":rotating_light: Escalated.")
	}
}

// resolvePreview replaces the clicked plan preview by the plan without
// buttons.
func (a *App) resolvePreview(ctx context.Context, cb slack.InteractionCallback, caseID int64, confirmed bool, who *directory.Employee) {
	ch, ts := cb.Container.ChannelID, cb.Container.MessageTs
	if ch == "" || ts == "" {
		return
	}
	var bs []slack.Block
	var text string
	if p := a.takePlan(caseID); p != nil {
		bs, text = blocks.PlanResolved(*p, caseID, confirmed, who.Name, a.now())
	} else {
		verb := "cancelled"
		if confirmed {
			verb = "confirmed"
		}
		text = fmt.Sprintf("Plan for case %d %s by %s.", caseID, verb, who.Name)
		bs = []slack.Block{slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil)}
	}
	if _, err := a.updateMessage(ctx, ch, ts, text, bs); err != nil {
		a.log.WithError(err).WithField("case", caseID).Warn("updating the plan preview failed")
	}
}

// submitOffboard validates the offboard modal. Errors go back to the modal;
// a valid submission closes it and opens the case in the background.
func (a *App) submitOffboard(ctx context.Context, cb slack.InteractionCallback) slackbot.Response {
	req, resp, ok := a.requester(ctx, cb.User.ID)
	if !ok {
		return slackbot.ViewErrors(map[string]string{"person": resp.Message.Text})
	}
	in, errs := blocks.ParseOffboardSubmission(cb.View, a.now(), nil)
	var emp *directory.Employee
	if in.UserID != "" && errs["person"] == "" {
		var err error
		emp, err = a.ppl.hr(ctx, in.UserID)
		switch {
		case errors.Is(err, errNoPerson):
			errs["person"] = "That person is not in the HR directory."
		case err != nil:
			errs["person"] = "Kinetic could not look this person up just now; try again."
		case emp.ID == req.ID:
			errs["person"] = "You can't offboard yourself."
		default:
			// Re-read the dates in the employee's own zone.
			in, errs = blocks.ParseOffboardSubmission(cb.View, a.now(), zone(emp))
		}
	}
	if len(errs) > 0 {
		return slackbot.ViewErrors(errs)
	}
	r := engine.Request{
		EmployeeID: emp.ID, Requester: req.ID, Trigger: store.TriggerSlack, Reason: in.Reason,
		Involuntary: in.Immediate, EffectiveAt: in.EffectiveAt, AwaitConfirmation: !in.Immediate,
	}
	if in.Notes != "" {
		r.Reason = in.Reason + ": " + in.Notes
	}
	if in.ForwardDays > 0 {
		to := in.ForwardToEmail
		if in.ForwardToUser != "" {
			fwd, err := a.ppl.hr(ctx, in.ForwardToUser)
			if err != nil || fwd.Email == "" {
				return slackbot.ViewErrors(map[string]string{"forward_user": "That person has no email in the HR directory; give an address instead."})
			}
			to = fwd.Email
		}
		r.Exceptions = append(r.Exceptions, engine.ExceptionRequest{Kind: "email_forwarding", ForwardTo: to, Days: in.ForwardDays, Via: "slack", Reason: "requested in the offboarding form"})
	}
	if in.LegalHold {
		r.Exceptions = append(r.Exceptions, engine.ExceptionRequest{Kind: "legal_hold", Via: "slack", Reason: "requested in the offboarding form"})
	}
	if !in.EquipmentReturnBy.IsZero() {
		days := int(in.EquipmentReturnBy.Sub(a.now()).Hours()/24) + 1
		if !r.EffectiveAt.IsZero() {
			days = int(in.EquipmentReturnBy.Sub(r.EffectiveAt).Hours()/24) + 1
		}
		if days > 0 {
			r.Exceptions = append(r.Exceptions, engine.ExceptionRequest{Kind: "late_laptop", Days: days, Via: "slack", Reason: "equipment return date set in the offboarding form"})
		}
	}
	a.openInBackground("", cb.User.ID, r)
	return slackbot.ViewClear()
}

func (a *App) submitDeny(ctx context.Context, cb slack.InteractionCallback) slackbot.Response {
	return a.submitReason(ctx, cb, blocks.ParseDenyReason, func(ctx context.Context, id int64, who, reason string) error {
		_, err := a.eng.Decide(ctx, engine.Decision{ApprovalID: id, Approver: who, Approve: false, Reason: reason, Via: "slack"})
		return err
	})
}

func (a *App) submitSkip(ctx context.Context, cb slack.InteractionCallback) slackbot.Response {
	return a.submitReason(ctx, cb, blocks.ParseSkipReason, a.eng.SkipAction)
}

// submitReason is a reason modal's submission: the reason parsed from the
// view, the clicking person as the actor (their Slack principal in ctx), and
// do's refusal shown in the form, which stays open.
func (a *App) submitReason(ctx context.Context, cb slack.InteractionCallback,
	parse func(slack.View) (int64, string, map[string]string, error),
	do func(ctx context.Context, id int64, who, reason string) error) slackbot.Response {
	id, reason, errs, err := parse(cb.View)
	if err != nil {
		return slackbot.ViewErrors(map[string]string{"why": textBadButton})
	}
	if len(errs) > 0 {
		return slackbot.ViewErrors(errs)
	}
	who, resp, ok := a.requester(ctx, cb.User.ID)
	if !ok {
		return slackbot.ViewErrors(map[string]string{"why": resp.Message.Text})
	}
	ctx = engine.WithPrincipal(ctx, slackPrincipal(cb.User.ID, who.ID))
	if err := do(ctx, id, who.ID, reason); err != nil {
		return slackbot.ViewErrors(map[string]string{"why": engineError(err)})
	}
	return slackbot.ViewClear()
}
