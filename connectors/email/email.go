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
	"errors"
	"fmt"
	"maps"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/mailer"
	"github.com/kineticsec/kinetic/internal/outbound"
)

// Connector sends notices by email. It is safe for concurrent use.
type Connector struct {
	name   string
	cfg    Config
	from   *mail.Address
	domain string
	mail   *mailer.Mailer

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
	pw := ""
	if cfg.Password != nil {
		pw = cfg.Password.Value()
	}
	m, err := mailer.New(mailer.Options{Host: cfg.Host, Port: cfg.port(), Implicit: cfg.TLS == TLSImplicit, CAFile: cfg.CAFile,
		Username: cfg.Username, Password: pw, Timeout: cfg.Timeout.D(), HELO: domain, Policy: policy})
	if err != nil {
		return nil, &FieldError{Field: "ca_file", Err: errors.New(strings.TrimPrefix(err.Error(), "ca_file: "))}
	}
	return &Connector{name: name, cfg: cfg, from: from, domain: domain, mail: m, sent: map[string]string{}}, nil
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
	if err := c.mail.Probe(ctx); err != nil {
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
		if err := c.mail.Send(ctx, msg); err != nil {
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

// classify turns a delivery failure into a classified error naming the
// team, never the password (go-mail's errors carry the server's reply and
// the recipients, not credentials).
func (c *Connector) classify(op, team string, err error) *connectors.Error {
	wrap := func(kind connectors.Kind, status int) *connectors.Error {
		e := connectors.NewError(kind, c.name, op, fmt.Errorf("%s: %w", team, err))
		e.Status = status
		if kind == connectors.KindRateLimited {
			e.RetryAfter = time.Minute
		}
		return e
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return wrap(connectors.KindCanceled, 0)
	}
	code, enhanced := mailer.Reply(err)
	switch {
	case code == 0:
		// No reply: a transport failure (refused, reset, DNS, timeout),
		// unless it is a certificate or policy refusal.
		return connectors.Classify(c.name, op, fmt.Errorf("%s: %w", team, err))
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
