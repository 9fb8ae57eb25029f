package slackapp

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/slack-go/slack"

	"github.com/kineticsec/kinetic/bot/frontend"
	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/store"
)

// Notices in Slack. A notice sent to a receiving team (payroll, benefits)
// is posted to the team's route (the event's target channel:TEAM,
// resolved like every routed message) with its dates and an Acknowledge
// button; the engine authorizes the click (a member of the approver group
// named like the team, never the departing person), a refusal is told to
// the clicker only, and the acknowledgement — by button, link or callback
// — replaces the team's cards in place with one without the button.

// kindNoticePrefix+notice id: a posted card carrying a notice's button,
// replaced when it is acknowledged.
const kindNoticePrefix = "notice:"

// routeNotice delivers a notice event (see above).
func (n *notifier) routeNotice(ctx context.Context, ev engine.Event) {
	a := n.a
	if a.eng == nil {
		return
	}
	no, err := a.st.Notice(ctx, ev.NoticeID)
	if err != nil {
		a.log.WithError(err).WithField("notice", ev.NoticeID).Warn("loading a notice to announce failed")
		return
	}
	c, err := a.st.Case(ctx, no.CaseID)
	if err != nil {
		a.log.WithError(err).WithField("case", no.CaseID).Warn("loading a notice's case failed")
		return
	}
	dates, err := a.eng.NoticeDates(ctx, no)
	if err != nil {
		a.log.WithError(err).WithField("notice", no.ID).Warn("computing a notice's dates for its card failed")
	}
	kind := kindNoticePrefix + strconv.FormatInt(no.ID, 10)
	if posted := a.refs.Load(ctx, no.CaseID, kind); len(posted) > 0 {
		// Posted already (a retried delivery, or the acknowledgement):
		// the cards change in place, nothing new is posted.
		bs, text := blocks.NoticeCard(*no, c.EmployeeName, dates, true, "")
		for _, m := range posted {
			if _, err := a.updateMessage(ctx, m.Channel, m.TS, text, bs); err != nil {
				a.log.WithError(err).WithField("notice", no.ID).Warn("updating a notice card failed")
			}
		}
		return
	}
	if !no.Open() {
		return // acknowledged before its card was posted: nothing to ask
	}
	ds, problems := n.plan(ctx, ev, nil, nil, c.EmployeeID)
	for _, d := range ds {
		bs, text := blocks.NoticeCard(*no, c.EmployeeName, dates, true, d.mention)
		opts := []slack.MsgOption{slack.MsgOptionText(text, false), slack.MsgOptionBlocks(bs...)}
		if d.user != "" {
			d.ch, d.ts, err = a.dm(ctx, d.user, opts...)
		} else {
			d.ch, d.ts, err = a.api.PostMessageContext(ctx, d.channel, opts...)
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: Slack refused the message (%v)", d.label, err))
			a.log.WithError(err).WithFields(map[string]any{"event": ev.Kind, "case": ev.CaseID, "to": d.label}).Warn("delivering a notice card failed")
			continue
		}
		a.refs.Record(ctx, no.CaseID, d.ch, d.ts, kind)
	}
	if len(problems) > 0 {
		n.deliveryFailure(ctx, ev, problems)
	}
}

// clickAckNotice handles Acknowledge: the engine decides whether who may
// acknowledge; the answer goes to the clicker only, and the card is
// replaced through the engine's event.
func (a *App) clickAckNotice(ctx context.Context, noticeID int64, who string, say func(string)) {
	no, err := a.eng.AcknowledgeNotice(ctx, noticeID, who, store.AckButton)
	if err != nil {
		if errors.Is(err, engine.ErrInvalidRequest) {
			say("Nothing to do: this notice is already acknowledged.")
			return
		}
		say(frontend.EngineError(err))
		return
	}
	say(fmt.Sprintf(":white_check_mark: Recorded: the %s team has notice %d (case %d).", no.Team, no.ID, no.CaseID))
}
