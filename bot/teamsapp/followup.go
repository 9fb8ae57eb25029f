package teamsapp

import (
	"context"
	"errors"
	"fmt"

	"github.com/kineticsec/kinetic/bot/frontend"
	"github.com/kineticsec/kinetic/bot/teams/cards"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/store"
)

// followupInvoke handles the buttons of the work after the revocations,
// as Slack's do (bot/slackapp/notices.go, equipment.go, interact.go):
// Acknowledge on a notice, Remediate on residual access, an equipment
// task's moves. The engine authorizes each click (a notice: a member of
// the receiving team; remediation: an admin or a security officer; a
// move: the task's team or an admin; never the departing person); a
// refusal is shown to the clicker only and changes nothing; an accepted
// click answers with the card as it now is, and the notifier replaces
// every other copy through the engine's event.
func (a *App) followupInvoke(ctx context.Context, inv cards.Invoke, who string) invokeResponse {
	switch inv.Verb {
	case cards.VerbAckNotice:
		no, err := a.eng.AcknowledgeNotice(ctx, inv.ID, who, store.AckButton)
		if errors.Is(err, engine.ErrInvalidRequest) {
			// Acknowledged already (by someone else, or by the link): the
			// card as it is says by whom.
			if cur, cerr := a.st.Notice(ctx, inv.ID); cerr == nil && !cur.Open() {
				return a.noticeResponse(ctx, cur)
			}
		}
		if err != nil {
			return messageResponse(frontend.EngineError(err))
		}
		return a.noticeResponse(ctx, no)
	case cards.VerbRemediate:
		aid, err := a.eng.Remediate(ctx, inv.ID, who)
		if err != nil {
			return messageResponse(frontend.EngineError(err))
		}
		return messageResponse(fmt.Sprintf("Remediation added (action %d); it runs now and is read back. Follow it in the case.", aid))
	case cards.VerbMoveEquipment:
		to := inv.Inputs["to"]
		if to == "" || to == store.EquipmentDisposed {
			return messageResponse(textBadButton) // a disposal needs its reference: disposeEquipment
		}
		return a.moveEquipment(ctx, engine.EquipmentMove{TaskID: inv.ID, To: to, Actor: who, Note: "moved in Teams", Via: "teams"})
	case cards.VerbDisposeEquipment:
		ref, errs := cards.ParseDisposal(inv)
		for _, m := range errs {
			return messageResponse(m + " Nothing was changed.")
		}
		return a.moveEquipment(ctx, engine.EquipmentMove{TaskID: inv.ID, To: store.EquipmentDisposed, Actor: who, Reference: ref,
			Note: "disposed of in Teams", Via: "teams"})
	}
	return messageResponse(textUnknownButton)
}

// noticeResponse is notice no's card as it now is.
func (a *App) noticeResponse(ctx context.Context, no *store.Notice) invokeResponse {
	c, err := a.st.Case(ctx, no.CaseID)
	if err != nil {
		return messageResponse(frontend.EngineError(err))
	}
	dates, _ := a.eng.NoticeDates(ctx, no)
	return cardResponse(cards.NoticeCard(*no, c.EmployeeName, dates, true))
}

// moveEquipment moves a task and answers with its card, with the buttons
// of the moves now possible; a repeated click changes nothing and says
// so.
func (a *App) moveEquipment(ctx context.Context, m engine.EquipmentMove) invokeResponse {
	res, err := a.eng.MoveEquipment(ctx, m)
	if err != nil {
		return messageResponse(frontend.EngineError(err))
	}
	if !res.Changed {
		return messageResponse(fmt.Sprintf("Nothing to do: %s is already %s.", res.Task.AssetTag, engine.EquipmentWord(res.Task.Status)))
	}
	c, err := a.st.Case(ctx, res.Task.CaseID)
	if err != nil {
		return messageResponse(frontend.EngineError(err))
	}
	ev := engine.Event{Kind: engine.EventEquipment, CaseID: c.ID, EquipmentID: res.Task.ID}
	return cardResponse(cards.EquipmentCard(ev, res.Task, c.EmployeeName, engine.EquipmentNext(res.Task.Status), true))
}
