package view

import "time"

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
}
