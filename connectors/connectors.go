// Package connectors owns the contract between Kinetic's engine and the
// downstream systems it revokes access in: the core Connector interface, the
// optional capability interfaces, the classified error type, the registry of
// configured instances, and the Descriptor each connector type exports (the
// table of types is internal/compose's; the outbound URL policy every
// connector's base URL must pass is internal/outbound).
//
// One package per downstream system lives below this one
// (connectors/sandbox, connectors/ldap, …). Connectors never know about chat,
// the store or the queue; they take and return the plain structs below so a
// field can be added without touching every implementation.
package connectors

import (
	"context"
	"sort"
	"strings"
)

// Operation names a verb a connector can perform. The set below is the
// vocabulary the policy's action catalog uses; a connector type declares which
// of them it supports in its Type descriptor.
type Operation string

// The operations Kinetic knows. A connector implements a subset.
const (
	OpDisableAccount         Operation = "disable_account"
	OpRevokeSessions         Operation = "revoke_sessions"
	OpRemoveGroupMemberships Operation = "remove_group_memberships"
	OpDeactivateUser         Operation = "deactivate_user"
	OpRevokeVPN              Operation = "revoke_vpn"
	OpDeleteAccessKeys       Operation = "delete_access_keys"
	OpDeactivateBadge        Operation = "deactivate_badge"
	OpCreateRecoveryTask     Operation = "create_recovery_task"
	OpNotify                 Operation = "notify"
	OpConvertMailbox         Operation = "convert_mailbox"
	OpTransferOwnership      Operation = "transfer_ownership"
	// Mailbox operations used by exceptions: forwarding kept for an
	// approved period, a legal hold preserving the mailbox, and the
	// destroying deletion a hold blocks.
	OpSetForwarding    Operation = "set_forwarding"
	OpRemoveForwarding Operation = "remove_forwarding"
	OpPreserveMailbox  Operation = "preserve_mailbox"
	OpDeleteMailbox    Operation = "delete_mailbox"
	// OpRemoveLicenses removes the licenses assigned directly to the
	// account (Microsoft 365: POST /users/{id}/assignLicense). Licenses
	// inherited through group-based licensing go when the group
	// memberships do. Removing the Exchange Online license starts the
	// mailbox's deletion (a disconnected mailbox is kept 30 days), so
	// whether and when a policy uses it is a policy decision.
	OpRemoveLicenses Operation = "remove_licenses"
	// OpSetAutoReply turns on the mailbox's automatic replies with the
	// text in Params["auto_reply"].
	OpSetAutoReply Operation = "set_auto_reply"
	// OpRemoveSiteAccess removes the person's access to the SharePoint
	// sites named in Params["sites"] (site URLs or IDs, comma separated):
	// membership and ownership of the Microsoft 365 group behind a
	// group-connected site, and permissions granted to them directly.
	OpRemoveSiteAccess Operation = "remove_site_access"
	// OpGrantDriveAccess gives another person (Params["grantee"], else the
	// manager the system records) access to the departing person's files
	// (OneDrive) for a retention period; OpRemoveDriveAccess takes it away
	// when the period ends.
	OpGrantDriveAccess  Operation = "grant_drive_access"
	OpRemoveDriveAccess Operation = "remove_drive_access"
)

// AllOperations lists every operation above, in declaration order, then
// the equipment operations of equipment.go.
var AllOperations = []Operation{
	OpDisableAccount, OpRevokeSessions, OpRemoveGroupMemberships, OpDeactivateUser,
	OpRevokeVPN, OpDeleteAccessKeys, OpDeactivateBadge, OpCreateRecoveryTask, OpNotify,
	OpConvertMailbox, OpTransferOwnership, OpSetForwarding, OpRemoveForwarding,
	OpPreserveMailbox, OpDeleteMailbox, OpRemoveLicenses, OpSetAutoReply,
	OpRemoveSiteAccess, OpGrantDriveAccess, OpRemoveDriveAccess,
	OpRecordEquipmentStep, OpLockDevices, OpRetireDevices, OpWipeDevices, // equipment.go
}

// Subject identifies the person an operation is about, as the HR directory
// knows them. Connectors match on whichever identifier their system uses.
type Subject struct {
	EmployeeID  string
	Email       string
	Username    string
	DisplayName string
	// Attributes carries any further HR attribute a connector may match on
	// (for example "upn" or "badge_id").
	Attributes map[string]string
}

// Account is one account, badge, key or device a subject holds in a system,
// as the system reports it right now.
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
	// Synced is set when the system reports the account as mastered in
	// another directory that a sync copies over it (an Entra ID user with
	// onPremisesSyncEnabled): a change made here lasts until the next sync
	// unless the source changes first (see the instance's synced_from).
	Synced bool
}

// Account statuses.
const (
	StatusActive        = "active"
	StatusDisabled      = "disabled"
	StatusDeprovisioned = "deprovisioned"
)

// LookupResult lists what a subject holds in a system. An empty Accounts
// slice with a nil error means "none found".
type LookupResult struct {
	Accounts []Account
}

// Request asks a connector to perform one operation.
type Request struct {
	Operation Operation
	Subject   Subject
	// Account is the target account's ID when discovery found one; empty
	// means the connector resolves the subject itself.
	Account string
	// Params are the action's parameters from policy (for example a
	// notification template or a ticket queue).
	Params map[string]string
	// IdempotencyKey is stable across retries of the same action; connectors
	// whose systems accept one (ticketing, payroll notices) pass it on.
	IdempotencyKey string
	// Data is the original operation's recorded Result.Data; it is set
	// only on a Restorer's Restore and VerifyRestore (see restore.go).
	Data map[string]string
}

// Outcome says what an operation did.
type Outcome string

// Outcomes. Every successful Do returns exactly one of these.
const (
	// Done: the system's state was changed.
	OutcomeDone Outcome = "done"
	// AlreadyDone: the system was already in the requested state; nothing
	// was changed. This is a success.
	OutcomeAlreadyDone Outcome = "already_done"
	// NoneFound: the subject holds no such account; nothing to revoke. This
	// is a success.
	OutcomeNoneFound Outcome = "none_found"
)

// Result is what Do reports on success.
type Result struct {
	Outcome Outcome
	// Account is the account acted on, when there was one.
	Account string
	// Detail is a one-line human summary ("disabled; 3 sessions revoked").
	Detail string
	// Data records what was changed, for audit and for restoring after a
	// mistaken case (for example the groups removed, comma separated).
	Data map[string]string
}

// Verification is the read-back of an operation's effect.
type Verification struct {
	// OK is true when the system now reports the requested state.
	OK bool
	// Detail says what was read ("account status=disabled, 0 sessions").
	Detail string
}

// Connector is one configured instance of a downstream system.
//
// The contract, checked for every implementation by
// connectors/conformance:
//
//   - Do is idempotent: performing an operation whose effect already holds
//     returns OutcomeAlreadyDone and a nil error; performing it for a subject
//     with no account returns OutcomeNoneFound and a nil error.
//   - Lookup of a subject with no account returns an empty result, not an
//     error.
//   - Every error is a *Error (see Classify and the constructors) so callers
//     can tell retryable from permanent with errors.As or IsRetryable.
//   - A cancelled or expired context stops the call and returns an error
//     that wraps the context's error.
//   - No error or Detail carries a secret (token, password, signed URL).
type Connector interface {
	// Name returns the instance name from config (e.g. "okta", "ad-emea").
	Name() string
	// Lookup reports what the subject holds in the system. It is used for
	// discovery at planning time, for verification and for reconciliation.
	Lookup(ctx context.Context, s Subject) (LookupResult, error)
	// Do performs one operation.
	Do(ctx context.Context, req Request) (Result, error)
}

// Verifier is the optional capability to read back an operation's effect.
// The engine calls it after a successful Do; an action on a connector
// without it is recorded as unverified.
type Verifier interface {
	Verify(ctx context.Context, req Request) (Verification, error)
}

// Closer is the optional capability to release resources (connections) when
// the service stops.
type Closer interface {
	Close() error
}

// Supports reports whether ops contains op.
func Supports(ops []Operation, op Operation) bool {
	for _, o := range ops {
		if o == op {
			return true
		}
	}
	return false
}

// OperationNames returns ops as a sorted, comma-separated string for error
// messages.
func OperationNames(ops []Operation) string {
	names := make([]string, len(ops))
	for i, o := range ops {
		names[i] = string(o)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// ListedAccount is one account an AccountLister reports, with the
// identifiers of the person it belongs to as the system records them.
type ListedAccount struct {
	Account
	Subject Subject
}

// AccountLister is the optional capability to list every account the
// instance manages (within its configured scope), for the
// organization-wide orphan scan: enabled accounts whose person has left,
// and accounts no HR person owns.
type AccountLister interface {
	ListAccounts(ctx context.Context) ([]ListedAccount, error)
}
