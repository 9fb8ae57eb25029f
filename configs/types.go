// Package configs owns Kinetic's configuration: the service YAML (HTTP,
// database, Redis, directory, connectors and their instances, admins) and the
// policy YAML (the action catalog and the rules that select actions, with CEL
// conditions). Parsing is strict: an unknown key is an error, every error
// names its file, line and key, and validation reports all errors at once.
// Secrets are references ({env: NAME} or {file: PATH}), never inline values.
package configs

import (
	"fmt"

	"github.com/kineticsec/kinetic/internal/connspec"
	"github.com/kineticsec/kinetic/internal/hrspec"
	"github.com/kineticsec/kinetic/internal/paydates"
	"github.com/kineticsec/kinetic/internal/secret"
)

// Service is the service configuration file.
type Service struct {
	// Simulated declares that this service runs simulated downstream
	// systems: connectors of type sandbox (demos, tests, benchmarks).
	// kinetic serve and kinetic worker refuse to start with a sandbox
	// connector unless it is set (see CheckSimulated), and every action on
	// a sandbox connector is marked simulated wherever it is shown: Slack
	// cards, case summaries, the API and audit exports. Default false; the
	// embedded default and configs/kinetic.demo.yaml set it.
	Simulated bool `yaml:"simulated"`
	// HTTP configures `kinetic serve`'s listener and JSON API.
	HTTP HTTP `yaml:"http"`
	// Database selects PostgreSQL or the embedded SQLite file.
	Database Database `yaml:"database"`
	// Redis is the queue's Redis; Embedded runs miniredis in-process.
	Redis Redis `yaml:"redis"`
	// Directory is the HR directory source.
	Directory DirectorySource `yaml:"directory"`
	// Policy is the path of the policy file, relative to this file.
	Policy string `yaml:"policy"`
	// Admins are HR employee ids allowed to offboard anyone.
	Admins []string `yaml:"admins"`
	// HRRoles are role profiles whose holders may offboard anyone.
	// Default: ["hr"].
	HRRoles []string `yaml:"hr_roles"`
	Workers Workers  `yaml:"workers"`
	// Outbound is the policy for connector base URLs.
	Outbound Outbound `yaml:"outbound"`
	// ApproverGroups are named groups of approvers that approval chains and
	// the mass-termination guard refer to as "group:NAME". An entry is an
	// HR employee id, slack:USERGROUP_ID for the members of a Slack user
	// group (kept by the Slack front end, refreshed every minute), or
	// entra:GROUP_OBJECT_ID for the users of an Entra ID group, nested
	// groups included (kept by the Teams front end through Microsoft
	// Graph, chat.teams.graph).
	// Membership is checked when someone decides.
	ApproverGroups map[string][]string `yaml:"approver_groups"`
	// Alerts names where escalations and security notices go.
	Alerts Alerts `yaml:"alerts"`
	// Routing maps the names notifications are addressed to (connector
	// owners, alerts.security_channel) to chat destinations per platform
	// (routing.go, docs/configuration.md).
	Routing map[string]*Route `yaml:"routing"`
	// Notices configures the acknowledgement links of notice emails
	// (notices.go); nil: notices carry no link.
	Notices *Notices `yaml:"notices"`
	// Connectors are the connector instances by name.
	Connectors map[string]*ConnectorInstance `yaml:"connectors"`
	Log        Log                           `yaml:"log"`
	// HR is the hr: block (HR termination events: signed webhooks and
	// pollers, bot/hr, docs/hr.md), decoded into the pointer the load's
	// Types.HR spec returned (*hrconfig.Config); nil when absent.
	// internal/compose hands it to bot/hr.
	HR any `yaml:"-"`
	// Chat configures the chat front ends: chat.slack (chat.go), with the
	// KINETIC_SLACK_* variables as overrides, and chat.teams.
	Chat Chat `yaml:"chat"`
	// Signals is the Shared Signals transmitter (signals.go,
	// docs/signals.md): SETs about revoked sessions, disabled accounts and
	// deleted credentials pushed to receivers. Nil: none.
	Signals *Signals `yaml:"signals"`
	// Audit is the audit: block: the evidence reports' signing key and
	// the external anchors of the audit head (audit.go).
	Audit Audit `yaml:"audit"`

	// File is the path the config was loaded from ("" for the embedded
	// default).
	File string `yaml:"-"`

	// sandboxLines maps each sandbox connector instance to the line of its
	// type key, for CheckSimulated's messages.
	sandboxLines map[string]int
	// types are the connector types the load was given.
	types []connspec.Spec
	// dirTypes are the HR directory source types the load was given.
	dirTypes []hrspec.Directory
	// hrSpec is the HR event front end's spec, or nil.
	hrSpec *hrspec.Events
	// source is the file name errors name (File, or embedded.yaml).
	source string
}

// HTTP configures the listener.
type HTTP struct {
	// Addr is HOST:PORT; default 127.0.0.1:8080. The --addr flag and
	// KINETIC_HTTP_ADDR override it.
	Addr string `yaml:"addr"`
	// APIClients are the clients of /api/v1, by name: each has its own
	// bearer token, the scopes it may use and the people it may act for.
	APIClients map[string]APIClient `yaml:"api_clients"`
	// APITokens is the legacy form: bearer tokens by client name, each a
	// client with every scope that may act for anyone (act_as "*", a
	// trusted front end). Prefer APIClients. A client name, in either
	// form, is at most 64 characters: it is part of the audit trail's
	// principal.
	APITokens map[string]secret.Secret `yaml:"api_tokens"`
	// MetricsAddr, when set, is a HOST:PORT of its own for kinetic serve's
	// /metrics, which is then not served on Addr (a worker serves its
	// metrics beside its probes, on --addr).
	MetricsAddr string `yaml:"metrics_addr"`
	// MetricsToken, when set, is the bearer token /metrics requires
	// ({env: NAME} or {file: PATH}).
	MetricsToken secret.Secret `yaml:"metrics_token"`
	// ReadHeaderTimeout bounds reading a request's headers; default 10s.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request, body included, so a
	// body trickled in is cut off; default 15s.
	ReadTimeout Duration `yaml:"read_timeout"`
	// WriteTimeout bounds a request from the end of its headers to the
	// end of its answer; default 60s.
	WriteTimeout Duration `yaml:"write_timeout"`
	// IdleTimeout closes a keep-alive connection left idle; default 60s.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MaxConnections caps the open connections of each listener; more
	// wait until one closes. Default 1000.
	MaxConnections int `yaml:"max_connections"`
	// MaxConnectionsPerClient caps the open connections from one client IP
	// address; more are closed at once. Default 100. Behind a proxy or
	// load balancer every connection comes from its address: set it to
	// max_connections there.
	MaxConnectionsPerClient int `yaml:"max_connections_per_client"`
}

// APIClient is one client of the JSON API.
type APIClient struct {
	// Token is the client's bearer token ({env: NAME} or {file: PATH}).
	Token secret.Secret `yaml:"token"`
	// Scopes are what it may do: see APIScopes. None means nothing but
	// authenticating.
	Scopes []string `yaml:"scopes"`
	// ActAs are the people it may name as the actor ("as",
	// "requested_by"): HR ids, "role:hr", "role:manager" (the departing
	// employee's manager), "role:admin", or "*" (anyone), which only a
	// trusted front end may have. A client may always act as itself.
	ActAs []string `yaml:"act_as"`
	// TrustedFrontEnd marks a client that authenticates its own users (a
	// portal with single sign-on) and may therefore act for anyone. Even
	// then, one client is one approver: it acts for one person within one
	// approval.
	TrustedFrontEnd bool `yaml:"trusted_front_end"`
}

// String renders the client with its token as <secret>.
func (c APIClient) String() string {
	return fmt.Sprintf("{token:%s scopes:%v act_as:%v trusted_front_end:%t}", c.Token, c.Scopes, c.ActAs, c.TrustedFrontEnd)
}

// API scopes an APIClient may hold.
const (
	ScopeCasesCreate     = "cases:create"     // open cases, request exceptions and hold releases, confirm plans
	ScopeCasesRead       = "cases:read"       // read any case, approval and batch (without it, only the cases it opened)
	ScopeCasesCancel     = "cases:cancel"     // cancel cases
	ScopeApprovalsDecide = "approvals:decide" // approve or deny exceptions
	ScopeActionsOperate  = "actions:operate"  // retry, skip, mark done, escalate actions
	ScopeBatchesDecide   = "batches:decide"   // release or deny mass-termination batches
	ScopeAuditRead       = "audit:read"       // read and export the audit trail
	ScopeQueuesOperate   = "queues:operate"   // the queue dashboard at /ops/queues: view, retry and delete queued tasks
)

// APIScopes lists every scope, in the order the docs give them.
var APIScopes = []string{ScopeCasesCreate, ScopeCasesRead, ScopeCasesCancel, ScopeApprovalsDecide,
	ScopeActionsOperate, ScopeBatchesDecide, ScopeAuditRead, ScopeQueuesOperate}

// ActAs roles an APIClient may name besides HR ids and "*".
var ActAsRoles = []string{"role:hr", "role:manager", "role:admin"}

// Database selects the store.
type Database struct {
	// Driver is "postgres" or "sqlite"; default sqlite.
	Driver string `yaml:"driver"`
	// DSN is the PostgreSQL connection string (a secret: it may hold a
	// password). KINETIC_DATABASE_DSN overrides it.
	DSN secret.Secret `yaml:"dsn"`
	// Path is the SQLite file; default kinetic.db in the working directory.
	Path string `yaml:"path"`
}

// Redis configures the queue's Redis.
type Redis struct {
	// Embedded runs an in-process miniredis (the embedded default; one
	// process only).
	Embedded bool `yaml:"embedded"`
	// Addr is HOST:PORT of a single Redis. KINETIC_REDIS_ADDR overrides
	// it (and any sentinel or cluster block).
	Addr string `yaml:"addr"`
	// Sentinel reaches a Redis replicated under Redis Sentinel: the queue
	// and the rate-limit gate follow the master through failovers. See
	// redis.go.
	Sentinel *RedisSentinel `yaml:"sentinel"`
	// Cluster reaches a Redis Cluster through its seed nodes. See redis.go.
	Cluster *RedisCluster `yaml:"cluster"`
	// Password authenticates to the Redis data nodes (the master and
	// replicas under Sentinel; every node of a cluster).
	Password secret.Secret `yaml:"password"`
	// DB is the database number; a cluster has only database 0.
	DB int `yaml:"db"`
}

// DirectorySource names the HR directory: a file, or an HR system. See
// hrsources.go.
type DirectorySource struct {
	// Type is file (the default) or one of the HR system types the load
	// was given (internal/compose/table: bamboohr, workday, scim); the HR
	// system types need their block below.
	Type string `yaml:"type"`
	// File is a JSON or CSV employee file, relative to the config file
	// (type file). Default: the bundled sample directory.
	File string `yaml:"file"`
	// Reload is how often lookups check whether the file changed and
	// re-read it (type file); 0, the default, never does.
	Reload Duration `yaml:"reload"`
	// TTL is how long a snapshot of an HR system is served before the next
	// lookup refreshes it; a failed refresh serves it for up to 2×TTL.
	// Default 15m.
	TTL Duration `yaml:"ttl"`

	// Block is the HR system type's block (written under the type's
	// name, e.g. workday:), decoded into the pointer its hrspec.Directory's
	// NewBlock returned (*workday.Config); nil for type file, an unknown
	// type or a missing block. internal/compose builds the source from it.
	Block any `yaml:"-"`
	// blocks are the HR system blocks written, by type name.
	blocks []string
}

// Workers tunes the job layer.
type Workers struct {
	// Concurrency is the number of actions one process runs at once;
	// default 20.
	Concurrency int `yaml:"concurrency"`
	// Lease is how long a running action's claim lasts without renewal;
	// default 10s (DefaultLease), at least MinLease (2s). Workers renew at
	// a third of it.
	Lease Duration `yaml:"lease"`
	// SweepInterval is how often the recovery sweep runs; default 5s, at
	// least MinSweepInterval (200ms) and no longer than Lease.
	SweepInterval Duration `yaml:"sweep_interval"`
	// ShutdownGrace is how long a stopping process (SIGTERM) lets the
	// actions it is running finish before it hands the rest back: each is
	// requeued at once, its lease released and its attempt not counted, for
	// another worker to pick up. Default 20s (DefaultShutdownGrace), below
	// Kubernetes' 30 s terminationGracePeriodSeconds; at most
	// MaxShutdownGrace (25s) so the hand-back itself fits in that period.
	ShutdownGrace Duration `yaml:"shutdown_grace"`
}

// Outbound is the outbound URL policy: connector base URLs that resolve to
// loopback, link-local, cloud metadata or private ranges are refused unless
// listed here.
type Outbound struct {
	AllowCIDRs []string `yaml:"allow_cidrs"`
	AllowHosts []string `yaml:"allow_hosts"`
}

// Alerts names the destinations of escalations and security notices. The
// chat front ends resolve them (a channel name, a user group).
type Alerts struct {
	// SecurityChannel names the security team's alerts channel (escalation
	// level "security_alerts", breaches, orphans). Its route
	// (routing.NAME.slack.channel, or chat.slack.alerts_channel) is the
	// Slack alerts channel.
	SecurityChannel string `yaml:"security_channel"`
	// SecurityOfficers are HR ids told when a case matching the policy's
	// security_officer_when opens.
	SecurityOfficers []string `yaml:"security_officers"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error; default info.
	Level string `yaml:"level"`
	// Format is json, text or auto (text on a terminal); default auto.
	Format string `yaml:"format"`
}

// ConnectorInstance is one configured connector. Exactly one type-specific
// block, named after Type, is set.
type ConnectorInstance struct {
	// Type is the connector type: one of the types the load was given
	// (internal/compose's table: sandbox, webhook, ldap, graph, okta).
	Type string `yaml:"type"`
	// RateLimit is shared by all workers; zero means none.
	RateLimit *RateLimit `yaml:"rate_limit"`
	// Concurrency caps calls in flight across all workers; 0 = no cap.
	Concurrency int `yaml:"concurrency"`
	// Timeout bounds one call; default 30s.
	Timeout Duration `yaml:"timeout"`
	// Owner is the owning team's name, told first (escalation level
	// "owner") when an action on this system is overdue; routing.NAME says
	// where that team reaches people.
	Owner string `yaml:"owner"`
	// SyncedFrom names the instance this system's accounts are mastered
	// in (synced_from: ad for Entra ID users synced from on-premises AD by
	// Entra Connect): the planner orders every disabling action on the
	// source before this system's, because a sync would undo a change made
	// here first. It must name another configured instance; the chain may
	// not loop.
	SyncedFrom string `yaml:"synced_from"`

	// Block is the type's block (written under the type's name, e.g.
	// okta:), decoded into the pointer its connspec.Spec's NewBlock
	// returned (*okta.Config); nil when the type is unknown or the block is
	// missing. internal/compose builds the instance from it.
	Block any `yaml:"-"`
	// spec is the type's Spec, when the type is known.
	spec *connspec.Spec
	// blocks are the type blocks written in the instance, by type name.
	blocks []string

	// Name is the map key.
	Name string `yaml:"-"`
}

// RateLimit is at most Requests in any window of Per (how vendors count
// "600 per minute"), Burst of them (default 1, less than Requests) at once.
// Every call to the system — lookup, operation, read-back — is a request.
type RateLimit struct {
	Requests int      `yaml:"requests"`
	Per      Duration `yaml:"per"`
	Burst    int      `yaml:"burst"`
}

// PolicyFile is the policy YAML as written.
type PolicyFile struct {
	// Version must be 1.
	Version  int            `yaml:"version"`
	Defaults PolicyDefaults `yaml:"defaults"`
	// Actions is the catalog by name.
	Actions map[string]*ActionDef `yaml:"actions"`
	// Rules are evaluated in order; each whose When holds adds and removes
	// actions and overrides SLAs.
	Rules []*Rule `yaml:"rules"`

	// Chains are approval chains by name.
	Chains map[string]*Chain `yaml:"chains"`
	// Exceptions are the exception kinds a requester may ask for, by name.
	Exceptions map[string]*ExceptionDef `yaml:"exceptions"`
	// ForbidCriticalExceptionsWhen is a CEL condition; when it holds, no
	// exception may hold or delay a critical-phase action.
	ForbidCriticalExceptionsWhen string `yaml:"forbid_critical_exceptions_when"`
	// TwoPersonRuleWhen is a CEL condition; when it holds, every exception
	// needs two distinct approvers, and nobody decides two steps.
	TwoPersonRuleWhen string `yaml:"two_person_rule_when"`
	// SecurityOfficerWhen is a CEL condition; when it holds, the security
	// officers (alerts.security_officers) are told as the case opens.
	SecurityOfficerWhen string `yaml:"security_officer_when"`
	// Escalation defines how overdue actions escalate.
	Escalation EscalationPolicy `yaml:"escalation"`
	// Compliance profiles set case-level deadlines.
	Compliance []*ComplianceProfile `yaml:"compliance"`
	// MassTermination holds bursts of cases for approval.
	MassTermination *MassGuard `yaml:"mass_termination"`
	// Payroll holds the rules that date payroll and benefits notices
	// (internal/paydates): the pay schedule and, by country, state and
	// urgency, the final-pay date, leave payout, benefits end and
	// continuation-coverage notice. Nil: notices carry no dates.
	Payroll *paydates.Rules `yaml:"payroll"`
	// Equipment says how devices are categorised and which team recovers
	// them (see EquipmentPolicy).
	Equipment EquipmentPolicy `yaml:"equipment"`
	// Reconcile schedules the reconciliation of closed cases (see
	// ReconcilePolicy); nil: no scheduled reconciliation.
	Reconcile *ReconcilePolicy `yaml:"reconcile"`
	// Tickets routes the tickets of equipment tasks and manual steps to
	// the teams' ITSM queues (see TicketPolicy); nil: no tickets.
	Tickets *TicketPolicy `yaml:"tickets"`
}

// ReconcilePolicy schedules the sweep that asks every connector, after a
// case closed, whether the person still has access.
type ReconcilePolicy struct {
	// After are offsets from the case's close at which it is scanned
	// once each (e.g. [1h, 24h, 7d]); increasing and positive.
	After []Duration `yaml:"after"`
	// NightlyDays: every night, everyone offboarded (case closed) in the
	// last NightlyDays days is scanned once; 0 turns the nightly scan off.
	NightlyDays int `yaml:"nightly_days"`
}

// Chain is an approval chain: ordered steps.
type Chain struct {
	Steps []*ChainStep `yaml:"steps"`
}

// ChainStep is one step of a chain.
type ChainStep struct {
	Name string `yaml:"name"`
	// Approvers are references: manager, hr_partner, group:NAME, user:ID.
	Approvers []string `yaml:"approvers"`
	// Mode is any (default), all or n_of (with N).
	Mode string `yaml:"mode"`
	N    int    `yaml:"n"`
	// Timeout is how long the step waits for decisions; default 24h.
	Timeout Duration `yaml:"timeout"`
	// OnTimeout is escalate (to Fallback, once, then deny), deny (the
	// default) or approve (only for exception kinds with
	// allow_auto_approve, never in a step needing more than one approver or
	// while two_person_rule_when always holds; for a case under the
	// two-person rule or a cleared employee the engine escalates or expires
	// the step instead).
	OnTimeout string   `yaml:"on_timeout"`
	Fallback  []string `yaml:"fallback"`
	// RemindBefore sends a reminder this long before the timeout.
	RemindBefore Duration `yaml:"remind_before"`
	// ReasonRequiredOnApprove makes approvers give a reason (deny always
	// needs one).
	ReasonRequiredOnApprove bool `yaml:"reason_required_on_approve"`
}

// Exception effects.
const (
	EffectForwarding     = "forwarding"
	EffectLegalHold      = "legal_hold"
	EffectDelayEquipment = "delay_equipment"
	EffectDelayAction    = "delay_action"
)

// ExceptionDef is one exception kind.
type ExceptionDef struct {
	Description string `yaml:"description"`
	// Effect is forwarding, legal_hold, delay_equipment or delay_action.
	Effect string `yaml:"effect"`
	// Chain names the approval chain.
	Chain string `yaml:"chain"`
	// Holds are catalog actions held while the request is pending.
	Holds []string `yaml:"holds"`
	// MaxDays bounds the days a forwarding, delay or equipment extension
	// may last.
	MaxDays int `yaml:"max_days"`
	// AllowedDomains bounds forwarding targets.
	AllowedDomains []string `yaml:"allowed_domains"`
	// Add are catalog actions added on approval (forwarding: the forwarding
	// action, with params forward_to and days; legal_hold: the preserving
	// actions).
	Add []string `yaml:"add"`
	// AtExpiry are catalog actions scheduled for when the exception expires
	// (forwarding: removing the forwarding).
	AtExpiry []string `yaml:"at_expiry"`
	// Actions are the catalog actions a delay_action request may name.
	Actions []string `yaml:"actions"`
	// ReleaseChain is the chain that releases a legal hold.
	ReleaseChain string `yaml:"release_chain"`
	// AllowAutoApprove lets a step's on_timeout be approve.
	AllowAutoApprove bool `yaml:"allow_auto_approve"`
}

// EscalationPolicy defines levels for overdue actions.
type EscalationPolicy struct {
	Levels []*EscalationLevel `yaml:"levels"`
}

// EscalationLevel fires once, After the action's due time.
type EscalationLevel struct {
	After Duration `yaml:"after"`
	// Notify are targets: owner (the connector's owning team),
	// security_alerts (alerts.security_channel), user:ID, group:NAME,
	// channel:NAME.
	Notify []string `yaml:"notify"`
}

// ComplianceProfile sets a case-level deadline for cases it matches.
type ComplianceProfile struct {
	Name string `yaml:"name"`
	// When is a CEL condition over employee and request.
	When string `yaml:"when"`
	// CriticalWithin: every critical action final within this of the
	// effective time, or a breach is raised.
	CriticalWithin Duration `yaml:"critical_within"`
}

// MassGuard holds new cases for approval when more than MaxCases were
// requested within Window.
type MassGuard struct {
	MaxCases int      `yaml:"max_cases"`
	Window   Duration `yaml:"window"`
	// Approvers are user:ID or group:NAME references; any one decides.
	Approvers []string `yaml:"approvers"`
}

// PolicyDefaults apply to every action unless overridden.
type PolicyDefaults struct {
	// SLA per phase name (critical, entitlements, notifications); actions
	// and rules override. Default 4h for every phase.
	SLA map[string]Duration `yaml:"sla"`
	// MaxAttempts before a retryable failure becomes final; default 6.
	MaxAttempts int `yaml:"max_attempts"`
	// EquipmentDue is how long after the effective time devices are due
	// back; default 7d.
	EquipmentDue Duration `yaml:"equipment_due"`
}

// Phases, in execution order.
const (
	PhaseCritical      = "critical"
	PhaseEntitlements  = "entitlements"
	PhaseNotifications = "notifications"
)

// PhaseNumber maps a phase name to its order (1, 2, 3); 0 if unknown.
func PhaseNumber(name string) int {
	switch name {
	case PhaseCritical:
		return 1
	case PhaseEntitlements:
		return 2
	case PhaseNotifications:
		return 3
	}
	return 0
}

// ActionDef is one named action in the catalog.
type ActionDef struct {
	Description string `yaml:"description"`
	// Connector names a configured connector instance.
	Connector string `yaml:"connector"`
	// Operation must be supported by the connector's type.
	Operation string `yaml:"operation"`
	// Phase is critical, entitlements or notifications.
	Phase string `yaml:"phase"`
	// SLA overrides the phase default.
	SLA Duration `yaml:"sla"`
	// DependsOn names catalog actions that must succeed first. A dependency
	// not selected for a given employee is ignored.
	DependsOn []string `yaml:"depends_on"`
	// Params are passed to the connector.
	Params map[string]string `yaml:"params"`
	// MaxAttempts overrides the default.
	MaxAttempts int `yaml:"max_attempts"`
	// Skippable lets the owning team skip the action with a reason (never
	// allowed for critical-phase actions).
	Skippable bool `yaml:"skippable"`
	// Manual marks a step people do by hand (a badge system without an
	// API, an equipment step): it is never sent to a connector; it waits
	// until someone marks it done, and escalates when overdue.
	Manual bool `yaml:"manual"`
	// Lead runs the action this long before the effective time (e.g.
	// notify payroll 5d ahead); it is scheduled when the case is opened,
	// moves when the case is rescheduled and is cancelled with it.
	Lead Duration `yaml:"lead"`

	// Name is the map key.
	Name string `yaml:"-"`
}

// Rule selects actions for employees matching When.
type Rule struct {
	Name string `yaml:"name"`
	// When is a CEL expression over `employee` and `request` that must
	// return a bool.
	When string `yaml:"when"`
	// Add and Remove name catalog actions. Removal wins over an earlier add
	// and is undone by a later rule's add.
	Add    []string `yaml:"add"`
	Remove []string `yaml:"remove"`
	// SLA overrides SLAs: keys are action names or phase names.
	SLA map[string]Duration `yaml:"sla"`
}

// String prints the section with its secrets as <secret> (as %+v does).
func (h HTTP) String() string {
	type plain HTTP
	return fmt.Sprintf("%+v", plain(h))
}
