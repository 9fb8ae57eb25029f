// Package email is the connector that delivers dated notices (final pay,
// benefits end) to the teams that must act on them, by SMTP submission
// with TLS (STARTTLS or implicit) through github.com/wneessen/go-mail.
//
// It supports one operation, notify: one message per receiving team, with
// the notice's dates in the body and a case reference, the template and
// the dates in headers, and a Message-ID derived from the action's
// idempotency key (a resend of the same notice carries the same
// Message-ID, so a receiving system can drop the duplicate). The server's
// 250 after DATA is the read-back SMTP offers; that the team read it is
// what the acknowledgement records (store.Notice).
//
// Errors are classified where the server answers: a connection that
// cannot be made, a timeout or a 4xx reply is retryable (the action is
// retried and the notice is never lost); 4.7.x is throttling
// (rate limited); 535 is bad credentials; 5.7.x refusals are forbidden;
// other 5xx replies, and certificate failures, are permanent.
package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/mail"
	"net/textproto"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/outbound"
)

// Connector sends notices by email. It is safe for concurrent use.
type Connector struct {
	name   string
	cfg    Config
	from   *mail.Address
	domain string
	tls    *tls.Config
	policy *outbound.URLPolicy
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)

	mu   sync.Mutex
	sent map[string]string // idempotency key + team → Message-ID
}

// Operations are what the connector does.
var Operations = []connectors.Operation{connectors.OpNotify}

// New builds the connector from a validated block whose password (if any)
// is resolved. policy is the outbound URL policy every connection obeys.
func New(name string, cfg Config, policy *outbound.URLPolicy) (*Connector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	from, _ := mail.ParseAddress(cfg.From)
	_, domain, _ := strings.Cut(from.Address, "@")
	tc := &tls.Config{ServerName: strings.Trim(cfg.Host, "[]"), MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, &FieldError{Field: "ca_file", Err: fmt.Errorf("cannot read: %w", err)}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &FieldError{Field: "ca_file", Err: errors.New("no PEM certificate in the file")}
		}
		tc.RootCAs = pool
	}
	c := &Connector{name: name, cfg: cfg, from: from, domain: domain, tls: tc, policy: policy, sent: map[string]string{}}
	c.dial = policy.DialContext
	return c, nil
}

// Name returns the instance name.
func (c *Connector) Name() string { return c.name }

// Lookup reports the subject as a person a notice can be about (an
// account: their HR id, else email; none when HR gives neither) after
// checking that notices can be delivered: it connects to the server,
// upgrades to TLS and authenticates, and sends nothing.
func (c *Connector) Lookup(ctx context.Context, s connectors.Subject) (connectors.LookupResult, error) {
	if err := ctx.Err(); err != nil {
		return connectors.LookupResult{}, connectors.Classify(c.name, "lookup", err)
	}
	id := subjectID(s)
	if id == "" {
		return connectors.LookupResult{}, nil
	}
	if err := c.probe(ctx); err != nil {
		return connectors.LookupResult{}, c.classify("lookup", "the server", err)
	}
	return connectors.LookupResult{Accounts: []connectors.Account{{ID: id, Kind: "person", Status: connectors.StatusActive,
		Detail: "notices go to " + strings.Join(slices.Sorted(maps.Keys(c.cfg.Teams)), ", ")}}}, nil
}

func subjectID(s connectors.Subject) string {
	if s.EmployeeID != "" {
		return s.EmployeeID
	}
	return s.Email
}

// Do sends the notice to each team the request names. A team whose
// message this process already delivered for the same idempotency key is
// not sent again (OutcomeAlreadyDone when every team was). One team's
// failure does not stop the others; the error then names the teams that
// failed and is retryable when any failure is, and Result.Data still
// reports the teams served (the engine retries the action; teams already
// served are skipped by this process, and carry the same Message-ID if a
// restarted worker sends them again).
//
// Result.Data: channel ("email"), teams (when all were served), and per
// team message_id.TEAM and recipients.TEAM (comma separated), from which
// the engine records one store.Notice per team.
func (c *Connector) Do(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	if req.Operation != connectors.OpNotify {
		return connectors.Result{}, connectors.NewError(connectors.KindInvalid, c.name, string(req.Operation),
			fmt.Errorf("operation %q is not supported (supported: notify)", req.Operation))
	}
	op := string(req.Operation)
	if err := ctx.Err(); err != nil {
		return connectors.Result{}, connectors.Classify(c.name, op, err)
	}
	id := subjectID(req.Subject)
	if id == "" {
		return connectors.Result{Outcome: connectors.OutcomeNoneFound, Detail: "no HR id or email to give notice about"}, nil
	}
	teams, err := c.teams(req.Params["teams"])
	if err != nil {
		return connectors.Result{}, connectors.NewError(connectors.KindInvalid, c.name, op, err)
	}
	data := map[string]string{}
	var sent, already []string
	var errs []error
	kind := connectors.Kind("")
	for _, team := range teams {
		key := req.IdempotencyKey + "\x00" + team
		c.mu.Lock()
		mid, done := c.sent[key]
		c.mu.Unlock()
		if done {
			already = append(already, team)
			data["message_id."+team] = mid
			data["recipients."+team] = strings.Join(c.cfg.Teams[team], ",")
			continue
		}
		msg, mid, err := c.message(req, team)
		if err != nil {
			return connectors.Result{}, connectors.NewError(connectors.KindInvalid, c.name, op, err)
		}
		if err := c.send(ctx, msg); err != nil {
			ce := c.classify(op, "to "+team, err)
			if kind == "" || ce.Kind.Retryable() {
				kind = ce.Kind
			}
			errs = append(errs, ce)
			continue
		}
		c.mu.Lock()
		c.sent[key] = mid
		c.mu.Unlock()
		sent = append(sent, team)
		data["message_id."+team] = mid
		data["recipients."+team] = strings.Join(c.cfg.Teams[team], ",")
	}
	if len(data) > 0 {
		data["channel"] = "email"
	}
	if len(errs) > 0 {
		// The teams that were served are reported with the error (the
		// engine keeps a failed attempt's Data), so their notices are
		// recorded and wait for acknowledgement while the rest retry.
		if len(errs) == 1 {
			return connectors.Result{Data: data}, errs[0]
		}
		e := connectors.NewError(kind, c.name, op, errors.Join(errs...))
		if kind == connectors.KindRateLimited {
			e.RetryAfter = time.Minute
		}
		return connectors.Result{Data: data}, e
	}
	data["teams"] = strings.Join(teams, ",")
	if len(sent) == 0 {
		return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: id, Detail: "notice already sent to " + strings.Join(already, ", "), Data: data}, nil
	}
	return connectors.Result{Outcome: connectors.OutcomeDone, Account: id, Detail: "notice sent to " + strings.Join(sent, ", "), Data: data}, nil
}

// teams resolves the comma-separated team list (all teams when empty).
func (c *Connector) teams(list string) ([]string, error) {
	if strings.TrimSpace(list) == "" {
		return slices.Sorted(maps.Keys(c.cfg.Teams)), nil
	}
	var out []string
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if _, ok := c.cfg.Teams[t]; !ok {
			return nil, fmt.Errorf("team %q is not configured (teams: %s)", t, strings.Join(slices.Sorted(maps.Keys(c.cfg.Teams)), ", "))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// session runs fn with a go-mail client whose every connection the
// outbound policy allowed and whose TLS is mandatory (implicit, or
// STARTTLS before anything else). The conversation is bounded by the
// configured timeout; a cancelled context closes the connection.
func (c *Connector) session(ctx context.Context, fn func(*gomail.Client) error) error {
	timeout := c.cfg.Timeout.D()
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	implicit := c.cfg.TLS == TLSImplicit
	var mu sync.Mutex
	var conns []net.Conn
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := c.dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if implicit {
			tc := tls.Client(conn, c.tls)
			if err := tc.HandshakeContext(ctx); err != nil {
				conn.Close()
				return nil, err
			}
			conn = tc
		}
		mu.Lock()
		conns = append(conns, conn)
		mu.Unlock()
		return conn, nil
	}
	opts := []gomail.Option{
		gomail.WithPort(c.cfg.port()), gomail.WithTimeout(timeout), gomail.WithTLSConfig(c.tls),
		gomail.WithDialContextFunc(dial), gomail.WithHELO(c.domain),
	}
	if implicit {
		// The dial above already speaks TLS; go-mail must not try STARTTLS.
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if c.cfg.Password != nil {
		// Named mechanisms rather than go-mail's discovery, which cannot
		// see that an implicit-TLS connection dialled here is encrypted;
		// PLAIN and LOGIN are still refused by go-mail's SMTP client on a
		// connection that is not TLS.
		opts = append(opts, gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1, gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
			gomail.WithUsername(c.cfg.Username), gomail.WithPassword(c.cfg.Password.Value()))
	}
	client, err := gomail.NewClient(strings.Trim(c.cfg.Host, "[]"), opts...)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		for _, conn := range conns {
			conn.Close()
		}
	})
	defer stop()
	err = fn(client)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// send delivers one message.
func (c *Connector) send(ctx context.Context, msg *gomail.Msg) error {
	return c.session(ctx, func(cl *gomail.Client) error { return cl.DialAndSendWithContext(ctx, msg) })
}

// probe connects, upgrades to TLS and authenticates, then quits: the
// check Lookup makes that notices can be delivered.
func (c *Connector) probe(ctx context.Context) error {
	return c.session(ctx, func(cl *gomail.Client) error {
		if err := cl.DialWithContext(ctx); err != nil {
			return err
		}
		return cl.Close()
	})
}

// classify turns a delivery failure into a classified error naming the
// team, never the password (go-mail's errors carry the server's reply and
// the recipients, not credentials).
func (c *Connector) classify(op, team string, err error) *connectors.Error {
	wrap := func(kind connectors.Kind, status int) *connectors.Error {
		e := connectors.NewError(kind, c.name, op, fmt.Errorf("%s: %w", team, redact(err, c.password())))
		e.Status = status
		if kind == connectors.KindRateLimited {
			e.RetryAfter = time.Minute
		}
		return e
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return wrap(connectors.KindCanceled, 0)
	}
	code, enhanced := 0, ""
	var se *gomail.SendError
	var te *textproto.Error
	switch {
	case errors.As(err, &se) && se.ErrorCode() != 0:
		code, enhanced = se.ErrorCode(), se.EnhancedStatusCode()
	case errors.As(err, &te):
		code = te.Code
		enhanced, _, _ = strings.Cut(te.Msg, " ")
	}
	switch {
	case code == 0:
		// No reply: a transport failure (refused, reset, DNS, timeout),
		// unless it is a certificate or policy refusal.
		return connectors.Classify(c.name, op, fmt.Errorf("%s: %w", team, redact(err, c.password())))
	case code == 535 || code == 534 || code == 530:
		return wrap(connectors.KindAuth, code)
	case code >= 400 && code < 500 && strings.HasPrefix(enhanced, "4.7."):
		return wrap(connectors.KindRateLimited, code)
	case code >= 400 && code < 500:
		return wrap(connectors.KindTransient, code)
	case strings.HasPrefix(enhanced, "5.7."):
		return wrap(connectors.KindForbidden, code)
	default:
		return wrap(connectors.KindInvalid, code)
	}
}

// password returns the resolved password, or "".
func (c *Connector) password() string {
	if c.cfg.Password == nil {
		return ""
	}
	return c.cfg.Password.Value()
}

// redactedError keeps the chain of an error whose text had the password
// cut out.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func redact(err error, pw string) error {
	if pw == "" || err == nil || !strings.Contains(err.Error(), pw) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), pw, "<secret>"), err: err}
}
