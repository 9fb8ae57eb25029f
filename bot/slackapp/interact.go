package slackapp

import (
	"context"
	"errors"
	"fmt"
	"github.com/kineticsec/kinetic/bot/frontend"
	"strings"
	"time"

	"github.com/slack-go/slack"

	slackbot "github.com/kineticsec/kinetic/bot/slackbot"
	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/engine"
	txt "github.com/kineticsec/kinetic/internal/text"
	"github.com/kineticsec/kinetic/store"
)

// Texts of interaction refusals.
const (
	textGone          = frontend.TextGone
	textUnknownButton = frontend.TextUnknownButton
	textBadButton     = frontend.TextBadButton
)

// Kinds of recorded messages besides the notifier's.
const kindPreview = "preview"

// maxNoteBytes bounds the requester's note carried as an exception's
// reason (the engine takes at most 1000 bytes).
const maxNoteBytes = 1000

// buttonTimeout bounds the background work of one button click.
const buttonTimeout = 30 * time.Second

// Interaction implements slackbot.Handlers for buttons, modal submissions
// and the global shortcut "Offboard someone" (blocks.ShortcutOffboard,
// which opens the offboard modal). Buttons are acknowledged at once and
// handled in the background (results and refusals come back as ephemeral
// messages or message updates); modal submissions are validated in the
// callback, since Slack shows response_action errors only in the answer.
func (a *App) Interaction(ctx context.Context, cb slack.InteractionCallback) slackbot.Response {
	switch cb.Type {
	case slack.InteractionTypeShortcut:
		if cb.CallbackID == blocks.ShortcutOffboard {
			return a.offboardShortcut(ctx, cb)
		}
		a.log.WithField("callback_id", cb.CallbackID).Warn("unknown Slack shortcut")
		return slackbot.Ack()
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
		case blocks.ModalApproveReason:
			return a.submitApprove(ctx, cb)
		case blocks.ModalSkipReason:
			return a.submitSkip(ctx, cb)
		case blocks.ModalMarkDone:
			return a.submitMarkDone(ctx, cb)
		case blocks.ModalDisposeReference:
			return a.submitDispose(ctx, cb)
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
	equipTo, isEquip := blocks.EquipmentStatusOf(act.ActionID)
	switch act.ActionID {
	case blocks.ActionConfirmPlan, blocks.ActionCancelPlan, blocks.ActionOpenCase:
		kind = blocks.KindCase
	case blocks.ActionApprove, blocks.ActionDeny:
		kind = blocks.KindApproval
	case blocks.ActionRetry, blocks.ActionSkip, blocks.ActionMarkDone, blocks.ActionEscalateNow:
		kind = blocks.KindAction
	case blocks.ActionAckNotice:
		kind = blocks.KindNotice
	case blocks.ActionRemediate:
		kind = blocks.KindResidual
	default:
		if !isEquip {
			say(textUnknownButton)
			return
		}
		kind = blocks.KindEquipment
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
	if isEquip {
		a.clickEquipment(ctx, cb, id, equipTo, who.ID, say)
		return
	}
	if act.ActionID == blocks.ActionAckNotice {
		a.clickAckNotice(ctx, id, who.ID, say) // notices.go
		return
	}
	switch act.ActionID {
	case blocks.ActionConfirmPlan:
		c, err := a.eng.Confirm(ctx, id, who.ID)
		if err != nil {
			say(frontend.EngineError(err))
			return
		}
		a.resolvePreview(ctx, cb, c.ID, true, who)
		say(fmt.Sprintf(":white_check_mark: Confirmed. Case %d is %s; follow it in %s.", c.ID, frontend.StatusWord(c.Status), a.where()))
	case blocks.ActionCancelPlan:
		c, err := a.st.CaseWithActions(ctx, id)
		if err != nil {
			say(frontend.EngineError(err))
			return
		}
		// Only the requester answers their own plan.
		if c.Requester != who.ID {
			say("Kinetic refused: only the requester answers this plan.")
			return
		}
		if c.Status != store.CaseAwaitingConfirmation {
			say(fmt.Sprintf("Nothing to do: case %d is %s, not awaiting confirmation.", c.ID, frontend.StatusWord(c.Status)))
			return
		}
		// The click's answer replaces the preview; the notifier leaves it.
		a.sent.claim(cb.Container.ChannelID, cb.Container.MessageTs)
		if err := a.eng.CancelCase(ctx, engine.CancelRequest{CaseID: c.ID, By: who.ID, Reason: "plan cancelled by the requester in Slack"}); err != nil {
			a.sent.unclaim(cb.Container.ChannelID, cb.Container.MessageTs)
			say(frontend.EngineError(err))
			return
		}
		a.resolvePreview(ctx, cb, c.ID, false, who)
	case blocks.ActionOpenCase:
		// Shown like /offboard status: only to someone who may see the
		// case, and a refusal reads like no case at all.
		c, err := a.st.CaseWithActions(ctx, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && !a.eng.MayView(ctx, who.ID, c)) {
			say(textNothingToSee)
			return
		}
		bs, text := a.statusCard(ctx, c)
		a.tell(ctx, ch, user, text, bs...)
	case blocks.ActionApprove:
		a.clickApprove(ctx, cb, id, who.ID, say)
	case blocks.ActionDeny:
		a.clickDeny(ctx, cb, id, who.ID, say)
	case blocks.ActionSkip:
		// The form opens only when the skip would be accepted: whoever may
		// not skip this action is told so instead.
		act, c, err := a.eng.CheckSkip(ctx, id, who.ID)
		if err != nil {
			say(frontend.EngineError(err))
			return
		}
		if _, err := a.api.OpenViewContext(ctx, cb.TriggerID, blocks.SkipReasonModal(id, a.actionTitle(act), c.EmployeeName)); err != nil {
			log.WithError(err).Warn("opening the skip reason modal failed")
			say("Kinetic could not open the form for a reason. Please click Skip again.")
		}
	case blocks.ActionRetry:
		if err := a.eng.RetryAction(ctx, id, who.ID); err != nil {
			say(frontend.EngineError(err))
			return
		}
		say(":arrows_counterclockwise: Retrying.")
	case blocks.ActionMarkDone:
		// A badge taken back by hand (a facility without an API) is
		// marked done with who collected or disabled it: the form opens
		// only when the mark would be accepted.
		act, c, err := a.eng.CheckMarkDone(ctx, id, who.ID)
		if err != nil {
			say(frontend.EngineError(err))
			return
		}
		if engine.AsksWhoCollected(act) {
			if _, err := a.api.OpenViewContext(ctx, cb.TriggerID, blocks.MarkDoneModal(id, engine.ManualTask(c, act))); err != nil {
				log.WithError(err).Warn("opening the mark done form failed")
				say("Kinetic could not open the form. Please click Mark done again.")
			}
			return
		}
		if err := a.eng.MarkDone(ctx, id, who.ID, "marked done in Slack"); err != nil {
			say(frontend.EngineError(err))
			return
		}
		say(":white_check_mark: Marked done.")
	case blocks.ActionEscalateNow:
		if err := a.eng.EscalateNow(ctx, id, who.ID); err != nil {
			say(frontend.EngineError(err))
			return
		}
		say(":rotating_light: Escalated.")
	case blocks.ActionRemediate:
		aid, err := a.eng.Remediate(ctx, id, who.ID)
		if err != nil {
			say(frontend.EngineError(err))
			return
		}
		say(fmt.Sprintf(":hammer_and_wrench: Remediation added (action %d); it runs now and is read back. Follow it in the case.", aid))
	}
}

// actionTitle is how people know an action: the policy's description of
// it, else its name.
func (a *App) actionTitle(act *store.Action) string {
	if def := a.eng.Policy().File.Actions[act.Name]; def != nil && strings.TrimSpace(def.Description) != "" {
		return def.Description
	}
	return act.Name
}

// offboardShortcut opens the offboard modal from the global shortcut
// "Offboard someone", as /offboard alone does; someone Kinetic can't map to
// HR is told so by DM instead.
func (a *App) offboardShortcut(ctx context.Context, cb slack.InteractionCallback) slackbot.Response {
	user, trigger := cb.User.ID, cb.TriggerID
	if _, resp, ok := a.requester(ctx, user); !ok {
		a.background(buttonTimeout, func(ctx context.Context) { a.tell(ctx, "", user, resp.Message.Text) })
		return slackbot.Ack()
	}
	a.background(10*time.Second, func(ctx context.Context) {
		if _, err := a.api.OpenViewContext(ctx, trigger, blocks.OffboardModal(a.now())); err != nil {
			a.log.WithError(err).WithField("slack_user", user).Warn("opening the offboard modal from the shortcut failed")
			a.tell(ctx, "", user, "Kinetic could not open the offboarding form. Try again, or use /offboard @person.")
		}
	})
	return slackbot.Ack()
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
	if p := a.plans.Take(caseID); p != nil {
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

// submitOffboard validates the offboard modal. Every check that needs no
// connector runs here, within Slack's 3 seconds — the form's own, the
// employee and the requester's right to offboard them, an open case, and
// each exception against the policy (engine.Precheck,
// engine.CheckException) — and comes back as errors next to the fields, so
// the form stays as it was filled in. A valid submission closes it and
// opens the case in the background.
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
	fwdBlock := "forward_email"
	// The requester's note ("Anything approvers should know") goes on the
	// approval cards as each exception's reason.
	why := func(fallback string) string {
		if in.Notes == "" {
			return fallback
		}
		return txt.ClipBytes(in.Notes, maxNoteBytes-len("…"))
	}
	if in.ForwardDays > 0 {
		to := in.ForwardToEmail
		if in.ForwardToUser != "" {
			fwdBlock = "forward_user"
			fwd, err := a.ppl.hr(ctx, in.ForwardToUser)
			if err != nil || fwd.Email == "" {
				return slackbot.ViewErrors(map[string]string{"forward_user": "That person has no email in the HR directory; give an address instead."})
			}
			to = fwd.Email
		}
		r.Exceptions = append(r.Exceptions, engine.ExceptionRequest{Kind: "email_forwarding", ForwardTo: to, Days: in.ForwardDays, Via: "slack", Reason: why("requested in the offboarding form")})
	}
	if in.LegalHold {
		r.Exceptions = append(r.Exceptions, engine.ExceptionRequest{Kind: "legal_hold", Via: "slack", Reason: why("requested in the offboarding form")})
	}
	if !in.EquipmentReturnBy.IsZero() {
		days := int(in.EquipmentReturnBy.Sub(a.now()).Hours()/24) + 1
		if !r.EffectiveAt.IsZero() {
			days = int(in.EquipmentReturnBy.Sub(r.EffectiveAt).Hours()/24) + 1
		}
		if days > 0 {
			r.Exceptions = append(r.Exceptions, engine.ExceptionRequest{Kind: "late_laptop", Days: days, Via: "slack", Reason: why("equipment return date set in the offboarding form")})
		}
	}
	ctx = engine.WithPrincipal(ctx, slackPrincipal(cb.User.ID, req.ID))
	if errs := frontend.PrecheckForm(ctx, a.eng, a.log, r, fwdBlock, "/offboard status shows it."); len(errs) > 0 {
		return slackbot.ViewErrors(errs)
	}
	a.openInBackground("", cb.User.ID, r)
	return slackbot.ViewClear()
}

// submitMarkDone marks a manual badge step done with who collected or
// disabled the badge, as the person answered in MarkDoneModal.
func (a *App) submitMarkDone(ctx context.Context, cb slack.InteractionCallback) slackbot.Response {
	return a.submitReason(ctx, cb, blocks.ParseMarkDone, func(ctx context.Context, id int64, who, answer string) error {
		return a.eng.MarkDone(ctx, id, who, "collected or disabled by "+answer)
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
		return slackbot.ViewErrors(map[string]string{"why": frontend.EngineError(err)})
	}
	return slackbot.ViewClear()
}
