package blocks

import (
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/kineticsec/kinetic/engine/view"
	"github.com/kineticsec/kinetic/store"
)

// Notice builds the message an alert-kind event (escalation, security
// officer notice, breach, HR alert) or a manual step's notice sends to
// each target it names: the headline and detail, "notified" followed by reached — the
// people and channels the message actually reached, as the front end
// names them ("#it-identity", "Sam Security"), never the targets it only
// meant to reach — and Open case. With a an action that is not done (an
// escalation's or a manual step's), the action's buttons come beside Open case: Retry when
// it failed, Skip… when the policy lets the owning team skip it (never a
// critical revocation), Mark done for a pending manual step, and Escalate
// now; the engine authorizes each click. mention, a Slack user group ID
// (S…), is mentioned first so its members are notified. names (HR id →
// display name) names the person who escalated (ev.Actor).
func Notice(ev view.Event, reached []string, a *store.Action, mention string, names map[string]string) ([]slack.Block, string) {
	ev.Targets = reached
	bs, text := alertMessage(ev, names)
	if a != nil {
		if els := actionButtons(*a); len(els) > 0 {
			placed := false
			for _, b := range bs {
				if ab, ok := b.(*slack.ActionBlock); ok {
					ab.Elements.ElementSet = append(ab.Elements.ElementSet, els...)
					placed = true
				}
			}
			if !placed {
				bs = append(bs, slack.NewActionBlock("", els...))
			}
		}
	}
	if m := subteamMention(mention); m != "" {
		bs = append([]slack.Block{section(m)}, bs...)
		text = m + " " + text
	}
	return bs, text
}

// actionButtons are the buttons of an action that is not done, in the
// order ActionFailed shows them.
func actionButtons(a store.Action) []slack.BlockElement {
	if store.ActionFinal(a.Status) && a.Status != store.ActionFailed {
		return nil
	}
	var els []slack.BlockElement
	if a.Status == store.ActionFailed {
		els = append(els, button(ActionRetry, ActionValue(a.ID), "Retry", slack.StylePrimary))
	}
	if a.Skippable && a.Phase > 1 {
		els = append(els, button(ActionSkip, ActionValue(a.ID), "Skip…", ""))
	}
	if a.Manual && (a.Status == store.ActionPending || a.Status == store.ActionFailed) {
		b := button(ActionMarkDone, ActionValue(a.ID), "Mark done", "")
		b.Confirm = confirm("Mark "+a.Name+" done?",
			"Only if it was done by hand. Kinetic records you as having done it; it stays unverified.", "Mark done", "Back")
		els = append(els, b)
	}
	return append(els, button(ActionEscalateNow, ActionValue(a.ID), "Escalate now", ""))
}

// subteamMention is Slack's mention of user group id ("<!subteam^S0123>"),
// or "" when id is not a user group ID.
func subteamMention(id string) string {
	if len(id) < 2 || id[0] != 'S' {
		return ""
	}
	for _, r := range id {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return ""
		}
	}
	return "<!subteam^" + id + ">"
}

// ActionMovedOn replaces a routed escalation's message once its action
// moved on (done, skipped, cancelled, or retried), so no stale button
// stays.
func ActionMovedOn(a store.Action) ([]slack.Block, string) {
	first := fmt.Sprintf("%s *%s* on *%s* is now *%s*; nothing is waiting on this message", stateEmoji[stateOf(a)], data(a.Name, 80), data(a.Connector, 60), statusMd(a.Status))
	bs := []slack.Block{section(first)}
	bs = add(bs, ctxBlock(fmt.Sprintf("Case %d · action %d", a.CaseID, a.ID)))
	return bs, fallback(fmt.Sprintf("%s on %s is now %s (case %d)", oneLine(a.Name), oneLine(a.Connector), statusWord(a.Status), a.CaseID))
}

// DeliveryFailure builds the alerts channel's message for notification
// targets an event could not reach: what the event was, and one line per
// target that was not reached and why ("#facilities: no route (routing.facilities.slack)").
func DeliveryFailure(ev view.Event, problems []string) ([]slack.Block, string) {
	// what is AlertMessage's fallback text: already escaped and on one line.
	_, what := AlertMessage(view.Event{Kind: ev.Kind, Name: ev.Name, Level: ev.Level, Status: ev.Status, CaseID: ev.CaseID})
	head := ":warning: *A notification did not reach everyone it names*: " + what
	lines := make([]string, 0, len(problems))
	for i, p := range problems {
		if i == 20 {
			lines = append(lines, fmt.Sprintf("• and %d more", len(problems)-i))
			break
		}
		lines = append(lines, "• "+data(p, 300))
	}
	bs := []slack.Block{section(head)}
	bs = append(bs, sections(lines)...)
	if ev.CaseID != 0 {
		bs = append(bs, slack.NewActionBlock("", button(ActionOpenCase, CaseValue(ev.CaseID), "Open case", "")))
	}
	return bs, "Not delivered: " + what + ": " + fallback(strings.Join(problems, "; "))
}
