// Package view holds the engine's read side: the values front ends render
// (a plan and what discovery found, an approval with its steps, the events
// observers are told of). It imports no connector, configuration or policy
// package, so a renderer such as bot/slackbot/blocks links none of them; the
// engine names these types through aliases (engine.Plan is view.Plan).
package view

import (
	"maps"
	"slices"
	"time"

	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/store"
)

// TrackedAsset is one item an asset tracker lists as checked out to the
// person (the fields of connectors.Asset the engine uses).
type TrackedAsset struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	Tag      string `json:"tag,omitempty"`
	Name     string `json:"name,omitempty"`
	Category string `json:"category,omitempty"`
	Model    string `json:"model,omitempty"`
	Serial   string `json:"serial,omitempty"`
}

// Account is an account (or device, badge, key) a connector's lookup found,
// as plans show it. It has the fields of connectors.Account, which the
// engine converts.
type Account struct {
	// ID is the system's stable identifier for the account.
	ID string
	// Kind is "user" unless the system holds other things (e.g. "device",
	// "badge", "access_key").
	Kind string
	// Status is the system's state for the account, normalised to "active",
	// "disabled" or "deprovisioned".
	Status string
	// Sessions is the number of live sessions or tokens.
	Sessions int
	// Groups are the group or permission-set memberships that an offboarding
	// removes.
	Groups []string
	// Detail is free text for people (a device model, a key's creation date).
	Detail string
	// Synced: mastered in another directory a sync copies from
	// (connectors.Account.Synced).
	Synced bool `json:",omitempty"`
}

// Discovery is what one connector's lookup found at planning time.
type Discovery struct {
	Connector string    `json:"connector"`
	Accounts  []Account `json:"accounts"`
	Error     string    `json:"error,omitempty"`
}

// PlannedAction is one action the plan would create.
type PlannedAction struct {
	Name        string        `json:"name"`
	Description string        `json:"description,omitempty"`
	Connector   string        `json:"connector"`
	Operation   string        `json:"operation"`
	Phase       int           `json:"phase"`
	PhaseName   string        `json:"phase_name"`
	SLA         time.Duration `json:"sla"`
	DueAt       time.Time     `json:"due_at"`
	DependsOn   []string      `json:"depends_on,omitempty"`
	// Ordering says why the planner added dependencies the policy did
	// not write: "m365 waits for ad: synced from it" (connectors.NAME.
	// synced_from); "" when none were added.
	Ordering      string            `json:"ordering,omitempty"`
	Params        map[string]string `json:"params,omitempty"`
	TargetAccount string            `json:"target_account,omitempty"`
	// Found says what discovery saw: "account dwhitfield (active)", "none
	// found", or the lookup error. Actions are planned either way: a lookup
	// is a hint, and an account created after planning must not escape.
	Found       string `json:"found"`
	MaxAttempts int    `json:"max_attempts"`
	// Manual steps are done by people and marked done; Skippable ones may
	// be skipped by the owning team with a reason.
	Manual    bool `json:"manual,omitempty"`
	Skippable bool `json:"skippable,omitempty"`
	// RunAt is set for an action with a lead time: it runs then, before
	// the effective time, rather than when the case starts.
	RunAt *time.Time `json:"run_at,omitempty"`
	// Simulated is set when the action's connector simulates its system
	// (a sandbox connector): nothing real would be revoked.
	Simulated bool `json:"simulated,omitempty"`
}

// Plan is a dry run: what a request would do, changing nothing.
type Plan struct {
	Employee    directory.Employee `json:"employee"`
	Rules       []string           `json:"rules"`
	PolicyHash  string             `json:"policy_hash"`
	EffectiveAt time.Time          `json:"effective_at"`
	Actions     []PlannedAction    `json:"actions"`
	Discovery   []Discovery        `json:"discovery"`
	Equipment   []Account          `json:"equipment,omitempty"`
	// Tracked is what the asset tracker (the policy's equipment.tracker)
	// lists as checked out to the person; TrackerError says why it could
	// not be listed ("" when it was, or no tracker is configured).
	Tracked      []TrackedAsset `json:"tracked,omitempty"`
	TrackerError string         `json:"tracker_error,omitempty"`
	// RemoteAccess states which kinds of remote access (VPN identities,
	// VPN sessions, identity-provider sessions) the plan's actions revoke
	// and which action does each, from what their connector types
	// declare; a kind no action revokes is said so. "" when unknown.
	RemoteAccess string `json:"remote_access,omitempty"`
}

// Simulated returns the plan's actions on simulated systems' connectors,
// sorted and without repeats; nil when nothing is simulated.
func (p *Plan) Simulated() []string {
	set := map[string]bool{}
	for _, a := range p.Actions {
		if a.Simulated {
			set[a.Connector] = true
		}
	}
	if len(set) == 0 {
		return nil
	}
	return slices.Sorted(maps.Keys(set))
}

// ApprovalView is an approval with its steps and decisions, for the API and
// CLI.
type ApprovalView struct {
	store.Approval
	EmployeeID   string `json:"employee_id"`
	EmployeeName string `json:"employee_name"`
	// RequesterName is the requester's name in the directory ("" for a
	// system requester or one the directory does not know).
	RequesterName string                   `json:"requester_name,omitempty"`
	Steps         []store.ApprovalStep     `json:"steps"`
	Decisions     []store.ApprovalDecision `json:"decisions"`
	// Approvers are the HR ids who may decide the current step now: its
	// approvers, less the requester, the departing employee and anyone who
	// has already decided this step.
	Approvers []string `json:"approvers,omitempty"`
	// RoleApprovers are the people the chain's role references stand for,
	// by reference ("manager", "hr_partner") to HR id, as the departing
	// employee's record at planning says; a role with no one is absent.
	RoleApprovers map[string]string `json:"role_approvers,omitempty"`
	// ReasonRequired says the policy requires a reason to approve the
	// current step (a deny always needs one), so a front end asks for it
	// before approving.
	ReasonRequired bool `json:"reason_required,omitempty"`
}

// Event is a committed transition, and the engine's notification to front
// ends: observers are the notifier interface chat front ends implement.
type Event struct {
	// Kind says what happened; the EventKind constants list every kind.
	Kind       EventKind
	CaseID     int64
	ActionID   int64
	ApprovalID int64
	BatchID    int64
	// EquipmentID names an equipment task (EventEquipment,
	// EventEquipmentOverdue).
	EquipmentID int64
	// NoticeID names a notice (EventNotice).
	NoticeID int64
	// ResidualID names a residual access a reconciliation found
	// (EventResidualAccess); its Remediate button carries it.
	ResidualID int64
	Name       string // action name, exception kind or asset tag
	Status     string // new status of the case, action or approval
	Detail     string
	// Targets are who should hear of it: user:ID, group:NAME,
	// channel:NAME (escalations, reminders, security notices).
	Targets []string
	// Level is an escalation's level (1-based).
	Level int
	// Actor is the principal whose request caused the event (a person's
	// button, an API client); empty for the engine's own transitions. A
	// front end tells "the action failed" (Actor empty) from "someone
	// clicked a button on a failed action" by it.
	Actor string
	At    time.Time
	// Email is the address an EventReturnInstructions goes to (the
	// person's private email): personal data, never logged or shown in
	// chat unmasked.
	Email string `json:"-"`
}
