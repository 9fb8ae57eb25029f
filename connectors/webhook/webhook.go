// Package webhook is the generic HTTP connector: "HTTP templates for
// appliances". It drives systems that have a small REST API and no
// dedicated connector — badge controllers, asset trackers, payroll notice
// endpoints, a homegrown app — from configuration alone: one request
// template that finds the subject's account (the lookup) and one per
// operation.
//
//	connectors:
//	  badges:
//	    type: webhook
//	    webhook:
//	      base_url: https://badges.corp.example/api/v2
//	      auth:                                   # exactly one form, or omit auth
//	        bearer: {env: BADGE_TOKEN}
//	        # basic: {username: svc-kinetic, password: {env: BADGE_PASSWORD}}
//	        # header: {name: X-Api-Key, value: {file: /run/secrets/badge}}
//	      headers: {Accept: application/json}     # extra, non-secret headers
//	      lookup:
//	        method: GET                           # default GET
//	        path: "/people?email={{.Email}}"
//	        missing_status: [404]                 # default [404]: "none found"
//	        id_field: id                          # dotted path, e.g. data.0.id
//	        status_field: state
//	        active_values: [active, enabled]      # default [active]
//	        kind: badge                           # default user
//	      operations:
//	        deactivate_badge:                     # a connectors.Operation name
//	          method: POST                        # default POST
//	          path: "/badges/{{.Account}}/deactivate"
//	          body: '{"reason": {{json .Params.reason}}, "request": {{json .IdempotencyKey}}}'
//	          already_status: [409]               # statuses meaning "already done"
//	          verify_status: [disabled, inactive] # default: anything not active
//
// # Templates
//
// Paths and bodies are Go text/template templates over the subject and the
// request: .Email .EmployeeID .Username .DisplayName .Attributes (map, e.g.
// .Attributes.badge_id) .Account (the target account id: the request's,
// else the one the lookup found; empty in the lookup itself) .Params (the
// action's parameters from policy) and .IdempotencyKey.
//
// In a path every value is percent-escaped for you (an email
// "dana+ops@x.com" becomes dana%2Bops%40x.com), so values can neither add
// path segments nor query parameters; do not escape them again.
//
// In a body every printed value must go through the json function, which
// writes it as a JSON literal with quotes and escapes: {{json .DisplayName}}.
// A body action that prints a value without json is a configuration error,
// and a body that is not valid JSON once rendered is a permanent
// (KindInvalid) error. A body is sent with Content-Type: application/json
// unless headers set another.
//
// .Params.reason is required: a missing parameter is a KindInvalid error at
// run time. Write {{index .Params "reason"}} for an optional one (empty when
// missing).
//
// A value a path (or the lookup's body) prints unconditionally must not be
// empty: a lookup of "/people?email=" for a subject without an email could
// list everyone and pick somebody else's account, so such a request is not
// sent and the call fails with KindInvalid. Wrap a value that may be empty
// in {{with}} (or use index), e.g.
// "/people?{{with .Email}}email={{.}}{{else}}id={{.EmployeeID}}{{end}}". Templates are parsed, and rendered once with sample values, when
// the configuration is validated and in New, so a typo is a configuration
// error naming its key.
//
// # Semantics
//
// Lookup sends the lookup request. A status in missing_status is "none
// found". A 2xx answer is read as JSON: the account id at id_field and its
// status at status_field. A path that runs into an empty list or null (a
// search with no hits) is "none found"; a key missing from an object is a
// KindInvalid error, never "none found", so a misspelt id_field cannot
// silently report that nobody holds an account. Without id_field the
// subject's email is the account id. The account is active when its status
// is one of active_values, and disabled otherwise; without status_field an
// account that exists counts as active.
//
// Do resolves the target account (the request's, else by lookup: none found
// is OutcomeNoneFound with no further call; an account already in a
// verify_status state — or not active, without verify_status — is
// OutcomeAlreadyDone with no further call), then sends the operation's
// request with an Idempotency-Key header carrying the request's key. A 2xx
// answer is OutcomeDone, a status in already_status OutcomeAlreadyDone, and
// anything else an error classified by connectors.ClassifyHTTP (429 with
// Retry-After is rate limited, 5xx transient, 401 auth, 403 forbidden, …).
// When the request names the account no lookup is made first, so the
// system's own answer (already_status) is what tells "already done".
//
// Verify looks the account up again: it verifies when the account is gone or
// its status is one of verify_status (or, without verify_status, is not
// active).
//
// # Safety
//
// Requests go through the outbound URL policy's HTTP client, which checks
// every address it connects to; redirects to another host (or scheme) are
// not followed. Answers are read up to 1 MiB. Errors name the method, the
// path (never the query) and the status, with a short snippet of the
// system's answer from which anything resembling a configured secret (the
// token, the password, the basic credentials in base64, and fragments of
// them) has been removed. Timeouts come from the context.
package webhook

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"unicode"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/text"
)

// maxBody is how much of an answer is read.
const maxBody = 1 << 20

// snippetLen bounds the part of an error answer quoted in errors.
const snippetLen = 300

// plan is a compiled Config.
type plan struct {
	base   *url.URL // trailing slashes trimmed
	lookup *lookupPlan
	ops    map[connectors.Operation]*opPlan
}

type lookupPlan struct {
	method      string
	path, body  *template.Template
	required    [][]string // fields path and body print unconditionally
	missing     []int
	idField     []string
	statusField []string
	active      []string // lower-cased
	kind        string
}

type opPlan struct {
	method     string
	path, body *template.Template
	required   [][]string // fields path prints unconditionally
	already    []int
	verify     []string // lower-cased
}

// Option adjusts a Connector at construction.
type Option func(*Connector)

// WithUserAgent sets the User-Agent header (default "kinetic-webhook");
// headers in the configuration take precedence.
func WithUserAgent(ua string) Option {
	return func(c *Connector) {
		if ua != "" {
			c.userAgent = ua
		}
	}
}

// Connector is one configured webhook instance. It implements
// connectors.Connector, connectors.Verifier and connectors.Closer and is safe
// for concurrent use.
type Connector struct {
	name      string
	plan      *plan
	client    *http.Client
	headers   http.Header
	auth      func(http.Header)
	redact    *redactor
	userAgent string
	ops       []connectors.Operation
}

// Compile-time checks of the contracts.
var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Verifier  = (*Connector)(nil)
	_ connectors.Closer    = (*Connector)(nil)
)

// New returns the webhook instance name ("webhook" when empty). cfg must
// validate and its secrets must be resolved. Every request goes through
// policy's HTTP client, so each connection is checked against the outbound
// URL policy; a nil policy refuses every internal address.
func New(name string, cfg Config, policy *outbound.URLPolicy, opts ...Option) (*Connector, error) {
	if name == "" {
		name = TypeName
	}
	p, err := cfg.compile()
	if err != nil {
		return nil, fmt.Errorf("webhook connector %q: %w", name, err)
	}
	c := &Connector{
		name:      name,
		plan:      p,
		headers:   http.Header{},
		userAgent: "kinetic-webhook",
		ops:       cfg.OperationList(),
	}
	for k, v := range cfg.Headers {
		c.headers.Set(k, v)
	}
	var secrets []string
	if a := cfg.Auth; a != nil {
		switch {
		case a.Bearer != nil:
			tok := a.Bearer.Value()
			if tok == "" {
				return nil, fmt.Errorf("webhook connector %q: auth.bearer: the secret is not resolved", name)
			}
			secrets = append(secrets, tok)
			c.auth = func(h http.Header) { h.Set("Authorization", "Bearer "+tok) }
		case a.Basic != nil:
			user, pw := a.Basic.Username, a.Basic.Password.Value()
			if pw == "" {
				return nil, fmt.Errorf("webhook connector %q: auth.basic.password: the secret is not resolved", name)
			}
			creds := base64.StdEncoding.EncodeToString([]byte(user + ":" + pw))
			secrets = append(secrets, pw, creds)
			c.auth = func(h http.Header) { h.Set("Authorization", "Basic "+creds) }
		case a.Header != nil:
			hn, v := a.Header.Name, a.Header.Value.Value()
			if v == "" {
				return nil, fmt.Errorf("webhook connector %q: auth.header.value: the secret is not resolved", name)
			}
			secrets = append(secrets, v)
			c.auth = func(h http.Header) { h.Set(hn, v) }
		}
	}
	c.redact = newRedactor(secrets)
	for _, o := range opts {
		o(c)
	}
	c.client = policy.HTTPClient(0)
	policyCheck := c.client.CheckRedirect
	c.client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		first := via[0].URL
		if req.URL.Scheme != first.Scheme || !strings.EqualFold(req.URL.Host, first.Host) {
			return http.ErrUseLastResponse
		}
		return policyCheck(req, via)
	}
	return c, nil
}

// Name returns the instance name.
func (c *Connector) Name() string { return c.name }

// Operations returns the configured operations, sorted.
func (c *Connector) Operations() []connectors.Operation { return slices.Clone(c.ops) }

// Type describes the instance's connector type, for the registry.
func (c *Connector) Type() connectors.Type {
	return connectors.Type{Name: TypeName, Operations: c.Operations()}
}

// Close releases idle connections.
func (c *Connector) Close() error {
	c.client.CloseIdleConnections()
	return nil
}

// found is the account a lookup found.
type found struct {
	id        string
	status    string // as the system wrote it
	hasStatus bool
	active    bool
}

func (f *found) account(kind string) connectors.Account {
	a := connectors.Account{ID: f.id, Kind: kind, Status: connectors.StatusDisabled}
	if f.active {
		a.Status = connectors.StatusActive
	}
	if f.hasStatus {
		a.Detail = "status=" + text.ClipRunes(f.status, 64)
	}
	return a
}

func (f *found) describe() string {
	if !f.hasStatus {
		return fmt.Sprintf("account %s exists", text.ClipRunes(f.id, 64))
	}
	return fmt.Sprintf("account %s status=%s", text.ClipRunes(f.id, 64), text.ClipRunes(f.status, 64))
}

// Lookup reports the subject's account; none found is an empty result and a
// nil error.
func (c *Connector) Lookup(ctx context.Context, s connectors.Subject) (connectors.LookupResult, error) {
	const op = "lookup"
	if err := ctx.Err(); err != nil {
		return connectors.LookupResult{}, connectors.Classify(c.name, op, err)
	}
	f, err := c.find(ctx, op, "", s)
	if err != nil || f == nil {
		return connectors.LookupResult{}, err
	}
	a := f.account(c.plan.lookup.kind)
	a.Detail = c.redact.apply(a.Detail)
	return connectors.LookupResult{Accounts: []connectors.Account{a}}, nil
}

// Do performs one configured operation (see the package documentation).
func (c *Connector) Do(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	res, err := c.do(ctx, req)
	if err == nil && req.Operation == connectors.OpNotify && (res.Outcome == connectors.OutcomeDone || res.Outcome == connectors.OutcomeAlreadyDone) {
		noticeData(&res, req)
	}
	return res, err
}

// noticeData reports a delivered notify for each team its params name
// (params.teams, comma separated): Data channel "webhook" and
// message_id.TEAM (the request's idempotency key, which the receiving
// system got as its request id), from which the engine records one
// store.Notice per team. Such a notice has no recipients, so no link
// acknowledges it: the receiving system (or a member of the team's
// approver group) calls back POST /api/v1/notices/{id}/ack, and until then
// the case does not close. Without params.teams nothing is recorded (a
// fire-and-forget notification, as before).
func noticeData(res *connectors.Result, req connectors.Request) {
	var teams []string
	for _, t := range strings.Split(req.Params["teams"], ",") {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(teams, t) {
			teams = append(teams, t)
		}
	}
	if len(teams) == 0 {
		return
	}
	if res.Data == nil {
		res.Data = map[string]string{}
	}
	res.Data["channel"] = "webhook"
	for _, t := range teams {
		res.Data["message_id."+t] = req.IdempotencyKey
	}
}

func (c *Connector) do(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	op := string(req.Operation)
	if err := ctx.Err(); err != nil {
		return connectors.Result{}, connectors.Classify(c.name, op, err)
	}
	p, err := c.opPlan(req.Operation)
	if err != nil {
		return connectors.Result{}, err
	}
	account := req.Account
	var prev *found
	if account == "" {
		f, err := c.find(ctx, op, "lookup: ", req.Subject)
		if err != nil {
			return connectors.Result{}, err
		}
		if f == nil {
			return connectors.Result{Outcome: connectors.OutcomeNoneFound, Detail: "no account found by lookup"}, nil
		}
		if ok, _ := p.satisfied(f); ok {
			return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: f.id, Detail: c.redact.apply("already done: " + f.describe())}, nil
		}
		account, prev = f.id, f
	}

	d := newData(req.Subject, account, req.Params, req.IdempotencyKey)
	u, body, err := c.build(op, p.method, p.path, p.body, p.required, d)
	if err != nil {
		return connectors.Result{}, err
	}
	resp, respBody, err := c.send(ctx, op, "", p.method, u, body, req.IdempotencyKey)
	if err != nil {
		return connectors.Result{}, err
	}
	where := p.method + " " + u.EscapedPath()
	res := connectors.Result{Account: account, Data: map[string]string{"http_status": strconv.Itoa(resp.StatusCode)}}
	if prev != nil && prev.hasStatus {
		res.Data["previous_status"] = c.redact.apply(text.ClipRunes(prev.status, 64))
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		res.Outcome = connectors.OutcomeDone
		res.Detail = fmt.Sprintf("%s: %s", where, statusText(resp.StatusCode))
		if req.IdempotencyKey != "" {
			res.Data["idempotency_key"] = req.IdempotencyKey
		}
		return res, nil
	case slices.Contains(p.already, resp.StatusCode):
		res.Outcome = connectors.OutcomeAlreadyDone
		res.Detail = fmt.Sprintf("already done: %s: %s", where, statusText(resp.StatusCode))
		return res, nil
	}
	return connectors.Result{}, c.httpError(op, "", p.method, u, resp, respBody)
}

// Verify reads the account back (see the package documentation). A subject
// without an account verifies OK.
func (c *Connector) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	op := "verify " + string(req.Operation)
	if err := ctx.Err(); err != nil {
		return connectors.Verification{}, connectors.Classify(c.name, op, err)
	}
	p, err := c.opPlan(req.Operation)
	if err != nil {
		return connectors.Verification{}, err
	}
	f, err := c.find(ctx, op, "lookup: ", req.Subject)
	if err != nil {
		return connectors.Verification{}, err
	}
	if f == nil {
		return connectors.Verification{OK: true, Detail: "no account"}, nil
	}
	ok, want := p.satisfied(f)
	detail := f.describe()
	if req.Account != "" && req.Account != f.id {
		detail += fmt.Sprintf(" (the request named account %s)", text.ClipRunes(req.Account, 64))
	}
	if !ok {
		detail += "; want " + want
	}
	return connectors.Verification{OK: ok, Detail: c.redact.apply(detail)}, nil
}

func (c *Connector) opPlan(op connectors.Operation) (*opPlan, error) {
	p, ok := c.plan.ops[op]
	if !ok {
		return nil, connectors.NewError(connectors.KindInvalid, c.name, string(op),
			fmt.Errorf("operation %q is not configured for this webhook instance (configured: %s)", op, or(connectors.OperationNames(c.ops), "none")))
	}
	return p, nil
}

// satisfied reports whether f shows the operation's effect, and otherwise
// what is wanted.
func (p *opPlan) satisfied(f *found) (bool, string) {
	if len(p.verify) > 0 {
		return f.hasStatus && slices.Contains(p.verify, strings.ToLower(strings.TrimSpace(f.status))),
			"status one of " + strings.Join(p.verify, ", ")
	}
	return !f.active, "the account not active"
}

// find runs the lookup for s; nil means none found.
func (c *Connector) find(ctx context.Context, op, prefix string, s connectors.Subject) (*found, error) {
	l := c.plan.lookup
	u, body, err := c.build(op, prefix+l.method, l.path, l.body, l.required, newData(s, "", nil, ""))
	if err != nil {
		return nil, err
	}
	resp, respBody, err := c.send(ctx, op, prefix, l.method, u, body, "")
	if err != nil {
		return nil, err
	}
	if slices.Contains(l.missing, resp.StatusCode) {
		return nil, nil
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return nil, c.httpError(op, prefix, l.method, u, resp, respBody)
	}
	invalid := func(format string, args ...any) error {
		msg := fmt.Sprintf("%s%s %s answered %s, but %s", prefix, l.method, u.EscapedPath(), statusText(resp.StatusCode), fmt.Sprintf(format, args...))
		return &connectors.Error{Kind: connectors.KindInvalid, Connector: c.name, Op: op, Status: resp.StatusCode, Err: errors.New(msg)}
	}
	f := &found{active: true}
	if l.idField == nil && l.statusField == nil {
		f.id = firstNonEmpty(s.Email, s.Username, s.EmployeeID)
		return f, nil
	}
	if len(respBody) > maxBody {
		return nil, invalid("the answer is larger than 1 MiB")
	}
	dec := json.NewDecoder(bytes.NewReader(respBody))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, invalid("the answer is not JSON (%s)", c.snippet(respBody, 80))
	}
	if l.idField == nil {
		f.id = firstNonEmpty(s.Email, s.Username, s.EmployeeID)
	} else {
		v, present, err := resolve(doc, l.idField)
		if err != nil {
			return nil, invalid("id_field %s: %v", strings.Join(l.idField, "."), err)
		}
		id, err := scalar(v)
		if err != nil {
			return nil, invalid("id_field %s: %v", strings.Join(l.idField, "."), err)
		}
		if !present || strings.TrimSpace(id) == "" {
			return nil, nil // a search with no hits
		}
		f.id = strings.TrimSpace(id)
	}
	if l.statusField != nil {
		v, _, err := resolve(doc, l.statusField)
		if err != nil {
			return nil, invalid("status_field %s: %v", strings.Join(l.statusField, "."), err)
		}
		st, err := scalar(v)
		if err != nil {
			return nil, invalid("status_field %s: %v", strings.Join(l.statusField, "."), err)
		}
		f.status, f.hasStatus = st, true
		f.active = slices.Contains(l.active, strings.ToLower(strings.TrimSpace(st)))
	}
	return f, nil
}

// build renders a request's URL and body. A required field that is empty in
// d stops it before anything is sent.
func (c *Connector) build(op, method string, path, body *template.Template, required [][]string, d data) (*url.URL, []byte, error) {
	invalid := func(what string, err error) error {
		return connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("%s %s template: %w", method, what, err))
	}
	if f := emptyField(d, required); f != "" {
		return nil, nil, connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("%s: not sent: %s is empty, and a request with an empty value could match the wrong account (wrap an optional value in {{with}})", method, f))
	}
	rendered, err := render(path, d.escaped(), false)
	if err != nil {
		return nil, nil, invalid("path", err)
	}
	u, err := joinURL(c.plan.base, rendered)
	if err != nil {
		return nil, nil, invalid("path", err)
	}
	if body == nil {
		return u, nil, nil
	}
	b, err := render(body, d, false)
	if err != nil {
		return nil, nil, invalid("body", err)
	}
	if err := checkJSON(b); err != nil {
		return nil, nil, connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("%s %s: the rendered body is not valid JSON: %w", method, u.EscapedPath(), err))
	}
	if strings.TrimSpace(b) == "" {
		return u, nil, nil
	}
	return u, []byte(b), nil
}

// send makes one request and reads its answer (up to maxBody+1 bytes, so
// callers can tell a larger one). Transport failures are classified; the
// returned response's body is closed.
func (c *Connector) send(ctx context.Context, op, prefix, method string, u *url.URL, body []byte, idempotencyKey string) (*http.Response, []byte, error) {
	where := prefix + method + " " + u.EscapedPath()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), r)
	if err != nil {
		return nil, nil, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("%s: %v", where, errors.Unwrap(err)))
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	for k, vs := range c.headers {
		req.Header[k] = slices.Clone(vs)
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	if c.auth != nil {
		c.auth(req.Header)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, nil, c.transportError(ctx, op, where, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, nil, c.transportError(ctx, op, where+" (reading the answer)", err)
	}
	return resp, b, nil
}

// transportError classifies a failure to get an answer. The *url.Error
// wrapper is dropped: it repeats the whole URL, query included.
func (c *Connector) transportError(ctx context.Context, op, where string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return connectors.Classify(c.name, op, fmt.Errorf("%s: %w", where, ctxErr))
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return connectors.Classify(c.name, op, fmt.Errorf("%s: %w", where, redactedError{err, c.redact}))
}

// redactedError keeps an underlying error for errors.Is and errors.As while
// printing it with the configured secrets removed.
type redactedError struct {
	err error
	r   *redactor
}

func (e redactedError) Error() string { return e.r.apply(e.err.Error()) }
func (e redactedError) Unwrap() error { return e.err }

// httpError describes a vendor's unsuccessful answer and classifies it.
func (c *Connector) httpError(op, prefix, method string, u *url.URL, resp *http.Response, body []byte) error {
	msg := fmt.Sprintf("%s%s %s answered %s", prefix, method, u.EscapedPath(), statusText(resp.StatusCode))
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		msg += "; redirects to another host or scheme are not followed"
		if loc, err := resp.Location(); err == nil {
			msg += " (Location host " + loc.Host + ")"
		}
		return &connectors.Error{Kind: connectors.KindInvalid, Connector: c.name, Op: op, Status: resp.StatusCode, Err: errors.New(msg)}
	}
	if snip := c.snippet(body, snippetLen); snip != "" {
		msg += ": " + snip
	}
	if e := connectors.ClassifyHTTP(c.name, op, resp, msg); e != nil {
		return e
	}
	return &connectors.Error{Kind: connectors.KindInvalid, Connector: c.name, Op: op, Status: resp.StatusCode, Err: errors.New(msg)}
}

// snippet returns the start of an answer for an error message: secrets
// removed first, then control characters and runs of white space collapsed,
// then cut to n runes.
func (c *Connector) snippet(body []byte, n int) string {
	if len(body) > 64<<10 {
		body = body[:64<<10]
	}
	s := c.redact.apply(strings.ToValidUTF8(string(body), "?"))
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	return text.ClipRunes(s, n)
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return strconv.Itoa(code)
}

// resolve follows a dotted path through a decoded JSON document. present is
// false when the path runs into null or past the end of a list (a search
// without hits); a key missing from an object, or a path through a scalar,
// is an error: that is a configuration mistake, not "none found".
func resolve(doc any, path []string) (v any, present bool, err error) {
	cur := doc
	for i, seg := range path {
		at := strings.Join(path[:i], ".")
		if at == "" {
			at = "the top level"
		}
		switch x := cur.(type) {
		case nil:
			return nil, false, nil
		case []any:
			idx, err := strconv.Atoi(seg)
			if err != nil || idx < 0 {
				return nil, false, fmt.Errorf("%s is a list, so %q must be an index", at, seg)
			}
			if idx >= len(x) {
				return nil, false, nil
			}
			cur = x[idx]
		case map[string]any:
			next, ok := x[seg]
			if !ok {
				keys := make([]string, 0, len(x))
				for k := range x {
					keys = append(keys, k)
				}
				slices.Sort(keys)
				if len(keys) > 12 {
					keys = append(keys[:12], "…")
				}
				return nil, false, fmt.Errorf("no key %q at %s (keys: %s)", text.ClipRunes(seg, 40), at, text.ClipRunes(strings.Join(keys, ", "), 200))
			}
			cur = next
		default:
			return nil, false, fmt.Errorf("%s is a %s, not an object or list", at, jsonType(x))
		}
	}
	return cur, cur != nil, nil
}

// scalar renders a JSON scalar as text; null is "".
func scalar(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	return "", fmt.Errorf("holds a %s, not a string, number or boolean", jsonType(v))
}

func jsonType(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "list"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	}
	return "null"
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
