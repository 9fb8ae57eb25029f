package bot

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/dur"
	"github.com/kineticsec/kinetic/store"
)

// The API's views of the store's rows. The store keeps lists and objects
// as JSON text and durations as nanoseconds; the API shows them as what
// they are: arrays and objects as JSON, durations as Duration strings
// ("10m"), times in RFC 3339 in UTC. docs/openapi.yaml describes every
// field, and bot/openapi_test.go checks each answer against it.

// Duration is a length of time as the API writes it: Go's duration syntax
// in its shortest form ("45s", "10m", "1h30m", "720h"). Reading also
// accepts a day unit ("7d") and the long form ("10m0s"); a negative or
// malformed duration is an error.
type Duration time.Duration

// String is the shortest Go form: "10m" for 10m0s, "1h" for 1h0m0s.
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// MarshalJSON writes the string form.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string (internal/dur.Parse).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"10m\" or \"1h30m\"")
	}
	v, err := dur.Parse(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// utc is t in UTC; utcp likewise for an optional time (nil stays nil).
func utc(t time.Time) time.Time { return t.UTC() }

func utcp(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// jsonList decodes a JSON array of strings kept in a text column; empty
// or malformed text is an empty list (never null).
func jsonList(s string) []string {
	var out []string
	if s != "" {
		_ = json.Unmarshal([]byte(s), &out)
	}
	if out == nil {
		out = []string{}
	}
	return out
}

// jsonMap decodes a JSON object of strings kept in a text column; empty
// or malformed text is an empty object (never null).
func jsonMap(s string) map[string]string {
	var out map[string]string
	if s != "" {
		_ = json.Unmarshal([]byte(s), &out)
	}
	if out == nil {
		out = map[string]string{}
	}
	return out
}

// ActionView is an action as the API shows it: in a case's "actions" and
// as the answer of POST /api/v1/actions/{id}/{op}.
type ActionView struct {
	ID          int64  `json:"id"`
	CaseID      int64  `json:"case_id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Connector   string `json:"connector"`
	Operation   string `json:"operation"`
	// Phase orders work: 1 critical, 2 entitlements, 3 notifications.
	Phase         int               `json:"phase"`
	PhaseName     string            `json:"phase_name"`
	TargetAccount string            `json:"target_account"`
	Params        map[string]string `json:"params"`
	// DependsOn names the actions this one waits for.
	DependsOn     []string `json:"depends_on"`
	Status        string   `json:"status"`
	BlockedReason string   `json:"blocked_reason,omitempty"`
	// SLA is the time the action is due within, from the effective time
	// (a Duration, "10m"); SLASeconds the same in seconds.
	SLA         Duration   `json:"sla"`
	SLASeconds  int64      `json:"sla_seconds"`
	DueAt       *time.Time `json:"due_at,omitempty"`
	Attempts    int        `json:"attempts"`
	MaxAttempts int        `json:"max_attempts"`
	NotBefore   *time.Time `json:"not_before,omitempty"`
	RunAt       *time.Time `json:"run_at,omitempty"`
	Generation  int        `json:"generation"`
	LeaseUntil  *time.Time `json:"lease_until,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	ErrorKind   string     `json:"error_kind,omitempty"`
	Outcome     string     `json:"outcome,omitempty"`
	Detail      string     `json:"detail,omitempty"`
	// ResultData is what the connector reported (ids it created, …).
	ResultData   map[string]string `json:"result_data,omitempty"`
	Manual       bool              `json:"manual,omitempty"`
	Skippable    bool              `json:"skippable,omitempty"`
	Verified     bool              `json:"verified"`
	Verification string            `json:"verification,omitempty"`
	QueuedAt     *time.Time        `json:"queued_at,omitempty"`
	StartedAt    *time.Time        `json:"started_at,omitempty"`
	FinishedAt   *time.Time        `json:"finished_at,omitempty"`
	CreatedAt    time.Time         `json:"created_at"`
	UpdatedAt    time.Time         `json:"updated_at"`
	// Simulated: the action ran on a simulated system (a sandbox
	// connector); its outcome is not real.
	Simulated bool `json:"simulated,omitempty"`
}

// actionView is the API's view of a.
func actionView(a store.Action) ActionView {
	v := ActionView{
		ID: a.ID, CaseID: a.CaseID, Name: a.Name, Description: a.Description, Connector: a.Connector, Operation: a.Operation,
		Phase: a.Phase, PhaseName: a.PhaseName, TargetAccount: a.TargetAccount, Params: jsonMap(a.Params),
		DependsOn: jsonList(a.DependsOn), Status: a.Status, BlockedReason: a.BlockedReason,
		SLA: Duration(a.SLA), SLASeconds: int64(a.SLA / time.Second), DueAt: utcp(a.DueAt),
		Attempts: a.Attempts, MaxAttempts: a.MaxAttempts, NotBefore: utcp(a.NotBefore), RunAt: utcp(a.RunAt),
		Generation: a.Generation, LeaseUntil: utcp(a.LeaseUntil), LastError: a.LastError, ErrorKind: a.ErrorKind,
		Outcome: a.Outcome, Detail: a.Detail, Manual: a.Manual, Skippable: a.Skippable, Verified: a.Verified,
		Verification: a.Verification, QueuedAt: utcp(a.QueuedAt), StartedAt: utcp(a.StartedAt), FinishedAt: utcp(a.FinishedAt),
		CreatedAt: utc(a.CreatedAt), UpdatedAt: utc(a.UpdatedAt), Simulated: a.Simulated,
	}
	if a.ResultData != "" {
		v.ResultData = jsonMap(a.ResultData)
	}
	return v
}

func actionViews(as []store.Action) []ActionView {
	out := make([]ActionView, 0, len(as))
	for _, a := range as {
		out = append(out, actionView(a))
	}
	return out
}

// EquipmentView is an equipment task (a device to recover) as the API
// shows it.
type EquipmentView struct {
	ID           int64      `json:"id"`
	CaseID       int64      `json:"case_id"`
	AssetTag     string     `json:"asset_tag"`
	Description  string     `json:"description"`
	Category     string     `json:"category,omitempty"`
	Location     string     `json:"location,omitempty"`
	AssigneeTeam string     `json:"assignee_team"`
	Status       string     `json:"status"`
	Source       string     `json:"source,omitempty"`
	Serial       string     `json:"serial,omitempty"`
	Reference    string     `json:"reference,omitempty"`
	Note         string     `json:"note,omitempty"`
	StatusBy     string     `json:"status_by,omitempty"`
	StatusAt     *time.Time `json:"status_at,omitempty"`
	DueAt        *time.Time `json:"due_at,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
}

func equipmentView(t store.EquipmentTask) EquipmentView {
	return EquipmentView{ID: t.ID, CaseID: t.CaseID, AssetTag: t.AssetTag, Description: t.Description, Category: t.Category,
		Location: t.Location, AssigneeTeam: t.AssigneeTeam, Status: t.Status, Source: t.Source, Serial: t.Serial,
		Reference: t.Reference, Note: t.Note, StatusBy: t.StatusBy, StatusAt: utcp(t.StatusAt), DueAt: utcp(t.DueAt),
		CreatedAt: utc(t.CreatedAt), UpdatedAt: utc(t.UpdatedAt)}
}

// EquipmentMoveResponse is the answer of POST /api/v1/equipment/{id}/move:
// the task after the move; Changed is false when it already was in the
// status asked for (a repeated move is a result, not an error).
type EquipmentMoveResponse struct {
	Task    EquipmentView `json:"task"`
	Changed bool          `json:"changed"`
}

// OpenItemView is one thing an open case still waits for (engine.OpenItem).
type OpenItemView struct {
	Kind   string `json:"kind"`
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
	// Owner is who must act: a team (channel:NAME) or a person (user:ID).
	Owner string `json:"owner,omitempty"`
	// To is who a notice went to (its recipients' addresses).
	To    []string   `json:"to,omitempty"`
	DueAt *time.Time `json:"due_at,omitempty"`
}

func openItemViews(items []engine.OpenItem) []OpenItemView {
	out := make([]OpenItemView, 0, len(items))
	for _, it := range items {
		v := OpenItemView{Kind: string(it.Kind), ID: it.ID, Name: it.Name, Status: it.Status, Owner: it.Owner, DueAt: utcp(it.DueAt)}
		if it.To != "" {
			v.To = splitList(it.To)
		}
		out = append(out, v)
	}
	return out
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	out := []string{}
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// ApprovalRequest is what an exception asks for: where mail is forwarded,
// for how many days, which action is delayed, and for a hold's release,
// the legal hold it releases. Unset fields are absent.
type ApprovalRequest struct {
	ForwardTo string `json:"forward_to,omitempty"`
	Days      int    `json:"days,omitempty"`
	Action    string `json:"action,omitempty"`
	HoldOf    int64  `json:"hold_of,omitempty"`
}

// StepView is one step of an approval's chain.
type StepView struct {
	ID    int64  `json:"id"`
	Index int    `json:"index"`
	Name  string `json:"name"`
	// Approvers and Fallback are approver references: "manager",
	// "hr_partner", "group:NAME", "user:ID".
	Approvers []string `json:"approvers"`
	Fallback  []string `json:"fallback"`
	// Mode is any, all or n_of; Required the approvals it needs.
	Mode     string `json:"mode"`
	Required int    `json:"required"`
	Status   string `json:"status"`
	// OnTimeout is escalate, deny or approve, after Timeout; the reminder
	// goes RemindBefore the step is due.
	OnTimeout    string     `json:"on_timeout"`
	Timeout      Duration   `json:"timeout"`
	RemindBefore Duration   `json:"remind_before"`
	DueAt        *time.Time `json:"due_at,omitempty"`
	RemindedAt   *time.Time `json:"reminded_at,omitempty"`
	Escalated    bool       `json:"escalated"`
	DecidedAt    *time.Time `json:"decided_at,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
}

// DecisionView is one person's decision on one step.
type DecisionView struct {
	ID        int64     `json:"id"`
	StepIndex int       `json:"step_index"`
	Approver  string    `json:"approver"`
	Decision  string    `json:"decision"`
	Reason    string    `json:"reason,omitempty"`
	Via       string    `json:"via,omitempty"`
	Principal string    `json:"principal,omitempty"`
	At        time.Time `json:"at"`
}

// ApprovalResponse is an approval with its chain: GET /api/v1/approvals
// (a list) and /{id}, and the answer of deciding, releasing and requesting
// an exception.
type ApprovalResponse struct {
	ID                 int64           `json:"id"`
	CaseID             int64           `json:"case_id"`
	Kind               string          `json:"kind"`
	Effect             string          `json:"effect"`
	Status             string          `json:"status"`
	Requester          string          `json:"requester"`
	RequesterName      string          `json:"requester_name,omitempty"`
	RequesterPrincipal string          `json:"requester_principal,omitempty"`
	Reason             string          `json:"reason,omitempty"`
	Request            ApprovalRequest `json:"request"`
	// Held names the actions held while the approval is pending.
	Held      []string   `json:"held"`
	Outcome   string     `json:"outcome,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`

	EmployeeID   string         `json:"employee_id"`
	EmployeeName string         `json:"employee_name"`
	Steps        []StepView     `json:"steps"`
	Decisions    []DecisionView `json:"decisions"`
	// Approvers are the HR ids who may decide the current step now.
	Approvers []string `json:"approvers"`
	// RoleApprovers are who the chain's role references ("manager",
	// "hr_partner") stand for, by reference.
	RoleApprovers map[string]string `json:"role_approvers,omitempty"`
	// ReasonRequired: approving the current step needs a reason.
	ReasonRequired bool `json:"reason_required,omitempty"`
}

// approvalResponse is the API's view of v.
func approvalResponse(v *engine.ApprovalView) ApprovalResponse {
	ap := v.Approval
	out := ApprovalResponse{
		ID: ap.ID, CaseID: ap.CaseID, Kind: ap.Kind, Effect: ap.Effect, Status: ap.Status, Requester: ap.Requester,
		RequesterName: v.RequesterName, RequesterPrincipal: ap.RequesterPrincipal, Reason: ap.Reason,
		Held: jsonList(ap.Held), Outcome: ap.Outcome, ExpiresAt: utcp(ap.ExpiresAt), DecidedAt: utcp(ap.DecidedAt),
		CreatedAt: utc(ap.CreatedAt), UpdatedAt: utc(ap.UpdatedAt),
		EmployeeID: v.EmployeeID, EmployeeName: v.EmployeeName, Steps: make([]StepView, 0, len(v.Steps)),
		Decisions: make([]DecisionView, 0, len(v.Decisions)), Approvers: slices.Clone(v.Approvers),
		RoleApprovers: v.RoleApprovers, ReasonRequired: v.ReasonRequired,
	}
	if ap.Request != "" {
		_ = json.Unmarshal([]byte(ap.Request), &out.Request)
	}
	if out.Approvers == nil {
		out.Approvers = []string{}
	}
	for _, s := range v.Steps {
		out.Steps = append(out.Steps, StepView{ID: s.ID, Index: s.Index, Name: s.Name, Approvers: jsonList(s.Approvers),
			Fallback: jsonList(s.Fallback), Mode: s.Mode, Required: s.Required, Status: s.Status, OnTimeout: s.OnTimeout,
			Timeout: Duration(s.Timeout), RemindBefore: Duration(s.RemindBefore), DueAt: utcp(s.DueAt),
			RemindedAt: utcp(s.RemindedAt), Escalated: s.Escalated, DecidedAt: utcp(s.DecidedAt),
			CreatedAt: utc(s.CreatedAt), UpdatedAt: utc(s.UpdatedAt)})
	}
	for _, d := range v.Decisions {
		out.Decisions = append(out.Decisions, DecisionView{ID: d.ID, StepIndex: d.StepIndex, Approver: d.Approver,
			Decision: d.Decision, Reason: d.Reason, Via: d.Via, Principal: d.Principal, At: utc(d.At)})
	}
	return out
}

// BatchCase is a case a mass-termination batch holds.
type BatchCase struct {
	ID           int64     `json:"id"`
	EmployeeID   string    `json:"employee_id"`
	EmployeeName string    `json:"employee_name"`
	Status       string    `json:"status"`
	Involuntary  bool      `json:"involuntary"`
	EffectiveAt  time.Time `json:"effective_at"`
}

// BatchResponse is a batch with its cases (GET /api/v1/batches, a list).
type BatchResponse struct {
	ID        int64       `json:"id"`
	Status    string      `json:"status"`
	Reason    string      `json:"reason"`
	DecidedBy string      `json:"decided_by,omitempty"`
	DecidedAt *time.Time  `json:"decided_at,omitempty"`
	CreatedAt time.Time   `json:"created_at"`
	UpdatedAt time.Time   `json:"updated_at"`
	Cases     []BatchCase `json:"cases"`
}

func batchResponse(b engine.BatchView) BatchResponse {
	out := BatchResponse{ID: b.ID, Status: b.Status, Reason: b.Reason, DecidedBy: b.DecidedBy, DecidedAt: utcp(b.DecidedAt),
		CreatedAt: utc(b.CreatedAt), UpdatedAt: utc(b.UpdatedAt), Cases: make([]BatchCase, 0, len(b.Cases))}
	for _, c := range b.Cases {
		out.Cases = append(out.Cases, BatchCase{ID: c.ID, EmployeeID: c.EmployeeID, EmployeeName: c.EmployeeName,
			Status: c.Status, Involuntary: c.Involuntary, EffectiveAt: utc(c.EffectiveAt)})
	}
	return out
}

// NoticeView is a notice to a receiving team (payroll, benefits) as the
// API shows it: the answer of POST /api/v1/notices/{id}/ack.
type NoticeView struct {
	ID       int64  `json:"id"`
	CaseID   int64  `json:"case_id"`
	ActionID int64  `json:"action_id"`
	Team     string `json:"team"`
	// Channel is email or webhook.
	Channel   string `json:"channel"`
	MessageID string `json:"message_id,omitempty"`
	// Recipients are the addresses the notice went to.
	Recipients      []string   `json:"recipients"`
	SentAt          time.Time  `json:"sent_at"`
	AcknowledgedBy  string     `json:"acknowledged_by,omitempty"`
	AcknowledgedAt  *time.Time `json:"acknowledged_at,omitempty"`
	AcknowledgedHow string     `json:"acknowledged_how,omitempty"`
	EscalatedLevel  int        `json:"escalated_level"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
}

func noticeView(n *store.Notice) NoticeView {
	return NoticeView{ID: n.ID, CaseID: n.CaseID, ActionID: n.ActionID, Team: n.Team, Channel: n.Channel, MessageID: n.MessageID,
		Recipients: splitList(n.Recipients), SentAt: utc(n.SentAt), AcknowledgedBy: n.AcknowledgedBy,
		AcknowledgedAt: utcp(n.AcknowledgedAt), AcknowledgedHow: n.AcknowledgedHow, EscalatedLevel: n.EscalatedLevel,
		CreatedAt: utc(n.CreatedAt), UpdatedAt: utc(n.UpdatedAt)}
}

// ReconcileRunView is one reconciliation scan.
type ReconcileRunView struct {
	ID int64 `json:"id"`
	// CaseID is 0 for an organization-wide scan.
	CaseID     int64      `json:"case_id"`
	Stage      string     `json:"stage"`
	Trigger    string     `json:"trigger"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Checked    int        `json:"checked"`
	Errors     int        `json:"errors"`
	Residuals  int        `json:"residuals"`
}

// ResidualView is one piece of access a reconciliation found in place.
type ResidualView struct {
	ID            int64      `json:"id"`
	RunID         int64      `json:"run_id"`
	CaseID        int64      `json:"case_id"`
	ActionID      int64      `json:"action_id,omitempty"`
	Kind          string     `json:"kind"`
	Connector     string     `json:"connector"`
	Operation     string     `json:"operation,omitempty"`
	Account       string     `json:"account,omitempty"`
	Detail        string     `json:"detail"`
	Status        string     `json:"status"`
	RemediationID int64      `json:"remediation_id,omitempty"`
	RemediatedBy  string     `json:"remediated_by,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     *time.Time `json:"updated_at,omitempty"`
	Simulated     bool       `json:"simulated,omitempty"`
}

func reconcileRunView(r store.ReconcileRun) ReconcileRunView {
	return ReconcileRunView{ID: r.ID, CaseID: r.CaseID, Stage: r.Stage, Trigger: r.Trigger, StartedAt: utc(r.StartedAt),
		FinishedAt: utcp(r.FinishedAt), Checked: r.Checked, Errors: r.Errors, Residuals: r.Residuals}
}

func residualView(r store.Residual) ResidualView {
	return ResidualView{ID: r.ID, RunID: r.RunID, CaseID: r.CaseID, ActionID: r.ActionID, Kind: r.Kind, Connector: r.Connector,
		Operation: r.Operation, Account: r.Account, Detail: r.Detail, Status: r.Status, RemediationID: r.RemediationID,
		RemediatedBy: r.RemediatedBy, CreatedAt: utc(r.CreatedAt), UpdatedAt: utcp(r.UpdatedAt), Simulated: r.Simulated}
}
