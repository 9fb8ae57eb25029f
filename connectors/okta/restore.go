package okta

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/kineticsec/kinetic/connectors"
)

// Restoring a rehire (connectors.Restorer), by Okta's user lifecycle:
//
//   - deactivate_user: a DEPROVISIONED (or STAGED) user is activated, POST
//     /api/v1/users/{id}/lifecycle/activate?sendEmail=true; a SUSPENDED one
//     unsuspended, POST …/lifecycle/unsuspend. Activation is asynchronous
//     and a user without a password completes it through the activation
//     email, so PROVISIONED (or transitioningToStatus ACTIVE) counts as
//     restored; sendEmail=true keeps the activation token out of Kinetic
//     (with false Okta returns it in the answer).
//     https://developer.okta.com/docs/api/openapi/okta-management/management/tag/UserLifecycle
//   - remove_group_memberships: the recorded group ids
//     (Data["removed_groups"]) are assigned again, PUT
//     /api/v1/groups/{groupId}/users/{userId} (204; repeating it is
//     harmless). https://developer.okta.com/docs/api/openapi/okta-management/management/tag/Group
//
// The status is read first, so no lifecycle call is made that Okta would
// refuse (E0000038) for the user's current status.

var _ connectors.Restorer = (*Connector)(nil)

// RestoresOperation reports whether Restore undoes op.
func (c *Connector) RestoresOperation(op connectors.Operation) bool {
	return op == connectors.OpDeactivateUser || op == connectors.OpRemoveGroupMemberships
}

// restored reports whether u is in a state the person can use (or will,
// once they follow the activation email).
func restored(u *user) bool {
	switch u.Status {
	case statusDeprovisioned, statusSuspended, statusStaged:
		return u.TransitioningToStatus == statusActive
	}
	return true
}

// Restore undoes req.Operation (see above). A user Okta no longer has is a
// KindNotFound error.
func (c *Connector) Restore(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	op := "restore " + string(req.Operation)
	switch req.Operation {
	case connectors.OpDeactivateUser:
		return c.reactivate(ctx, op, req)
	case connectors.OpRemoveGroupMemberships:
		return c.readdGroups(ctx, op, req)
	}
	return connectors.Result{}, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("cannot restore %q", req.Operation))
}

func (c *Connector) gone(op string) error {
	return connectors.NewError(connectors.KindNotFound, c.name, op, errors.New("the Okta user no longer exists: recreate it"))
}

func (c *Connector) reactivate(ctx context.Context, op string, req connectors.Request) (connectors.Result, error) {
	u, err := c.resolve(ctx, op, req)
	if err != nil {
		return connectors.Result{}, err
	}
	if u == nil {
		return connectors.Result{}, c.gone(op)
	}
	if restored(u) {
		return already(u, "user is "+u.Status), nil
	}
	action, q := "activate", url.Values{"sendEmail": {"true"}}
	if u.Status == statusSuspended {
		action, q = "unsuspend", nil
	}
	r, err := c.call(ctx, op, http.MethodPost, c.apiURL(q, "/api/v1/users/", u.ID, "/lifecycle/"+action))
	if err != nil {
		return connectors.Result{}, err
	}
	switch {
	case r.ok():
		return connectors.Result{Outcome: connectors.OutcomeDone, Account: u.ID,
			Detail: fmt.Sprintf("okta user %s: %s (was %s)", u.ID, action+"d", u.Status),
			Data:   map[string]string{"previous_status": u.Status}}, nil
	case r.status == http.StatusNotFound:
		return connectors.Result{}, c.gone(op)
	case r.status >= 400 && r.status < 500 && r.status != http.StatusUnauthorized && r.status != http.StatusTooManyRequests:
		// Restored concurrently (an admin, another worker)? Read again.
		if now, rerr := c.getUser(ctx, op, u.ID); rerr == nil && now != nil && restored(now) {
			return already(now, "user became "+now.Status+" concurrently"), nil
		}
	}
	return connectors.Result{}, c.httpError(op, r)
}

func (c *Connector) readdGroups(ctx context.Context, op string, req connectors.Request) (connectors.Result, error) {
	uid, found, err := c.userID(ctx, op, req)
	if err != nil {
		return connectors.Result{}, err
	}
	if !found {
		return connectors.Result{}, c.gone(op)
	}
	current, found, err := c.listGroups(ctx, op, uid)
	if err != nil {
		return connectors.Result{}, err
	}
	if !found {
		return connectors.Result{}, c.gone(op)
	}
	var added []string
	var failures []error
	for _, gid := range connectors.SplitList(req.Data[connectors.DataRemovedGroups]) {
		if slices.ContainsFunc(current, func(g group) bool { return g.ID == gid }) {
			continue
		}
		r, err := c.call(ctx, op, http.MethodPut, c.apiURL(nil, "/api/v1/groups/", gid, "/users/", uid))
		switch {
		case err != nil:
			failures = append(failures, fmt.Errorf("group %s: %w", gid, err))
		case r.ok():
			added = append(added, gid)
		default:
			failures = append(failures, fmt.Errorf("group %s: %w", gid, c.httpError(op, r)))
		}
		if ctx.Err() != nil {
			break
		}
	}
	res := connectors.Result{Account: uid, Outcome: connectors.OutcomeAlreadyDone, Detail: fmt.Sprintf("okta user %s: already in every restored group", uid)}
	if len(added) > 0 {
		res.Outcome, res.Detail = connectors.OutcomeDone, fmt.Sprintf("okta user %s: re-added to %s", uid, strings.Join(added, ", "))
		res.Data = map[string]string{"restored_groups": strings.Join(added, ",")}
	}
	if len(failures) > 0 {
		// The first failure's kind decides; every group is named.
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

// VerifyRestore reads the user again: usable (or activation sent), or a
// member of every restored group.
func (c *Connector) VerifyRestore(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	op := "verify restore " + string(req.Operation)
	if req.Operation == connectors.OpRemoveGroupMemberships {
		uid, found, err := c.userID(ctx, op, req)
		if err != nil || !found {
			return connectors.Verification{Detail: "no Okta user"}, err
		}
		groups, found, err := c.listGroups(ctx, op, uid)
		if err != nil || !found {
			return connectors.Verification{Detail: "no Okta user"}, err
		}
		var missing []string
		for _, gid := range connectors.SplitList(req.Data[connectors.DataRemovedGroups]) {
			if !slices.ContainsFunc(groups, func(g group) bool { return g.ID == gid }) {
				missing = append(missing, gid)
			}
		}
		if len(missing) > 0 {
			return connectors.Verification{Detail: "not in " + strings.Join(missing, ", ")}, nil
		}
		return connectors.Verification{OK: true, Detail: fmt.Sprintf("okta user %s: in every restored group", uid)}, nil
	}
	u, err := c.resolve(ctx, op, req)
	if err != nil {
		return connectors.Verification{}, err
	}
	if u == nil {
		return connectors.Verification{Detail: "no Okta user"}, nil
	}
	detail := "okta status=" + u.Status
	if u.TransitioningToStatus != "" {
		detail += " transitioning_to=" + u.TransitioningToStatus
	}
	return connectors.Verification{OK: restored(u), Detail: detail}, nil
}
