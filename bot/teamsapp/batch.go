package teamsapp

import (
	"context"
	"time"

	"github.com/kineticsec/kinetic/bot/teams/cards"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/store"
)

// The HR batch rule, as in Slack (bot/slackapp/notify.go): the first
// BatchThreshold cases with trigger hr opened within BatchWindow get their
// own status card; the further ones share one summary card in the
// offboarding conversation, posted once and updated as cases join, so a
// mass HR import (one poll or webhook bringing many terminations) does
// not flood the channel. A case listed in a summary gets no status card
// of its own (its ref of kindBatch says so, across restarts).

// kindBatch: the case is listed in the HR batch summary at (channel, ts).
const kindBatch = "batch"

// Defaults of Options.BatchThreshold and BatchWindow (Slack's).
const (
	DefaultBatchThreshold = 10
	DefaultBatchWindow    = 10 * time.Second
)

// hrBatches is the rule's state, owned by the notifier's goroutine.
type hrBatches struct {
	opens []time.Time // HR case openings within the window
	cur   *hrBatch
}

type hrBatch struct {
	conv, activity string
	cases          []int64
	last           time.Time
}

// opened applies the rule to a case_opened event.
func (n *notifier) opened(ctx context.Context, ev engine.Event) {
	a := n.a
	if a.o.OffboardingConversation == "" {
		return
	}
	c, err := a.st.Case(ctx, ev.CaseID)
	if err != nil || c.Trigger != store.TriggerHR {
		return
	}
	now, window := a.now(), a.o.BatchWindow
	h := &n.hr
	keep := h.opens[:0]
	for _, t := range h.opens {
		if now.Sub(t) < window {
			keep = append(keep, t)
		}
	}
	h.opens = append(keep, now)
	if len(h.opens) <= a.o.BatchThreshold {
		return
	}
	if h.cur == nil || now.Sub(h.cur.last) >= window {
		h.cur = &hrBatch{}
	}
	b := h.cur
	b.cases, b.last = append(b.cases, c.ID), now
	out, err := cardActivity(cards.BatchSummary(b.cases))
	if err != nil {
		return
	}
	if b.activity == "" {
		rr, err := a.api.SendToConversation(ctx, a.o.ServiceURL, a.o.OffboardingConversation, out)
		if err != nil {
			// The case is not listed anywhere: it gets its own card.
			a.log.WithError(err).Warn("posting a Teams HR batch summary failed")
			b.cases = b.cases[:len(b.cases)-1]
			return
		}
		b.conv, b.activity = a.o.OffboardingConversation, rr.ID
		a.refs.Record(ctx, c.ID, b.conv, b.activity, kindBatch)
		return
	}
	a.refs.Record(ctx, c.ID, b.conv, b.activity, kindBatch)
	out.ID = b.activity
	if _, err := a.api.UpdateActivity(ctx, a.o.ServiceURL, b.conv, b.activity, out); err != nil {
		a.log.WithError(err).Warn("updating a Teams HR batch summary failed")
	}
}
