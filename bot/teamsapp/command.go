package teamsapp

import (
	"context"
	"errors"
	"fmt"
	"github.com/kineticsec/kinetic/bot/frontend"
	"strings"
	"time"

	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/bot/teams/cards"
	"github.com/kineticsec/kinetic/bot/teams/connector"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/store"
)

// Texts of the command's refusals.
const (
	textUnknownRequester = "Kinetic can't match your Teams account to anyone in the HR directory, so it can't act for you. Ask HR to add your Teams (Entra object) id or check your email in Entra. Nothing was changed."
	textUnknownEmployee  = "That person is not in the HR directory (matched by their Teams object id or email). Nothing was changed."
	textLookupFailed     = frontend.TextLookupFailed
	textNotAPerson       = "That mention is not a person (a channel, team, tag or bot). Mention one person, as in: offboard @Dana. Nothing was changed."
	textNothingToSee     = frontend.TextNothingToSee
	textGone             = frontend.TextGone
)

// mentionToken is the stand-in blocks.ParseCommand reads for the i-th
// mention of a person (Slack's <@U…> form).
func mentionToken(i int) string { return fmt.Sprintf("UTEAMS%d", i) }

// commandText turns a message's text into blocks.ParseCommand's input:
// the mention of the bot is removed, each mention of a person becomes a
// stand-in token, mapped back to the person by the returned map. A
// mention of something that is not a person (no AAD object id) is
// refused; so is markup left over (<at> with no entity).
func commandText(act *connector.Activity) (string, map[string]connector.ChannelAccount, error) {
	text := act.Text
	people := map[string]connector.ChannelAccount{}
	bot := ""
	if act.Recipient != nil {
		bot = act.Recipient.ID
	}
	n := 0
	for _, e := range act.Entities {
		if e.Type != "mention" || e.Mentioned == nil || e.Text == "" {
			continue
		}
		if e.Mentioned.ID == bot && bot != "" {
			text = strings.Replace(text, e.Text, " ", 1)
			continue
		}
		if !cards.AADObjectID(e.Mentioned.AADObjectID) {
			if strings.Contains(text, e.Text) {
				return "", nil, blocks.ErrNotAPerson
			}
			continue
		}
		tok := mentionToken(n)
		n++
		people[tok] = *e.Mentioned
		text = strings.Replace(text, e.Text, "<@"+tok+">", 1)
	}
	if strings.Contains(text, "<at>") {
		return "", nil, blocks.ErrNotAPerson
	}
	text = strings.TrimSpace(strings.ReplaceAll(text, "&nbsp;", " "))
	// "offboard @person …" is the Slack command's "@person …".
	if verb, rest, _ := strings.Cut(text, " "); strings.EqualFold(verb, "offboard") {
		text = strings.TrimSpace(rest)
	} else if strings.EqualFold(text, "offboard") {
		text = ""
	}
	return text, people, nil
}

// message handles a message activity: the command is parsed, the people
// mapped and the engine's Precheck run before Teams gets its 200; the
// answer (and Engine.Open) goes out in the background.
func (a *App) message(ctx context.Context, act *connector.Activity) {
	a.ppl.seen(act.From.AADObjectID, act.From.ID)
	say := func(text string) {
		a.background(30*time.Second, func(ctx context.Context) { a.reply(ctx, act, text) })
	}
	text, ppl, err := commandText(act)
	if err != nil {
		say(commandError(err))
		return
	}
	pc, err := blocks.ParseCommand(text)
	if err != nil {
		say(commandError(err))
		return
	}
	if pc.Kind == blocks.CommandHelp || pc.Kind == blocks.CommandModal {
		help := cards.Help(a.now())
		if pc.Kind == blocks.CommandModal {
			help = cards.OffboardForm(a.now(), nil, nil)
		}
		a.background(30*time.Second, func(ctx context.Context) {
			out, err := cardActivity(help)
			if err == nil {
				out.ReplyToID = act.ID
				_, err = a.api.SendToConversation(ctx, act.ServiceURL, act.Conversation.ID, out)
			}
			if err != nil {
				a.log.WithError(err).Warn("sending help failed")
			}
		})
		return
	}
	req, why, ok := a.requester(ctx, act.From.AADObjectID)
	if !ok {
		say(why)
		return
	}
	person, known := ppl[pc.UserID]
	if !known {
		say(textNotAPerson)
		return
	}
	emp, why, ok := a.employee(ctx, person.AADObjectID)
	if !ok {
		say(why)
		return
	}
	ctx = engine.WithPrincipal(ctx, teamsPrincipal(act.From.AADObjectID, req.ID))
	switch pc.Kind {
	case blocks.CommandStatus:
		a.status(ctx, act, req, emp)
		return
	case blocks.CommandCancel:
		say(a.cancel(ctx, req, emp, pc.Reason))
		return
	}
	r := engine.Request{
		EmployeeID: emp.ID, Requester: req.ID, Trigger: store.TriggerTeams, Reason: pc.Reason,
		Involuntary: pc.Now, AwaitConfirmation: !pc.Now,
	}
	if pc.Effective != nil {
		at := pc.Effective.In(zone(emp))
		if !at.After(a.now()) {
			say(fmt.Sprintf("%s in %s has already passed. Give a later --effective time, or --now to start at once. Nothing was changed.", pc.Effective.String(), zone(emp)))
			return
		}
		r.EffectiveAt = at
	}
	if err := a.eng.Precheck(ctx, r); err != nil {
		say(frontend.OpenError(err, "Say status @person to follow it."))
		return
	}
	a.openInBackground(act, r)
	if pc.Now {
		say(fmt.Sprintf("Starting the involuntary offboarding of %s now. Kinetic is looking up their accounts and will tell you when it has started.", emp.Name))
		return
	}
	say(fmt.Sprintf("Planning the offboarding of %s… Kinetic is looking up their accounts and will send you the plan to confirm in a 1:1 chat. Nothing runs until you do.", emp.Name))
}

// openInBackground runs Engine.Open on a detached context and sends the
// plan preview to the requester's 1:1 chat (recorded, so its buttons can
// be resolved later), or what happened.
func (a *App) openInBackground(act *connector.Activity, r engine.Request) {
	from := *act.From
	tenant := ""
	if act.Conversation != nil {
		tenant = act.Conversation.TenantID
	}
	a.background(a.o.OpenTimeout, func(ctx context.Context) {
		op, err := a.eng.Open(engine.WithPrincipal(ctx, teamsPrincipal(from.AADObjectID, r.Requester)), r)
		if err != nil {
			a.reply(ctx, act, frontend.OpenError(err, "Say status @person to follow it."))
			return
		}
		c := op.Case
		if c.Status == store.CaseAwaitingConfirmation && op.Plan != nil {
			a.plans.Remember(c.ID, op.Plan)
			out, err := cardActivity(cards.PlanPreview(*op.Plan, c.ID))
			if err != nil {
				a.log.WithError(err).Error("building the plan preview failed")
				return
			}
			conv, id, err := a.dm(ctx, from.ID, tenant, out)
			if err != nil {
				a.log.WithError(err).WithField("case", c.ID).Warn("sending the plan preview to the requester's 1:1 failed")
				a.reply(ctx, act, fmt.Sprintf("Kinetic opened case %d but could not send you the plan in a 1:1 chat. Install the Kinetic app for yourself and ask for the status.", c.ID))
				return
			}
			a.refs.Record(ctx, c.ID, conv, id, kindPreview)
			return
		}
		a.reply(ctx, act, fmt.Sprintf("Case %d opened for %s: %s.", c.ID, c.EmployeeName, frontend.StatusWord(c.Status)))
	})
}

// kindPreview is the recorded kind of a plan preview.
const kindPreview = "preview"

func (a *App) requester(ctx context.Context, aad string) (*directory.Employee, string, bool) {
	emp, err := a.ppl.hr(ctx, aad)
	switch {
	case errors.Is(err, errNoPerson):
		return nil, textUnknownRequester, false
	case err != nil:
		a.log.WithError(err).Warn("mapping a Teams requester to HR failed")
		return nil, textLookupFailed, false
	case !emp.Active():
		return nil, "Your HR record is not active, so Kinetic can't act for you. Nothing was changed.", false
	}
	return emp, "", true
}

func (a *App) employee(ctx context.Context, aad string) (*directory.Employee, string, bool) {
	emp, err := a.ppl.hr(ctx, aad)
	switch {
	case errors.Is(err, errNoPerson):
		return nil, textUnknownEmployee, false
	case err != nil:
		a.log.WithError(err).Warn("mapping a Teams user to HR failed")
		return nil, textLookupFailed, false
	}
	return emp, "", true
}

// status answers status @person with the case's status card, to someone
// who may see it.
func (a *App) status(ctx context.Context, act *connector.Activity, req, emp *directory.Employee) {
	c, err := a.latestCase(ctx, emp.ID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !a.eng.MayView(ctx, req.ID, c)) {
		a.background(30*time.Second, func(ctx context.Context) {
			a.reply(ctx, act, fmt.Sprintf("There is no offboarding of %s you can see.", emp.Name))
		})
		return
	}
	if err != nil {
		a.background(30*time.Second, func(ctx context.Context) { a.reply(ctx, act, textLookupFailed) })
		return
	}
	card := a.statusCard(ctx, c)
	a.background(30*time.Second, func(ctx context.Context) {
		out, err := cardActivity(card)
		if err == nil {
			_, err = a.api.SendToConversation(ctx, act.ServiceURL, act.Conversation.ID, out)
		}
		if err != nil {
			a.log.WithError(err).Warn("sending a status card failed")
		}
	})
}

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

// cancel cancels the person's open case for req; the engine decides who
// may. A refusal of who reads like no case at all.
func (a *App) cancel(ctx context.Context, req, emp *directory.Employee, reason string) string {
	none := fmt.Sprintf("There is no open offboarding of %s you can cancel.", emp.Name)
	c, err := a.st.OpenCaseFor(ctx, emp.ID)
	if errors.Is(err, store.ErrNotFound) {
		return none
	}
	if err != nil {
		return textLookupFailed
	}
	if reason == "" {
		reason = "cancelled in Teams"
	}
	err = a.eng.CancelCase(ctx, engine.CancelRequest{CaseID: c.ID, By: req.ID, Reason: reason})
	switch {
	case errors.Is(err, engine.ErrNotAllowed) && req.ID == emp.ID:
		return frontend.EngineError(err)
	case errors.Is(err, engine.ErrNotAllowed):
		return none
	case errors.Is(err, engine.ErrCaseStarted):
		return fmt.Sprintf("Case %d has already started (effective %s); it can't be cancelled from Teams. Ask an admin if access must be restored.",
			c.ID, c.EffectiveAt.UTC().Format("2006-01-02 15:04 UTC"))
	case err != nil:
		return frontend.EngineError(err)
	}
	return fmt.Sprintf("Case %d (offboarding of %s) cancelled. Nothing more will run.", c.ID, c.EmployeeName)
}

func commandError(err error) string {
	switch {
	case errors.Is(err, blocks.ErrReasonTooLong):
		return "Kinetic couldn't take that: " + err.Error() + ". Shorten it. Nothing was changed."
	case errors.Is(err, blocks.ErrNotAPerson):
		return textNotAPerson
	case errors.Is(err, blocks.ErrUnlinkedMention):
		return "Mention the person with @ so Teams links it (pick them from the list), as in: offboard @Dana. Nothing was changed."
	}
	return "Kinetic couldn't read that: " + err.Error() + ". Say help for the commands. Nothing was changed."
}
