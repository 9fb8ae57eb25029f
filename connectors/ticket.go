package connectors

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
)

// Ticketer is the optional capability of an ITSM connector
// (connectors/servicenow, connectors/jira): it files a ticket for the team
// that must act on an equipment task or a manual step, records the task's
// progress on it and closes it with the task. The engine detects it with a
// type assertion on the instance's Connector, like Verifier.
//
// The contract:
//
//   - OpenTicket files at most one ticket per (CaseID, TaskID): it first
//     searches the system for the correlation value TicketCorrelation
//     returns and only creates when none exists, so a retry after a lost
//     answer finds the first ticket instead of filing a second one. A
//     ticket already filed is OutcomeAlreadyDone with its reference.
//   - Every change is read back before the call returns: a change the
//     system does not show is an error, not a success.
//   - UpdateTicket adds the note (a note whose exact text the ticket
//     already carries is not added again) and moves the ticket to the
//     state when one is given. CloseTicket adds the note and closes the
//     ticket; closing a closed ticket is OutcomeAlreadyDone. A ticket that
//     no longer exists (deleted in the system) is OutcomeNoneFound with a
//     nil error for both: there is nothing left to update or close.
//   - Errors are *Error, classified like every connector's; none carries
//     a secret.
type Ticketer interface {
	OpenTicket(ctx context.Context, req TicketRequest) (TicketResult, error)
	UpdateTicket(ctx context.Context, ref TicketRef, u TicketUpdate) (TicketResult, error)
	CloseTicket(ctx context.Context, ref TicketRef, note string) (TicketResult, error)
}

// TicketRequest asks for the ticket of one task of one case.
type TicketRequest struct {
	// CaseID and TaskID identify the task (an equipment task's id, a manual
	// step's action id); both are required. Together they are the
	// ticket's identity: see TicketCorrelation.
	CaseID string
	TaskID string
	// Summary is the one-line title; Description the body (plain text,
	// paragraphs separated by blank lines). Neither may carry a secret.
	Summary     string
	Description string
	// Subject is the departing person, for connectors that record them.
	Subject Subject
	// Params override the instance's routing for this ticket: servicenow
	// reads "assignment_group"; jira reads "project" and "issue_type".
	// Unknown keys are ignored.
	Params map[string]string
}

// TicketRef identifies a filed ticket. Store all three: ID is what the
// connector addresses it by, Key is what people read (INC0010012,
// OPS-42), URL is the link for the status card.
type TicketRef struct {
	ID  string
	Key string
	URL string
}

// TicketState is a ticket's state as Kinetic names it; each connector maps
// it to its system's states (see its configuration).
type TicketState string

// Ticket states. UpdateTicket accepts "" (state unchanged),
// TicketInProgress and TicketOnHold; CloseTicket moves to TicketClosed.
const (
	TicketOpen       TicketState = "open"
	TicketInProgress TicketState = "in_progress"
	TicketOnHold     TicketState = "on_hold"
	TicketClosed     TicketState = "closed"
)

// TicketUpdate is one change to a ticket: a note for the team (a work note
// in ServiceNow, a comment in Jira) and/or a new state.
type TicketUpdate struct {
	Note  string
	State TicketState
}

// TicketResult is what a Ticketer call did.
type TicketResult struct {
	Ref TicketRef
	// State is the state read back after the call (the system's own state
	// name in Detail).
	State   TicketState
	Outcome Outcome
	Detail  string
}

// TicketCorrelation returns the value a Ticketer stores on the ticket it
// files for (caseID, taskID) and searches for before filing: "kinetic-"
// and 32 hex digits of their SHA-256. Fixed length and made of letters,
// digits and '-' (40 characters), it fits ServiceNow's correlation_id and
// a Jira label, and needs no quoting in either system's query language.
func TicketCorrelation(caseID, taskID string) string {
	h := sha256.Sum256([]byte(caseID + "\x00" + taskID))
	return "kinetic-" + hex.EncodeToString(h[:16])
}

// The operations of the actions the engine runs through a Ticketer (not
// Do): one action per ticket operation of a task, so each is retried,
// audited and shown like any action. They are not in AllOperations: no
// policy action names them, and no connector's Do performs them.
const (
	OpOpenTicket   Operation = "open_ticket"
	OpUpdateTicket Operation = "update_ticket"
	OpCloseTicket  Operation = "close_ticket"
)

// IsTicketOperation reports whether op is one of the ticket operations.
func IsTicketOperation(op Operation) bool {
	return op == OpOpenTicket || op == OpUpdateTicket || op == OpCloseTicket
}
