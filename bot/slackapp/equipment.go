package slackapp

import (
	"context"
	"fmt"
	"strconv"

	"github.com/slack-go/slack"

	"github.com/kineticsec/kinetic/bot/frontend"
	slackbot "github.com/kineticsec/kinetic/bot/slackbot"
	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/store"
)

// Equipment recovery in Slack. A new task's card goes to its team (the
// event's targets, resolved like every routed notice) with one button per
// move the engine allows next; each move replaces the team's card in
// place, so the channel keeps one live card per device, and the people
// the move names besides the team (the manager who is told how to return
// the device) get the card without buttons. The engine authorizes every
// click again.

// kindEquipPrefix+task id: a posted card carrying an equipment task's
// buttons, replaced at each move.
const kindEquipPrefix = "equip:"

// routeEquipment delivers an equipment event (see above).
func (n *notifier) routeEquipment(ctx context.Context, ev engine.Event) {
	a := n.a
	if a.eng == nil {
		return
	}
	t, err := a.st.EquipmentTask(ctx, ev.EquipmentID)
	if err != nil {
		a.log.WithError(err).WithField("equipment", ev.EquipmentID).Warn("loading an equipment task to announce failed")
		return
	}
	c, err := a.st.Case(ctx, t.CaseID)
	if err != nil {
		a.log.WithError(err).WithField("case", t.CaseID).Warn("loading an equipment task's case failed")
		return
	}
	kind := kindEquipPrefix + strconv.FormatInt(t.ID, 10)
	next := engine.EquipmentNext(t.Status)
	targets := ev.Targets
	if posted := a.refs.Load(ctx, t.CaseID, kind); len(posted) > 0 && ev.Kind == engine.EventEquipment {
		// A move: the team's cards change in place; only the others named
		// are sent the card.
		bs, text := blocks.EquipmentCard(ev, *t, c.EmployeeName, next, true, "")
		for _, m := range posted {
			if _, err := a.updateMessage(ctx, m.Channel, m.TS, text, bs); err != nil {
				a.log.WithError(err).WithField("equipment", t.ID).Warn("updating an equipment card failed")
			}
		}
		targets = nil
		for _, tg := range ev.Targets {
			if tg != "channel:"+t.AssigneeTeam {
				targets = append(targets, tg)
			}
		}
		if len(targets) == 0 {
			return
		}
	}
	ev.Targets = targets
	ds, problems := n.plan(ctx, ev, nil, t, c.EmployeeID)
	for _, d := range ds {
		bs, text := blocks.EquipmentCard(ev, *t, c.EmployeeName, next, d.buttons, d.mention)
		opts := []slack.MsgOption{slack.MsgOptionText(text, false), slack.MsgOptionBlocks(bs...)}
		if d.user != "" {
			d.ch, d.ts, err = a.dm(ctx, d.user, opts...)
		} else {
			d.ch, d.ts, err = a.api.PostMessageContext(ctx, d.channel, opts...)
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: Slack refused the message (%v)", d.label, err))
			a.log.WithError(err).WithFields(map[string]any{"event": ev.Kind, "case": ev.CaseID, "to": d.label}).Warn("delivering an equipment card failed")
			continue
		}
		k := kindAlert
		if d.buttons {
			k = kind
		}
		a.refs.Record(ctx, t.CaseID, d.ch, d.ts, k)
	}
	if len(problems) > 0 {
		n.deliveryFailure(ctx, ev, problems)
	}
}

// clickEquipment handles an equipment button: Disposed… opens the form for
// the certificate reference (only when the clicker may move the task);
// every other button moves the task at once.
func (a *App) clickEquipment(ctx context.Context, cb slack.InteractionCallback, taskID int64, to, who string, say func(string)) {
	if to == store.EquipmentDisposed {
		t, c, err := a.eng.CheckEquipmentMove(ctx, taskID, who)
		if err != nil {
			say(frontend.EngineError(err))
			return
		}
		if _, err := a.api.OpenViewContext(ctx, cb.TriggerID, blocks.DisposeModal(t.ID, t.AssetTag, c.EmployeeName)); err != nil {
			a.log.WithError(err).WithField("equipment", taskID).Warn("opening the disposal form failed")
			say("Kinetic could not open the form for the certificate reference. Please click Disposed… again.")
		}
		return
	}
	res, err := a.eng.MoveEquipment(ctx, engine.EquipmentMove{TaskID: taskID, To: to, Actor: who, Note: "moved in Slack", Via: "slack"})
	if err != nil {
		say(frontend.EngineError(err))
		return
	}
	if !res.Changed {
		say(fmt.Sprintf("Nothing to do: %s is already %s.", res.Task.AssetTag, engine.EquipmentWord(res.Task.Status)))
		return
	}
	say(fmt.Sprintf(":white_check_mark: %s is now %s.", res.Task.AssetTag, engine.EquipmentWord(res.Task.Status)))
}

// submitDispose is the disposal form's submission: the reference is
// checked in the form, and the engine's refusal is shown next to it (the
// form stays open).
func (a *App) submitDispose(ctx context.Context, cb slack.InteractionCallback) slackbot.Response {
	id, ref, errs, err := blocks.ParseDisposeReference(cb.View)
	if err != nil {
		return slackbot.ViewErrors(map[string]string{blocks.FieldReference: textBadButton})
	}
	if len(errs) > 0 {
		return slackbot.ViewErrors(errs)
	}
	who, resp, ok := a.requester(ctx, cb.User.ID)
	if !ok {
		return slackbot.ViewErrors(map[string]string{blocks.FieldReference: resp.Message.Text})
	}
	ctx = engine.WithPrincipal(ctx, slackPrincipal(cb.User.ID, who.ID))
	if _, err := a.eng.MoveEquipment(ctx, engine.EquipmentMove{TaskID: id, To: store.EquipmentDisposed, Actor: who.ID, Reference: ref,
		Note: "disposed of in Slack", Via: "slack"}); err != nil {
		return slackbot.ViewErrors(map[string]string{blocks.FieldReference: frontend.EngineError(err)})
	}
	return slackbot.ViewClear()
}
