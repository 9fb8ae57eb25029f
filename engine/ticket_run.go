package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/text"
	"github.com/kineticsec/kinetic/store"
)

// Running the ticket actions ticket.go adds: callTicket calls the
// instance's Ticketer (from RunAction, outside any transaction) and
// recordTicket keeps what it did (from finish, in the outcome's
// transaction).

// callTicket runs ticket action a through the instance's Ticketer. The
// Ticketer reads every change back before it returns, which is the
// action's verification.
func (e *Engine) callTicket(ctx context.Context, in *connectors.Instance, a *store.Action) outcome {
	op := connectors.Operation(a.Operation)
	tk, ok := in.Connector.(connectors.Ticketer)
	if !ok {
		return outcome{err: connectors.NewError(connectors.KindInvalid, a.Connector, a.Operation,
			errors.New("the connector is not a ticket system (servicenow, jira)"))}
	}
	params := map[string]string{}
	_ = json.Unmarshal([]byte(a.Params), &params)
	var res connectors.TicketResult
	var err error
	switch op {
	case connectors.OpOpenTicket:
		emp, serr := e.snapshot(e.store.Conn(ctx), a.CaseID)
		if serr != nil {
			return outcome{err: serr}
		}
		route := map[string]string{}
		for _, k := range []string{"assignment_group", "project", "issue_type"} {
			if v := params[k]; v != "" {
				route[k] = v
			}
		}
		res, err = tk.OpenTicket(ctx, connectors.TicketRequest{CaseID: strconv.FormatInt(a.CaseID, 10), TaskID: params[paramTicketTask],
			Summary: params[paramSummary], Description: params[paramDescr], Subject: Subject(emp), Params: route})
	default:
		ref, rerr := e.ticketOf(ctx, params[paramTicketFor])
		if rerr != nil {
			return outcome{err: rerr}
		}
		if ref.ID == "" {
			return outcome{err: connectors.NewError(connectors.KindInvalid, a.Connector, a.Operation,
				fmt.Errorf("no ticket is recorded for %s", params[paramTicketFor]))}
		}
		cref := connectors.TicketRef{ID: ref.ID, Key: ref.Key, URL: ref.URL}
		if op == connectors.OpCloseTicket {
			res, err = tk.CloseTicket(ctx, cref, params[paramNote])
		} else {
			res, err = tk.UpdateTicket(ctx, cref, connectors.TicketUpdate{Note: params[paramNote], State: connectors.TicketInProgress})
		}
		if res.Ref.ID == "" {
			res.Ref = cref
		}
	}
	if err != nil {
		return outcome{err: err}
	}
	detail := fmt.Sprintf("%s %s", orDash(res.Ref.Key), res.State)
	if res.Detail != "" {
		detail += ": " + res.Detail
	}
	out := outcome{res: connectors.Result{Outcome: res.Outcome, Detail: detail, Data: map[string]string{
		dataTicketID: res.Ref.ID, dataTicketKey: res.Ref.Key, dataTicketURL: webURL(res.Ref.URL), dataTicketState: string(res.State)}}}
	if res.Outcome != connectors.OutcomeNoneFound {
		out.ver = &connectors.Verification{OK: true, Detail: "read back: " + detail}
	}
	return out
}

// ticketOf returns the ticket recorded on the task named "equipment:ID"
// or "action:ID".
func (e *Engine) ticketOf(ctx context.Context, owner string) (store.TicketRef, error) {
	kind, id, err := ticketOwner(owner)
	if err != nil {
		return store.TicketRef{}, err
	}
	db := e.store.Conn(ctx)
	if kind == "equipment" {
		var t store.EquipmentTask
		err = db.Select("id", "ticket_connector", "ticket_id", "ticket_key", "ticket_url").First(&t, id).Error
		return t.Ticket, err
	}
	var a store.Action
	err = db.Select("id", "ticket_connector", "ticket_id", "ticket_key", "ticket_url").First(&a, id).Error
	return a.Ticket, err
}

// ticketOwner parses "equipment:ID" or "action:ID".
func ticketOwner(owner string) (kind string, id int64, err error) {
	kind, n, _ := strings.Cut(owner, ":")
	id, err = strconv.ParseInt(n, 10, 64)
	if err != nil || (kind != "equipment" && kind != "action") {
		return "", 0, fmt.Errorf("ticket action names no task (%q)", owner)
	}
	return kind, id, nil
}

// webURL returns u when it is an absolute http(s) URL, else "": only
// such a link is stored and shown.
func webURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return ""
	}
	return u
}

// recordTicket keeps what ticket action a did (called by finish in the
// outcome's transaction): an opened ticket's reference on its task, and
// the audit event ticket.opened, ticket.updated or ticket.closed (with
// "none found" when the ticket no longer exists), or ticket.failed.
func recordTicket(tx *gorm.DB, au *auditBuf, a *store.Action, final string, res connectors.Result, now time.Time) error {
	if !isTicketAction(a) || final == "" || final == store.ActionQueued {
		return nil
	}
	params := map[string]string{}
	_ = json.Unmarshal([]byte(a.Params), &params)
	owner := params[paramTicketFor]
	event := map[connectors.Operation]string{connectors.OpOpenTicket: "ticket.opened", connectors.OpUpdateTicket: "ticket.updated",
		connectors.OpCloseTicket: "ticket.closed"}[connectors.Operation(a.Operation)]
	base := store.Entry{Time: now, CaseID: a.CaseID, ActionID: a.ID, Actor: "worker", System: a.Connector}
	switch final {
	case store.ActionFailed:
		base.Event, base.Result, base.Detail = "ticket.failed", a.Operation, fmt.Sprintf("%s for %s did not happen: see action %s", a.Operation, owner, a.Name)
		au.add(base)
		return nil
	case store.ActionSkipped:
		base.Event, base.Result, base.Detail = event, string(connectors.OutcomeNoneFound), fmt.Sprintf("the ticket of %s no longer exists: nothing to %s", owner, strings.TrimSuffix(a.Operation, "_ticket"))
		au.add(base)
		return nil
	}
	key := res.Data[dataTicketKey]
	base.Event, base.Result, base.Detail = event, string(res.Outcome), fmt.Sprintf("%s for %s: %s", orDash(key), owner, res.Detail)
	au.add(base)
	if connectors.Operation(a.Operation) != connectors.OpOpenTicket {
		return nil
	}
	kind, id, err := ticketOwner(owner)
	if err != nil {
		return nil // an action of no task records on none
	}
	ref := map[string]any{"ticket_connector": a.Connector, "ticket_id": text.ClipBytes(res.Data[dataTicketID], 128),
		"ticket_key": text.ClipBytes(key, 64), "ticket_url": ""}
	if u := webURL(res.Data[dataTicketURL]); len(u) <= 1024 {
		ref["ticket_url"] = u // a longer link is not cut: it would lead elsewhere
	}
	if kind == "equipment" {
		return tx.Model(&store.EquipmentTask{}).Where("id = ? AND case_id = ?", id, a.CaseID).Updates(ref).Error
	}
	return tx.Model(&store.Action{}).Where("id = ? AND case_id = ?", id, a.CaseID).Updates(ref).Error
}
