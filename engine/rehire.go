package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/kineticsec/kinetic/connectors"
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
	// Automatic: the connector restores the operation itself
	// (connectors.Restorer); otherwise a restorable action becomes a
	// manual step.
	Automatic bool `json:"automatic"`
}

// compensations lists, per succeeded action, whether a compensating action
// exists and whether the connector runs it. Restore actions themselves and
// manual steps are not listed.
func (e *Engine) compensations(acts []store.Action) []Compensation {
	var out []Compensation
	for _, a := range acts {
		if a.Status != store.ActionSucceeded || a.Manual || IsRestoreAction(&a) {
			continue
		}
		c := Compensation{Action: a.Name, Connector: a.Connector, Operation: a.Operation}
		var data map[string]string
		_ = json.Unmarshal([]byte(a.ResultData), &data)
		switch a.Operation {
		case "disable_account", "deactivate_user", "revoke_vpn":
			c.Restorable, c.Restore = true, "re-enable the account"
		case "deactivate_badge":
			c.Restorable, c.Restore = true, "re-issue the badge"
		case "remove_group_memberships":
			if g := data[connectors.DataRemovedGroups]; g != "" {
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
		if c.Restorable && a.Outcome != string(connectors.OutcomeNoneFound) {
			if in, ok := e.reg.Get(a.Connector); ok {
				if r, ok := in.Connector.(connectors.Restorer); ok && r.RestoresOperation(connectors.Operation(a.Operation)) {
					c.Automatic = true
				}
			}
		}
		if c.Restorable && a.Outcome == string(connectors.OutcomeNoneFound) {
			c.Restorable, c.Restore = false, "nothing was found to revoke"
		}
		out = append(out, c)
	}
	return out
}

// requestRestore records a rehire after a completed case: a restore
// request, awaiting approval, listing per action whether a compensating
// action exists (see restore.go for what approving it runs).
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
	var ap store.Approval
	err = e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
		var err error
		ap, err = e.openRestore(tx, au, &last, last.Actions, who, "rehired: "+ev.Reason)
		return err
	})
	if err != nil {
		return HRResult{}, err
	}
	e.emit(Event{Kind: EventRestoreRequested, CaseID: last.ID, ApprovalID: ap.ID, Detail: fmt.Sprintf("%s (%s) rehired: restore request %d awaits approval", emp.Name, emp.ID, ap.ID), At: e.clock()})
	return HRResult{Outcome: HRRestoreRequested, CaseID: last.ID, Detail: fmt.Sprintf("restore request %d for case %d", ap.ID, last.ID)}, nil
}
