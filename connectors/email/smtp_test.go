package email

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

	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

// testPassword is the SMTP password the test server accepts; it must
// never appear in an error.
const testPassword = "s3cret-smtp-Passw0rd"

// delivered is one message the test server accepted.
type delivered struct {
	from   string
	rcpts  []string
	data   []byte
	tls    bool
	authed string
}

// smtpServer is a real SMTP server (github.com/emersion/go-smtp) on a
// loopback port, with TLS from a certificate made for the test.
type smtpServer struct {
	t        *testing.T
	addr     string
	port     int
	caFile   string
	srv      *smtp.Server
	got      chan delivered
	mu       sync.Mutex
	failNext *smtp.SMTPError // returned by the next DATA
	failAuth bool
	// failSession refuses the next AUTH with its reply.
	failSession *smtp.SMTPError
}

// newSMTPServer starts a server speaking STARTTLS (implicit false) or TLS
// from the first byte (implicit true). With noTLS it offers no STARTTLS.
func newSMTPServer(t *testing.T, implicit, noTLS bool) *smtpServer {
	t.Helper()
	cert, caFile := selfSigned(t)
	s := &smtpServer{t: t, caFile: caFile, got: make(chan delivered, 10)}
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
	s.addr = ln.Addr().String()
	s.port = ln.Addr().(*net.TCPAddr).Port
	s.srv = srv
	if implicit {
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

type session struct {
	s      *smtpServer
	c      *smtp.Conn
	msg    delivered
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
		if fail || username != "kinetic" || password != testPassword {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		ss.authed = username
		return nil
	}), nil
}
func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.msg.from = from
	return nil
}
func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.msg.rcpts = append(ss.msg.rcpts, to)
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
	_, ss.msg.tls = ss.c.TLSConnectionState()
	ss.msg.data = b
	ss.msg.authed = ss.authed
	ss.s.got <- ss.msg
	ss.msg = delivered{}
	return nil
}
func (ss *session) Reset()        { ss.msg = delivered{} }
func (ss *session) Logout() error { return nil }

// failData makes the next DATA fail with the given reply.
func (s *smtpServer) failData(code int, enh smtp.EnhancedCode, msg string) {
	s.mu.Lock()
	s.failNext = &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: msg}
	s.mu.Unlock()
}

// failNextSession makes the next connection's AUTH fail with the reply.
func (s *smtpServer) failNextSession(code int, enh smtp.EnhancedCode, msg string) {
	s.mu.Lock()
	s.failSession = &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: msg}
	s.mu.Unlock()
}

// next returns the next delivered message, failing the test after a
// deadline.
func (s *smtpServer) next() delivered {
	s.t.Helper()
	select {
	case d := <-s.got:
		return d
	case <-time.After(10 * time.Second):
		s.t.Fatal("no message reached the SMTP server")
	}
	return delivered{}
}

// none checks that nothing was delivered (everything the connector sends
// has been accepted or refused by the time Do returns, so no wait).
func (s *smtpServer) none() {
	s.t.Helper()
	select {
	case d := <-s.got:
		s.t.Fatalf("unexpected message delivered: %s", d.data)
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

// loopbackPolicy allows the test server's address.
func loopbackPolicy(t *testing.T) *outbound.URLPolicy {
	p, err := outbound.NewURLPolicy([]string{"127.0.0.1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func testConfig(s *smtpServer, mode string) Config {
	pw := secret.FromValue(testPassword)
	return Config{
		Host: "127.0.0.1", Port: s.port, TLS: mode, CAFile: s.caFile,
		Username: "kinetic", Password: &pw,
		From:    "Kinetic <offboarding@corp.example>",
		Teams:   map[string][]string{"payroll": {"payroll@corp.example"}, "benefits": {"benefits@corp.example", "hr-ops@corp.example"}},
		Timeout: 0,
	}
}

func newConn(t *testing.T, cfg Config) *Connector {
	t.Helper()
	c, err := New("mail", cfg, loopbackPolicy(t))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func parse(t *testing.T, raw []byte) (*mail.Message, string) {
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
