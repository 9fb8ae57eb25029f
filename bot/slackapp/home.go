package slackapp

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/store"
)

// Event implements slackbot.Handlers: app_home_opened publishes the
// viewer's Home tab (in the background). Other events are ignored.
func (a *App) Event(_ context.Context, ev slackevents.EventsAPIEvent) {
	if ev.Type != slackevents.CallbackEvent {
		return
	}
	home, ok := ev.InnerEvent.Data.(*slackevents.AppHomeOpenedEvent)
	if !ok || home.Tab == "messages" {
		return
	}
	user := home.User
	a.background(20*time.Second, func(ctx context.Context) { a.publishHome(ctx, user) })
}

// publishHome shows the viewer's open cases (as requester, manager or HR
// partner) and the approvals waiting on them. A viewer Kinetic can't map
// to HR sees an empty tab.
func (a *App) publishHome(ctx context.Context, user string) {
	var cases []store.Case
	var approvals = a.homeApprovals(ctx, user)
	if who, err := a.ppl.hr(ctx, user); err == nil {
		open, err := a.st.OpenCases(ctx, 500)
		if err != nil {
			a.log.WithError(err).Warn("loading open cases for the Home tab failed")
		}
		for _, c := range open {
			if c.Requester == who.ID {
				cases = append(cases, c)
				continue
			}
			if emp, err := a.ppl.dir.ByID(ctx, c.EmployeeID); err == nil && (emp.Manager == who.ID || emp.HRPartner == who.ID) {
				cases = append(cases, c)
			}
		}
	}
	if _, err := a.api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: user, View: blocks.HomeTab(cases, approvals, user)}); err != nil {
		a.log.WithError(err).WithField("slack_user", user).Warn("publishing the Home tab failed")
		return
	}
	ids := make([]int64, len(approvals))
	for i, v := range approvals {
		ids[i] = v.ID
	}
	a.homes.shown(user, ids)
}

// homeViews remembers which approvals each Home tab this process published
// lists, so a decision (from anywhere) republishes the tabs that offer
// it: no stale Approve or Deny stays there either.
type homeViews struct {
	mu    sync.Mutex
	lists map[string][]int64 // Slack user → approval ids on their tab
}

func (h *homeViews) shown(user string, ids []int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lists == nil {
		h.lists = map[string][]int64{}
	}
	if len(ids) == 0 {
		delete(h.lists, user)
		return
	}
	h.lists[user] = ids
}

// showing returns the users whose tab lists approval id.
func (h *homeViews) showing(id int64) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var users []string
	for u, ids := range h.lists {
		if slices.Contains(ids, id) {
			users = append(users, u)
		}
	}
	return users
}

// refreshHomes republishes the Home tabs that list approval id, after it
// changed.
func (a *App) refreshHomes(ctx context.Context, id int64) {
	for _, u := range a.homes.showing(id) {
		a.publishHome(ctx, u)
	}
}

func (a *App) homeApprovals(ctx context.Context, user string) []engine.ApprovalView {
	who, err := a.ppl.hr(ctx, user)
	if err != nil {
		return nil
	}
	vs, err := a.eng.Approvals(ctx, "", who.ID, 0)
	if err != nil {
		a.log.WithError(err).Warn("loading approvals for the Home tab failed")
	}
	// As with the DM cards, an approval waits for its plan's confirmation.
	out := vs[:0]
	for _, v := range vs {
		if c, err := a.st.Case(ctx, v.CaseID); err == nil && c.Status == store.CaseAwaitingConfirmation {
			continue
		}
		out = append(out, v)
	}
	return out
}
