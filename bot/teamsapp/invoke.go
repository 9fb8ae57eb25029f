package teamsapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/kineticsec/kinetic/bot/frontend"
	"slices"
	"strings"
	"time"

	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/bot/teams/cards"
	"github.com/kineticsec/kinetic/bot/teams/connector"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/engine/view"
	"github.com/kineticsec/kinetic/store"
)

// Texts of invoke refusals.
const (
	textUnknownButton = frontend.TextUnknownButton
	textBadButton     = frontend.TextBadButton
)

// actionValue is an adaptiveCard/action invoke's value.
type actionValue struct {
	Action struct {
		Type string          `json:"type"`
		Verb string          `json:"verb"`
		Data json.RawMessage `json:"data"`
	} `json:"action"`
}

// invoke handles an adaptiveCard/action. Each click is authorized by the
// engine, as a Slack click is; the answer is the refreshed card, or a
// message shown to the clicker only.
func (a *App) invoke(ctx context.Context, act *connector.Activity) invokeResponse {
	var v actionValue
	if len(act.Value) == 0 || json.Unmarshal(act.Value, &v) != nil || v.Action.Type != "Action.Execute" {
		return messageResponse(textBadButton)
	}
	inv, err := cards.ParseInvoke(v.Action.Verb, v.Action.Data)
	if err != nil {
		if strings.Contains(err.Error(), "unknown verb") {
			return messageResponse(textUnknownButton)
		}
		return messageResponse(textBadButton)
	}
	if act.From == nil {
		return messageResponse(textBadButton)
	}
	who, why, ok := a.requester(ctx, act.From.AADObjectID)
	if !ok {
		return messageResponse(why)
	}
	a.ppl.seen(act.From.AADObjectID, act.From.ID)
	ctx = engine.WithPrincipal(ctx, teamsPrincipal(act.From.AADObjectID, who.ID))
	id := inv.ID
	switch inv.Verb {
	case cards.VerbConfirmPlan:
		c, err := a.eng.Confirm(ctx, id, who.ID)
		if err != nil {
			return messageResponse(frontend.EngineError(err))
		}
		return cardResponse(cards.PlanResolved(a.planOf(c), c.ID, true, who.Name, a.now()))
	case cards.VerbCancelPlan:
		c, err := a.st.Case(ctx, id)
		if err != nil {
			return messageResponse(frontend.EngineError(err))
		}
		if c.Requester != who.ID {
			return messageResponse("Kinetic refused: only the requester answers this plan. Nothing was changed.")
		}
		if c.Status != store.CaseAwaitingConfirmation {
			return messageResponse(fmt.Sprintf("Nothing to do: case %d is %s, not awaiting confirmation.", c.ID, frontend.StatusWord(c.Status)))
		}
		if err := a.eng.CancelCase(ctx, engine.CancelRequest{CaseID: c.ID, By: who.ID, Reason: "plan cancelled by the requester in Teams"}); err != nil {
			return messageResponse(frontend.EngineError(err))
		}
		return cardResponse(cards.PlanResolved(a.planOf(c), c.ID, false, who.Name, a.now()))
	case cards.VerbOpenCase:
		c, err := a.st.CaseWithActions(ctx, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && !a.eng.MayView(ctx, who.ID, c)) {
			return messageResponse(textNothingToSee)
		}
		if err != nil {
			return messageResponse(textLookupFailed)
		}
		card := a.statusCard(ctx, c)
		from, tenant := act.From.ID, ""
		if act.Conversation != nil {
			tenant = act.Conversation.TenantID
		}
		a.background(30*time.Second, func(ctx context.Context) {
			out, err := cardActivity(card)
			if err == nil {
				_, _, err = a.dm(ctx, from, tenant, out)
			}
			if err != nil {
				a.log.WithError(err).Warn("sending a status card to a 1:1 failed")
			}
		})
		return messageResponse(fmt.Sprintf("Case %d's status is on its way to your chat with Kinetic.", c.ID))
	case cards.VerbRefresh:
		return a.approvalResponse(ctx, id, who.ID, "")
	case cards.VerbApprove:
		v, err := a.eng.Approval(ctx, id)
		if err != nil {
			return messageResponse(frontend.EngineError(err))
		}
		if v.Status == store.ApprovalPending && v.ReasonRequired && slices.Contains(v.Approvers, who.ID) {
			return cardResponse(cards.ReasonCard(cards.VerbApproveWithReason, "This approval needs a reason.", &cards.Data{ID: blocks.ApprovalValue(id)}))
		}
		if _, err := a.eng.Decide(ctx, engine.Decision{ApprovalID: id, Approver: who.ID, Approve: true, Via: "teams"}); err != nil {
			return messageResponse(frontend.EngineError(err))
		}
		return a.approvalResponse(ctx, id, who.ID, "")
	case cards.VerbApproveWithReason, cards.VerbDeny:
		reason, errs := cards.ParseReason(inv)
		if len(errs) > 0 {
			for _, m := range errs {
				return messageResponse(m + " Nothing was changed.")
			}
		}
		if _, err := a.eng.Decide(ctx, engine.Decision{ApprovalID: id, Approver: who.ID, Approve: inv.Verb == cards.VerbApproveWithReason, Reason: reason, Via: "teams"}); err != nil {
			return messageResponse(frontend.EngineError(err))
		}
		return a.approvalResponse(ctx, id, who.ID, "")
	case cards.VerbSubmitOffboard:
		return a.submitOffboard(ctx, act, inv, who)
	case cards.VerbSkip:
		if _, _, err := a.eng.CheckSkip(ctx, id, who.ID); err != nil {
			return messageResponse(frontend.EngineError(err))
		}
		reason, errs := cards.ParseReason(inv)
		if len(errs) > 0 {
			return cardResponse(cards.ReasonCard(cards.VerbSkip, "Why skip this action?", &cards.Data{ID: blocks.ActionValue(id)}))
		}
		if err := a.eng.SkipAction(ctx, id, who.ID, reason); err != nil {
			return messageResponse(frontend.EngineError(err))
		}
		return a.actionResponse(ctx, id)
	case cards.VerbRetry:
		if err := a.eng.RetryAction(ctx, id, who.ID); err != nil {
			return messageResponse(frontend.EngineError(err))
		}
		return a.actionResponse(ctx, id)
	case cards.VerbMarkDone:
		// A badge taken back by hand (a facility without an API) is
		// marked done with who collected or disabled it, as in Slack: the
		// form comes only when the mark would be accepted.
		act, c, err := a.eng.CheckMarkDone(ctx, id, who.ID)
		if err != nil {
			return messageResponse(frontend.EngineError(err))
		}
		if engine.AsksWhoCollected(act) {
			return cardResponse(cards.MarkDoneCard(id, engine.ManualTask(c, act)))
		}
		if err := a.eng.MarkDone(ctx, id, who.ID, "marked done in Teams"); err != nil {
			return messageResponse(frontend.EngineError(err))
		}
		return a.actionResponse(ctx, id)
	case cards.VerbMarkDoneWho:
		act, c, err := a.eng.CheckMarkDone(ctx, id, who.ID)
		if err != nil {
			return messageResponse(frontend.EngineError(err))
		}
		if !engine.AsksWhoCollected(act) {
			return messageResponse(textUnknownButton)
		}
		answer, errs := cards.ParseMarkDone(inv)
		if len(errs) > 0 { // an empty answer: asked again, nothing changed
			return cardResponse(cards.MarkDoneCard(id, engine.ManualTask(c, act)))
		}
		if err := a.eng.MarkDone(ctx, id, who.ID, "collected or disabled by "+answer); err != nil {
			return messageResponse(frontend.EngineError(err))
		}
		return a.actionResponse(ctx, id)
	case cards.VerbEscalate:
		if err := a.eng.EscalateNow(ctx, id, who.ID); err != nil {
			return messageResponse(frontend.EngineError(err))
		}
		return a.actionResponse(ctx, id)
	case cards.VerbAckNotice, cards.VerbRemediate, cards.VerbMoveEquipment, cards.VerbDisposeEquipment:
		return a.followupInvoke(ctx, inv, who.ID) // followup.go
	}
	return messageResponse(textUnknownButton)
}

// planOf is the plan shown for case c's confirmation, or what the case
// says of it after a restart.
func (a *App) planOf(c *store.Case) view.Plan {
	if p := a.plans.Take(c.ID); p != nil {
		return *p
	}
	p := view.Plan{EffectiveAt: c.EffectiveAt}
	p.Employee.ID, p.Employee.Name = c.EmployeeID, c.EmployeeName
	return p
}

// approvalResponse answers with approval id's card as viewer sees it.
func (a *App) approvalResponse(ctx context.Context, id int64, viewer, _ string) invokeResponse {
	v, err := a.eng.Approval(ctx, id)
	if err != nil {
		return messageResponse(frontend.EngineError(err))
	}
	info := a.approvalInfo(ctx, v)
	info.CanDecide = v.Status == store.ApprovalPending && slices.Contains(v.Approvers, viewer)
	return cardResponse(cards.ApprovalCard(*v, info, a.now(), nil))
}

// approvalInfo is what approval v's cards show beyond the view.
func (a *App) approvalInfo(ctx context.Context, v *engine.ApprovalView) blocks.ApprovalInfo {
	info := blocks.ApprovalInfo{Names: map[string]string{}}
	ids := append([]string{v.Requester}, v.Approvers...)
	for _, id := range v.RoleApprovers {
		ids = append(ids, id)
	}
	for _, d := range v.Decisions {
		ids = append(ids, d.Approver)
	}
	for _, id := range ids {
		if _, done := info.Names[id]; id == "" || done {
			continue
		}
		info.Names[id] = a.ppl.name(ctx, id)
	}
	if ex, ok := a.eng.Policy().File.Exceptions[v.Kind]; ok {
		info.Description = ex.Description
		if ex.MaxDays > 0 {
			info.PolicyLimit = fmt.Sprintf("at most %d days", ex.MaxDays)
		}
	}
	return info
}

// statusCard renders case c (with its actions) for Teams.
func (a *App) statusCard(ctx context.Context, c *store.Case) *cards.Card {
	acts, x := frontend.StatusView(ctx, a.eng, a.ppl.dir, c, a.ppl.name)
	return cards.StatusCard(*c, acts, a.now(), x)
}

// actionResponse answers an action's button with the action's card as it
// is after the engine's change: ManualStep for a manual step not failed,
// ActionFailed otherwise (with its buttons only while it is still failed).
func (a *App) actionResponse(ctx context.Context, id int64) invokeResponse {
	x, err := a.st.Action(ctx, id)
	if err != nil {
		return messageResponse(frontend.EngineError(err))
	}
	if x.Manual && x.Status != store.ActionFailed && x.LastError == "" {
		return cardResponse(cards.ManualStep(*x, x.CaseID, x.Skippable))
	}
	return cardResponse(cards.ActionFailed(*x, x.CaseID, x.Skippable, x.Manual))
}
