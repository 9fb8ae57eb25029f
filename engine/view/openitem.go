package view

import (
	"strings"
	"time"
)

// OpenItemKind says what keeps a case from closing (see engine.OpenItems).
type OpenItemKind string

// The kinds of open item.
const (
	// OpenAction: an action Kinetic runs has not settled.
	OpenAction OpenItemKind = "action"
	// OpenManualStep: a manual step waits for a person to confirm it.
	OpenManualStep OpenItemKind = "manual_step"
	// OpenApproval: an exception (or a hold's release) awaits its
	// decision; it may still change the plan.
	OpenApproval OpenItemKind = "approval"
	// OpenEquipment: a device has no final disposition yet.
	OpenEquipment OpenItemKind = "equipment"
	// OpenNotice: a notice to payroll, benefits or another team is not
	// acknowledged yet.
	OpenNotice OpenItemKind = "notice"
)

// OpenItem is one thing a case still waits for before it closes.
type OpenItem struct {
	Kind OpenItemKind `json:"kind"`
	// ID is the action's, approval's, equipment task's or notice's id.
	ID int64 `json:"id"`
	// Name is the action's name, the exception's kind, the asset tag or
	// the notice's name.
	Name string `json:"name"`
	// Status is the item's status now.
	Status string `json:"status"`
	// Owner is who must act: a team (channel:NAME) or a person (user:ID),
	// when known.
	Owner string `json:"owner,omitempty"`
	// To is who a notice went to: its recipients' addresses (comma
	// separated), or the channel; empty for other kinds.
	To string `json:"to,omitempty"`
	// DueAt is when it is due, when it has a due time.
	DueAt *time.Time `json:"due_at,omitempty"`
	// Ticket is the key of the ITSM ticket filed for an equipment task or
	// a manual step (INC0010012, OPS-42), and TicketURL its link: set only
	// for an absolute http(s) URL from the connector (see LinkURL).
	Ticket    string `json:"ticket,omitempty"`
	TicketURL string `json:"ticket_url,omitempty"`
}

// LinkURL returns u when a chat card may link to it: an absolute http or
// https URL with a host, without spaces, control characters or any of
// <>|()[]"' (which end or break a link in Slack's mrkdwn or in markdown).
// Anything else returns "": the card shows the text without a link.
func LinkURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok || (!strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https")) || rest == "" || rest[0] == '/' || len(u) > 2048 {
		return ""
	}
	for _, r := range u {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(`<>|()[]"'\`, r) || r > 0x7e {
			return ""
		}
	}
	return u
}
