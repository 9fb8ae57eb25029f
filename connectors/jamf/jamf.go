// Package jamf is the MDM connector for Jamf Pro (the Jamf Pro API, not
// the Classic API): it finds the departing person's computers and mobile
// devices and sends them the DEVICE_LOCK or ERASE_DEVICE MDM command
// (connectors.OpLockDevices, OpWipeDevices), reading the command's status
// back. It authenticates as an API client (client credentials → bearer
// token at /api/oauth/token):
// https://developer.jamf.com/jamf-pro/docs/client-credentials
//
// Endpoints (Jamf Pro API reference, https://developer.jamf.com/jamf-pro/reference):
//
//	POST /api/oauth/token                       grant_type=client_credentials
//	GET  /api/v1/computers-inventory            ?section=…&filter=userAndLocation.email=="…"
//	GET  /api/v2/mobile-devices/detail          ?section=…&filter=emailAddress=="…"
//	GET  /api/v2/mdm/commands                   ?filter=clientManagementId=in=(…);command==DEVICE_LOCK
//	POST /api/v2/mdm/commands                   {"clientData":[{"managementId":…}],"commandData":{"commandType":"DEVICE_LOCK",…}}
//
// The Classic API's DeviceLock and EraseDevice mobile device commands were
// removed in Jamf Pro 11.20 in favour of these
// (https://developer.jamf.com/jamf-pro/changelog/1120-classic-api-removals).
// Command shapes follow the Jamf Pro API schema (commandType DEVICE_LOCK
// with pin/message/phoneNumber, ERASE_DEVICE with pin) and its command
// states PENDING, ACKNOWLEDGED, NOT_NOW, ERROR.
//
// retire_devices is not offered: Jamf Pro has no "remove company data"
// command equivalent to Intune's retire.
//
// # Idempotency and read-back
//
// A command of the same type already sent to a device since the case
// started (Params "since", else within reuse_window) and PENDING,
// ACKNOWLEDGED or NOT_NOW counts as done and is not sent again; one in
// ERROR is sent again. Verify is OK when every targeted device has such a
// command: Jamf queues it until the device checks in.
//
// Every device Jamf returns is checked against the person (its email or
// username must equal the one filtered on): a filter Jamf ignored would
// otherwise return the whole fleet, and nothing is sent then.
package jamf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/internal/cctoken"
	"github.com/kineticsec/kinetic/connectors/internal/devices"
	"github.com/kineticsec/kinetic/internal/dur"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

// TypeName is the connector type name configuration uses.
const TypeName = "jamf"

// DefaultTimeout bounds one HTTP request when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Ways to find the person's devices (Config.MatchBy).
const (
	MatchEmail    = "email"
	MatchUsername = "username"
)

// Config is the jamf block of a connector instance.
type Config struct {
	// URL is the Jamf Pro server, e.g. https://example.jamfcloud.com
	// (no path). Required; https except for loopback test servers.
	URL string `yaml:"url"`
	// ClientID and ClientSecret are an API client's credentials (Settings
	// > System > API roles and clients). Required.
	ClientID     string        `yaml:"client_id"`
	ClientSecret secret.Secret `yaml:"client_secret"`
	// MatchBy is the inventory field the person's devices are found by:
	// email (Subject.Email against User and Location's email, the
	// default) or username (Subject.Username).
	MatchBy string `yaml:"match_by"`
	// LockPIN is the 6-digit PIN a locked or erased Mac asks for before it
	// can be used again ({env: …} or {file: …}). macOS requires one for
	// DEVICE_LOCK; without it Macs are not locked (an error names them)
	// while mobile devices still are. IT unlocks returned Macs with it.
	LockPIN secret.Secret `yaml:"lock_pin"`
	// LockMessage and LockPhone are shown on a locked mobile device.
	LockMessage string `yaml:"lock_message"`
	LockPhone   string `yaml:"lock_phone"`
	// Computers and MobileDevices select which inventories are searched
	// (default both).
	Computers     *bool `yaml:"computers"`
	MobileDevices *bool `yaml:"mobile_devices"`
	// ReuseWindow is how far back a command already sent counts as done
	// when the request carries no "since" (default 24h).
	ReuseWindow dur.Duration `yaml:"reuse_window"`
	// Timeout bounds each HTTP request (default 30s).
	Timeout dur.Duration `yaml:"timeout"`
}

func (c Config) computers() bool     { return c.Computers == nil || *c.Computers }
func (c Config) mobileDevices() bool { return c.MobileDevices == nil || *c.MobileDevices }

// BaseURL is the server address without a trailing slash.
func (c Config) BaseURL() string { return strings.TrimRight(strings.TrimSpace(c.URL), "/") }

// Validate reports every problem with the block, joined; each message
// starts with the key it is about.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if strings.TrimSpace(c.URL) == "" {
		add("url is required (e.g. https://example.jamfcloud.com)")
	} else if u, err := outbound.CheckURLForm("url", c.URL, outbound.URLForm{HTTPSOnly: true, CredentialsHint: "put the credentials in client_id and client_secret"}); err != nil {
		add("%v", err)
	} else if strings.Trim(u.Path, "/") != "" {
		add("url: must be the Jamf Pro server address without a path (the connector adds /api)")
	}
	if strings.TrimSpace(c.ClientID) == "" {
		add("client_id is required (the API client's ID)")
	}
	if !c.ClientSecret.IsSet() {
		add("client_secret is required ({env: NAME} or {file: PATH})")
	}
	switch c.MatchBy {
	case "", MatchEmail, MatchUsername:
	default:
		add("match_by: %q is not one of email, username", c.MatchBy)
	}
	if !c.computers() && !c.mobileDevices() {
		add("computers and mobile_devices are both false: the connector would find no device")
	}
	if len(c.LockMessage) > 200 || len(c.LockPhone) > 40 {
		add("lock_message is at most 200 and lock_phone at most 40 characters")
	}
	if c.ReuseWindow < 0 {
		add("reuse_window must not be negative (got %s)", c.ReuseWindow)
	}
	if c.Timeout < 0 {
		add("timeout must not be negative (got %s)", c.Timeout)
	}
	return errors.Join(errs...)
}

// Operations returns what an instance offers: lock and wipe.
func Operations() []connectors.Operation {
	return []connectors.Operation{connectors.OpLockDevices, connectors.OpWipeDevices}
}

// Option adjusts a Connector at construction.
type Option func(*Connector)

// WithClock sets the clock for token expiry and the reuse window.
func WithClock(now func() time.Time) Option {
	return func(c *Connector) {
		if now != nil {
			c.now = now
		}
	}
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *logrus.Entry) Option {
	return func(c *Connector) {
		if l != nil {
			c.log = l
		}
	}
}

// Connector is one configured Jamf Pro server. It implements
// connectors.Connector, connectors.Verifier and connectors.Closer and is
// safe for concurrent use.
type Connector struct {
	name   string
	cfg    Config
	base   *url.URL
	pin    string
	http   *http.Client
	tokens *cctoken.Cache
	now    func() time.Time
	log    *logrus.Entry

	mu      sync.Mutex
	secrets []string
}

var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Verifier  = (*Connector)(nil)
	_ connectors.Closer    = (*Connector)(nil)
)

var pinRE = regexp.MustCompile(`^[0-9]{6}$`)

// New returns the connector named name. cfg must validate and its secrets
// be resolved; lock_pin, when set, must be six digits.
func New(name string, cfg Config, policy *outbound.URLPolicy, opts ...Option) (*Connector, error) {
	if name == "" {
		name = TypeName
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("jamf connector %q: %w", name, err)
	}
	if cfg.ClientSecret.Value() == "" {
		return nil, fmt.Errorf("jamf connector %q: client_secret is set but not resolved (no value)", name)
	}
	pin := cfg.LockPIN.Value()
	if cfg.LockPIN.IsSet() && !pinRE.MatchString(pin) {
		return nil, fmt.Errorf("jamf connector %q: lock_pin must be exactly six digits", name)
	}
	base, err := url.Parse(cfg.BaseURL())
	if err != nil {
		return nil, fmt.Errorf("jamf connector %q: url: not a valid URL", name)
	}
	timeout := cfg.Timeout.D()
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	discard := logrus.New()
	discard.SetOutput(io.Discard)
	c := &Connector{name: name, cfg: cfg, base: base, pin: pin, http: policy.HTTPClient(timeout), now: time.Now, log: logrus.NewEntry(discard)}
	for _, o := range opts {
		o(c)
	}
	c.log = c.log.WithFields(logrus.Fields{"connector": name, "type": TypeName})
	c.addSecret(cfg.ClientSecret.Value())
	c.addSecret(pin)
	c.tokens = cctoken.New(clientcredentials.Config{
		ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret.Value(), TokenURL: c.base.String() + "/api/oauth/token",
	}, c.http, func() time.Time { return c.now() })
	c.tokens.OnToken = c.addSecret
	return c, nil
}

// Name returns the instance name.
func (c *Connector) Name() string { return c.name }

// Close releases idle connections.
func (c *Connector) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// device is one computer or mobile device with its MDM management ID.
type device struct {
	devices.Device
	managementID string
	mobile       bool
}

// commandType is the MDM command of an operation.
func commandType(op connectors.Operation) string {
	if op == connectors.OpWipeDevices {
		return "ERASE_DEVICE"
	}
	return "DEVICE_LOCK"
}

// holds reports whether a command state means it is queued or done.
func holds(state string) bool {
	switch state {
	case "PENDING", "ACKNOWLEDGED", "NOT_NOW":
		return true
	}
	return false
}

// match returns the value the devices are filtered on, or "" when the
// subject has none. A value holding a quote, backslash or "*" (a wildcard
// in RSQL values) cannot be put in a filter safely and is refused. The
// filter syntax: https://developer.jamf.com/jamf-pro/docs/filtering-with-rsql
func (c *Connector) match(op string, s connectors.Subject) (string, error) {
	v := strings.TrimSpace(s.Email)
	if c.cfg.MatchBy == MatchUsername {
		v = strings.TrimSpace(s.Username)
	}
	if strings.ContainsAny(v, "\"\\*") {
		return "", connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("the subject's %s holds a quote, backslash or wildcard; refusing to build a Jamf filter from it", c.field()))
	}
	return v, nil
}

func (c *Connector) field() string {
	if c.cfg.MatchBy == MatchUsername {
		return MatchUsername
	}
	return MatchEmail
}

// findDevices returns the subject's computers and mobile devices.
func (c *Connector) findDevices(ctx context.Context, op string, s connectors.Subject) ([]device, error) {
	if err := ctx.Err(); err != nil {
		return nil, connectors.Classify(c.name, op, err)
	}
	v, err := c.match(op, s)
	if err != nil || v == "" {
		return nil, err
	}
	same := func(got string) bool { return strings.EqualFold(strings.TrimSpace(got), v) }
	var out []device
	if c.cfg.computers() {
		field := "userAndLocation.email"
		if c.field() == MatchUsername {
			field = "userAndLocation.username"
		}
		rows, err := pages[computer](ctx, c, op, "/api/v1/computers-inventory", url.Values{
			"section": {"GENERAL", "HARDWARE", "USER_AND_LOCATION"}, "filter": {field + `=="` + v + `"`}})
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			got := r.UserAndLocation.Email
			if c.field() == MatchUsername {
				got = r.UserAndLocation.Username
			}
			if !same(got) {
				return nil, c.foreign(op, "computer", r.ID)
			}
			out = append(out, device{Device: devices.Device{ID: "computer:" + r.ID, Name: r.General.Name, Serial: r.Hardware.SerialNumber, Kind: "computer"}, managementID: r.General.ManagementID})
		}
	}
	if c.cfg.mobileDevices() {
		field := "emailAddress"
		if c.field() == MatchUsername {
			field = "username"
		}
		rows, err := pages[mobileDevice](ctx, c, op, "/api/v2/mobile-devices/detail", url.Values{
			"section": {"GENERAL", "HARDWARE", "USER_AND_LOCATION"}, "filter": {field + `=="` + v + `"`}})
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			got := r.UserAndLocation.EmailAddress
			if c.field() == MatchUsername {
				got = r.UserAndLocation.Username
			}
			if !same(got) {
				return nil, c.foreign(op, "mobile device", r.MobileDeviceID)
			}
			out = append(out, device{Device: devices.Device{ID: "mobile:" + r.MobileDeviceID, Name: r.General.DisplayName, Serial: r.Hardware.SerialNumber, Kind: "mobile"}, managementID: r.General.ManagementID, mobile: true})
		}
	}
	return out, nil
}

func (c *Connector) foreign(op, kind, id string) error {
	return connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf(
		"Jamf returned %s %s, which belongs to another %s: the filter was not applied; refusing to act on the list", kind, id, c.field()))
}

// Lookup reports the subject's computers and mobile devices, one Account
// each (Kind "device", Status active, Detail name, kind and serial).
func (c *Connector) Lookup(ctx context.Context, s connectors.Subject) (connectors.LookupResult, error) {
	ds, err := c.findDevices(ctx, "lookup", s)
	if err != nil {
		return connectors.LookupResult{}, err
	}
	var res connectors.LookupResult
	for _, d := range ds {
		res.Accounts = append(res.Accounts, connectors.Account{ID: d.ID, Kind: "device", Status: connectors.StatusActive,
			Detail: fmt.Sprintf("%s %s serial=%s", d.Name, d.Kind, d.Serial)})
	}
	return res, nil
}

// state returns each targeted device's latest command of the type sent
// since since, by management ID.
func (c *Connector) states(ctx context.Context, op string, targets []device, cmd string, since time.Time) (map[string]string, error) {
	var ids []string
	for _, d := range targets {
		if d.managementID != "" {
			ids = append(ids, d.managementID)
		}
	}
	out := map[string]string{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := pages[commandStatus](ctx, c, op, "/api/v2/mdm/commands", url.Values{
		"filter": {"clientManagementId=in=(" + strings.Join(ids, ",") + ");command==" + cmd}})
	if err != nil {
		return nil, err
	}
	latest := map[string]time.Time{}
	for _, r := range rows {
		if r.CommandType != cmd || r.DateSent.Before(since) || !slices.Contains(ids, r.Client.ManagementID) {
			continue
		}
		if t, ok := latest[r.Client.ManagementID]; !ok || r.DateSent.After(t) {
			latest[r.Client.ManagementID] = r.DateSent
			out[r.Client.ManagementID] = r.CommandState
		}
	}
	return out, nil
}

func (c *Connector) targets(req connectors.Request, all []device) ([]device, error) {
	ds := make([]devices.Device, len(all))
	for i, d := range all {
		ds[i] = d.Device
	}
	sel, err := devices.Select(c.name, req, ds)
	if err != nil {
		return nil, err
	}
	var out []device
	for _, s := range sel {
		out = append(out, all[slices.IndexFunc(all, func(d device) bool { return d.ID == s.ID })])
	}
	return out, nil
}

// Do sends DEVICE_LOCK or ERASE_DEVICE to the subject's devices (all, or
// those Params "serials" lists), one request per kind of device. Devices
// where the command is already queued or done are left alone; a Mac
// without a lock_pin, or a device without a management ID, is reported
// failed while the others still get the command. wipe_devices under a
// legal hold is refused before any request.
func (c *Connector) Do(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	op := string(req.Operation)
	if err := ctx.Err(); err != nil {
		return connectors.Result{}, connectors.Classify(c.name, op, err)
	}
	if !slices.Contains(Operations(), req.Operation) {
		return connectors.Result{}, connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("operation %q is not supported by the jamf connector (supported: %s)", req.Operation, connectors.OperationNames(Operations())))
	}
	if err := devices.CheckHold(c.name, req); err != nil {
		return connectors.Result{}, err
	}
	since, err := devices.Since(c.name, req, c.now(), c.cfg.ReuseWindow.D())
	if err != nil {
		return connectors.Result{}, err
	}
	all, err := c.findDevices(ctx, op, req.Subject)
	if err != nil {
		return connectors.Result{}, err
	}
	if len(all) == 0 {
		return connectors.Result{Outcome: connectors.OutcomeNoneFound, Detail: "no Jamf Pro computer or mobile device for the subject"}, nil
	}
	targets, err := c.targets(req, all)
	if err != nil {
		return connectors.Result{}, err
	}
	cmd := commandType(req.Operation)
	states, err := c.states(ctx, op, targets, cmd, since)
	if err != nil {
		return connectors.Result{}, err
	}
	var already, failed, issued []string
	var problems []string
	var firstErr *connectors.Error
	groups := map[bool][]device{} // mobile → devices to send to
	for _, d := range targets {
		switch {
		case holds(states[d.managementID]):
			already = append(already, d.ID)
		case d.managementID == "":
			failed = append(failed, d.ID)
			problems = append(problems, d.ID+": no MDM management ID (not enrolled)")
		case !d.mobile && c.pin == "":
			failed = append(failed, d.ID)
			problems = append(problems, d.ID+": a Mac needs lock_pin for "+cmd)
		default:
			groups[d.mobile] = append(groups[d.mobile], d)
		}
	}
	for _, mobile := range []bool{false, true} {
		ds := groups[mobile]
		if len(ds) == 0 {
			continue
		}
		body := c.commandBody(cmd, mobile, ds)
		if err := c.call(ctx, op, http.MethodPost, "/api/v2/mdm/commands", nil, body, nil); err != nil {
			if connectors.KindOf(err) == connectors.KindCanceled {
				return c.result(req, issued, already, failed), err
			}
			var ce *connectors.Error
			if errors.As(err, &ce) && firstErr == nil {
				firstErr = ce
			}
			for _, d := range ds {
				failed = append(failed, d.ID)
			}
			problems = append(problems, err.Error())
			continue
		}
		for _, d := range ds {
			issued = append(issued, d.ID)
		}
	}
	res := c.result(req, issued, already, failed)
	if len(problems) > 0 {
		e := connectors.NewError(connectors.KindInvalid, c.name, op, nil)
		if firstErr != nil {
			e = firstErr
		}
		e.Err = fmt.Errorf("%d of %d devices failed (the others were handled): %s", len(failed), len(targets), strings.Join(problems, "; "))
		return res, e
	}
	return res, nil
}

func (c *Connector) commandBody(cmd string, mobile bool, ds []device) map[string]any {
	var clients []map[string]string
	for _, d := range ds {
		clients = append(clients, map[string]string{"managementId": d.managementID})
	}
	data := map[string]any{"commandType": cmd}
	switch {
	case !mobile:
		data["pin"] = c.pin
	case cmd == "DEVICE_LOCK":
		if c.cfg.LockMessage != "" {
			data["message"] = c.cfg.LockMessage
		}
		if c.cfg.LockPhone != "" {
			data["phoneNumber"] = c.cfg.LockPhone
		}
	}
	return map[string]any{"clientData": clients, "commandData": data}
}

func (c *Connector) result(req connectors.Request, issued, already, failed []string) connectors.Result {
	res := connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Data: map[string]string{
		"issued": strings.Join(issued, ","), "already_issued": strings.Join(already, ","), "failed": strings.Join(failed, ","),
	}}
	if len(issued) > 0 {
		res.Outcome = connectors.OutcomeDone
	}
	res.Detail = fmt.Sprintf("%s sent to %d device(s), already queued or done on %d", commandType(req.Operation), len(issued), len(already))
	if len(failed) > 0 {
		res.Detail += fmt.Sprintf(", failed on %d", len(failed))
	}
	return res
}

// Verify reads the commands back: OK when every targeted device has the
// command PENDING, ACKNOWLEDGED or NOT_NOW since the case started. Detail
// names each device's state; ERROR or no command is not OK.
func (c *Connector) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	op := "verify " + string(req.Operation)
	if err := ctx.Err(); err != nil {
		return connectors.Verification{}, connectors.Classify(c.name, op, err)
	}
	if !slices.Contains(Operations(), req.Operation) {
		return connectors.Verification{}, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("operation %q is not supported by the jamf connector", req.Operation))
	}
	if err := devices.CheckHold(c.name, req); err != nil {
		return connectors.Verification{}, err
	}
	since, err := devices.Since(c.name, req, c.now(), c.cfg.ReuseWindow.D())
	if err != nil {
		return connectors.Verification{}, err
	}
	all, err := c.findDevices(ctx, op, req.Subject)
	if err != nil {
		return connectors.Verification{}, err
	}
	if len(all) == 0 {
		return connectors.Verification{OK: true, Detail: "no Jamf Pro device for the subject"}, nil
	}
	targets, err := c.targets(req, all)
	if err != nil {
		return connectors.Verification{}, err
	}
	cmd := commandType(req.Operation)
	states, err := c.states(ctx, op, targets, cmd, since)
	if err != nil {
		return connectors.Verification{}, err
	}
	ok := true
	var parts []string
	for _, d := range targets {
		st := states[d.managementID]
		if st == "" {
			st = "not sent"
		}
		if !holds(st) {
			ok = false
		}
		parts = append(parts, d.Name+"="+st)
	}
	return connectors.Verification{OK: ok, Detail: cmd + ": " + strings.Join(parts, ", ")}, nil
}

func (c *Connector) addSecret(s string) {
	if s == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.secrets = append(c.secrets, s)
	if n := len(c.secrets); n > 6 {
		c.secrets = append(c.secrets[:2], c.secrets[n-4:]...)
	}
}

func (c *Connector) redact(s string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, sec := range c.secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, secret.Redacted)
		}
	}
	return s
}
