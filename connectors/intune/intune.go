// Package intune is the MDM connector for Microsoft Intune through
// Microsoft Graph: it lists the departing person's managed devices and
// remotely locks, retires or wipes them (connectors.OpLockDevices,
// OpRetireDevices, OpWipeDevices), then reads back each device's action
// state (deviceActionResults). It authenticates with an OAuth 2.0
// client-credentials token from the Microsoft identity platform (client
// secret), like the graph connector, through its own small typed client
// (graph's token and REST code is unexported and bound to its Connector).
//
// Endpoints (Graph v1.0; each page names the permission it needs):
//
//	GET  /users/{upn}/managedDevices                         https://learn.microsoft.com/en-us/graph/api/intune-devices-manageddevice-list
//	POST /deviceManagement/managedDevices/{id}/remoteLock    https://learn.microsoft.com/en-us/graph/api/intune-devices-manageddevice-remotelock
//	POST /deviceManagement/managedDevices/{id}/retire        https://learn.microsoft.com/en-us/graph/api/intune-devices-manageddevice-retire
//	POST /deviceManagement/managedDevices/{id}/wipe          https://learn.microsoft.com/en-us/graph/api/intune-devices-manageddevice-wipe
//
// The actions answer 204 No Content; what happened is read back from the
// device's deviceActionResults (actionName, actionState: pending, active,
// done, failed, canceled, notSupported —
// https://learn.microsoft.com/en-us/graph/api/resources/intune-devices-deviceactionresult)
// and, for retire and wipe, its managementState (retireIssued,
// wipePending, … —
// https://learn.microsoft.com/en-us/graph/api/resources/intune-devices-managementstate).
//
// Application permissions (admin consented): DeviceManagementManagedDevices.Read.All
// to list, DeviceManagementManagedDevices.PrivilegedOperations.All for
// remoteLock, retire and wipe (the least privileged permission the three
// action pages list).
//
// # Idempotency and read-back
//
// An action already issued to a device since the case started (Params
// "since", else within reuse_window) in state pending, active or done
// counts as done and is not sent again; a failed or canceled one is sent
// again. Verify is OK when every targeted device shows the action pending,
// active or done: Intune holds a pending action until the device checks
// in, and no call of ours makes a device in a backpack check in sooner.
// Data["pending"] lists the devices that have not acknowledged yet.
package intune

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
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
const TypeName = "intune"

// Defaults.
const (
	DefaultAuthorityURL = "https://login.microsoftonline.com"
	DefaultGraphURL     = "https://graph.microsoft.com/v1.0"
	DefaultTimeout      = 30 * time.Second
)

// Config is the intune block of a connector instance.
type Config struct {
	// TenantID is the directory (tenant) ID or a verified domain (required).
	TenantID string `yaml:"tenant_id"`
	// ClientID is the app registration's application ID (required).
	ClientID string `yaml:"client_id"`
	// ClientSecret is the app's client secret ({env: …} or {file: …};
	// required).
	ClientSecret secret.Secret `yaml:"client_secret"`
	// AuthorityURL is the identity platform's base URL (default
	// https://login.microsoftonline.com).
	AuthorityURL string `yaml:"authority_url"`
	// GraphURL is Graph's base URL with its version (default
	// https://graph.microsoft.com/v1.0); the token scope is derived from
	// its scheme and host.
	GraphURL string `yaml:"graph_url"`
	// UserAttribute names the Subject attribute holding the user principal
	// name (default "upn"); the subject's email is used when it is empty.
	UserAttribute string `yaml:"user_attribute"`
	// ReuseWindow is how far back an action already issued counts as done
	// when the request carries no "since" (default 24h).
	ReuseWindow dur.Duration `yaml:"reuse_window"`
	// KeepEnrollmentData and KeepUserData are passed to wipe (default
	// false: a full factory reset).
	KeepEnrollmentData bool `yaml:"keep_enrollment_data"`
	KeepUserData       bool `yaml:"keep_user_data"`
	// Timeout bounds one HTTP request, token requests included (default 30s).
	Timeout dur.Duration `yaml:"timeout"`
}

func (c Config) authorityURL() string {
	if s := strings.TrimSpace(c.AuthorityURL); s != "" {
		return strings.TrimRight(s, "/")
	}
	return DefaultAuthorityURL
}

func (c Config) graphURL() string {
	if s := strings.TrimSpace(c.GraphURL); s != "" {
		return strings.TrimRight(s, "/")
	}
	return DefaultGraphURL
}

// Validate reports every problem with the block, joined; each message
// starts with the key it is about.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if t := strings.TrimSpace(c.TenantID); t == "" {
		add("tenant_id is required (the directory ID or a verified domain)")
	} else if strings.ContainsAny(t, "/?#@ ") {
		add("tenant_id %q is not a tenant ID or domain", t)
	}
	if strings.TrimSpace(c.ClientID) == "" {
		add("client_id is required (the app registration's application ID)")
	}
	if !c.ClientSecret.IsSet() {
		add("client_secret is required ({env: NAME} or {file: PATH})")
	}
	for key, v := range map[string]string{"authority_url": c.AuthorityURL, "graph_url": c.GraphURL} {
		if strings.TrimSpace(v) == "" {
			continue
		}
		if _, err := outbound.CheckURLForm(key, v, outbound.URLForm{HTTPSOnly: true, CredentialsHint: "put the secret in client_secret"}); err != nil {
			add("%v", err)
		}
	}
	if strings.ContainsAny(c.UserAttribute, " \t") {
		add("user_attribute %q is not an attribute name", c.UserAttribute)
	}
	if c.ReuseWindow < 0 {
		add("reuse_window must not be negative (got %s)", c.ReuseWindow)
	}
	if c.Timeout < 0 {
		add("timeout must not be negative (got %s)", c.Timeout)
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// Operations returns what an instance offers: lock, retire and wipe.
func Operations() []connectors.Operation { return slices.Clone(devices.Ops) }

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

// Connector is one configured Intune tenant. It implements
// connectors.Connector, connectors.Verifier and connectors.Closer and is
// safe for concurrent use.
type Connector struct {
	name      string
	cfg       Config
	graphBase *url.URL
	http      *http.Client
	tokens    *cctoken.Cache
	now       func() time.Time
	log       *logrus.Entry

	mu      sync.Mutex
	secrets []string
}

var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Verifier  = (*Connector)(nil)
	_ connectors.Closer    = (*Connector)(nil)
)

// New returns the connector named name. cfg must validate and its
// client_secret be resolved. Every request, token requests included, goes
// through policy's client.
func New(name string, cfg Config, policy *outbound.URLPolicy, opts ...Option) (*Connector, error) {
	if name == "" {
		name = TypeName
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("intune connector %q: %w", name, err)
	}
	if cfg.ClientSecret.Value() == "" {
		return nil, fmt.Errorf("intune connector %q: client_secret is set but not resolved (no value)", name)
	}
	gb, err := url.Parse(cfg.graphURL())
	if err != nil {
		return nil, fmt.Errorf("intune connector %q: graph_url: not a valid URL", name)
	}
	timeout := cfg.Timeout.D()
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	discard := logrus.New()
	discard.SetOutput(io.Discard)
	c := &Connector{name: name, cfg: cfg, graphBase: gb, http: policy.HTTPClient(timeout), now: time.Now, log: logrus.NewEntry(discard)}
	for _, o := range opts {
		o(c)
	}
	c.log = c.log.WithFields(logrus.Fields{"connector": name, "type": TypeName})
	c.addSecret(cfg.ClientSecret.Value())
	c.tokens = cctoken.New(clientcredentials.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret.Value(),
		TokenURL:     cfg.authorityURL() + "/" + url.PathEscape(strings.TrimSpace(cfg.TenantID)) + "/oauth2/v2.0/token",
		Scopes:       []string{gb.Scheme + "://" + gb.Host + "/.default"},
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

// action describes one device operation on Graph.
type action struct {
	path  string   // the action's path segment
	names []string // deviceActionResults actionName values that are this action
	// issuedStates are managementState values that show the action issued.
	issuedStates []string
}

var actions = map[connectors.Operation]action{
	connectors.OpLockDevices:   {path: "remoteLock", names: []string{"remoteLock"}},
	connectors.OpRetireDevices: {path: "retire", names: []string{"retire", "removeCompanyData"}, issuedStates: []string{"retirePending", "retireIssued"}},
	connectors.OpWipeDevices:   {path: "wipe", names: []string{"wipe", "factoryReset"}, issuedStates: []string{"wipePending", "wipeIssued"}},
}

// managedDevice is the part of Graph's managedDevice this connector reads.
type managedDevice struct {
	ID                  string         `json:"id"`
	DeviceName          string         `json:"deviceName"`
	SerialNumber        string         `json:"serialNumber"`
	OperatingSystem     string         `json:"operatingSystem"`
	ManagementState     string         `json:"managementState"`
	UserPrincipalName   string         `json:"userPrincipalName"`
	DeviceActionResults []actionResult `json:"deviceActionResults"`
}

type actionResult struct {
	ActionName          string    `json:"actionName"`
	ActionState         string    `json:"actionState"`
	StartDateTime       time.Time `json:"startDateTime"`
	LastUpdatedDateTime time.Time `json:"lastUpdatedDateTime"`
}

func (d managedDevice) device() devices.Device {
	return devices.Device{ID: d.ID, Name: d.DeviceName, Serial: d.SerialNumber, Kind: d.OperatingSystem}
}

// state returns the action's state on the device since since: the latest
// matching deviceActionResult's actionState, "issued" when the
// managementState shows it, or "" when it was never issued.
func (d managedDevice) state(a action, since time.Time) string {
	if slices.Contains(a.issuedStates, d.ManagementState) {
		return d.ManagementState
	}
	var latest *actionResult
	for i, r := range d.DeviceActionResults {
		if !slices.ContainsFunc(a.names, func(n string) bool { return strings.EqualFold(n, r.ActionName) }) || r.StartDateTime.Before(since) {
			continue
		}
		if latest == nil || r.StartDateTime.After(latest.StartDateTime) {
			latest = &d.DeviceActionResults[i]
		}
	}
	if latest == nil {
		return ""
	}
	return latest.ActionState
}

// holds reports whether a state means the action is issued and not failed.
func holds(state string) bool {
	switch state {
	case "pending", "active", "done", "retirePending", "retireIssued", "wipePending", "wipeIssued":
		return true
	}
	return false
}

// userID is the path segment naming the subject's user.
func (c *Connector) userID(s connectors.Subject) string {
	attr := c.cfg.UserAttribute
	if attr == "" {
		attr = "upn"
	}
	if v := strings.TrimSpace(s.Attributes[attr]); v != "" {
		return v
	}
	return strings.TrimSpace(s.Email)
}

// listDevices returns the subject's managed devices; ok is false when the
// subject has no Entra ID user (or no identifier to find one by).
func (c *Connector) listDevices(ctx context.Context, op string, s connectors.Subject) ([]managedDevice, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, connectors.Classify(c.name, op, err)
	}
	id := c.userID(s)
	if id == "" {
		return nil, false, nil
	}
	if id == "." || id == ".." || strings.ContainsAny(id, "/\\") {
		return nil, false, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("the subject's user principal name %q is not one", id))
	}
	all, err := list[managedDevice](ctx, c, op, "/users/"+url.PathEscape(id)+"/managedDevices")
	if err != nil {
		if connectors.KindOf(err) == connectors.KindNotFound {
			return nil, false, nil
		}
		return nil, false, err
	}
	for _, d := range all {
		if d.UserPrincipalName != "" && !strings.EqualFold(d.UserPrincipalName, id) && !strings.EqualFold(d.UserPrincipalName, s.Email) {
			return nil, false, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf(
				"Graph listed device %s of another user among %s's managed devices: refusing to act on the list", d.ID, id))
		}
	}
	return all, true, nil
}

// Lookup reports the subject's managed devices, one Account each: Kind
// "device", Status active while managed, deprovisioned once a retire or
// wipe is issued; Detail the name, platform, serial and management state.
func (c *Connector) Lookup(ctx context.Context, s connectors.Subject) (connectors.LookupResult, error) {
	ds, _, err := c.listDevices(ctx, "lookup", s)
	if err != nil {
		return connectors.LookupResult{}, err
	}
	var res connectors.LookupResult
	for _, d := range ds {
		st := connectors.StatusActive
		if holds(d.ManagementState) {
			st = connectors.StatusDeprovisioned
		}
		res.Accounts = append(res.Accounts, connectors.Account{ID: d.ID, Kind: "device", Status: st,
			Detail: fmt.Sprintf("%s %s serial=%s state=%s", d.DeviceName, d.OperatingSystem, d.SerialNumber, d.ManagementState)})
	}
	return res, nil
}

// Do locks, retires or wipes the subject's managed devices (all, or those
// Params "serials" lists). A device where the action is already issued is
// left alone; one device failing does not stop the others, and the result
// lists what was issued beside the error. wipe_devices under a legal hold
// is refused before any request.
func (c *Connector) Do(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	op := string(req.Operation)
	if err := ctx.Err(); err != nil {
		return connectors.Result{}, connectors.Classify(c.name, op, err)
	}
	a, ok := actions[req.Operation]
	if !ok {
		return connectors.Result{}, connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("operation %q is not supported by the intune connector (supported: %s)", req.Operation, connectors.OperationNames(Operations())))
	}
	if err := devices.CheckHold(c.name, req); err != nil {
		return connectors.Result{}, err
	}
	since, err := devices.Since(c.name, req, c.now(), c.cfg.ReuseWindow.D())
	if err != nil {
		return connectors.Result{}, err
	}
	all, found, err := c.listDevices(ctx, op, req.Subject)
	if err != nil {
		return connectors.Result{}, err
	}
	if !found || len(all) == 0 {
		return connectors.Result{Outcome: connectors.OutcomeNoneFound, Detail: "no Intune managed device for the subject"}, nil
	}
	targets, err := c.targets(req, all)
	if err != nil {
		return connectors.Result{}, err
	}
	var issued, already, failed, gone []string
	var errs []error
	var firstErr *connectors.Error
	for _, d := range targets {
		if holds(d.state(a, since)) {
			already = append(already, d.ID)
			continue
		}
		var body any
		if req.Operation == connectors.OpWipeDevices {
			body = map[string]any{"keepEnrollmentData": c.cfg.KeepEnrollmentData, "keepUserData": c.cfg.KeepUserData}
		}
		err := c.call(ctx, op, apiRequest{method: http.MethodPost, path: "/deviceManagement/managedDevices/" + url.PathEscape(d.ID) + "/" + a.path, body: body}, nil)
		if err != nil {
			if connectors.KindOf(err) == connectors.KindNotFound {
				// Deleted from Intune between the listing and the action:
				// nothing is left to act on.
				gone = append(gone, d.ID)
				continue
			}
			var ce *connectors.Error
			if errors.As(err, &ce) && firstErr == nil {
				firstErr = ce
			}
			if connectors.KindOf(err) == connectors.KindCanceled {
				return c.result(req, issued, already, failed, gone), err
			}
			failed = append(failed, d.ID)
			errs = append(errs, fmt.Errorf("device %s: %w", d.ID, err))
			continue
		}
		issued = append(issued, d.ID)
	}
	res := c.result(req, issued, already, failed, gone)
	if len(errs) > 0 {
		if firstErr == nil {
			firstErr = connectors.NewError(connectors.KindTransient, c.name, op, nil)
		}
		e := *firstErr
		e.Err = fmt.Errorf("%d of %d devices failed (the others were handled): %w", len(failed), len(targets), errors.Join(errs...))
		return res, &e
	}
	return res, nil
}

func (c *Connector) targets(req connectors.Request, all []managedDevice) ([]managedDevice, error) {
	ds := make([]devices.Device, len(all))
	for i, d := range all {
		ds[i] = d.device()
	}
	sel, err := devices.Select(c.name, req, ds)
	if err != nil {
		return nil, err
	}
	var out []managedDevice
	for _, s := range sel {
		out = append(out, all[slices.IndexFunc(all, func(d managedDevice) bool { return d.ID == s.ID })])
	}
	return out, nil
}

func (c *Connector) result(req connectors.Request, issued, already, failed, gone []string) connectors.Result {
	verb := map[connectors.Operation]string{connectors.OpLockDevices: "lock", connectors.OpRetireDevices: "retire", connectors.OpWipeDevices: "wipe"}[req.Operation]
	res := connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Data: map[string]string{
		"issued": strings.Join(issued, ","), "already_issued": strings.Join(already, ","), "failed": strings.Join(failed, ","),
		"gone": strings.Join(gone, ","),
	}}
	if len(issued) > 0 {
		res.Outcome = connectors.OutcomeDone
	}
	res.Detail = fmt.Sprintf("%s issued to %d device(s), already issued on %d", verb, len(issued), len(already))
	if len(gone) > 0 {
		res.Detail += fmt.Sprintf(", %d no longer in Intune", len(gone))
	}
	if len(failed) > 0 {
		res.Detail += fmt.Sprintf(", failed on %d", len(failed))
	}
	return res
}

// Verify reads the devices back: OK when every targeted device shows the
// action pending, active or done (or, after retire and wipe, has left
// management). Detail names each device's state; a failed, canceled or
// never-issued action is not OK.
func (c *Connector) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	op := "verify " + string(req.Operation)
	if err := ctx.Err(); err != nil {
		return connectors.Verification{}, connectors.Classify(c.name, op, err)
	}
	a, ok := actions[req.Operation]
	if !ok {
		return connectors.Verification{}, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("operation %q is not supported by the intune connector", req.Operation))
	}
	if err := devices.CheckHold(c.name, req); err != nil {
		return connectors.Verification{}, err
	}
	since, err := devices.Since(c.name, req, c.now(), c.cfg.ReuseWindow.D())
	if err != nil {
		return connectors.Verification{}, err
	}
	all, found, err := c.listDevices(ctx, op, req.Subject)
	if err != nil {
		return connectors.Verification{}, err
	}
	if !found || len(all) == 0 {
		return connectors.Verification{OK: true, Detail: "no Intune managed device for the subject"}, nil
	}
	targets, err := c.targets(req, all)
	if err != nil {
		if req.Operation != connectors.OpLockDevices && connectors.KindOf(err) == connectors.KindInvalid {
			// A retired or wiped device leaves Intune: gone is done.
			return connectors.Verification{OK: true, Detail: "targeted device no longer managed"}, nil
		}
		return connectors.Verification{}, err
	}
	okAll := true
	var parts []string
	for _, d := range targets {
		st := d.state(a, since)
		if st == "" {
			st = "not issued"
		}
		if !holds(st) {
			okAll = false
		}
		parts = append(parts, fmt.Sprintf("%s=%s", d.DeviceName, st))
	}
	return connectors.Verification{OK: okAll, Detail: a.path + ": " + strings.Join(parts, ", ")}, nil
}

// addSecret registers a value that must never appear in error text: the
// client secret and the latest tokens.
func (c *Connector) addSecret(s string) {
	if s == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.secrets = append(c.secrets, s)
	if n := len(c.secrets); n > 5 {
		c.secrets = append(c.secrets[:1], c.secrets[n-4:]...)
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
