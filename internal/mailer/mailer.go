// Package mailer sends email by SMTP submission with mandatory TLS
// (STARTTLS, RFC 3207, or implicit, RFC 8314) through
// github.com/wneessen/go-mail, over connections the outbound URL policy
// allowed, with the server's certificate always verified. The email
// connector (notices) and the email channel of the routing model both
// send through it. It reads no configuration and knows no connector or
// chat.
package mailer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/kineticsec/kinetic/internal/outbound"
)

// Options configure a Mailer.
type Options struct {
	// Host is the submission server; Port its port (default 587, or 465
	// with Implicit).
	Host string
	Port int
	// Implicit speaks TLS from the first byte; otherwise STARTTLS is
	// required before anything else is sent.
	Implicit bool
	// CAFile is a PEM bundle to trust instead of the system roots.
	CAFile string
	// Username and Password authenticate (SCRAM-SHA-256, SCRAM-SHA-1,
	// PLAIN or LOGIN, never before TLS); empty Username: no AUTH.
	Username, Password string
	// Timeout bounds one SMTP conversation; default 30s.
	Timeout time.Duration
	// HELO is the name given in EHLO; default go-mail's ("localhost").
	HELO string
	// Policy is the outbound URL policy every connection obeys (nil
	// refuses internal addresses).
	Policy *outbound.URLPolicy
}

// Mailer sends messages. It is safe for concurrent use.
type Mailer struct {
	o   Options
	tls *tls.Config
	// Dial connects (the policy's dialer; tests may replace it).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// New returns a mailer; it fails only on an unreadable CA file.
func New(o Options) (*Mailer, error) {
	host := strings.Trim(o.Host, "[]")
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: cannot read: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("ca_file: no PEM certificate in the file")
		}
		tc.RootCAs = pool
	}
	if o.Port == 0 {
		o.Port = 587
		if o.Implicit {
			o.Port = 465
		}
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	o.Host = host
	return &Mailer{o: o, tls: tc, Dial: o.Policy.DialContext}, nil
}

// SetPort changes the port (tests: a server that came back elsewhere).
func (m *Mailer) SetPort(p int) { m.o.Port = p }

// session runs fn with a go-mail client; a cancelled context closes the
// connection.
func (m *Mailer) session(ctx context.Context, fn func(*gomail.Client) error) error {
	var mu sync.Mutex
	var conns []net.Conn
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := m.Dial(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		if m.o.Implicit {
			tc := tls.Client(conn, m.tls)
			if err := tc.HandshakeContext(dctx); err != nil {
				conn.Close()
				return nil, err
			}
			conn = tc
		}
		mu.Lock()
		defer mu.Unlock()
		// A cancellation that came while dialling found no connection to
		// close (the AfterFunc below runs under mu): close it here.
		if err := ctx.Err(); err != nil {
			conn.Close()
			return nil, err
		}
		conns = append(conns, conn)
		return conn, nil
	}
	opts := []gomail.Option{
		gomail.WithPort(m.o.Port), gomail.WithTimeout(m.o.Timeout), gomail.WithTLSConfig(m.tls),
		gomail.WithDialContextFunc(dial),
	}
	if m.o.HELO != "" {
		opts = append(opts, gomail.WithHELO(m.o.HELO))
	}
	if m.o.Implicit {
		// The dial above already speaks TLS; go-mail must not try STARTTLS.
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if m.o.Username != "" {
		// Named mechanisms rather than go-mail's discovery, which cannot
		// see that an implicit-TLS connection dialled here is encrypted;
		// go-mail's SMTP client still refuses PLAIN and LOGIN on a
		// connection that is not TLS.
		opts = append(opts, gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1, gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
			gomail.WithUsername(m.o.Username), gomail.WithPassword(m.o.Password))
	}
	client, err := gomail.NewClient(m.o.Host, opts...)
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
	return m.redact(err)
}

// Send delivers one message.
func (m *Mailer) Send(ctx context.Context, msg *gomail.Msg) error {
	return m.session(ctx, func(cl *gomail.Client) error { return cl.DialAndSendWithContext(ctx, msg) })
}

// Probe connects, upgrades to TLS and authenticates, then quits.
func (m *Mailer) Probe(ctx context.Context) error {
	return m.session(ctx, func(cl *gomail.Client) error {
		if err := cl.DialWithContext(ctx); err != nil {
			return err
		}
		return cl.Close()
	})
}

// Reply returns the SMTP reply code and enhanced status (RFC 3463, e.g.
// "5.7.1") an error carries, or 0 and "" when the server gave none (a
// transport failure).
func Reply(err error) (int, string) {
	var se *gomail.SendError
	var te *textproto.Error
	switch {
	case errors.As(err, &se) && se.ErrorCode() != 0:
		return se.ErrorCode(), se.EnhancedStatusCode()
	case errors.As(err, &te):
		enh, _, _ := strings.Cut(te.Msg, " ")
		return te.Code, enh
	}
	return 0, ""
}

// redactedError keeps the chain of an error whose text had the password
// cut out.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func (m *Mailer) redact(err error) error {
	pw := m.o.Password
	if pw == "" || err == nil || !strings.Contains(err.Error(), pw) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), pw, "<secret>"), err: err}
}
