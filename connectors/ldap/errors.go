package ldap

import (
	"context"
	"errors"
	"fmt"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/secret"
)

// errCallTimeout is the cause of a call context that hit Config.Timeout
// (rather than the caller's own deadline).
var errCallTimeout = errors.New("ldap call timed out")

// errClosed is returned by calls made after Close.
var errClosed = errors.New("connector is closed")

// kindForCode maps an LDAP result code (RFC 4511 §4.1.9) to an error kind.
//
//   - 49 invalidCredentials, 48 inappropriateAuthentication → auth
//   - 50 insufficientAccessRights → forbidden
//   - 51 busy, 52 unavailable, 53 unwillingToPerform, 3 timeLimitExceeded,
//     11 adminLimitExceeded, 80 other → transient (53 is an idempotent
//     success when removing a member who is not in the group; the caller
//     handles that case before classifying)
//   - 32 noSuchObject → not found: a missing account is OutcomeNoneFound
//     and a missing group is skipped before classifying, so what reaches
//     here is a base_dn (or disabled_ou) that does not exist, which is a
//     configuration error that retrying will not fix
//   - everything else (protocol errors, constraint and syntax violations,
//     referrals to another server, strongAuthRequired, client-side errors
//     such as a filter that does not compile) → invalid
func kindForCode(code uint16) connectors.Kind {
	switch code {
	case goldap.LDAPResultInvalidCredentials, goldap.LDAPResultInappropriateAuthentication:
		return connectors.KindAuth
	case goldap.LDAPResultInsufficientAccessRights:
		return connectors.KindForbidden
	case goldap.LDAPResultBusy, goldap.LDAPResultUnavailable, goldap.LDAPResultUnwillingToPerform,
		goldap.LDAPResultTimeLimitExceeded, goldap.LDAPResultAdminLimitExceeded, goldap.LDAPResultOther:
		return connectors.KindTransient
	case goldap.LDAPResultNoSuchObject:
		return connectors.KindNotFound
	}
	return connectors.KindInvalid
}

// resultCode returns err's LDAP result code, or 0 when err carries none
// (go-ldap's client-side codes, 200 and up, count as none).
func resultCode(err error) uint16 {
	var le *goldap.Error
	if errors.As(err, &le) && le.ResultCode < goldap.ErrorNetwork {
		return le.ResultCode
	}
	return 0
}

// classify turns any error met during a call into a *connectors.Error. It is
// the one place LDAP answers are classified:
//
//   - a classified error passes through;
//   - when the call's context is done, the error is KindCanceled wrapping
//     the context's error — or KindTransient when it was Config.Timeout, not
//     the caller, that ran out;
//   - an LDAP result from the server is classified by kindForCode, with
//     Status set to the result code;
//   - anything else happened in transport (refused, reset, DNS, TLS) and
//     goes to connectors.Classify: transient, except certificate failures
//     and outbound-policy refusals, which are invalid.
//
// Every message has the connector's secrets replaced by "<secret>".
func (c *Connector) classify(ctx context.Context, op string, err error, extra ...string) error {
	if err == nil {
		return nil
	}
	var ce *connectors.Error
	if errors.As(err, &ce) {
		return ce
	}
	if ctx.Err() != nil {
		if errors.Is(context.Cause(ctx), errCallTimeout) {
			return &connectors.Error{Kind: connectors.KindTransient, Connector: c.name, Op: op,
				Err: fmt.Errorf("no answer within the configured timeout of %s: %w", c.cfg.Timeout, ctx.Err())}
		}
		return &connectors.Error{Kind: connectors.KindCanceled, Connector: c.name, Op: op, Err: ctx.Err()}
	}
	red := c.redact(err, extra...)
	if code := resultCode(err); code != 0 {
		return &connectors.Error{Kind: kindForCode(code), Connector: c.name, Op: op, Status: int(code), Err: red}
	}
	var le *goldap.Error
	if errors.As(err, &le) && le.ResultCode > goldap.ErrorNetwork {
		// go-ldap's own client-side errors (a filter that does not
		// compile, an empty password, an unexpected response): a bug or a
		// bad configuration, not a transient condition.
		return &connectors.Error{Kind: connectors.KindInvalid, Connector: c.name, Op: op, Err: red}
	}
	return connectors.Classify(c.name, op, red)
}

// invalid builds a KindInvalid error.
func (c *Connector) invalid(op, format string, args ...any) error {
	return connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf(format, args...))
}

// redactedError hides secrets in the text of the error it wraps while
// keeping it reachable for errors.Is and errors.As.
type redactedError struct {
	err     error
	secrets []string
}

func (r *redactedError) Error() string {
	s := r.err.Error()
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, secret.Redacted)
	}
	return s
}

func (r *redactedError) Unwrap() error { return r.err }

// redact wraps err so that its text never shows the bind password or any
// of extra (for example a password just generated). Servers do not echo
// passwords, but a proxy's or a library's message might.
func (c *Connector) redact(err error, extra ...string) error {
	var secrets []string
	for _, s := range append([]string{c.password}, extra...) {
		if s != "" && strings.Contains(err.Error(), s) {
			secrets = append(secrets, s)
		}
	}
	if len(secrets) == 0 {
		return err
	}
	return &redactedError{err: err, secrets: secrets}
}
