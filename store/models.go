// Package store owns Kinetic's persistent state: the gorm models for cases,
// actions, approvals, equipment tasks, notices, chat message references and the
// hash-chained audit trail, the queries on them, and the migrations. The
// database is the source of truth; the queue only carries work.
//
// Two dialects are supported: PostgreSQL (production) and SQLite through a
// pure-Go driver (the embedded default). Everything here works on both.
package store

import (
	"time"
)

// Case statuses. A case is open until it is completed, completed with
// exceptions, failed or cancelled (see CaseOpen).
const (
	CaseValidating = "validating"
	// CaseAwaitingConfirmation: the requester has been shown the plan and
	// has not confirmed it yet; nothing runs until they do.
	CaseAwaitingConfirmation = "awaiting_confirmation"
	// CaseHeld: held by the mass-termination guard in a batch awaiting
	// approval; it starts only when released.
	CaseHeld                    = "held"
	CaseScheduled               = "scheduled"
	CaseRunning                 = "running"
	CaseCompleted               = "completed"
	CaseCompletedWithExceptions = "completed_with_exceptions"
	CaseFailed                  = "failed"
	CaseCancelled               = "cancelled"
)

// CaseOpen reports whether a case in status s is still open.
func CaseOpen(s string) bool {
	return s == CaseValidating || s == CaseAwaitingConfirmation || s == CaseHeld || s == CaseScheduled || s == CaseRunning
}

// OpenCaseStatuses lists the statuses CaseOpen reports open (for queries).
func OpenCaseStatuses() []string {
	return []string{CaseValidating, CaseAwaitingConfirmation, CaseHeld, CaseScheduled, CaseRunning}
}

// Triggers: where a case came from.
const (
	TriggerSlack = "slack"
	TriggerTeams = "teams"
	TriggerHR    = "hr"
	TriggerAPI   = "api"
	TriggerCLI   = "cli"
	TriggerDemo  = "demo"
)

// Case is one offboarding.
type Case struct {
	ID int64 `gorm:"primaryKey;autoIncrement" json:"id"`
	// EmployeeID is the HR id. At most one open case per employee: enforced
	// by the partial unique index idx_cases_one_open (see migrate.go).
	EmployeeID    string `gorm:"size:128;not null;index" json:"employee_id"`
	EmployeeEmail string `gorm:"size:320" json:"employee_email"`
	EmployeeName  string `gorm:"size:256" json:"employee_name"`
	Trigger       string `gorm:"size:16;not null" json:"trigger"`
	// Requester is the HR id (or API client / HR source name) that asked.
	Requester string `gorm:"size:128;not null" json:"requester"`
	// OpenedBy is the authenticated principal that opened the case
	// ("api:ticketing", "slack:U0123", "hr:workday"); empty for an
	// in-process caller. An API client without cases:read sees only the
	// cases it opened.
	OpenedBy    string `gorm:"size:256" json:"opened_by,omitempty"`
	Reason      string `gorm:"size:1024" json:"reason"`
	Involuntary bool   `json:"involuntary"`
	// EffectiveAt is when revocation starts (UTC).
	EffectiveAt time.Time `gorm:"not null;index" json:"effective_at"`
	Status      string    `gorm:"size:32;not null;index" json:"status"`
	// PolicyHash is the SHA-256 of the policy file the case was planned
	// under.
	PolicyHash string `gorm:"size:64" json:"policy_hash"`
	// IdempotencyKey dedupes requests from systems (an HR event id, an API
	// client's key). Unique when set.
	IdempotencyKey *string `gorm:"size:256;uniqueIndex" json:"idempotency_key,omitempty"`
	Summary        string  `gorm:"size:4096" json:"summary"`
	// StartedAt is when execution began; CriticalDoneAt when the last
	// critical-phase action became final (cleared while a person retries
	// one, so retries count); ClosedAt when the case closed.
	StartedAt      *time.Time `json:"started_at,omitempty"`
	CriticalDoneAt *time.Time `json:"critical_done_at,omitempty"`
	// RevokedAt is when access was fully revoked: every revocation (an
	// action that is neither manual nor a notification) succeeded with its
	// read-back verification, or found no account. It is set at most once
	// per run and may come long before ClosedAt, which waits for manual
	// steps, equipment and notices too (see engine.OpenItems).
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// ComplianceProfile names the policy's compliance profile that applies
	// (e.g. "fedramp"); ComplianceDeadline is when every critical action
	// must be final; BreachedAt when a breach of it was raised.
	ComplianceProfile  string     `gorm:"size:64" json:"compliance_profile,omitempty"`
	ComplianceDeadline *time.Time `gorm:"index" json:"compliance_deadline,omitempty"`
	BreachedAt         *time.Time `json:"breached_at,omitempty"`
	// BatchID is the mass-termination batch holding the case.
	BatchID   *int64     `gorm:"index" json:"batch_id,omitempty"`
	ClosedAt  *time.Time `gorm:"index" json:"closed_at,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`

	// Simulated is set when any of the case's actions runs on a simulated
	// system (a sandbox connector): what the case reports was not done for
	// real.
	Simulated bool `gorm:"not null;default:false" json:"simulated,omitempty"`

	Actions []Action `gorm:"foreignKey:CaseID" json:"actions,omitempty"`
}

// EmployeeSnapshot is the HR record as it was when the case was opened, so
// the plan can be explained later even if HR data changes.
type EmployeeSnapshot struct {
	ID         int64     `gorm:"primaryKey;autoIncrement"`
	CaseID     int64     `gorm:"not null;uniqueIndex"`
	EmployeeID string    `gorm:"size:128;not null"`
	Data       string    `gorm:"type:text;not null"` // JSON of directory.Employee
	TakenAt    time.Time `gorm:"not null"`
}

// Action statuses.
const (
	ActionBlocked   = "blocked"   // waiting on dependencies or an earlier phase
	ActionPending   = "pending"   // ready, waiting for the case to start
	ActionHeld      = "held"      // held for an approval
	ActionQueued    = "queued"    // handed to the queue
	ActionRunning   = "running"   // a worker holds its lease
	ActionSucceeded = "succeeded" // done and (where possible) verified
	ActionSkipped   = "skipped"   // nothing to do (no account found)
	ActionFailed    = "failed"    // permanent error or retries exhausted
	ActionCancelled = "cancelled" // the case was cancelled
)

// ActionFinal reports whether status s is final.
func ActionFinal(s string) bool {
	switch s {
	case ActionSucceeded, ActionSkipped, ActionFailed, ActionCancelled:
		return true
	}
	return false
}

// Action is one step on one system.
type Action struct {
	ID     int64 `gorm:"primaryKey;autoIncrement" json:"id"`
	CaseID int64 `gorm:"not null;index" json:"case_id"`
	// Name is the catalog name from policy ("disable_ad").
	Name string `gorm:"size:128;not null" json:"name"`
	// Description is the policy's description of the action ("Block
	// Microsoft 365 sign-in"), copied when planned; cards show it.
	Description string `gorm:"size:256" json:"description,omitempty"`
	Connector   string `gorm:"size:128;not null" json:"connector"`
	Operation   string `gorm:"size:64;not null" json:"operation"`
	// Phase orders work: 1 critical, 2 entitlements, 3 notifications.
	Phase     int    `gorm:"not null" json:"phase"`
	PhaseName string `gorm:"size:32" json:"phase_name"`
	// TargetAccount is the account discovery found ("" = connector resolves).
	TargetAccount string `gorm:"size:512" json:"target_account"`
	Params        string `gorm:"type:text" json:"params"`     // JSON object
	DependsOn     string `gorm:"type:text" json:"depends_on"` // JSON array of names
	Status        string `gorm:"size:16;not null;index" json:"status"`
	// BlockedReason says why a blocked action waits ("waits for disable_ad",
	// "dependency disable_ad failed").
	BlockedReason string        `gorm:"size:512" json:"blocked_reason,omitempty"`
	SLA           time.Duration `json:"sla"`
	DueAt         *time.Time    `json:"due_at,omitempty"`
	Attempts      int           `gorm:"not null;default:0" json:"attempts"`
	MaxAttempts   int           `gorm:"not null" json:"max_attempts"`
	// NotBefore delays the next attempt (back-off, Retry-After).
	NotBefore *time.Time `json:"not_before,omitempty"`
	// RunAt is set on an action timed to run at a later time of its own —
	// a lead-time action, or one an approved exception adds for the end of
	// its period (the forwarding removal in 30 days). Until then it does
	// not hold back later phases.
	RunAt *time.Time `json:"run_at,omitempty"`
	// Generation increases every time the action is handed to the queue; the
	// task id carries it, so a stale task is recognised and dropped.
	Generation int `gorm:"not null;default:0" json:"generation"`
	// LeaseUntil is when a running action's worker must have renewed its
	// lease by; past it the recovery sweep takes the action back.
	LeaseUntil *time.Time `gorm:"index" json:"lease_until,omitempty"`
	LastError  string     `gorm:"size:2048" json:"last_error,omitempty"`
	ErrorKind  string     `gorm:"size:32" json:"error_kind,omitempty"`
	Outcome    string     `gorm:"size:32" json:"outcome,omitempty"`
	Detail     string     `gorm:"size:2048" json:"detail,omitempty"`
	ResultData string     `gorm:"type:text" json:"result_data,omitempty"` // JSON object
	// Manual: a step people do by hand; Skippable: the owning team may
	// skip it with a reason (copied from policy when planned).
	Manual       bool       `json:"manual,omitempty"`
	Skippable    bool       `json:"skippable,omitempty"`
	Verified     bool       `json:"verified"`
	Verification string     `gorm:"size:1024" json:"verification,omitempty"`
	QueuedAt     *time.Time `json:"queued_at,omitempty"`
	StartedAt    *time.Time `json:"started_at,omitempty"`
	FinishedAt   *time.Time `json:"finished_at,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
	// Simulated: the action's connector simulates its system (a sandbox
	// connector; copied from the instance when planned), so its outcome and
	// verification are not real.
	Simulated bool `gorm:"not null;default:false" json:"simulated,omitempty"`
	// Ticket is the ITSM ticket filed for a manual step (the policy's
	// tickets block), once its open_ticket action has succeeded.
	Ticket TicketRef `gorm:"embedded;embeddedPrefix:ticket_" json:"ticket,omitzero"`
}

// TicketRef is the ITSM ticket filed for an equipment task or a manual
// step (connectors.TicketRef and the instance that filed it): empty until
// the ticket is filed.
type TicketRef struct {
	// Connector is the ticket connector instance (snow-itsm).
	Connector string `gorm:"size:128" json:"connector,omitempty"`
	// ID is what the connector addresses the ticket by (a sys_id, an
	// issue id); Key what people read (INC0010012, OPS-42); URL the link
	// the status card shows.
	ID  string `gorm:"size:128" json:"id,omitempty"`
	Key string `gorm:"size:64" json:"key,omitempty"`
	URL string `gorm:"size:1024" json:"url,omitempty"`
}

// Approval is an exception request (or a mass-termination batch's or a
// legal hold release's) and the state of its chain; its steps and decisions
// are ApprovalStep and ApprovalDecision rows.
type Approval struct {
	ID     int64  `gorm:"primaryKey;autoIncrement" json:"id"`
	CaseID int64  `gorm:"not null;index" json:"case_id"`
	Kind   string `gorm:"size:64;not null" json:"kind"`
	// Effect is what approval does: forwarding, legal_hold,
	// release_legal_hold, delay_equipment, delay_action.
	Effect    string `gorm:"size:32;not null" json:"effect"`
	Status    string `gorm:"size:32;not null;index" json:"status"`
	Requester string `gorm:"size:128" json:"requester"`
	// RequesterPrincipal is the authenticated principal that requested it
	// ("api:ticketing"); it never decides the approval. Empty for an
	// in-process caller.
	RequesterPrincipal string `gorm:"size:256" json:"requester_principal,omitempty"`
	Reason             string `gorm:"size:1024" json:"reason,omitempty"`
	// Request is the exception's fields as JSON (forward_to, days, action,
	// until).
	Request string `gorm:"type:text" json:"request"`
	// Held is a JSON array of the action names held while it is pending.
	Held string `gorm:"type:text" json:"held"`
	// Outcome says what the decision changed, for people.
	Outcome   string     `gorm:"size:2048" json:"outcome,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// Equipment task statuses. A task moves forward only:
//
//	open → return_requested → received → wiped → redeployed | disposed
//	                                   ↘ preserved (under a legal hold) → wiped
//	any status before a final one → lost
//
// Redeployed, disposed and lost are final (EquipmentFinal); preserved is
// a disposition while the legal hold that covers the case lasts.
const (
	EquipmentOpen            = "open"
	EquipmentReturnRequested = "return_requested"
	EquipmentReceived        = "received"
	EquipmentWiped           = "wiped"
	EquipmentPreserved       = "preserved"
	EquipmentRedeployed      = "redeployed"
	EquipmentDisposed        = "disposed"
	EquipmentLost            = "lost"
)

// EquipmentFinal reports whether equipment status s is a final
// disposition.
func EquipmentFinal(s string) bool {
	return s == EquipmentRedeployed || s == EquipmentDisposed || s == EquipmentLost
}

// EquipmentTask is one device to recover.
type EquipmentTask struct {
	ID          int64  `gorm:"primaryKey;autoIncrement" json:"id"`
	CaseID      int64  `gorm:"not null;index" json:"case_id"`
	AssetTag    string `gorm:"size:128;not null" json:"asset_tag"`
	Description string `gorm:"size:512" json:"description"`
	// Category is the device's category (laptop, phone, monitor,
	// access_card…) and Location where it is to be returned, as the
	// policy's equipment section worked them out; they chose AssigneeTeam.
	Category     string `gorm:"size:64" json:"category,omitempty"`
	Location     string `gorm:"size:128" json:"location,omitempty"`
	AssigneeTeam string `gorm:"size:128" json:"assignee_team"`
	Status       string `gorm:"size:32;not null;index" json:"status"`
	// Source says where the device was found: "hr", "tracker" or
	// "hr+tracker" (connectors.EquipmentSource); Serial is the serial
	// number the asset tracker gave, which the MDM actions of this task
	// are restricted to ("" when unknown: every device of the person).
	Source string `gorm:"size:16" json:"source,omitempty"`
	Serial string `gorm:"size:128" json:"serial,omitempty"`
	// Reference is the certificate-of-destruction reference a disposal
	// requires.
	Reference string `gorm:"size:256" json:"reference,omitempty"`
	// Note is what the person who moved the task last said; StatusBy who
	// it was and StatusAt when.
	Note      string     `gorm:"size:1024" json:"note,omitempty"`
	StatusBy  string     `gorm:"size:128" json:"status_by,omitempty"`
	StatusAt  *time.Time `json:"status_at,omitempty"`
	DueAt     *time.Time `gorm:"index" json:"due_at,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	// Ticket is the ITSM ticket filed for the task (the policy's tickets
	// block), once its open_ticket action has succeeded.
	Ticket TicketRef `gorm:"embedded;embeddedPrefix:ticket_" json:"ticket,omitzero"`
	// Instructions is what became of the device's return instructions
	// (store/equipment.go).
	Instructions ReturnInstructions `gorm:"embedded;embeddedPrefix:instructions_" json:"return_instructions,omitzero"`
}

// ChatMessage records a message Kinetic posted, so it can be updated after a
// restart.
type ChatMessage struct {
	ID       int64  `gorm:"primaryKey;autoIncrement"`
	CaseID   int64  `gorm:"not null;index"`
	Platform string `gorm:"size:16;not null"` // slack, teams
	// Channel is a Slack channel id or a Teams conversation id. Teams ids
	// have no documented bound and run past 128 characters: a 1:1 chat is
	// "a:" and ~130 characters, a channel thread carries
	// ";messageid=…" (https://learn.microsoft.com/en-us/microsoftteams/platform/bots/how-to/conversations/send-proactive-messages).
	// Migrate widens databases made with the old 128.
	Channel string `gorm:"size:512;not null"`
	// TS is the Slack message ts or the Teams activity id ("1:1…" in a 1:1
	// chat, also longer than Slack's). Empty while the row is only a claim
	// (ClaimChatMessage).
	TS string `gorm:"size:256;not null"`
	// Kind is ChatKindStatus for a case's card, ChatKindDM for the card in a
	// DM (both unique per case, platform and channel: see migrate.go),
	// "thread" for replies, and others a front end defines.
	Kind      string `gorm:"size:32;not null"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// AuditEvent is one append-only, hash-chained record. Seq is contiguous from
// 1; PrevHash is the Hash of Seq-1 (64 zeros for the first); Hash is the
// SHA-256 of the canonical encoding of every other field (see HashEvent).
type AuditEvent struct {
	Seq      int64     `gorm:"primaryKey;autoIncrement:false" json:"seq"`
	Time     time.Time `gorm:"not null" json:"time"`
	CaseID   int64     `gorm:"index" json:"case_id,omitempty"`
	ActionID int64     `json:"action_id,omitempty"`
	Actor    string    `gorm:"size:256" json:"actor"`
	System   string    `gorm:"size:128" json:"system,omitempty"`
	Event    string    `gorm:"size:64;not null" json:"event"`
	Result   string    `gorm:"size:64" json:"result,omitempty"`
	Detail   string    `gorm:"type:text" json:"detail,omitempty"`
	PrevHash string    `gorm:"size:64;not null" json:"prev_hash"`
	Hash     string    `gorm:"size:64;not null" json:"hash"`
}

// AuditHead is a single row (ID 1) holding the chain's last sequence number
// and hash. Appends serialise on it, and verification compares the chain's
// end with it, so truncating the tail is detected.
type AuditHead struct {
	ID   int64  `gorm:"primaryKey;autoIncrement:false"`
	Seq  int64  `gorm:"not null"`
	Hash string `gorm:"size:64;not null"`
}

// AllModels lists every model for migration.
func AllModels() []any {
	return []any{&Case{}, &EmployeeSnapshot{}, &Action{}, &Approval{}, &ApprovalStep{}, &ApprovalDecision{},
		&Escalation{}, &Batch{}, &EquipmentTask{}, &Notice{}, &ChatMessage{}, &AuditEvent{}, &AuditHead{}, &HREventRecord{}, &SignalOutbox{}, &ReconcileRun{}, &Residual{}, &AuditPending{}}
}
