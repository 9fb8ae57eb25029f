package slackapp

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/store"
)

// Kinds of store.ChatMessage the notifier records.
const (
	kindStatus = store.ChatKindStatus // the case's parent message in the offboarding channel
	kindDM     = store.ChatKindDM     // the same card in the manager's or HR partner's DM
	kindThread = "thread"             // a reply in the case's thread
	kindBatch  = "batch"              // the case is listed in an HR batch summary at (channel, ts)
	kindAlert  = "alert"              // an alert about the case in the alerts channel
	// kindFailPrefix+action id: the failure reply of an action, updated
	// when the action changes; kindApprovalPrefix+approval id: an approval
	// card DMed to an approver.
	kindFailPrefix     = "fail:"
	kindApprovalPrefix = "approval:"
)

// Parent messages (kindStatus, kindDM) are claimed before they are posted
// (store.ClaimChatMessage), so when several processes (kinetic serve and
// workers) notice a case at once only one posts each card. A claim still
// unposted after claimStale was left by a process that died before posting
// and is taken over; posting under a claim is bounded by claimPostTimeout,
// well under it. A process that lost a claim waits (polling every
// claimPoll, at most claimStale+claimPostTimeout, on the notifier
// goroutine) for the winner's message before it threads a reply under it
// or updates it.
const (
	claimStale       = 30 * time.Second
	claimPostTimeout = 20 * time.Second
	claimPoll        = 100 * time.Millisecond
)

// Notification work has a lifetime of its own: it is not a request's or a
// click's, and it does not end the instant the process is told to stop.
// When run's context ends, the events already queued are still handled and
// the dirty cards flushed, on a context that ends drainTimeout later (so a
// case's closing reply observed just before SIGTERM is still posted and
// recorded); each event is bounded by eventTimeout. A reference to a
// message already posted is written on a context of its own
// (frontend.Refs.Record).
const (
	drainTimeout = 10 * time.Second
	eventTimeout = 30 * time.Second
)

// notifier turns engine events into Slack messages. Observe only appends to
// a queue; one goroutine handles events in order (posting messages, thread
// replies, approval cards and alerts) and flushes status cards: a case's
// cards are marked dirty by its events and re-rendered from the database at
// most once per UpdateInterval per channel, so a burst of transitions is
// one chat.update.
type notifier struct {
	a *App

	mu    sync.Mutex
	queue []engine.Event
	wake  chan struct{}
	dirty map[int64]bool

	// Owned by the run goroutine.
	lastUpd map[string]time.Time // channel → last chat.update
	posted  map[int64]bool       // parent refs posted by this process since the last flush of their case

	// HR batch rule (see Options.BatchThreshold).
	threshold int
	window    time.Duration
	hrOpens   []time.Time
	batch     *hrBatch
}

type hrBatch struct {
	channel, ts string
	cases       []int64
	last        time.Time
}

func newNotifier(a *App, threshold int, window time.Duration) *notifier {
	return &notifier{a: a, wake: make(chan struct{}, 1), dirty: map[int64]bool{},
		lastUpd: map[string]time.Time{}, posted: map[int64]bool{}, threshold: threshold, window: window}
}

// observe queues ev; it never blocks on Slack.
func (n *notifier) observe(ev engine.Event) {
	n.mu.Lock()
	n.queue = append(n.queue, ev)
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// run handles queued events until stop ends, then drains what is queued
// (see drainTimeout) and returns.
func (n *notifier) run(stop context.Context) {
	life, endLife := context.WithCancel(context.WithoutCancel(stop))
	defer endLife()
	go func() {
		select {
		case <-stop.Done():
		case <-life.Done():
			return
		}
		t := time.NewTimer(drainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			endLife()
		case <-life.Done():
		}
	}()
	tick := time.NewTicker(n.a.updIntv / 4)
	defer tick.Stop()
	for {
		draining := false
		select {
		case <-stop.Done():
			draining = true
		case <-n.wake:
		case <-tick.C:
		}
		n.mu.Lock()
		evs := n.queue
		n.queue = nil
		n.mu.Unlock()
		for _, ev := range evs {
			n.handle(life, ev)
		}
		if draining {
			n.flushAll(life)
			return
		}
		n.flush(life)
	}
}

func (n *notifier) markDirty(id int64) {
	n.mu.Lock()
	n.dirty[id] = true
	n.mu.Unlock()
}

// handle is one event's messages. Runs on the notifier goroutine.
func (n *notifier) handle(ctx context.Context, ev engine.Event) {
	ctx, cancel := context.WithTimeout(ctx, eventTimeout)
	defer cancel()
	if ev.CaseID != 0 {
		n.markDirty(ev.CaseID)
	}
	if ev.Kind == engine.EventCaseOpened {
		n.opened(ctx, ev)
	}
	if routedKind(ev.Kind) && len(ev.Targets) > 0 {
		n.route(ctx, ev) // route.go: to the targets it names; escalations also in the thread
	} else if blocks.IsAlert(ev.Kind) || n.criticalFailure(ctx, ev) {
		n.alert(ctx, ev)
	}
	switch ev.Kind {
	case engine.EventAction, engine.EventManualStep:
		n.actionReply(ctx, ev) // a manual step's reply in the thread, with Mark done
	case engine.EventEscalation:
		if len(ev.Targets) == 0 { // else replied in the thread by route, naming whom it reached
			bs, text := blocks.Escalation(ev, n.a.ppl.names(ctx, ev.Actor))
			n.reply(ctx, ev.CaseID, kindThread, text, bs)
		}
	case engine.EventApprovalRequested, engine.EventApprovalEscalated, engine.EventRestoreRequested:
		// A restore request is an approval too: its approvers get the card,
		// and approving it runs the compensating actions.
		n.approvalCards(ctx, ev.ApprovalID)
	case engine.EventApprovalReminder:
		n.approvalCards(ctx, ev.ApprovalID)
		n.remind(ctx, ev)
	case engine.EventApprovalDecided, engine.EventApprovalExpired, engine.EventApprovalCancelled:
		bs, text := blocks.ApprovalDecided(ev)
		n.reply(ctx, ev.CaseID, kindThread, text, bs)
		n.approvalCards(ctx, ev.ApprovalID)
		if ev.Kind == engine.EventApprovalCancelled {
			n.tellUsers(ctx, ev, text, bs)
		}
	case engine.EventCaseConfirmed:
		n.caseApprovalCards(ctx, ev.CaseID) // approval cards wait for the plan's confirmation
	case engine.EventCaseClosed, engine.EventCaseCancelled:
		n.closedCase(ctx, ev)
		if ev.Kind == engine.EventCaseCancelled {
			n.caseApprovalCards(ctx, ev.CaseID) // cancelled with the plan: no live buttons
		}
	case engine.EventAccessRevoked:
		// Said in the thread only when the case stays open for people's
		// work; a case that closed at the same moment says it in its close.
		if c, err := n.a.st.Case(ctx, ev.CaseID); err == nil && store.CaseOpen(c.Status) {
			bs, text := blocks.AccessRevoked(ev)
			n.reply(ctx, ev.CaseID, kindThread, text, bs)
		}
	case engine.EventBatchHeld, engine.EventBatchDecided:
		// The alert above covers a held batch; the cases' cards show it.
	}
}

// opened applies the HR batch rule: the first BatchThreshold cases with
// trigger hr in a BatchWindow get their own card; the further ones share
// one BatchSummary message (posted once, updated as cases join), so a mass
// HR import does not flood the channel.
func (n *notifier) opened(ctx context.Context, ev engine.Event) {
	a := n.a
	c, err := a.st.Case(ctx, ev.CaseID)
	if err != nil || c.Trigger != store.TriggerHR {
		return
	}
	now := a.now()
	keep := n.hrOpens[:0]
	for _, t := range n.hrOpens {
		if now.Sub(t) < n.window {
			keep = append(keep, t)
		}
	}
	n.hrOpens = append(keep, now)
	if len(n.hrOpens) <= n.threshold || a.cfg.OffboardingChannel == "" {
		return
	}
	if n.batch == nil || now.Sub(n.batch.last) >= n.window {
		n.batch = &hrBatch{}
	}
	b := n.batch
	b.cases, b.last = append(b.cases, c.ID), now
	bs, text := blocks.BatchSummary(len(b.cases), b.cases, "hr")
	if b.ts == "" {
		ch, ts, err := a.api.PostMessageContext(ctx, a.cfg.OffboardingChannel, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(bs...))
		if err != nil {
			a.log.WithError(err).Warn("posting an HR batch summary failed")
			return
		}
		b.channel, b.ts = ch, ts
		a.refs.Record(ctx, c.ID, b.channel, b.ts, kindBatch)
		return
	}
	a.refs.Record(ctx, c.ID, b.channel, b.ts, kindBatch)
	if _, err := a.updateMessage(ctx, b.channel, b.ts, text, bs); err != nil {
		a.log.WithError(err).Warn("updating an HR batch summary failed")
	}
}

// parents returns the case's status messages, posting them first if the
// case should have them and has none yet: the card in the offboarding
// channel and in DMs to the manager and HR partner. Refs are loaded from
// the database, so a restart continues the same messages. A case awaiting
// its requester's confirmation, or one cancelled before it was confirmed,
// gets none; nor does a case listed in an HR batch summary. Each card is
// claimed before it is posted (see claimStale); cards another process has
// claimed but not posted yet are waited for, and taken over if that
// process gave up or died. Only posted messages are returned.
func (n *notifier) parents(ctx context.Context, c *store.Case, create bool) []store.ChatMessage {
	a := n.a
	ms := a.refs.Load(ctx, c.ID, kindStatus, kindDM, kindBatch)
	if len(ms) > 0 {
		if create && !hasKind(ms, kindBatch) && !allPosted(ms) {
			ms = n.settle(ctx, c, ms)
		}
		return postedOnly(onlyCards(ms))
	}
	if !create || c.Status == store.CaseAwaitingConfirmation {
		return nil
	}
	if c.Status == store.CaseCancelled && c.StartedAt == nil {
		return nil
	}
	bs, text := n.card(ctx, c)
	if ch := a.cfg.OffboardingChannel; ch != "" {
		_, _ = n.postParent(ctx, c.ID, ch, kindStatus, text, bs)
	}
	emp, _ := a.ppl.dir.ByID(ctx, c.EmployeeID)
	if emp != nil {
		seen := map[string]bool{}
		for _, hrID := range []string{emp.Manager, emp.HRPartner} {
			if hrID == "" || seen[hrID] {
				continue
			}
			seen[hrID] = true
			sid := a.ppl.slackID(ctx, hrID)
			if sid == "" {
				continue
			}
			ch, _, _, err := a.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{sid}})
			if err != nil {
				a.log.WithError(err).WithField("case", c.ID).Warn("DMing the case status failed")
				continue
			}
			_, _ = n.postParent(ctx, c.ID, ch.ID, kindDM, text, bs)
		}
	}
	ms = a.refs.Load(ctx, c.ID, kindStatus, kindDM)
	if !allPosted(ms) {
		ms = n.settle(ctx, c, ms)
	}
	return postedOnly(ms)
}

// postParent claims the parent card (kind) of case caseID in channel and,
// if this process won the claim, posts it (text, bs) and records its ts
// and what it shows. It reports whether it won the claim; when it did
// not, m is the row of the process that holds it.
func (n *notifier) postParent(ctx context.Context, caseID int64, channel, kind, text string, bs []slack.Block) (m store.ChatMessage, claimed bool) {
	a := n.a
	log := a.log.WithFields(map[string]any{"case": caseID, "channel": channel, "kind": kind})
	m, won, err := a.st.ClaimChatMessage(ctx, store.ChatMessage{CaseID: caseID, Platform: Platform, Channel: channel, Kind: kind}, a.now(), claimStale)
	if err != nil {
		log.WithError(err).Error("claiming a case status message failed")
		return m, true // not another process's: do not wait for it
	}
	if !won {
		return m, false // another process posts it
	}
	pctx, cancel := context.WithTimeout(ctx, claimPostTimeout)
	_, ts, err := a.api.PostMessageContext(pctx, channel, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(bs...))
	cancel()
	if err != nil {
		log.WithError(err).Warn("posting the case status message failed")
		if err := a.st.ReleaseChatMessage(context.WithoutCancel(ctx), m.ID); err != nil {
			log.WithError(err).Error("releasing a case status message claim failed")
		}
		return m, true
	}
	if err := a.st.FillChatMessage(context.WithoutCancel(ctx), m.ID, ts, a.now()); err != nil {
		// Taken over as stale while we posted: the other process's message
		// is the one kept; ours stays in Slack, not updated.
		log.WithError(err).WithField("ts", ts).Error("recording a posted case status message failed")
		return m, true
	}
	n.posted[m.ID] = true
	a.sent.note(channel, ts, text, bs)
	return m, true
}

// settle waits for the unposted parent claims among ms (another process is
// posting them) to be posted, at most claimStale; a claim released or gone
// stale meanwhile is claimed and posted here. It returns the case's parent
// refs as they are then.
func (n *notifier) settle(ctx context.Context, c *store.Case, ms []store.ChatMessage) []store.ChatMessage {
	a := n.a
	open := map[int64]store.ChatMessage{}
	for _, m := range ms {
		if m.TS == "" && (m.Kind == kindStatus || m.Kind == kindDM) {
			open[m.ID] = m
		}
	}
	var bs []slack.Block
	var text string
	deadline := time.Now().Add(claimStale + claimPostTimeout)
	for len(open) > 0 {
		for id, m := range open {
			cur, _, err := a.st.ChatMessageByID(ctx, id)
			switch {
			case err != nil:
				if ctx.Err() != nil {
					return a.refs.Load(ctx, c.ID, kindStatus, kindDM)
				}
				continue
			case cur.ID != 0 && cur.TS != "":
				delete(open, id) // posted by its claimer
			case cur.ID == 0 || !cur.UpdatedAt.After(a.now().Add(-claimStale)):
				// Released, or abandoned: post it here (unless someone else
				// claims it first).
				if bs == nil {
					bs, text = n.card(ctx, c)
				}
				delete(open, id)
				if held, claimed := n.postParent(ctx, c.ID, m.Channel, m.Kind, text, bs); !claimed && held.TS == "" {
					open[held.ID] = held // another process just claimed it: wait for that
				}
			}
		}
		if len(open) == 0 || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return a.refs.Load(ctx, c.ID, kindStatus, kindDM)
		case <-time.After(claimPoll):
		}
	}
	return a.refs.Load(ctx, c.ID, kindStatus, kindDM, kindBatch)
}

func hasKind(ms []store.ChatMessage, kind string) bool {
	for _, m := range ms {
		if m.Kind == kind {
			return true
		}
	}
	return false
}

func allPosted(ms []store.ChatMessage) bool {
	for _, m := range ms {
		if m.TS == "" {
			return false
		}
	}
	return true
}

// postedOnly drops claims not posted (yet).
func postedOnly(ms []store.ChatMessage) []store.ChatMessage {
	out := ms[:0:0]
	for _, m := range ms {
		if m.TS != "" {
			out = append(out, m)
		}
	}
	return out
}

func onlyCards(ms []store.ChatMessage) []store.ChatMessage {
	out := ms[:0:0]
	for _, m := range ms {
		if m.Kind != kindBatch {
			out = append(out, m)
		}
	}
	return out
}

// card renders case c's status card (App.statusCard).
func (n *notifier) card(ctx context.Context, c *store.Case) ([]slack.Block, string) {
	return n.a.statusCard(ctx, c)
}

// flushAll flushes until no card is dirty or ctx ends, waiting out the
// per-channel update interval between passes: the last state of every
// case observed before a shutdown reaches its cards.
func (n *notifier) flushAll(ctx context.Context) {
	for {
		n.flush(ctx)
		n.mu.Lock()
		left := len(n.dirty)
		n.mu.Unlock()
		if left == 0 {
			return
		}
		t := time.NewTimer(n.a.updIntv)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// flush re-renders dirty cases' cards, respecting the per-channel update
// interval; a case whose channel was updated too recently stays dirty. A
// card that already shows the rendered content is not updated (see
// sentContent), so a transition that changes nothing visible costs no
// chat.update, and a burst of transitions is one.
func (n *notifier) flush(ctx context.Context) {
	a := n.a
	n.mu.Lock()
	ids := make([]int64, 0, len(n.dirty))
	for id := range n.dirty {
		ids = append(ids, id)
	}
	n.mu.Unlock()
	for _, id := range ids {
		c, err := a.st.CaseWithActions(ctx, id)
		if err != nil {
			n.mu.Lock()
			delete(n.dirty, id)
			n.mu.Unlock()
			continue
		}
		n.mu.Lock()
		delete(n.dirty, id) // events after this point mark it again
		n.mu.Unlock()
		ms := n.parents(ctx, c, true)
		bs, text := n.card(ctx, c)
		now := time.Now()
		pending := false
		for _, m := range ms {
			if n.posted[m.ID] {
				delete(n.posted, m.ID)
				continue // just posted by this process from the current state
			}
			if a.sent.same(m.Channel, m.TS, text, bs) {
				continue
			}
			if now.Sub(n.lastUpd[m.Channel]) < a.updIntv {
				pending = true
				continue
			}
			sent, err := a.updateMessage(ctx, m.Channel, m.TS, text, bs)
			if sent {
				n.lastUpd[m.Channel] = now
			}
			if err != nil && ctx.Err() == nil {
				a.log.WithError(err).WithField("case", id).Warn("updating the case status failed")
			}
		}
		if pending {
			// Simplification: every card of the case is re-rendered on the
			// next pass, including ones already updated now.
			n.markDirty(id)
		}
	}
}

// reply posts a thread reply under the case's parent (the channel message,
// else the DM cards) and records it.
func (n *notifier) reply(ctx context.Context, caseID int64, kind, text string, bs []slack.Block) {
	a := n.a
	c, err := a.st.CaseWithActions(ctx, caseID)
	if err != nil {
		return
	}
	ps := n.parents(ctx, c, true)
	var targets []store.ChatMessage
	for _, p := range ps {
		if p.Kind == kindStatus {
			targets = []store.ChatMessage{p}
			break
		}
		targets = append(targets, p)
	}
	for _, p := range targets {
		ch, ts, err := a.api.PostMessageContext(ctx, p.Channel, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(bs...), slack.MsgOptionTS(p.TS))
		if err != nil {
			a.log.WithError(err).WithField("case", caseID).Warn("posting a thread reply failed")
			continue
		}
		a.sent.note(ch, ts, text, bs)
		a.refs.Record(ctx, caseID, ch, ts, kind)
	}
}

// actionReply posts a failed action's reply (with Retry, Skip, Mark done,
// Escalate now), or updates it once the action moved on so no stale button
// stays; a manual step that becomes pending gets a reply with Mark done.
// A reply that already shows the action's state is not updated again.
func (n *notifier) actionReply(ctx context.Context, ev engine.Event) {
	a := n.a
	if ev.ActionID == 0 {
		return
	}
	act, err := a.st.Action(ctx, ev.ActionID)
	if err != nil {
		return
	}
	n.updateRouted(ctx, ev, act)
	kind := kindFailPrefix + strconv.FormatInt(act.ID, 10)
	existing := a.refs.Load(ctx, act.CaseID, kind)
	var bs []slack.Block
	var text string
	if act.Manual && act.Status != store.ActionFailed {
		bs, text = blocks.ManualStep(*act, act.CaseID, act.Skippable)
	} else {
		bs, text = blocks.ActionFailed(*act, act.CaseID, act.Skippable, act.Manual)
	}
	if len(existing) > 0 {
		for _, m := range existing {
			if _, err := a.updateMessage(ctx, m.Channel, m.TS, text, bs); err != nil {
				a.log.WithError(err).WithField("action", act.ID).Warn("updating an action reply failed")
			}
		}
		return
	}
	if act.Status != store.ActionFailed && !(act.Manual && act.Status == store.ActionPending) {
		return
	}
	n.reply(ctx, act.CaseID, kind, text, bs)
}

// criticalFailure reports a phase-1 action that has just failed (an
// alert); a click on a failed action (an event with an Actor, such as
// Escalate now) is not a new failure.
func (n *notifier) criticalFailure(ctx context.Context, ev engine.Event) bool {
	if ev.Kind != engine.EventAction || ev.Status != store.ActionFailed || ev.ActionID == 0 || ev.Actor != "" {
		return false
	}
	act, err := n.a.st.Action(ctx, ev.ActionID)
	return err == nil && act.Phase == 1
}

func (n *notifier) alert(ctx context.Context, ev engine.Event) {
	a := n.a
	if a.cfg.AlertsChannel == "" {
		return
	}
	// It reaches the alerts channel only (route.go delivers to targets):
	// it names no one else.
	bs, text := blocks.Notice(ev, nil, nil, "", a.ppl.names(ctx, ev.Actor))
	ch, ts, err := a.api.PostMessageContext(ctx, a.cfg.AlertsChannel, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(bs...))
	if err != nil {
		a.log.WithError(err).WithField("event", ev.Kind).Warn("posting an alert failed")
		return
	}
	if ev.CaseID != 0 {
		a.refs.Record(ctx, ev.CaseID, ch, ts, kindAlert)
	}
}

// approvalCards DMs the approval's card to every current approver who has
// none yet, and updates every card already sent, each for its reader: only
// a current approver's card carries Approve and Deny; an approver of an
// earlier step, or one who has decided, sees where the chain stands; once
// the approval is settled nobody has buttons. So no stale Approve/Deny
// stays between steps or after a decision.
//
// Cards wait for the plan: while the case awaits its requester's
// confirmation none is sent (the case_confirmed event sends them, see
// caseApprovalCards); a case cancelled before that never had any.
func (n *notifier) approvalCards(ctx context.Context, approvalID int64) {
	a := n.a
	if approvalID == 0 {
		return
	}
	v, err := a.eng.Approval(ctx, approvalID)
	if err != nil {
		return
	}
	c, err := a.st.Case(ctx, v.CaseID)
	if err != nil {
		return
	}
	info := a.approvalInfo(ctx, v)
	// The DM channel of each approver who may decide now, in order.
	var deciders []string
	decides := map[string]bool{}
	if v.Status == store.ApprovalPending && c.Status != store.CaseAwaitingConfirmation {
		for _, hrID := range v.Approvers {
			sid := a.ppl.slackID(ctx, hrID)
			if sid == "" {
				a.log.WithFields(map[string]any{"approval": approvalID, "approver": hrID}).Warn("approver has no Slack account Kinetic can find; no card sent")
				continue
			}
			ch, _, _, err := a.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{sid}})
			if err != nil {
				a.log.WithError(err).WithFields(map[string]any{"approval": approvalID, "approver": hrID}).Warn("opening a DM with an approver failed")
				continue
			}
			if !decides[ch.ID] {
				deciders = append(deciders, ch.ID)
				decides[ch.ID] = true
			}
		}
	}
	render := func(channel string) ([]slack.Block, string) {
		info.CanDecide = decides[channel]
		return blocks.ApprovalCard(*v, info, a.now())
	}
	kind := kindApprovalPrefix + strconv.FormatInt(approvalID, 10)
	sent := map[string]bool{}
	for _, m := range a.refs.Load(ctx, v.CaseID, kind) {
		sent[m.Channel] = true
		bs, text := render(m.Channel)
		if _, err := a.updateMessage(ctx, m.Channel, m.TS, text, bs); err != nil {
			a.log.WithError(err).WithField("approval", approvalID).Warn("updating an approval card failed")
		}
	}
	for _, ch := range deciders {
		if sent[ch] {
			continue
		}
		bs, text := render(ch)
		_, ts, err := a.api.PostMessageContext(ctx, ch, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(bs...))
		if err != nil {
			a.log.WithError(err).WithField("approval", approvalID).Warn("DMing an approval card failed")
			continue
		}
		a.sent.note(ch, ts, text, bs)
		a.refs.Record(ctx, v.CaseID, ch, ts, kind)
	}
	a.refreshHomes(ctx, approvalID)
}

// caseApprovalCards runs approvalCards for every approval of a case: once
// the plan is confirmed (the cards go out), and when the case is cancelled
// (the cards say so and lose their buttons).
func (n *notifier) caseApprovalCards(ctx context.Context, caseID int64) {
	vs, err := n.a.eng.Approvals(ctx, "", "", caseID)
	if err != nil {
		n.a.log.WithError(err).WithField("case", caseID).Warn("loading a case's approvals failed")
		return
	}
	for _, v := range vs {
		n.approvalCards(ctx, v.ID)
	}
}

// tellUsers DMs the people an event names (user:HR-ID targets): the
// requester of an exception the engine cancelled, for one.
func (n *notifier) tellUsers(ctx context.Context, ev engine.Event, text string, bs []slack.Block) {
	a := n.a
	for _, t := range ev.Targets {
		hrID, ok := strings.CutPrefix(t, "user:")
		if !ok {
			continue
		}
		sid := a.ppl.slackID(ctx, hrID)
		if sid == "" {
			continue
		}
		if _, _, err := a.dm(ctx, sid, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(bs...)); err != nil {
			a.log.WithError(err).WithFields(map[string]any{"case": ev.CaseID, "approval": ev.ApprovalID}).Warn("DMing a notice failed")
		}
	}
}

// closedCase posts the closure reply with the audit record: the case's
// audit event count and the chain's head. The final card follows through
// the normal coalesced flush (the event marked the case dirty).
func (n *notifier) closedCase(ctx context.Context, ev engine.Event) {
	a := n.a
	c, err := a.st.CaseWithActions(ctx, ev.CaseID)
	if err != nil {
		return
	}
	if c.Status == store.CaseCancelled && c.StartedAt == nil {
		// A plan cancelled before it ran (by /offboard cancel, or
		// unconfirmed for a day): its preview loses its buttons. One
		// cancelled from the preview itself is resolved by the click
		// (which claims the message before it cancels): it is not updated
		// a second time with other words.
		for _, m := range a.refs.Load(ctx, c.ID, kindPreview) {
			a.resolveCancelledPreview(ctx, c, m)
		}
	}
	if len(n.parents(ctx, c, true)) == 0 {
		return
	}
	count, head, _ := a.st.CaseAuditSummary(ctx, c.ID) // a read failure shows zero events, as before
	bs, text := blocks.CaseClosed(*c, int(count), head)
	n.reply(ctx, c.ID, kindThread, text, bs)
}

// remind replies under the card of each approver who may decide the
// approval now, which notifies them (an edit alone does not); approvers of
// earlier steps, and those who have decided, are not reminded.
func (n *notifier) remind(ctx context.Context, ev engine.Event) {
	a := n.a
	v, err := a.eng.Approval(ctx, ev.ApprovalID)
	if err != nil || v.Status != store.ApprovalPending {
		return
	}
	current := map[string]bool{}
	for _, hrID := range v.Approvers {
		if sid := a.ppl.slackID(ctx, hrID); sid != "" {
			if ch, _, _, err := a.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{sid}}); err == nil {
				current[ch.ID] = true
			}
		}
	}
	text := ":bell: Reminder: this exception is still waiting for a decision."
	if ev.Detail != "" {
		text += " " + ev.Detail
	}
	for _, m := range a.refs.Load(ctx, ev.CaseID, kindApprovalPrefix+strconv.FormatInt(ev.ApprovalID, 10)) {
		if !current[m.Channel] {
			continue
		}
		ch, ts, err := a.api.PostMessageContext(ctx, m.Channel, slack.MsgOptionText(text, false), slack.MsgOptionTS(m.TS))
		if err != nil {
			a.log.WithError(err).WithField("approval", ev.ApprovalID).Warn("posting an approval reminder failed")
			continue
		}
		a.refs.Record(ctx, ev.CaseID, ch, ts, kindThread)
	}
}

// resolveCancelledPreview replaces the preview m of case c, a plan
// cancelled before it ran, by a line saying so, without buttons: once,
// whoever gets there first (the click that cancelled it, this notifier, or
// the request that posted the preview and found the case cancelled
// meanwhile).
func (a *App) resolveCancelledPreview(ctx context.Context, c *store.Case, m store.ChatMessage) {
	if !a.sent.claim(m.Channel, m.TS) {
		return
	}
	text := fmt.Sprintf("Plan for case %d (offboarding of %s) was cancelled: %s", c.ID, c.EmployeeName, c.Summary)
	bs := []slack.Block{slack.NewSectionBlock(slack.NewTextBlockObject(slack.PlainTextType, text, false, false), nil, nil)}
	if _, err := a.updateMessage(ctx, m.Channel, m.TS, text, bs); err != nil {
		a.log.WithError(err).WithField("case", c.ID).Warn("updating a cancelled plan preview failed")
	}
}
