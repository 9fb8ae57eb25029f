package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/store"
	"gorm.io/gorm"
)

// Rehires: the compensations a closed case left to undo, and the restore request.

// Compensation says whether an action of a completed case can be undone.
type Compensation struct {
	Action    string `json:"action"`
	Connector string `json:"connector"`
	Operation string `json:"operation"`
	// Restorable is true when a compensating operation exists; Restore says
	// what it would do ("re-enable the account", "re-add groups: a,b").
	Restorable bool   `json:"restorable"`
	Restore    string `json:"restore"`
}

// compensations lists, per succeeded action, whether a compensating action
// exists (groundwork for undoing a mistaken case).
func compensations(acts []store.Action) []Compensation {
	var out []Compensation
	for _, a := range acts {
		if a.Status != store.ActionSucceeded {
			continue
		}
		c := Compensation{Action: a.Name, Connector: a.Connector, Operation: a.Operation}
		var data map[string]string
		_ = json.Unmarshal([]byte(a.ResultData), &data)
		switch a.Operation {
		case "disable_account", "deactivate_user", "revoke_vpn", "deactivate_badge":
			c.Restorable, c.Restore = true, "re-enable the account"
		case "remove_group_memberships":
			if g := data["removed_groups"]; g != "" {
				c.Restorable, c.Restore = true, "re-add groups: "+g
			} else {
				c.Restore = "no groups were recorded at removal"
			}
		case "revoke_sessions", "delete_access_keys":
			c.Restore = "not restorable: new sessions or keys are issued at sign-in"
		case "convert_mailbox", "set_forwarding":
			c.Restorable, c.Restore = true, "convert back / remove forwarding"
		case "delete_mailbox":
			c.Restore = "not restorable: deleted"
		default:
			c.Restore = "no compensating operation"
		}
		out = append(out, c)
	}
	return out
}

// requestRestore records a rehire after a completed case: a restore
// request, awaiting approval, listing per action whether a compensating
// action exists. Restoring itself is not automated yet.
func (e *Engine) requestRestore(ctx context.Context, emp *directory.Employee, who string, ev HREvent) (HRResult, error) {
	var last store.Case
	err := e.store.Conn(ctx).Preload("Actions").Where("employee_id = ? AND closed_at IS NOT NULL AND status <> ?", emp.ID, store.CaseCancelled).
		Order("id DESC").First(&last).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return HRResult{Outcome: HRIgnored, Detail: "no completed offboarding to restore"}, nil
	}
	if err != nil {
		return HRResult{}, err
	}
	comp := compensations(last.Actions)
	cj, _ := json.Marshal(comp)
	var ap store.Approval
	err = e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
		now := e.clock()
		var pending int64
		if err := tx.Model(&store.Approval{}).Where("case_id = ? AND kind = ? AND status = ?", last.ID, "restore", store.ApprovalPending).Count(&pending).Error; err != nil {
			return err
		}
		if pending > 0 {
			return fmt.Errorf("%w: a restore of case %d is already pending", ErrInvalidRequest, last.ID)
		}
		ap = store.Approval{CaseID: last.ID, Kind: "restore", Effect: effectRestore, Status: store.ApprovalPending, Requester: who,
			Reason: "rehired: " + ev.Reason, Request: string(cj), Held: "[]", CreatedAt: now, UpdatedAt: now}
		if err := tx.Create(&ap).Error; err != nil {
			return err
		}
		au.st.ApprovalStatus(last.ID, ap.ID, ap.Status)
		// The policy's "restore" chain decides; without one, the employee's
		// HR partner or manager does.
		chain := e.policy.Load().File.Chains["restore"]
		if chain == nil {
			chain = &configs.Chain{Steps: []*configs.ChainStep{{Name: "hr", Approvers: []string{configs.ApproverHRPartner, configs.ApproverManager}}}}
		}
		if _, err := e.createSteps(tx, &ap, chain, configs.Conditions{}, now); err != nil {
			return err
		}
		restorable := 0
		for _, c := range comp {
			if c.Restorable {
				restorable++
			}
		}
		au.add(store.Entry{Time: now, CaseID: last.ID, Actor: who, Event: "case.restore_requested", Result: "pending",
			Detail: fmt.Sprintf("rehire of %s: restore request %d; %d of %d actions have a compensating action", emp.ID, ap.ID, restorable, len(comp))})
		return nil
	})
	if err != nil {
		return HRResult{}, err
	}
	e.emit(Event{Kind: EventRestoreRequested, CaseID: last.ID, ApprovalID: ap.ID, Detail: fmt.Sprintf("%s (%s) rehired: restore request %d awaits approval", emp.Name, emp.ID, ap.ID), At: e.clock()})
	return HRResult{Outcome: HRRestoreRequested, CaseID: last.ID, Detail: fmt.Sprintf("restore request %d for case %d", ap.ID, last.ID)}, nil
}
