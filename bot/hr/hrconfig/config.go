// Package hrconfig holds the configuration of Kinetic's HR front end (the
// service file's hr: block): signed webhooks HR systems post termination
// events to, and pollers that read them from HR APIs. It is a leaf package
// (no engine, no configs): Descriptor hands configs a spec that decodes
// the block into a Config, and bot/hr runs it.
//
// Poller formats describe themselves (PollerFormat, format.go): each is
// exported by the package that owns its HR system's wire format
// (directory/workday, directory/bamboohr) and listed in
// internal/compose/table; a Config validates its pollers, lists their URLs
// and hands bot/hr their sources through the formats it was given (Use).
// Webhook formats describe themselves too (WebhookFormat, webhook.go):
// bamboohr is directory/bamboohr's, generic is GenericWebhookFormat; a
// Config validates its webhooks through the formats it was given
// (UseWebhooks), and bot/hr's handler verifies and parses requests with
// them. The HR event they produce is Event (event.go), the engine's
// HREvent without the engine.
//
// Validate checks everything but secret values, which configs resolves
// like every other secret in the service file.
package hrconfig

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/kineticsec/kinetic/directory/hrpath"
	"github.com/kineticsec/kinetic/internal/connspec"
	"github.com/kineticsec/kinetic/internal/dur"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

// Webhook formats.
const (
	// FormatBambooHR is BambooHR's field-based webhook, signed with
	// X-BambooHR-Signature over the body followed by X-BambooHR-Timestamp.
	FormatBambooHR = "bamboohr"
	// FormatGeneric is any HR system (or relay) that signs
	// "<timestamp>.<body>" with HMAC-SHA256 and posts one event as JSON.
	FormatGeneric = "generic"
)

// Poller formats.
const (
	// FormatWorkdayRaaS reads a Workday custom report published as a web
	// service (RaaS), JSON {"Report_Entry": [...]}.
	FormatWorkdayRaaS = "workday_raas"
	// FormatBambooHRChanged reads BambooHR's "changed employees since"
	// list, then each changed employee's fields.
	FormatBambooHRChanged = "bamboohr_changed"
)

// Event kinds, as engine.HRTerminate, HRRescind and HRRehire.
const (
	KindTerminate = "terminate"
	KindRescind   = "rescind"
	KindRehire    = "rehire"
)

// Defaults.
const (
	// DefaultTolerance is how far a webhook's timestamp may be from now.
	DefaultTolerance = 5 * time.Minute
	// MaxTolerance bounds tolerance: a wide window weakens replay
	// protection.
	MaxTolerance = time.Hour
	// DefaultEvery is how often a poller polls.
	DefaultEvery = 15 * time.Minute
	// MinEvery is the shortest poll interval accepted.
	MinEvery = time.Minute
	// DefaultPollTimeout bounds one HTTP request of a poller.
	DefaultPollTimeout = 30 * time.Second
	// DefaultBambooHRBaseURL is BambooHR's API host.
	DefaultBambooHRBaseURL = "https://api.bamboohr.com"
)

// Config is the hr: block.
type Config struct {
	// Timing turns HR dates into effective times (engine.HRTiming).
	Timing Timing `yaml:"timing"`
	// Webhooks are the signed webhook sources by name; the name is the
	// {source} path segment of POST /hr/webhooks/{source} and the source
	// recorded with each event.
	Webhooks map[string]*Webhook `yaml:"webhooks"`
	// Pollers are the polled sources by name (the recorded source).
	Pollers map[string]*Poller `yaml:"pollers"`

	// formats are the poller formats the block may name (Use).
	formats []PollerFormat
	// webhookFormats are the webhook formats the block may name
	// (UseWebhooks).
	webhookFormats []WebhookFormat
}

// UseWebhooks sets the webhook formats c's webhooks may name
// (Descriptor's, for a decoded block) and returns c.
func (c *Config) UseWebhooks(formats ...WebhookFormat) *Config {
	c.webhookFormats = formats
	return c
}

// WebhookFormats returns the webhook formats c's webhooks may name.
func (c *Config) WebhookFormats() []WebhookFormat {
	if c == nil {
		return nil
	}
	return c.webhookFormats
}

// Use sets the poller formats c's pollers may name (Descriptor's, for a
// decoded block) and returns c.
func (c *Config) Use(formats ...PollerFormat) *Config {
	c.formats = formats
	return c
}

// PollerFormats returns the poller formats c's pollers may name.
func (c *Config) PollerFormats() []PollerFormat {
	if c == nil {
		return nil
	}
	return c.formats
}

// PollerFormat returns the poller format named name.
func (c *Config) PollerFormat(name string) (PollerFormat, bool) {
	for _, f := range c.PollerFormats() {
		if f.Format == name {
			return f, true
		}
	}
	return PollerFormat{}, false
}

// Timing is the policy for turning HR dates into effective times.
type Timing struct {
	// RevokeAt is the local time of day (HH:MM) revocation starts on the
	// last day when the event gives no time; default 17:00.
	RevokeAt string `yaml:"revoke_at"`
	// MaxFuture refuses dates further ahead; default 365d.
	MaxFuture dur.Duration `yaml:"max_future"`
	// MaxPast refuses dates further back; default 30d. Pollers that keep a
	// cursor start this far back when the process starts.
	MaxPast dur.Duration `yaml:"max_past"`
}

// Webhook is one signed webhook source.
type Webhook struct {
	// Format names the webhook's WebhookFormat (required): bamboohr or
	// generic, or any other format in the table. The other keys are each
	// read by some formats; a format refuses those it does not read.
	Format string `yaml:"format"`
	// Secret is the HMAC-SHA256 key (BambooHR: the webhook's private key).
	Secret secret.Secret `yaml:"secret"`
	// Tolerance is how far the signed timestamp may be from now, either
	// way; default 5m, at most 1h. A signature seen once is refused for
	// twice this long.
	Tolerance dur.Duration `yaml:"tolerance"`
	// SignatureHeader carries the hex HMAC-SHA256 of "<timestamp>.<body>",
	// optionally prefixed "sha256=" (generic only; required).
	SignatureHeader string `yaml:"signature_header"`
	// TimestampHeader carries the timestamp, unix seconds or RFC 3339
	// (generic only; required).
	TimestampHeader string `yaml:"timestamp_header"`
	// IDHeader optionally carries the event id (generic only); else
	// fields.event_id, else the engine derives one from the content.
	IDHeader string `yaml:"id_header"`
	// Fields maps the body's JSON (dotted paths, e.g. "data.userId") to
	// the event (generic: required). For bamboohr it optionally renames
	// the BambooHR fields read (see FieldNames).
	Fields *Fields `yaml:"fields"`
	// Kinds maps the values found at fields.kind to terminate, rescind or
	// rehire (generic only). Without it the value must be one of those.
	Kinds map[string]string `yaml:"kinds"`
	// Kind fixes the kind of every event instead of fields.kind (generic
	// only).
	Kind string `yaml:"kind"`
}

// Fields maps an event's parts to where the source puts them. For generic
// webhooks and workday_raas they are dotted JSON paths into the body or the
// report row; for the BambooHR formats they are BambooHR field names (or
// aliases) in the employee's fields, and an empty employee_id (or "id")
// means BambooHR's own employee id. The employee id must be the HR
// directory's id for the person (engine: the employee id wins over email).
type Fields struct {
	EventID     string `yaml:"event_id"`
	Kind        string `yaml:"kind"`
	EmployeeID  string `yaml:"employee_id"`
	Email       string `yaml:"email"`
	Date        string `yaml:"date"`
	Time        string `yaml:"time"`
	Involuntary string `yaml:"involuntary"`
	Reason      string `yaml:"reason"`
	// Status is BambooHR's Active/Inactive field (BambooHR formats only).
	Status string `yaml:"status"`
	// HireDate tells a rehire from a rescission (BambooHR formats only).
	HireDate string `yaml:"hire_date"`
}

// Poller is one polled source.
type Poller struct {
	// Format names the poller's PollerFormat (required): workday_raas or
	// bamboohr_changed, or any other format in the table. The other keys
	// are each read by some formats; a format refuses those it does not
	// read.
	Format string `yaml:"format"`
	// URL is the Workday RaaS report URL with its prompts (workday_raas;
	// required); format=json is added when the URL names no format.
	URL string `yaml:"url"`
	// Username and Password are the Workday integration system user's
	// basic-auth credentials (workday_raas; or OAuth).
	Username string        `yaml:"username"`
	Password secret.Secret `yaml:"password"`
	// OAuth authenticates with a Workday API client's refresh token
	// instead of basic auth (workday_raas).
	OAuth *OAuth `yaml:"oauth"`
	// Company is the BambooHR company domain, "acme" for
	// acme.bamboohr.com (bamboohr_changed; required).
	Company string `yaml:"company"`
	// APIKey is a BambooHR API key (bamboohr_changed; required).
	APIKey secret.Secret `yaml:"api_key"`
	// BaseURL is BambooHR's API host; default https://api.bamboohr.com
	// (bamboohr_changed).
	BaseURL string `yaml:"base_url"`
	// Every is the poll interval; default 15m, at least 1m. Each wait is
	// jittered by up to a tenth.
	Every dur.Duration `yaml:"every"`
	// Timeout bounds each HTTP request; default 30s.
	Timeout dur.Duration `yaml:"timeout"`
	// Fields maps report rows (workday_raas; required) or renames
	// BambooHR fields (bamboohr_changed; optional).
	Fields *Fields `yaml:"fields"`
	// Kinds and Kind are as for generic webhooks (workday_raas only).
	Kinds map[string]string `yaml:"kinds"`
	Kind  string            `yaml:"kind"`
}

// OAuth is a Workday API client authorized with a refresh token: the poller
// exchanges it at TokenURL (grant_type=refresh_token, client credentials in
// basic auth) for an access token it sends as a bearer token.
type OAuth struct {
	// TokenURL is e.g. https://wd5-services1.myworkday.com/ccx/oauth2/acme/token.
	TokenURL     string        `yaml:"token_url"`
	ClientID     string        `yaml:"client_id"`
	ClientSecret secret.Secret `yaml:"client_secret"`
	RefreshToken secret.Secret `yaml:"refresh_token"`
}

// FieldError is one problem at Field, the key below the hr block, e.g.
// "webhooks.bamboohr.secret".
//
// It is connspec.FieldError, so configs reports it at hr.<Field> without
// importing this package.
type FieldError = connspec.FieldError

// FieldErrors returns the *FieldErrors joined in err (as Validate returns
// it); nil for nil.
func FieldErrors(err error) []*FieldError {
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var out []*FieldError
	for _, e := range errs {
		var fe *FieldError
		if errors.As(e, &fe) {
			out = append(out, fe)
		} else {
			out = append(out, &FieldError{Err: e})
		}
	}
	return out
}

// Problems is Validate's error as a list, each at its key below the hr
// block (configs reports them at hr.<Field>).
func (c *Config) Problems() []*FieldError { return FieldErrors(c.Validate()) }

var (
	nameRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	clockRE = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$`)
)

// Validate reports every problem, joined; each is a *FieldError naming its
// key below the hr block. Zero values mean the documented defaults. Secrets
// must be set ({env: …} or {file: …}) but are not resolved here.
func (c *Config) Validate() error {
	if c == nil {
		return nil
	}
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Err: fmt.Errorf(format, args...)})
	}
	if r := c.Timing.RevokeAt; r != "" && !clockRE.MatchString(r) {
		add("timing.revoke_at", "%q is not a time of day HH:MM (e.g. 17:00)", r)
	}
	for _, name := range slices.Sorted(maps.Keys(c.Webhooks)) {
		c.Webhooks[name].validate("webhooks."+name, name, add, c.webhookFormats)
	}
	for _, name := range slices.Sorted(maps.Keys(c.Pollers)) {
		c.Pollers[name].validate("pollers."+name, name, add, c.formats)
	}
	for name := range c.Pollers {
		if _, dup := c.Webhooks[name]; dup {
			add("pollers."+name, "%q is also a webhook's name: each source needs its own name (events are deduplicated per source)", name)
		}
	}
	return errors.Join(errs...)
}

type adder = func(field, format string, args ...any)

func (w *Webhook) validate(path, name string, add adder, formats []WebhookFormat) {
	if !nameRE.MatchString(name) {
		add(path, "source name %q must be 1–64 letters, digits, '.', '-' or '_' (it is a URL path segment)", name)
	}
	if w == nil {
		add(path, "empty webhook (needs format and secret)")
		return
	}
	if !w.Secret.IsSet() {
		add(path+".secret", "secret is required ({env: NAME} or {file: PATH})")
	}
	if t := w.Tolerance.D(); t > MaxTolerance {
		add(path+".tolerance", "must be at most %s (a wide window weakens replay protection); default %s", MaxTolerance, DefaultTolerance)
	}
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = f.Format
	}
	want := orList(names)
	if w.Format == "" {
		add(path+".format", "format is required (%s)", want)
		return
	}
	i := slices.IndexFunc(formats, func(f WebhookFormat) bool { return f.Format == w.Format })
	if i < 0 {
		add(path+".format", "unknown format %q (want %s)", w.Format, want)
		return
	}
	if v := formats[i].Validate; v != nil {
		v(path, w, add)
	}
}

func (p *Poller) validate(path, name string, add adder, formats []PollerFormat) {
	if !nameRE.MatchString(name) {
		add(path, "source name %q must be 1–64 letters, digits, '.', '-' or '_'", name)
	}
	if p == nil {
		add(path, "empty poller (needs format and its settings)")
		return
	}
	if e := p.Every.D(); e != 0 && e < MinEvery {
		add(path+".every", "must be at least %s (got %s); default %s", MinEvery, e, DefaultEvery)
	}
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = f.Format
	}
	want := orList(names)
	if p.Format == "" {
		add(path+".format", "format is required (%s)", want)
		return
	}
	i := slices.IndexFunc(formats, func(f PollerFormat) bool { return f.Format == p.Format })
	if i < 0 {
		add(path+".format", "unknown format %q (want %s)", p.Format, want)
		return
	}
	if v := formats[i].Validate; v != nil {
		v(path, p, add)
	}
}

// orList is "a, b or c" ("none" for no names).
func orList(names []string) string {
	switch len(names) {
	case 0:
		return "none"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// NotFor reports each key of keys that is set (true) as not belonging to
// format, at path.KEY.
func NotFor(path, format string, keys map[string]bool, add func(field, format string, args ...any)) {
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if keys[k] {
			add(path+"."+k, "%s does not belong to format %s", k, format)
		}
	}
}

// ValidateMapping checks a generic or report field mapping (fields, kinds
// and kind below path), as a poller format reading JSON rows uses it.
func ValidateMapping(path string, f *Fields, kinds map[string]string, kind string, add func(field, format string, args ...any)) {
	validateMapping(path, f, kinds, kind, add)
}

// ValidateBambooHRFields checks BambooHR field renames at fp.
func ValidateBambooHRFields(fp string, f *Fields, add func(field, format string, args ...any)) {
	validateBambooFields(fp, f, add)
}

// CheckURL checks a URL's form (outbound.CheckURLForm); a query only where
// queryOK (a report URL carries its prompts).
func CheckURL(raw string, queryOK bool) error { return checkURL(raw, queryOK) }

// validateMapping checks a generic or report field mapping.
func validateMapping(path string, f *Fields, kinds map[string]string, kind string, add adder) {
	if f == nil {
		add(path+".fields", "fields is required: where the kind (or a fixed kind), the employee id or email and the date are")
		f = &Fields{}
	}
	fp := path + ".fields"
	if f.Status != "" {
		add(fp+".status", "status is read only by the BambooHR formats")
	}
	if f.HireDate != "" {
		add(fp+".hire_date", "hire_date is read only by the BambooHR formats")
	}
	switch {
	case kind != "" && f.Kind != "":
		add(path+".kind", "set either kind (a fixed kind) or fields.kind, not both")
	case kind != "":
		if !validKind(kind) {
			add(path+".kind", "unknown kind %q (want terminate, rescind or rehire)", kind)
		}
		if len(kinds) > 0 {
			add(path+".kinds", "kinds maps fields.kind's values: it has no use with a fixed kind")
		}
	case f.Kind == "":
		add(fp+".kind", "fields.kind is required (or a fixed kind: terminate, rescind or rehire)")
	}
	for _, k := range slices.Sorted(maps.Keys(kinds)) {
		if !validKind(kinds[k]) {
			add(path+".kinds."+k, "unknown kind %q (want terminate, rescind or rehire)", kinds[k])
		}
	}
	if f.EmployeeID == "" && f.Email == "" {
		add(fp, "fields needs employee_id or email (or both; employee_id wins)")
	}
	if f.Date == "" && kind != KindRescind && kind != KindRehire {
		add(fp+".date", "fields.date is required (the last day, YYYY-MM-DD)")
	}
	paths := f.paths()
	for _, key := range slices.Sorted(maps.Keys(paths)) {
		if v := paths[key]; v != "" && !validPath(v) {
			add(fp+"."+key, "%q is not a dotted JSON path (e.g. data.userId or employees.0.id)", v)
		}
	}
}

// validateBambooFields checks BambooHR field renames: any name may be used
// but kinds and event ids come from BambooHR itself.
func validateBambooFields(fp string, f *Fields, add adder) {
	if f == nil {
		return
	}
	if f.Kind != "" {
		add(fp+".kind", "BambooHR events have no kind field: the kind comes from status and terminationDate")
	}
	if f.EventID != "" {
		add(fp+".event_id", "BambooHR events have no event id field: it is derived from the employee and the change")
	}
	if f.Time != "" {
		add(fp+".time", "BambooHR has no termination time field: timing.revoke_at applies")
	}
}

func (f *Fields) paths() map[string]string {
	return map[string]string{"event_id": f.EventID, "kind": f.Kind, "employee_id": f.EmployeeID, "email": f.Email,
		"date": f.Date, "time": f.Time, "involuntary": f.Involuntary, "reason": f.Reason}
}

func validKind(k string) bool { return k == KindTerminate || k == KindRescind || k == KindRehire }

// validPath accepts what the front end can resolve: an exact dotted path
// of non-empty segments (hrpath.Exact).
func validPath(p string) bool {
	_, err := hrpath.Parse(p, hrpath.Exact)
	return err == nil
}

func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return http.CanonicalHeaderKey(h) != ""
}

// checkURL checks a URL's form (outbound.CheckURLForm); a query only
// where allowed (a report URL carries its prompts).
func checkURL(raw string, queryOK bool) error {
	_, err := outbound.CheckURLForm("the URL", raw, outbound.URLForm{AllowQuery: queryOK, CredentialsHint: "put credentials in their own keys"})
	return err
}

// URLs returns every URL the pollers call that is written in the
// configuration, by key below the hr block (e.g. "pollers.workday.url"),
// for the outbound URL policy. URLs whose form is wrong are left out
// (Validate reports them); the default BambooHR host is not listed.
func (c *Config) URLs() map[string]string {
	out := map[string]string{}
	if c == nil {
		return out
	}
	for name, p := range c.Pollers {
		if p == nil {
			continue
		}
		f, ok := c.PollerFormat(p.Format)
		if !ok || f.URLs == nil {
			continue
		}
		for key, u := range f.URLs(p) {
			out["pollers."+name+"."+key] = u
		}
	}
	return out
}

// EffectiveTolerance is Tolerance or its default.
func (w *Webhook) EffectiveTolerance() time.Duration {
	if t := w.Tolerance.D(); t > 0 {
		return t
	}
	return DefaultTolerance
}

// EffectiveEvery is Every or its default.
func (p *Poller) EffectiveEvery() time.Duration {
	if e := p.Every.D(); e > 0 {
		return e
	}
	return DefaultEvery
}

// EffectiveTimeout is Timeout or its default.
func (p *Poller) EffectiveTimeout() time.Duration {
	if t := p.Timeout.D(); t > 0 {
		return t
	}
	return DefaultPollTimeout
}

// EffectiveBaseURL is BaseURL, without a trailing slash, or BambooHR's.
func (p *Poller) EffectiveBaseURL() string {
	if b := strings.TrimRight(strings.TrimSpace(p.BaseURL), "/"); b != "" {
		return b
	}
	return DefaultBambooHRBaseURL
}
