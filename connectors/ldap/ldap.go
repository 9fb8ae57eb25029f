// Package ldap is the connector for Active Directory, and for other LDAP
// directories, over LDAP (github.com/go-ldap/ldap/v3). It owns finding a
// person's account by one attribute, disabling it (Active Directory's
// userAccountControl, or a configured attribute such as nsAccountLock),
// optionally resetting its password and moving it to a disabled OU, and
// removing it from its groups — each idempotent and each read back by
// Verify.
//
// # Accounts
//
// An account's ID is its distinguished name (DN): it is what LDAP
// operations address, it is readable in audit records, and it works on
// every directory (sAMAccountName is Active Directory's only). A DN changes
// when disabled_ou moves the account, so a Request whose Account names a DN
// that no longer exists falls back to matching the Subject; Result.Account
// reports the DN after the move.
//
// The Subject field named by match_field (email by default) is compared
// with match_attribute (mail by default) below base_dn, ANDed with
// user_filter. The value is escaped (ldap.EscapeFilter), so it cannot widen
// the search. A value matching two or more entries is refused (KindInvalid,
// naming the DNs): the connector never guesses which account to disable.
//
// # Operations
//
//   - disable_account: with disable mode uac (the default) sets bit 0x2 of
//     userAccountControl, keeping every other bit, as a conditional update
//     (delete the value read, add the new one) so a concurrent change is
//     never overwritten; with mode attribute replaces the configured
//     attribute's values with the configured value. With reset_password it
//     first sets a random password (unicodePwd, over TLS only); with
//     disabled_ou it then moves the account there. Already disabled (and
//     already in disabled_ou) is OutcomeAlreadyDone.
//   - remove_group_memberships: deletes the account's DN from the member
//     attribute of every group in its memberOf, except the keep_groups and
//     any named in Request.Params["keep"] (CNs separated by commas, or DNs
//     separated by semicolons). The primary group is not in memberOf and is
//     never touched. A group that answers "not a member" or that no longer
//     exists is skipped: LDAP 16 noSuchAttribute (Active Directory; Samba
//     for a group with no members), 53 unwillingToPerform (Samba, when the
//     group has other members or the value was already deleted; since 53
//     can also mean "not now", memberOf is read again to confirm) or 32
//     noSuchObject. Result.Data["removed_groups"] is a JSON array of
//     the removed groups' DNs, for restoring a rehire.
//
// A subject with no account is OutcomeNoneFound. Errors are classified as
// described on kindForCode; no error carries the bind password.
//
// # Connections
//
// ldaps:// or ldap:// with StartTLS; a simple bind over plain ldap:// is
// refused unless allow_insecure_plain_ldap is set. Certificates are always
// verified (ca_file, server_name). Bound connections are pooled (up to 4
// idle, each used by one call at a time). A call's context bounds every
// step — dial, TLS handshake, bind and each request — and cancelling it
// closes the connection, so the call returns at once.
package ldap

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/outbound"
)

// TypeName is the connector type name configuration uses for LDAP
// instances.
const TypeName = "ldap"

// uacDisabled is userAccountControl's ACCOUNTDISABLE bit.
const uacDisabled = 0x2

// Operations returns the operations an LDAP instance with cfg supports:
// disable_account and remove_group_memberships.
func Operations(cfg Config) []connectors.Operation {
	return []connectors.Operation{connectors.OpDisableAccount, connectors.OpRemoveGroupMemberships}
}

// Option adjusts a Connector at construction.
type Option func(*Connector)

// WithURLPolicy makes every connection obey the outbound URL policy: the
// host, and each address it resolves to, is checked before dialling, and a
// refusal is a KindInvalid error. Without it the connector dials whatever
// the URL names.
func WithURLPolicy(p *outbound.URLPolicy) Option {
	return func(c *Connector) { c.policy = p }
}

// WithDialer replaces the TCP dialer (for tests, or to go through a
// proxy). The dialer is given the URL's host:port; TLS is layered on top by
// the connector. It takes precedence over WithURLPolicy.
func WithDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) Option {
	return func(c *Connector) { c.dialer = dial }
}

// WithLogger sets the logger changes are recorded on (one Info line per
// account disabled, moved or removed from a group). The default discards.
func WithLogger(log *logrus.Entry) Option {
	return func(c *Connector) {
		if log != nil {
			c.log = log
		}
	}
}

// WithClock sets the clock used for connection idle times (default
// time.Now).
func WithClock(now func() time.Time) Option {
	return func(c *Connector) {
		if now != nil {
			c.now = now
		}
	}
}

// Connector is one configured LDAP directory. It implements
// connectors.Connector, connectors.Verifier and connectors.Closer and is
// safe for concurrent use.
type Connector struct {
	name      string
	cfg       Config // with defaults applied
	password  string
	addr      string // host:port
	ldaps     bool
	tlsConfig *tls.Config // nil for plain LDAP
	baseDN    *goldap.DN
	disabled  *goldap.DN // disabled_ou, or nil
	keep      []groupRef
	dialer    func(ctx context.Context, network, addr string) (net.Conn, error)
	policy    *outbound.URLPolicy
	log       *logrus.Entry
	now       func() time.Time
	pool      pool

	// inject, when set, fails the next call's first round trip (tests).
	inject atomic.Pointer[error]
}

// Compile-time checks of the contracts.
var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Verifier  = (*Connector)(nil)
	_ connectors.Closer    = (*Connector)(nil)
)

// New returns the connector named name (the instance name from config). It
// fails when cfg does not validate or its bind password is not resolved; it
// does not contact the server.
func New(name string, cfg Config, opts ...Option) (*Connector, error) {
	if name == "" {
		name = TypeName
	}
	fail := func(err error) (*Connector, error) {
		return nil, connectors.NewError(connectors.KindInvalid, name, "configure", fmt.Errorf("ldap connector %q: %w", name, err))
	}
	if err := cfg.Validate(); err != nil {
		return fail(err)
	}
	if cfg.BindPassword.Value() == "" {
		return fail(errors.New("bind_password has no value (is the secret resolved?)"))
	}
	cfg = cfg.withDefaults()
	u, _ := parseURL(cfg.URL) // validated
	c := &Connector{
		name:     name,
		cfg:      cfg,
		password: cfg.BindPassword.Value(),
		addr:     u.Host,
		ldaps:    u.Scheme == "ldaps",
		now:      time.Now,
	}
	c.baseDN, _ = goldap.ParseDN(cfg.BaseDN)
	if cfg.DisabledOU != "" {
		c.disabled, _ = goldap.ParseDN(cfg.DisabledOU)
	}
	for _, g := range cfg.KeepGroups {
		r, _ := parseGroupRef(g)
		c.keep = append(c.keep, r)
	}
	if c.ldaps || cfg.StartTLS {
		c.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.ServerName}
		if c.tlsConfig.ServerName == "" {
			c.tlsConfig.ServerName = u.Hostname()
		}
		if cfg.CAFile != "" {
			pool, err := loadCAs(cfg.CAFile)
			if err != nil {
				return fail(err)
			}
			c.tlsConfig.RootCAs = pool
		}
	}
	for _, o := range opts {
		o(c)
	}
	if c.log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		c.log = logrus.NewEntry(l)
	}
	c.log = c.log.WithFields(logrus.Fields{"connector": name, "type": TypeName})
	return c, nil
}

// Name returns the instance name.
func (c *Connector) Name() string { return c.name }

// Type describes the ldap connector type, for the registry and config
// validation.
func (c *Connector) Type() connectors.Type {
	return connectors.Type{Name: TypeName, Operations: Operations(c.cfg)}
}

// Close closes the pooled connections. Calls made afterwards fail with a
// retryable error; calls in flight finish and close their connection.
func (c *Connector) Close() error {
	c.pool.close()
	return nil
}

// callContext bounds a call by Config.Timeout.
func (c *Connector) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, c.cfg.Timeout.D(), errCallTimeout)
}

// injected consumes the failure set by the tests' InjectFailure, if any.
func (c *Connector) injected() error {
	if p := c.inject.Swap(nil); p != nil {
		return *p
	}
	return nil
}

// user is an account entry as read.
type user struct {
	dn         string
	parsed     *goldap.DN
	sam        string
	uac        int64
	hasUAC     bool
	disableVal []string // disable.attribute's values (mode attribute)
	memberOf   []string
}

// userAttrs are the attributes every user read asks for.
func (c *Connector) userAttrs() []string {
	attrs := []string{"sAMAccountName", "userAccountControl", "memberOf"}
	if c.cfg.Disable.Mode == DisableAttribute {
		attrs = append(attrs, c.cfg.Disable.Attribute)
	}
	return attrs
}

func (c *Connector) toUser(e *goldap.Entry) (*user, error) {
	u := &user{dn: e.DN, sam: e.GetAttributeValue("sAMAccountName"), memberOf: e.GetAttributeValues("memberOf")}
	var err error
	if u.parsed, err = goldap.ParseDN(e.DN); err != nil {
		return nil, fmt.Errorf("server returned an unparseable DN %q", e.DN)
	}
	if v := e.GetAttributeValue("userAccountControl"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: userAccountControl %q is not a number", e.DN, v)
		}
		u.uac, u.hasUAC = n, true
	}
	if c.cfg.Disable.Mode == DisableAttribute {
		u.disableVal = e.GetEqualFoldAttributeValues(c.cfg.Disable.Attribute)
	}
	return u, nil
}

// isDisabled reports whether u is disabled by the configured mode.
func (c *Connector) isDisabled(u *user) bool {
	if c.cfg.Disable.Mode == DisableAttribute {
		for _, v := range u.disableVal {
			if strings.EqualFold(v, c.cfg.Disable.Value) {
				return true
			}
		}
		return false
	}
	return u.uac&uacDisabled != 0
}

// inDisabledOU reports whether u sits directly in disabled_ou (true when
// none is configured).
func (c *Connector) inDisabledOU(u *user) bool {
	if c.disabled == nil {
		return true
	}
	if len(u.parsed.RDNs) < 2 {
		return false
	}
	parent := &goldap.DN{RDNs: u.parsed.RDNs[1:]}
	return parent.EqualFold(c.disabled)
}

// matchValue returns the Subject's value for match_field.
func (c *Connector) matchValue(s connectors.Subject) string {
	switch c.cfg.MatchField {
	case MatchUsername:
		return strings.TrimSpace(s.Username)
	case MatchEmployeeID:
		return strings.TrimSpace(s.EmployeeID)
	}
	return strings.TrimSpace(s.Email)
}

// userFilter is the search filter for one match value.
func (c *Connector) userFilter(value string) string {
	return "(&" + c.cfg.UserFilter + "(" + c.cfg.MatchAttribute + "=" + goldap.EscapeFilter(value) + "))"
}

// find resolves the account a call is about: the DN in account when it
// still exists, else the one entry matching the subject. It returns nil
// when there is none. Errors are classified.
func (s *session) find(subj connectors.Subject, account string) (*user, error) {
	c := s.c
	if account != "" {
		d, err := goldap.ParseDN(account)
		if err != nil || len(d.RDNs) == 0 {
			return nil, c.invalid(s.op, "account %q is not a DN (this connector's account IDs are DNs)", account)
		}
		if !c.baseDN.AncestorOfFold(d) {
			return nil, c.invalid(s.op, "account %q is not inside base_dn %q", account, c.cfg.BaseDN)
		}
		res, err := s.search(&goldap.SearchRequest{
			BaseDN: account, Scope: goldap.ScopeBaseObject, DerefAliases: goldap.NeverDerefAliases,
			Filter: c.cfg.UserFilter, Attributes: c.userAttrs(),
		})
		switch {
		case err == nil && len(res.Entries) == 1:
			u, err := c.toUser(res.Entries[0])
			if err != nil {
				return nil, c.invalid(s.op, "%v", err)
			}
			return u, nil
		case err == nil || resultCode(err) == goldap.LDAPResultNoSuchObject:
			// Moved (disabled_ou) or deleted: match the subject instead.
		default:
			return nil, c.classify(s.ctx, s.op, err)
		}
	}
	value := c.matchValue(subj)
	if value == "" {
		if account != "" {
			return nil, nil
		}
		return nil, c.invalid(s.op, "the subject has no %s to match on %s", c.cfg.MatchField, c.cfg.MatchAttribute)
	}
	res, err := s.search(&goldap.SearchRequest{
		BaseDN: c.cfg.BaseDN, Scope: goldap.ScopeWholeSubtree, DerefAliases: goldap.NeverDerefAliases,
		Filter: c.userFilter(value), Attributes: c.userAttrs(),
	})
	if err != nil {
		return nil, c.classify(s.ctx, s.op, err)
	}
	switch len(res.Entries) {
	case 0:
		return nil, nil
	case 1:
		u, err := c.toUser(res.Entries[0])
		if err != nil {
			return nil, c.invalid(s.op, "%v", err)
		}
		return u, nil
	}
	dns := make([]string, len(res.Entries))
	for i, e := range res.Entries {
		dns[i] = e.DN
	}
	return nil, c.invalid(s.op, "%s=%q matches %d accounts, refusing to guess which: %s",
		c.cfg.MatchAttribute, value, len(dns), strings.Join(dns, "; "))
}

// Lookup reports the subject's account: ID (its DN), status
// active/disabled by the configured disable mode, and Groups, the CNs of
// its memberOf. None found is an empty result and a nil error.
func (c *Connector) Lookup(ctx context.Context, subj connectors.Subject) (connectors.LookupResult, error) {
	const op = "lookup"
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	s, err := c.open(ctx, op)
	if err != nil {
		return connectors.LookupResult{}, err
	}
	defer s.release()
	u, err := s.find(subj, "")
	if err != nil || u == nil {
		return connectors.LookupResult{}, err
	}
	return connectors.LookupResult{Accounts: []connectors.Account{c.account(u)}}, nil
}

func (c *Connector) account(u *user) connectors.Account {
	a := connectors.Account{ID: u.dn, Kind: "user", Status: connectors.StatusActive}
	if c.isDisabled(u) {
		a.Status = connectors.StatusDisabled
	}
	for _, g := range u.memberOf {
		a.Groups = append(a.Groups, groupCN(g))
	}
	var detail []string
	if u.sam != "" {
		detail = append(detail, "sAMAccountName="+u.sam)
	}
	if u.hasUAC {
		detail = append(detail, fmt.Sprintf("userAccountControl=0x%x", u.uac))
	}
	a.Detail = strings.Join(detail, " ")
	return a
}

// rdnString renders an RDN keeping its attribute types' spelling.
func rdnString(r *goldap.RelativeDN) string {
	parts := make([]string, len(r.Attributes))
	for i, a := range r.Attributes {
		parts[i] = a.Type + "=" + goldap.EscapeDN(a.Value)
	}
	return strings.Join(parts, "+")
}

// groupCN returns the value of a group DN's first RDN (its CN), or the DN
// when it does not parse.
func groupCN(dn string) string {
	d, err := goldap.ParseDN(dn)
	if err != nil || len(d.RDNs) == 0 || len(d.RDNs[0].Attributes) == 0 {
		return dn
	}
	return d.RDNs[0].Attributes[0].Value
}

// Do performs one operation; see the package documentation.
func (c *Connector) Do(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	op := string(req.Operation)
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	if err := c.checkOp(ctx, op, req.Operation); err != nil {
		return connectors.Result{}, err
	}
	keep, err := c.keepFor(req.Params)
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
		return connectors.Result{Outcome: connectors.OutcomeNoneFound, Detail: "no account"}, nil
	}
	if req.Operation == connectors.OpDisableAccount {
		return s.disable(u)
	}
	return s.removeGroups(u, keep)
}

// Verify reads back, with a fresh search, the state an operation should
// have produced: disabled (and in disabled_ou, when configured), or member
// of no group but the kept ones. A subject without an account verifies OK.
func (c *Connector) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	op := "verify " + string(req.Operation)
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	if err := c.checkOp(ctx, op, req.Operation); err != nil {
		return connectors.Verification{}, err
	}
	keep, err := c.keepFor(req.Params)
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
		return connectors.Verification{OK: true, Detail: "no account"}, nil
	}
	if req.Operation == connectors.OpDisableAccount {
		return c.verifyDisabled(u), nil
	}
	kept, others := c.splitGroups(u.memberOf, keep)
	v := connectors.Verification{OK: len(others) == 0}
	if v.OK {
		v.Detail = fmt.Sprintf("%s: member of %d kept groups only", u.dn, len(kept))
	} else {
		v.Detail = fmt.Sprintf("%s: still member of %d groups: %s", u.dn, len(others), strings.Join(others, "; "))
	}
	return v, nil
}

func (c *Connector) verifyDisabled(u *user) connectors.Verification {
	disabled, inOU := c.isDisabled(u), c.inDisabledOU(u)
	v := connectors.Verification{OK: disabled && inOU}
	state := "active"
	if disabled {
		state = "disabled"
	}
	v.Detail = fmt.Sprintf("%s: %s", u.dn, state)
	if u.hasUAC {
		v.Detail += fmt.Sprintf(" (userAccountControl=0x%x)", u.uac)
	}
	if !inOU {
		v.Detail += ", not in " + c.cfg.DisabledOU
	}
	return v
}

func (c *Connector) checkOp(ctx context.Context, op string, o connectors.Operation) error {
	if err := ctx.Err(); err != nil {
		return c.classify(ctx, op, err)
	}
	if !connectors.Supports(Operations(c.cfg), o) {
		return c.invalid(op, "operation %q is not supported (supported: %s)", o, connectors.OperationNames(Operations(c.cfg)))
	}
	return nil
}

// disable disables u, resetting its password first and moving it after,
// as configured.
func (s *session) disable(u *user) (connectors.Result, error) {
	c := s.c
	res := connectors.Result{Account: u.dn, Data: map[string]string{}}
	var did []string
	log := c.log.WithField("dn", u.dn)

	if !c.isDisabled(u) {
		if c.cfg.ResetPassword {
			if err := s.resetPassword(u); err != nil {
				return connectors.Result{}, err
			}
			res.Data["password_reset"] = "true"
			did = append(did, "password reset")
			log.Info("ldap: password reset")
		}
		before, after, err := s.setDisabled(u)
		switch {
		case err != nil:
			return connectors.Result{}, c.partial(s, err, did)
		case before == after:
			// Disabled concurrently by someone else.
		case c.cfg.Disable.Mode == DisableUAC:
			res.Data["userAccountControl"] = before + "->" + after
			did = append(did, "disabled (userAccountControl "+before+"->"+after+")")
			log.Info("ldap: account disabled")
		default:
			res.Data[c.cfg.Disable.Attribute] = after
			did = append(did, fmt.Sprintf("disabled (%s=%s)", c.cfg.Disable.Attribute, after))
			log.Info("ldap: account disabled")
		}
	}

	if !c.inDisabledOU(u) {
		rdn := rdnString(u.parsed.RDNs[0])
		req := goldap.NewModifyDNRequest(u.dn, rdn, true, c.cfg.DisabledOU)
		if err := s.modifyDN(req); err != nil {
			if resultCode(err) == goldap.LDAPResultEntryAlreadyExists {
				return connectors.Result{}, c.invalid(s.op, "cannot move %s to %s: an entry named %s already exists there", u.dn, c.cfg.DisabledOU, rdn)
			}
			return connectors.Result{}, c.partial(s, err, did)
		}
		moved := rdn + "," + c.cfg.DisabledOU
		res.Data["moved_from"], res.Data["moved_to"] = u.dn, moved
		res.Account = moved
		did = append(did, "moved to "+c.cfg.DisabledOU)
		log.WithField("to", moved).Info("ldap: account moved")
	}

	if len(did) == 0 {
		res.Outcome, res.Data = connectors.OutcomeAlreadyDone, nil
		res.Detail = "already done: " + c.verifyDisabled(u).Detail
		return res, nil
	}
	res.Outcome = connectors.OutcomeDone
	res.Detail = u.dn + ": " + strings.Join(did, "; ")
	return res, nil
}

// partial classifies err, saying what the call had already changed.
func (c *Connector) partial(s *session, err error, did []string) error {
	if len(did) == 0 {
		return c.classify(s.ctx, s.op, err)
	}
	var ce *connectors.Error
	if errors.As(err, &ce) {
		cp := *ce
		cp.Err = fmt.Errorf("after %s: %w", strings.Join(did, ", "), ce.Err)
		return &cp
	}
	return c.classify(s.ctx, s.op, fmt.Errorf("after %s: %w", strings.Join(did, ", "), err))
}

// setDisabled disables u and returns the disable attribute's value before
// and after. In mode uac the change is conditional — delete the value read,
// add the new one, in one modify — so that a concurrent change to other
// bits is never lost: when the value changed meanwhile, the server refuses
// (noSuchAttribute) and the entry is read again.
func (s *session) setDisabled(u *user) (before, after string, err error) {
	c := s.c
	if c.cfg.Disable.Mode == DisableAttribute {
		req := goldap.NewModifyRequest(u.dn, nil)
		req.Replace(c.cfg.Disable.Attribute, []string{c.cfg.Disable.Value})
		if err := s.modify(req); err != nil {
			return "", "", c.classify(s.ctx, s.op, err)
		}
		return strings.Join(u.disableVal, ","), c.cfg.Disable.Value, nil
	}
	if !u.hasUAC {
		return "", "", c.invalid(s.op, "%s has no userAccountControl (is this Active Directory? set disable.mode: attribute for other directories)", u.dn)
	}
	for attempt := 0; ; attempt++ {
		old, next := u.uac, u.uac|uacDisabled
		req := goldap.NewModifyRequest(u.dn, nil)
		req.Delete("userAccountControl", []string{strconv.FormatInt(old, 10)})
		req.Add("userAccountControl", []string{strconv.FormatInt(next, 10)})
		err := s.modify(req)
		if err == nil {
			u.uac = next
			return fmt.Sprintf("0x%x", old), fmt.Sprintf("0x%x", next), nil
		}
		if resultCode(err) != goldap.LDAPResultNoSuchAttribute || attempt >= 2 {
			return "", "", c.classify(s.ctx, s.op, err)
		}
		// Changed under us: read it again.
		fresh, ferr := s.find(connectors.Subject{}, u.dn)
		if ferr != nil {
			return "", "", ferr
		}
		if fresh == nil {
			return "", "", c.classify(s.ctx, s.op, err)
		}
		*u = *fresh
		if u.uac&uacDisabled != 0 {
			// Someone else disabled it meanwhile: nothing changed here.
			v := fmt.Sprintf("0x%x", u.uac)
			return v, v, nil
		}
	}
}

// resetPassword sets a random password on u (Active Directory: replace
// unicodePwd with the quoted password in UTF-16LE, allowed over TLS only).
// The password is not kept anywhere.
func (s *session) resetPassword(u *user) error {
	c := s.c
	if !s.cn.tls {
		return c.invalid(s.op, "reset_password needs an encrypted connection")
	}
	pw, err := randomPassword(u.sam, u.parsed)
	if err != nil {
		return connectors.NewError(connectors.KindTransient, c.name, s.op, fmt.Errorf("generating a password: %w", err))
	}
	req := goldap.NewModifyRequest(u.dn, nil)
	req.Replace("unicodePwd", []string{encodeUnicodePwd(pw)})
	if err := s.modify(req); err != nil {
		return c.classify(s.ctx, s.op, fmt.Errorf("resetting the password of %s: %w", u.dn, err), pw)
	}
	return nil
}

// keepFor returns keep_groups plus the groups named in params["keep"]: CNs
// separated by commas, or DNs separated by semicolons (a DN holds commas).
// An entry that does not parse is an error: guessing could remove a group
// the policy meant to keep.
func (c *Connector) keepFor(params map[string]string) ([]groupRef, error) {
	keep := c.keep
	raw := strings.TrimSpace(params["keep"])
	if raw == "" {
		return keep, nil
	}
	keep = slices.Clone(keep)
	for _, item := range strings.FieldsFunc(raw, func(r rune) bool { return r == ';' || r == '\n' }) {
		if strings.TrimSpace(item) == "" {
			continue
		}
		if strings.Contains(item, "=") {
			r, err := parseGroupRef(item)
			if err != nil {
				return nil, fmt.Errorf("parameter keep: %w (separate DNs with semicolons)", err)
			}
			keep = append(keep, r)
			continue
		}
		for _, cn := range strings.Split(item, ",") {
			if strings.TrimSpace(cn) == "" {
				continue
			}
			r, _ := parseGroupRef(cn)
			keep = append(keep, r)
		}
	}
	return keep, nil
}

// kept reports whether the group DN g is one of keep.
func kept(g string, keep []groupRef) bool {
	d, err := goldap.ParseDN(g)
	for _, k := range keep {
		switch {
		case k.dn != nil:
			if err == nil && k.dn.EqualFold(d) {
				return true
			}
		case strings.EqualFold(groupCN(g), k.cn):
			return true
		}
	}
	return false
}

// splitGroups splits memberOf DNs into kept ones and the others.
func (c *Connector) splitGroups(memberOf []string, keep []groupRef) (keptGroups, others []string) {
	for _, g := range memberOf {
		if kept(g, keep) {
			keptGroups = append(keptGroups, g)
		} else {
			others = append(others, g)
		}
	}
	return keptGroups, others
}

// removeGroups removes u from every group in its memberOf except the kept
// ones. It does not stop at a group that fails: it tries every group and
// reports every failure, with what it did remove.
func (s *session) removeGroups(u *user, keep []groupRef) (connectors.Result, error) {
	c := s.c
	keptGroups, targets := c.splitGroups(u.memberOf, keep)
	var (
		removed, refused []string
		failures         []error
	)
	for _, g := range targets {
		req := goldap.NewModifyRequest(g, nil)
		req.Delete("member", []string{u.dn})
		err := s.modify(req)
		switch code := resultCode(err); {
		case err == nil:
			removed = append(removed, g)
			c.log.WithFields(logrus.Fields{"dn": u.dn, "group": g}).Info("ldap: removed from group")
		case code == goldap.LDAPResultNoSuchAttribute, code == goldap.LDAPResultNoSuchObject:
			// Not a member (any more), or the group is gone.
		case code == goldap.LDAPResultUnwillingToPerform:
			// Samba's answer for "not a member"; checked below.
			refused = append(refused, g)
		case code == 0:
			// Transport failure or cancellation: the connection is gone.
			failures = append(failures, fmt.Errorf("group %s: %w", g, err))
			return c.groupResult(s, u, removed, keptGroups, failures)
		default:
			failures = append(failures, fmt.Errorf("group %s: %w", g, err))
		}
	}
	if len(refused) > 0 {
		// unwillingToPerform is also a server's way of saying "not now":
		// read memberOf again and fail for any group still listing u.
		fresh, err := s.find(connectors.Subject{}, u.dn)
		if err != nil {
			failures = append(failures, err)
		} else if fresh != nil {
			for _, g := range refused {
				if slices.ContainsFunc(fresh.memberOf, func(m string) bool { return strings.EqualFold(m, g) }) {
					failures = append(failures, fmt.Errorf("group %s: %w", g,
						goldap.NewError(goldap.LDAPResultUnwillingToPerform, errors.New("server refused to remove the member"))))
				}
			}
		}
	}
	return c.groupResult(s, u, removed, keptGroups, failures)
}

func (c *Connector) groupResult(s *session, u *user, removed, keptGroups []string, failures []error) (connectors.Result, error) {
	res := connectors.Result{Account: u.dn}
	if len(removed) > 0 {
		b, _ := json.Marshal(removed)
		res.Data = map[string]string{"removed_groups": string(b)}
		res.Outcome = connectors.OutcomeDone
		res.Detail = fmt.Sprintf("%s: removed from %d groups", u.dn, len(removed))
	} else {
		res.Outcome = connectors.OutcomeAlreadyDone
		res.Detail = fmt.Sprintf("already done: %s: member of %d kept groups only", u.dn, len(keptGroups))
	}
	if len(keptGroups) > 0 {
		b, _ := json.Marshal(keptGroups)
		if res.Data == nil {
			res.Data = map[string]string{}
		}
		res.Data["kept_groups"] = string(b)
	}
	if len(failures) == 0 {
		return res, nil
	}
	// Classify each failure; the call's kind is the first permanent one
	// (retrying will not fix it), else the first.
	var first, permanent *connectors.Error
	var msgs []string
	for _, f := range failures {
		var ce *connectors.Error
		if !errors.As(f, &ce) {
			ce, _ = c.classify(s.ctx, s.op, f).(*connectors.Error)
		}
		if first == nil {
			first = ce
		}
		if permanent == nil && !ce.Retryable() {
			permanent = ce
		}
		msgs = append(msgs, c.redact(f).Error())
	}
	pick := first
	if permanent != nil {
		pick = permanent
	}
	msg := fmt.Sprintf("could not remove %s from %d groups: %s", u.dn, len(failures), strings.Join(msgs, "; "))
	if len(removed) > 0 {
		msg += fmt.Sprintf(" (removed from %s)", res.Data["removed_groups"])
	}
	e := &connectors.Error{Kind: pick.Kind, Connector: c.name, Op: s.op, Status: pick.Status, Err: errors.New(msg)}
	if pick.Kind == connectors.KindCanceled {
		e.Err = fmt.Errorf("%s: %w", msg, s.ctx.Err())
	}
	return res, e
}
