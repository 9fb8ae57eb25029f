package servicenow

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/internal/restjson"
)

// Operation names in errors.
const (
	opOpen   = "open_ticket"
	opUpdate = "update_ticket"
	opClose  = "close_ticket"
)

// searchFields and readFields are the sysparm_fields asked for: only what
// the connector reads, so an ACL on another field cannot fail the call and
// the answer stays small.
const (
	searchFields = "sys_id,number,state,active,correlation_id"
	readFields   = "sys_id,number,state,active,correlation_id,work_notes"
)

// field is one field of a Table API record: a plain string, or with
// sysparm_display_value=all an object {"value", "display_value"}.
type field struct{ Value, Display string }

func (f *field) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		return nil
	case len(b) > 0 && b[0] == '"':
		if err := json.Unmarshal(b, &f.Value); err != nil {
			return err
		}
		f.Display = f.Value
		return nil
	case len(b) > 0 && b[0] == '{':
		var o struct {
			Value   any `json:"value"`
			Display any `json:"display_value"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		f.Value, f.Display = scalar(o.Value), scalar(o.Display)
		return nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	f.Value = scalar(v)
	f.Display = f.Value
	return nil
}

func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	default:
		return fmt.Sprint(x)
	}
}

type record map[string]field

func (r record) get(k string) string { return r[k].Value }

// snError is the Table API's error body:
// {"error":{"message":…,"detail":…},"status":"failure"}.
type snError struct {
	Error struct {
		Message string `json:"message"`
		Detail  string `json:"detail"`
	} `json:"error"`
}

// fail classifies a non-2xx answer with ServiceNow's own message.
func (c *Connector) fail(op string, r *restjson.Response) error {
	var msg string
	var e snError
	if r.JSON() && json.Unmarshal(r.Body, &e) == nil && e.Error.Message != "" {
		msg = e.Error.Message
		if e.Error.Detail != "" && e.Error.Detail != e.Error.Message {
			msg += ": " + e.Error.Detail
		}
	}
	return c.api.Fail(op, r, msg)
}

func (c *Connector) tableURL(q url.Values, sysID string) string {
	u := c.base + "/api/now/table/" + url.PathEscape(c.table)
	if sysID != "" {
		u += "/" + url.PathEscape(sysID)
	}
	if len(q) > 0 {
		u += "?" + strings.ReplaceAll(q.Encode(), "+", "%20")
	}
	return u
}

// search returns the records carrying corr, oldest first (at most two:
// enough to tell a duplicate).
func (c *Connector) search(ctx context.Context, op, corr string) ([]record, error) {
	q := url.Values{
		"sysparm_query":                  {"correlation_id=" + corr + "^ORDERBYsys_created_on"},
		"sysparm_fields":                 {searchFields},
		"sysparm_limit":                  {"2"},
		"sysparm_exclude_reference_link": {"true"},
	}
	r, err := c.api.Do(ctx, op, http.MethodGet, c.tableURL(q, ""), nil)
	if err != nil {
		return nil, err
	}
	if !r.OK() {
		return nil, c.fail(op, r)
	}
	var out struct {
		Result *[]record `json:"result"`
	}
	if err := c.api.Decode(op, r, &out, "a Table API result list"); err != nil {
		return nil, err
	}
	if out.Result == nil {
		return nil, c.api.Invalid(op, "the Table API answer has no result list")
	}
	return *out.Result, nil
}

// read returns the record with its display values (work_notes' display
// value is the journal of notes); found is false on 404.
func (c *Connector) read(ctx context.Context, op, sysID string) (rec record, found bool, err error) {
	q := url.Values{
		"sysparm_fields":                 {readFields},
		"sysparm_display_value":          {"all"},
		"sysparm_exclude_reference_link": {"true"},
	}
	r, err := c.api.Do(ctx, op, http.MethodGet, c.tableURL(q, sysID), nil)
	if err != nil {
		return nil, false, err
	}
	if r.Status == http.StatusNotFound {
		return nil, false, nil
	}
	if !r.OK() {
		return nil, false, c.fail(op, r)
	}
	var out struct {
		Result record `json:"result"`
	}
	if err := c.api.Decode(op, r, &out, "a Table API record"); err != nil {
		return nil, false, err
	}
	if out.Result.get("sys_id") == "" {
		return nil, false, c.api.Invalid(op, "the Table API record has no sys_id")
	}
	return out.Result, true, nil
}

// write sends PATCH (sysID set) or POST and returns the record answered.
func (c *Connector) write(ctx context.Context, op, sysID string, body map[string]string) (record, error) {
	q := url.Values{"sysparm_fields": {searchFields}, "sysparm_exclude_reference_link": {"true"}}
	method := http.MethodPost
	if sysID != "" {
		method = http.MethodPatch
	}
	r, err := c.api.Do(ctx, op, method, c.tableURL(q, sysID), body)
	if err != nil {
		return nil, err
	}
	if !r.OK() {
		return nil, c.fail(op, r)
	}
	var out struct {
		Result record `json:"result"`
	}
	if err := c.api.Decode(op, r, &out, "a Table API record"); err != nil {
		return nil, err
	}
	return out.Result, nil
}

func (c *Connector) ref(rec record) connectors.TicketRef {
	id := rec.get("sys_id")
	return connectors.TicketRef{ID: id, Key: rec.get("number"), URL: c.TicketURL(id)}
}

func (c *Connector) closed(rec record) bool {
	return rec.get("state") == c.states.Closed || rec.get("active") == "false"
}

// state maps a record's state to Kinetic's.
func (c *Connector) state(rec record) connectors.TicketState {
	switch v := rec.get("state"); {
	case c.closed(rec):
		return connectors.TicketClosed
	case v == c.states.InProgress:
		return connectors.TicketInProgress
	case v != "" && v == c.states.OnHold:
		return connectors.TicketOnHold
	}
	return connectors.TicketOpen
}

func describe(rec record) string {
	s := rec["state"]
	if s.Display != "" && s.Display != s.Value {
		return fmt.Sprintf("state %s (%s)", s.Value, s.Display)
	}
	return "state " + s.Value
}

// hasNote reports whether the record's work notes journal carries note.
func hasNote(rec record, note string) bool {
	n := strings.TrimSpace(note)
	return n != "" && strings.Contains(rec["work_notes"].Display, n)
}

// OpenTicket files the ticket for (req.CaseID, req.TaskID) unless one
// carrying its correlation_id exists, then reads it back. It takes one
// request when the ticket exists and three when it files one.
func (c *Connector) OpenTicket(ctx context.Context, req connectors.TicketRequest) (connectors.TicketResult, error) {
	if req.CaseID == "" || req.TaskID == "" {
		return connectors.TicketResult{}, c.api.Invalid(opOpen, "a ticket needs a case id and a task id")
	}
	if strings.TrimSpace(req.Summary) == "" {
		return connectors.TicketResult{}, c.api.Invalid(opOpen, "a ticket needs a summary")
	}
	corr := connectors.TicketCorrelation(req.CaseID, req.TaskID)
	found, err := c.search(ctx, opOpen, corr)
	if err != nil {
		return connectors.TicketResult{}, err
	}
	if len(found) > 0 {
		rec := found[0]
		detail := fmt.Sprintf("ticket %s already filed (%s)", rec.get("number"), describe(rec))
		if len(found) > 1 {
			detail += "; another ticket carries the same correlation_id: the oldest is used"
		}
		return connectors.TicketResult{Ref: c.ref(rec), State: c.state(rec), Outcome: connectors.OutcomeAlreadyDone, Detail: detail}, nil
	}
	body := map[string]string{
		"short_description":   clip(req.Summary, 160),
		"description":         req.Description,
		"correlation_id":      corr,
		"correlation_display": "Kinetic",
	}
	group := c.cfg.AssignmentGroup
	if g := req.Params["assignment_group"]; g != "" {
		group = g
	}
	if group != "" {
		body["assignment_group"] = group
	}
	created, err := c.write(ctx, opOpen, "", body)
	if err != nil {
		return connectors.TicketResult{}, err
	}
	id := created.get("sys_id")
	if id == "" {
		return connectors.TicketResult{}, c.api.Invalid(opOpen, "the created record has no sys_id")
	}
	rec, ok, err := c.read(ctx, opOpen, id)
	if err != nil {
		return connectors.TicketResult{}, err
	}
	if !ok || rec.get("correlation_id") != corr {
		// Created but not readable as filed: a read ACL hides it, or a
		// business rule rewrote correlation_id. Either way the next
		// search would not find it and a retry would file a duplicate.
		return connectors.TicketResult{}, &connectors.Error{Kind: connectors.KindForbidden, Connector: c.name, Op: opOpen,
			Err: fmt.Errorf("ticket %s was filed but does not read back with its correlation_id (check the integration user's read access to %s.correlation_id)", created.get("number"), c.table)}
	}
	return connectors.TicketResult{Ref: c.ref(rec), State: c.state(rec), Outcome: connectors.OutcomeDone,
		Detail: fmt.Sprintf("ticket %s filed in %s (%s)", rec.get("number"), c.table, describe(rec))}, nil
}

// UpdateTicket adds u.Note as a work note (unless the journal already
// carries it) and sets u.State, then reads the ticket back. A closed
// ticket keeps its state: only the note is added.
func (c *Connector) UpdateTicket(ctx context.Context, ref connectors.TicketRef, u connectors.TicketUpdate) (connectors.TicketResult, error) {
	if ref.ID == "" {
		return connectors.TicketResult{}, c.api.Invalid(opUpdate, "the ticket reference has no sys_id")
	}
	var target string
	switch u.State {
	case "":
	case connectors.TicketInProgress:
		target = c.states.InProgress
	case connectors.TicketOnHold:
		target = c.states.OnHold
	default:
		return connectors.TicketResult{}, c.api.Invalid(opUpdate, "state %q cannot be set by an update (close the ticket with CloseTicket)", u.State)
	}
	if u.State != "" && target == "" {
		return connectors.TicketResult{}, c.api.Invalid(opUpdate, "state %s has no value for table %s (set states.%s)", u.State, c.table, u.State)
	}
	rec, ok, err := c.read(ctx, opUpdate, ref.ID)
	if err != nil {
		return connectors.TicketResult{}, err
	}
	if !ok {
		return connectors.TicketResult{Ref: ref, Outcome: connectors.OutcomeNoneFound, Detail: "ticket no longer exists"}, nil
	}
	body := map[string]string{}
	note := strings.TrimSpace(u.Note)
	if note != "" && !hasNote(rec, note) {
		body["work_notes"] = note
	}
	if target != "" && !c.closed(rec) && rec.get("state") != target {
		body["state"] = target
	}
	if len(body) == 0 {
		return connectors.TicketResult{Ref: c.ref(rec), State: c.state(rec), Outcome: connectors.OutcomeAlreadyDone,
			Detail: fmt.Sprintf("ticket %s already up to date (%s)", rec.get("number"), describe(rec))}, nil
	}
	if _, err := c.write(ctx, opUpdate, ref.ID, body); err != nil {
		return connectors.TicketResult{}, err
	}
	after, ok, err := c.read(ctx, opUpdate, ref.ID)
	if err != nil {
		return connectors.TicketResult{}, err
	}
	if !ok {
		return connectors.TicketResult{}, c.api.Invalid(opUpdate, "ticket %s disappeared while it was updated", rec.get("number"))
	}
	if s, want := after.get("state"), body["state"]; want != "" && s != want {
		// A business rule or a data policy can refuse a state change
		// while the PATCH still answers 200 with the old value.
		return connectors.TicketResult{}, c.api.Invalid(opUpdate, "ticket %s reads back in state %s, not %s: the instance kept its state (a business rule or data policy refused the change)", after.get("number"), s, want)
	}
	if body["work_notes"] != "" && after["work_notes"].Display != "" && !hasNote(after, note) {
		return connectors.TicketResult{}, c.api.Invalid(opUpdate, "ticket %s reads back without the work note", after.get("number"))
	}
	var did []string
	if body["work_notes"] != "" {
		did = append(did, "work note added")
	}
	if body["state"] != "" {
		did = append(did, "state set")
	}
	return connectors.TicketResult{Ref: c.ref(after), State: c.state(after), Outcome: connectors.OutcomeDone,
		Detail: fmt.Sprintf("ticket %s: %s (%s)", after.get("number"), strings.Join(did, ", "), describe(after))}, nil
}

// CloseTicket closes the ticket (state, close_code, close_notes) and reads
// it back; a closed ticket is already done.
func (c *Connector) CloseTicket(ctx context.Context, ref connectors.TicketRef, note string) (connectors.TicketResult, error) {
	if ref.ID == "" {
		return connectors.TicketResult{}, c.api.Invalid(opClose, "the ticket reference has no sys_id")
	}
	rec, ok, err := c.read(ctx, opClose, ref.ID)
	if err != nil {
		return connectors.TicketResult{}, err
	}
	if !ok {
		return connectors.TicketResult{Ref: ref, Outcome: connectors.OutcomeNoneFound, Detail: "ticket no longer exists"}, nil
	}
	if c.closed(rec) {
		return connectors.TicketResult{Ref: c.ref(rec), State: connectors.TicketClosed, Outcome: connectors.OutcomeAlreadyDone,
			Detail: fmt.Sprintf("ticket %s already closed (%s)", rec.get("number"), describe(rec))}, nil
	}
	notes := strings.TrimSpace(note)
	if notes == "" {
		notes = "Closed by Kinetic: the task is complete."
	}
	// Resolving an incident needs close_code and close_notes
	// (https://www.servicenow.com/docs/r/it-service-management/incident-management/resolve-and-close-an-incident.html).
	body := map[string]string{"state": c.states.Closed, "close_notes": notes}
	if cc := c.cfg.closeCode(); cc != "" {
		body["close_code"] = cc
	}
	if _, err := c.write(ctx, opClose, ref.ID, body); err != nil {
		return connectors.TicketResult{}, err
	}
	after, ok, err := c.read(ctx, opClose, ref.ID)
	if err != nil {
		return connectors.TicketResult{}, err
	}
	if !ok {
		return connectors.TicketResult{}, c.api.Invalid(opClose, "ticket %s disappeared while it was closed", rec.get("number"))
	}
	if !c.closed(after) {
		return connectors.TicketResult{}, c.api.Invalid(opClose, "ticket %s reads back in state %s, not closed (%s): the instance kept its state (a business rule or data policy refused the change)", after.get("number"), after.get("state"), c.states.Closed)
	}
	return connectors.TicketResult{Ref: c.ref(after), State: connectors.TicketClosed, Outcome: connectors.OutcomeDone,
		Detail: fmt.Sprintf("ticket %s closed (%s)", after.get("number"), describe(after))}, nil
}

// clip shortens s to n runes (short_description is 160 characters on
// task tables).
func clip(s string, n int) string {
	r := []rune(strings.TrimSpace(s))
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n-1]) + "…"
}
