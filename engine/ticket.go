package engine

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/text"
	"github.com/kineticsec/kinetic/store"
)

// ITSM tickets for the team that must act (the policy's tickets block,
// configs.TicketPolicy): an equipment task routed to a team gets a
// ticket in that team's queue when it is created, an update with each
// move (its progress note, state in_progress) and is closed with its
// final disposition; a manual step gets one when it awaits a person
// (its connector's owner is the team) and it is closed when the step is
// done, skipped or failed.
//
// Each ticket operation is an action of the case (open_ticket,
// update_ticket, close_ticket on the ticket connector instance), added
// by syncTickets whenever the case advances and run by RunAction through
// the connector's connectors.Ticketer (callTicket) — never inside a
// database transaction — so it is retried by its error kind, read back,
// audited and shown like any action, and a failure stays on the case.
// The actions of one task run in the order they were added (each waits
// for the one before), are named after the task and step
// (ticket.LT-1003.open, ticket.LT-1003.received, ticket.LT-1003.close),
// so adding one twice adds it once, and do not wait for earlier phases:
// the team gets its ticket while the revocations still run. The filed
// ticket's reference is kept on the task or step (store.TicketRef) for
// the status card, and its open/update/close is audited as ticket.opened,
// ticket.updated, ticket.closed (ticket.failed when it did not happen).

// Parameters of a ticket action (beside the routing parameters of the
// team: assignment_group, project, issue_type).
const (
	// paramTicketFor names the task: "equipment:ID" or "action:ID".
	paramTicketFor = "ticket_for"
	// paramTicketTask is the TicketRequest.TaskID ("equipment-7").
	paramTicketTask = "ticket_task"
	paramSummary    = "summary"
	paramDescr      = "description"
	paramNote       = "note"
)

// Result data keys of a ticket action.
const (
	dataTicketID    = "ticket_id"
	dataTicketKey   = "ticket_key"
	dataTicketURL   = "ticket_url"
	dataTicketState = "ticket_state"
)

// isTicketAction reports whether a is one of the ticket actions.
func isTicketAction(a *store.Action) bool {
	return connectors.IsTicketOperation(connectors.Operation(a.Operation))
}

// ticketActionName names the ticket action of step (open, a status,
// close) of the task called owner (an asset tag, a step's name).
func ticketActionName(owner, step string) string { return "ticket." + owner + "." + step }

// ticketStep is one ticket action a case's tasks call for.
type ticketStep struct {
	name, owner, connector string
	op                     connectors.Operation
	params                 map[string]string
	describe               string
}

// syncTickets adds the ticket actions the case's equipment tasks and
// manual steps call for and not yet added, and releases them; called by
// advance after it released the case's actions (so a manual step that
// now awaits a person gets its ticket in the same transaction).
func (e *Engine) syncTickets(tx *gorm.DB, au *auditBuf, c *store.Case, cas *caseActions, gate int, now time.Time, evs []Event) ([]dispatch, []Event, error) {
	tp := e.policy.Load().File.Tickets
	if tp == nil && !slices.ContainsFunc(cas.acts, func(a store.Action) bool { return isTicketAction(&a) }) {
		return nil, evs, nil // no tickets, and none filed under an earlier policy to follow up
	}
	ts, err := store.CaseEquipment(tx, c.ID)
	if err != nil {
		return nil, evs, err
	}
	var want []ticketStep
	for i := range ts {
		want = append(want, e.equipmentTicketSteps(tp, c, &ts[i], cas)...)
	}
	for i := range cas.acts {
		if a := &cas.acts[i]; a.Manual {
			want = append(want, e.manualTicketSteps(tp, c, a, cas)...)
		}
	}
	var added []string
	last := map[string]string{} // task → its latest ticket action
	for _, a := range cas.acts {
		if isTicketAction(&a) {
			var p map[string]string
			_ = json.Unmarshal([]byte(a.Params), &p)
			last[p[paramTicketFor]] = a.Name
		}
	}
	for _, st := range want {
		if cas.byName[st.name] != nil {
			continue
		}
		var deps []string
		if prev := last[st.params[paramTicketFor]]; prev != "" {
			deps = []string{prev}
		}
		a, err := e.addTicketAction(tx, au, c, st, deps, now)
		if err != nil {
			return nil, evs, err
		}
		last[st.params[paramTicketFor]] = a.Name
		cas.acts = append(cas.acts, *a)
		added = append(added, a.Name)
	}
	if len(added) == 0 {
		return nil, evs, nil
	}
	cas.byName = make(map[string]*store.Action, len(cas.acts))
	for i := range cas.acts {
		cas.byName[cas.acts[i].Name] = &cas.acts[i]
	}
	cas.dead = cas.findDead()
	var ds []dispatch
	for _, name := range added {
		var d *dispatch
		if d, evs, err = e.releaseAction(tx, au, c, cas, cas.byName[name], gate, now, evs); err != nil {
			return nil, evs, err
		}
		if d != nil {
			ds = append(ds, *d)
		}
	}
	return ds, evs, nil
}

// equipmentTicketSteps lists the ticket actions task t calls for: open,
// then one update per status it has reached (added as it reaches it),
// then close at its final disposition.
func (e *Engine) equipmentTicketSteps(tp *configs.TicketPolicy, c *store.Case, t *store.EquipmentTask, cas *caseActions) []ticketStep {
	open := ticketActionName(t.AssetTag, "open")
	conn, params, ok := tp.TicketRoute(t.AssigneeTeam)
	if prev := cas.byName[open]; prev != nil {
		conn, ok = prev.Connector, true // later steps go where the ticket was filed
	}
	if !ok {
		return nil
	}
	for_ := fmt.Sprintf("equipment:%d", t.ID)
	due := ""
	if t.DueAt != nil {
		due = ", due " + t.DueAt.Format("2006-01-02")
	}
	what := t.Category
	if t.Description != "" {
		what += ", " + t.Description
	}
	op := map[string]string{paramTicketFor: for_, paramTicketTask: fmt.Sprintf("equipment-%d", t.ID),
		paramSummary: text.ClipBytes(fmt.Sprintf("Recover %s %s from %s", t.Category, t.AssetTag, c.EmployeeName), 160),
		paramDescr: text.ClipBytes(fmt.Sprintf("%s (%s) leaves on %s. Recover %s (%s) at %s%s.\n\nMove the equipment task in Kinetic (case %d) as it progresses: this ticket follows it and closes with its disposition.",
			c.EmployeeName, c.EmployeeID, c.EffectiveAt.Format("2006-01-02"), t.AssetTag, what, orDash(t.Location), due, c.ID), 4000)}
	for k, v := range params {
		op[k] = v
	}
	steps := []ticketStep{{name: open, owner: t.AssigneeTeam, connector: conn, op: connectors.OpOpenTicket, params: op,
		describe: fmt.Sprintf("Open a ticket for %s's recovery", t.AssetTag)}}
	if t.Status == store.EquipmentOpen {
		return steps
	}
	note := fmt.Sprintf("%s %s", t.AssetTag, equipmentWord(t.Status))
	if t.StatusBy != "" {
		note += " by " + t.StatusBy
	}
	if t.Reference != "" {
		note += "; certificate of destruction " + t.Reference
	}
	if t.Note != "" {
		note += ": " + t.Note
	}
	step := ticketStep{name: ticketActionName(t.AssetTag, t.Status), owner: t.AssigneeTeam, connector: conn, op: connectors.OpUpdateTicket,
		params:   map[string]string{paramTicketFor: for_, paramNote: text.ClipBytes(note, 2000)},
		describe: fmt.Sprintf("Note %s %s on its ticket", t.AssetTag, equipmentWord(t.Status))}
	if store.EquipmentFinal(t.Status) {
		step.name, step.op, step.describe = ticketActionName(t.AssetTag, "close"), connectors.OpCloseTicket, fmt.Sprintf("Close %s's ticket (%s)", t.AssetTag, t.Status)
	}
	return append(steps, step)
}

// manualTicketSteps lists the ticket actions manual step a calls for:
// open once it awaits a person, close once it is final (when a ticket
// was opened for it).
func (e *Engine) manualTicketSteps(tp *configs.TicketPolicy, c *store.Case, a *store.Action, cas *caseActions) []ticketStep {
	open := ticketActionName(a.Name, "open")
	prev := cas.byName[open]
	team := strings.TrimPrefix(e.owners[a.Connector], "channel:")
	conn, params, ok := tp.TicketRoute(team)
	switch {
	case prev != nil:
		conn = prev.Connector
	case !ok || a.Status != store.ActionPending:
		return nil // no ticket for this team, or not (or no longer) awaiting a person
	}
	for_ := fmt.Sprintf("action:%d", a.ID)
	name := a.Name
	if a.Description != "" {
		name = a.Description
	}
	op := map[string]string{paramTicketFor: for_, paramTicketTask: fmt.Sprintf("action-%d", a.ID),
		paramSummary: text.ClipBytes(fmt.Sprintf("%s for %s", name, c.EmployeeName), 160),
		paramDescr: text.ClipBytes(fmt.Sprintf("%s\n\nMark the step done (or skip it) in Kinetic, case %d: this ticket closes with it.",
			manualTask(c, a), c.ID), 4000)}
	for k, v := range params {
		op[k] = v
	}
	steps := []ticketStep{{name: open, owner: team, connector: conn, op: connectors.OpOpenTicket, params: op,
		describe: fmt.Sprintf("Open a ticket for manual step %s", a.Name)}}
	if !store.ActionFinal(a.Status) {
		return steps
	}
	var note string
	switch a.Status {
	case store.ActionSucceeded:
		note = a.Name + " done: " + a.Verification
	case store.ActionSkipped:
		note = a.Name + " " + a.Detail
	case store.ActionFailed:
		note = a.Name + " failed: " + a.LastError
	default:
		note = a.Name + " " + a.Status
	}
	return append(steps, ticketStep{name: ticketActionName(a.Name, "close"), owner: team, connector: conn, op: connectors.OpCloseTicket,
		params:   map[string]string{paramTicketFor: for_, paramNote: text.ClipBytes(note, 2000)},
		describe: fmt.Sprintf("Close the ticket of manual step %s (%s)", a.Name, a.Status)})
}

// addTicketAction creates the action of ticket step st, waiting for deps.
func (e *Engine) addTicketAction(tx *gorm.DB, au *auditBuf, c *store.Case, st ticketStep, deps []string, now time.Time) (*store.Action, error) {
	pol := e.policy.Load()
	sla := pol.File.Defaults.SLA[configs.PhaseNotifications].D()
	pa := PlannedAction{Name: st.name, Description: text.ClipBytes(st.describe, 250), Connector: st.connector, Operation: string(st.op),
		Phase: configs.PhaseNumber(configs.PhaseNotifications), PhaseName: configs.PhaseNotifications, SLA: sla, DueAt: now.Add(sla),
		Params: st.params, DependsOn: deps, MaxAttempts: pol.File.Defaults.MaxAttempts, Found: "ticket for " + st.owner,
		Simulated: e.simulated(st.connector)}
	a := newAction(c, pa, now)
	if a.Simulated && !c.Simulated {
		if err := tx.Model(c).Update("simulated", true).Error; err != nil {
			return nil, err
		}
		c.Simulated = true
	}
	if err := tx.Create(&a).Error; err != nil {
		return nil, err
	}
	au.st.NewAction(&a)
	au.add(store.Entry{Time: now, CaseID: c.ID, ActionID: a.ID, Actor: "kinetic", System: a.Connector,
		Event: "action.added", Result: "ok", Detail: fmt.Sprintf("%s for team %s: %s", a.Operation, st.owner, a.Description)})
	return &a, nil
}
