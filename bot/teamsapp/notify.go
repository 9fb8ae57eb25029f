package teamsapp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/kineticsec/kinetic/bot/teams/cards"
	"github.com/kineticsec/kinetic/bot/teams/connector"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/store"
)

// Recorded kinds besides store.ChatKindStatus.
const (
	kindThread         = "thread"
	kindApprovalPrefix = "approval:"
)

// notifyTimeout bounds the handling of one batch of events.
const notifyTimeout = time.Minute

// notifier turns engine events into Teams activities. Events are queued by
// Observe and handled in run, at most once per UpdateInterval: all the
// changes of a case within one interval make one status card update
// (Teams throttles a bot at about one message per second per
// conversation: https://learn.microsoft.com/en-us/microsoftteams/platform/bots/how-to/rate-limit).
type notifier struct {
	a *App

	mu     sync.Mutex
	queue  []engine.Event
	signal chan struct{}

	// Owned by the run goroutine: the held batches already alerted, and
	// the HR batch rule's state (batch.go).
	heldBatches map[int64]bool
	hr          hrBatches
}

func newNotifier(a *App) *notifier {
	return &notifier{a: a, signal: make(chan struct{}, 1), heldBatches: map[int64]bool{}}
}

func (n *notifier) observe(ev engine.Event) {
	n.mu.Lock()
	n.queue = append(n.queue, ev)
	n.mu.Unlock()
	select {
	case n.signal <- struct{}{}:
	default:
	}
}

func (n *notifier) take() []engine.Event {
	n.mu.Lock()
	defer n.mu.Unlock()
	q := n.queue
	n.queue = nil
	return q
}

// run handles queued events until ctx ends. Notification work outlives
// the stop signal as in Slack's notifier: the events already queued then
// (a case's closing reply observed just before SIGTERM) are still handled,
// each batch bounded by notifyTimeout on a context of its own.
func (n *notifier) run(ctx context.Context) {
	handle := func() bool {
		evs := n.take()
		if len(evs) == 0 {
			return false
		}
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notifyTimeout)
		defer cancel()
		n.handle(hctx, evs)
		return true
	}
	for {
		if handle() {
			// Coalesce: what arrives in the next interval is handled
			// together.
			select {
			case <-ctx.Done():
				handle()
				return
			case <-time.After(n.a.o.UpdateInterval):
			}
			continue
		}
		select {
		case <-ctx.Done():
			handle()
			return
		case <-n.signal:
		}
	}
}

// handle runs one batch: replies and cards per event, then one status
// card update per case touched.
func (n *notifier) handle(ctx context.Context, evs []engine.Event) {
	a := n.a
	var cases []int64
	for _, ev := range evs {
		if ev.Kind == engine.EventCaseOpened {
			n.opened(ctx, ev) // batch.go: before the case's first card
		}
		if ev.CaseID != 0 && !slices.Contains(cases, ev.CaseID) {
			cases = append(cases, ev.CaseID)
		}
	}
	for _, id := range cases {
		n.statusCard(ctx, id)
	}
	for _, ev := range evs {
		switch ev.Kind {
		case engine.EventAction:
			if ev.Status == store.ActionFailed && ev.Actor == "" && ev.ActionID != 0 {
				if act, err := a.st.Action(ctx, ev.ActionID); err == nil {
					n.threadCard(ctx, ev.CaseID, cards.ActionFailed(*act, ev.CaseID, true, false))
				}
			}
		case engine.EventManualStep:
			if act, err := a.st.Action(ctx, ev.ActionID); err == nil {
				n.threadCard(ctx, ev.CaseID, cards.ManualStep(*act, ev.CaseID, true))
			}
		case engine.EventCaseConfirmed:
			n.caseApprovals(ctx, ev.CaseID)
		case engine.EventApprovalRequested, engine.EventApprovalEscalated, engine.EventApprovalDecided,
			engine.EventApprovalExpired, engine.EventApprovalCancelled:
			n.approvalCards(ctx, ev.ApprovalID)
		case engine.EventEscalation, engine.EventSecurityOfficerNotice, engine.EventBreach, engine.EventHRUnknownEmployee, engine.EventHRLateChange:
			// Escalations, and the alerts the engine addresses to targets,
			// go where they name (an alert that names none goes to the
			// alerts conversation).
			if ev.Kind == engine.EventEscalation || len(ev.Targets) > 0 {
				n.escalation(ctx, ev)
			} else {
				n.toAlerts(ctx, cards.AlertMessage(ev))
			}
		case engine.EventResidualAccess:
			// Reconciliation's residual access, with Remediate (the engine
			// lets admins and security officers use it): the alerts
			// conversation.
			n.toAlerts(ctx, cards.AlertMessage(ev))
		case engine.EventBatchHeld:
			// A batch the mass-termination guard held: one alert per batch
			// (its first case's), not one per case; the cases' cards say
			// they are held.
			if ev.BatchID != 0 && !n.heldBatches[ev.BatchID] {
				n.heldBatches[ev.BatchID] = true
				n.toAlerts(ctx, cards.AlertMessage(ev))
			}
		case engine.EventNotice:
			if ev.NoticeID != 0 {
				n.notice(ctx, ev) // route.go
			}
		case engine.EventEquipment, engine.EventEquipmentOverdue:
			if ev.EquipmentID != 0 {
				n.equipment(ctx, ev) // route.go
			}
		case engine.EventCaseClosed, engine.EventCaseCancelled:
			c, err := a.st.Case(ctx, ev.CaseID)
			if err != nil {
				continue
			}
			count, head, _ := a.st.CaseAuditSummary(ctx, c.ID)
			n.threadCard(ctx, c.ID, cards.CaseClosed(*c, int(count), head))
			n.caseApprovals(ctx, c.ID)
		}
	}
}

// statusCard posts or updates case id's card in the offboarding
// conversation. A case awaiting confirmation has none yet (its plan is in
// the requester's 1:1).
func (n *notifier) statusCard(ctx context.Context, id int64) {
	a := n.a
	if a.o.OffboardingConversation == "" {
		return
	}
	c, err := a.st.CaseWithActions(ctx, id)
	if err != nil {
		return
	}
	ms := a.refs.Load(ctx, id, store.ChatKindStatus)
	if len(ms) == 0 && (c.Status == store.CaseAwaitingConfirmation || (c.Status == store.CaseCancelled && c.StartedAt == nil)) {
		return
	}
	if len(ms) == 0 && len(a.refs.Load(ctx, id, kindBatch)) > 0 {
		return // listed in an HR batch summary (batch.go)
	}
	out, err := cardActivity(a.statusCard(ctx, c))
	if err != nil {
		a.log.WithError(err).Error("building a status card failed")
		return
	}
	if len(ms) > 0 {
		m := ms[0]
		if m.TS == "" {
			return // another process is posting it; the next change updates it
		}
		out.ID = m.TS
		if _, err := a.api.UpdateActivity(ctx, a.o.ServiceURL, m.Channel, m.TS, out); err != nil {
			a.log.WithError(err).WithField("case", id).Warn("updating a Teams status card failed")
		}
		return
	}
	// One card per case even when several processes (kinetic serve and
	// workers) observe its events: the right to post it is claimed first.
	log := a.log.WithField("case", id)
	m, won, err := a.st.ClaimChatMessage(ctx, store.ChatMessage{CaseID: id, Platform: Platform, Channel: a.o.OffboardingConversation, Kind: store.ChatKindStatus}, a.now(), claimStale)
	if err != nil {
		log.WithError(err).Error("claiming a Teams status card failed")
		return
	}
	if !won {
		return
	}
	rr, err := a.api.SendToConversation(ctx, a.o.ServiceURL, a.o.OffboardingConversation, out)
	if err != nil {
		log.WithError(err).Warn("posting a Teams status card failed")
		if err := a.st.ReleaseChatMessage(context.WithoutCancel(ctx), m.ID); err != nil {
			log.WithError(err).Error("releasing a Teams status card claim failed")
		}
		return
	}
	if err := a.st.FillChatMessage(context.WithoutCancel(ctx), m.ID, rr.ID, a.now()); err != nil {
		log.WithError(err).Error("recording a posted Teams status card failed")
	}
}

// claimStale is when a status card claim left unfilled (its process died
// before posting) may be taken over.
const claimStale = 30 * time.Second

// threadCard replies with card under case id's status card (or posts it
// in the offboarding conversation when there is none).
func (n *notifier) threadCard(ctx context.Context, id int64, card *cards.Card) {
	a := n.a
	out, err := cardActivity(card)
	if err != nil {
		return
	}
	ms := a.refs.Load(ctx, id, store.ChatKindStatus)
	if len(ms) > 0 && ms[0].TS != "" {
		out.ReplyToID = ms[0].TS
		rr, err := a.api.ReplyToActivity(ctx, a.o.ServiceURL, ms[0].Channel, ms[0].TS, out)
		if err != nil {
			a.log.WithError(err).WithField("case", id).Warn("replying under a Teams status card failed")
			return
		}
		a.refs.Record(ctx, id, ms[0].Channel, rr.ID, kindThread)
		return
	}
	if a.o.OffboardingConversation == "" {
		return
	}
	if _, err := a.api.SendToConversation(ctx, a.o.ServiceURL, a.o.OffboardingConversation, out); err != nil {
		a.log.WithError(err).WithField("case", id).Warn("posting to the offboarding conversation failed")
	}
}

// caseApprovals runs approvalCards for every approval of a case.
func (n *notifier) caseApprovals(ctx context.Context, caseID int64) {
	aps, err := n.a.eng.Approvals(ctx, "", "", caseID)
	if err != nil {
		return
	}
	for _, ap := range aps {
		n.approvalCards(ctx, ap.ID)
	}
}

// approvalCards updates every copy of approval id's card and DMs it to
// each approver who may decide now and has none (after the plan is
// confirmed).
func (n *notifier) approvalCards(ctx context.Context, id int64) {
	a := n.a
	if id == 0 {
		return
	}
	v, err := a.eng.Approval(ctx, id)
	if err != nil {
		return
	}
	c, err := a.st.Case(ctx, v.CaseID)
	if err != nil {
		return
	}
	info := a.approvalInfo(ctx, v)
	kind := kindApprovalPrefix + strconv.FormatInt(id, 10)
	render := func(canDecide bool) *connector.Activity {
		info.CanDecide = canDecide
		out, _ := cardActivity(cards.ApprovalCard(*v, info, a.now(), nil))
		return out
	}
	sentTo := map[string]bool{}
	pending := v.Status == store.ApprovalPending && c.Status != store.CaseAwaitingConfirmation && c.Status != store.CaseCancelled
	for _, m := range a.refs.Load(ctx, v.CaseID, kind) {
		sentTo[m.Channel] = true
		out := render(pending)
		out.ID = m.TS
		if _, err := a.api.UpdateActivity(ctx, a.o.ServiceURL, m.Channel, m.TS, out); err != nil {
			a.log.WithError(err).WithField("approval", id).Warn("updating a Teams approval card failed")
		}
	}
	if !pending {
		return
	}
	for _, hrID := range v.Approvers {
		member := a.ppl.member(ctx, hrID)
		if member == "" {
			a.log.WithFields(map[string]any{"approval": id, "approver": hrID}).Warn("approver has no Teams account Kinetic can find; no card sent")
			continue
		}
		conv, err := a.api.CreateConversation(ctx, a.o.ServiceURL, &connector.ConversationParameters{
			Bot: &connector.ChannelAccount{ID: "28:" + a.o.AppID}, Members: []connector.ChannelAccount{{ID: member}}, TenantID: a.o.TenantID,
		})
		if err != nil || sentTo[conv.ID] {
			continue
		}
		sentTo[conv.ID] = true
		rr, err := a.api.SendToConversation(ctx, a.o.ServiceURL, conv.ID, render(true))
		if err != nil {
			a.log.WithError(err).WithField("approval", id).Warn("DMing a Teams approval card failed")
			continue
		}
		a.refs.Record(ctx, v.CaseID, conv.ID, rr.ID, kind)
	}
}

// escalation delivers an escalation through the routing table, as Slack
// does (bot/slackapp/route.go): a routed conversation gets the notice with
// the action's buttons, people (user: targets, a route's people) get it by
// DM (with the buttons when the engine lets them operate the action), and
// every message names whom it reached. Each target it could not reach —
// no route, no Teams account, or a Bot Connector refusal such as 403 (the
// app is not in that team) or 404 (no such conversation) — is raised in
// the alerts conversation as a delivery failure; an escalation that
// reached nobody goes there too.
func (n *notifier) escalation(ctx context.Context, ev engine.Event) {
	a := n.a
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
	ds, problems := n.plan(ctx, ev, act != nil, func(hr string) bool { return a.eng.MayOperate(ctx, hr, act) }, employee)
	build := func(d *delivery, reached []string) (*connector.Activity, error) {
		var ba *store.Action
		if d.buttons {
			ba = act
		}
		return cardActivity(cards.Notice(ev, reached, ba))
	}
	var planned []string
	for _, d := range ds {
		planned = append(planned, d.label)
	}
	for _, d := range ds {
		out, err := build(d, planned)
		if err != nil {
			continue
		}
		if p := n.post(ctx, ev, d, out); p != "" {
			problems = append(problems, p)
		}
	}
	var reached []string
	for _, d := range ds {
		if d.activity != "" {
			reached = append(reached, d.label)
		}
	}
	if len(reached) != len(planned) {
		// Someone was not reached after all: each message names only whom
		// it did reach.
		for _, d := range ds {
			if d.activity == "" {
				continue
			}
			if out, err := build(d, reached); err == nil {
				if _, err := a.api.UpdateActivity(ctx, a.o.ServiceURL, d.postedConv, d.activity, out); err != nil {
					a.log.WithError(err).WithField("case", ev.CaseID).Warn("correcting a Teams notification's recipients failed")
				}
			}
		}
	}
	switch {
	case len(problems) > 0:
		n.toAlerts(ctx, cards.DeliveryFailure(ev, problems))
	case len(reached) == 0:
		n.toAlerts(ctx, cards.Notice(ev, reached, act))
	}
}

// refusal says why the Bot Connector did not take a message, as an
// administrator can act on it (never the token or the body).
func refusal(err error) string {
	var ae *connector.APIError
	if !errors.As(err, &ae) {
		return "the message could not be sent"
	}
	switch {
	case ae.Status == http.StatusForbidden:
		return "Teams refused the message (403: the app is not installed in that team or chat, or may not post there)"
	case ae.Status == http.StatusNotFound:
		return "Teams refused the message (404: no such conversation, or the bot is not in it)"
	case ae.Status != 0:
		return fmt.Sprintf("Teams refused the message (HTTP %d %s)", ae.Status, ae.Code)
	}
	return "Teams could not be reached"
}
