// Package snipeit is the connector for the Snipe-IT asset tracker (its
// JSON REST API, authenticated with a personal access token sent as
// "Authorization: Bearer <token>"):
// https://snipe-it.readme.io/reference
//
// It owns finding the departing person in Snipe-IT, listing what is
// checked out to them (hardware, accessories, licenses: the AssetLister
// capability and Lookup), and recording each step of an equipment task on
// the hardware asset (connectors.OpRecordEquipmentStep): the status label
// the configuration maps the step to, a line in the asset's notes naming
// the case, and a check-in once the device is back in IT's hands. Every
// step is read back (Verify).
//
// Endpoints (API reference, https://snipe-it.readme.io/reference):
//
//	GET   /api/v1/users?employee_num=E            the person by employee number
//	GET   /api/v1/users?search=Q                  the person by email or username (exact match kept)
//	GET   /api/v1/users/{id}/assets               hardware checked out to them
//	GET   /api/v1/users/{id}/accessories          accessories checked out to them
//	GET   /api/v1/users/{id}/licenses             license seats checked out to them
//	GET   /api/v1/hardware/bytag/{asset_tag}      one asset by tag
//	POST  /api/v1/hardware/{id}/checkin           {"status_id":N,"note":"…"}
//	PATCH /api/v1/hardware/{id}                   {"status_id":N,"notes":"…"}
//
// # Errors
//
// Snipe-IT answers many failures with 200 OK and a JSON body
// {"status":"error","messages":…} ("as long as the pipe is sound, the API
// returns 200", https://snipe-it.readme.io/reference): those
// are classified here like the HTTP statuses are (a missing object is not
// found, a validation failure invalid, a permission message forbidden).
// 429 carries Retry-After (the API is throttled, 120 requests a minute by
// default: "API Throttling" in https://snipe-it.readme.io/reference). The token
// never appears in an error or a detail.
package snipeit

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
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/dur"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

// TypeName is the connector type name configuration uses.
const TypeName = "snipeit"

// DefaultTimeout bounds one HTTP request when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Ways to find the person (Config.MatchBy).
const (
	MatchEmployeeNum = "employee_num"
	MatchEmail       = "email"
	MatchUsername    = "username"
)

// Config is the snipeit block of a connector instance.
type Config struct {
	// URL is Snipe-IT's base address, e.g. https://assets.example.com
	// (the API is below /api/v1). Required; https except for loopback
	// test servers.
	URL string `yaml:"url"`
	// APIToken is a personal access token of an API user (Account >
	// Manage API Keys). Required.
	APIToken secret.Secret `yaml:"api_token"`
	// MatchBy lists how the person is looked for, in order: employee_num
	// (Subject.EmployeeID), email, username. The first way that finds
	// exactly one user wins; two users for one way is an ambiguous match
	// and nothing is changed. Default [employee_num, email].
	MatchBy []string `yaml:"match_by"`
	// StatusLabels maps equipment states (return_requested, received,
	// wiped, preserved, redeployed, disposed, lost) to the ID of the
	// Snipe-IT status label the asset gets at that step (Settings >
	// Status Labels). A state without a label leaves the status alone.
	StatusLabels map[string]int `yaml:"status_labels"`
	// Timeout bounds each HTTP request. Default 30s.
	Timeout dur.Duration `yaml:"timeout"`
}

// Validate reports every problem with the block, joined; each message
// starts with the key it is about.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if strings.TrimSpace(c.URL) == "" {
		add("url is required (e.g. https://assets.example.com)")
	} else if u, err := outbound.CheckURLForm("url", c.URL, outbound.URLForm{HTTPSOnly: true, CredentialsHint: "put the token in api_token"}); err != nil {
		add("%v", err)
	} else if p := strings.Trim(u.Path, "/"); p != "" {
		add("url: must be Snipe-IT's base address without a path (got /%s; the connector adds /api/v1)", p)
	}
	if !c.APIToken.IsSet() {
		add("api_token is required ({env: NAME} or {file: PATH})")
	}
	for i, m := range c.MatchBy {
		switch m {
		case MatchEmployeeNum, MatchEmail, MatchUsername:
		default:
			add("match_by[%d]: %q is not one of employee_num, email, username", i, m)
		}
	}
	for _, state := range slices.Sorted(mapKeys(c.StatusLabels)) {
		if !slices.Contains(connectors.EquipmentStates, state) {
			add("status_labels.%s: not an equipment state (one of %s)", state, strings.Join(connectors.EquipmentStates, ", "))
		} else if c.StatusLabels[state] <= 0 {
			add("status_labels.%s: must be a status label ID (a positive number), got %d", state, c.StatusLabels[state])
		}
	}
	if c.Timeout < 0 {
		add("timeout must not be negative (got %s)", c.Timeout)
	}
	return errors.Join(errs...)
}

func mapKeys(m map[string]int) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// BaseURL is the configured address without a trailing slash.
func (c Config) BaseURL() string { return strings.TrimRight(strings.TrimSpace(c.URL), "/") }

// Operations returns what an instance offers: record_equipment_step.
func Operations() []connectors.Operation {
	return []connectors.Operation{connectors.OpRecordEquipmentStep}
}

// Option adjusts a Connector at construction.
type Option func(*Connector)

// WithLogger sets the logger (default: discard).
func WithLogger(l *logrus.Entry) Option {
	return func(c *Connector) {
		if l != nil {
			c.log = l
		}
	}
}

// Connector is one configured Snipe-IT. It implements
// connectors.Connector, connectors.Verifier, connectors.AssetLister and
// connectors.Closer and is safe for concurrent use.
type Connector struct {
	name    string
	base    *url.URL
	token   string
	matchBy []string
	labels  map[string]int
	client  *http.Client
	log     *logrus.Entry
}

var (
	_ connectors.Connector   = (*Connector)(nil)
	_ connectors.Verifier    = (*Connector)(nil)
	_ connectors.AssetLister = (*Connector)(nil)
	_ connectors.Closer      = (*Connector)(nil)
)

// New returns the connector named name. cfg must validate and its
// api_token be resolved. Every request goes through policy's client.
func New(name string, cfg Config, policy *outbound.URLPolicy, opts ...Option) (*Connector, error) {
	if name == "" {
		name = TypeName
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("snipeit connector %q: %w", name, err)
	}
	base, err := url.Parse(cfg.BaseURL())
	if err != nil {
		return nil, fmt.Errorf("snipeit connector %q: url: not a valid URL", name)
	}
	token := cfg.APIToken.Value()
	if token == "" {
		return nil, fmt.Errorf("snipeit connector %q: api_token is set but not resolved (no value)", name)
	}
	timeout := cfg.Timeout.D()
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	matchBy := cfg.MatchBy
	if len(matchBy) == 0 {
		matchBy = []string{MatchEmployeeNum, MatchEmail}
	}
	discard := logrus.New()
	discard.SetOutput(io.Discard)
	c := &Connector{
		name: name, base: base, token: token, matchBy: matchBy, labels: cfg.StatusLabels,
		client: policy.HTTPClient(timeout), log: logrus.NewEntry(discard),
	}
	for _, o := range opts {
		o(c)
	}
	c.log = c.log.WithFields(logrus.Fields{"connector": name, "type": TypeName})
	return c, nil
}

// Name returns the instance name.
func (c *Connector) Name() string { return c.name }

// Close releases idle connections.
func (c *Connector) Close() error {
	c.client.CloseIdleConnections()
	return nil
}

// Lookup reports what is checked out to the subject, one Account per
// item: Kind hardware, accessory or license, Status active (checked out to
// them), Detail the tag, category, model and serial. A subject Snipe-IT
// does not know, or who holds nothing, is an empty result.
func (c *Connector) Lookup(ctx context.Context, s connectors.Subject) (connectors.LookupResult, error) {
	assets, err := c.list(ctx, "lookup", s)
	if err != nil {
		return connectors.LookupResult{}, err
	}
	var res connectors.LookupResult
	for _, a := range assets {
		res.Accounts = append(res.Accounts, connectors.Account{
			ID: a.Kind + ":" + a.ID, Kind: a.Kind, Status: connectors.StatusActive, Detail: describe(a),
		})
	}
	return res, nil
}

// ListAssets is the AssetLister capability: the subject's checked-out
// hardware, accessories and licenses (3 requests after finding the user).
func (c *Connector) ListAssets(ctx context.Context, s connectors.Subject) ([]connectors.Asset, error) {
	return c.list(ctx, "list_assets", s)
}

func (c *Connector) list(ctx context.Context, op string, s connectors.Subject) ([]connectors.Asset, error) {
	u, err := c.findUser(ctx, op, s)
	if err != nil || u == nil {
		return nil, err
	}
	var out []connectors.Asset
	for _, kind := range []string{"assets", "accessories", "licenses"} {
		var p page[item]
		if err := c.call(ctx, op, http.MethodGet, fmt.Sprintf("/api/v1/users/%d/%s", u.ID, kind), nil, nil, &p); err != nil {
			if connectors.KindOf(err) == connectors.KindNotFound { // deleted between the two calls
				return nil, nil
			}
			return nil, err
		}
		if p.Total > len(p.Rows) {
			return nil, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf(
				"Snipe-IT listed %d of %d %s checked out to user %d: refusing a partial list", len(p.Rows), p.Total, kind, u.ID))
		}
		for _, it := range p.Rows {
			out = append(out, it.asset(kind))
		}
	}
	return out, nil
}

func describe(a connectors.Asset) string {
	var parts []string
	for _, kv := range [][2]string{{"tag", a.Tag}, {"name", a.Name}, {"category", a.Category}, {"model", a.Model}, {"serial", a.Serial}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	return strings.Join(parts, " ")
}

// refRE is what a case reference or disposition reference may hold: it is
// written into the asset's notes and matched there again.
// It holds no Markdown emphasis or heading characters, since Snipe-IT
// renders notes as inline Markdown in its API output.
var refRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 .:/-]{0,79}$`)

// step is a validated record_equipment_step request.
type step struct {
	tag, state, caseRef, ref string
}

func (c *Connector) parseStep(op string, req connectors.Request) (step, error) {
	p := req.Params
	st := step{
		tag: strings.TrimSpace(p[connectors.ParamAssetTag]), state: strings.TrimSpace(p[connectors.ParamEquipmentState]),
		caseRef: strings.TrimSpace(p[connectors.ParamCaseRef]), ref: strings.TrimSpace(p[connectors.ParamDispositionRef]),
	}
	var errs []string
	if st.tag == "" || st.tag == "." || st.tag == ".." || strings.ContainsAny(st.tag, "/\\?#\n") {
		errs = append(errs, "params.asset_tag is required (one asset tag)")
	}
	if !slices.Contains(connectors.EquipmentStates, st.state) {
		errs = append(errs, fmt.Sprintf("params.state %q is not one of %s", st.state, strings.Join(connectors.EquipmentStates, ", ")))
	}
	if !refRE.MatchString(st.caseRef) {
		errs = append(errs, "params.case_ref is required (letters, digits, space and .:/-, at most 80)")
	}
	switch {
	case st.ref != "" && !refRE.MatchString(st.ref):
		errs = append(errs, "params.reference holds characters other than letters, digits, space and .:/-")
	case st.state == connectors.EquipmentDisposed && st.ref == "":
		errs = append(errs, "params.reference is required for disposed (the certificate-of-destruction reference)")
	}
	if len(errs) > 0 {
		return step{}, connectors.NewError(connectors.KindInvalid, c.name, op, errors.New(strings.Join(errs, "; ")+"; nothing changed"))
	}
	return st, nil
}

// shown is a state as written in the notes: "return requested" (no
// underscore, which Markdown could read as emphasis).
func shown(state string) string { return strings.ReplaceAll(state, "_", " ") }

// noteLine is the line a step writes into the asset's notes.
func (s step) noteLine() string {
	l := "Kinetic case " + s.caseRef + ": " + shown(s.state)
	if s.ref != "" {
		l += " (ref " + s.ref + ")"
	}
	return l
}

// checksIn reports whether the step checks the asset in: from received
// on, IT holds the device. A lost device stays checked out to its last
// holder (that is the record of who lost it); return_requested is still
// with the person.
func (s step) checksIn() bool {
	switch s.state {
	case connectors.EquipmentReturnRequested, connectors.EquipmentLost:
		return false
	}
	return true
}

// rank orders the states: a step is superseded when the notes already
// record a later one for the same case.
func rank(state string) int {
	switch state {
	case connectors.EquipmentReturnRequested:
		return 1
	case connectors.EquipmentReceived:
		return 2
	case connectors.EquipmentWiped, connectors.EquipmentPreserved:
		return 3
	case connectors.EquipmentRedeployed, connectors.EquipmentDisposed, connectors.EquipmentLost:
		return 4
	}
	return 0
}

// supersededBy returns a later state the notes record for the step's
// case, or "".
func (s step) supersededBy(notes string) string {
	prefix := "Kinetic case " + s.caseRef + ": "
	for _, line := range strings.Split(unescape(notes), "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), prefix)
		if !ok {
			continue
		}
		for _, state := range connectors.EquipmentStates {
			if (rest == shown(state) || strings.HasPrefix(rest, shown(state)+" ")) && rank(state) > rank(s.state) {
				return state
			}
		}
	}
	return ""
}

// hasLine reports whether notes hold line as one of their lines.
func hasLine(notes, line string) bool {
	for _, l := range strings.Split(unescape(notes), "\n") {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}

// tagRE finds HTML markup left after unescape: notes with Markdown
// formatting come back rendered (<strong>, <a href>), and writing them back
// would replace the source with the rendering.
var tagRE = regexp.MustCompile(`<[A-Za-z/!]`)

// rewritable reports whether the notes can be read back and written with a
// line appended without changing what was there.
func rewritable(notes string) bool { return !tagRE.MatchString(unescape(notes)) }

// unescape undoes the HTML escaping Snipe-IT applies to text fields in
// its API output.
func unescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&quot;", `"`, "&#039;", "'", "&lt;", "<", "&gt;", ">", "<br />", "\n", "<br>", "\n", "\r\n", "\n").Replace(s)
}

// Do performs record_equipment_step (see connectors.OpRecordEquipmentStep).
// A subject Snipe-IT does not know is OutcomeNoneFound (nothing is
// touched: the asset's history cannot be tied to them). An asset checked
// out to anyone or anything else is a KindInvalid error and nothing is
// changed. A step already recorded, or superseded by a later step of the
// same case, is OutcomeAlreadyDone.
func (c *Connector) Do(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	op := string(req.Operation)
	if err := ctx.Err(); err != nil {
		return connectors.Result{}, connectors.Classify(c.name, op, err)
	}
	if req.Operation != connectors.OpRecordEquipmentStep {
		return connectors.Result{}, connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("operation %q is not supported by the snipeit connector (supported: %s)", req.Operation, connectors.OperationNames(Operations())))
	}
	st, err := c.parseStep(op, req)
	if err != nil {
		return connectors.Result{}, err
	}
	u, a, err := c.target(ctx, op, req.Subject, st)
	if err != nil {
		return connectors.Result{}, err
	}
	if u == nil {
		return connectors.Result{Outcome: connectors.OutcomeNoneFound, Detail: "no Snipe-IT user for the subject; asset " + st.tag + " not touched"}, nil
	}
	data := map[string]string{"asset_id": fmt.Sprint(a.ID), "asset_tag": a.AssetTag, "previous_status": a.StatusLabel.Name}
	if later := st.supersededBy(a.Notes); later != "" {
		return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: a.AssetTag,
			Detail: fmt.Sprintf("asset %s: step %s superseded by the later step %s already recorded for case %s", a.AssetTag, st.state, later, st.caseRef), Data: data}, nil
	}
	label, hasLabel := c.labels[st.state]
	checkin := st.checksIn() && a.AssignedTo != nil
	setStatus := hasLabel && a.StatusLabel.ID != label
	keepNotes := !rewritable(a.Notes)
	addNote := !keepNotes && !hasLine(a.Notes, st.noteLine())
	if !checkin && !setStatus && !addNote {
		detail := fmt.Sprintf("asset %s already records %s", a.AssetTag, st.state)
		if keepNotes && !hasLine(a.Notes, st.noteLine()) {
			detail = fmt.Sprintf("asset %s: nothing to record for %s (no status label configured for it, and the notes hold formatting that is not rewritten)", a.AssetTag, st.state)
		}
		return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: a.AssetTag, Detail: detail, Data: data}, nil
	}
	var did []string
	if checkin {
		body := map[string]any{"note": st.noteLine()}
		if hasLabel {
			body["status_id"] = label
		}
		if err := c.call(ctx, op, http.MethodPost, fmt.Sprintf("/api/v1/hardware/%d/checkin", a.ID), nil, body, nil); err != nil {
			return connectors.Result{Account: a.AssetTag, Data: data}, err
		}
		did = append(did, "checked in from user "+fmt.Sprint(u.ID))
		data["checked_in_from"] = fmt.Sprint(u.ID)
		if hasLabel {
			setStatus = false
			did = append(did, fmt.Sprintf("status label %d", label))
		}
	}
	if setStatus || addNote {
		body := map[string]any{}
		if setStatus {
			body["status_id"] = label
			did = append(did, fmt.Sprintf("status label %d", label))
		}
		if addNote {
			notes := strings.TrimRight(unescape(a.Notes), "\n")
			if notes != "" {
				notes += "\n"
			}
			body["notes"] = notes + st.noteLine()
			did = append(did, "note added")
		}
		if err := c.call(ctx, op, http.MethodPatch, fmt.Sprintf("/api/v1/hardware/%d", a.ID), nil, body, nil); err != nil {
			return connectors.Result{Account: a.AssetTag, Detail: strings.Join(did, "; "), Data: data}, err
		}
	}
	if keepNotes {
		did = append(did, "notes left alone (they hold formatting Snipe-IT returns rendered; the check-in log has the note)")
	}
	return connectors.Result{Outcome: connectors.OutcomeDone, Account: a.AssetTag,
		Detail: fmt.Sprintf("asset %s %s: %s", a.AssetTag, st.state, strings.Join(did, "; ")), Data: data}, nil
}

// Verify reads the asset back: the step's note line is in its notes, its
// status label is the configured one, and it is checked in when the step
// checks in (or a later step of the case is recorded). A subject Snipe-IT
// does not know verifies OK.
func (c *Connector) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	op := "verify " + string(req.Operation)
	if err := ctx.Err(); err != nil {
		return connectors.Verification{}, connectors.Classify(c.name, op, err)
	}
	if req.Operation != connectors.OpRecordEquipmentStep {
		return connectors.Verification{}, connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("operation %q is not supported by the snipeit connector", req.Operation))
	}
	st, err := c.parseStep(op, req)
	if err != nil {
		return connectors.Verification{}, err
	}
	u, a, err := c.target(ctx, op, req.Subject, st)
	if err != nil {
		if connectors.KindOf(err) == connectors.KindInvalid && u != nil && a != nil { // assigned elsewhere
			return connectors.Verification{OK: false, Detail: err.Error()}, nil
		}
		return connectors.Verification{}, err
	}
	if u == nil {
		return connectors.Verification{OK: true, Detail: "no Snipe-IT user for the subject"}, nil
	}
	if later := st.supersededBy(a.Notes); later != "" {
		return connectors.Verification{OK: true, Detail: fmt.Sprintf("asset %s: later step %s recorded", a.AssetTag, later)}, nil
	}
	var missing []string
	if rewritable(a.Notes) && !hasLine(a.Notes, st.noteLine()) {
		missing = append(missing, "the note line is not in the notes")
	}
	if label, ok := c.labels[st.state]; ok && a.StatusLabel.ID != label {
		missing = append(missing, fmt.Sprintf("status label is %d (%s), want %d", a.StatusLabel.ID, a.StatusLabel.Name, label))
	}
	if st.checksIn() && a.AssignedTo != nil {
		missing = append(missing, "still checked out")
	}
	detail := fmt.Sprintf("asset %s status=%q checked_out=%t", a.AssetTag, a.StatusLabel.Name, a.AssignedTo != nil)
	if len(missing) > 0 {
		return connectors.Verification{OK: false, Detail: detail + ": " + strings.Join(missing, "; ")}, nil
	}
	return connectors.Verification{OK: true, Detail: detail + ", note recorded"}, nil
}

// target finds the subject's user and the asset by tag and checks that
// the asset is checked out to that user or to nobody. u is nil when the
// subject is not in Snipe-IT (a is then nil too).
func (c *Connector) target(ctx context.Context, op string, s connectors.Subject, st step) (*user, *hardware, error) {
	u, err := c.findUser(ctx, op, s)
	if err != nil || u == nil {
		return nil, nil, err
	}
	// One asset comes back as the asset itself; several with the tag (the
	// tag is not unique across companies) as a {"total","rows"} listing
	// (AssetsController::showByTag).
	var got struct {
		hardware
		Total *int       `json:"total"`
		Rows  []hardware `json:"rows"`
	}
	if err := c.call(ctx, op, http.MethodGet, "/api/v1/hardware/bytag/"+url.PathEscape(st.tag), nil, nil, &got); err != nil {
		if connectors.KindOf(err) == connectors.KindNotFound {
			return u, nil, connectors.NewError(connectors.KindNotFound, c.name, op, fmt.Errorf("asset tag %s is not in Snipe-IT; nothing changed", st.tag))
		}
		return u, nil, err
	}
	a := got.hardware
	if got.Total != nil {
		switch len(got.Rows) {
		case 0:
			return u, nil, connectors.NewError(connectors.KindNotFound, c.name, op, fmt.Errorf("asset tag %s is not in Snipe-IT; nothing changed", st.tag))
		case 1:
			a = got.Rows[0]
		default:
			return u, nil, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("asset tag %s names %d assets in Snipe-IT: ambiguous, nothing changed", st.tag, len(got.Rows)))
		}
	}
	if a.ID == 0 {
		return u, nil, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("Snipe-IT answered the asset %s without an id", st.tag))
	}
	if a.AssetTag == "" {
		a.AssetTag = st.tag
	}
	if to := a.AssignedTo; to != nil && (to.Type != "user" || to.ID != u.ID) {
		what := "another user"
		if to.Type != "" && to.Type != "user" {
			what = "a " + to.Type
		}
		return u, &a, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf(
			"asset %s is checked out to %s (id %d), not to the departing person (user %d): nothing changed", a.AssetTag, what, to.ID, u.ID))
	}
	return u, &a, nil
}

// findUser returns the subject's Snipe-IT user, or nil when there is none.
func (c *Connector) findUser(ctx context.Context, op string, s connectors.Subject) (*user, error) {
	if err := ctx.Err(); err != nil {
		return nil, connectors.Classify(c.name, op, err)
	}
	for _, m := range c.matchBy {
		var q url.Values
		var match func(user) bool
		switch m {
		case MatchEmployeeNum:
			if s.EmployeeID == "" {
				continue
			}
			q = url.Values{"employee_num": {s.EmployeeID}}
			match = func(u user) bool { return u.EmployeeNum == s.EmployeeID }
		case MatchEmail:
			if s.Email == "" {
				continue
			}
			q = url.Values{"search": {s.Email}}
			match = func(u user) bool { return strings.EqualFold(u.Email, s.Email) }
		case MatchUsername:
			if s.Username == "" {
				continue
			}
			q = url.Values{"search": {s.Username}}
			match = func(u user) bool { return strings.EqualFold(u.Username, s.Username) }
		}
		var p page[user]
		if err := c.call(ctx, op, http.MethodGet, "/api/v1/users", q, nil, &p); err != nil {
			return nil, err
		}
		var found []user
		for _, u := range p.Rows {
			if match(u) {
				found = append(found, u)
			}
		}
		switch len(found) {
		case 0:
			continue
		case 1:
			return &found[0], nil
		default:
			return nil, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf(
				"%d Snipe-IT users match the subject's %s (ids %d and %d): ambiguous, nothing changed", len(found), m, found[0].ID, found[1].ID))
		}
	}
	return nil, nil
}
