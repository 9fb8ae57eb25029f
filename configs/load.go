package configs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/kineticsec/kinetic/internal/connspec"
	"github.com/kineticsec/kinetic/internal/dur"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written in YAML as "90s", "15m", "4h" or "7d".
type Duration = dur.Duration

// Service defaults, applied by ParseService, Load and Default.
const (
	DefaultHTTPAddr          = "127.0.0.1:8080"
	DefaultDatabaseDriver    = "sqlite"
	DefaultSQLitePath        = "kinetic.db"
	DefaultWorkerConcurrency = 20
	DefaultLease             = 10 * time.Second
	DefaultSweepInterval     = 5 * time.Second
	DefaultShutdownGrace     = 20 * time.Second
	DefaultLogLevel          = "info"
	DefaultLogFormat         = "auto"
	DefaultConnectorTimeout  = 30 * time.Second
	// HTTP server limits (http.*); bot.ServerLimits has the same defaults.
	DefaultReadHeaderTimeout       = 10 * time.Second
	DefaultReadTimeout             = 15 * time.Second
	DefaultWriteTimeout            = 60 * time.Second
	DefaultIdleTimeout             = 60 * time.Second
	DefaultMaxConnections          = 1000
	DefaultMaxConnectionsPerClient = 100
	// MaxAPIClientName bounds an API client's name, which becomes its
	// principal ("api:NAME") and a prefix of its idempotency keys.
	MaxAPIClientName = 64
)

// DefaultHRRoles are the role profiles whose holders may offboard anyone when
// hr_roles is not set.
var DefaultHRRoles = []string{"hr"}

// Environment variables that override the service file in Load and Default
// (not in ParseService).
const (
	// EnvHTTPAddr overrides http.addr.
	EnvHTTPAddr = "KINETIC_HTTP_ADDR"
	// EnvDatabaseDSN selects PostgreSQL with this connection string,
	// overriding database.driver and database.dsn.
	EnvDatabaseDSN = "KINETIC_DATABASE_DSN"
	// EnvRedisAddr selects an external Redis at this HOST:PORT, overriding
	// redis.addr and turning redis.embedded off.
	EnvRedisAddr = "KINETIC_REDIS_ADDR"
)

// Config is a loaded, validated configuration: the service file and the
// policy it names.
type Config struct {
	Service *Service
	Policy  *Policy

	// fsys is the embedded file system for Default(); nil for a file
	// configuration, whose relative paths are resolved against dir.
	fsys fs.FS
	dir  string
}

// Load reads the service file at path and the policy file it names
// (relative to the service file), strictly: unknown keys are errors, and
// everything is validated, including cross-references (actions name
// configured connectors and operations their types support, rules name
// actions) and secrets, which are resolved. Every problem found is returned
// at once, as *Errors.
//
// Environment variables override the file: KINETIC_HTTP_ADDR sets
// http.addr; KINETIC_DATABASE_DSN selects PostgreSQL with that DSN;
// KINETIC_REDIS_ADDR selects that Redis instead of the embedded one;
// KINETIC_SLACK_* override the keys of a chat.slack block (configs.EnvSlack).
// Relative paths (policy, directory.file, secret files) are resolved
// against the service file's directory.
func Load(path string, types Types) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, (&Errors{List: []Error{{File: path, Msg: readErr(err)}}}).err()
	}
	dir := filepath.Dir(path)
	svc, d := parseService(path, data, os.LookupEnv, dir, types)
	svc.File = path
	cfg := &Config{Service: svc, dir: dir}
	errs := d.errs

	if f := svc.Directory.File; f != "" {
		if _, err := os.Stat(cfg.resolve(f)); err != nil {
			d.add("directory.file", "%s", readErr(err))
		}
	}
	if svc.Policy != "" {
		pp := cfg.resolve(svc.Policy)
		pdata, err := os.ReadFile(pp)
		if err != nil {
			d.add("policy", "policy file: %s", readErr(err))
		} else {
			pol, pd := parsePolicy(pp, pdata, svc)
			errs.merge(pd.errs)
			cfg.Policy = pol
		}
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Default returns the embedded default configuration (embedded.yaml and
// policy.example.yaml, compiled into the binary): SQLite kinetic.db in the
// working directory, an embedded Redis, the sandbox connectors and the
// bundled sample directory. The environment overrides Load documents apply.
func Default(types Types) (*Config, error) {
	svc, d := parseService(embeddedServiceName, embeddedService, os.LookupEnv, "", types)
	svc.File = ""
	cfg := &Config{Service: svc, fsys: embeddedFS}
	errs := d.errs
	if f := svc.Directory.File; f != "" {
		if _, err := fs.Stat(embeddedFS, f); err != nil {
			d.add("directory.file", "%s is not embedded", f)
		}
	}
	pdata, err := fs.ReadFile(embeddedFS, svc.Policy)
	if err != nil {
		d.add("policy", "policy file %s is not embedded", svc.Policy)
	} else {
		pol, pd := parsePolicy(svc.Policy, pdata, svc)
		errs.merge(pd.errs)
		cfg.Policy = pol
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// ParseService parses a service file alone: strictly, with defaults applied,
// validated and its secrets resolved (relative secret files against name's
// directory), but without the policy it names and without the environment
// overrides. name is used in error messages.
func ParseService(name string, data []byte, types Types) (*Service, error) {
	svc, d := parseService(name, data, nil, filepath.Dir(name), types)
	if err := d.errs.err(); err != nil {
		return nil, err
	}
	return svc, nil
}

// resolve returns a path from the service file relative to its directory.
func (c *Config) resolve(p string) string {
	if filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}

// readErr describes a file error without repeating Go's "open PATH:" prefix.
func readErr(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Sprintf("%s: %v", pe.Path, pe.Err)
	}
	return err.Error()
}

// parseService decodes, defaults, overrides from env (when not nil),
// validates and resolves secrets. It always returns a non-nil Service,
// filled as far as the file allowed.
func parseService(name string, data []byte, env func(string) (string, bool), baseDir string, types Types) (*Service, *doc) {
	svc := &Service{types: types.Connectors, dirTypes: types.Directories, hrSpec: types.HR}
	d := decodeStrictWith(name, data, svc, func(d *doc, root *yaml.Node) { d.takeTypeBlocks(root, types) })
	for n, ci := range svc.Connectors {
		if ci != nil {
			ci.Name = n
		}
	}
	d.decodeTypeBlocks(svc.Connectors, types.Connectors)
	d.decodeHRBlocks(svc)
	svc.applyDefaults()
	if env != nil {
		svc.applyEnv(env)
	}
	svc.Chat.Slack.applyDefaults()
	svc.Chat.Teams.applyDefaults()
	svc.Signals.applyDefaults()
	if d.fatal {
		return svc, d
	}
	svc.resolveConnectorFiles(baseDir)
	svc.Chat.Teams.resolveFiles(baseDir)
	svc.Audit.applyDefaults(baseDir)
	svc.validate(d)
	svc.recordSandboxes(d)
	svc.checkConnectorFiles(d)
	resolveSecrets(reflect.ValueOf(svc).Elem(), "", baseDir, d)
	svc.checkTokens(d)
	svc.checkSignalsKey(d)
	return svc, d
}

// recordSandboxes notes where each sandbox connector is written, for
// CheckSimulated.
func (s *Service) recordSandboxes(d *doc) {
	s.source = d.file
	s.sandboxLines = map[string]int{}
	for _, name := range s.SandboxConnectors() {
		s.sandboxLines[name] = d.line(joinKey(joinKey("connectors", name), "type"))
	}
}

// SandboxConnectors returns the names of the connector instances of type
// sandbox (simulated systems), sorted; nil when there are none.
func (s *Service) SandboxConnectors() []string {
	var names []string
	for _, name := range slices.Sorted(maps.Keys(s.Connectors)) {
		if ci := s.Connectors[name]; ci != nil && ci.Simulated() {
			names = append(names, name)
		}
	}
	return names
}

// ErrSimulatedNotDeclared is wrapped by CheckSimulated's error: the service
// has sandbox connectors but does not say simulated: true.
var ErrSimulatedNotDeclared = errors.New("sandbox connectors without simulated: true")

// CheckSimulated is the check kinetic serve and kinetic worker make before
// starting: a sandbox connector simulates its system (nothing real is
// revoked), so one is allowed only when the service file says
// `simulated: true` at the top. It returns nil when the file says so or has
// no sandbox connector; otherwise an error wrapping both
// ErrSimulatedNotDeclared and *Errors, one Error per sandbox instance at
// its file, line and connectors.NAME.type key. Load does not make this
// check: config validate, plan and the audit commands work on such a file.
func (s *Service) CheckSimulated() error {
	names := s.SandboxConnectors()
	if s.Simulated || len(names) == 0 {
		return nil
	}
	errs := &Errors{}
	for _, name := range names {
		errs.add(s.source, s.sandboxLines[name], joinKey(joinKey("connectors", name), "type"),
			"sandbox simulates its system: nothing real is revoked. Use a real connector type (%s), or, for a demo or test, write simulated: true at the top of the file",
			strings.Join(s.realConnectorTypes(), ", "))
	}
	return &simulatedError{errs: errs.err().(*Errors), names: names}
}

// realConnectorTypes are the known connector types that do not simulate
// their system.
func (s *Service) realConnectorTypes() []string {
	var out []string
	for _, t := range s.types {
		if !t.Simulated {
			out = append(out, t.Type)
		}
	}
	return out
}

// simulatedError is CheckSimulated's error.
type simulatedError struct {
	errs  *Errors
	names []string
}

func (e *simulatedError) Error() string {
	return fmt.Sprintf("connectors %s are sandbox simulations (nothing real would be revoked) and the configuration does not say simulated: true:\n%v", strings.Join(e.names, ", "), e.errs)
}

// Unwrap returns ErrSimulatedNotDeclared and the *Errors.
func (e *simulatedError) Unwrap() []error { return []error{ErrSimulatedNotDeclared, e.errs} }

// checkTokens refuses two API clients with the same token: a request would
// be attributed to either client at random, in the audit trail too.
func (s *Service) checkTokens(d *doc) {
	owner := map[string]string{}
	check := func(key, name, v string) {
		if v == "" {
			return
		}
		if first, ok := owner[v]; ok {
			d.add(key, "same token as client %q: every API client needs its own token, or the audit trail cannot tell them apart", first)
			return
		}
		owner[v] = name
	}
	for _, name := range slices.Sorted(maps.Keys(s.HTTP.APIClients)) {
		check(joinKey("http.api_clients", name)+".token", name, s.HTTP.APIClients[name].Token.Value())
	}
	for _, name := range slices.Sorted(maps.Keys(s.HTTP.APITokens)) {
		check(joinKey("http.api_tokens", name), name, s.HTTP.APITokens[name].Value())
	}
}

// validateAPIClients checks http.api_clients: a token each, known scopes,
// act_as entries that are HR ids, roles, or "*" for a trusted front end
// only, and no name also used in http.api_tokens.
func (s *Service) validateAPIClients(d *doc) {
	for _, name := range slices.Sorted(maps.Keys(s.HTTP.APIClients)) {
		key := joinKey("http.api_clients", name)
		c := s.HTTP.APIClients[name]
		switch {
		case name == "":
			d.add("http.api_clients", "a client needs a name")
			continue
		case !nameRE.MatchString(name):
			d.add(key, "client name %q: use letters, digits, '.', '_' and '-'", name)
		case len(name) > MaxAPIClientName:
			d.add(key, "a client name is at most %d characters", MaxAPIClientName)
		}
		if _, dup := s.HTTP.APITokens[name]; dup {
			d.add(key, "client %q is also in http.api_tokens; give each client one entry", name)
		}
		if !c.Token.IsSet() {
			d.add(key+".token", "token needs {env: NAME} or {file: PATH}")
		}
		seen := map[string]bool{}
		for i, sc := range c.Scopes {
			k := fmt.Sprintf("%s.scopes[%d]", key, i)
			switch {
			case !slices.Contains(APIScopes, sc):
				d.add(k, "unknown scope %q (known: %s)", sc, strings.Join(APIScopes, ", "))
			case seen[sc]:
				d.add(k, "scope %q is listed twice", sc)
			}
			seen[sc] = true
		}
		for i, a := range c.ActAs {
			k := fmt.Sprintf("%s.act_as[%d]", key, i)
			switch {
			case a == "*":
				if !c.TrustedFrontEnd {
					d.add(k, `"*" (act for anyone) needs trusted_front_end: true: only a front end that authenticates its own users may act for anyone`)
				}
			case strings.HasPrefix(a, "role:"):
				if !slices.Contains(ActAsRoles, a) {
					d.add(k, "unknown role %q (known: %s)", a, strings.Join(ActAsRoles, ", "))
				}
			case strings.TrimSpace(a) == "" || strings.ContainsAny(a, " \t:*"):
				d.add(k, "%q is not an HR id, a role (%s) or \"*\"", a, strings.Join(ActAsRoles, ", "))
			}
		}
	}
}

func (s *Service) applyDefaults() {
	if s.HTTP.Addr == "" {
		s.HTTP.Addr = DefaultHTTPAddr
	}
	if s.HTTP.ReadHeaderTimeout == 0 && s.HTTP.ReadTimeout > 0 {
		// The headers are part of the request read_timeout bounds.
		s.HTTP.ReadHeaderTimeout = min(Duration(DefaultReadHeaderTimeout), s.HTTP.ReadTimeout)
	}
	for _, d := range []struct {
		v   *Duration
		def time.Duration
	}{
		{&s.HTTP.ReadHeaderTimeout, DefaultReadHeaderTimeout},
		{&s.HTTP.ReadTimeout, DefaultReadTimeout},
		{&s.HTTP.WriteTimeout, DefaultWriteTimeout},
		{&s.HTTP.IdleTimeout, DefaultIdleTimeout},
	} {
		if *d.v == 0 {
			*d.v = Duration(d.def)
		}
	}
	if s.HTTP.MaxConnections == 0 {
		s.HTTP.MaxConnections = DefaultMaxConnections
	}
	if s.HTTP.MaxConnectionsPerClient == 0 {
		s.HTTP.MaxConnectionsPerClient = DefaultMaxConnectionsPerClient
	}
	if s.Database.Driver == "" {
		s.Database.Driver = DefaultDatabaseDriver
	}
	if s.Database.Driver == "sqlite" && s.Database.Path == "" {
		s.Database.Path = DefaultSQLitePath
	}
	if s.Workers.Concurrency == 0 {
		s.Workers.Concurrency = DefaultWorkerConcurrency
	}
	if s.Workers.Lease == 0 {
		s.Workers.Lease = Duration(DefaultLease)
	}
	if s.Workers.SweepInterval == 0 {
		s.Workers.SweepInterval = Duration(DefaultSweepInterval)
	}
	if s.Workers.ShutdownGrace == 0 {
		s.Workers.ShutdownGrace = Duration(DefaultShutdownGrace)
	}
	if s.HRRoles == nil {
		s.HRRoles = slices.Clone(DefaultHRRoles)
	}
	if s.Log.Level == "" {
		s.Log.Level = DefaultLogLevel
	}
	if s.Log.Format == "" {
		s.Log.Format = DefaultLogFormat
	}
	for _, ci := range s.Connectors {
		if ci == nil {
			continue
		}
		if ci.Timeout == 0 {
			ci.Timeout = Duration(DefaultConnectorTimeout)
		}
		if rl := ci.RateLimit; rl != nil && rl.Burst == 0 {
			rl.Burst = 1
		}
	}
}

func (s *Service) applyEnv(env func(string) (string, bool)) {
	s.Chat.Slack.applyEnv(env)
	if v, ok := env(EnvHTTPAddr); ok && v != "" {
		s.HTTP.Addr = v
	}
	if v, ok := env(EnvDatabaseDSN); ok && v != "" {
		s.Database.Driver = "postgres"
		s.Database.DSN = secret.FromValue(v)
	}
	if v, ok := env(EnvRedisAddr); ok && v != "" {
		s.Redis.Addr = v
		s.Redis.Embedded = false
		s.Redis.Sentinel, s.Redis.Cluster = nil, nil
	}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// validate checks everything but secrets and files.
func (s *Service) validate(d *doc) {
	if _, _, err := net.SplitHostPort(s.HTTP.Addr); err != nil {
		d.add("http.addr", "want HOST:PORT: %v", err)
	}
	s.validateAPIClients(d)
	for _, name := range slices.Sorted(maps.Keys(s.HTTP.APITokens)) {
		if name == "" {
			d.add("http.api_tokens", "a token needs a client name")
		}
		if len(name) > MaxAPIClientName {
			d.add(joinKey("http.api_tokens", name), "a client name is at most %d characters", MaxAPIClientName)
		}
		if !s.HTTP.APITokens[name].IsSet() {
			d.add(joinKey("http.api_tokens", name), "token needs {env: NAME} or {file: PATH}")
		}
	}

	s.HTTP.validate(d)
	s.validateNotices(d)
	s.validateNoticeTeams(d)

	switch s.Database.Driver {
	case "sqlite":
		if s.Database.DSN.IsSet() {
			d.add("database.dsn", "dsn is for driver postgres; sqlite uses path")
		}
	case "postgres":
		if !s.Database.DSN.IsSet() {
			d.add("database.dsn", "driver postgres needs a dsn ({env: NAME} or {file: PATH}, or set %s)", EnvDatabaseDSN)
		}
	default:
		d.add("database.driver", "unknown driver %q (want postgres or sqlite)", s.Database.Driver)
	}

	// Embedded Redis with PostgreSQL is allowed: single-process development
	// against a real database.
	s.Redis.validate(d)

	if s.Workers.Concurrency < 0 {
		d.add("workers.concurrency", "must not be negative (0 means the default, %d)", DefaultWorkerConcurrency)
	}
	s.Workers.validate(d)
	s.Audit.validate(d)

	switch s.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		d.add("log.level", "unknown level %q (want debug, info, warn or error)", s.Log.Level)
	}
	switch s.Log.Format {
	case "json", "text", "auto":
	default:
		d.add("log.format", "unknown format %q (want json, text or auto)", s.Log.Format)
	}

	for i, a := range s.Admins {
		if strings.TrimSpace(a) == "" {
			d.add(fmt.Sprintf("admins[%d]", i), "empty employee id")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.ApproverGroups)) {
		for i, m := range s.ApproverGroups[name] {
			key := fmt.Sprintf("%s[%d]", joinKey("approver_groups", name), i)
			switch {
			case strings.TrimSpace(m) == "":
				d.add(key, "empty employee id")
			case strings.HasPrefix(m, EntraGroupPrefix) && !guid(m[len(EntraGroupPrefix):]):
				d.add(key, "%q is not an Entra group object id (want entra: followed by a GUID)", m)
			case strings.HasPrefix(m, EntraGroupPrefix) && (s.Chat.Teams == nil || s.Chat.Teams.Graph == nil):
				d.add(key, "%q names an Entra group, whose members are read through Microsoft Graph: configure chat.teams.graph (docs/teams.md)", m)
			case strings.HasPrefix(m, EntraGroupPrefix):
			case strings.Contains(m, ":") && !strings.HasPrefix(m, SlackGroupPrefix):
				d.add(key, "unknown member reference %q (want an HR employee id, slack:USERGROUP_ID or entra:GROUP_OBJECT_ID)", m)
			case strings.HasPrefix(m, SlackGroupPrefix) && !validSlackGroupID(m[len(SlackGroupPrefix):]):
				d.add(key, "%q is not a Slack user group id (want slack:S followed by letters and digits, e.g. slack:S0123ABCD)", m)
			}
		}
	}
	for i, r := range s.HRRoles {
		if strings.TrimSpace(r) == "" {
			d.add(fmt.Sprintf("hr_roles[%d]", i), "empty role profile")
		}
	}
	if strings.TrimSpace(s.Policy) == "" {
		d.add("policy", "the policy file is required (a path relative to this file)")
	}

	// Each entry is checked alone, by the same parser the connectors use, so
	// every bad one is reported at its own key.
	// An entry that parses but opens too much (the whole address space,
	// cloud metadata: outbound.CheckAllowCIDR, CheckAllowHost) is
	// refused at its key and left out of the URL checks below, which then
	// still report every URL it would have let through.
	outboundOK := true
	for i, c := range s.Outbound.AllowCIDRs {
		key := fmt.Sprintf("outbound.allow_cidrs[%d]", i)
		p, err := outbound.NewURLPolicy([]string{c}, nil)
		if err != nil {
			d.add(key, "%s", strings.TrimPrefix(err.Error(), "outbound.allow_cidrs: "))
			outboundOK = false
			continue
		}
		if err := outbound.CheckAllowCIDR(p.AllowCIDRs[0]); err != nil {
			d.add(key, "%v", err)
			d.refuseAllow(c)
		}
	}
	for i, h := range s.Outbound.AllowHosts {
		key := fmt.Sprintf("outbound.allow_hosts[%d]", i)
		if _, err := outbound.NewURLPolicy(nil, []string{h}); err != nil {
			d.add(key, "%s", strings.TrimPrefix(err.Error(), "outbound.allow_hosts: "))
			outboundOK = false
			continue
		}
		if err := outbound.CheckAllowHost(h); err != nil {
			d.add(key, "%v", err)
			d.refuseAllow(h)
		}
	}

	for _, name := range slices.Sorted(maps.Keys(s.Connectors)) {
		validateInstance(d, name, s.Connectors[name], s.types)
	}
	if outboundOK {
		s.checkBaseURLs(d)
		if u := s.Audit.Anchors.URL; strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
			checkURLs(d, s.Outbound, []urlTarget{{path: "audit.anchors.url", url: u}})
		}
	}
	// The directory block and its HR system's URLs (hrsources.go).
	s.validateDirectory(d, outboundOK)
	// The hr block (bot/hr): every problem at its own key below hr, and the
	// pollers' URLs through the outbound URL policy like connector base URLs.
	if s.HR != nil && s.hrSpec != nil {
		key := s.hrSpec.Key
		hrFieldErrors(d, key, s.hrSpec.Validate(s.HR))
		if outboundOK && s.hrSpec.URLs != nil {
			urls := s.hrSpec.URLs(s.HR)
			targets := make([]urlTarget, 0, len(urls))
			for _, k := range slices.Sorted(maps.Keys(urls)) {
				targets = append(targets, urlTarget{path: key + "." + k, url: urls[k]})
			}
			checkURLs(d, s.Outbound, targets)
		}
	}
	// The chat block (chat.go); the Slack Web API URL carries the bot
	// token, so it passes the outbound URL policy too.
	s.Chat.validate(d)
	s.validateRouting(d)
	validateSyncedFrom(d, s.Connectors)
	// The signals block (signals.go): receivers' endpoints pass the
	// outbound URL policy like connector base URLs.
	s.Signals.validate(d, s.Connectors)
	if outboundOK {
		s.checkSignalURLs(d)
	}
	if c := s.Chat.Slack; c != nil && c.APIURL != "" && outboundOK {
		checkURLs(d, s.Outbound, []urlTarget{{path: "chat.slack.api_url", url: c.APIURL}})
	}
}

// Lower bounds of the worker timings; see Workers.validate.
const (
	MinLease         = 2 * time.Second
	MinSweepInterval = 200 * time.Millisecond
	// MaxShutdownGrace leaves 5 s of Kubernetes' default 30 s
	// terminationGracePeriodSeconds for handing back what is still running
	// and closing connections before the kubelet sends SIGKILL.
	MaxShutdownGrace = 25 * time.Second
)

// validate checks the worker timings (durations are never negative, and
// zero means the default, applied before):
//
//   - lease ≥ MinLease (2 s): a worker renews its claim every third of the
//     lease, so a shorter one expires at the first slow database round
//     trip, and the sweep hands the action to a second worker while the
//     first is still revoking: the same step runs twice.
//   - sweep_interval ≥ MinSweepInterval (200 ms): each sweep queries the
//     database, and it takes a queued action for lost after twice the
//     interval; shorter than that is below asynq's own pick-up and
//     forwarding delays (50 and 200 ms), so work that is not lost would be
//     enqueued again, many times a second, in every process.
//   - sweep_interval ≤ lease: the sweep is what recovers an expired
//     lease; running it less often than leases last leaves a crashed
//     worker's action stuck for up to the interval on top of the lease.
//   - 0 < shutdown_grace ≤ MaxShutdownGrace (25 s): past it the kubelet's
//     SIGKILL (30 s by default) would come before the hand-back, and the
//     actions would wait for their leases instead.
func (w Workers) validate(d *doc) {
	if g := w.ShutdownGrace.D(); g < 0 || g > MaxShutdownGrace {
		d.add("workers.shutdown_grace", "%s is out of range: the grace must be above 0 and at most %s (Kubernetes sends SIGKILL 30 s after SIGTERM by default; what is still running is handed back after the grace)", g, MaxShutdownGrace)
	}
	lease, sweep := w.Lease.D(), w.SweepInterval.D()
	if lease < MinLease {
		d.add("workers.lease", "%s is too short: a lease must be at least %s (workers renew at a third of it; a shorter lease expires at the first slow database call and the action runs twice)", lease, MinLease)
	}
	if sweep < MinSweepInterval {
		d.add("workers.sweep_interval", "%s is too short: the sweep must run at most every %s (each sweep queries the database, and a shorter interval re-enqueues work that is only waiting to be picked up)", sweep, MinSweepInterval)
	}
	if lease >= MinLease && sweep >= MinSweepInterval && sweep > lease {
		d.add("workers.sweep_interval", "%s is longer than workers.lease (%s): the sweep recovers expired leases, so it must run at least once per lease", sweep, lease)
	}
}

// validateInstance checks one connector instance and its type block.
func validateInstance(d *doc, name string, ci *ConnectorInstance, types []connspec.Spec) {
	path := joinKey("connectors", name)
	if !nameRE.MatchString(name) {
		d.add(path, "instance name %q must be letters, digits, '.', '-' or '_'", name)
	}
	if ci == nil {
		d.add(path, "empty connector instance (needs a type and that type's block)")
		return
	}
	if ci.Concurrency < 0 {
		d.add(path+".concurrency", "must not be negative (0 means no cap)")
	}
	if rl := ci.RateLimit; rl != nil {
		if rl.Requests <= 0 {
			d.add(path+".rate_limit.requests", "must be greater than 0")
		}
		if rl.Per <= 0 {
			d.add(path+".rate_limit.per", "must be a positive duration (e.g. 1m)")
		}
		if rl.Burst < 0 {
			d.add(path+".rate_limit.burst", "must not be negative (0 means 1)")
		} else if rl.Requests > 0 && rl.Burst >= rl.Requests {
			d.add(path+".rate_limit.burst", "must be less than requests (%d): the burst comes out of the budget, so no window of per ever sees more than requests", rl.Requests)
		}
	}
	known := typeNames(types)
	if ci.Type == "" {
		d.add(path+".type", "type is required (one of %s)", strings.Join(known, ", "))
		return
	}
	for _, b := range ci.blocks {
		if b != ci.Type {
			d.add(path+"."+b, "a %s block does not belong in an instance of type %q", b, ci.Type)
		}
	}
	spec := ci.spec
	if spec == nil {
		d.add(path+".type", "unknown connector type %q (known: %s)", ci.Type, strings.Join(known, ", "))
		return
	}
	if ci.Block == nil {
		d.add(path, "type %[1]s needs %[2]s %[1]s: block", ci.Type, article(ci.Type))
		return
	}
	if spec.Validate != nil {
		fieldErrors(d, path+"."+ci.Type, spec.Validate(ci.Block))
	}
}

// article is "an" before a type name read with a leading vowel sound
// ("an ldap: block"), else "a".
func article(name string) string {
	if name != "" && strings.ContainsRune("aeiol", rune(name[0])) {
		return "an"
	}
	return "a"
}

// blockErrors records a type block's Validate error, one Error per joined
// error. The connector packages start each message with the key it is
// about ("url: …", "oauth.client_id is required", "keep_groups[2]: …"), so
// an error is reported at that key when it is written in the block — or at
// its nearest written parent ("oauth" for oauth.client_id) — with a
// leading "KEY: " dropped as the report names it. Otherwise it goes to
// the first key written in the block that its message names, else to the
// block itself.
func blockErrors(d *doc, path string, err error) {
	if err == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		msg := e.Error()
		if key := leadingKeyRE.FindString(msg); key != "" {
			if at := writtenKey(d, path, key); at != "" {
				if at == path+"."+key {
					msg = strings.TrimPrefix(msg, key+": ")
				}
				d.add(at, "%s", msg)
				continue
			}
		}
		p := path
		words := strings.FieldsFunc(msg, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_')
		})
		for _, w := range words {
			if d.has(path + "." + w) {
				p = path + "." + w
				break
			}
		}
		d.add(p, "%s", msg)
	}
}

// leadingKeyRE matches a key path at the start of a message:
// "oauth.scopes[1]", "disable.value", "url".
var leadingKeyRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*|\[[0-9]+\])*`)

// writtenKey returns path.key, or its nearest parent below path, when that
// is written in the file; "" when none is.
func writtenKey(d *doc, path, key string) string {
	for key != "" {
		if d.has(path + "." + key) {
			return path + "." + key
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			return ""
		}
		key = key[:i]
	}
	return ""
}

// urlTarget is one connector base URL and the key it is written at; shown,
// when set, is how messages name the URL instead of the http(s) form
// checked (see baseURL).
type urlTarget struct{ path, url, shown string }

// checkBaseURLs checks every connector base URL against the outbound URL
// policy.
func (s *Service) checkBaseURLs(d *doc) {
	var targets []urlTarget
	for _, name := range slices.Sorted(maps.Keys(s.Connectors)) {
		ci := s.Connectors[name]
		if ci == nil {
			continue
		}
		urls := baseURLs(ci)
		for _, key := range slices.Sorted(maps.Keys(urls)) {
			u := urls[key]
			targets = append(targets, urlTarget{joinKey("connectors", name) + "." + key, u.url, u.shown})
		}
	}
	checkURLs(d, s.Outbound, targets)
}

// urlCheckTimeout bounds the DNS lookups of all base URL checks together.
const urlCheckTimeout = 10 * time.Second

// checkURLs reports every target the outbound URL policy refuses. A host
// that cannot be resolved now is not reported: the check could not be made,
// and the connectors' HTTP client checks every connection it makes anyway.
func checkURLs(d *doc, ob Outbound, targets []urlTarget) {
	if len(targets) == 0 {
		return
	}
	pol, err := outbound.NewURLPolicy(d.allowed(ob.AllowCIDRs), d.allowed(ob.AllowHosts))
	if err != nil {
		d.add("outbound", "%v", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), urlCheckTimeout)
	defer cancel()
	for _, t := range targets {
		// A numeric host in a non-standard form (127.1, 2130706433) is
		// refused whatever it resolves to: other programs may read it as
		// another address.
		if u, err := url.Parse(strings.TrimSpace(t.url)); err == nil {
			if err := outbound.CheckHostForm(u.Hostname()); err != nil {
				d.add(t.path, "%v", err)
				continue
			}
		}
		if err := pol.CheckURL(ctx, t.url); errors.Is(err, outbound.ErrURLRefused) {
			msg := err.Error()
			if t.shown != "" {
				msg = strings.Replace(msg, t.url, t.shown, 1)
			}
			d.add(t.path, "%s", msg)
		}
	}
}

var secretType = reflect.TypeFor[secret.Secret]()

// resolveConnectorFiles makes the relative file paths connector blocks name
// (connectorFiles) relative to baseDir, the service file's directory, as
// secret files are. It runs before validation, which may read them (an
// LDAP block's ca_file).
func (s *Service) resolveConnectorFiles(baseDir string) {
	if baseDir == "" {
		return
	}
	for _, ci := range s.Connectors {
		if ci == nil {
			continue
		}
		for _, f := range connectorFiles(ci) {
			if p := strings.TrimSpace(*f.path); p != "" && !filepath.IsAbs(p) {
				*f.path = filepath.Join(baseDir, p)
			}
		}
	}
}

// checkConnectorFiles reports, at its key, every file a connector block
// names that is not a readable regular file, so `kinetic config validate`
// finds it before the connector is built. Files the block's own validation
// reads (ldap.ca_file) are left to it.
func (s *Service) checkConnectorFiles(d *doc) {
	for _, name := range slices.Sorted(maps.Keys(s.Connectors)) {
		ci := s.Connectors[name]
		if ci == nil {
			continue
		}
		for _, f := range connectorFiles(ci) {
			p := strings.TrimSpace(*f.path)
			if p == "" || f.validated {
				continue
			}
			key := joinKey("connectors", name) + "." + f.key
			fi, err := os.Stat(p)
			switch {
			case err != nil:
				d.add(key, "%s", readErr(err))
			case !fi.Mode().IsRegular():
				d.add(key, "%s is not a regular file", p)
			}
		}
	}
}

// resolveSecrets resolves every secret.Secret reachable from v, reporting
// each one that cannot be resolved at its key. Relative secret files are
// taken relative to baseDir. Only regular files are read.
func resolveSecrets(v reflect.Value, path, baseDir string, d *doc) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			resolveSecrets(v.Elem(), path, baseDir, d)
		}
	case reflect.Struct:
		if v.Type() == secretType {
			resolveSecret(v.Addr().Interface().(*secret.Secret), path, baseDir, d)
			return
		}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			resolveSecrets(v.Field(i), joinKey(path, name), baseDir, d)
		}
		if t == connectorInstanceType && v.CanAddr() {
			if ci := v.Addr().Interface().(*ConnectorInstance); ci.Block != nil {
				resolveSecrets(reflect.ValueOf(ci.Block), joinKey(path, ci.Type), baseDir, d)
			}
		}
		// The blocks decoded by a spec (yaml:"-"): the directory's HR
		// system block and the HR event block.
		if t == directorySourceType && v.CanAddr() {
			if ds := v.Addr().Interface().(*DirectorySource); ds.Block != nil {
				resolveSecrets(reflect.ValueOf(ds.Block), joinKey(path, ds.Type), baseDir, d)
			}
		}
		if t == serviceType && v.CanAddr() {
			if s := v.Addr().Interface().(*Service); s.HR != nil && s.hrSpec != nil {
				resolveSecrets(reflect.ValueOf(s.HR), joinKey(path, s.hrSpec.Key), baseDir, d)
			}
		}
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		for _, k := range keys {
			cp := reflect.New(v.Type().Elem()).Elem()
			cp.Set(v.MapIndex(k))
			resolveSecrets(cp, joinKey(path, k.String()), baseDir, d)
			v.SetMapIndex(k, cp)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			resolveSecrets(v.Index(i), fmt.Sprintf("%s[%d]", path, i), baseDir, d)
		}
	}
}

func resolveSecret(s *secret.Secret, path, baseDir string, d *doc) {
	if s.File != "" {
		if !filepath.IsAbs(s.File) && baseDir != "" {
			s.File = filepath.Join(baseDir, s.File)
		}
		fi, err := os.Stat(s.File)
		if err != nil {
			d.add(path, "secret file: %s", readErr(err))
			return
		}
		if !fi.Mode().IsRegular() {
			d.add(path, "secret file %s is not a regular file", s.File)
			return
		}
	}
	if err := s.Resolve(); err != nil {
		d.add(path, "%v", err)
	}
}

// SlackGroupPrefix marks an approver_groups entry that names a Slack user
// group ("slack:S0123ABCD"): its members, mapped to HR records, belong to
// the group. The Slack front end keeps them (docs/slack.md).
const SlackGroupPrefix = "slack:"

func validSlackGroupID(id string) bool {
	if len(id) < 2 || id[0] != 'S' {
		return false
	}
	for _, r := range id {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// validate checks the listener limits and the metrics listener.
func (h *HTTP) validate(d *doc) {
	if h.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(h.MetricsAddr); err != nil {
			d.add("http.metrics_addr", "want HOST:PORT: %v", err)
		} else if h.MetricsAddr == h.Addr {
			d.add("http.metrics_addr", "is http.addr; leave it out to serve /metrics there")
		}
	}
	if h.MaxConnections < 0 {
		d.add("http.max_connections", "must not be negative (0 means the default, %d)", DefaultMaxConnections)
	}
	if h.MaxConnectionsPerClient < 0 {
		d.add("http.max_connections_per_client", "must not be negative (0 means the default, %d)", DefaultMaxConnectionsPerClient)
	}
	if h.MaxConnections > 0 && h.MaxConnectionsPerClient > h.MaxConnections {
		d.add("http.max_connections_per_client", "%d is more than max_connections (%d)", h.MaxConnectionsPerClient, h.MaxConnections)
	}
	if h.ReadTimeout > 0 && h.ReadHeaderTimeout > h.ReadTimeout {
		d.add("http.read_header_timeout", "%s is longer than read_timeout (%s), which includes the headers", h.ReadHeaderTimeout, h.ReadTimeout)
	}
	// The API's answers (a case opened with its connector lookups) take
	// seconds: a write timeout shorter than that drops them.
	if h.WriteTimeout > 0 && h.WriteTimeout.D() < 5*time.Second {
		d.add("http.write_timeout", "%s is too short for the API's answers (at least 5s)", h.WriteTimeout)
	}
}
