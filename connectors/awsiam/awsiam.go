// Package awsiam is the connector for AWS Identity and Access Management
// (IAM) users: it finds a departing person's IAM user in each configured AWS
// account, removes every credential the user can sign in or sign requests
// with, removes the user from its IAM groups and tags it as offboarded.
//
// It talks to IAM's Query API through the official AWS SDK for Go v2
// (service/iam, with SigV4 signing and the SDK's retries of throttling and
// 5xx answers). Several accounts are reached by assuming a role in each
// (sts:AssumeRole through stscreds, the temporary credentials cached and
// refreshed by the SDK). Every IAM and STS request goes through the
// outbound.URLPolicy client.
//
// Every operation reads first and changes only what still needs changing,
// so a repeated operation reports already_done; IAM's NoSuchEntity (the
// user, the login profile or a key is already gone) is an idempotent
// success, never an error.
package awsiam

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/dur"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

// TypeName is the connector type name configuration uses for AWS IAM
// instances.
const TypeName = "awsiam"

// Defaults applied to a zero Config field.
const (
	DefaultRegion         = "us-east-1"
	DefaultMaxAttempts    = 5
	DefaultTimeout        = 30 * time.Second
	DefaultOffboardedTag  = "kinetic:offboarded"
	DefaultSessionName    = "kinetic-offboarding"
	DefaultAssumeDuration = 15 * time.Minute
	// DeleteAfterTag is the tag delete_access_keys puts on a user whose
	// keys it deactivated but may not delete yet: the RFC 3339 time from
	// which a later run deletes them.
	DeleteAfterTag = "kinetic:access-keys-delete-after"
)

// Config is the awsiam block of a connector instance.
type Config struct {
	// Region is the region requests are signed for and endpoints resolved
	// in. IAM is a global service whose endpoint lives in one region per
	// partition: us-east-1 (default) for the aws partition,
	// us-gov-west-1 for GovCloud (US), cn-north-1 for China.
	Region string `yaml:"region"`
	// AccessKeyID and SecretAccessKey are the base credentials. Leave both
	// unset to use the SDK's default chain (environment, shared files,
	// web identity / IRSA, ECS or EC2 instance role).
	AccessKeyID     secret.Secret `yaml:"access_key_id"`
	SecretAccessKey secret.Secret `yaml:"secret_access_key"`
	// IAMEndpoint and STSEndpoint override the endpoints the SDK resolves
	// (tests, private endpoints). Each must be https (http only for
	// localhost) and pass the outbound URL policy.
	IAMEndpoint string `yaml:"iam_endpoint"`
	STSEndpoint string `yaml:"sts_endpoint"`
	// Accounts are the AWS accounts to search and act in. Empty: the
	// account the base credentials belong to.
	Accounts []Account `yaml:"accounts"`
	// UserNameFrom lists the subject fields tried, in order, as the IAM
	// user name (GetUser): "username", "email", "employee_id" or any HR
	// attribute name. Default [username, email].
	UserNameFrom []string `yaml:"user_name_from"`
	// MatchTags maps a subject field (as in UserNameFrom) to the IAM tag
	// key carrying it, e.g. {employee_id: hr-id, email: email}. When no
	// user is found by name, the account's users are listed (ListUsers,
	// under PathPrefix) and each one's tags read (ListUserTags): one call
	// per user. A user found by name whose tag names someone else is not
	// taken.
	MatchTags map[string]string `yaml:"match_tags"`
	// PathPrefix limits the tag search to users under this IAM path.
	// Default "/".
	PathPrefix string `yaml:"path_prefix"`
	// KeepGroups are IAM group names remove_group_memberships never
	// removes (case-insensitive). A request can add more with the "keep"
	// parameter (comma separated).
	KeepGroups []string `yaml:"keep_groups"`
	// OffboardedTag is the tag key disable_account sets on the user, its
	// value the time. Default kinetic:offboarded.
	OffboardedTag string `yaml:"offboarded_tag"`
	// AccessKeyDeleteAfter: delete_access_keys deactivates every key at
	// once and deletes them this long after (0, the default: at once).
	// The connector contract has no timer, so the due time is tagged on
	// the user (kinetic:access-keys-delete-after) and recorded in the
	// result; a delete_access_keys run at or after that time (a later
	// action, a reconciliation remediation) deletes the keys.
	AccessKeyDeleteAfter dur.Duration `yaml:"access_key_delete_after"`
	// RevokeSessionRoles are role ARNs, in the configured accounts, that
	// revoke_sessions also revokes: each gets the AWSRevokeOlderSessions
	// inline policy the IAM console's "Revoke active sessions" writes,
	// denying every session of the role issued before now — everyone's
	// sessions, not only the departing person's (they assume the role
	// again). List the roles people assume by hand or by federation that
	// must not outlive a departure. Empty: only the user's own
	// temporary credentials are revoked.
	RevokeSessionRoles []string `yaml:"revoke_session_roles"`
	// MaxAttempts is how often the SDK tries one request that failed
	// retryably (throttling, 5xx, a reset connection). Default 5.
	MaxAttempts int `yaml:"max_attempts"`
	// Timeout bounds each HTTP request. Default 30s.
	Timeout dur.Duration `yaml:"timeout"`
}

// Account is one AWS account the connector acts in.
type Account struct {
	// ID is the 12-digit account id. Required.
	ID string `yaml:"id"`
	// RoleARN is the role assumed in the account
	// (arn:aws:iam::ID:role/…). Empty: the base credentials are used as
	// they are (they must belong to this account); at most one account
	// may leave it empty.
	RoleARN string `yaml:"role_arn"`
	// ExternalID is passed to AssumeRole when the role's trust policy
	// requires one.
	ExternalID secret.Secret `yaml:"external_id"`
	// SessionName names the assumed-role session in CloudTrail. Default
	// kinetic-offboarding.
	SessionName string `yaml:"session_name"`
}

var (
	accountIDRe = regexp.MustCompile(`^[0-9]{12}$`)
	roleARNRe   = regexp.MustCompile(`^arn:aws(-[a-z]+)*:iam::([0-9]{12}):role/[\w+=,.@/-]+$`)
	regionRe    = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	tagKeyRe    = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$`)
	sessionRe   = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
)

// Validate reports every problem with the configuration, joined. It does
// no I/O.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if c.Region != "" && !regionRe.MatchString(c.Region) {
		add("region: %q is not an AWS region name (e.g. us-east-1, us-gov-west-1)", c.Region)
	}
	if c.AccessKeyID.IsSet() != c.SecretAccessKey.IsSet() {
		add("set both access_key_id and secret_access_key, or neither (the default credential chain)")
	}
	for key, raw := range map[string]string{"iam_endpoint": c.IAMEndpoint, "sts_endpoint": c.STSEndpoint} {
		if strings.TrimSpace(raw) == "" {
			continue
		}
		if _, err := outbound.CheckURLForm(key, raw, outbound.URLForm{HTTPSOnly: true}); err != nil {
			add("%v", err)
		}
	}
	noRole := 0
	seen := map[string]bool{}
	for i, a := range c.Accounts {
		k := fmt.Sprintf("accounts[%d]", i)
		if !accountIDRe.MatchString(a.ID) {
			add("%s.id: %q is not a 12-digit AWS account id", k, a.ID)
		} else if seen[a.ID] {
			add("%s.id: account %s is listed twice", k, a.ID)
		}
		seen[a.ID] = true
		if a.RoleARN == "" {
			noRole++
			if a.ExternalID.IsSet() {
				add("%s.external_id needs a role_arn", k)
			}
		} else if m := roleARNRe.FindStringSubmatch(a.RoleARN); m == nil {
			add("%s.role_arn: %q is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)", k, a.RoleARN)
		} else if m[2] != a.ID {
			add("%s.role_arn: the role is in account %s, not %s", k, m[2], a.ID)
		}
		if a.SessionName != "" && !sessionRe.MatchString(a.SessionName) {
			add("%s.session_name: %q is not a role session name (2-64 of letters, digits and _+=,.@-)", k, a.SessionName)
		}
	}
	if noRole > 1 {
		add("accounts: at most one account may use the base credentials without a role_arn")
	}
	for i, f := range c.UserNameFrom {
		if strings.TrimSpace(f) == "" {
			add("user_name_from[%d] is empty", i)
		}
	}
	for field, key := range c.MatchTags {
		if strings.TrimSpace(field) == "" {
			add("match_tags: a subject field name is empty")
		}
		if !tagKeyRe.MatchString(key) || strings.HasPrefix(strings.ToLower(key), "aws:") {
			add("match_tags.%s: %q is not a user tag key (1-128 characters, not starting aws:)", field, key)
		}
	}
	if p := c.PathPrefix; p != "" && (!strings.HasPrefix(p, "/") || !strings.HasSuffix(p, "/")) {
		add("path_prefix: %q must begin and end with / (e.g. /staff/)", p)
	}
	for i, g := range c.KeepGroups {
		if strings.TrimSpace(g) == "" {
			add("keep_groups[%d] is empty", i)
		}
	}
	if t := c.OffboardedTag; t != "" && (!tagKeyRe.MatchString(t) || strings.HasPrefix(strings.ToLower(t), "aws:")) {
		add("offboarded_tag: %q is not a user tag key (1-128 characters, not starting aws:)", t)
	}
	for i, r := range c.RevokeSessionRoles {
		k := fmt.Sprintf("revoke_session_roles[%d]", i)
		m := roleARNRe.FindStringSubmatch(r)
		switch {
		case m == nil:
			add("%s: %q is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)", k, r)
		case strings.Contains(r, ":role/aws-service-role/"):
			add("%s: %q is a service-linked role, whose sessions cannot be revoked", k, r)
		case len(c.Accounts) > 0 && !seen[m[2]]:
			add("%s: the role is in account %s, which accounts does not list", k, m[2])
		}
	}
	if c.AccessKeyDeleteAfter < 0 {
		add("access_key_delete_after must not be negative (got %s)", c.AccessKeyDeleteAfter)
	}
	if c.MaxAttempts < 0 || c.MaxAttempts > 20 {
		add("max_attempts must be between 1 and 20, or 0 for the default %d (got %d)", DefaultMaxAttempts, c.MaxAttempts)
	}
	if c.Timeout < 0 {
		add("timeout must not be negative (got %s)", c.Timeout)
	}
	return errors.Join(errs...)
}

// Operations returns the operations every instance supports:
// disable_account (console password, MFA devices, access keys made
// inactive, SSH keys, signing certificates and service-specific
// credentials deleted, the user tagged), delete_access_keys,
// remove_group_memberships and revoke_sessions (a deny-all inline policy
// on the user, and on each of revoke_session_roles, for sessions issued
// before now; see revoke.go).
func Operations(Config) []connectors.Operation {
	return []connectors.Operation{connectors.OpDisableAccount, connectors.OpDeleteAccessKeys, connectors.OpRemoveGroupMemberships, connectors.OpRevokeSessions}
}

// Option adjusts a Connector at construction.
type Option func(*options)

type options struct {
	now     func() time.Time
	log     *logrus.Entry
	backoff retry.BackoffDelayer
}

// WithClock sets the clock for the offboarded tag and the access key
// deletion delay (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}

// WithLogger sets the logger (default: discard).
func WithLogger(log *logrus.Entry) Option {
	return func(o *options) {
		if log != nil {
			o.log = log
		}
	}
}

// WithRetryBackoff replaces the SDK's exponential back-off between
// attempts (tests use a zero delay).
func WithRetryBackoff(b retry.BackoffDelayer) Option {
	return func(o *options) { o.backoff = b }
}

// account is one configured account with its IAM client.
type account struct {
	id   string // empty when not configured (the base credentials' own account)
	role string
	iam  *iam.Client
}

// label names the account in details and errors.
func (a *account) label() string {
	if a.id == "" {
		return "the credentials' account"
	}
	return "account " + a.id
}

// Connector is one configured set of AWS accounts. It implements
// connectors.Connector and connectors.Verifier and is safe for concurrent
// use.
type Connector struct {
	name        string
	cfg         Config
	accounts    []*account
	now         func() time.Time
	log         *logrus.Entry
	nameFrom    []string
	keep        []string
	offTag      string
	deleteAfter time.Duration
}

// Compile-time checks of the contracts.
var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Verifier  = (*Connector)(nil)
)

// New returns the AWS IAM connector named name ("awsiam" when empty). cfg
// must validate and its secrets be resolved. IAM and STS requests go
// through policy's client (a nil policy refuses internal addresses); the
// default credential chain's own providers (instance metadata, web
// identity) use the SDK's client, since they talk to fixed AWS addresses,
// not configured ones.
func New(name string, cfg Config, policy *outbound.URLPolicy, opts ...Option) (*Connector, error) {
	if name == "" {
		name = TypeName
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("awsiam connector %q: %w", name, err)
	}
	discard := logrus.New()
	discard.SetOutput(io.Discard)
	o := options{now: time.Now, log: logrus.NewEntry(discard)}
	for _, f := range opts {
		f(&o)
	}
	region := cfg.Region
	if region == "" {
		region = DefaultRegion
	}
	timeout := cfg.Timeout.D()
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	attempts := cfg.MaxAttempts
	if attempts == 0 {
		attempts = DefaultMaxAttempts
	}

	var base aws.Config
	if cfg.AccessKeyID.IsSet() {
		id, key := cfg.AccessKeyID.Value(), cfg.SecretAccessKey.Value()
		if id == "" || key == "" {
			return nil, fmt.Errorf("awsiam connector %q: access_key_id and secret_access_key are set but not resolved (no value)", name)
		}
		base = aws.Config{Region: region, Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(id, key, ""))}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		var err error
		base, err = awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region))
		if err != nil {
			// The error names files and profiles, never key material.
			return nil, fmt.Errorf("awsiam connector %q: default credential chain: %w", name, err)
		}
	}
	base.HTTPClient = policy.HTTPClient(timeout)
	// The SDK retries throttling and 5xx itself, with back-off; Kinetic's
	// job layer owns rate limits and later retries, so the SDK's
	// client-side retry quota is turned off (it would fail calls with
	// "retry quota exceeded" after a burst of errors shared by every
	// caller of this client).
	base.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = attempts
			so.RateLimiter = ratelimit.None
			if o.backoff != nil {
				so.Backoff = o.backoff
			}
		})
	}
	iamOpts := func(io *iam.Options) {
		if ep := strings.TrimSpace(cfg.IAMEndpoint); ep != "" {
			io.BaseEndpoint = aws.String(strings.TrimRight(ep, "/"))
		}
	}

	c := &Connector{
		name:        name,
		cfg:         cfg,
		now:         o.now,
		log:         o.log.WithFields(logrus.Fields{"connector": name, "type": TypeName}),
		nameFrom:    cfg.UserNameFrom,
		offTag:      cfg.OffboardedTag,
		deleteAfter: cfg.AccessKeyDeleteAfter.D(),
	}
	if len(c.nameFrom) == 0 {
		c.nameFrom = []string{"username", "email"}
	}
	if c.offTag == "" {
		c.offTag = DefaultOffboardedTag
	}
	for _, g := range cfg.KeepGroups {
		c.keep = append(c.keep, strings.ToLower(strings.TrimSpace(g)))
	}
	if len(cfg.Accounts) == 0 {
		c.accounts = []*account{{iam: iam.NewFromConfig(base, iamOpts)}}
		return c, nil
	}
	stsClient := sts.NewFromConfig(base, func(so *sts.Options) {
		if ep := strings.TrimSpace(cfg.STSEndpoint); ep != "" {
			so.BaseEndpoint = aws.String(strings.TrimRight(ep, "/"))
		}
	})
	for _, a := range cfg.Accounts {
		ac := base.Copy()
		if a.RoleARN != "" {
			session := a.SessionName
			if session == "" {
				session = DefaultSessionName
			}
			ext := a.ExternalID.Value()
			if a.ExternalID.IsSet() && ext == "" {
				return nil, fmt.Errorf("awsiam connector %q: account %s: external_id is set but not resolved (no value)", name, a.ID)
			}
			// https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
			prov := stscreds.NewAssumeRoleProvider(stsClient, a.RoleARN, func(p *stscreds.AssumeRoleOptions) {
				p.RoleSessionName = session
				p.Duration = DefaultAssumeDuration
				if ext != "" {
					p.ExternalID = aws.String(ext)
				}
			})
			ac.Credentials = aws.NewCredentialsCache(prov)
		}
		c.accounts = append(c.accounts, &account{id: a.ID, role: a.RoleARN, iam: iam.NewFromConfig(ac, iamOpts)})
	}
	return c, nil
}

// Name returns the instance name.
func (c *Connector) Name() string { return c.name }

// Type describes the connector type for the registry.
func (c *Connector) Type() connectors.Type {
	return connectors.Type{Name: TypeName, Operations: Operations(c.cfg)}
}

// keepSet is the group names (lower case) a request must not remove.
func (c *Connector) keepSet(req connectors.Request) []string {
	keep := slices.Clone(c.keep)
	for _, k := range strings.Split(req.Params["keep"], ",") {
		if k = strings.ToLower(strings.TrimSpace(k)); k != "" {
			keep = append(keep, k)
		}
	}
	return keep
}
