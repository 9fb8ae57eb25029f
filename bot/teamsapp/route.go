package teamsapp

import (
	"context"
	"fmt"
	"strconv"

	"github.com/kineticsec/kinetic/bot/teams/cards"
	"github.com/kineticsec/kinetic/bot/teams/connector"
	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/store"
)

// Routed delivery in Teams, as in Slack (bot/slackapp/route.go): an
// event's targets (engine.Event.Targets) are resolved by the routing
// table; a channel target's route posts in its conversation and DMs its
// people, user: targets and approver groups' members are DMed. The
// departing employee is never DMed about their own case. A message about
// something still to do (an action not done, an equipment task without a
// final disposition, a notice not acknowledged) carries its buttons: in
// conversations always, in a DM when the engine lets that person use
// them. Each target it could not reach is raised in the alerts
// conversation as a delivery failure. The engine authorizes every click
// again.

// Recorded kinds of cards carrying buttons that later change in place:
// kindNoticePrefix+notice id, kindEquipPrefix+equipment task id.
const (
	kindNoticePrefix = "notice:"
	kindEquipPrefix  = "equip:"
)

// delivery is one message of a routed event: to a conversation, or to a
// person by DM.
type delivery struct {
	label, conv, member  string // conv for a conversation, member for a DM
	buttons              bool
	postedConv, activity string // where it was posted
}

// plan resolves ev's targets into deliveries and the targets it cannot
// reach. open says the event is about something still to do: a
// conversation's message then carries buttons, and a DM carries them when
// mayUse(HR id) says so. employee is the case's departing person (never
// DMed).
func (n *notifier) plan(ctx context.Context, ev engine.Event, open bool, mayUse func(hrID string) bool, employee string) (ds []*delivery, problems []string) {
	a := n.a
	seen := map[string]bool{}
	for _, t := range ev.Targets {
		d := a.o.Routes.Resolve(t)
		if d.Channel != "" && !seen["c:"+d.Channel] {
			seen["c:"+d.Channel] = true
			label := d.Name
			if label == "" {
				label = d.Channel
			}
			ds = append(ds, &delivery{label: label, conv: d.Channel, buttons: open})
		}
		people := d.People
		for _, id := range d.UserGroups {
			// An Entra group of an approver group: its members as last
			// read through Graph.
			ms := a.GroupMembers(configs.EntraGroupPrefix + id)
			if len(ms) == 0 {
				problems = append(problems, fmt.Sprintf("Entra group %s (%s): no members Kinetic knows (yet)", id, t))
			}
			people = append(people, ms...)
		}
		for _, p := range people {
			if seen["u:"+p] || (employee != "" && p == employee) {
				continue
			}
			seen["u:"+p] = true
			name := a.ppl.name(ctx, p)
			member := a.ppl.member(ctx, p)
			if member == "" {
				problems = append(problems, fmt.Sprintf("%s (%s): no Teams account Kinetic can find", name, p))
				continue
			}
			ds = append(ds, &delivery{label: name, member: member, buttons: open && mayUse != nil && mayUse(p)})
		}
		if !d.Routed || (d.Channel == "" && len(people) == 0 && len(d.UserGroups) == 0) {
			problems = append(problems, fmt.Sprintf("%s: no Teams route (add routing.NAME.teams to the service file)", t))
		}
	}
	return ds, problems
}

// post sends out to d (a conversation, or a DM), recording where it went;
// a refusal is returned as the problem to raise.
func (n *notifier) post(ctx context.Context, ev engine.Event, d *delivery, out *connector.Activity) (problem string) {
	a := n.a
	var err error
	if d.member != "" {
		d.postedConv, d.activity, err = a.dm(ctx, d.member, "", out)
	} else {
		var rr connector.ResourceResponse
		if rr, err = a.api.SendToConversation(ctx, a.o.ServiceURL, d.conv, out); err == nil {
			d.postedConv, d.activity = d.conv, rr.ID
		}
	}
	if err != nil {
		d.activity = ""
		a.log.WithError(err).WithFields(map[string]any{"event": ev.Kind, "case": ev.CaseID, "to": d.label}).Warn("delivering a Teams notification failed")
		return fmt.Sprintf("%s: %s", d.label, refusal(err))
	}
	return ""
}

// toAlerts posts card in the alerts conversation (when there is one).
func (n *notifier) toAlerts(ctx context.Context, card *cards.Card) {
	a := n.a
	if a.o.AlertsConversation == "" {
		return
	}
	if out, err := cardActivity(card); err == nil {
		if _, err := a.api.SendToConversation(ctx, a.o.ServiceURL, a.o.AlertsConversation, out); err != nil {
			a.log.WithError(err).Warn("posting to the Teams alerts conversation failed")
		}
	}
}

// updateAll replaces every recorded card of kind on case caseID with
// card (Acknowledge gone, the equipment task's next moves).
func (n *notifier) updateAll(ctx context.Context, caseID int64, kind string, card *cards.Card) int {
	a := n.a
	ms := a.refs.Load(ctx, caseID, kind)
	for _, m := range ms {
		if m.TS == "" {
			continue
		}
		out, err := cardActivity(card)
		if err != nil {
			return len(ms)
		}
		out.ID = m.TS
		if _, err := a.api.UpdateActivity(ctx, a.o.ServiceURL, m.Channel, m.TS, out); err != nil {
			a.log.WithError(err).WithFields(map[string]any{"case": caseID, "kind": kind}).Warn("updating a Teams card failed")
		}
	}
	return len(ms)
}

// notice delivers a notice event: the receiving team's route gets the
// notice's card with Acknowledge (the engine decides who may: a member
// of the approver group named like the team, never the departing
// person); the acknowledgement (a button, the link or a callback)
// replaces every copy in place with one saying who acknowledged.
func (n *notifier) notice(ctx context.Context, ev engine.Event) {
	a := n.a
	no, err := a.st.Notice(ctx, ev.NoticeID)
	if err != nil {
		a.log.WithError(err).WithField("notice", ev.NoticeID).Warn("loading a notice to announce failed")
		return
	}
	c, err := a.st.Case(ctx, no.CaseID)
	if err != nil {
		return
	}
	dates, err := a.eng.NoticeDates(ctx, no)
	if err != nil {
		a.log.WithError(err).WithField("notice", no.ID).Warn("computing a notice's dates for its card failed")
	}
	kind := kindNoticePrefix + strconv.FormatInt(no.ID, 10)
	card := cards.NoticeCard(*no, c.EmployeeName, dates, true)
	if n.updateAll(ctx, no.CaseID, kind, card) > 0 || !no.Open() {
		return // posted already (changed in place), or acknowledged before it was posted
	}
	ds, problems := n.plan(ctx, ev, true, func(string) bool { return true }, c.EmployeeID)
	out, err := cardActivity(card)
	if err != nil {
		return
	}
	for _, d := range ds {
		if p := n.post(ctx, ev, d, out); p != "" {
			problems = append(problems, p)
			continue
		}
		a.refs.Record(ctx, no.CaseID, d.postedConv, d.activity, kind)
	}
	if len(problems) > 0 {
		n.toAlerts(ctx, cards.DeliveryFailure(ev, problems))
	}
}

// equipment delivers an equipment event: a new task's card goes to its
// team with one button per move the engine allows next; each move
// replaces the team's cards in place (one live card per device), and the
// others the move names (the manager told how to return the device) get
// the card, with buttons only if the engine lets them move the task.
func (n *notifier) equipment(ctx context.Context, ev engine.Event) {
	a := n.a
	t, err := a.st.EquipmentTask(ctx, ev.EquipmentID)
	if err != nil {
		a.log.WithError(err).WithField("equipment", ev.EquipmentID).Warn("loading an equipment task to announce failed")
		return
	}
	c, err := a.st.Case(ctx, t.CaseID)
	if err != nil {
		return
	}
	kind := kindEquipPrefix + strconv.FormatInt(t.ID, 10)
	next := engine.EquipmentNext(t.Status)
	if ev.Kind == engine.EventEquipment && n.updateAll(ctx, t.CaseID, kind, cards.EquipmentCard(ev, *t, c.EmployeeName, next, true)) > 0 {
		var others []string
		for _, tg := range ev.Targets {
			if tg != "channel:"+t.AssigneeTeam {
				others = append(others, tg)
			}
		}
		if len(others) == 0 {
			return
		}
		ev.Targets = others
	}
	open := !store.EquipmentFinal(t.Status)
	ds, problems := n.plan(ctx, ev, open, func(hr string) bool { return a.eng.MayMoveEquipment(hr, t) }, c.EmployeeID)
	for _, d := range ds {
		out, err := cardActivity(cards.EquipmentCard(ev, *t, c.EmployeeName, next, d.buttons))
		if err != nil {
			continue
		}
		if p := n.post(ctx, ev, d, out); p != "" {
			problems = append(problems, p)
			continue
		}
		if d.buttons {
			a.refs.Record(ctx, t.CaseID, d.postedConv, d.activity, kind)
		}
	}
	if len(problems) > 0 {
		n.toAlerts(ctx, cards.DeliveryFailure(ev, problems))
	}
}
