package awsiam

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/kineticsec/kinetic/connectors"
)

// user is one IAM user found for a subject.
type user struct {
	acct *account
	name string
	arn  string
}

// maxPages bounds every pagination loop (IAM returns at most 1000 items a
// page).
const maxPages = 200

// userNameRe is IAM's user name pattern; a subject value that does not fit
// cannot be a user name, so GetUser is not asked.
// https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetUser.html
var userNameRe = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)

// userARNRe splits a user ARN (arn:aws:iam::123456789012:user/path/name).
var userARNRe = regexp.MustCompile(`^arn:aws(?:-[a-z]+)*:iam::([0-9]{12}):user/(?:[^/]+/)*([\w+=,.@-]{1,64})$`)

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

// users returns the subject's users: the one req.Account names (a user
// ARN from discovery), else one per configured account where the subject
// has a user. Every account is searched; the first failure is returned
// with the users found elsewhere.
func (c *Connector) users(ctx context.Context, op string, req connectors.Request) ([]user, []error) {
	if id := strings.TrimSpace(req.Account); id != "" {
		u, err := c.userFromARN(op, id)
		if err != nil {
			return nil, []error{err}
		}
		return []user{u}, nil
	}
	var out []user
	var errs []error
	for _, a := range c.accounts {
		u, found, err := c.find(ctx, op, a, req.Subject)
		switch {
		case err != nil:
			errs = append(errs, err)
		case found:
			out = append(out, u)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return out, errs
}

// userFromARN maps a user ARN onto its configured account.
func (c *Connector) userFromARN(op, arn string) (user, error) {
	m := userARNRe.FindStringSubmatch(arn)
	if m == nil {
		return user{}, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("account %q is not an IAM user ARN", arn))
	}
	for _, a := range c.accounts {
		if a.id == "" || a.id == m[1] {
			return user{acct: a, name: m[2], arn: arn}, nil
		}
	}
	return user{}, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("user %s is in account %s, which this connector is not configured for", arn, m[1]))
}

// find looks for the subject's user in one account: first by name
// (GetUser for each configured subject field), then, when match_tags is
// set and no name matched, by tag over the account's users. Two different
// users matching is an invalid (ambiguous) error: acting on the wrong
// person's credentials is worse than stopping.
func (c *Connector) find(ctx context.Context, op string, a *account, s connectors.Subject) (user, bool, error) {
	var found []user
	for _, f := range c.nameFrom {
		v := field(s, f)
		if v == "" || !userNameRe.MatchString(v) {
			continue
		}
		out, err := a.iam.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(v)})
		if isNoSuchEntity(err) {
			continue
		}
		if err != nil {
			return user{}, false, c.classify(op, a, "", err)
		}
		u := user{acct: a, name: aws.ToString(out.User.UserName), arn: aws.ToString(out.User.Arn)}
		if slices.ContainsFunc(found, func(x user) bool { return x.arn == u.arn }) {
			continue
		}
		if len(c.cfg.MatchTags) > 0 {
			// A name match whose HR tag names someone else is not ours.
			tags, err := c.tags(ctx, a, u.name)
			if isNoSuchEntity(err) {
				continue
			}
			if err != nil {
				return user{}, false, c.classify(op, a, "", err)
			}
			if c.tagsContradict(s, tags) {
				c.log.WithField("user", u.arn).Info("user found by name carries another person's tag; not taken")
				continue
			}
		}
		found = append(found, u)
	}
	if len(found) == 0 && len(c.cfg.MatchTags) > 0 && c.hasTagValue(s) {
		var err error
		found, err = c.findByTag(ctx, op, a, s)
		if err != nil {
			return user{}, false, err
		}
	}
	switch len(found) {
	case 0:
		return user{}, false, nil
	case 1:
		return found[0], true, nil
	}
	names := make([]string, len(found))
	for i, u := range found {
		names[i] = u.name
	}
	return user{}, false, connectors.NewError(connectors.KindInvalid, c.name, op,
		fmt.Errorf("%s: the subject matches %d IAM users (%s); set the account explicitly or fix the users' tags", a.label(), len(found), strings.Join(names, ", ")))
}

// hasTagValue reports whether the subject has a value for any match tag.
func (c *Connector) hasTagValue(s connectors.Subject) bool {
	for f := range c.cfg.MatchTags {
		if field(s, f) != "" {
			return true
		}
	}
	return false
}

// tagMatches reports whether any configured tag carries the subject's
// value (case-insensitive: emails differ in case between systems).
func (c *Connector) tagMatches(s connectors.Subject, tags map[string]string) bool {
	for f, key := range c.cfg.MatchTags {
		if v := field(s, f); v != "" && strings.EqualFold(strings.TrimSpace(tags[key]), v) {
			return true
		}
	}
	return false
}

// tagsContradict reports whether a configured tag is present with a value
// other than the subject's.
func (c *Connector) tagsContradict(s connectors.Subject, tags map[string]string) bool {
	for f, key := range c.cfg.MatchTags {
		v, t := field(s, f), strings.TrimSpace(tags[key])
		if v != "" && t != "" && !strings.EqualFold(v, t) {
			return true
		}
	}
	return false
}

// findByTag lists the account's users and reads each one's tags: ListUsers
// does not return tags ("IAM resource-listing operations return a subset
// of the available attributes … does not return … Tags"), so it costs one
// ListUserTags per user.
// https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListUsers.html
func (c *Connector) findByTag(ctx context.Context, op string, a *account, s connectors.Subject) ([]user, error) {
	in := &iam.ListUsersInput{}
	if c.cfg.PathPrefix != "" {
		in.PathPrefix = aws.String(c.cfg.PathPrefix)
	}
	var found []user
	p := iam.NewListUsersPaginator(a.iam, in)
	for page := 0; p.HasMorePages(); page++ {
		if page >= maxPages {
			return nil, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("%s: more than %d pages of users", a.label(), maxPages))
		}
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, c.classify(op, a, "", err)
		}
		for _, u := range out.Users {
			tags, err := c.tags(ctx, a, aws.ToString(u.UserName))
			if isNoSuchEntity(err) {
				continue // deleted while listing
			}
			if err != nil {
				return nil, c.classify(op, a, "", err)
			}
			if c.tagMatches(s, tags) {
				found = append(found, user{acct: a, name: aws.ToString(u.UserName), arn: aws.ToString(u.Arn)})
			}
		}
	}
	return found, nil
}

// tags returns a user's tags by key.
func (c *Connector) tags(ctx context.Context, a *account, name string) (map[string]string, error) {
	tags := map[string]string{}
	p := iam.NewListUserTagsPaginator(a.iam, &iam.ListUserTagsInput{UserName: aws.String(name)})
	for page := 0; p.HasMorePages() && page < maxPages; page++ {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, t := range out.Tags {
			tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	return tags, nil
}

// Lookup reports the subject's IAM user in each account: active while it
// has a console password or an active access key, else disabled; its
// groups; its credentials in Detail. No user anywhere is an empty result.
func (c *Connector) Lookup(ctx context.Context, s connectors.Subject) (connectors.LookupResult, error) {
	const op = "lookup"
	if err := ctx.Err(); err != nil {
		return connectors.LookupResult{}, connectors.NewError(connectors.KindCanceled, c.name, op, err)
	}
	users, errs := c.users(ctx, op, connectors.Request{Subject: s})
	if len(errs) > 0 {
		return connectors.LookupResult{}, connectors.JoinErrors(c.name, op, errs)
	}
	var res connectors.LookupResult
	for _, u := range users {
		st, err := c.state(ctx, u)
		if isNoSuchEntity(err) {
			continue
		}
		if err != nil {
			return connectors.LookupResult{}, c.classify(op, u.acct, "", err)
		}
		status := connectors.StatusDisabled
		if st.loginProfile || st.activeKeys() > 0 {
			status = connectors.StatusActive
		}
		res.Accounts = append(res.Accounts, connectors.Account{
			ID:     u.arn,
			Kind:   "user",
			Status: status,
			Groups: st.groups,
			Detail: fmt.Sprintf("IAM user %s in %s: %s", u.name, u.acct.label(), st.summary()),
		})
	}
	return res, nil
}

// state is what a user holds, as read from IAM.
type state struct {
	loginProfile bool
	keys         []types.AccessKeyMetadata
	mfa          []types.MFADevice
	ssh          []types.SSHPublicKeyMetadata
	certs        []types.SigningCertificate
	svc          []types.ServiceSpecificCredentialMetadata
	groups       []string
	tags         map[string]string
}

func (s state) activeKeys() int {
	n := 0
	for _, k := range s.keys {
		if k.Status == types.StatusTypeActive {
			n++
		}
	}
	return n
}

func (s state) summary() string {
	console := "no console password"
	if s.loginProfile {
		console = "console password"
	}
	return fmt.Sprintf("%s; %d access keys (%d active); %d MFA devices; %d SSH keys; %d signing certificates; %d service credentials; %d groups",
		console, len(s.keys), s.activeKeys(), len(s.mfa), len(s.ssh), len(s.certs), len(s.svc), len(s.groups))
}

// state reads a user's credentials and groups (for Lookup). A
// NoSuchEntity error means the user is gone.
func (c *Connector) state(ctx context.Context, u user) (state, error) {
	var st state
	var err error
	if st.loginProfile, err = c.hasLoginProfile(ctx, u); err != nil {
		return st, err
	}
	if st.keys, err = c.accessKeys(ctx, u); err != nil {
		return st, err
	}
	if st.groups, err = c.groupNames(ctx, u); err != nil {
		return st, err
	}
	return st, nil
}

// hasLoginProfile reports whether the user has a console password:
// GetLoginProfile answers NoSuchEntity when it has none (and when the user
// does not exist, which the listing calls around it then report).
// https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetLoginProfile.html
func (c *Connector) hasLoginProfile(ctx context.Context, u user) (bool, error) {
	_, err := u.acct.iam.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String(u.name)})
	if err == nil {
		return true, nil
	}
	if !isNoSuchEntity(err) {
		return false, err
	}
	return false, nil
}

func (c *Connector) accessKeys(ctx context.Context, u user) ([]types.AccessKeyMetadata, error) {
	var out []types.AccessKeyMetadata
	p := iam.NewListAccessKeysPaginator(u.acct.iam, &iam.ListAccessKeysInput{UserName: aws.String(u.name)})
	for page := 0; p.HasMorePages() && page < maxPages; page++ {
		r, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, r.AccessKeyMetadata...)
	}
	return out, nil
}

func (c *Connector) groupNames(ctx context.Context, u user) ([]string, error) {
	var out []string
	p := iam.NewListGroupsForUserPaginator(u.acct.iam, &iam.ListGroupsForUserInput{UserName: aws.String(u.name)})
	for page := 0; p.HasMorePages() && page < maxPages; page++ {
		r, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, g := range r.Groups {
			out = append(out, aws.ToString(g.GroupName))
		}
	}
	return out, nil
}

func (c *Connector) mfaDevices(ctx context.Context, u user) ([]types.MFADevice, error) {
	var out []types.MFADevice
	p := iam.NewListMFADevicesPaginator(u.acct.iam, &iam.ListMFADevicesInput{UserName: aws.String(u.name)})
	for page := 0; p.HasMorePages() && page < maxPages; page++ {
		r, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, r.MFADevices...)
	}
	return out, nil
}

func (c *Connector) sshKeys(ctx context.Context, u user) ([]types.SSHPublicKeyMetadata, error) {
	var out []types.SSHPublicKeyMetadata
	p := iam.NewListSSHPublicKeysPaginator(u.acct.iam, &iam.ListSSHPublicKeysInput{UserName: aws.String(u.name)})
	for page := 0; p.HasMorePages() && page < maxPages; page++ {
		r, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, r.SSHPublicKeys...)
	}
	return out, nil
}

func (c *Connector) signingCerts(ctx context.Context, u user) ([]types.SigningCertificate, error) {
	var out []types.SigningCertificate
	p := iam.NewListSigningCertificatesPaginator(u.acct.iam, &iam.ListSigningCertificatesInput{UserName: aws.String(u.name)})
	for page := 0; p.HasMorePages() && page < maxPages; page++ {
		r, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, r.Certificates...)
	}
	return out, nil
}

// serviceCredentials lists the user's service-specific credentials
// (CodeCommit, Amazon Keyspaces, Bedrock API keys). The SDK has no
// paginator for this action; Marker/IsTruncated are followed by hand.
// https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListServiceSpecificCredentials.html
func (c *Connector) serviceCredentials(ctx context.Context, u user) ([]types.ServiceSpecificCredentialMetadata, error) {
	var out []types.ServiceSpecificCredentialMetadata
	in := &iam.ListServiceSpecificCredentialsInput{UserName: aws.String(u.name)}
	for page := 0; page < maxPages; page++ {
		r, err := u.acct.iam.ListServiceSpecificCredentials(ctx, in)
		if err != nil {
			return nil, err
		}
		out = append(out, r.ServiceSpecificCredentials...)
		if !r.IsTruncated || aws.ToString(r.Marker) == "" {
			break
		}
		in.Marker = r.Marker
	}
	return out, nil
}
