package identitycenter

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
	satypes "github.com/aws/aws-sdk-go-v2/service/ssoadmin/types"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/text"
)

func count(n int, word string) string { return fmt.Sprintf("%d %s", n, text.Plural(n, word)) }

func (c *Connector) checkOp(op string, o connectors.Operation) error {
	if connectors.Supports(Operations(c.cfg), o) {
		return nil
	}
	return connectors.NewError(connectors.KindInvalid, c.name, op,
		fmt.Errorf("operation %q is not supported by this AWS IAM Identity Center connector (supported: %s)", o, connectors.OperationNames(Operations(c.cfg))))
}

// outcome is one operation's changes, notes and failures.
type outcome struct {
	changed bool
	parts   []string
	data    map[string]string
	errs    []error
}

func (o *outcome) set(key string, vals []string) {
	if len(vals) == 0 {
		return
	}
	if o.data == nil {
		o.data = map[string]string{}
	}
	o.data[key] = strings.Join(vals, ",")
}

// Do performs one operation on the subject's identity store user. A
// failure on one assignment or membership does not stop the rest: the
// result records what was changed and the error joins every failure.
func (c *Connector) Do(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	op := string(req.Operation)
	if err := ctx.Err(); err != nil {
		return connectors.Result{}, connectors.NewError(connectors.KindCanceled, c.name, op, err)
	}
	if err := c.checkOp(op, req.Operation); err != nil {
		return connectors.Result{}, err
	}
	u, found, err := c.find(ctx, op, req)
	if err != nil {
		return connectors.Result{}, err
	}
	if !found {
		if req.Operation == connectors.OpDeactivateUser && strings.TrimSpace(req.Account) != "" {
			// Discovery found this user id and it is gone now: the
			// deletion already holds (a retry after DeleteUser).
			return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: req.Account, Detail: "Identity Center user " + req.Account + ": already deleted"}, nil
		}
		return connectors.Result{Outcome: connectors.OutcomeNoneFound, Detail: "no Identity Center user"}, nil
	}
	var o outcome
	var gone bool
	switch req.Operation {
	case connectors.OpDisableAccount:
		o, gone = c.removeAssignments(ctx, op, u)
	case connectors.OpRemoveGroupMemberships:
		o, gone = c.removeMemberships(ctx, op, req, u)
	case connectors.OpRevokeSessions:
		o, gone = c.revokeSessions(ctx, op, u)
	default:
		o, gone = c.deleteUser(ctx, op, u)
	}
	label := "Identity Center user " + u.name
	if gone {
		return connectors.Result{Outcome: connectors.OutcomeNoneFound, Detail: label + ": already deleted"}, nil
	}
	res := connectors.Result{Account: u.id, Data: o.data, Outcome: connectors.OutcomeAlreadyDone}
	if o.changed {
		res.Outcome = connectors.OutcomeDone
	}
	parts := o.parts
	if len(parts) == 0 && len(o.errs) == 0 {
		parts = []string{"nothing left to do"}
	}
	res.Detail = label + ": " + strings.Join(parts, "; ")
	return res, connectors.JoinErrors(c.name, op, o.errs)
}

// removeAssignments deletes every direct account assignment in scope.
// DeleteAccountAssignment is asynchronous: it answers with a request id
// and a status (usually IN_PROGRESS); the deletions are all started, then
// each is polled with DescribeAccountAssignmentDeletionStatus every
// poll_interval until SUCCEEDED or FAILED, for at most deletion_timeout.
// An assignment already gone (ResourceNotFoundException) is skipped.
// https://docs.aws.amazon.com/singlesignon/latest/APIReference/API_DeleteAccountAssignment.html
// https://docs.aws.amazon.com/singlesignon/latest/APIReference/API_DescribeAccountAssignmentDeletionStatus.html
func (c *Connector) removeAssignments(ctx context.Context, op string, u user) (outcome, bool) {
	var o outcome
	as, err := c.assignments(ctx, u)
	if isNotFound(err) {
		return o, true
	}
	if err != nil {
		o.errs = append(o.errs, c.classify(op, "listing account assignments", err))
		return o, false
	}
	type pending struct {
		a       assignment
		request string
	}
	var started []pending
	var removed []string
	viaGroups := 0
	for _, a := range as {
		if !a.direct {
			viaGroups++
			continue
		}
		if ctx.Err() != nil {
			o.errs = append(o.errs, c.classify(op, "", ctx.Err()))
			break
		}
		out, err := c.admin.DeleteAccountAssignment(ctx, &ssoadmin.DeleteAccountAssignmentInput{
			InstanceArn:      aws.String(c.cfg.InstanceARN),
			PermissionSetArn: aws.String(a.permissionSet),
			PrincipalId:      aws.String(u.id),
			PrincipalType:    satypes.PrincipalTypeUser,
			TargetId:         aws.String(a.account),
			TargetType:       satypes.TargetTypeAwsAccount,
		})
		switch {
		case isNotFound(err):
			continue
		case err != nil:
			o.errs = append(o.errs, c.classify(op, "deleting account assignment "+a.String(), err))
			continue
		}
		st := out.AccountAssignmentDeletionStatus
		if st == nil {
			o.errs = append(o.errs, connectors.NewError(connectors.KindTransient, c.name, op, fmt.Errorf("Identity Center: deleting account assignment %s: no deletion status in the answer", a)))
			continue
		}
		switch st.Status {
		case satypes.StatusValuesSucceeded:
			removed = append(removed, a.String())
		case satypes.StatusValuesFailed:
			o.errs = append(o.errs, deletionFailed(c, op, a, st))
		default:
			started = append(started, pending{a: a, request: aws.ToString(st.RequestId)})
		}
	}
	for _, p := range started {
		if err := c.awaitDeletion(ctx, op, p.a, p.request); err != nil {
			o.errs = append(o.errs, err)
			continue
		}
		removed = append(removed, p.a.String())
	}
	if len(removed) > 0 {
		o.changed = true
		o.parts = append(o.parts, count(len(removed), "account assignment")+" deleted")
		o.set("removed_assignments", removed)
	}
	if viaGroups > 0 {
		o.parts = append(o.parts, count(viaGroups, "assignment")+" through groups left to remove_group_memberships")
	}
	return o, false
}

// deletionFailed reports a FAILED deletion with AWS's reason. It is
// retryable: the reasons AWS gives (a concurrent change, the account's
// role being updated) clear, and a retry lists what is left.
func deletionFailed(c *Connector, op string, a assignment, st *satypes.AccountAssignmentOperationStatus) error {
	reason := strings.TrimSpace(aws.ToString(st.FailureReason))
	if reason == "" {
		reason = "no reason given"
	}
	return connectors.NewError(connectors.KindTransient, c.name, op,
		fmt.Errorf("Identity Center: deleting account assignment %s failed: %s", a, reason))
}

// awaitDeletion polls one deletion until it leaves IN_PROGRESS, at most
// deletion_timeout/poll_interval times.
func (c *Connector) awaitDeletion(ctx context.Context, op string, a assignment, request string) error {
	var waited time.Duration
	for {
		if waited >= c.bound {
			return connectors.NewError(connectors.KindTransient, c.name, op,
				fmt.Errorf("Identity Center: deleting account assignment %s: still in progress after %s (request %s); a retry checks again", a, c.bound, request))
		}
		if err := c.wait(ctx, c.poll); err != nil {
			return c.classify(op, "waiting for the deletion of "+a.String(), err)
		}
		waited += c.poll
		out, err := c.admin.DescribeAccountAssignmentDeletionStatus(ctx, &ssoadmin.DescribeAccountAssignmentDeletionStatusInput{
			InstanceArn: aws.String(c.cfg.InstanceARN), AccountAssignmentDeletionRequestId: aws.String(request),
		})
		if err != nil {
			return c.classify(op, "reading the deletion status of "+a.String(), err)
		}
		st := out.AccountAssignmentDeletionStatus
		if st == nil {
			continue
		}
		switch st.Status {
		case satypes.StatusValuesSucceeded:
			return nil
		case satypes.StatusValuesFailed:
			return deletionFailed(c, op, a, st)
		}
	}
}

// groupName reads a group's display name (DescribeGroup), for keep_groups
// given by name; "" when it cannot be read.
func (c *Connector) groupName(ctx context.Context, id string) (string, error) {
	out, err := c.store.DescribeGroup(ctx, &identitystore.DescribeGroupInput{IdentityStoreId: aws.String(c.cfg.IdentityStoreID), GroupId: aws.String(id)})
	if isNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return aws.ToString(out.DisplayName), nil
}

// kept reports whether membership m's group is kept; names are read
// (DescribeGroup) only when a keep list exists.
func (c *Connector) kept(ctx context.Context, keep []string, m membership) (bool, string, error) {
	if len(keep) == 0 {
		return false, m.group, nil
	}
	if slices.Contains(keep, strings.ToLower(m.group)) {
		return true, m.group, nil
	}
	name, err := c.groupName(ctx, m.group)
	if err != nil {
		return false, m.group, err
	}
	label := m.group
	if name != "" {
		label = name + " (" + m.group + ")"
	}
	return name != "" && slices.Contains(keep, strings.ToLower(name)), label, nil
}

// removeMemberships deletes every group membership except kept groups
// (DeleteGroupMembership). Each is tried even when another fails.
// https://docs.aws.amazon.com/singlesignon/latest/IdentityStoreAPIReference/API_DeleteGroupMembership.html
func (c *Connector) removeMemberships(ctx context.Context, op string, req connectors.Request, u user) (outcome, bool) {
	var o outcome
	ms, err := c.memberships(ctx, u)
	if isNotFound(err) {
		return o, true
	}
	if err != nil {
		o.errs = append(o.errs, c.classify(op, "listing group memberships", err))
		return o, false
	}
	keep := c.keepSet(req)
	var removed, kept []string
	for _, m := range ms {
		if ctx.Err() != nil {
			o.errs = append(o.errs, c.classify(op, "", ctx.Err()))
			break
		}
		k, label, err := c.kept(ctx, keep, m)
		if err != nil {
			o.errs = append(o.errs, c.classify(op, "reading group "+m.group, err))
			continue
		}
		if k {
			kept = append(kept, label)
			continue
		}
		_, err = c.store.DeleteGroupMembership(ctx, &identitystore.DeleteGroupMembershipInput{IdentityStoreId: aws.String(c.cfg.IdentityStoreID), MembershipId: aws.String(m.id)})
		switch {
		case err == nil:
			removed = append(removed, m.group)
		case !isNotFound(err):
			o.errs = append(o.errs, c.classify(op, "removing from group "+label, err))
		}
	}
	if len(removed) > 0 {
		o.changed = true
		o.parts = append(o.parts, "removed from "+count(len(removed), "group"))
		o.set("removed_groups", removed)
	}
	if len(kept) > 0 {
		o.parts = append(o.parts, "kept "+strings.Join(kept, ", "))
	}
	return o, false
}

// deleteUser deletes the user from the identity store (DeleteUser), which
// the instance offers only with delete_user. A user that carries an
// external id was provisioned from an identity provider (SCIM) and is
// refused as invalid: deactivate it at the provider.
// https://docs.aws.amazon.com/singlesignon/latest/IdentityStoreAPIReference/API_DeleteUser.html
func (c *Connector) deleteUser(ctx context.Context, op string, u user) (outcome, bool) {
	var o outcome
	if u.external {
		o.errs = append(o.errs, connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("Identity Center user %s was provisioned by an identity provider (it has an external id): not deleted here; deactivating it at the provider removes it through SCIM", u.name)))
		return o, false
	}
	_, err := c.store.DeleteUser(ctx, &identitystore.DeleteUserInput{IdentityStoreId: aws.String(c.cfg.IdentityStoreID), UserId: aws.String(u.id)})
	switch {
	case isNotFound(err):
		return o, true
	case err != nil:
		o.errs = append(o.errs, c.classify(op, "deleting the user", err))
		return o, false
	}
	// Read back: the user must be gone.
	_, err = c.store.DescribeUser(ctx, &identitystore.DescribeUserInput{IdentityStoreId: aws.String(c.cfg.IdentityStoreID), UserId: aws.String(u.id)})
	switch {
	case isNotFound(err):
		o.changed = true
		o.parts = append(o.parts, "deleted from the identity store")
		o.set("deleted_user", []string{u.id})
	case err != nil:
		o.errs = append(o.errs, c.classify(op, "reading back the deleted user", err))
	default:
		o.errs = append(o.errs, connectors.NewError(connectors.KindTransient, c.name, op, fmt.Errorf("Identity Center user %s still reads back after DeleteUser", u.name)))
	}
	return o, false
}

// Verify reads back the state the operation should have produced. No user
// verifies OK: there is nothing to revoke.
func (c *Connector) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	op := "verify " + string(req.Operation)
	if err := ctx.Err(); err != nil {
		return connectors.Verification{}, connectors.NewError(connectors.KindCanceled, c.name, op, err)
	}
	if err := c.checkOp(op, req.Operation); err != nil {
		return connectors.Verification{}, err
	}
	u, found, err := c.find(ctx, op, req)
	if err != nil {
		return connectors.Verification{}, err
	}
	if !found {
		return connectors.Verification{OK: true, Detail: "no Identity Center user"}, nil
	}
	label := "Identity Center user " + u.name
	switch req.Operation {
	case connectors.OpDisableAccount:
		as, err := c.assignments(ctx, u)
		if isNotFound(err) {
			return connectors.Verification{OK: true, Detail: label + ": deleted"}, nil
		}
		if err != nil {
			return connectors.Verification{}, c.classify(op, "listing account assignments", err)
		}
		var left []string
		for _, a := range as {
			if a.direct {
				left = append(left, a.String())
			}
		}
		if len(left) > 0 {
			return connectors.Verification{Detail: label + ": still assigned " + strings.Join(left, ", ")}, nil
		}
		return connectors.Verification{OK: true, Detail: label + ": no direct account assignment in scope"}, nil
	case connectors.OpRemoveGroupMemberships:
		ms, err := c.memberships(ctx, u)
		if isNotFound(err) {
			return connectors.Verification{OK: true, Detail: label + ": deleted"}, nil
		}
		if err != nil {
			return connectors.Verification{}, c.classify(op, "listing group memberships", err)
		}
		keep := c.keepSet(req)
		var left []string
		for _, m := range ms {
			k, l, err := c.kept(ctx, keep, m)
			if err != nil {
				return connectors.Verification{}, c.classify(op, "reading group "+m.group, err)
			}
			if !k {
				left = append(left, l)
			}
		}
		if len(left) > 0 {
			return connectors.Verification{Detail: label + ": still in " + strings.Join(left, ", ")}, nil
		}
		return connectors.Verification{OK: true, Detail: label + ": only kept groups left"}, nil
	case connectors.OpRevokeSessions:
		d, err := c.readDenyList(ctx, op)
		if err != nil {
			return connectors.Verification{}, err
		}
		if !slices.Contains(d.ids, u.id) {
			return connectors.Verification{Detail: label + ": not in service control policy " + c.cfg.DenyPolicyID}, nil
		}
		return connectors.Verification{OK: true, Detail: label + ": role sessions denied by service control policy " + c.cfg.DenyPolicyID}, nil
	default:
		// find answered from DescribeUser: the user still exists.
		return connectors.Verification{Detail: label + ": still in the identity store"}, nil
	}
}
