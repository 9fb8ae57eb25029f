package cards

import (
	"strings"

	"github.com/kineticsec/kinetic/engine/view"
	"github.com/kineticsec/kinetic/store"
)

// Notice is blocks.Notice for Teams: AlertMessage's card for an alert-kind
// event or a manual step, saying whom it reached (reached, as Teams names
// them: channels and people it actually reached, never the targets it only
// meant to reach), with Open case and, for an action that is not done, the
// action's buttons beside it (Retry when failed, Skip… when the policy lets
// the owning team skip it and not phase 1, Mark done for a pending manual
// step, Escalate now). The engine authorizes each click. Mentions are the
// connector's business (an activity's entities), not the card's.
func Notice(ev view.Event, reached []string, a *store.Action) *Card {
	c := AlertMessage(ev)
	if len(reached) > 0 {
		var rs []string
		for _, r := range reached {
			rs = append(rs, fit(r, 80))
		}
		n := note("Notified: " + md(fit(strings.Join(rs, ", "), 1000)))
		c.Body = append([]Element{c.Body[0], n}, c.Body[1:]...)
	}
	if a == nil {
		return c.fitBody(nil, c.Body, nil)
	}
	btns := actionButtons(*a)
	if len(btns) == 0 {
		return c
	}
	placed := false
	for _, e := range c.Body {
		if e["type"] == "ActionSet" {
			e["actions"] = append(e["actions"].([]any), btns...)
			placed = true
		}
	}
	if !placed {
		c.Body = append(c.Body, actionSet(btns...))
	}
	return c.fitBody(nil, c.Body, nil)
}

// actionButtons are the buttons of an action that is not done, in
// ActionFailed's order.
func actionButtons(a store.Action) []any {
	if store.ActionFinal(a.Status) && a.Status != store.ActionFailed {
		return nil
	}
	var out []any
	if a.Status == store.ActionFailed {
		out = append(out, execute(VerbRetry, "Retry", actionData(a.ID), "positive"))
	}
	if a.Skippable && a.Phase > 1 {
		out = append(out, reasonAction("Skip", VerbSkip, "Why skip it? Kinetic will not do it.", actionData(a.ID), ""))
	}
	if a.Manual && (a.Status == store.ActionPending || a.Status == store.ActionFailed) {
		out = append(out, markDoneAction(a.ID))
	}
	return append(out, execute(VerbEscalate, "Escalate now", actionData(a.ID), ""))
}
