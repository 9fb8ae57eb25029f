// Package identitycenter is the connector for AWS IAM Identity Center
// (successor to AWS Single Sign-On) users: it finds a departing person in
// the instance's identity store, deletes the account assignments that give
// them permission sets in AWS accounts, removes their group memberships in
// the identity store and, where the identity store is the source of users
// (not provisioned by SCIM from an identity provider) and the instance is
// configured to, deletes the user. With a prepared deny service control
// policy it also ends the person's open permission set sessions
// (revoke_sessions, through the Organizations API; see revoke.go).
//
// It talks to two JSON 1.1 APIs through the official AWS SDK for Go v2:
// the SSO Admin API (service/ssoadmin, target prefix SWBExternalService,
// signed for "sso") for account assignments, and the Identity Store API
// (service/identitystore, target prefix AWSIdentityStore, signed for
// "identitystore") for users and group memberships. Both are regional: the
// region is the instance's home region. Every request goes through the
// outbound.URLPolicy client; the SDK retries throttling and 5xx answers.
//
// The Identity Store API has no call that disables a user: the console's
// "Disable user access" has no public API counterpart, and UserStatus is
// read-only (DescribeUser). So the user is either deleted (delete_user,
// deactivate_user) or, when provisioned by SCIM, left to the identity
// provider, whose deactivation (the okta or graph connector) SCIM carries
// over. https://docs.aws.amazon.com/singlesignon/latest/userguide/disableuser.html
package identitycenter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/dur"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

// TypeName is the connector type name configuration uses.
const TypeName = "aws_identity_center"

// Defaults applied to a zero Config field.
const (
	DefaultMaxAttempts     = 5
	DefaultTimeout         = 30 * time.Second
	DefaultSessionName     = "kinetic-offboarding"
	DefaultAssumeDuration  = 15 * time.Minute
	DefaultPollInterval    = 2 * time.Second
	DefaultDeletionTimeout = 2 * time.Minute
)

// Config is the aws_identity_center block of a connector instance.
type Config struct {
	// Region is the Identity Center instance's home region. Required.
	Region string `yaml:"region"`
	// InstanceARN is the instance (arn:aws:sso:::instance/ssoins-…),
	// from ListInstances or the console's Settings. Required.
	InstanceARN string `yaml:"instance_arn"`
	// IdentityStoreID is the instance's identity store (d-…). Required.
	IdentityStoreID string `yaml:"identity_store_id"`
	// AccessKeyID and SecretAccessKey are the base credentials; leave both
	// unset for the SDK's default chain.
	AccessKeyID     secret.Secret `yaml:"access_key_id"`
	SecretAccessKey secret.Secret `yaml:"secret_access_key"`
	// RoleARN, when set, is assumed (sts:AssumeRole) for every request: a
	// role in the organization's management account, or in the delegated
	// administrator account for Identity Center.
	RoleARN     string        `yaml:"role_arn"`
	ExternalID  secret.Secret `yaml:"external_id"`
	SessionName string        `yaml:"session_name"`
	// UserNameFrom lists the subject fields tried, in order, as the
	// identity store user name (GetUserId on userName): "username",
	// "email", "employee_id" or an HR attribute. Default [username, email].
	UserNameFrom []string `yaml:"user_name_from"`
	// MatchEmail also looks the user up by the subject's email
	// (GetUserId on emails.value). Default true; set false to skip it.
	MatchEmail *bool `yaml:"match_email"`
	// ExternalIDIssuer and ExternalIDFrom look the user up by the external
	// id an identity provider set when it provisioned the user (GetUserId
	// on ExternalId{Issuer, Id}): the issuer as the identity store records
	// it and the subject field carrying the id (e.g. employee_id).
	ExternalIDIssuer string `yaml:"external_id_issuer"`
	ExternalIDFrom   string `yaml:"external_id_from"`
	// Accounts limits disable_account to assignments in these AWS accounts
	// (12-digit ids). Empty: every account.
	Accounts []string `yaml:"accounts"`
	// PermissionSets limits disable_account to assignments of these
	// permission sets (ARNs). Empty: every permission set.
	PermissionSets []string `yaml:"permission_sets"`
	// KeepGroups are identity store groups (id or display name, case-
	// insensitive) remove_group_memberships never removes.
	KeepGroups []string `yaml:"keep_groups"`
	// DeleteUser offers deactivate_user, which deletes the user from the
	// identity store (DeleteUser). Set it only where the identity store
	// is the source of users; a user provisioned by SCIM (it carries an
	// external id) is never deleted, whatever this says: deleting it
	// behind the identity provider's back makes SCIM recreate or lose
	// track of it, and the provider's own deactivation covers it.
	DeleteUser bool `yaml:"delete_user"`
	// DenyPolicyID is a service control policy (p-…) holding a Deny of
	// every action conditioned on StringEquals identitystore:userId, as
	// AWS documents for revoking active permission set sessions, attached
	// to the accounts (or OUs) in scope. When set, revoke_sessions adds the
	// user's identity store id to it. Empty: revoke_sessions is not
	// offered.
	DenyPolicyID string `yaml:"deny_policy_id"`
	// OrganizationsEndpoint overrides the Organizations endpoint (tests).
	OrganizationsEndpoint string `yaml:"organizations_endpoint"`
	// PollInterval is the wait between reads of an account assignment
	// deletion's status (DeleteAccountAssignment is asynchronous).
	// Default 2s.
	PollInterval dur.Duration `yaml:"poll_interval"`
	// DeletionTimeout bounds the wait for one deletion to succeed; still
	// in progress after it is a retryable error. Default 2m.
	DeletionTimeout dur.Duration `yaml:"deletion_timeout"`
	// SSOAdminEndpoint, IdentityStoreEndpoint and STSEndpoint override the
	// SDK's endpoints (tests, VPC endpoints); https, checked by the
	// outbound URL policy.
	SSOAdminEndpoint      string `yaml:"sso_admin_endpoint"`
	IdentityStoreEndpoint string `yaml:"identity_store_endpoint"`
	STSEndpoint           string `yaml:"sts_endpoint"`
	// MaxAttempts is how often the SDK tries a request that failed
	// retryably. Default 5.
	MaxAttempts int `yaml:"max_attempts"`
	// Timeout bounds each HTTP request. Default 30s.
	Timeout dur.Duration `yaml:"timeout"`
}

var (
	regionRe        = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	instanceARNRe   = regexp.MustCompile(`^arn:aws(-[a-z]+)*:sso:::instance/(sso)?ins-[a-zA-Z0-9-.]{16}$`)
	storeIDRe       = regexp.MustCompile(`^d-[0-9a-f]{10}$|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	roleARNRe       = regexp.MustCompile(`^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/[\w+=,.@/-]+$`)
	accountIDRe     = regexp.MustCompile(`^[0-9]{12}$`)
	permissionSetRe = regexp.MustCompile(`^arn:aws(-[a-z]+)*:sso:::permissionSet/(sso)?ins-[a-zA-Z0-9-.]{16}/ps-[a-zA-Z0-9-./]{16}$`)
	sessionRe       = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
)

// Validate reports every problem with the configuration, joined, naming
// each key. It does no I/O.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	switch {
	case c.Region == "":
		add("region is required: the Identity Center instance's home region")
	case !regionRe.MatchString(c.Region):
		add("region: %q is not an AWS region name (e.g. eu-west-1)", c.Region)
	}
	switch {
	case c.InstanceARN == "":
		add("instance_arn is required (arn:aws:sso:::instance/ssoins-…)")
	case !instanceARNRe.MatchString(c.InstanceARN):
		add("instance_arn: %q is not an Identity Center instance ARN (arn:aws:sso:::instance/ssoins-…)", c.InstanceARN)
	}
	switch {
	case c.IdentityStoreID == "":
		add("identity_store_id is required (d-…)")
	case !storeIDRe.MatchString(c.IdentityStoreID):
		add("identity_store_id: %q is not an identity store id (d- and 10 hex digits)", c.IdentityStoreID)
	}
	if c.AccessKeyID.IsSet() != c.SecretAccessKey.IsSet() {
		add("set both access_key_id and secret_access_key, or neither (the default credential chain)")
	}
	if c.RoleARN != "" && !roleARNRe.MatchString(c.RoleARN) {
		add("role_arn: %q is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)", c.RoleARN)
	}
	if c.RoleARN == "" && c.ExternalID.IsSet() {
		add("external_id needs a role_arn")
	}
	if c.SessionName != "" && !sessionRe.MatchString(c.SessionName) {
		add("session_name: %q is not a role session name (2-64 of letters, digits and _+=,.@-)", c.SessionName)
	}
	for i, f := range c.UserNameFrom {
		if strings.TrimSpace(f) == "" {
			add("user_name_from[%d] is empty", i)
		}
	}
	if (c.ExternalIDIssuer == "") != (c.ExternalIDFrom == "") {
		add("external_id_issuer and external_id_from go together: set both or neither")
	}
	for i, a := range c.Accounts {
		if !accountIDRe.MatchString(a) {
			add("accounts[%d]: %q is not a 12-digit AWS account id", i, a)
		}
	}
	for i, p := range c.PermissionSets {
		if !permissionSetRe.MatchString(p) {
			add("permission_sets[%d]: %q is not a permission set ARN (arn:aws:sso:::permissionSet/ssoins-…/ps-…)", i, p)
		}
	}
	for i, g := range c.KeepGroups {
		if strings.TrimSpace(g) == "" {
			add("keep_groups[%d] is empty", i)
		}
	}
	if c.PollInterval < 0 {
		add("poll_interval must not be negative (got %s)", c.PollInterval)
	}
	if c.DeletionTimeout < 0 {
		add("deletion_timeout must not be negative (got %s)", c.DeletionTimeout)
	}
	if c.DenyPolicyID != "" && !scpIDRe.MatchString(c.DenyPolicyID) {
		add("deny_policy_id: %q is not an Organizations policy id (p-…)", c.DenyPolicyID)
	}
	if c.OrganizationsEndpoint != "" && c.DenyPolicyID == "" {
		add("organizations_endpoint is only used with deny_policy_id")
	}
	for key, raw := range map[string]string{"sso_admin_endpoint": c.SSOAdminEndpoint, "identity_store_endpoint": c.IdentityStoreEndpoint, "sts_endpoint": c.STSEndpoint, "organizations_endpoint": c.OrganizationsEndpoint} {
		if strings.TrimSpace(raw) == "" {
			continue
		}
		if _, err := outbound.CheckURLForm(key, raw, outbound.URLForm{HTTPSOnly: true}); err != nil {
			add("%v", err)
		}
	}
	if c.STSEndpoint != "" && c.RoleARN == "" {
		add("sts_endpoint is only used with role_arn")
	}
	if c.MaxAttempts < 0 || c.MaxAttempts > 20 {
		add("max_attempts must be between 1 and 20, or 0 for the default %d (got %d)", DefaultMaxAttempts, c.MaxAttempts)
	}
	if c.Timeout < 0 {
		add("timeout must not be negative (got %s)", c.Timeout)
	}
	return errors.Join(errs...)
}

// Operations returns what an instance offers: disable_account (the user's
// account assignments deleted), remove_group_memberships (identity store
// group memberships deleted), with deny_policy_id revoke_sessions (the
// user's id added to the deny SCP) and, with delete_user,
// deactivate_user (the user deleted unless provisioned by SCIM).
func Operations(c Config) []connectors.Operation {
	ops := []connectors.Operation{connectors.OpDisableAccount, connectors.OpRemoveGroupMemberships}
	if c.DenyPolicyID != "" {
		ops = append(ops, connectors.OpRevokeSessions)
	}
	if c.DeleteUser {
		ops = append(ops, connectors.OpDeactivateUser)
	}
	return ops
}

// Option adjusts a Connector at construction.
type Option func(*options)

type options struct {
	log     *logrus.Entry
	backoff retry.BackoffDelayer
	wait    func(ctx context.Context, d time.Duration) error
}

// WithLogger sets the logger (default: discard).
func WithLogger(log *logrus.Entry) Option {
	return func(o *options) {
		if log != nil {
			o.log = log
		}
	}
}

// WithRetryBackoff replaces the SDK's back-off between attempts (tests use
// a zero delay).
func WithRetryBackoff(b retry.BackoffDelayer) Option {
	return func(o *options) { o.backoff = b }
}

// WithWait replaces the wait between deletion status reads (default: a
// timer that stops with ctx). Tests pass one that returns at once.
func WithWait(wait func(ctx context.Context, d time.Duration) error) Option {
	return func(o *options) {
		if wait != nil {
			o.wait = wait
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Connector is one configured Identity Center instance. It implements
// connectors.Connector and connectors.Verifier and is safe for concurrent
// use.
type Connector struct {
	name     string
	cfg      Config
	admin    *ssoadmin.Client
	store    *identitystore.Client
	org      *organizations.Client
	scpMu    sync.Mutex // serialises this process's read-modify-write of the deny SCP
	log      *logrus.Entry
	wait     func(ctx context.Context, d time.Duration) error
	nameFrom []string
	email    bool
	keep     []string
	poll     time.Duration
	bound    time.Duration
}

var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Verifier  = (*Connector)(nil)
)

// New returns the connector named name ("aws_identity_center" when
// empty). cfg must validate and its secrets be resolved. Every request
// goes through policy's client (nil refuses internal addresses).
func New(name string, cfg Config, policy *outbound.URLPolicy, opts ...Option) (*Connector, error) {
	if name == "" {
		name = TypeName
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("aws_identity_center connector %q: %w", name, err)
	}
	discard := logrus.New()
	discard.SetOutput(io.Discard)
	o := options{log: logrus.NewEntry(discard), wait: sleep}
	for _, f := range opts {
		f(&o)
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
			return nil, fmt.Errorf("aws_identity_center connector %q: access_key_id and secret_access_key are set but not resolved (no value)", name)
		}
		base = aws.Config{Region: cfg.Region, Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(id, key, ""))}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		var err error
		if base, err = awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(cfg.Region)); err != nil {
			return nil, fmt.Errorf("aws_identity_center connector %q: default credential chain: %w", name, err)
		}
	}
	base.HTTPClient = policy.HTTPClient(timeout)
	// As in awsiam: the SDK retries throttling and 5xx with back-off; the
	// job layer owns rate limits, so the client-side retry quota is off.
	base.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = attempts
			so.RateLimiter = ratelimit.None
			if o.backoff != nil {
				so.Backoff = o.backoff
			}
		})
	}
	if cfg.RoleARN != "" {
		ext := cfg.ExternalID.Value()
		if cfg.ExternalID.IsSet() && ext == "" {
			return nil, fmt.Errorf("aws_identity_center connector %q: external_id is set but not resolved (no value)", name)
		}
		session := cfg.SessionName
		if session == "" {
			session = DefaultSessionName
		}
		stsClient := sts.NewFromConfig(base, func(so *sts.Options) {
			if ep := strings.TrimSpace(cfg.STSEndpoint); ep != "" {
				so.BaseEndpoint = aws.String(strings.TrimRight(ep, "/"))
			}
		})
		// https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
		base.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient, cfg.RoleARN, func(p *stscreds.AssumeRoleOptions) {
			p.RoleSessionName = session
			p.Duration = DefaultAssumeDuration
			if ext != "" {
				p.ExternalID = aws.String(ext)
			}
		}))
	}
	c := &Connector{
		name:     name,
		cfg:      cfg,
		log:      o.log.WithFields(logrus.Fields{"connector": name, "type": TypeName}),
		wait:     o.wait,
		nameFrom: cfg.UserNameFrom,
		email:    cfg.MatchEmail == nil || *cfg.MatchEmail,
		poll:     cfg.PollInterval.D(),
		bound:    cfg.DeletionTimeout.D(),
	}
	if len(c.nameFrom) == 0 {
		c.nameFrom = []string{"username", "email"}
	}
	if c.poll == 0 {
		c.poll = DefaultPollInterval
	}
	if c.bound == 0 {
		c.bound = DefaultDeletionTimeout
	}
	for _, g := range cfg.KeepGroups {
		c.keep = append(c.keep, strings.ToLower(strings.TrimSpace(g)))
	}
	c.admin = ssoadmin.NewFromConfig(base, func(so *ssoadmin.Options) {
		if ep := strings.TrimSpace(cfg.SSOAdminEndpoint); ep != "" {
			so.BaseEndpoint = aws.String(strings.TrimRight(ep, "/"))
		}
	})
	c.store = identitystore.NewFromConfig(base, func(so *identitystore.Options) {
		if ep := strings.TrimSpace(cfg.IdentityStoreEndpoint); ep != "" {
			so.BaseEndpoint = aws.String(strings.TrimRight(ep, "/"))
		}
	})
	// Organizations is a global service: the SDK resolves its endpoint in
	// the partition's home region (us-east-1 for aws).
	c.org = organizations.NewFromConfig(base, func(so *organizations.Options) {
		if ep := strings.TrimSpace(cfg.OrganizationsEndpoint); ep != "" {
			so.BaseEndpoint = aws.String(strings.TrimRight(ep, "/"))
		}
	})
	return c, nil
}

// Name returns the instance name.
func (c *Connector) Name() string { return c.name }

// Type describes the connector type for the registry.
func (c *Connector) Type() connectors.Type {
	return connectors.Type{Name: TypeName, Operations: Operations(c.cfg)}
}

// keepSet is the group ids and names (lower case) a request must not
// remove: keep_groups plus the action's "keep" parameter.
func (c *Connector) keepSet(req connectors.Request) []string {
	keep := slices.Clone(c.keep)
	for _, k := range strings.Split(req.Params["keep"], ",") {
		if k = strings.ToLower(strings.TrimSpace(k)); k != "" {
			keep = append(keep, k)
		}
	}
	return keep
}
