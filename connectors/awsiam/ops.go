package awsiam

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/text"
)

// userOutcome is one user's part of an operation.
type userOutcome struct {
	gone    bool // the user no longer exists (NoSuchEntity on its first read)
	changed []string
	notes   []string
	data    map[string]string
	errs    []error
}

func (o *userOutcome) fail(err error) { o.errs = append(o.errs, err) }

func (o *userOutcome) set(key string, vals []string) {
	if len(vals) == 0 {
		return
	}
	if o.data == nil {
		o.data = map[string]string{}
	}
	o.data[key] = strings.Join(vals, ",")
}

// Do performs one operation on the subject's user in every configured
// account (or on the user req.Account names). A failure in one account or
// on one credential does not stop the rest: the result records what was
// changed and the error joins every failure.
func (c *Connector) Do(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	op := string(req.Operation)
	if err := ctx.Err(); err != nil {
		return connectors.Result{}, connectors.NewError(connectors.KindCanceled, c.name, op, err)
	}
	if err := c.checkOp(op, req.Operation); err != nil {
		return connectors.Result{}, err
	}
	if req.Operation == connectors.OpRevokeSessions {
		return c.revokeSessions(ctx, op, req)
	}
	users, errs := c.users(ctx, op, req)
	var res connectors.Result
	var details []string
	changed, present := false, 0
	for _, u := range users {
		var o userOutcome
		switch req.Operation {
		case connectors.OpDisableAccount:
			o = c.disable(ctx, op, u)
		case connectors.OpDeleteAccessKeys:
			o = c.deleteKeys(ctx, op, u)
		default:
			o = c.removeGroups(ctx, op, req, u)
		}
		errs = append(errs, o.errs...)
		if o.gone {
			details = append(details, fmt.Sprintf("IAM user %s in %s: already deleted", u.name, u.acct.label()))
			continue
		}
		present++
		res.Account = joinNonEmpty(res.Account, u.arn)
		parts := o.changed
		if len(parts) == 0 && len(o.errs) == 0 {
			parts = []string{"nothing left to do"}
		}
		parts = append(parts, o.notes...)
		details = append(details, fmt.Sprintf("IAM user %s in %s: %s", u.name, u.acct.label(), strings.Join(parts, "; ")))
		if len(o.changed) > 0 {
			changed = true
		}
		for k, v := range o.data {
			if res.Data == nil {
				res.Data = map[string]string{}
			}
			if len(users) > 1 {
				k = u.acct.id + "." + k
			}
			res.Data[k] = v
		}
	}
	switch {
	case changed:
		res.Outcome = connectors.OutcomeDone
	case present > 0:
		res.Outcome = connectors.OutcomeAlreadyDone
	default:
		res.Outcome = connectors.OutcomeNoneFound
		if len(details) == 0 {
			details = append(details, "no IAM user")
		}
	}
	res.Detail = strings.Join(details, " | ")
	return res, connectors.JoinErrors(c.name, op, errs)
}

// count is "n word(s)".
func count(n int, word string) string { return fmt.Sprintf("%d %s", n, text.Plural(n, word)) }

func joinNonEmpty(a, b string) string {
	if a == "" {
		return b
	}
	return a + "," + b
}

func (c *Connector) checkOp(op string, o connectors.Operation) error {
	if connectors.Supports(Operations(c.cfg), o) {
		return nil
	}
	return connectors.NewError(connectors.KindInvalid, c.name, op,
		fmt.Errorf("operation %q is not supported by the AWS IAM connector (supported: %s)", o, connectors.OperationNames(Operations(c.cfg))))
}

// disable removes every credential the user signs in or signs requests
// with, then tags the user as offboarded:
//
//   - access keys made inactive (UpdateAccessKey; delete_access_keys
//     deletes them), first, since they reach the API directly;
//   - the console password deleted (DeleteLoginProfile). Deleting it "does
//     not prevent a user from accessing AWS through the command line
//     interface or the API", hence the keys above.
//     https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeleteLoginProfile.html
//   - MFA devices deactivated (DeactivateMFADevice: the device is
//     disassociated from the user; a virtual device stays in the account
//     unassigned).
//     https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeactivateMFADevice.html
//   - SSH public keys (CodeCommit), X.509 signing certificates and
//     service-specific credentials deleted.
//   - the user tagged offboarded_tag=<time> (TagUser), only once every
//     step above succeeded, so the tag never claims more than was done.
//
// A credential already gone (NoSuchEntity) is skipped, not an error.
func (c *Connector) disable(ctx context.Context, op string, u user) userOutcome {
	var o userOutcome
	a, name := u.acct, aws.String(u.name)

	keys, err := c.accessKeys(ctx, u)
	if isNoSuchEntity(err) {
		return userOutcome{gone: true}
	}
	classify := func(doing string, err error) error { return c.classify(op, a, doing, err) }
	active := slices.DeleteFunc(keys, func(k types.AccessKeyMetadata) bool { return k.Status != types.StatusTypeActive })
	removeEach(&o, classify, active, err, "listing access keys", "deactivating access key", "access key", "deactivated", "deactivated_keys",
		func(k types.AccessKeyMetadata) string { return aws.ToString(k.AccessKeyId) },
		func(k types.AccessKeyMetadata) error {
			_, err := a.iam.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: name, AccessKeyId: k.AccessKeyId, Status: types.StatusTypeInactive})
			return err
		})

	switch _, err := a.iam.DeleteLoginProfile(ctx, &iam.DeleteLoginProfileInput{UserName: name}); {
	case err == nil:
		o.changed = append(o.changed, "console password deleted")
		o.set("login_profile", []string{"deleted"})
	case !isNoSuchEntity(err):
		o.fail(c.classify(op, a, "deleting the console password", err))
	}

	mfa, err := c.mfaDevices(ctx, u)
	removeEach(&o, classify, mfa, err, "listing MFA devices", "deactivating MFA device", "MFA device", "deactivated", "mfa_devices",
		func(d types.MFADevice) string { return aws.ToString(d.SerialNumber) },
		func(d types.MFADevice) error {
			_, err := a.iam.DeactivateMFADevice(ctx, &iam.DeactivateMFADeviceInput{UserName: name, SerialNumber: d.SerialNumber})
			return err
		})
	ssh, err := c.sshKeys(ctx, u)
	removeEach(&o, classify, ssh, err, "listing SSH public keys", "deleting SSH public key", "SSH public key", "deleted", "ssh_keys",
		func(k types.SSHPublicKeyMetadata) string { return aws.ToString(k.SSHPublicKeyId) },
		func(k types.SSHPublicKeyMetadata) error {
			_, err := a.iam.DeleteSSHPublicKey(ctx, &iam.DeleteSSHPublicKeyInput{UserName: name, SSHPublicKeyId: k.SSHPublicKeyId})
			return err
		})
	certs, err := c.signingCerts(ctx, u)
	removeEach(&o, classify, certs, err, "listing signing certificates", "deleting signing certificate", "signing certificate", "deleted", "signing_certificates",
		func(cert types.SigningCertificate) string { return aws.ToString(cert.CertificateId) },
		func(cert types.SigningCertificate) error {
			_, err := a.iam.DeleteSigningCertificate(ctx, &iam.DeleteSigningCertificateInput{UserName: name, CertificateId: cert.CertificateId})
			return err
		})
	creds, err := c.serviceCredentials(ctx, u)
	removeEach(&o, classify, creds, err, "listing service-specific credentials", "deleting service-specific credential", "service-specific credential", "deleted", "service_credentials",
		func(sc types.ServiceSpecificCredentialMetadata) string {
			return aws.ToString(sc.ServiceSpecificCredentialId) + " (" + aws.ToString(sc.ServiceName) + ")"
		},
		func(sc types.ServiceSpecificCredentialMetadata) error {
			_, err := a.iam.DeleteServiceSpecificCredential(ctx, &iam.DeleteServiceSpecificCredentialInput{UserName: name, ServiceSpecificCredentialId: sc.ServiceSpecificCredentialId})
			return err
		})

	if len(o.errs) > 0 {
		o.notes = append(o.notes, "not tagged "+c.offTag+" (a step failed)")
		return o
	}
	tags, err := c.tags(ctx, a, u.name)
	if err != nil && !isNoSuchEntity(err) {
		o.fail(c.classify(op, a, "reading tags", err))
		return o
	}
	if _, ok := tags[c.offTag]; !ok {
		now := c.now().UTC().Format(time.RFC3339)
		_, err := a.iam.TagUser(ctx, &iam.TagUserInput{UserName: name, Tags: []types.Tag{{Key: aws.String(c.offTag), Value: aws.String(now)}}})
		switch {
		case err == nil:
			o.changed = append(o.changed, "tagged "+c.offTag)
			o.set("tagged", []string{c.offTag + "=" + now})
		case !isNoSuchEntity(err):
			o.fail(c.classify(op, a, "tagging the user", err))
		}
	}
	return o
}

// deleteKeys makes every access key inactive at once (UpdateAccessKey), so
// it stops signing requests, then deletes the keys (DeleteAccessKey) —
// at once, or, with access_key_delete_after, on a run at or after the due
// time tagged on the user. AWS recommends deactivating a key before
// deleting it so a key still in use can be reactivated; deletion cannot be
// undone.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html
// https://docs.aws.amazon.com/IAM/latest/APIReference/API_UpdateAccessKey.html
// https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeleteAccessKey.html
//
// Deactivating a key does not end temporary credentials already obtained
// with it (sts:GetSessionToken); those expire on their own (at most 36
// hours for GetSessionToken).
func (c *Connector) deleteKeys(ctx context.Context, op string, u user) userOutcome {
	var o userOutcome
	a, name := u.acct, aws.String(u.name)
	keys, err := c.accessKeys(ctx, u)
	if isNoSuchEntity(err) {
		return userOutcome{gone: true}
	}
	if err != nil {
		o.fail(c.classify(op, a, "listing access keys", err))
		return o
	}
	var deactivated, inactive []string
	for _, k := range keys {
		id := aws.ToString(k.AccessKeyId)
		if k.Status != types.StatusTypeActive {
			inactive = append(inactive, id)
			continue
		}
		_, err := a.iam.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: name, AccessKeyId: k.AccessKeyId, Status: types.StatusTypeInactive})
		switch {
		case err == nil:
			deactivated = append(deactivated, id)
			inactive = append(inactive, id)
		case !isNoSuchEntity(err):
			o.fail(c.classify(op, a, "deactivating access key "+id, err))
		}
	}
	if len(deactivated) > 0 {
		o.changed = append(o.changed, count(len(deactivated), "access key")+" deactivated")
		o.set("deactivated_keys", deactivated)
	}
	if len(inactive) == 0 {
		return o
	}

	due, tagged, at, err := c.deletionDue(ctx, u)
	if err != nil {
		o.fail(c.classify(op, a, "reading tags", err))
		return o
	}
	if !due {
		if !tagged {
			_, err := a.iam.TagUser(ctx, &iam.TagUserInput{UserName: name, Tags: []types.Tag{{Key: aws.String(DeleteAfterTag), Value: aws.String(at.Format(time.RFC3339))}}})
			if err != nil && !isNoSuchEntity(err) {
				o.fail(c.classify(op, a, "tagging the deletion time", err))
				return o
			}
			o.changed = append(o.changed, "deletion scheduled")
		}
		o.notes = append(o.notes, fmt.Sprintf("%s inactive, to be deleted by a run at or after %s", count(len(inactive), "access key"), at.Format(time.RFC3339)))
		o.set("delete_after", []string{at.Format(time.RFC3339)})
		return o
	}
	var deleted []string
	for _, id := range inactive {
		_, err := a.iam.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: name, AccessKeyId: aws.String(id)})
		switch {
		case err == nil:
			deleted = append(deleted, id)
		case !isNoSuchEntity(err):
			o.fail(c.classify(op, a, "deleting access key "+id, err))
		}
	}
	if len(deleted) > 0 {
		o.changed = append(o.changed, count(len(deleted), "access key")+" deleted")
		o.set("deleted_keys", deleted)
	}
	if tagged && len(o.errs) == 0 {
		if _, err := a.iam.UntagUser(ctx, &iam.UntagUserInput{UserName: name, TagKeys: []string{DeleteAfterTag}}); err != nil && !isNoSuchEntity(err) {
			o.fail(c.classify(op, a, "removing the deletion tag", err))
		}
	}
	return o
}

// deletionDue reports whether the user's inactive keys may be deleted now;
// tagged is whether the due time is already tagged on the user, at the
// due time (the tagged one, or now plus the delay).
func (c *Connector) deletionDue(ctx context.Context, u user) (due, tagged bool, at time.Time, err error) {
	now := c.now().UTC()
	if c.deleteAfter == 0 {
		return true, false, now, nil
	}
	tags, err := c.tags(ctx, u.acct, u.name)
	if err != nil && !isNoSuchEntity(err) {
		return false, false, now, err
	}
	if v, ok := tags[DeleteAfterTag]; ok {
		if t, perr := time.Parse(time.RFC3339, v); perr == nil {
			return !now.Before(t), true, t, nil
		}
		// An unreadable tag is replaced by a fresh due time below.
	}
	return false, false, now.Add(c.deleteAfter).Truncate(time.Second), nil
}

// removeGroups removes the user from every IAM group except the kept ones
// (RemoveUserFromGroup). Each group is tried even when another fails; the
// result lists the groups removed.
// https://docs.aws.amazon.com/IAM/latest/APIReference/API_RemoveUserFromGroup.html
func (c *Connector) removeGroups(ctx context.Context, op string, req connectors.Request, u user) userOutcome {
	var o userOutcome
	a := u.acct
	groups, err := c.groupNames(ctx, u)
	if isNoSuchEntity(err) {
		return userOutcome{gone: true}
	}
	if err != nil {
		o.fail(c.classify(op, a, "listing groups", err))
		return o
	}
	keep := c.keepSet(req)
	var removed, kept []string
	for _, g := range groups {
		if slices.Contains(keep, strings.ToLower(g)) {
			kept = append(kept, g)
			continue
		}
		_, err := a.iam.RemoveUserFromGroup(ctx, &iam.RemoveUserFromGroupInput{UserName: aws.String(u.name), GroupName: aws.String(g)})
		switch {
		case err == nil:
			removed = append(removed, g)
		case !isNoSuchEntity(err):
			o.fail(c.classify(op, a, "removing from group "+g, err))
		}
		if ctx.Err() != nil {
			break
		}
	}
	if len(removed) > 0 {
		o.changed = append(o.changed, fmt.Sprintf("removed from %s (%s)", count(len(removed), "group"), strings.Join(removed, ", ")))
		o.set("removed_groups", removed)
	}
	if len(kept) > 0 {
		o.notes = append(o.notes, "kept "+strings.Join(kept, ", "))
	}
	return o
}

// Verify reads back the state the operation should have produced, for
// the subject's user in every account (or the user req.Account names). No
// user verifies OK: there is nothing to revoke.
func (c *Connector) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	op := "verify " + string(req.Operation)
	if err := ctx.Err(); err != nil {
		return connectors.Verification{}, connectors.NewError(connectors.KindCanceled, c.name, op, err)
	}
	if err := c.checkOp(op, req.Operation); err != nil {
		return connectors.Verification{}, err
	}
	if req.Operation == connectors.OpRevokeSessions {
		return c.verifyRevoked(ctx, op, req)
	}
	users, errs := c.users(ctx, op, req)
	if len(errs) > 0 {
		return connectors.Verification{}, connectors.JoinErrors(c.name, op, errs)
	}
	if len(users) == 0 {
		return connectors.Verification{OK: true, Detail: "no IAM user"}, nil
	}
	v := connectors.Verification{OK: true}
	var details []string
	for _, u := range users {
		var problems []string
		var err error
		switch req.Operation {
		case connectors.OpDisableAccount:
			problems, err = c.verifyDisabled(ctx, u)
		case connectors.OpDeleteAccessKeys:
			problems, err = c.verifyKeys(ctx, u)
		default:
			problems, err = c.verifyGroups(ctx, req, u)
		}
		if isNoSuchEntity(err) {
			details = append(details, fmt.Sprintf("IAM user %s in %s: deleted", u.name, u.acct.label()))
			continue
		}
		if err != nil {
			return connectors.Verification{}, c.classify(op, u.acct, "", err)
		}
		if len(problems) > 0 {
			v.OK = false
			details = append(details, fmt.Sprintf("IAM user %s in %s: %s", u.name, u.acct.label(), strings.Join(problems, "; ")))
		} else {
			details = append(details, fmt.Sprintf("IAM user %s in %s: verified", u.name, u.acct.label()))
		}
	}
	v.Detail = strings.Join(details, " | ")
	return v, nil
}

// verifyDisabled reads back every credential disable_account removes:
// ListAccessKeys (none Active), GetLoginProfile (NoSuchEntity),
// ListMFADevices, ListSSHPublicKeys, ListSigningCertificates,
// ListServiceSpecificCredentials (all empty) and the offboarded tag.
func (c *Connector) verifyDisabled(ctx context.Context, u user) ([]string, error) {
	var p []string
	keys, err := c.accessKeys(ctx, u)
	if err != nil {
		return nil, err
	}
	st := state{keys: keys}
	if n := st.activeKeys(); n > 0 {
		p = append(p, fmt.Sprintf("%s still active", count(n, "access key")))
	}
	if has, err := c.hasLoginProfile(ctx, u); err != nil {
		return nil, err
	} else if has {
		p = append(p, "console password still set")
	}
	if mfa, err := c.mfaDevices(ctx, u); err != nil {
		return nil, err
	} else if len(mfa) > 0 {
		p = append(p, fmt.Sprintf("%s still assigned", count(len(mfa), "MFA device")))
	}
	if ssh, err := c.sshKeys(ctx, u); err != nil {
		return nil, err
	} else if len(ssh) > 0 {
		p = append(p, fmt.Sprintf("%s left", count(len(ssh), "SSH public key")))
	}
	if certs, err := c.signingCerts(ctx, u); err != nil {
		return nil, err
	} else if len(certs) > 0 {
		p = append(p, fmt.Sprintf("%s left", count(len(certs), "signing certificate")))
	}
	if svc, err := c.serviceCredentials(ctx, u); err != nil {
		return nil, err
	} else if len(svc) > 0 {
		p = append(p, fmt.Sprintf("%s left", count(len(svc), "service-specific credential")))
	}
	if tags, err := c.tags(ctx, u.acct, u.name); err != nil {
		return nil, err
	} else if _, ok := tags[c.offTag]; !ok {
		p = append(p, "not tagged "+c.offTag)
	}
	return p, nil
}

// verifyKeys reads ListAccessKeys: no key may be active, and none may be
// left once its deletion is due.
func (c *Connector) verifyKeys(ctx context.Context, u user) ([]string, error) {
	keys, err := c.accessKeys(ctx, u)
	if err != nil {
		return nil, err
	}
	var p []string
	st := state{keys: keys}
	if n := st.activeKeys(); n > 0 {
		p = append(p, fmt.Sprintf("%s still active", count(n, "access key")))
	}
	if len(keys) == 0 {
		return p, nil
	}
	// Inactive keys whose deletion is scheduled verify until the due time.
	due, tagged, _, err := c.deletionDue(ctx, u)
	if err != nil {
		return nil, err
	}
	switch {
	case due:
		p = append(p, fmt.Sprintf("%s not deleted", count(len(keys), "access key")))
	case !tagged:
		p = append(p, "access key deletion not scheduled")
	}
	return p, nil
}

// verifyGroups reads ListGroupsForUser: only kept groups may be left.
func (c *Connector) verifyGroups(ctx context.Context, req connectors.Request, u user) ([]string, error) {
	groups, err := c.groupNames(ctx, u)
	if err != nil {
		return nil, err
	}
	keep := c.keepSet(req)
	var left []string
	for _, g := range groups {
		if !slices.Contains(keep, strings.ToLower(g)) {
			left = append(left, g)
		}
	}
	if len(left) > 0 {
		return []string{"still in " + strings.Join(left, ", ")}, nil
	}
	return nil, nil
}

// removeEach applies remove to every listed item of one kind of credential
// (listErr, the listing's error, is kept as a failure unless the user is
// already gone). An item already gone (NoSuchEntity) is skipped; a failed
// removal is kept and the rest go on. What was done is counted in
// o.changed ("2 SSH public keys deleted") and recorded under key.
func removeEach[T any](o *userOutcome, classify func(doing string, err error) error, items []T, listErr error,
	listing, doing, noun, verb, key string, label func(T) string, remove func(T) error) {
	if listErr != nil {
		if !isNoSuchEntity(listErr) {
			o.fail(classify(listing, listErr))
		}
		return
	}
	var done []string
	for _, it := range items {
		l := label(it)
		switch err := remove(it); {
		case err == nil:
			done = append(done, l)
		case !isNoSuchEntity(err):
			o.fail(classify(doing+" "+l, err))
		}
	}
	if len(done) > 0 {
		o.changed = append(o.changed, count(len(done), noun)+" "+verb)
		o.set(key, done)
	}
}
