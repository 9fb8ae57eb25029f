// Package evidence builds the audit evidence reports auditors receive —
// one case's offboarding, or every offboarding in a period — renders them
// as HTML or PDF with the machine-readable evidence embedded, signs them
// with a detached Ed25519 signature, and verifies a report on its own:
// the signature over every byte of the file, then the embedded chain
// excerpt, event by event (store.VerifyExcerpt).
package evidence

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/store"
)

// Version names the evidence encoding.
const Version = "kinetic.evidence.v1"

// Evidence is the machine-readable content of a report; the HTML and PDF
// are rendered from it alone, and embed it.
type Evidence struct {
	Version     string    `json:"version"`
	Kind        string    `json:"kind"` // case or period
	GeneratedAt time.Time `json:"generated_at"`
	// Simulated is true when a case ran on sandbox connectors: nothing it
	// reports was done to a real system.
	Simulated bool          `json:"simulated,omitempty"`
	Case      *CaseReport   `json:"case,omitempty"`
	Period    *PeriodReport `json:"period,omitempty"`
	// Chain is the case's chain excerpt (case reports only).
	Chain *store.CaseChain `json:"chain,omitempty"`
	// Anchor is the latest head published outside the database when the
	// report was made (nil when no readable anchor sink is configured).
	Anchor *Anchor `json:"anchor,omitempty"`
}

// Anchor is an audit head recorded outside the database.
type Anchor struct {
	Seq  int64     `json:"seq"`
	Hash string    `json:"hash"`
	Time time.Time `json:"time"`
	Sink string    `json:"sink,omitempty"`
}

// Person is someone named in a report: the id Kinetic recorded and the
// name the directory gives it ("" when the directory does not know it).
type Person struct {
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
}

// String is "Name (id)", or the id alone.
func (p Person) String() string {
	if p.Name == "" {
		return p.ID
	}
	return p.Name + " (" + p.ID + ")"
}

// CaseReport is one offboarding.
type CaseReport struct {
	ID           int64     `json:"id"`
	Person       Person    `json:"person"`
	Requester    Person    `json:"requester"`
	OpenedBy     string    `json:"opened_by,omitempty"`
	Trigger      string    `json:"trigger"`
	Reason       string    `json:"reason,omitempty"`
	Involuntary  bool      `json:"involuntary"`
	Status       string    `json:"status"`
	EffectiveAt  time.Time `json:"effective_at"`
	PolicyHash   string    `json:"policy_hash"`
	RulesMatched []string  `json:"rules_matched,omitempty"`
	// RevokedAt is when the last critical action became final;
	// TimeToRevocation is from EffectiveAt to it.
	RevokedAt          *time.Time    `json:"revoked_at,omitempty"`
	TimeToRevocation   time.Duration `json:"time_to_revocation,omitempty"`
	RevocationSLA      time.Duration `json:"revocation_sla,omitempty"`
	SLAMet             *bool         `json:"sla_met,omitempty"`
	ComplianceProfile  string        `json:"compliance_profile,omitempty"`
	ComplianceDeadline *time.Time    `json:"compliance_deadline,omitempty"`
	BreachedAt         *time.Time    `json:"breached_at,omitempty"`
	ClosedAt           *time.Time    `json:"closed_at,omitempty"`
	Actions            []ActionRow   `json:"actions"`
	Approvals          []ApprovalRow `json:"approvals,omitempty"`
	Exceptions         []string      `json:"exceptions,omitempty"`
}

// ActionRow is one action as reported.
type ActionRow struct {
	ID           int64      `json:"id"`
	Name         string     `json:"name"`
	System       string     `json:"system"`
	Operation    string     `json:"operation"`
	Target       string     `json:"target,omitempty"`
	Phase        string     `json:"phase"`
	Status       string     `json:"status"`
	Outcome      string     `json:"outcome,omitempty"`
	Verified     bool       `json:"verified"`
	Verification string     `json:"verification,omitempty"`
	StartedAt    *time.Time `json:"started_at,omitempty"`
	FinishedAt   *time.Time `json:"finished_at,omitempty"`
	DueAt        *time.Time `json:"due_at,omitempty"`
	Actors       []Person   `json:"actors,omitempty"`
	Simulated    bool       `json:"simulated,omitempty"`
}

// ApprovalRow is one exception request and its decisions.
type ApprovalRow struct {
	ID        int64         `json:"id"`
	Kind      string        `json:"kind"`
	Effect    string        `json:"effect"`
	Status    string        `json:"status"`
	Requester Person        `json:"requester"`
	Reason    string        `json:"reason,omitempty"`
	Outcome   string        `json:"outcome,omitempty"`
	Decisions []DecisionRow `json:"decisions,omitempty"`
}

// DecisionRow is who decided, when, why and through which channel.
type DecisionRow struct {
	Approver  Person    `json:"approver"`
	Decision  string    `json:"decision"`
	Reason    string    `json:"reason,omitempty"`
	Via       string    `json:"via,omitempty"`
	Principal string    `json:"principal,omitempty"`
	At        time.Time `json:"at"`
}

// PeriodReport lists every offboarding effective in [From, To).
type PeriodReport struct {
	From  time.Time   `json:"from"`
	To    time.Time   `json:"to"`
	Cases []PeriodRow `json:"cases"`
	// Breaches counts cases past their compliance deadline or SLA.
	Breaches int `json:"breaches"`
	// Residuals counts the residual access reconciliation found for the
	// period's cases after they closed.
	Residuals int `json:"residuals"`
}

// PeriodRow is one case in a period report.
type PeriodRow struct {
	ID               int64         `json:"id"`
	Person           Person        `json:"person"`
	Trigger          string        `json:"trigger"`
	Status           string        `json:"status"`
	EffectiveAt      time.Time     `json:"effective_at"`
	TimeToRevocation time.Duration `json:"time_to_revocation,omitempty"`
	Revoked          bool          `json:"revoked"`
	Breached         bool          `json:"breached"`
	Exceptions       int           `json:"exceptions"`
	// Residuals is the residual access reconciliation found after the
	// case closed (every scan; kinetic reconcile, docs/reconciliation.md).
	Residuals int  `json:"residuals"`
	Simulated bool `json:"simulated,omitempty"`
}

// Names resolves the ids Kinetic records (HR ids, "slack:U…", "teams:…",
// "api:client", "kinetic") to the people they are.
type Names struct {
	Dir   directory.Directory
	cache map[string]Person
}

// Person resolves id; unknown ids keep their id alone, never an error.
func (n *Names) Person(ctx context.Context, id string) Person {
	if p, ok := n.cache[id]; ok {
		return p
	}
	p := Person{ID: id}
	if n.Dir != nil && id != "" && id != "kinetic" {
		var (
			e   *directory.Employee
			err error
		)
		if kind, rest, ok := strings.Cut(id, ":"); ok && (kind == "slack" || kind == "teams") {
			e, err = n.Dir.ByChatUserID(ctx, rest)
		} else if strings.Contains(id, "@") {
			e, err = n.Dir.ByEmail(ctx, id)
		} else if !ok {
			e, err = n.Dir.ByID(ctx, id)
		}
		if err == nil && e != nil {
			p.Name, p.Email = e.Name, e.Email
		}
	}
	if id == "kinetic" {
		p.Name = "Kinetic (automated)"
	}
	if n.cache == nil {
		n.cache = map[string]Person{}
	}
	n.cache[id] = p
	return p
}

// rulesRE reads the rules from the case.planned event's detail.
var rulesRE = regexp.MustCompile(`rules ([^;]*);`)

// BuildCase gathers caseID's report. sla is the policy's target time from
// effective to full revocation (0: none configured).
func BuildCase(ctx context.Context, st *store.Store, names *Names, caseID int64, sla time.Duration, anchor *Anchor, now time.Time) (*Evidence, error) {
	c, err := st.CaseWithActions(ctx, caseID)
	if err != nil {
		return nil, err
	}
	chain, err := st.CaseChain(ctx, caseID)
	if err != nil {
		return nil, err
	}
	aps, ds, err := st.CaseApprovals(ctx, caseID)
	if err != nil {
		return nil, err
	}
	cr := &CaseReport{
		ID: c.ID, Person: Person{ID: c.EmployeeID, Name: c.EmployeeName, Email: c.EmployeeEmail},
		Requester: names.Person(ctx, c.Requester), OpenedBy: c.OpenedBy, Trigger: c.Trigger, Reason: c.Reason,
		Involuntary: c.Involuntary, Status: c.Status, EffectiveAt: c.EffectiveAt.UTC(), PolicyHash: c.PolicyHash,
		RevokedAt: utcPtr(c.CriticalDoneAt), ComplianceProfile: c.ComplianceProfile,
		ComplianceDeadline: utcPtr(c.ComplianceDeadline), BreachedAt: utcPtr(c.BreachedAt), ClosedAt: utcPtr(c.ClosedAt),
		RevocationSLA: sla,
	}
	if cr.Person.Name == "" {
		cr.Person = names.Person(ctx, c.EmployeeID)
	}
	actors := map[int64][]string{}
	for _, e := range chain.Events {
		if e.Event == "case.planned" {
			if m := rulesRE.FindStringSubmatch(e.Detail); m != nil && m[1] != "" {
				cr.RulesMatched = strings.Split(m[1], ",")
			}
		}
		if e.ActionID != 0 && e.Actor != "" && !slices.Contains(actors[e.ActionID], e.Actor) {
			actors[e.ActionID] = append(actors[e.ActionID], e.Actor)
		}
	}
	if cr.RevokedAt != nil {
		cr.TimeToRevocation = cr.RevokedAt.Sub(cr.EffectiveAt)
		if sla > 0 {
			met := cr.TimeToRevocation <= sla
			cr.SLAMet = &met
		}
	}
	ev := &Evidence{Version: Version, Kind: "case", GeneratedAt: now.UTC().Truncate(time.Second), Simulated: c.Simulated, Case: cr, Chain: chain, Anchor: anchor}
	for _, a := range c.Actions {
		row := ActionRow{ID: a.ID, Name: a.Name, System: a.Connector, Operation: a.Operation, Target: a.TargetAccount,
			Phase: a.PhaseName, Status: a.Status, Outcome: a.Outcome, Verified: a.Verified, Verification: a.Verification,
			StartedAt: utcPtr(a.StartedAt), FinishedAt: utcPtr(a.FinishedAt), DueAt: utcPtr(a.DueAt), Simulated: a.Simulated}
		for _, id := range actors[a.ID] {
			row.Actors = append(row.Actors, names.Person(ctx, id))
		}
		if a.Simulated {
			ev.Simulated = true
		}
		cr.Actions = append(cr.Actions, row)
		switch a.Status {
		case store.ActionFailed, store.ActionCancelled:
			cr.Exceptions = append(cr.Exceptions, fmt.Sprintf("action %s (%s %s): %s %s", a.Name, a.Connector, a.Operation, a.Status, a.LastError))
		}
	}
	for _, ap := range aps {
		row := ApprovalRow{ID: ap.ID, Kind: ap.Kind, Effect: ap.Effect, Status: ap.Status, Requester: names.Person(ctx, ap.Requester), Reason: ap.Reason, Outcome: ap.Outcome}
		for _, d := range ds {
			if d.ApprovalID == ap.ID {
				row.Decisions = append(row.Decisions, DecisionRow{Approver: names.Person(ctx, d.Approver), Decision: d.Decision, Reason: d.Reason, Via: d.Via, Principal: d.Principal, At: d.At.UTC()})
			}
		}
		cr.Approvals = append(cr.Approvals, row)
		cr.Exceptions = append(cr.Exceptions, fmt.Sprintf("exception %s (%s): %s", ap.Kind, ap.Effect, ap.Status))
	}
	return ev, nil
}

// BuildPeriod gathers every case effective in [from, to).
func BuildPeriod(ctx context.Context, st *store.Store, names *Names, from, to time.Time, sla time.Duration, anchor *Anchor, now time.Time) (*Evidence, error) {
	if !to.After(from) {
		return nil, errors.New("evidence: the period's end must be after its start")
	}
	cs, err := st.CasesEffectiveBetween(ctx, from, to)
	if err != nil {
		return nil, err
	}
	pr := &PeriodReport{From: from.UTC(), To: to.UTC(), Cases: []PeriodRow{}}
	ev := &Evidence{Version: Version, Kind: "period", GeneratedAt: now.UTC().Truncate(time.Second), Period: pr, Anchor: anchor}
	for _, c := range cs {
		row := PeriodRow{ID: c.ID, Person: Person{ID: c.EmployeeID, Name: c.EmployeeName}, Trigger: c.Trigger, Status: c.Status, EffectiveAt: c.EffectiveAt.UTC(), Simulated: c.Simulated}
		if row.Person.Name == "" {
			row.Person = names.Person(ctx, c.EmployeeID)
		}
		if c.CriticalDoneAt != nil {
			row.Revoked, row.TimeToRevocation = true, c.CriticalDoneAt.Sub(c.EffectiveAt)
		}
		row.Breached = c.BreachedAt != nil || (sla > 0 && row.Revoked && row.TimeToRevocation > sla) ||
			(c.ComplianceDeadline != nil && c.CriticalDoneAt != nil && c.CriticalDoneAt.After(*c.ComplianceDeadline))
		if row.Breached {
			pr.Breaches++
		}
		for _, a := range c.Actions {
			switch a.Status {
			case store.ActionFailed, store.ActionCancelled:
				row.Exceptions++
			}
			if a.Simulated {
				row.Simulated = true
			}
		}
		aps, _, err := st.CaseApprovals(ctx, c.ID)
		if err != nil {
			return nil, err
		}
		row.Exceptions += len(aps)
		res, err := st.CaseResidualCount(ctx, c.ID)
		if err != nil {
			return nil, err
		}
		row.Residuals = int(res)
		pr.Residuals += row.Residuals
		if row.Simulated {
			ev.Simulated = true
		}
		pr.Cases = append(pr.Cases, row)
	}
	return ev, nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
