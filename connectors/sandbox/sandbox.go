// Package sandbox holds stateful simulated downstream systems (Active
// Directory, Microsoft 365, Okta, VPN, AWS IAM, Salesforce, the badge system,
// the asset tracker and payroll) with tunable latency, failure rate and rate
// limits. It backs the demo, tests and benchmarks; it is never used in
// production.
//
// A Connector keeps its accounts in memory. To share one instance's state
// between processes (a benchmark or fault-injection test running several
// Kinetic workers), a Server hosts Connectors over HTTP in one process and
// every Kinetic process uses a Remote talking to it (Config.URL).
//
// Every real state change a Connector makes is appended to an effect record
// (see Effects), so tests can count duplicates: by the connectors contract,
// repeating an operation whose effect already holds answers
// OutcomeAlreadyDone and records nothing.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/internal/dur"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/text"
)

// TypeName is the connector type name configuration uses for sandbox
// instances.
const TypeName = "sandbox"

// Systems lists the simulated systems.
var Systems = []string{"ad", "m365", "okta", "vpn", "aws", "salesforce", "badge", "assets", "payroll", "mdm"}

// systemOps lists the operations each simulated system supports.
var systemOps = map[string][]connectors.Operation{
	"ad": {connectors.OpDisableAccount, connectors.OpRemoveGroupMemberships},
	"m365": {connectors.OpDisableAccount, connectors.OpRevokeSessions, connectors.OpConvertMailbox, connectors.OpRemoveGroupMemberships,
		connectors.OpSetForwarding, connectors.OpRemoveForwarding, connectors.OpPreserveMailbox, connectors.OpDeleteMailbox},
	"okta":       {connectors.OpDeactivateUser, connectors.OpRevokeSessions, connectors.OpRemoveGroupMemberships},
	"vpn":        {connectors.OpRevokeVPN},
	"aws":        {connectors.OpDeleteAccessKeys, connectors.OpDisableAccount, connectors.OpRemoveGroupMemberships},
	"salesforce": {connectors.OpDeactivateUser, connectors.OpTransferOwnership},
	"badge":      {connectors.OpDeactivateBadge},
	"assets":     {connectors.OpCreateRecoveryTask, connectors.OpRecordEquipmentStep},
	"payroll":    {connectors.OpNotify},
	"mdm":        {connectors.OpLockDevices, connectors.OpRetireDevices, connectors.OpWipeDevices},
}

// Operations returns the operations the named simulated system supports, or
// nil for an unknown system. The returned slice is a copy.
func Operations(system string) []connectors.Operation {
	ops, ok := systemOps[system]
	if !ok {
		return nil
	}
	return append([]connectors.Operation(nil), ops...)
}

// Config is the sandbox connector's YAML block. The zero value of every field
// except System means "off": no latency, no jitter, no injected errors, no
// rate limit.
type Config struct {
	// System is one of Systems (required).
	System string `yaml:"system"`
	// Latency is the simulated latency of every call (Lookup, Do and Verify
	// each).
	Latency dur.Duration `yaml:"latency"`
	// Jitter is a uniform random jitter of ±Jitter added to Latency (the
	// total never goes below zero).
	Jitter dur.Duration `yaml:"jitter"`
	// ErrorRate is the fraction (0..1) of calls that fail with a transient,
	// 503-like error before changing anything.
	ErrorRate float64 `yaml:"error_rate"`
	// RateLimit is the number of requests per minute the simulated system
	// accepts (a sliding one-minute window per connector instance). Past it,
	// calls fail with KindRateLimited, status 429 and RetryAfter set. Zero
	// means unlimited.
	RateLimit int `yaml:"rate_limit"`
	// URL is the base URL of a sandbox server (see Server) that holds this
	// instance's state, shared by every Kinetic process; the instance is
	// then a Remote (see NewRemote) rather than an in-memory Connector. The
	// server side sets latency, errors and limits, so those fields must be
	// empty with url. Empty means the state lives in this process.
	URL string `yaml:"url"`
}

// Validate reports every problem with the configuration, joined.
func (c Config) Validate() error {
	var errs []error
	switch {
	case c.System == "":
		errs = append(errs, fmt.Errorf("system is required (one of %s)", strings.Join(Systems, ", ")))
	case systemOps[c.System] == nil:
		errs = append(errs, fmt.Errorf("unknown system %q (want one of %s)", c.System, strings.Join(Systems, ", ")))
	}
	if c.Latency < 0 {
		errs = append(errs, fmt.Errorf("latency must not be negative (got %s)", c.Latency))
	}
	if c.Jitter < 0 {
		errs = append(errs, fmt.Errorf("jitter must not be negative (got %s)", c.Jitter))
	}
	if math.IsNaN(c.ErrorRate) || c.ErrorRate < 0 || c.ErrorRate > 1 {
		errs = append(errs, fmt.Errorf("error_rate must be between 0 and 1 (got %v)", c.ErrorRate))
	}
	if c.RateLimit < 0 {
		errs = append(errs, fmt.Errorf("rate_limit must not be negative (got %d)", c.RateLimit))
	}
	if c.URL != "" {
		if _, err := outbound.CheckURLForm("url", c.URL, outbound.URLForm{}); err != nil {
			errs = append(errs, err)
		}
		// The sandbox server sets these on its own instance; set here they
		// would silently do nothing.
		const why = "must not be set with url: the sandbox server sets latency, errors and limits on its instance"
		if c.Latency != 0 {
			errs = append(errs, fmt.Errorf("latency %s", why))
		}
		if c.Jitter != 0 {
			errs = append(errs, fmt.Errorf("jitter %s", why))
		}
		if c.ErrorRate != 0 {
			errs = append(errs, fmt.Errorf("error_rate %s", why))
		}
		if c.RateLimit != 0 {
			errs = append(errs, fmt.Errorf("rate_limit %s", why))
		}
	}
	return errors.Join(errs...)
}

// Option adjusts a Connector at construction.
type Option func(*Connector)

// WithSeed makes jitter and error_rate deterministic. Without it the
// connector seeds itself from the clock.
func WithSeed(seed int64) Option {
	return func(c *Connector) {
		c.rng = rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15))
	}
}

// WithClock sets the clock used for the rate-limit window, Retry-After and
// effect timestamps (default time.Now). Latency always sleeps in real time.
func WithClock(now func() time.Time) Option {
	return func(c *Connector) {
		if now != nil {
			c.now = now
		}
	}
}

// Effect records one external state change the simulated system made.
type Effect struct {
	// Seq numbers effects from 1 in the order they were made.
	Seq int64
	// At is the clock's time of the change.
	At time.Time
	// Connector is the instance name, Operation the operation performed and
	// Account the account (or device) changed.
	Connector, Operation, Account string
	// Change describes it, e.g. "status active->disabled", "removed group
	// sales-team", "revoked 3 sessions", "ticket RT-12 created".
	Change string
}

// Stats counts what the connector saw.
type Stats struct {
	// Calls counts every Lookup, Do and Verify, including failed ones.
	Calls int64
	// RateLimited counts calls refused by the rate limit.
	RateLimited int64
	// InjectedFailures counts calls failed by error_rate or FailNext.
	InjectedFailures int64
	// Effects counts recorded state changes (len(Effects())).
	Effects int64
}

// record is one person the simulated system knows, with their accounts.
type record struct {
	subject  connectors.Subject
	accounts []*account
}

// account is one simulated account with the system-specific state the
// operations change.
type account struct {
	connectors.Account
	owner   *record
	mailbox string // "user", "shared" or "deleted" (m365)
	// forwardTo is the mailbox's forwarding address; hold marks a
	// litigation hold (m365).
	forwardTo string
	hold      bool
	// transferredTo is set once record ownership was transferred
	// (salesforce).
	transferredTo string
	ticket        string // recovery ticket id (assets devices)
	// zones are the areas a badge opens, each active or not (badge): a
	// deactivate_badge with Params["zone"] deactivates that zone only,
	// without it every zone; the badge is active while any zone is.
	zones   []badgeZone
	notices map[string]bool // templates sent (payroll)
	// step is the last equipment step recorded on the asset (assets);
	// mdm is the device's management state: "", "locked", "retired" or
	// "wiped" (mdm).
	step, stepRef string
	mdm           string
}

type failure struct {
	n          int
	kind       connectors.Kind
	retryAfter time.Duration
}

// Connector is one simulated system instance. It implements
// connectors.Connector and connectors.Verifier and is safe for concurrent use.
type Connector struct {
	name   string
	system string
	ops    []connectors.Operation
	now    func() time.Time

	mu        sync.Mutex
	cfg       Config
	rng       *rand.Rand
	byEmail   map[string]*record  // lower-cased email → first record with it
	byID      map[string]*record  // employee ID
	byUser    map[string]*record  // lower-cased username
	byAccount map[string]*account // account ID
	failures  map[string]*failure // by lower-cased email
	window    []time.Time         // accepted calls in the current minute, oldest first
	effects   []Effect
	stats     Stats
	ticketSeq int
}

// Compile-time checks of the contracts.
var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Verifier  = (*Connector)(nil)
)

// New returns a simulated system named name (the instance name from config;
// it defaults to cfg.System when empty), keeping its state in this process.
// It fails when cfg does not validate. cfg.URL is not used: New always
// builds a local instance (such as the one a Server hosts); NewRemote builds
// the client of one.
func New(name string, cfg Config, opts ...Option) (*Connector, error) {
	if err := cfg.Validate(); err != nil {
		if name == "" {
			name = cfg.System
		}
		return nil, fmt.Errorf("sandbox connector %q: %w", name, err)
	}
	if name == "" {
		name = cfg.System
	}
	c := &Connector{
		name:      name,
		system:    cfg.System,
		ops:       Operations(cfg.System),
		now:       time.Now,
		cfg:       cfg,
		byEmail:   map[string]*record{},
		byID:      map[string]*record{},
		byUser:    map[string]*record{},
		byAccount: map[string]*account{},
		failures:  map[string]*failure{},
	}
	for _, o := range opts {
		o(c)
	}
	if c.rng == nil {
		seed := uint64(time.Now().UnixNano())
		c.rng = rand.New(rand.NewPCG(seed, seed>>1|1))
	}
	return c, nil
}

// Name returns the instance name.
func (c *Connector) Name() string { return c.name }

// System returns the simulated system (one of Systems).
func (c *Connector) System() string { return c.system }

// Type describes the sandbox connector type for the simulated system, for
// the registry and config validation.
func (c *Connector) Type() connectors.Type {
	return connectors.Type{Name: TypeName, Operations: Operations(c.system)}
}

// SetLatency changes the simulated latency and jitter of later calls (for
// tests and benchmarks that slow a system down mid-run). Negative values are
// treated as zero.
func (c *Connector) SetLatency(latency, jitter time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cfg.Latency = dur.Duration(max(latency, 0))
	c.cfg.Jitter = dur.Duration(max(jitter, 0))
}

// SeedEmployees creates the accounts the HR records say exist in this
// system. An employee with a non-empty Accounts[Name()] gets one active
// account with that ID, 1–4 sessions and groups derived from their type,
// department and role profiles (all deterministic); on the "assets" system
// every asset tag in Equipment becomes one active account of Kind "device"
// instead. Inactive employees are seeded too: a person gone in HR who still
// has live accounts is exactly what reconciliation looks for.
func (c *Connector) SeedEmployees(emps []directory.Employee) {
	for i := range emps {
		e := &emps[i]
		s := connectors.Subject{EmployeeID: e.ID, Email: e.Email, Username: e.Username, DisplayName: e.Name}
		if c.system == "assets" || c.system == "mdm" {
			for _, tag := range e.Equipment {
				if tag = strings.TrimSpace(tag); tag == "" {
					continue
				}
				if c.system == "mdm" {
					c.AddAccount(s, connectors.Account{ID: SerialOf(tag), Kind: "device", Status: connectors.StatusActive, Detail: tag})
					continue
				}
				c.AddAccount(s, connectors.Account{ID: tag, Kind: "device", Status: connectors.StatusActive, Detail: deviceModel(tag)})
			}
			continue
		}
		id := strings.TrimSpace(e.Accounts[c.name])
		if id == "" {
			continue
		}
		a := connectors.Account{
			ID:       id,
			Kind:     "user",
			Status:   connectors.StatusActive,
			Sessions: 1 + int(hash(c.system, id)%4),
			Groups:   seedGroups(c.system, e),
		}
		switch c.system {
		case "aws":
			a.Detail = fmt.Sprintf("%d active access %s", a.Sessions, text.Plural(a.Sessions, "key"))
		case "badge":
			a.Kind = "badge"
		}
		c.AddAccount(s, a)
		if c.system == "badge" {
			c.SetZones(id, badgeZones(e)...)
		}
	}
}

// AddAccount gives the subject an account (replacing one with the same ID).
// The subject is matched to a known person by email, employee ID or
// username; an unknown subject becomes a new person. An empty Kind becomes
// "user" and an empty Status "active".
func (c *Connector) AddAccount(s connectors.Subject, a connectors.Account) {
	if a.Kind == "" {
		a.Kind = "user"
	}
	if a.Status == "" {
		a.Status = connectors.StatusActive
	}
	a.Groups = append([]string(nil), a.Groups...)
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.findRecord(s)
	if r == nil {
		r = &record{subject: s}
	}
	// Learn identifiers the person was not known by yet.
	fill(&r.subject.Email, s.Email)
	fill(&r.subject.EmployeeID, s.EmployeeID)
	fill(&r.subject.Username, s.Username)
	fill(&r.subject.DisplayName, s.DisplayName)
	index(c.byEmail, strings.ToLower(strings.TrimSpace(s.Email)), r)
	index(c.byID, strings.TrimSpace(s.EmployeeID), r)
	index(c.byUser, strings.ToLower(strings.TrimSpace(s.Username)), r)
	acc := &account{Account: a, owner: r, mailbox: "user"}
	if a.Kind == "badge" {
		acc.zones = []badgeZone{{name: ZoneBuilding, active: a.Status == connectors.StatusActive}}
		acc.Detail = acc.zoneDetail()
	}
	if old := c.byAccount[a.ID]; old != nil && old.owner != r {
		// The ID moves to this subject.
		old.owner.accounts = slices.DeleteFunc(old.owner.accounts, func(x *account) bool { return x == old })
	}
	c.byAccount[a.ID] = acc
	for i, old := range r.accounts {
		if old.ID == a.ID {
			r.accounts[i] = acc
			return
		}
	}
	r.accounts = append(r.accounts, acc)
}

// SetZones sets the zones the badge with this account ID opens, each
// active while the badge is (ZoneBuilding, ZoneSecure or any other name).
// It does nothing for an unknown ID or an account that is not a badge.
func (c *Connector) SetZones(id string, zones ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.byAccount[id]
	if a == nil || a.Kind != "badge" {
		return
	}
	a.zones = a.zones[:0]
	for _, z := range zones {
		if z = strings.TrimSpace(z); z != "" {
			a.zones = append(a.zones, badgeZone{name: z, active: a.Status == connectors.StatusActive})
		}
	}
	a.Detail = a.zoneDetail()
}

func fill(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

func index(m map[string]*record, key string, r *record) {
	if _, taken := m[key]; key != "" && !taken {
		m[key] = r
	}
}

// Account returns (a copy of) the first account of the subject with that
// email, matched case-insensitively.
func (c *Connector) Account(email string) (connectors.Account, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.findRecord(connectors.Subject{Email: email})
	if r == nil || len(r.accounts) == 0 {
		return connectors.Account{}, false
	}
	return r.accounts[0].snapshot(), true
}

// FailNext makes the next n calls (Lookup, Do or Verify) about the subject
// with that email fail with kind, before any state change. retryAfter is set
// on the errors (meaningful for KindRateLimited and KindTransient). A later
// FailNext for the same email replaces the earlier one; n <= 0 clears it.
func (c *Connector) FailNext(email string, n int, kind connectors.Kind, retryAfter time.Duration) {
	key := strings.ToLower(strings.TrimSpace(email))
	c.mu.Lock()
	defer c.mu.Unlock()
	if n <= 0 {
		delete(c.failures, key)
		return
	}
	c.failures[key] = &failure{n: n, kind: kind, retryAfter: retryAfter}
}

// Effects returns a copy of the record of every external state change, in
// order.
func (c *Connector) Effects() []Effect {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Effect(nil), c.effects...)
}

// Stats returns the counters.
func (c *Connector) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Lookup reports the subject's accounts; none found is an empty result and
// a nil error.
func (c *Connector) Lookup(ctx context.Context, s connectors.Subject) (connectors.LookupResult, error) {
	const op = "lookup"
	if err := c.begin(ctx, op, s, ""); err != nil {
		return connectors.LookupResult{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var res connectors.LookupResult
	if r := c.findRecord(s); r != nil {
		for _, a := range r.accounts {
			res.Accounts = append(res.Accounts, a.snapshot())
		}
	}
	return res, nil
}

// Do performs one operation. Repeating an operation whose effect holds
// answers OutcomeAlreadyDone; a subject without an account answers
// OutcomeNoneFound; neither records an effect. An operation the simulated
// system does not support is a KindInvalid error.
func (c *Connector) Do(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	op := string(req.Operation)
	if err := c.begin(ctx, op, req.Subject, req.Account); err != nil {
		return connectors.Result{}, err
	}
	if err := c.checkOp(op, req.Operation); err != nil {
		return connectors.Result{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if equipmentOp(req.Operation) {
		return c.doEquipment(req)
	}
	accts := c.targets(req)
	if len(accts) == 0 {
		return connectors.Result{Outcome: connectors.OutcomeNoneFound, Detail: "no account"}, nil
	}
	return c.apply(req, accts), nil
}

// Verify reads back the state an operation should have produced. A subject
// without an account verifies OK with Detail "no account".
func (c *Connector) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	op := "verify " + string(req.Operation)
	if err := c.begin(ctx, op, req.Subject, req.Account); err != nil {
		return connectors.Verification{}, err
	}
	if err := c.checkOp(op, req.Operation); err != nil {
		return connectors.Verification{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if equipmentOp(req.Operation) {
		return c.verifyEquipment(req)
	}
	accts := c.targets(req)
	if len(accts) == 0 {
		return connectors.Verification{OK: true, Detail: "no account"}, nil
	}
	return verify(req, accts), nil
}

func (c *Connector) checkOp(op string, o connectors.Operation) error {
	if connectors.Supports(c.ops, o) {
		return nil
	}
	e := connectors.NewError(connectors.KindInvalid, c.name, op,
		fmt.Errorf("operation %q is not supported by the %s sandbox (supported: %s)", o, c.system, connectors.OperationNames(c.ops)))
	e.Status = 400
	return e
}

// begin runs everything that happens before a call touches state: the
// counters, the simulated latency, the rate limit and the injected failures.
// A non-nil error means the call must change nothing.
func (c *Connector) begin(ctx context.Context, op string, s connectors.Subject, accountID string) error {
	c.mu.Lock()
	c.stats.Calls++
	delay := c.delayLocked()
	c.mu.Unlock()

	if err := ctx.Err(); err != nil {
		return connectors.NewError(connectors.KindCanceled, c.name, op, err)
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return connectors.NewError(connectors.KindCanceled, c.name, op, ctx.Err())
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.rateLimitLocked(op); err != nil {
		return err
	}
	if err := c.injectedLocked(op, s, accountID); err != nil {
		return err
	}
	if c.cfg.ErrorRate > 0 && c.rng.Float64() < c.cfg.ErrorRate {
		c.stats.InjectedFailures++
		e := connectors.NewError(connectors.KindTransient, c.name, op, errors.New("simulated 503 service unavailable"))
		e.Status = 503
		return e
	}
	return nil
}

func (c *Connector) delayLocked() time.Duration {
	d := c.cfg.Latency.D()
	if j := c.cfg.Jitter.D(); j > 0 {
		d += time.Duration(c.rng.Int64N(int64(2*j)+1)) - j
	}
	return max(d, 0)
}

// rateLimitLocked admits the call into the sliding one-minute window or
// refuses it with the time until the oldest admitted call leaves the window.
func (c *Connector) rateLimitLocked(op string) error {
	limit := c.cfg.RateLimit
	if limit <= 0 {
		return nil
	}
	now := c.now()
	cutoff := now.Add(-time.Minute)
	i := 0
	for i < len(c.window) && !c.window[i].After(cutoff) {
		i++
	}
	c.window = c.window[i:]
	if len(c.window) < limit {
		c.window = append(c.window, now)
		return nil
	}
	c.stats.RateLimited++
	wait := max(c.window[0].Add(time.Minute).Sub(now), time.Millisecond)
	// Round up to whole milliseconds so a client sleeping RetryAfter is
	// never early.
	wait = (wait + time.Millisecond - 1).Truncate(time.Millisecond)
	return &connectors.Error{
		Kind: connectors.KindRateLimited, Connector: c.name, Op: op, Status: 429, RetryAfter: wait,
		Err: fmt.Errorf("simulated rate limit of %d requests per minute exceeded", limit),
	}
}

// injectedLocked consumes one FailNext failure for the subject, if any.
func (c *Connector) injectedLocked(op string, s connectors.Subject, accountID string) error {
	if len(c.failures) == 0 {
		return nil
	}
	key := strings.ToLower(strings.TrimSpace(s.Email))
	f := c.failures[key]
	if f == nil {
		// The request may name the subject differently; use the email of
		// the person it resolves to.
		var r *record
		if accountID != "" {
			if a := c.findAccount(accountID); a != nil {
				r = a.owner
			}
		}
		if r == nil {
			r = c.findRecord(s)
		}
		if r == nil {
			return nil
		}
		key = strings.ToLower(r.subject.Email)
		if f = c.failures[key]; f == nil {
			return nil
		}
	}
	f.n--
	if f.n <= 0 {
		delete(c.failures, key)
	}
	c.stats.InjectedFailures++
	e := &connectors.Error{Kind: f.kind, Connector: c.name, Op: op, Status: statusFor(f.kind), RetryAfter: f.retryAfter}
	switch f.kind {
	case connectors.KindCanceled:
		e.Err = fmt.Errorf("simulated cancellation: %w", context.Canceled)
	case "":
		e.Kind = connectors.KindTransient
		e.Status = 503
		e.Err = errors.New("simulated failure")
	default:
		e.Err = fmt.Errorf("simulated %s failure", f.kind)
	}
	return e
}

func statusFor(k connectors.Kind) int {
	switch k {
	case connectors.KindTransient:
		return 503
	case connectors.KindRateLimited:
		return 429
	case connectors.KindAuth:
		return 401
	case connectors.KindForbidden:
		return 403
	case connectors.KindNotFound:
		return 404
	case connectors.KindInvalid:
		return 400
	}
	return 0
}

// findRecord matches a subject to a known person: by email
// (case-insensitive), else by employee ID, else by username.
func (c *Connector) findRecord(s connectors.Subject) *record {
	if r := c.byEmail[strings.ToLower(strings.TrimSpace(s.Email))]; r != nil {
		return r
	}
	if r := c.byID[strings.TrimSpace(s.EmployeeID)]; r != nil {
		return r
	}
	return c.byUser[strings.ToLower(strings.TrimSpace(s.Username))]
}

func (c *Connector) findAccount(id string) *account { return c.byAccount[id] }

// targets resolves the accounts a request is about: the account named by
// req.Account when it exists, else every account of the subject.
func (c *Connector) targets(req connectors.Request) []*account {
	if req.Account != "" {
		if a := c.findAccount(req.Account); a != nil {
			return []*account{a}
		}
	}
	if r := c.findRecord(req.Subject); r != nil {
		return r.accounts
	}
	return nil
}

func (c *Connector) effect(op connectors.Operation, acct, change string) {
	c.stats.Effects++
	c.effects = append(c.effects, Effect{
		Seq: int64(len(c.effects) + 1), At: c.now(), Connector: c.name,
		Operation: string(op), Account: acct, Change: change,
	})
}

// apply performs the operation on each target account under c.mu.
func (c *Connector) apply(req connectors.Request, accts []*account) connectors.Result {
	var (
		changed, ids, details []string
		data                  = map[string]string{}
	)
	for _, a := range accts {
		ids = append(ids, a.ID)
		var change string
		switch req.Operation {
		case connectors.OpDeactivateBadge:
			if len(a.zones) > 0 {
				change = a.deactivateZones(strings.TrimSpace(req.Params["zone"]))
			} else if a.Status == connectors.StatusActive {
				change = "status active->" + connectors.StatusDisabled
				a.Status = connectors.StatusDisabled
			}
		case connectors.OpRevokeVPN:
			// A VPN revocation disables the identity and ends its
			// tunnels, as the real connectors do.
			var parts []string
			if a.Status == connectors.StatusActive {
				parts = append(parts, "status active->"+connectors.StatusDisabled)
				a.Status = connectors.StatusDisabled
			}
			if a.Sessions > 0 {
				parts = append(parts, fmt.Sprintf("terminated %d %s", a.Sessions, text.Plural(a.Sessions, "session")))
				a.Sessions = 0
			}
			change = strings.Join(parts, "; ")
		case connectors.OpDisableAccount:
			if a.Status == connectors.StatusActive {
				change = "status active->" + connectors.StatusDisabled
				a.Status = connectors.StatusDisabled
			}
		case connectors.OpDeactivateUser:
			var parts []string
			if a.Status != connectors.StatusDeprovisioned {
				parts = append(parts, fmt.Sprintf("status %s->%s", a.Status, connectors.StatusDeprovisioned))
				a.Status = connectors.StatusDeprovisioned
			}
			if a.Sessions > 0 {
				parts = append(parts, fmt.Sprintf("revoked %d %s", a.Sessions, text.Plural(a.Sessions, "session")))
				a.Sessions = 0
			}
			change = strings.Join(parts, "; ")
		case connectors.OpRevokeSessions:
			if a.Sessions > 0 {
				change = fmt.Sprintf("revoked %d %s", a.Sessions, text.Plural(a.Sessions, "session"))
				a.Sessions = 0
			}
		case connectors.OpDeleteAccessKeys:
			if a.Sessions > 0 {
				change = fmt.Sprintf("deleted %d access %s", a.Sessions, text.Plural(a.Sessions, "key"))
				a.Sessions = 0
				a.Detail = "0 active access keys"
			}
		case connectors.OpRemoveGroupMemberships:
			keep := keepSet(req.Params)
			var kept, removed []string
			for _, g := range a.Groups {
				if keep[strings.ToLower(g)] {
					kept = append(kept, g)
				} else {
					removed = append(removed, g)
				}
			}
			if len(removed) > 0 {
				a.Groups = kept
				change = fmt.Sprintf("removed %s %s", text.Plural(len(removed), "group"), strings.Join(removed, ", "))
				data["removed_groups"] = joinData(data["removed_groups"], strings.Join(removed, ","))
			}
		case connectors.OpConvertMailbox:
			if a.mailbox != "shared" {
				change = fmt.Sprintf("mailbox %s->shared", a.mailbox)
				a.mailbox = "shared"
			}
		case connectors.OpSetForwarding:
			if to := req.Params["forward_to"]; a.forwardTo != to {
				change = fmt.Sprintf("forwarding %s->%s", or(a.forwardTo, "none"), to)
				a.forwardTo = to
			}
		case connectors.OpRemoveForwarding:
			if a.forwardTo != "" {
				change = fmt.Sprintf("forwarding %s->none", a.forwardTo)
				a.forwardTo = ""
			}
		case connectors.OpPreserveMailbox:
			if !a.hold {
				change = "litigation hold on"
				a.hold = true
			}
		case connectors.OpDeleteMailbox:
			if a.mailbox != "deleted" {
				change = fmt.Sprintf("mailbox %s->deleted", a.mailbox)
				a.mailbox = "deleted"
			}
		case connectors.OpTransferOwnership:
			if a.transferredTo == "" {
				to := req.Params["to"]
				if to == "" {
					to = "manager"
				}
				a.transferredTo = to
				change = "owned records transferred to " + to
				data["transferred_to"] = to
			}
		case connectors.OpCreateRecoveryTask:
			if a.Kind != "device" {
				continue
			}
			if a.ticket == "" {
				c.ticketSeq++
				a.ticket = fmt.Sprintf("RT-%d", c.ticketSeq)
				change = fmt.Sprintf("ticket %s created", a.ticket)
			}
			data["tickets"] = joinData(data["tickets"], a.ticket)
		case connectors.OpNotify:
			tmpl := template(req.Params)
			if !a.notices[tmpl] {
				if a.notices == nil {
					a.notices = map[string]bool{}
				}
				a.notices[tmpl] = true
				change = fmt.Sprintf("notice %q sent", tmpl)
			}
		}
		if change != "" {
			c.effect(req.Operation, a.ID, change)
			changed = append(changed, a.ID)
			details = append(details, a.ID+": "+change)
		}
	}
	if req.Operation == connectors.OpCreateRecoveryTask && data["tickets"] == "" {
		// The subject holds accounts but no devices: nothing to recover.
		return connectors.Result{Outcome: connectors.OutcomeNoneFound, Detail: "no devices"}
	}
	if req.IdempotencyKey != "" && len(changed) > 0 {
		data["idempotency_key"] = req.IdempotencyKey
	}
	res := connectors.Result{Account: strings.Join(ids, ","), Data: data}
	if len(changed) == 0 {
		res.Outcome = connectors.OutcomeAlreadyDone
		res.Detail = "already done: " + verify(req, accts).Detail
		if len(data) == 0 {
			res.Data = nil
		}
		return res
	}
	res.Outcome = connectors.OutcomeDone
	res.Detail = strings.Join(details, "; ")
	return res
}

// verify reads back the state for the operation under c.mu.
func verify(req connectors.Request, accts []*account) connectors.Verification {
	ok := true
	var details []string
	devices := 0
	for _, a := range accts {
		var good bool
		var detail string
		switch req.Operation {
		case connectors.OpDeactivateBadge:
			if len(a.zones) > 0 {
				good = a.zoneGood(strings.TrimSpace(req.Params["zone"]))
				detail = fmt.Sprintf("status=%s %s", a.Status, a.zoneDetail())
			} else {
				good = a.Status != connectors.StatusActive
				detail = fmt.Sprintf("status=%s", a.Status)
			}
		case connectors.OpRevokeVPN:
			good = a.Status != connectors.StatusActive && a.Sessions == 0
			detail = fmt.Sprintf("status=%s sessions=%d", a.Status, a.Sessions)
		case connectors.OpDisableAccount:
			good = a.Status != connectors.StatusActive
			detail = fmt.Sprintf("status=%s sessions=%d", a.Status, a.Sessions)
		case connectors.OpDeactivateUser:
			good = a.Status == connectors.StatusDeprovisioned && a.Sessions == 0
			detail = fmt.Sprintf("status=%s sessions=%d", a.Status, a.Sessions)
		case connectors.OpRevokeSessions:
			good = a.Sessions == 0
			detail = fmt.Sprintf("status=%s sessions=%d", a.Status, a.Sessions)
		case connectors.OpDeleteAccessKeys:
			good = a.Sessions == 0
			detail = fmt.Sprintf("status=%s access_keys=%d", a.Status, a.Sessions)
		case connectors.OpRemoveGroupMemberships:
			keep := keepSet(req.Params)
			good = true
			for _, g := range a.Groups {
				if !keep[strings.ToLower(g)] {
					good = false
				}
			}
			detail = fmt.Sprintf("groups=%d [%s]", len(a.Groups), strings.Join(a.Groups, ","))
		case connectors.OpConvertMailbox:
			good = a.mailbox == "shared"
			detail = "mailbox=" + a.mailbox
		case connectors.OpSetForwarding:
			good = a.forwardTo == req.Params["forward_to"]
			detail = "forwarding=" + or(a.forwardTo, "none")
		case connectors.OpRemoveForwarding:
			good = a.forwardTo == ""
			detail = "forwarding=" + or(a.forwardTo, "none")
		case connectors.OpPreserveMailbox:
			good = a.hold
			detail = fmt.Sprintf("litigation_hold=%t", a.hold)
		case connectors.OpDeleteMailbox:
			good = a.mailbox == "deleted"
			detail = "mailbox=" + a.mailbox
		case connectors.OpTransferOwnership:
			good = a.transferredTo != ""
			detail = "records_transferred_to=" + or(a.transferredTo, "none")
		case connectors.OpCreateRecoveryTask:
			if a.Kind != "device" {
				continue
			}
			devices++
			good = a.ticket != ""
			detail = "ticket=" + or(a.ticket, "none")
		case connectors.OpNotify:
			tmpl := template(req.Params)
			good = a.notices[tmpl]
			detail = fmt.Sprintf("notice %q sent=%t", tmpl, good)
		}
		ok = ok && good
		if len(accts) > 1 {
			detail = a.ID + ": " + detail
		}
		details = append(details, detail)
	}
	if req.Operation == connectors.OpCreateRecoveryTask && devices == 0 {
		return connectors.Verification{OK: true, Detail: "no devices"}
	}
	return connectors.Verification{OK: ok, Detail: strings.Join(details, "; ")}
}

// badgeZone is one area a simulated badge opens.
type badgeZone struct {
	name   string
	active bool
}

// Zone names the simulated badge system gives every badge and the badges
// of cleared staff (directory.Employee.Clearance "secret" or
// "top_secret"), who also open the secure area. Policies deactivate a
// zone alone with the action parameter zone: ZoneSecure.
const (
	ZoneBuilding = "building"
	ZoneSecure   = "scif"
)

// badgeZones are the zones a seeded badge opens.
func badgeZones(e *directory.Employee) []string {
	switch strings.ToLower(strings.TrimSpace(e.Clearance)) {
	case "secret", "top_secret":
		return []string{ZoneBuilding, ZoneSecure}
	}
	return []string{ZoneBuilding}
}

// deactivateZones turns off the named zone (every zone when zone is "")
// and reports what changed; the badge's status follows: disabled once no
// zone is active.
func (a *account) deactivateZones(zone string) string {
	var off []string
	for i := range a.zones {
		z := &a.zones[i]
		if z.active && (zone == "" || strings.EqualFold(z.name, zone)) {
			z.active = false
			off = append(off, z.name)
		}
	}
	var parts []string
	if len(off) > 0 {
		parts = append(parts, fmt.Sprintf("%s %s deactivated", text.Plural(len(off), "zone"), strings.Join(off, ", ")))
	}
	if a.Status == connectors.StatusActive && len(a.activeZones()) == 0 {
		parts = append(parts, "status active->"+connectors.StatusDisabled)
		a.Status = connectors.StatusDisabled
	}
	a.Detail = a.zoneDetail()
	return strings.Join(parts, "; ")
}

// activeZones names the zones the badge still opens.
func (a *account) activeZones() []string {
	var out []string
	for _, z := range a.zones {
		if z.active {
			out = append(out, z.name)
		}
	}
	return out
}

// zoneDetail is "zones building=active, scif=disabled".
func (a *account) zoneDetail() string {
	if len(a.zones) == 0 {
		return ""
	}
	parts := make([]string, len(a.zones))
	for i, z := range a.zones {
		st := connectors.StatusDisabled
		if z.active {
			st = connectors.StatusActive
		}
		parts[i] = z.name + "=" + st
	}
	return "zones " + strings.Join(parts, ", ")
}

// zoneGood reports whether the badge no longer opens zone (any zone when
// zone is "").
func (a *account) zoneGood(zone string) bool {
	for _, z := range a.zones {
		if z.active && (zone == "" || strings.EqualFold(z.name, zone)) {
			return false
		}
	}
	return zone != "" || a.Status != connectors.StatusActive
}

func (a *account) snapshot() connectors.Account {
	out := a.Account
	out.Groups = append([]string(nil), a.Groups...)
	return out
}

func keepSet(params map[string]string) map[string]bool {
	keep := map[string]bool{}
	for _, g := range strings.Split(params["keep"], ",") {
		if g = strings.TrimSpace(g); g != "" {
			keep[strings.ToLower(g)] = true
		}
	}
	return keep
}

func template(params map[string]string) string {
	if t := strings.TrimSpace(params["template"]); t != "" {
		return t
	}
	return "default"
}

func joinData(prev, next string) string {
	if prev == "" {
		return next
	}
	return prev + "," + next
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func hash(parts ...string) uint32 {
	h := fnv.New32a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum32()
}

// seedGroups derives an employee's groups in a system deterministically:
// everyone is in all-staff, plus their department, their type (for
// non-employees), their role profiles and a system-specific group.
func seedGroups(system string, e *directory.Employee) []string {
	groups := []string{"all-staff"}
	if d := slug(e.Department); d != "" {
		groups = append(groups, "dept-"+d)
	}
	if t := slug(e.Type); t != "" && t != directory.TypeEmployee {
		groups = append(groups, t+"s")
	}
	for _, p := range e.RoleProfiles {
		if p = slug(p); p != "" {
			groups = append(groups, p)
		}
	}
	switch system {
	case "vpn":
		groups = append(groups, "vpn-users")
	case "aws":
		groups = append(groups, "aws-readonly")
	case "badge":
		groups = append(groups, "doors-"+or(slug(e.Location), "hq"))
	}
	seen := map[string]bool{}
	out := groups[:0]
	for _, g := range groups {
		if !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	sort.Strings(out[1:])
	return out
}

var deviceModels = []string{"laptop", "monitor", "phone", "dock", "headset", "tablet"}

func deviceModel(tag string) string {
	return deviceModels[hash(tag)%uint32(len(deviceModels))]
}

func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case b.Len() > 0 && !dash:
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

var _ connectors.AccountLister = (*Connector)(nil)

// ListAccounts implements connectors.AccountLister: every simulated
// account with its owner's identifiers, in account ID order. It counts as
// one call (rate limit, injected failures for no one).
func (c *Connector) ListAccounts(ctx context.Context) ([]connectors.ListedAccount, error) {
	if err := ctx.Err(); err != nil {
		return nil, connectors.NewError(connectors.KindTransient, c.name, "list_accounts", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats.Calls++
	ids := slices.Sorted(maps.Keys(c.byAccount))
	out := make([]connectors.ListedAccount, 0, len(ids))
	for _, id := range ids {
		a := c.byAccount[id]
		out = append(out, connectors.ListedAccount{Account: a.snapshot(), Subject: a.owner.subject})
	}
	return out, nil
}
