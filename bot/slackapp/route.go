package slackapp

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/slack-go/slack"

	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/routing"
	"github.com/kineticsec/kinetic/store"
)

// Routed delivery. An escalation level, a manual step's notice (to its
// owning team, with Mark done), a security officer notice, a compliance
// breach and an HR alert go to exactly the targets the engine
// names (engine.Event.Targets), resolved by the routing table
// (internal/routing, the service file's routing block):
//
//   - channel:NAME posts in NAME's channel; its user group, if any, is
//     mentioned in that post (Slack notifies the members); a route with a
//     user group and no channel DMs each member instead; its people are
//     DMed. The security channel's route is the alerts channel.
//   - user:HR-ID and the members of group:NAME (HR ids and Slack user
//     groups) are DMed.
//
// The message about an action that is not done carries its buttons
// (Retry, Skip…, Mark done, Escalate now): in channels always, in a DM
// when the engine lets that person operate the action; the engine
// authorizes every click again. The message names only whom it reached;
// each target it could not reach (no route, no Slack account, a Slack API
// error) is raised in the alerts channel as a delivery failure. A channel
// target without a route still reaches the alerts channel, so nothing is
// lost — except a manual step's, whose thread reply has Mark done.
// Escalations are also replied in the case's thread, naming whom they
// reached; a manual step keeps its own thread reply (actionReply).

// kindRoutePrefix+action id: a routed message carrying an action's
// buttons, replaced once the action moves on (updateRouted).
const kindRoutePrefix = "route:"

// routedKind reports whether events of kind k are delivered to their
// targets (route) rather than posted to the alerts channel only (alert).
func routedKind(k engine.EventKind) bool {
	switch k {
	case engine.EventEscalation, engine.EventSecurityOfficerNotice, engine.EventBreach, engine.EventHRUnknownEmployee, engine.EventHRLateChange,
		engine.EventManualStep, engine.EventEquipment, engine.EventEquipmentOverdue, engine.EventNotice:
		return true
	}
	return false
}

// delivery is one message of a routed event: to a channel or to a person.
type delivery struct {
	label   string // whom it reaches, as people read it: "#it-identity", "Sam Security"
	channel string // channel to post in; "" for a DM
	user    string // Slack user id to DM
	mention string // Slack user group mentioned in the post
	buttons bool   // carries the action's buttons

	ch, ts string // where it was posted
}

// route delivers ev to the targets it names (see the comment above).
func (n *notifier) route(ctx context.Context, ev engine.Event) {
	a := n.a
	if ev.EquipmentID != 0 {
		n.routeEquipment(ctx, ev)
		return
	}
	if ev.Kind == engine.EventNotice {
		n.routeNotice(ctx, ev) // notices.go
		return
	}
	var act *store.Action
	if ev.ActionID != 0 {
		if x, err := a.st.Action(ctx, ev.ActionID); err == nil {
			act = x
		}
	}
	employee := ""
	if ev.CaseID != 0 {
		if c, err := a.st.Case(ctx, ev.CaseID); err == nil {
			employee = c.EmployeeID
		}
	}
	ds, problems := n.plan(ctx, ev, act, nil, employee)
	names := a.ppl.names(ctx, ev.Actor) // who escalated, by name
	build := func(d *delivery, reached []string) ([]slack.Block, string) {
		var ba *store.Action
		if d.buttons {
			ba = act
		}
		return blocks.Notice(ev, reached, ba, d.mention, names)
	}
	opts := func(bs []slack.Block, text string) []slack.MsgOption {
		return []slack.MsgOption{slack.MsgOptionText(text, false), slack.MsgOptionBlocks(bs...)}
	}
	planned := labels(ds, func(*delivery) bool { return true })
	for _, d := range ds {
		var err error
		if d.user != "" {
			d.ch, d.ts, err = a.dm(ctx, d.user, opts(build(d, planned))...)
		} else {
			d.ch, d.ts, err = a.api.PostMessageContext(ctx, d.channel, opts(build(d, planned))...)
		}
		if err != nil {
			d.ts = ""
			problems = append(problems, fmt.Sprintf("%s: Slack refused the message (%v)", d.label, err))
			a.log.WithError(err).WithFields(map[string]any{"event": ev.Kind, "case": ev.CaseID, "to": d.label}).Warn("delivering a notification failed")
		}
	}
	posted := func(d *delivery) bool { return d.ts != "" }
	reached := labels(ds, posted)
	for _, d := range ds {
		if !posted(d) {
			continue
		}
		if len(reached) != len(planned) {
			// Someone was not reached after all: the message names only
			// whom it did reach.
			bs, text := build(d, reached)
			if _, err := a.updateMessage(ctx, d.ch, d.ts, text, bs); err != nil {
				a.log.WithError(err).WithField("case", ev.CaseID).Warn("correcting a notification's recipients failed")
			}
		}
		if ev.CaseID != 0 {
			kind := kindAlert
			if d.buttons && act != nil {
				kind = kindRoutePrefix + strconv.FormatInt(act.ID, 10)
			}
			a.refs.Record(ctx, ev.CaseID, d.ch, d.ts, kind)
		}
	}
	if len(problems) > 0 {
		n.deliveryFailure(ctx, ev, problems)
	}
	if ev.Kind == engine.EventEscalation && ev.CaseID != 0 {
		th := ev
		th.Targets = reached
		bs, text := blocks.Escalation(th, names)
		n.reply(ctx, ev.CaseID, kindThread, text, bs)
	}
}

// plan resolves ev's targets into deliveries (one per Slack channel or
// user, the first target naming it deciding its label) and the targets
// that cannot be reached. The case's departing employee (HR id employee)
// is never sent a DM about their own case, even as a member of a team.
//
// The deliveries carry buttons when the event is about an action that is
// not done (act) or an equipment task without a final disposition (eq):
// in channels always, in a DM when the engine lets that person operate
// the action or move the task.
func (n *notifier) plan(ctx context.Context, ev engine.Event, act *store.Action, eq *store.EquipmentTask, employee string) (ds []*delivery, problems []string) {
	a := n.a
	seen := map[string]bool{}
	open := act != nil && (!store.ActionFinal(act.Status) || act.Status == store.ActionFailed) || eq != nil && !store.EquipmentFinal(eq.Status)
	mayUse := func(hrID string) bool {
		switch {
		case !open || a.eng == nil:
			return false
		case act != nil:
			return a.eng.MayOperate(ctx, hrID, act)
		}
		return a.eng.MayMoveEquipment(hrID, eq)
	}
	addChannel := func(ch, label, mention string) {
		if seen["c:"+ch] {
			return
		}
		seen["c:"+ch] = true
		ds = append(ds, &delivery{label: label, channel: ch, mention: mention, buttons: open})
	}
	addPerson := func(hrID, via string) {
		if hrID == employee {
			return
		}
		name := a.ppl.name(ctx, hrID)
		sid := a.ppl.slackID(ctx, hrID)
		if sid == "" {
			problems = append(problems, fmt.Sprintf("%s (%s%s): no Slack account Kinetic can find", name, hrID, via))
			return
		}
		if seen["u:"+sid] {
			return
		}
		seen["u:"+sid] = true
		ds = append(ds, &delivery{label: name, user: sid, buttons: mayUse(hrID)})
	}
	addGroup := func(id, via string) {
		members := a.GroupMembers(configs.SlackGroupPrefix + id)
		if len(members) == 0 {
			problems = append(problems, fmt.Sprintf("Slack user group %s (%s): no members Kinetic knows (yet)", id, via))
		}
		for _, m := range members {
			addPerson(m, ", "+via)
		}
	}
	for _, t := range ev.Targets {
		d := a.routes.Resolve(t)
		switch d.Kind {
		case routing.KindChannel:
			if d.Name == a.secCh && d.Channel == "" && a.cfg.AlertsChannel != "" {
				d.Channel, d.Routed = a.cfg.AlertsChannel, true
			}
			if !d.Routed && ev.Kind == engine.EventManualStep {
				// A manual step's reply in the case thread carries Mark
				// done already: the alerts channel is not for routine
				// work. A missing route is raised only once a routing
				// block exists (with none, nothing is routed).
				if len(a.routes.Names()) > 0 {
					problems = append(problems, fmt.Sprintf("#%s: no route (add routing.%s.slack to the service file)", d.Name, d.Name))
				}
				continue
			}
			if !d.Routed {
				problems = append(problems, fmt.Sprintf("#%s: no route (add routing.%s.slack to the service file)", d.Name, d.Name))
				if a.cfg.AlertsChannel != "" {
					addChannel(a.cfg.AlertsChannel, n.alertsLabel(), "") // not lost: the alerts channel sees it
				}
				continue
			}
			if d.Channel != "" {
				addChannel(d.Channel, "#"+d.Name, d.UserGroup)
			} else if d.UserGroup != "" {
				addGroup(d.UserGroup, "#"+d.Name)
			}
			for _, p := range d.People {
				addPerson(p, ", #"+d.Name)
			}
		case routing.KindUser:
			addPerson(d.Name, "")
		case routing.KindGroup:
			if !d.Routed {
				problems = append(problems, fmt.Sprintf("group %s: no such approver group", d.Name))
				continue
			}
			for _, p := range d.People {
				addPerson(p, ", group "+d.Name)
			}
			for _, g := range d.UserGroups {
				addGroup(g, "group "+d.Name)
			}
		default:
			problems = append(problems, fmt.Sprintf("%s: not a target Kinetic can deliver", t))
		}
	}
	return ds, problems
}

// alertsLabel names the alerts channel for people.
func (n *notifier) alertsLabel() string {
	if n.a.secCh != "" {
		return "#" + n.a.secCh
	}
	return "the alerts channel"
}

// labels are the deliveries' labels for which keep holds, without repeats,
// in order.
func labels(ds []*delivery, keep func(*delivery) bool) []string {
	var out []string
	for _, d := range ds {
		if keep(d) && !slices.Contains(out, d.label) {
			out = append(out, d.label)
		}
	}
	return out
}

// deliveryFailure raises the targets an event could not reach in the
// alerts channel (logged when there is none, or it fails too).
func (n *notifier) deliveryFailure(ctx context.Context, ev engine.Event, problems []string) {
	a := n.a
	log := a.log.WithFields(map[string]any{"event": ev.Kind, "case": ev.CaseID, "not_reached": problems})
	if a.cfg.AlertsChannel == "" {
		log.Warn("a notification did not reach everyone it names, and there is no alerts channel to say so")
		return
	}
	bs, text := blocks.DeliveryFailure(ev, problems)
	ch, ts, err := a.api.PostMessageContext(ctx, a.cfg.AlertsChannel, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(bs...))
	if err != nil {
		log.WithError(err).Error("a notification did not reach everyone it names, and raising that in the alerts channel failed")
		return
	}
	if ev.CaseID != 0 {
		a.refs.Record(ctx, ev.CaseID, ch, ts, kindAlert)
	}
}

// updateRouted replaces the routed messages carrying an action's buttons
// once the action moved on: done, skipped or cancelled, or retried by
// someone (no button is left that the engine would refuse), or failed
// anew (the failure, with Retry). A click that leaves the action as it
// was changes nothing, and neither does an update to what a message
// already shows (updateMessage).
func (n *notifier) updateRouted(ctx context.Context, ev engine.Event, act *store.Action) {
	a := n.a
	ms := a.refs.Load(ctx, act.CaseID, kindRoutePrefix+strconv.FormatInt(act.ID, 10))
	if len(ms) == 0 {
		return
	}
	var bs []slack.Block
	var text string
	switch {
	case act.Status == store.ActionFailed && ev.Actor == "" && ev.Status == store.ActionFailed:
		bs, text = blocks.ActionFailed(*act, act.CaseID, act.Skippable, act.Manual)
	case store.ActionFinal(act.Status) && act.Status != store.ActionFailed,
		ev.Actor != "" && (act.Status == store.ActionBlocked || act.Status == store.ActionQueued):
		bs, text = blocks.ActionMovedOn(*act)
	default:
		return
	}
	for _, m := range ms {
		if _, err := a.updateMessage(ctx, m.Channel, m.TS, text, bs); err != nil {
			a.log.WithError(err).WithField("action", act.ID).Warn("updating a routed notification failed")
		}
	}
}
