package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/kineticsec/kinetic/connectors"
)

// Restoring a rehire (connectors.Restorer):
//
//   - disable_account: PATCH /users/{id} {"accountEnabled": true}
//     (https://learn.microsoft.com/en-us/graph/api/user-update; permission
//     User.EnableDisableAccount.All), after reading the user, so an enabled
//     user needs no PATCH. For a user synced from on-premises AD the cloud
//     change lasts until the next sync: AD is the source, and its restore
//     is what holds (the Detail says so).
//   - remove_group_memberships: POST /groups/{gid}/members/$ref
//     {"@odata.id": "<graph>/directoryObjects/{uid}"} for every group in
//     Data["removed_groups"] the user is not in again
//     (https://learn.microsoft.com/en-us/graph/api/group-post-members;
//     GroupMember.ReadWrite.All). Graph answers 400 when the member is
//     already there; memberOf is read again, and such a group counts as
//     restored only when it lists the user.

var _ connectors.Restorer = (*Connector)(nil)

// RestoresOperation reports whether Restore undoes op.
func (c *Connector) RestoresOperation(op connectors.Operation) bool {
	return op == connectors.OpDisableAccount || op == connectors.OpRemoveGroupMemberships
}

// Restore undoes req.Operation (see above). A user Graph no longer has is a
// KindNotFound error (a deleted user is restored from the recycle bin by
// hand, if at all).
func (c *Connector) Restore(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	op := "restore " + string(req.Operation)
	gone := connectors.NewError(connectors.KindNotFound, c.name, op, errors.New("the user no longer exists in Entra ID"))
	switch req.Operation {
	case connectors.OpDisableAccount:
		u, err := c.findUser(ctx, op, req, selDisable)
		if isNotFound(err) || err == nil && u == nil {
			return connectors.Result{}, gone
		}
		if err != nil {
			return connectors.Result{}, err
		}
		res := connectors.Result{Account: u.ID, Outcome: connectors.OutcomeAlreadyDone, Detail: "already enabled (accountEnabled=true)"}
		if !u.enabled() {
			_, err := c.call(ctx, op, apiRequest{method: http.MethodPatch, path: "/users/" + seg(u.ID), body: map[string]bool{"accountEnabled": true}}, nil)
			if isNotFound(err) {
				return connectors.Result{}, gone
			}
			if err != nil {
				return connectors.Result{}, needs(err, PermDisableAccount)
			}
			res.Outcome, res.Detail = connectors.OutcomeDone, "sign-in allowed (accountEnabled false->true)"
		}
		if u.synced() {
			res.Detail += "; synced from on-premises AD: the AD account's state is what the next sync keeps"
		}
		return res, nil
	case connectors.OpRemoveGroupMemberships:
		return c.readdGroups(ctx, op, req, gone)
	}
	return connectors.Result{}, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("cannot restore %q", req.Operation))
}

func (c *Connector) readdGroups(ctx context.Context, op string, req connectors.Request, gone error) (connectors.Result, error) {
	uid, err := c.userID(ctx, op, req)
	if err != nil {
		return connectors.Result{}, err
	}
	if uid == "" {
		return connectors.Result{}, gone
	}
	current, err := c.memberOf(ctx, op, uid)
	if isNotFound(err) {
		return connectors.Result{}, gone
	}
	if err != nil {
		return connectors.Result{}, err
	}
	in := func(gs []group, id string) bool {
		return slices.ContainsFunc(gs, func(g group) bool { return g.ID == id })
	}
	ref := map[string]string{"@odata.id": strings.TrimSuffix(c.graphBase.String(), "/") + "/directoryObjects/" + uid}
	type failure struct {
		gid     string
		err     error
		recheck bool // a 400: perhaps a member already
	}
	var added []string
	var failed []failure
	for _, gid := range connectors.SplitList(req.Data[connectors.DataRemovedGroups]) {
		if in(current, gid) {
			continue
		}
		resp, err := c.call(ctx, op, apiRequest{method: http.MethodPost, path: "/groups/" + seg(gid) + "/members/$ref", body: ref}, nil)
		switch {
		case err == nil:
			added = append(added, gid)
		case resp != nil && resp.status == http.StatusBadRequest:
			failed = append(failed, failure{gid, err, true})
		default:
			failed = append(failed, failure{gid, needs(err, PermGroupMember), false})
		}
		if ctx.Err() != nil {
			return connectors.Result{}, connectors.NewError(connectors.KindTransient, c.name, op, ctx.Err())
		}
	}
	if slices.ContainsFunc(failed, func(f failure) bool { return f.recheck }) {
		if now, err := c.memberOf(ctx, op, uid); err == nil {
			failed = slices.DeleteFunc(failed, func(f failure) bool { return f.recheck && in(now, f.gid) })
		}
	}
	var failures []error
	for _, f := range failed {
		failures = append(failures, fmt.Errorf("group %s: %w", f.gid, f.err))
	}
	res := connectors.Result{Account: uid, Outcome: connectors.OutcomeAlreadyDone, Detail: "already a member of every restored group"}
	if len(added) > 0 {
		res.Outcome, res.Detail = connectors.OutcomeDone, fmt.Sprintf("re-added to %d groups: %s", len(added), strings.Join(added, ", "))
		res.Data = map[string]string{"restored_groups": strings.Join(added, ",")}
	}
	if len(failures) > 0 {
		joined := errors.Join(failures...)
		var ce *connectors.Error
		if errors.As(joined, &ce) {
			cp := *ce
			cp.Err = joined
			return res, &cp
		}
		return res, connectors.NewError(connectors.KindTransient, c.name, op, joined)
	}
	return res, nil
}

// VerifyRestore reads the user again: sign-in allowed, or a member of
// every restored group.
func (c *Connector) VerifyRestore(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	op := "verify restore " + string(req.Operation)
	if req.Operation == connectors.OpDisableAccount {
		u, err := c.findUser(ctx, op, req, selDisable)
		if isNotFound(err) || err == nil && u == nil {
			return connectors.Verification{Detail: "no user"}, nil
		}
		if err != nil {
			return connectors.Verification{}, err
		}
		return connectors.Verification{OK: u.enabled(), Detail: fmt.Sprintf("accountEnabled=%t upn=%s", u.enabled(), u.UserPrincipalName)}, nil
	}
	uid, err := c.userID(ctx, op, req)
	if err != nil || uid == "" {
		return connectors.Verification{Detail: "no user"}, err
	}
	now, err := c.memberOf(ctx, op, uid)
	if err != nil {
		return connectors.Verification{}, err
	}
	var missing []string
	for _, gid := range connectors.SplitList(req.Data[connectors.DataRemovedGroups]) {
		if !slices.ContainsFunc(now, func(g group) bool { return g.ID == gid }) {
			missing = append(missing, gid)
		}
	}
	if len(missing) > 0 {
		return connectors.Verification{Detail: "not a member of " + strings.Join(missing, ", ")}, nil
	}
	return connectors.Verification{OK: true, Detail: "member of every restored group"}, nil
}
