package webhook

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/connspec"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

// TypeName is the connector type name configuration uses for webhook
// instances.
const TypeName = "webhook"

// Config is the webhook connector's YAML block.
type Config struct {
	// BaseURL is the system's API root, e.g. https://badges.corp.example/api/v2
	// (required). Only http and https are allowed, with no user info, query
	// or fragment (credentials go in Auth, query parameters in the path
	// templates). Every path is appended to it. The outbound URL policy
	// checks it when the configuration loads and again at every connection.
	BaseURL string `yaml:"base_url"`
	// Auth is how requests authenticate; nil sends no credentials. When set,
	// exactly one of its forms is.
	Auth *Auth `yaml:"auth"`
	// Headers are extra, non-secret request headers (e.g. Accept). They may
	// not set Authorization, Idempotency-Key, Host, Content-Length,
	// Connection or Transfer-Encoding, nor the auth header's name.
	Headers map[string]string `yaml:"headers"`
	// Lookup is how the subject's account is found (required).
	Lookup LookupSpec `yaml:"lookup"`
	// Operations are the operations this instance performs, by operation
	// name (each a connectors.Operation, e.g. deactivate_badge). An instance
	// without operations can still look accounts up (reconciliation).
	Operations map[connectors.Operation]OperationSpec `yaml:"operations"`
}

// Auth holds exactly one way of authenticating.
type Auth struct {
	// Bearer sends "Authorization: Bearer <token>".
	Bearer *secret.Secret `yaml:"bearer"`
	// Basic sends HTTP basic authentication.
	Basic *BasicAuth `yaml:"basic"`
	// Header sends the secret as the value of a named header (X-Api-Key).
	Header *HeaderAuth `yaml:"header"`
}

// BasicAuth is a user name and password for HTTP basic authentication.
type BasicAuth struct {
	Username string        `yaml:"username"`
	Password secret.Secret `yaml:"password"`
}

// HeaderAuth is an API key sent in a header.
type HeaderAuth struct {
	// Name is the header name, e.g. X-Api-Key.
	Name string `yaml:"name"`
	// Value is the header's value.
	Value secret.Secret `yaml:"value"`
}

// LookupSpec describes the request that finds the subject's account and how
// to read its answer.
type LookupSpec struct {
	// Method is GET (the default), POST, PUT, PATCH or DELETE.
	Method string `yaml:"method"`
	// Path is a template appended to BaseURL, e.g.
	// "/people?email={{.Email}}" (required). Every value is URL-escaped.
	Path string `yaml:"path"`
	// Body is an optional JSON body template (for search endpoints that
	// take POST); every value must go through json.
	Body string `yaml:"body"`
	// MissingStatus are the HTTP statuses that mean "no such account";
	// default [404].
	MissingStatus []int `yaml:"missing_status"`
	// IDField is the dotted path of the account id in the JSON answer
	// (e.g. "id" or "data.0.id"). Empty means the subject's email (else
	// username, else employee id) is the account id and any 2xx answer
	// means the account exists.
	IDField string `yaml:"id_field"`
	// StatusField is the dotted path of the account's status in the JSON
	// answer. Empty means the status cannot be read: an account that exists
	// counts as active.
	StatusField string `yaml:"status_field"`
	// ActiveValues are the status values (compared case-insensitively)
	// meaning the account is active; every other value, null and "" included,
	// means disabled. Default [active]. Needs StatusField.
	ActiveValues []string `yaml:"active_values"`
	// Kind is what the system holds (Account.Kind): "user" by default, or
	// e.g. "badge" or "device".
	Kind string `yaml:"kind"`
}

// OperationSpec describes the request that performs one operation.
type OperationSpec struct {
	// Method is POST (the default), GET, PUT, PATCH or DELETE.
	Method string `yaml:"method"`
	// Path is a template appended to BaseURL, e.g.
	// "/badges/{{.Account}}/deactivate" (required). Every value is
	// URL-escaped.
	Path string `yaml:"path"`
	// Body is an optional JSON body template; every value must go through
	// json, e.g. '{"reason": {{json .Params.reason}}}'. A body that is not
	// valid JSON once rendered is a permanent (KindInvalid) error.
	Body string `yaml:"body"`
	// AlreadyStatus are the HTTP statuses that mean "already done" (e.g.
	// 409), reported as OutcomeAlreadyDone.
	AlreadyStatus []int `yaml:"already_status"`
	// VerifyStatus are the status values (see LookupSpec.StatusField) that
	// mean the operation's effect holds. Empty means "not active" (see
	// LookupSpec.ActiveValues). An account the lookup no longer finds
	// always verifies. Needs lookup.status_field.
	VerifyStatus []string `yaml:"verify_status"`
}

// FieldError is one problem with the configuration, at Field: the key below
// the webhook block, e.g. "operations.deactivate_badge.path".
type FieldError = connspec.FieldError

// KnownOperations are the operation names an Operations key may use: every
// operation connectors defines.
var KnownOperations = connectors.AllOperations

// Validate reports every problem with the configuration, joined; each is a
// *FieldError naming its key. Templates are parsed and rendered once with
// sample values, so a typo in a field name or a body that does not render
// JSON is reported here rather than at the first offboarding. Secrets are
// not resolved by Validate (New needs them resolved).
func (c Config) Validate() error {
	_, err := c.compile()
	return err
}

// OperationList returns the configured operation names, sorted.
func (c Config) OperationList() []connectors.Operation {
	ops := make([]connectors.Operation, 0, len(c.Operations))
	for op := range c.Operations {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	return ops
}

// ValidateBaseURL checks a base URL's form: absolute http(s) with a host and
// without user info, query or fragment. It does not apply the outbound URL
// policy.
func ValidateBaseURL(raw string) error {
	_, err := outbound.CheckURLForm("base_url", raw, outbound.URLForm{
		CredentialsHint: "put credentials in auth", QueryHint: "put query parameters in the path templates"})
	return err
}

var methods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

// reservedHeaders may not be set through Headers.
var reservedHeaders = []string{"Authorization", "Idempotency-Key", "Host", "Content-Length", "Connection", "Transfer-Encoding"}

// compile validates c and prepares everything New needs.
func (c Config) compile() (*plan, error) {
	var errs []error
	add := func(field string, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Err: fmt.Errorf(format, args...)})
	}
	addErr := func(field string, err error) {
		if err != nil {
			errs = append(errs, &FieldError{Field: field, Err: err})
		}
	}
	p := &plan{}

	if err := ValidateBaseURL(c.BaseURL); err != nil {
		addErr("base_url", errors.New(strings.TrimPrefix(err.Error(), "base_url ")))
	} else {
		u, _ := url.Parse(strings.TrimSpace(c.BaseURL))
		u.Path = strings.TrimRight(u.Path, "/")
		u.RawPath = strings.TrimRight(u.RawPath, "/")
		p.base = u
	}

	authHeader := ""
	if a := c.Auth; a != nil {
		var forms []string
		if a.Bearer != nil {
			forms = append(forms, "bearer")
			if !a.Bearer.IsSet() {
				add("auth.bearer", "needs {env: NAME} or {file: PATH}")
			}
		}
		if b := a.Basic; b != nil {
			forms = append(forms, "basic")
			if strings.TrimSpace(b.Username) == "" {
				add("auth.basic.username", "username is required")
			} else if strings.Contains(b.Username, ":") {
				add("auth.basic.username", "username must not contain ':'")
			}
			if !b.Password.IsSet() {
				add("auth.basic.password", "password is required ({env: NAME} or {file: PATH})")
			}
		}
		if h := a.Header; h != nil {
			forms = append(forms, "header")
			switch {
			case h.Name == "":
				add("auth.header.name", "name is required (e.g. X-Api-Key)")
			case !validHeaderName(h.Name):
				add("auth.header.name", "%q is not a valid header name", h.Name)
			case strings.EqualFold(h.Name, "Idempotency-Key") || strings.EqualFold(h.Name, "Host") || strings.EqualFold(h.Name, "Content-Length"):
				add("auth.header.name", "%s cannot carry credentials", h.Name)
			default:
				authHeader = h.Name
			}
			if !h.Value.IsSet() {
				add("auth.header.value", "value is required ({env: NAME} or {file: PATH})")
			}
		}
		switch len(forms) {
		case 1:
		case 0:
			add("auth", "set exactly one of bearer, basic or header (found none); omit auth to send no credentials")
		default:
			add("auth", "set exactly one of bearer, basic or header (found %s)", strings.Join(forms, " and "))
		}
	}

	for _, name := range slices.Sorted(maps.Keys(c.Headers)) {
		field := "headers." + name
		v := c.Headers[name]
		switch {
		case !validHeaderName(name):
			add(field, "%q is not a valid header name", name)
		case slices.ContainsFunc(reservedHeaders, func(r string) bool { return strings.EqualFold(r, name) }):
			if strings.EqualFold(name, "Authorization") {
				add(field, "Authorization may not be set here: use auth, whose secret is never written in this file")
			} else {
				add(field, "%s is set by the connector", name)
			}
		case authHeader != "" && strings.EqualFold(name, authHeader):
			add(field, "%s is the auth header", name)
		case strings.ContainsAny(v, "\r\n\x00"):
			add(field, "header values may not contain line breaks")
		}
	}

	// Lookup.
	l := c.Lookup
	lp := &lookupPlan{kind: strings.TrimSpace(l.Kind)}
	if lp.kind == "" {
		lp.kind = "user"
	}
	lp.method = checkMethod(add, "lookup.method", l.Method, "GET")
	if strings.TrimSpace(l.Path) == "" {
		add("lookup.path", "path is required (a template such as \"/people?email={{.Email}}\")")
	} else {
		t, err := parsePath(l.Path)
		addErr("lookup.path", err)
		lp.path = t
	}
	if strings.TrimSpace(l.Body) != "" {
		t, err := parseBody(l.Body)
		addErr("lookup.body", err)
		lp.body = t
	}
	lp.missing = checkStatuses(add, "lookup.missing_status", l.MissingStatus)
	if len(lp.missing) == 0 {
		lp.missing = []int{404}
	}
	var err error
	if lp.idField, err = splitField(l.IDField); err != nil {
		addErr("lookup.id_field", err)
	}
	if lp.statusField, err = splitField(l.StatusField); err != nil {
		addErr("lookup.status_field", err)
	}
	lp.active = lowerAll(l.ActiveValues)
	if len(l.ActiveValues) > 0 && strings.TrimSpace(l.StatusField) == "" {
		add("lookup.active_values", "active_values needs status_field (where the status is read from)")
	}
	if len(lp.active) == 0 {
		lp.active = []string{"active"}
	}
	lp.required = append(requiredFields(lp.path), requiredFields(lp.body)...)
	p.lookup = lp
	if p.base != nil {
		addErr("lookup.path", dryRunPath(p.base, lp.path))
	}
	addErr("lookup.body", dryRunBody(lp.body))

	// Operations.
	p.ops = map[connectors.Operation]*opPlan{}
	for _, op := range c.OperationList() {
		spec := c.Operations[op]
		field := "operations." + string(op)
		if !slices.Contains(KnownOperations, op) {
			names := make([]string, len(KnownOperations))
			for i, k := range KnownOperations {
				names[i] = string(k)
			}
			sort.Strings(names)
			add(field, "unknown operation %q (known: %s)", op, strings.Join(names, ", "))
			continue
		}
		o := &opPlan{}
		o.method = checkMethod(add, field+".method", spec.Method, "POST")
		if strings.TrimSpace(spec.Path) == "" {
			add(field+".path", "path is required (a template such as \"/badges/{{.Account}}/deactivate\")")
		} else {
			t, err := parsePath(spec.Path)
			addErr(field+".path", err)
			o.path = t
		}
		if strings.TrimSpace(spec.Body) != "" {
			t, err := parseBody(spec.Body)
			addErr(field+".body", err)
			o.body = t
		}
		o.required = requiredFields(o.path)
		o.already = checkStatuses(add, field+".already_status", spec.AlreadyStatus)
		for i, v := range spec.VerifyStatus {
			if strings.TrimSpace(v) == "" {
				add(fmt.Sprintf("%s.verify_status[%d]", field, i), "empty status value")
			}
		}
		o.verify = lowerAll(spec.VerifyStatus)
		if len(spec.VerifyStatus) > 0 && strings.TrimSpace(l.StatusField) == "" {
			add(field+".verify_status", "verify_status needs lookup.status_field (where the status is read from)")
		}
		if p.base != nil {
			addErr(field+".path", dryRunPath(p.base, o.path))
		}
		addErr(field+".body", dryRunBody(o.body))
		p.ops[op] = o
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

func checkMethod(add func(string, string, ...any), field, m, def string) string {
	m = strings.ToUpper(strings.TrimSpace(m))
	if m == "" {
		return def
	}
	if !slices.Contains(methods, m) {
		add(field, "unknown method %q (want %s)", m, strings.Join(methods, ", "))
	}
	return m
}

func checkStatuses(add func(string, string, ...any), field string, codes []int) []int {
	var out []int
	for i, c := range codes {
		if c < 100 || c > 599 {
			add(fmt.Sprintf("%s[%d]", field, i), "%d is not an HTTP status (100..599)", c)
			continue
		}
		out = append(out, c)
	}
	return out
}

// splitField splits a dotted JSON path ("data.0.id"); "" is no path.
func splitField(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ".")
	for _, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("%q is not a dotted path such as data.0.id", s)
		}
	}
	return parts, nil
}

func lowerAll(vs []string) []string {
	var out []string
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, strings.ToLower(v))
		}
	}
	return out
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
