package awsiam

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/kineticsec/kinetic/connectors"
)

// revoke_sessions ends temporary credentials already issued, which
// deleting or deactivating long-term credentials does not: AWS cannot
// revoke an STS token, but a Deny on everything conditioned on
// aws:TokenIssueTime being before now makes every older token useless,
// while tokens issued later (for a rehire, or other users of a role) are
// not affected.
//
//   - On the user: an inline policy (PutUserPolicy, UserPolicyName) that
//     denies every action to the user's temporary credentials issued
//     before now — those from sts:GetSessionToken and
//     sts:GetFederationToken, which carry the user's permissions. Long-term
//     access keys carry no aws:TokenIssueTime, so the condition never
//     matches them (disable_account and delete_access_keys deal with
//     those).
//     https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_control-access_disable-perms.html
//   - On each role listed in revoke_session_roles: the inline policy the
//     IAM console's "Revoke active sessions" writes, AWSRevokeOlderSessions,
//     with the same statement. It applies to EVERY session of the role, not
//     only the departing person's: everyone using the role must assume it
//     again. Service-linked roles cannot be revoked this way.
//     https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_revoke-sessions.html
//
// Roles are revoked when the subject has an IAM user in some account, or
// when the request's parameter always_revoke_roles is "true" (a person
// who reaches the roles only by federation, with no IAM user).

// UserPolicyName is the inline policy revoke_sessions puts on the user.
const UserPolicyName = "KineticRevokeOlderSessions"

// RolePolicyName is the inline policy revoke_sessions puts on each listed
// role: the name the IAM console's "Revoke active sessions" uses, so a
// later revocation from the console or from Kinetic replaces the same
// policy rather than piling up.
const RolePolicyName = "AWSRevokeOlderSessions"

// policyDoc is an IAM policy document as revoke_sessions writes it.
type policyDoc struct {
	Version   string      `json:"Version"`
	Statement []statement `json:"Statement"`
}

type statement struct {
	Sid       string                       `json:"Sid,omitempty"`
	Effect    string                       `json:"Effect"`
	Action    stringOrList                 `json:"Action"`
	Resource  stringOrList                 `json:"Resource"`
	Condition map[string]map[string]string `json:"Condition,omitempty"`
}

// stringOrList reads IAM's "a string or a list of strings" element.
type stringOrList []string

func (s *stringOrList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

// sidFor names the statement after the request's idempotency key, so a
// retry of the same action finds its own policy and leaves the time alone,
// while a later case (a rehire who leaves again) moves it forward.
func sidFor(key string) string {
	if key == "" {
		return "KineticRevoke"
	}
	sum := sha256.Sum256([]byte(key))
	return "KineticRevoke" + hex.EncodeToString(sum[:8])
}

func revokeDocument(sid string, before time.Time) string {
	doc := policyDoc{Version: "2012-10-17", Statement: []statement{{
		Sid:       sid,
		Effect:    "Deny",
		Action:    stringOrList{"*"},
		Resource:  stringOrList{"*"},
		Condition: map[string]map[string]string{"DateLessThan": {"aws:TokenIssueTime": before.UTC().Format(time.RFC3339)}},
	}}}
	b, _ := json.Marshal(doc)
	return string(b)
}

// revocation is what an existing revoke policy says.
type revocation struct {
	before time.Time // sessions issued before this are denied
	sid    string
}

// parseRevocation decodes a policy document as GetUserPolicy and
// GetRolePolicy return it ("URL-encoded compliant with RFC 3986") and
// returns the deny-all-before statement it holds, if any.
// https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetUserPolicy.html
func parseRevocation(encoded string) (revocation, bool) {
	raw, err := url.PathUnescape(encoded)
	if err != nil {
		raw = encoded
	}
	var doc policyDoc
	if json.Unmarshal([]byte(raw), &doc) != nil {
		return revocation{}, false
	}
	for _, s := range doc.Statement {
		if s.Effect != "Deny" || !isAll(s.Action) || !isAll(s.Resource) {
			continue
		}
		for op, kv := range s.Condition {
			if op != "DateLessThan" {
				continue
			}
			for k, v := range kv {
				if !strings.EqualFold(k, "aws:TokenIssueTime") {
					continue
				}
				if t, err := time.Parse(time.RFC3339, v); err == nil {
					return revocation{before: t, sid: s.Sid}, true
				}
			}
		}
	}
	return revocation{}, false
}

func isAll(l stringOrList) bool {
	for _, v := range l {
		if v == "*" {
			return true
		}
	}
	return false
}

// revokeTarget is one user or role whose sessions are revoked.
type revokeTarget struct {
	acct *account
	user string // an IAM user name, or
	role string // a role name
	arn  string
}

func (t revokeTarget) label() string {
	if t.user != "" {
		return "IAM user " + t.user
	}
	return "role " + t.arn
}

// readRevocation reads the target's revoke policy; found is false when the
// policy is absent (NoSuchEntity).
func (c *Connector) readRevocation(ctx context.Context, t revokeTarget) (rv revocation, found bool, valid bool, err error) {
	var doc string
	if t.user != "" {
		out, err := t.acct.iam.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String(t.user), PolicyName: aws.String(UserPolicyName)})
		if err != nil {
			return rv, false, false, err
		}
		doc = aws.ToString(out.PolicyDocument)
	} else {
		out, err := t.acct.iam.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(t.role), PolicyName: aws.String(RolePolicyName)})
		if err != nil {
			return rv, false, false, err
		}
		doc = aws.ToString(out.PolicyDocument)
	}
	rv, valid = parseRevocation(doc)
	return rv, true, valid, nil
}

// revokeOne writes the target's revoke policy unless the one there already
// covers this request: written by the same action (its idempotency key),
// or denying sessions issued up to a time not before now. It then reads
// the policy back.
func (c *Connector) revokeOne(ctx context.Context, op string, t revokeTarget, sid string) (changed bool, detail string, err error) {
	now := c.now().UTC().Truncate(time.Second)
	rv, found, valid, err := c.readRevocation(ctx, t)
	switch {
	case err != nil && !isNoSuchEntity(err):
		return false, "", c.classify(op, t.acct, "reading the revoke policy of "+t.label(), err)
	case err != nil && t.user != "":
		// NoSuchEntity answers both "no such policy" and "no such user";
		// the user's absence shows at PutUserPolicy below.
	case err != nil:
	case found && valid && (rv.sid == sid && sid != "KineticRevoke" || !rv.before.Before(now)):
		return false, "sessions issued before " + rv.before.Format(time.RFC3339) + " already denied", nil
	}
	doc := aws.String(revokeDocument(sid, now))
	if t.user != "" {
		_, err = t.acct.iam.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(t.user), PolicyName: aws.String(UserPolicyName), PolicyDocument: doc})
	} else {
		_, err = t.acct.iam.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(t.role), PolicyName: aws.String(RolePolicyName), PolicyDocument: doc})
	}
	if err != nil {
		return false, "", c.classify(op, t.acct, "writing the revoke policy of "+t.label(), err)
	}
	// Read back: the policy must now deny sessions issued before now.
	rv, found, valid, err = c.readRevocation(ctx, t)
	if err != nil {
		return true, "", c.classify(op, t.acct, "reading back the revoke policy of "+t.label(), err)
	}
	if !found || !valid || rv.before.Before(now) {
		return true, "", connectors.NewError(connectors.KindTransient, c.name, op,
			fmt.Errorf("%s: the revoke policy of %s does not read back as written", t.acct.label(), t.label()))
	}
	return true, "sessions issued before " + now.Format(time.RFC3339) + " denied", nil
}

var roleNameRe = regexp.MustCompile(`:role/(?:[^/]+/)*([\w+=,.@-]+)$`)

// roleTargets maps revoke_session_roles onto their accounts.
func (c *Connector) roleTargets() []revokeTarget {
	var out []revokeTarget
	for _, arn := range c.cfg.RevokeSessionRoles {
		m := roleARNRe.FindStringSubmatch(arn)
		n := roleNameRe.FindStringSubmatch(arn)
		if m == nil || n == nil {
			continue // Validate refused it
		}
		for _, a := range c.accounts {
			if a.id == "" || a.id == m[2] {
				out = append(out, revokeTarget{acct: a, role: n[1], arn: arn})
				break
			}
		}
	}
	return out
}

// revokeSessions runs revoke_sessions: the policy on each of the subject's
// users, then on each configured role. One failure does not stop the rest.
func (c *Connector) revokeSessions(ctx context.Context, op string, req connectors.Request) (connectors.Result, error) {
	users, errs := c.users(ctx, op, req)
	sid := sidFor(req.IdempotencyKey)
	var res connectors.Result
	var details, revoked []string
	changed, present := false, 0
	targets := make([]revokeTarget, 0, len(users))
	for _, u := range users {
		targets = append(targets, revokeTarget{acct: u.acct, user: u.name, arn: u.arn})
	}
	if len(users) > 0 || strings.EqualFold(strings.TrimSpace(req.Params["always_revoke_roles"]), "true") {
		targets = append(targets, c.roleTargets()...)
	}
	for _, t := range targets {
		if ctx.Err() != nil {
			errs = append(errs, connectors.NewError(connectors.KindCanceled, c.name, op, ctx.Err()))
			break
		}
		ch, d, err := c.revokeOne(ctx, op, t, sid)
		if t.user != "" && isNoSuchEntity(err) {
			details = append(details, fmt.Sprintf("%s in %s: already deleted", t.label(), t.acct.label()))
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		present++
		if t.user != "" {
			res.Account = joinNonEmpty(res.Account, t.arn)
		}
		details = append(details, fmt.Sprintf("%s in %s: %s", t.label(), t.acct.label(), d))
		if ch {
			changed = true
			revoked = append(revoked, t.arn)
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
	if len(revoked) > 0 {
		res.Data = map[string]string{"revoked": strings.Join(revoked, ",")}
	}
	res.Detail = strings.Join(details, " | ")
	return res, connectors.JoinErrors(c.name, op, errs)
}

// verifyRevoked reads back the revoke policy of each target: present and
// a deny-all before a time, written by this action when it has an
// idempotency key.
func (c *Connector) verifyRevoked(ctx context.Context, op string, req connectors.Request) (connectors.Verification, error) {
	users, errs := c.users(ctx, op, req)
	if len(errs) > 0 {
		return connectors.Verification{}, connectors.JoinErrors(c.name, op, errs)
	}
	var targets []revokeTarget
	for _, u := range users {
		targets = append(targets, revokeTarget{acct: u.acct, user: u.name, arn: u.arn})
	}
	if len(users) > 0 || strings.EqualFold(strings.TrimSpace(req.Params["always_revoke_roles"]), "true") {
		targets = append(targets, c.roleTargets()...)
	}
	if len(targets) == 0 {
		return connectors.Verification{OK: true, Detail: "no IAM user"}, nil
	}
	sid := sidFor(req.IdempotencyKey)
	v := connectors.Verification{OK: true}
	var details []string
	for _, t := range targets {
		rv, found, valid, err := c.readRevocation(ctx, t)
		if err != nil && !isNoSuchEntity(err) {
			return connectors.Verification{}, c.classify(op, t.acct, "", err)
		}
		if !found && t.user != "" {
			// NoSuchEntity answers for a missing policy and a missing
			// user alike; a user deleted since is nothing to revoke.
			if _, err := t.acct.iam.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(t.user)}); isNoSuchEntity(err) {
				details = append(details, fmt.Sprintf("%s in %s: deleted", t.label(), t.acct.label()))
				continue
			} else if err != nil {
				return connectors.Verification{}, c.classify(op, t.acct, "", err)
			}
		}
		switch {
		case !found:
			v.OK = false
			details = append(details, fmt.Sprintf("%s in %s: no revoke policy", t.label(), t.acct.label()))
		case !valid:
			v.OK = false
			details = append(details, fmt.Sprintf("%s in %s: the revoke policy is not a deny-all on aws:TokenIssueTime", t.label(), t.acct.label()))
		case req.IdempotencyKey != "" && rv.sid != sid:
			// Another revocation (the console, an earlier case) replaced
			// ours; it still counts when it is at least as recent.
			details = append(details, fmt.Sprintf("%s in %s: sessions issued before %s denied (not written by this action)", t.label(), t.acct.label(), rv.before.Format(time.RFC3339)))
		default:
			details = append(details, fmt.Sprintf("%s in %s: sessions issued before %s denied", t.label(), t.acct.label(), rv.before.Format(time.RFC3339)))
		}
	}
	v.Detail = strings.Join(details, " | ")
	return v, nil
}
