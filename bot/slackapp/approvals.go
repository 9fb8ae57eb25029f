package slackapp

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/kineticsec/kinetic/bot/frontend"
	"slices"
	"strings"

	"github.com/slack-go/slack"

	slackbot "github.com/kineticsec/kinetic/bot/slackbot"
	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/store"
)

// Approvals in Slack: the Approve and Deny clicks (on a DM card or the
// Home tab), their reason modals, and what the cards and modals say about
// an approval beyond its view.

// approvalInfo is what approval v's cards and modals show beyond the view:
// the names of the people it mentions (requester, current approvers,
// deciders, named approvers of its steps and the people its roles stand
// for) and the policy's description and
// limit of its kind. CanDecide is left false.
func (a *App) approvalInfo(ctx context.Context, v *engine.ApprovalView) blocks.ApprovalInfo {
	info := blocks.ApprovalInfo{Names: map[string]string{}}
	ids := append([]string{v.Requester}, v.Approvers...)
	for _, id := range v.RoleApprovers {
		ids = append(ids, id)
	}
	for _, d := range v.Decisions {
		ids = append(ids, d.Approver)
	}
	for _, s := range v.Steps {
		for _, raw := range []string{s.Approvers, s.Fallback} {
			var refs []string
			if json.Unmarshal([]byte(raw), &refs) == nil {
				for _, r := range refs {
					if id, ok := strings.CutPrefix(r, "user:"); ok {
						ids = append(ids, id)
					}
				}
			}
		}
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

// clickApprove is an Approve click by who (HR id, whose principal is in
// ctx). Where the policy requires a reason to approve the current step
// and who may decide it, the click opens ApproveReasonModal; otherwise it
// decides at once, and the engine's refusal (not an approver, the
// requester, already decided) comes back as an ephemeral message. The
// notifier updates every card of the approval (approval_decided).
func (a *App) clickApprove(ctx context.Context, cb slack.InteractionCallback, id int64, who string, say func(string)) {
	v, err := a.eng.Approval(ctx, id)
	if err != nil {
		say(frontend.EngineError(err))
		return
	}
	if v.Status == store.ApprovalPending && v.ReasonRequired && slices.Contains(v.Approvers, who) {
		if _, err := a.api.OpenViewContext(ctx, cb.TriggerID, blocks.ApproveReasonModal(*v, a.approvalInfo(ctx, v))); err != nil {
			a.log.WithError(err).WithField("approval", id).Warn("opening the approve reason modal failed")
			say("Kinetic could not open the form for a reason. Please click Approve again.")
		}
		return
	}
	if _, err := a.eng.Decide(ctx, engine.Decision{ApprovalID: id, Approver: who, Approve: true, Via: "slack"}); err != nil {
		say(frontend.EngineError(err))
	}
}

// clickDeny is a Deny click: it opens DenyReasonModal for someone who may
// decide the approval now. Anyone else gets the engine's refusal at once
// instead of a form (a denial without a reason is never recorded, so
// asking the engine is only a check).
func (a *App) clickDeny(ctx context.Context, cb slack.InteractionCallback, id int64, who string, say func(string)) {
	v, err := a.eng.Approval(ctx, id)
	if err != nil {
		say(frontend.EngineError(err))
		return
	}
	if v.Status != store.ApprovalPending || !slices.Contains(v.Approvers, who) {
		if _, err := a.eng.Decide(ctx, engine.Decision{ApprovalID: id, Approver: who, Approve: false, Via: "slack"}); err != nil {
			say(frontend.EngineError(err))
		}
		return
	}
	if _, err := a.api.OpenViewContext(ctx, cb.TriggerID, blocks.DenyReasonModal(*v, a.approvalInfo(ctx, v))); err != nil {
		a.log.WithError(err).WithField("approval", id).Warn("opening the deny reason modal failed")
		say("Kinetic could not open the form for a reason. Please click Deny again.")
	}
}

func (a *App) submitDeny(ctx context.Context, cb slack.InteractionCallback) slackbot.Response {
	return a.submitReason(ctx, cb, blocks.ParseDenyReason, func(ctx context.Context, id int64, who, reason string) error {
		_, err := a.eng.Decide(ctx, engine.Decision{ApprovalID: id, Approver: who, Approve: false, Reason: reason, Via: "slack"})
		return err
	})
}

// submitApprove is ApproveReasonModal's submission: the approval is
// decided with the reason; a refusal shows in the form, which stays open.
func (a *App) submitApprove(ctx context.Context, cb slack.InteractionCallback) slackbot.Response {
	return a.submitReason(ctx, cb, blocks.ParseApproveReason, func(ctx context.Context, id int64, who, reason string) error {
		_, err := a.eng.Decide(ctx, engine.Decision{ApprovalID: id, Approver: who, Approve: true, Reason: reason, Via: "slack"})
		return err
	})
}
