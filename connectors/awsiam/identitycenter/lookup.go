package identitycenter

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	"github.com/aws/aws-sdk-go-v2/service/identitystore/document"
	istypes "github.com/aws/aws-sdk-go-v2/service/identitystore/types"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
	satypes "github.com/aws/aws-sdk-go-v2/service/ssoadmin/types"

	"github.com/kineticsec/kinetic/connectors"
)

// maxPages bounds every pagination loop.
const maxPages = 200

// user is the subject's identity store user.
type user struct {
	id       string
	name     string
	status   istypes.UserStatus
	external bool // carries an external id: provisioned from an identity provider (SCIM)
}

// field returns the subject's value for a configured field name.
func field(s connectors.Subject, f string) string {
	switch strings.ToLower(f) {
	case "username":
		return strings.TrimSpace(s.Username)
	case "email":
		return strings.TrimSpace(s.Email)
	case "employee_id":
		return strings.TrimSpace(s.EmployeeID)
	}
	return strings.TrimSpace(s.Attributes[f])
}

// find resolves the subject to one identity store user: req.Account (a
// user id from discovery), else GetUserId on userName for each of
// user_name_from, on emails.value for the email (match_email), and on the
// external id (external_id_issuer/_from). Every configured identifier is
// tried; two different users is an invalid (ambiguous) error, since
// acting on the wrong person's access is worse than stopping. Nothing
// found is (user{}, false, nil). "For the unique attribute, the only valid
// paths are userName and emails.value"; an identifier no user has answers
// ResourceNotFoundException.
// https://docs.aws.amazon.com/singlesignon/latest/IdentityStoreAPIReference/API_GetUserId.html
func (c *Connector) find(ctx context.Context, op string, req connectors.Request) (user, bool, error) {
	store := aws.String(c.cfg.IdentityStoreID)
	var ids []string
	if id := strings.TrimSpace(req.Account); id != "" {
		ids = []string{id}
	} else {
		var alts []istypes.AlternateIdentifier
		var seen []string
		addUnique := func(path, v string) {
			if v == "" || slices.Contains(seen, path+"\x00"+strings.ToLower(v)) {
				return
			}
			seen = append(seen, path+"\x00"+strings.ToLower(v))
			alts = append(alts, &istypes.AlternateIdentifierMemberUniqueAttribute{Value: istypes.UniqueAttribute{
				AttributePath: aws.String(path), AttributeValue: document.NewLazyDocument(v),
			}})
		}
		for _, f := range c.nameFrom {
			addUnique("userName", field(req.Subject, f))
		}
		if c.email {
			addUnique("emails.value", strings.TrimSpace(req.Subject.Email))
		}
		if c.cfg.ExternalIDIssuer != "" {
			if v := field(req.Subject, c.cfg.ExternalIDFrom); v != "" {
				alts = append(alts, &istypes.AlternateIdentifierMemberExternalId{Value: istypes.ExternalId{
					Issuer: aws.String(c.cfg.ExternalIDIssuer), Id: aws.String(v),
				}})
			}
		}
		for _, alt := range alts {
			out, err := c.store.GetUserId(ctx, &identitystore.GetUserIdInput{IdentityStoreId: store, AlternateIdentifier: alt})
			if isNotFound(err) {
				continue
			}
			if err != nil {
				return user{}, false, c.classify(op, "finding the user", err)
			}
			if id := aws.ToString(out.UserId); id != "" && !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	switch len(ids) {
	case 0:
		return user{}, false, nil
	case 1:
	default:
		return user{}, false, connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("Identity Center: the subject matches %d identity store users (%s); set the account explicitly or fix the users' names and emails", len(ids), strings.Join(ids, ", ")))
	}
	out, err := c.store.DescribeUser(ctx, &identitystore.DescribeUserInput{IdentityStoreId: store, UserId: aws.String(ids[0])})
	if isNotFound(err) {
		return user{}, false, nil
	}
	if err != nil {
		return user{}, false, c.classify(op, "reading the user", err)
	}
	return user{id: aws.ToString(out.UserId), name: aws.ToString(out.UserName), status: out.UserStatus, external: len(out.ExternalIds) > 0}, true, nil
}

// assignment is one account assignment of a permission set.
type assignment struct {
	account, permissionSet string
	direct                 bool // to the user itself, not through a group
}

func (a assignment) String() string { return a.account + ":" + a.permissionSet }

// assignments lists the account assignments the user holds
// (ListAccountAssignmentsForPrincipal), keeping those in scope (accounts,
// permission_sets). Only assignments to the user itself (PrincipalType
// USER, its id) are direct; those through a group go with the group
// membership. The call "must be called from the management account
// containing your organization instance".
// https://docs.aws.amazon.com/singlesignon/latest/APIReference/API_ListAccountAssignmentsForPrincipal.html
func (c *Connector) assignments(ctx context.Context, u user) ([]assignment, error) {
	var out []assignment
	p := ssoadmin.NewListAccountAssignmentsForPrincipalPaginator(c.admin, &ssoadmin.ListAccountAssignmentsForPrincipalInput{
		InstanceArn: aws.String(c.cfg.InstanceARN), PrincipalId: aws.String(u.id), PrincipalType: satypes.PrincipalTypeUser,
	})
	for page := 0; p.HasMorePages(); page++ {
		if page >= maxPages {
			return nil, fmt.Errorf("more than %d pages of account assignments", maxPages)
		}
		r, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, a := range r.AccountAssignments {
			acct, ps := aws.ToString(a.AccountId), aws.ToString(a.PermissionSetArn)
			if len(c.cfg.Accounts) > 0 && !slices.Contains(c.cfg.Accounts, acct) {
				continue
			}
			if len(c.cfg.PermissionSets) > 0 && !slices.Contains(c.cfg.PermissionSets, ps) {
				continue
			}
			direct := a.PrincipalType == satypes.PrincipalTypeUser && aws.ToString(a.PrincipalId) == u.id
			out = append(out, assignment{account: acct, permissionSet: ps, direct: direct})
		}
	}
	return out, nil
}

// membership is one identity store group membership.
type membership struct{ id, group string }

// memberships lists the user's group memberships
// (ListGroupMembershipsForMember).
// https://docs.aws.amazon.com/singlesignon/latest/IdentityStoreAPIReference/API_ListGroupMembershipsForMember.html
func (c *Connector) memberships(ctx context.Context, u user) ([]membership, error) {
	var out []membership
	p := identitystore.NewListGroupMembershipsForMemberPaginator(c.store, &identitystore.ListGroupMembershipsForMemberInput{
		IdentityStoreId: aws.String(c.cfg.IdentityStoreID), MemberId: &istypes.MemberIdMemberUserId{Value: u.id},
	})
	for page := 0; p.HasMorePages(); page++ {
		if page >= maxPages {
			return nil, fmt.Errorf("more than %d pages of group memberships", maxPages)
		}
		r, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, m := range r.GroupMemberships {
			out = append(out, membership{id: aws.ToString(m.MembershipId), group: aws.ToString(m.GroupId)})
		}
	}
	return out, nil
}

// Lookup reports the subject's identity store user: active while it is
// not disabled and still holds an account assignment (direct or through a
// group) or a group membership; its groups (ids) and assignments in
// Detail. No user is an empty result.
func (c *Connector) Lookup(ctx context.Context, s connectors.Subject) (connectors.LookupResult, error) {
	const op = "lookup"
	if err := ctx.Err(); err != nil {
		return connectors.LookupResult{}, connectors.NewError(connectors.KindCanceled, c.name, op, err)
	}
	u, found, err := c.find(ctx, op, connectors.Request{Subject: s})
	if err != nil || !found {
		return connectors.LookupResult{}, err
	}
	as, err := c.assignments(ctx, u)
	if isNotFound(err) {
		return connectors.LookupResult{}, nil
	}
	if err != nil {
		return connectors.LookupResult{}, c.classify(op, "listing account assignments", err)
	}
	ms, err := c.memberships(ctx, u)
	if isNotFound(err) {
		return connectors.LookupResult{}, nil
	}
	if err != nil {
		return connectors.LookupResult{}, c.classify(op, "listing group memberships", err)
	}
	direct := 0
	for _, a := range as {
		if a.direct {
			direct++
		}
	}
	status := connectors.StatusActive
	if u.status == istypes.UserStatusDisabled || len(as) == 0 && len(ms) == 0 {
		status = connectors.StatusDisabled
	}
	groups := make([]string, len(ms))
	for i, m := range ms {
		groups[i] = m.group
	}
	source := "identity store user"
	if u.external {
		source = "user provisioned by an identity provider"
	}
	return connectors.LookupResult{Accounts: []connectors.Account{{
		ID:     u.id,
		Kind:   "user",
		Status: status,
		Groups: groups,
		Detail: fmt.Sprintf("Identity Center %s %s: %d account assignments (%d direct), %d group memberships", source, u.name, len(as), direct, len(ms)),
	}}}, nil
}
