package bot

import (
	"time"

	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/store"
)

// The API's response bodies. The handlers write them and `kinetic`'s client
// commands (cli.go) read them, so both sides share one definition, as they
// share the request types (CreateCaseRequest, DecisionRequest, …).

// ErrorResponse is the body of every error answer: {"error": "…"}; a
// refused POST /api/v1/cases for an employee whose case is already open
// also names that case.
type ErrorResponse struct {
	Error string `json:"error"`
	// CaseID is the open case a POST /api/v1/cases collided with.
	CaseID int64 `json:"case_id,omitempty"`
}

// CaseResponse is a case as the API shows it: GET /api/v1/cases/{id}, and
// the answer of creating, cancelling and confirming one.
type CaseResponse struct {
	ID             int64      `json:"id"`
	EmployeeID     string     `json:"employee_id"`
	EmployeeEmail  string     `json:"employee_email"`
	EmployeeName   string     `json:"employee_name"`
	Trigger        string     `json:"trigger"`
	Requester      string     `json:"requester"`
	Reason         string     `json:"reason"`
	Involuntary    bool       `json:"involuntary"`
	Status         string     `json:"status"`
	EffectiveAt    time.Time  `json:"effective_at"`
	PolicyHash     string     `json:"policy_hash"`
	Summary        string     `json:"summary"`
	StartedAt      *time.Time `json:"started_at"`
	CriticalDoneAt *time.Time `json:"critical_done_at"`
	// RevokedAt is when access was fully revoked (every revocation
	// verified); ClosedAt when the case closed, which waits for manual
	// steps, equipment and notices too. OpenItems (GET only) lists what
	// an open case still waits for, and by when.
	RevokedAt *time.Time     `json:"revoked_at"`
	ClosedAt  *time.Time     `json:"closed_at"`
	OpenItems []OpenItemView `json:"open_items,omitzero"`
	CreatedAt time.Time      `json:"created_at"`
	Actions   []ActionView   `json:"actions"`
	// Equipment is the case's equipment tasks (GET only).
	Equipment []EquipmentView `json:"equipment,omitzero"`
	// Simulated is set on a case with actions on simulated systems
	// (sandbox connectors), which SimulatedConnectors names; each such
	// action carries "simulated": true. A real case has neither.
	Simulated           bool     `json:"simulated,omitempty"`
	SimulatedConnectors []string `json:"simulated_connectors,omitzero"`
	// Upgraded is set when an involuntary request found a voluntary case
	// already open: that case became involuntary and starts now.
	Upgraded bool `json:"upgraded,omitempty"`
	// ComplianceProfile names the policy's compliance profile that
	// applies; ComplianceDeadline is when every critical action must be
	// final, BreachedAt when a breach of it was raised.
	ComplianceProfile  string     `json:"compliance_profile,omitempty"`
	ComplianceDeadline *time.Time `json:"compliance_deadline,omitempty"`
	BreachedAt         *time.Time `json:"breached_at,omitempty"`
	// BatchID is the mass-termination batch that holds (or held) the case.
	BatchID *int64 `json:"batch_id,omitempty"`
}

// BatchDecisionResponse is the answer of approving or denying a batch.
type BatchDecisionResponse struct {
	ID     int64  `json:"id"`
	Status string `json:"status"`
	// Detail says what became of the batch, for people.
	Detail string `json:"detail"`
}

// ActionResponse is an action after an operation on it
// (POST /api/v1/actions/{id}/{op}).
type ActionResponse = ActionView

// caseResponse is the API's view of case c; eq, when not nil, is its
// equipment.
func caseResponse(c *store.Case, eq []store.EquipmentTask) CaseResponse {
	v := CaseResponse{
		ID: c.ID, EmployeeID: c.EmployeeID, EmployeeEmail: c.EmployeeEmail, EmployeeName: c.EmployeeName,
		Trigger: c.Trigger, Requester: c.Requester, Reason: c.Reason, Involuntary: c.Involuntary,
		Status: c.Status, EffectiveAt: utc(c.EffectiveAt), PolicyHash: c.PolicyHash, Summary: c.Summary,
		StartedAt: utcp(c.StartedAt), CriticalDoneAt: utcp(c.CriticalDoneAt), RevokedAt: utcp(c.RevokedAt),
		ClosedAt: utcp(c.ClosedAt), CreatedAt: utc(c.CreatedAt), Actions: actionViews(c.Actions),
		ComplianceProfile: c.ComplianceProfile, ComplianceDeadline: utcp(c.ComplianceDeadline), BreachedAt: utcp(c.BreachedAt),
		BatchID: c.BatchID,
	}
	if eq != nil {
		v.Equipment = make([]EquipmentView, 0, len(eq))
		for _, t := range eq {
			v.Equipment = append(v.Equipment, equipmentView(t))
		}
	}
	if sim := engine.SimulatedConnectors(c); sim != nil || c.Simulated {
		v.Simulated = true
		v.SimulatedConnectors = sim
		if sim == nil {
			v.SimulatedConnectors = []string{} // named, even when empty
		}
	}
	return v
}
