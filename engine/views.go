package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/engine/view"
	"github.com/kineticsec/kinetic/store"
)

// Read views the front ends render: approvals and mass-termination batches.

// ErrNotFound is returned for a case, approval or batch id that does not
// exist.
var ErrNotFound = errors.New("not found")

// ApprovalView is an approval with its steps and decisions (view.ApprovalView).
type ApprovalView = view.ApprovalView

// Approval returns one approval with its steps and decisions.
func (e *Engine) Approval(ctx context.Context, id int64) (*ApprovalView, error) {
	var ap store.Approval
	if err := e.store.Conn(ctx).First(&ap, id).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, fmt.Errorf("%w: approval %d", ErrNotFound, id)
		}
		return nil, err
	}
	return e.view(ctx, ap)
}

func (e *Engine) view(ctx context.Context, ap store.Approval) (*ApprovalView, error) {
	db := e.store.Conn(ctx)
	v := &ApprovalView{Approval: ap}
	var err error
	if v.Steps, err = store.ApprovalSteps(db, ap.ID); err != nil {
		return nil, err
	}
	if v.Decisions, err = store.ApprovalDecisions(db, ap.ID); err != nil {
		return nil, err
	}
	var c store.Case
	if err := db.First(&c, ap.CaseID).Error; err == nil {
		v.EmployeeID, v.EmployeeName = c.EmployeeID, c.EmployeeName
	}
	if p, err := e.dir.ByID(ctx, ap.Requester); err == nil {
		v.RequesterName = p.Name
	}
	emp, empErr := e.snapshot(db, ap.CaseID)
	if empErr == nil {
		for ref, id := range map[string]string{configs.ApproverManager: emp.Manager, configs.ApproverHRPartner: emp.HRPartner} {
			if id != "" {
				if v.RoleApprovers == nil {
					v.RoleApprovers = map[string]string{}
				}
				v.RoleApprovers[ref] = id
			}
		}
	}
	if cur := currentStep(v.Steps); cur != nil && ap.Status == store.ApprovalPending {
		v.ReasonRequired = stepNeedsReason(e.policy.Load(), &ap, cur.Index)
		decided := map[string]bool{}
		for _, d := range v.Decisions {
			if d.StepIndex == cur.Index {
				decided[d.Approver] = true
			}
		}
		if empErr == nil {
			for _, id := range e.resolve(emp, refsOf(cur)) {
				if id != ap.Requester && id != c.EmployeeID && !decided[id] {
					v.Approvers = append(v.Approvers, id)
				}
			}
		}
	}
	return v, nil
}

// Approvals lists approvals (status "" = any), newest first; with forUser
// set, only pending ones that person may decide now.
func (e *Engine) Approvals(ctx context.Context, status, forUser string, caseID int64) ([]ApprovalView, error) {
	if forUser != "" && status == "" {
		status = store.ApprovalPending
	}
	aps, err := e.store.Approvals(ctx, status, caseID, 500)
	if err != nil {
		return nil, err
	}
	var out []ApprovalView
	for _, ap := range aps {
		v, err := e.view(ctx, ap)
		if err != nil {
			return nil, err
		}
		if forUser != "" && !slices.Contains(v.Approvers, forUser) {
			continue
		}
		out = append(out, *v)
	}
	return out, nil
}

func describe(f exceptionFields) string {
	var parts []string
	if f.ForwardTo != "" {
		parts = append(parts, "to "+f.ForwardTo)
	}
	if f.Days > 0 {
		parts = append(parts, fmt.Sprintf("for %d days", f.Days))
	}
	if f.Action != "" {
		parts = append(parts, "of "+f.Action)
	}
	return strings.Join(parts, " ")
}

func whenStr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return " at " + t.Format(time.RFC3339)
}

// BatchView is a held batch with its cases.
type BatchView struct {
	store.Batch
	Cases []store.Case `json:"cases"`
}

// Batches lists batches (status "" = any), newest first, with their cases.
func (e *Engine) Batches(ctx context.Context, status string) ([]BatchView, error) {
	q := e.store.Conn(ctx).Order("id DESC").Limit(100)
	if status != "" {
		q = q.Where("status = ?", status)
	}
	var bs []store.Batch
	if err := q.Find(&bs).Error; err != nil {
		return nil, err
	}
	out := make([]BatchView, 0, len(bs))
	for _, b := range bs {
		v := BatchView{Batch: b}
		if err := e.store.Conn(ctx).Where("batch_id = ?", b.ID).Order("id").Find(&v.Cases).Error; err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Summary renders a case's actions as "name: status" lines, for the CLI.
// An action on a simulated system says "(simulated)" after its status, and
// a simulated case starts with a line saying which connectors simulated
// their systems.
func Summary(c *store.Case) string {
	acts := append([]store.Action(nil), c.Actions...)
	sort.Slice(acts, func(i, j int) bool {
		if acts[i].Phase != acts[j].Phase {
			return acts[i].Phase < acts[j].Phase
		}
		return acts[i].Name < acts[j].Name
	})
	var b strings.Builder
	switch sim := SimulatedConnectors(c); {
	case sim != nil:
		fmt.Fprintf(&b, "  SIMULATED: sandbox connectors %s simulate their systems; nothing real was done there\n", strings.Join(sim, ", "))
	case c.Simulated:
		b.WriteString("  SIMULATED: this case ran on sandbox simulations; nothing real was done\n")
	}
	for _, a := range acts {
		status := a.Status
		if a.Simulated {
			status += " (simulated)"
		}
		fmt.Fprintf(&b, "  %-28s %-10s %s\n", a.Name, status, firstNonEmpty(a.Verification, a.LastError, a.BlockedReason, a.Detail))
	}
	return b.String()
}
