package sandbox

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/text"
)

// Restoring a rehire: the simulated systems undo a disable, a
// deactivation, a VPN or badge revocation and a group removal.

var _ connectors.Restorer = (*Connector)(nil)

// RestoresOperation reports whether Restore undoes op here: the account
// states and the recorded group removals; sessions and keys are issued
// anew at sign-in and are not restored.
func (c *Connector) RestoresOperation(op connectors.Operation) bool {
	switch op {
	case connectors.OpDisableAccount, connectors.OpDeactivateUser, connectors.OpRevokeVPN,
		connectors.OpDeactivateBadge, connectors.OpRemoveGroupMemberships:
		return connectors.Supports(c.ops, op)
	}
	return false
}

// Restore undoes req.Operation on the target accounts: an account is made
// active again (a badge's zones reactivated), the groups in
// req.Data["removed_groups"] added back. A state that already holds is
// OutcomeAlreadyDone; a subject without an account is a KindNotFound error
// (nothing to restore: it must be recreated).
func (c *Connector) Restore(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	op := "restore " + string(req.Operation)
	if err := c.begin(ctx, op, req.Subject, req.Account); err != nil {
		return connectors.Result{}, err
	}
	if !c.RestoresOperation(req.Operation) {
		return connectors.Result{}, connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("the %s sandbox cannot restore %q", c.system, req.Operation))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	accts := c.targets(req)
	if len(accts) == 0 {
		return connectors.Result{}, connectors.NewError(connectors.KindNotFound, c.name, op, fmt.Errorf("no account to restore"))
	}
	var changed, details []string
	data := map[string]string{}
	for _, a := range accts {
		var change string
		switch req.Operation {
		case connectors.OpRemoveGroupMemberships:
			var added []string
			for _, g := range connectors.SplitList(req.Data[connectors.DataRemovedGroups]) {
				if !slices.Contains(a.Groups, g) {
					a.Groups = append(a.Groups, g)
					added = append(added, g)
				}
			}
			if len(added) > 0 {
				change = fmt.Sprintf("re-added %s %s", text.Plural(len(added), "group"), strings.Join(added, ", "))
				data["restored_groups"] = joinData(data["restored_groups"], strings.Join(added, ","))
			}
		default:
			var parts []string
			for i := range a.zones {
				if !a.zones[i].active {
					a.zones[i].active = true
					parts = append(parts, "zone "+a.zones[i].name+" reactivated")
				}
			}
			if a.Status != connectors.StatusActive {
				parts = append(parts, fmt.Sprintf("status %s->%s", a.Status, connectors.StatusActive))
				a.Status = connectors.StatusActive
			}
			change = strings.Join(parts, "; ")
		}
		if change != "" {
			c.effect(connectors.Operation(op), a.ID, change)
			changed = append(changed, a.ID)
			details = append(details, a.ID+": "+change)
		}
	}
	res := connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: accts[0].ID, Detail: "already restored"}
	if len(changed) > 0 {
		res.Outcome, res.Detail = connectors.OutcomeDone, strings.Join(details, "; ")
	}
	if len(data) > 0 {
		res.Data = data
	}
	return res, nil
}

// VerifyRestore reads back that the restored state holds: every target
// account active, every recorded group a membership again.
func (c *Connector) VerifyRestore(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	op := "verify restore " + string(req.Operation)
	if err := c.begin(ctx, op, req.Subject, req.Account); err != nil {
		return connectors.Verification{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	accts := c.targets(req)
	if len(accts) == 0 {
		return connectors.Verification{OK: false, Detail: "no account"}, nil
	}
	ok := true
	var details []string
	for _, a := range accts {
		switch req.Operation {
		case connectors.OpRemoveGroupMemberships:
			for _, g := range connectors.SplitList(req.Data[connectors.DataRemovedGroups]) {
				ok = ok && slices.Contains(a.Groups, g)
			}
			details = append(details, fmt.Sprintf("%s: groups=[%s]", a.ID, strings.Join(a.Groups, ",")))
		default:
			ok = ok && a.Status == connectors.StatusActive
			details = append(details, fmt.Sprintf("%s: status=%s", a.ID, a.Status))
		}
	}
	return connectors.Verification{OK: ok, Detail: strings.Join(details, "; ")}, nil
}
