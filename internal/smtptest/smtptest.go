// Package smtptest runs a real SMTP server (github.com/emersion/go-smtp)
// in process for tests: on a loopback port, with TLS from a certificate
// made for the test (STARTTLS or implicit), PLAIN authentication, and
// replies a test can script. Only tests import it.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Password is the SMTP password the test server accepts (user "kinetic"); it must
// never appear in an error.
const Password = "s3cret-smtp-Passw0rd"

// delivered is one message the test server accepted.
type Delivered struct {
	From   string
	Rcpts  []string
	Data   []byte
	TLS    bool
	Authed string
}

// smtpServer is a real SMTP server (github.com/emersion/go-smtp) on a
// loopback port, with TLS from a certificate made for the test.
type Server struct {
	t *testing.T
	// Addr is host:port, Port the port.
	Addr string
	Port int
	// CAFile is the PEM file of the server's self-signed certificate.
	CAFile string
	// Srv is the go-smtp server (tests may set AllowInsecureAuth).
	Srv      *smtp.Server
	got      chan Delivered
	mu       sync.Mutex
	failNext *smtp.SMTPError // returned by the next DATA
	failAuth bool
	// failSession refuses the next AUTH with its reply.
	failSession *smtp.SMTPError
}

// newSMTPServer starts a server speaking STARTTLS (implicit false) or TLS
// from the first byte (implicit true). With noTLS it offers no STARTTLS.
func Start(t *testing.T, implicit, noTLS bool) *Server {
	t.Helper()
	cert, caFile := selfSigned(t)
	s := &Server{t: t, CAFile: caFile, got: make(chan Delivered, 10)}
	be := smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, c: c}, nil
	})
	srv := smtp.NewServer(be)
	srv.Domain = "mx.test"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	if !noTLS {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	s.Port = ln.Addr().(*net.TCPAddr).Port
	s.Srv = srv
	if implicit {
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

type session struct {
	s      *Server
	c      *smtp.Conn
	msg    Delivered
	authed string
}

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }
func (ss *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		ss.s.mu.Lock()
		fail, once := ss.s.failAuth, ss.s.failSession
		ss.s.failSession = nil
		ss.s.mu.Unlock()
		if once != nil {
			return once
		}
		if fail || username != "kinetic" || password != Password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		ss.authed = username
		return nil
	}), nil
}
func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.msg.From = from
	return nil
}
func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.msg.Rcpts = append(ss.msg.Rcpts, to)
	return nil
}
func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	fail := ss.s.failNext
	ss.s.failNext = nil
	ss.s.mu.Unlock()
	if fail != nil {
		return fail
	}
	_, ss.msg.TLS = ss.c.TLSConnectionState()
	ss.msg.Data = b
	ss.msg.Authed = ss.authed
	ss.s.got <- ss.msg
	ss.msg = Delivered{}
	return nil
}
func (ss *session) Reset()        { ss.msg = Delivered{} }
func (ss *session) Logout() error { return nil }

// failData makes the next DATA fail with the given reply.
func (s *Server) FailData(code int, enh smtp.EnhancedCode, msg string) {
	s.mu.Lock()
	s.failNext = &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: msg}
	s.mu.Unlock()
}

// failNextSession makes the next connection's AUTH fail with the reply.
func (s *Server) FailNextAuth(code int, enh smtp.EnhancedCode, msg string) {
	s.mu.Lock()
	s.failSession = &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: msg}
	s.mu.Unlock()
}

// next returns the next delivered message, failing the test after a
// deadline.
func (s *Server) Next() Delivered {
	s.t.Helper()
	select {
	case d := <-s.got:
		return d
	case <-time.After(10 * time.Second):
		s.t.Fatal("no message reached the SMTP server")
	}
	return Delivered{}
}

// none checks that nothing was delivered (everything the connector sends
// has been accepted or refused by the time Do returns, so no wait).
func (s *Server) None() {
	s.t.Helper()
	select {
	case d := <-s.got:
		s.t.Fatalf("unexpected message delivered: %s", d.Data)
	default:
	}
}

// selfSigned makes a certificate for 127.0.0.1 and writes it as the CA
// file the connector trusts.
func selfSigned(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mx.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"mx.test"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kb, _ := x509.MarshalECPrivateKey(key)
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(f, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, f
}

// Parse reads a delivered message, decoding a quoted-printable body.
func Parse(t *testing.T, raw []byte) (*mail.Message, string) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not a mail message: %v\n%s", err, raw)
	}
	var r io.Reader = m.Body
	if m.Header.Get("Content-Transfer-Encoding") == "quoted-printable" {
		r = quotedprintable.NewReader(r)
	}
	body, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return m, string(body)
}

// SetFailAuth makes every AUTH fail with 535 (true) or succeed with the
// right password (false).
func (s *Server) SetFailAuth(fail bool) {
	s.mu.Lock()
	s.failAuth = fail
	s.mu.Unlock()
}
