package slackapp

import (
	"context"
	"errors"
	"fmt"
	"github.com/kineticsec/kinetic/bot/frontend"
	"time"

	"github.com/slack-go/slack"

	slackbot "github.com/kineticsec/kinetic/bot/slackbot"
	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/store"
)

// Texts of the command's refusals.
const (
	textUnknownRequester = "Kinetic can't match your Slack account to anyone in the HR directory, so it can't act for you. Ask HR to add your Slack id or check the email on your Slack profile."
	textUnknownEmployee  = "That person is not in the HR directory (matched by their Slack id or profile email). Nothing was changed."
	textLookupFailed     = frontend.TextLookupFailed
)

// Command implements slackbot.Handlers for /offboard. It answers from the
// database and the people cache; Engine.Open runs in the background.
func (a *App) Command(ctx context.Context, cmd slack.SlashCommand) slackbot.Response {
	pc, err := blocks.ParseCommand(cmd.Text)
	if err != nil {
		return slackbot.Ephemeral(commandError(err))
	}
	if pc.Kind == blocks.CommandHelp {
		return slackbot.Ephemeral(blocks.HelpText(a.now()))
	}
	req, resp, ok := a.requester(ctx, cmd.UserID)
	if !ok {
		return resp
	}
	ctx = engine.WithPrincipal(ctx, slackPrincipal(cmd.UserID, req.ID))
	log := a.log.WithFields(map[string]any{"slack_user": cmd.UserID, "requester": req.ID, "command": string(pc.Kind)})
	switch pc.Kind {
	case blocks.CommandModal:
		trigger := cmd.TriggerID
		a.background(10*time.Second, func(ctx context.Context) {
			if _, err := a.api.OpenViewContext(ctx, trigger, blocks.OffboardModal(a.now())); err != nil {
				log.WithError(err).Warn("opening the offboard modal failed")
				a.tell(ctx, cmd.ChannelID, cmd.UserID, "Kinetic could not open the offboarding form. Try again, or use /offboard @person.")
			}
		})
		return slackbot.Ack()
	case blocks.CommandStatus:
		return a.status(ctx, req, pc.UserID)
	case blocks.CommandCancel:
		return a.cancel(ctx, req, pc.UserID, pc.Reason)
	case blocks.CommandRestore:
		return a.restore(ctx, req, pc.UserID, pc.Reason)
	}

	emp, resp, ok := a.employee(ctx, pc.UserID)
	if !ok {
		return resp
	}
	r := engine.Request{
		EmployeeID: emp.ID, Requester: req.ID, Trigger: store.TriggerSlack, Reason: pc.Reason,
		Involuntary: pc.Now, AwaitConfirmation: !pc.Now,
	}
	if pc.Effective != nil {
		at := pc.Effective.In(zone(emp))
		if !at.After(a.now()) {
			return slackbot.Ephemeral(fmt.Sprintf("%s in %s has already passed. Give a later --effective time, or --now to start at once. Nothing was changed.",
				pc.Effective.String(), zone(emp).String()))
		}
		r.EffectiveAt = at
	}
	// Refuse now what can be refused now (the directory and the database
	// answer at once): only planning, with its connector lookups, runs in
	// the background.
	if err := a.eng.Precheck(ctx, r); err != nil {
		return slackbot.Ephemeral(frontend.OpenError(err, "Use /offboard status to follow it."))
	}
	a.openInBackground(cmd.ChannelID, cmd.UserID, r)
	if pc.Now {
		return slackbot.Ephemeral(fmt.Sprintf(":hourglass_flowing_sand: Starting the involuntary offboarding of <@%s> now. Kinetic is looking up their accounts and will tell you when it has started.", pc.UserID))
	}
	return slackbot.Ephemeral(fmt.Sprintf(":hourglass_flowing_sand: Planning the offboarding of <@%s>… Kinetic is looking up their accounts and will DM you the plan to confirm. Nothing runs until you do.", pc.UserID))
}

// openInBackground runs Engine.Open with a detached context (connector
// lookups can take seconds) and reports to the requester: the plan preview
// to confirm (DM, recorded so it can be resolved later), or that an
// involuntary case started, or why nothing was opened.
func (a *App) openInBackground(channel, user string, r engine.Request) {
	a.background(a.openTO, func(ctx context.Context) {
		op, err := a.eng.Open(engine.WithPrincipal(ctx, slackPrincipal(user, r.Requester)), r)
		if err != nil {
			a.tell(ctx, channel, user, frontend.OpenError(err, "Use /offboard status to follow it."))
			return
		}
		c := op.Case
		if c.Status == store.CaseAwaitingConfirmation && op.Plan != nil {
			a.plans.Remember(c.ID, op.Plan)
			bs, text := blocks.PlanPreview(*op.Plan, c.ID)
			ch, ts, err := a.dm(ctx, user, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(bs...))
			if err != nil {
				a.log.WithError(err).WithField("case", c.ID).Warn("DMing the plan preview failed; showing it in the channel")
				a.tell(ctx, channel, user, text, bs...)
				return
			}
			a.refs.Record(ctx, c.ID, ch, ts, kindPreview)
			// A cancel that came between the post and its record found no
			// preview to resolve: resolve it here (once; see
			// resolveCancelledPreview).
			if now, err := a.st.Case(ctx, c.ID); err == nil && now.Status == store.CaseCancelled && now.StartedAt == nil {
				a.resolveCancelledPreview(ctx, now, store.ChatMessage{CaseID: c.ID, Channel: ch, TS: ts})
			}
			return
		}
		if op.Upgraded {
			a.tell(ctx, channel, user, fmt.Sprintf(":white_check_mark: %s already had case %d open; it is now involuntary and %s. Follow it in %s.", c.EmployeeName, c.ID, frontend.StatusWord(c.Status), a.where()))
			return
		}
		a.tell(ctx, channel, user, fmt.Sprintf(":white_check_mark: Case %d opened for %s: %s. Follow it in %s.", c.ID, c.EmployeeName, frontend.StatusWord(c.Status), a.where()))
	})
}

func (a *App) where() string {
	if a.cfg.OffboardingChannel != "" {
		return "<#" + a.cfg.OffboardingChannel + ">"
	}
	return "your DMs from Kinetic"
}

// slackPrincipal is the engine principal of a Slack user whose HR record
// is hrID: they act for themselves only.
func slackPrincipal(slackID, hrID string) engine.Principal {
	return engine.Principal{ID: "slack:" + slackID, ActAs: []string{hrID}}
}

// requester maps the Slack user to their HR record, or answers why not.
func (a *App) requester(ctx context.Context, slackID string) (*directory.Employee, slackbot.Response, bool) {
	emp, err := a.ppl.hr(ctx, slackID)
	switch {
	case errors.Is(err, errNoPerson):
		return nil, slackbot.Ephemeral(textUnknownRequester), false
	case err != nil:
		a.log.WithError(err).Warn("mapping a Slack requester to HR failed")
		return nil, slackbot.Ephemeral(textLookupFailed), false
	case !emp.Active():
		return nil, slackbot.Ephemeral("Your HR record is not active, so Kinetic can't act for you."), false
	}
	return emp, slackbot.Response{}, true
}

// employee maps a mentioned Slack user to their HR record, or answers why
// not.
func (a *App) employee(ctx context.Context, slackID string) (*directory.Employee, slackbot.Response, bool) {
	emp, err := a.ppl.hr(ctx, slackID)
	switch {
	case errors.Is(err, errNoPerson):
		return nil, slackbot.Ephemeral(textUnknownEmployee), false
	case err != nil:
		a.log.WithError(err).Warn("mapping a Slack user to HR failed")
		return nil, slackbot.Ephemeral(textLookupFailed), false
	}
	return emp, slackbot.Response{}, true
}

func (a *App) status(ctx context.Context, req *directory.Employee, slackID string) slackbot.Response {
	emp, resp, ok := a.employee(ctx, slackID)
	if !ok {
		return resp
	}
	c, err := a.latestCase(ctx, emp.ID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !a.eng.MayView(ctx, req.ID, c)) {
		// Not telling who is being offboarded to people who may not know.
		return slackbot.Ephemeral(fmt.Sprintf("There is no offboarding of <@%s> you can see.", slackID))
	}
	if err != nil {
		return slackbot.Ephemeral(textLookupFailed)
	}
	bs, text := a.statusCard(ctx, c)
	return slackbot.Ephemeral(text, bs...)
}

// textNothingToSee answers a view of a case the viewer may not see, or of
// no case: the same words either way.
const textNothingToSee = frontend.TextNothingToSee

// latestCase is the employee's open case, else their newest one, with its
// actions.
func (a *App) latestCase(ctx context.Context, employeeID string) (*store.Case, error) {
	c, err := a.st.OpenCaseFor(ctx, employeeID)
	if errors.Is(err, store.ErrNotFound) {
		last, err := a.st.NewestCaseFor(ctx, employeeID)
		if err != nil {
			return nil, store.ErrNotFound
		}
		c = last
	} else if err != nil {
		return nil, err
	}
	return a.st.CaseWithActions(ctx, c.ID)
}

// cancel cancels the mentioned person's open case for req. Who may cancel
// and until when is the engine's decision (engine.CancelCase), shared with
// the API and the CLI; a refusal of who is answered like no case at all,
// so nobody learns of an offboarding they may not see.
func (a *App) cancel(ctx context.Context, req *directory.Employee, slackID, reason string) slackbot.Response {
	emp, resp, ok := a.employee(ctx, slackID)
	if !ok {
		return resp
	}
	none := slackbot.Ephemeral(fmt.Sprintf("There is no open offboarding of <@%s> you can cancel.", slackID))
	c, err := a.st.OpenCaseFor(ctx, emp.ID)
	if errors.Is(err, store.ErrNotFound) {
		return none
	}
	if err != nil {
		return slackbot.Ephemeral(textLookupFailed)
	}
	if reason == "" {
		reason = "cancelled in Slack"
	}
	err = a.eng.CancelCase(ctx, engine.CancelRequest{CaseID: c.ID, By: req.ID, Reason: reason})
	switch {
	case errors.Is(err, engine.ErrNotAllowed) && req.ID == emp.ID:
		// They know their own case exists: say why it is refused.
		return slackbot.Ephemeral(frontend.EngineError(err))
	case errors.Is(err, engine.ErrNotAllowed):
		return none
	case errors.Is(err, engine.ErrCaseStarted):
		return slackbot.Ephemeral(fmt.Sprintf("Case %d has already started (effective %s); it can't be cancelled from Slack. Ask an admin if access must be restored.",
			c.ID, c.EffectiveAt.UTC().Format("2006-01-02 15:04 UTC")))
	case err != nil:
		return slackbot.Ephemeral(frontend.EngineError(err))
	}
	return slackbot.Ephemeral(fmt.Sprintf(":no_entry_sign: Case %d (offboarding of %s) cancelled. Nothing more will run.", c.ID, c.EmployeeName))
}

// restore asks for the mentioned person's last closed case to be undone.
// Who may ask is the engine's decision (engine.RequestRestore), shared with
// the API and the CLI; a refusal of who is answered like no case at all.
// The approvers get the approval card (EventRestoreRequested); approving
// it runs the compensating actions.
func (a *App) restore(ctx context.Context, req *directory.Employee, slackID, reason string) slackbot.Response {
	emp, resp, ok := a.employee(ctx, slackID)
	if !ok {
		return resp
	}
	none := slackbot.Ephemeral(fmt.Sprintf("There is no closed offboarding of <@%s> you can ask to restore.", slackID))
	c, err := a.st.NewestCaseFor(ctx, emp.ID)
	if errors.Is(err, store.ErrNotFound) {
		return none
	}
	if err != nil {
		return slackbot.Ephemeral(textLookupFailed)
	}
	apID, err := a.eng.RequestRestore(ctx, c.ID, req.ID, reason)
	switch {
	case errors.Is(err, engine.ErrNotAllowed) && req.ID == emp.ID:
		return slackbot.Ephemeral(frontend.EngineError(err))
	case errors.Is(err, engine.ErrNotAllowed):
		return none
	case err != nil:
		return slackbot.Ephemeral(frontend.EngineError(err))
	}
	return slackbot.Ephemeral(fmt.Sprintf(":leftwards_arrow_with_hook: Restore of case %d (offboarding of %s) requested: approval %d went to its approvers. Approving it re-enables what can be re-enabled; the rest is listed as steps for people.",
		c.ID, c.EmployeeName, apID))
}

// commandError explains a ParseCommand error.
func commandError(err error) string {
	switch {
	case errors.Is(err, blocks.ErrReasonTooLong):
		return "Kinetic couldn't take that: " + err.Error() + ". Shorten it, or use /offboard alone for the form and put details in its notes. Nothing was changed."
	case errors.Is(err, blocks.ErrNotAPerson):
		return "That mention is a channel, user group or link, not a person. Mention one person, as in /offboard @dana. Nothing was changed."
	case errors.Is(err, blocks.ErrUnlinkedMention):
		return "Mention the person with @ so Slack links it (pick them from the list), as in /offboard @dana. Nothing was changed."
	}
	return "Kinetic couldn't read that: " + err.Error() + ". Nothing was changed."
}
