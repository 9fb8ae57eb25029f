package ldap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/kineticsec/kinetic/connectors"
)

// Restoring a rehire (connectors.Restorer):
//
//   - disable_account (disable mode uac): clears ACCOUNTDISABLE (0x2) in
//     userAccountControl, keeping every other bit, with the same
//     conditional delete-old/add-new modify as the disable
//     (https://learn.microsoft.com/en-us/troubleshoot/windows-server/active-directory/useraccountcontrol-manipulate-account-properties).
//     An account the disable moved to disabled_ou is moved back to the
//     container recorded in Data["moved_from"]. A password reset by the
//     disable is not undone (it was never kept): the person sets a new one,
//     and the Detail says so. Mode attribute records no "enabled" value,
//     so it is not restored here.
//   - remove_group_memberships: adds the account's DN back to the member
//     attribute of every group in Data["removed_groups"] (the JSON array of
//     DNs the removal recorded). Already a member (LDAP 68
//     entryAlreadyExists from Active Directory, 20
//     attributeOrValueExists) counts as restored; a group that no longer
//     exists (32) is a failure for that group, and the others continue.

var _ connectors.Restorer = (*Connector)(nil)

// RestoresOperation reports whether Restore undoes op.
func (c *Connector) RestoresOperation(op connectors.Operation) bool {
	switch op {
	case connectors.OpDisableAccount:
		return c.cfg.Disable.Mode == DisableUAC
	case connectors.OpRemoveGroupMemberships:
		return true
	}
	return false
}

// Restore undoes req.Operation (see above). No account is a KindNotFound
// error: a deleted account cannot be re-enabled.
func (c *Connector) Restore(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	op := "restore " + string(req.Operation)
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	if err := ctx.Err(); err != nil {
		return connectors.Result{}, c.classify(ctx, op, err)
	}
	if !c.RestoresOperation(req.Operation) {
		return connectors.Result{}, c.invalid(op, "cannot restore %q with disable mode %s", req.Operation, c.cfg.Disable.Mode)
	}
	groups, err := restoredGroups(req)
	if err != nil {
		return connectors.Result{}, c.invalid(op, "%v", err)
	}
	s, err := c.open(ctx, op)
	if err != nil {
		return connectors.Result{}, err
	}
	defer s.release()
	u, err := s.find(req.Subject, req.Account)
	if err != nil {
		return connectors.Result{}, err
	}
	if u == nil {
		return connectors.Result{}, connectors.NewError(connectors.KindNotFound, c.name, op, errors.New("the account no longer exists: recreate it by hand"))
	}
	if req.Operation == connectors.OpDisableAccount {
		return s.enable(u, req.Data)
	}
	return s.addGroups(u, groups)
}

// VerifyRestore reads the account again: enabled (and out of disabled_ou),
// or a member of every restored group.
func (c *Connector) VerifyRestore(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	op := "verify restore " + string(req.Operation)
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	groups, err := restoredGroups(req)
	if err != nil {
		return connectors.Verification{}, c.invalid(op, "%v", err)
	}
	s, err := c.open(ctx, op)
	if err != nil {
		return connectors.Verification{}, err
	}
	defer s.release()
	u, err := s.find(req.Subject, req.Account)
	if err != nil {
		return connectors.Verification{}, err
	}
	if u == nil {
		return connectors.Verification{Detail: "no account"}, nil
	}
	if req.Operation == connectors.OpDisableAccount {
		v := connectors.Verification{OK: !c.isDisabled(u) && (c.cfg.DisabledOU == "" || !c.inDisabledOU(u))}
		v.Detail = fmt.Sprintf("%s: userAccountControl=0x%x", u.dn, u.uac)
		return v, nil
	}
	var missing []string
	for _, g := range groups {
		if !slices.ContainsFunc(u.memberOf, func(m string) bool { return strings.EqualFold(m, g) }) {
			missing = append(missing, g)
		}
	}
	if len(missing) > 0 {
		return connectors.Verification{Detail: fmt.Sprintf("%s: not a member of %s", u.dn, strings.Join(missing, "; "))}, nil
	}
	return connectors.Verification{OK: true, Detail: fmt.Sprintf("%s: member of the %d restored groups", u.dn, len(groups))}, nil
}

// restoredGroups decodes Data["removed_groups"] for a group restore.
func restoredGroups(req connectors.Request) ([]string, error) {
	if req.Operation != connectors.OpRemoveGroupMemberships {
		return nil, nil
	}
	var groups []string
	raw := req.Data[connectors.DataRemovedGroups]
	if raw == "" {
		return nil, nil
	}
	if err := json.Unmarshal([]byte(raw), &groups); err != nil {
		return nil, fmt.Errorf("removed_groups is not the JSON array of DNs the removal records: %v", err)
	}
	for _, g := range groups {
		if d, err := goldap.ParseDN(g); err != nil || len(d.RDNs) == 0 {
			return nil, fmt.Errorf("removed group %q is not a DN", g)
		}
	}
	return groups, nil
}

// enable clears ACCOUNTDISABLE and moves the account back from
// disabled_ou where the disable moved it.
func (s *session) enable(u *user, data map[string]string) (connectors.Result, error) {
	c := s.c
	res := connectors.Result{Account: u.dn}
	var did []string
	if from := data["moved_from"]; from != "" && c.cfg.DisabledOU != "" && c.inDisabledOU(u) {
		orig, err := goldap.ParseDN(from)
		if err != nil || len(orig.RDNs) < 2 {
			return connectors.Result{}, c.invalid(s.op, "moved_from %q is not a DN", from)
		}
		parent := (&goldap.DN{RDNs: orig.RDNs[1:]}).String()
		rdn := rdnString(u.parsed.RDNs[0])
		if err := s.modifyDN(goldap.NewModifyDNRequest(u.dn, rdn, true, parent)); err != nil {
			return connectors.Result{}, c.classify(s.ctx, s.op, err)
		}
		fresh, err := s.find(connectors.Subject{}, rdn+","+parent)
		if err != nil || fresh == nil {
			return connectors.Result{}, c.partial(s, fmt.Errorf("reading the moved account: %v", err), []string{"moved back to " + parent})
		}
		*u = *fresh
		res.Account = u.dn
		did = append(did, "moved back to "+parent)
	}
	for attempt := 0; u.uac&uacDisabled != 0; attempt++ {
		old, next := u.uac, u.uac&^uacDisabled
		req := goldap.NewModifyRequest(u.dn, nil)
		req.Delete("userAccountControl", []string{strconv.FormatInt(old, 10)})
		req.Add("userAccountControl", []string{strconv.FormatInt(next, 10)})
		err := s.modify(req)
		if err == nil {
			u.uac = next
			did = append(did, fmt.Sprintf("enabled (userAccountControl 0x%x->0x%x)", old, next))
			break
		}
		if resultCode(err) != goldap.LDAPResultNoSuchAttribute || attempt >= 2 {
			return connectors.Result{}, c.partial(s, err, did)
		}
		fresh, ferr := s.find(connectors.Subject{}, u.dn)
		if ferr != nil || fresh == nil {
			return connectors.Result{}, c.partial(s, err, did)
		}
		*u = *fresh
	}
	if len(did) == 0 {
		res.Outcome, res.Detail = connectors.OutcomeAlreadyDone, fmt.Sprintf("already enabled: %s (userAccountControl=0x%x)", u.dn, u.uac)
		return res, nil
	}
	res.Outcome, res.Detail = connectors.OutcomeDone, u.dn+": "+strings.Join(did, "; ")
	if data["password_reset"] == "true" {
		res.Detail += "; the password reset at disable stays: the person sets a new one"
	}
	c.log.WithField("dn", u.dn).Info("ldap: account restored")
	return res, nil
}

// addGroups adds u back to groups; one group's failure does not stop the
// others.
func (s *session) addGroups(u *user, groups []string) (connectors.Result, error) {
	var added []string
	var failures []error
	for _, g := range groups {
		if slices.ContainsFunc(u.memberOf, func(m string) bool { return strings.EqualFold(m, g) }) {
			continue
		}
		req := goldap.NewModifyRequest(g, nil)
		req.Add("member", []string{u.dn})
		err := s.modify(req)
		switch code := resultCode(err); {
		case err == nil:
			added = append(added, g)
		case code == goldap.LDAPResultEntryAlreadyExists, code == goldap.LDAPResultAttributeOrValueExists:
			// A member already.
		case code == 0:
			failures = append(failures, fmt.Errorf("group %s: %w", g, err))
			return s.addResult(u, added, failures)
		default:
			failures = append(failures, fmt.Errorf("group %s: %w", g, err))
		}
	}
	return s.addResult(u, added, failures)
}

func (s *session) addResult(u *user, added []string, failures []error) (connectors.Result, error) {
	c := s.c
	res := connectors.Result{Account: u.dn, Outcome: connectors.OutcomeAlreadyDone, Detail: u.dn + ": already a member of every restored group"}
	if len(added) > 0 {
		b, _ := json.Marshal(added)
		res.Outcome, res.Detail = connectors.OutcomeDone, fmt.Sprintf("%s: re-added to %d groups", u.dn, len(added))
		res.Data = map[string]string{"restored_groups": string(b)}
	}
	if len(failures) > 0 {
		return res, c.classify(s.ctx, s.op, errors.Join(failures...))
	}
	return res, nil
}
