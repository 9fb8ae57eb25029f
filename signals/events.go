// Package signals is Kinetic's Shared Signals transmitter: it tells relying
// parties (SaaS apps, a SIEM, another IdP) that a departing person's
// sessions were revoked, their account disabled or their credentials
// deleted, as Security Event Tokens (RFC 8417) signed with a configured key
// and pushed to each configured receiver (RFC 8935).
//
// It watches the engine the way the chat notifiers do: the Transmitter is
// an engine.Observer, told when an action succeeds. Which operations are
// reported as which events is declared once, in the table below
// (SignalsOf). Every SET is written to the store's outbox before any
// delivery is tried, then delivered from there with back-off and marked
// delivered, so a SET survives a receiver that is down, a lost connection
// and a restart; a catch-up scan of recently succeeded actions records
// what an observer missed because its process stopped in between.
//
// kinetic serve publishes the transmitter's metadata
// (/.well-known/ssf-configuration, OpenID Shared Signals Framework 1.0) and
// its public keys (jwks_uri) so that receivers can verify the SETs.
//
// Files: events.go (the operation table and the event payloads), set.go
// (claims, signing, JWKS), push.go (RFC 8935 delivery and its errors),
// transmitter.go (observer, outbox, catch-up scan and delivery loop),
// metadata.go (the published metadata and keys).
package signals

import (
	"github.com/kineticsec/kinetic/connectors"
)

// EventType is a short event name, as signals.receivers.*.events lists it
// (configs.SignalEvents).
type EventType string

// The events Kinetic transmits.
const (
	// SessionRevoked is CAEP's session-revoked: the subject's sessions were
	// revoked (OpenID CAEP 1.0, "Session Revoked";
	// https://openid.net/specs/openid-caep-1_0.html).
	SessionRevoked EventType = "session-revoked"
	// AccountDisabled is RISC's account-disabled: the subject's account was
	// disabled (OpenID RISC 1.0, "Account Disabled";
	// https://openid.net/specs/openid-risc-1_0.html).
	AccountDisabled EventType = "account-disabled"
	// CredentialChange is CAEP's credential-change (OpenID CAEP 1.0,
	// "Credential Change"): a credential was created, changed, revoked or
	// deleted. RISC has no credential-change event of its own (its
	// credential-compromise means a leak, not a revocation).
	CredentialChange EventType = "credential-change"
)

// EventTypes lists every EventType, in configs.SignalEvents' order.
var EventTypes = []EventType{SessionRevoked, AccountDisabled, CredentialChange}

// URI returns the event type URI the SET's events claim is keyed by.
func (t EventType) URI() string {
	switch t {
	case SessionRevoked:
		return "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
	case AccountDisabled:
		return "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
	case CredentialChange:
		return "https://schemas.openid.net/secevent/caep/event-type/credential-change"
	}
	return ""
}

// Signal is an event an operation's success is reported as.
type Signal struct {
	Type EventType
	// CredentialType and ChangeType are credential-change's required
	// credential_type and change_type.
	CredentialType string
	ChangeType     string
}

// CredentialTypeAccessKey is the credential_type of deleted access keys
// (AWS IAM access keys, API keys). CAEP 1.0 lists password, pin, x509,
// fido2-platform, fido2-roaming, fido-u2f, verifiable-credential,
// phone-voice, phone-sms and app, "or any other credential type supported
// mutually by the Transmitter and the Receiver"; none of those is an API
// access key, so this is such a mutually agreed value (docs/signals.md).
const CredentialTypeAccessKey = "access-key"

// operationSignals declares which operations are reported as which events:
// the only place that decides it. An operation not listed sends nothing.
var operationSignals = map[connectors.Operation][]Signal{
	connectors.OpRevokeSessions:   {{Type: SessionRevoked}},
	connectors.OpDisableAccount:   {{Type: AccountDisabled}},
	connectors.OpDeactivateUser:   {{Type: AccountDisabled}},
	connectors.OpDeleteAccessKeys: {{Type: CredentialChange, CredentialType: CredentialTypeAccessKey, ChangeType: "delete"}},
}

// SignalsOf returns the events op's success is reported as (nil for none).
func SignalsOf(op connectors.Operation) []Signal { return operationSignals[op] }

// signalledOperations lists the operations that send events, for the
// catch-up scan's query.
func signalledOperations() []string {
	out := make([]string, 0, len(operationSignals))
	for _, op := range connectors.AllOperations {
		if len(operationSignals[op]) > 0 {
			out = append(out, string(op))
		}
	}
	return out
}

// signalledOutcome reports whether an action that ended with outcome
// (connectors.Outcome) is reported. done: Kinetic changed the system.
// already_done: the state held already, which is also what a retry sees
// after an attempt that changed the system but failed before recording it
// (a read-back that timed out), so it is reported too — receivers dedupe on
// the subject, and a SET saying a disabled account is disabled is true.
// none_found: there was nothing to revoke, so nothing is said.
func signalledOutcome(outcome string) bool {
	switch connectors.Outcome(outcome) {
	case connectors.OutcomeDone, connectors.OutcomeAlreadyDone:
		return true
	}
	return false
}
