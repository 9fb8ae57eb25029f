// Package connspec is what configuration needs to know about one connector
// type to load it: the type's name, its config block (decoded strictly by
// configs), the block's validation, the operations it enables, the URLs the
// outbound policy must check and the files the loader resolves. Each
// connector package exports a connectors.Descriptor holding a Spec and its
// constructor; internal/compose lists the descriptors and hands their Specs
// to configs. It is a leaf, so configs links no connector.
package connspec

import (
	"net/url"
	"strings"
)

// Spec describes one connector type for loading. Every func receives the
// pointer NewBlock returned, decoded from the instance's block.
type Spec struct {
	// Type is the type name: the instance's `type:` and its block's key.
	Type string
	// NewBlock returns a pointer to an empty config block (e.g.
	// *okta.Config); the loader decodes the block into it strictly
	// (unknown keys are errors), resolves its secrets and keeps it as
	// ConnectorInstance.Block.
	NewBlock func() any
	// Validate reports every problem with the block, joined. An error
	// that is a *FieldError, or whose message starts with a key below the
	// block ("url: …"), is reported at that key.
	Validate func(block any) error
	// Operations returns the operations the block enables; ok is false
	// when that cannot be known (an invalid block), so callers do not pile
	// errors on top of the block's own.
	Operations func(block any) (ops []string, ok bool)
	// URLs returns, by key below the block (e.g. "org_url"), the URLs the
	// connector calls, for the outbound URL policy at load. Nil: none. A
	// URL whose form is wrong is left out (Validate reports it).
	URLs func(block any) map[string]URL
	// Files returns the files the block names (keys, certificates, CA
	// bundles), by key below the block: relative paths are taken relative
	// to the service file and a missing file is reported at load. Nil:
	// none.
	Files func(block any) []File
	// Describe names the instance for messages ("sandbox system okta");
	// nil: the type name.
	Describe func(block any) string
	// NoticeTeams returns, by key below the block (e.g. "teams.payroll"),
	// the receiving teams the instance sends notices to. Each must be
	// reachable at load: a route (routing.TEAM, where an unacknowledged
	// notice escalates) or an approver group (approver_groups.TEAM, whose
	// members acknowledge by button or callback). Nil: none.
	NoticeTeams func(block any) map[string]string
	// Simulated marks a type that simulates its system (sandbox): nothing
	// real is revoked, and the service file must say simulated: true.
	Simulated bool
	// ManualOnly, when set, marks a type whose operations people do by
	// hand (a facility's security desk): it returns the operations a step
	// on the instance may name, and every such step must be manual: true
	// (the engine never sends a manual step to a connector). Nil: steps
	// are checked against Operations.
	ManualOnly func(block any) []string
	// Ticketer marks a type whose connector is a connectors.Ticketer (an
	// ITSM system): the policy's tickets block may name its instances.
	Ticketer bool
}

// URL is one URL a connector calls.
type URL struct {
	// Check is what the outbound policy checks (http or https).
	Check string
	// Shown, when set, replaces Check's scheme-and-host form in messages:
	// an LDAP server is checked as https://host:port/ (the policy accepts
	// only http and https and judges the host) but named as written.
	Shown string
}

// File is a file a block names, with a pointer to the field so the loader
// can make a relative path absolute.
type File struct {
	// Key is below the block, e.g. "oauth.private_key_file".
	Key  string
	Path *string
	// Validated is set when the block's Validate reads the file itself
	// (ldap's ca_file): the loader then does not report it again.
	Validated bool
}

// FieldError is one problem with a block, at Field: the key below the
// block, e.g. "operations.deactivate_badge.path".
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

func (e *FieldError) Unwrap() error { return e.Err }

// HTTPURL reports whether raw is an absolute http(s) URL with a host and no
// user info: the form the outbound policy can judge. Any other form is left
// to the block's own validation.
func HTTPURL(raw string) bool {
	u, err := url.Parse(strings.TrimSpace(raw))
	return err == nil && u.Opaque == "" && u.User == nil && u.Host != "" && u.Hostname() != "" &&
		(u.Scheme == "http" || u.Scheme == "https")
}
