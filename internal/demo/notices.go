package demo

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
	"gopkg.in/yaml.v3"

	"github.com/kineticsec/kinetic/bot"
	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/app"
	"github.com/kineticsec/kinetic/internal/compose"
	"github.com/kineticsec/kinetic/internal/secret"
	"github.com/kineticsec/kinetic/internal/text"
	"github.com/kineticsec/kinetic/store"
)

// The demo's notices: an in-process SMTP server (github.com/emersion/go-smtp,
// STARTTLS with a certificate made at start) receives the payroll and
// benefits notices an email connector instance ("notices") sends for Amara
// Okafor's case; payroll acknowledges through the signed link its message
// carries (GET then POST through the real /notices/ack handler) and
// benefits through the API callback (POST /api/v1/notices/{id}/ack).
const (
	demoNoticeConnector = "notices"
	demoNoticeAction    = "notify_by_email"
	demoNoticeEmployee  = "E1003"
	demoPayrollAddress  = "payroll@example.com"
	demoBenefitsAddress = "benefits@example.com"
	// The receiving teams' members (approver groups payroll and
	// benefits): who may acknowledge by button or callback.
	demoPayrollMember  = "E1027"
	demoBenefitsMember = "E0002"
	// demoPayrollSystem is the payroll system's API client token: it
	// calls back on the benefits team's behalf.
	demoPayrollSystemToken = "demo-payroll-system-token"
)

// mailbox is the demo's SMTP server: every message it accepts, in order.
type mailbox struct {
	srv    *smtp.Server
	port   int
	caFile string
	dir    string
	got    chan []byte
}

// startMailbox starts a real SMTP server on a loopback port speaking
// STARTTLS with a self-signed certificate for 127.0.0.1, whose PEM is
// written to a temporary file the email connector trusts (ca_file).
func startMailbox() (*mailbox, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "kinetic demo mail"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kinetic-demo-mail-")
	if err != nil {
		return nil, err
	}
	m := &mailbox{dir: dir, caFile: filepath.Join(dir, "ca.pem"), got: make(chan []byte, 16)}
	if err := os.WriteFile(m.caFile, certPEM, 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	m.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &mailSession{m: m, c: c}, nil }))
	m.srv.Domain = "mail.demo.invalid"
	m.srv.ReadTimeout, m.srv.WriteTimeout = 10*time.Second, 10*time.Second
	m.srv.MaxMessageBytes = 1 << 20
	m.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	m.port = ln.Addr().(*net.TCPAddr).Port
	go m.srv.Serve(ln) //nolint:errcheck // ends with Close
	return m, nil
}

// Close stops the server and removes the certificate file.
func (m *mailbox) Close() {
	m.srv.Close()
	os.RemoveAll(m.dir)
}

// next returns the next accepted message, or nil after wait.
func (m *mailbox) next(ctx context.Context, wait time.Duration) []byte {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case b := <-m.got:
		return b
	case <-t.C:
	case <-ctx.Done():
	}
	return nil
}

type mailSession struct {
	m *mailbox
	c *smtp.Conn
}

func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *mailSession) Data(r io.Reader) error {
	if _, ok := s.c.TLSConnectionState(); !ok {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Must issue a STARTTLS command first"}
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.m.got <- b
	return nil
}
func (s *mailSession) Reset()        {}
func (s *mailSession) Logout() error { return nil }

// withNotices starts the demo's mail server and adds to cfg's service the
// email connector instance pointing at it (the embedded file re-parsed
// with the additions, so the instance is validated like any other), the
// payroll and benefits approver groups, the outbound allowance for the
// loopback server, and signed acknowledgement links.
func withNotices(cfg *configs.Config) (*mailbox, error) {
	mb, err := startMailbox()
	if err != nil {
		return nil, fmt.Errorf("demo mail server: %w", err)
	}
	data, err := configs.EmbeddedFile("embedded.yaml")
	if err != nil {
		mb.Close()
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		mb.Close()
		return nil, err
	}
	root := doc.Content[0]
	add := func(key, value string) error {
		var v yaml.Node
		if err := yaml.Unmarshal([]byte(value), &v); err != nil {
			return err
		}
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Value == key {
				root.Content[i+1].Content = append(root.Content[i+1].Content, v.Content[0].Content...)
				return nil
			}
		}
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, v.Content[0])
		return nil
	}
	inst := fmt.Sprintf(`{%s: {owner: payroll, type: email, email: {host: 127.0.0.1, port: %d, tls: starttls, ca_file: %q,
		from: "Kinetic <offboarding@example.com>", teams: {payroll: [%s], benefits: [%s]}, timeout: 10s}}}`,
		demoNoticeConnector, mb.port, mb.caFile, demoPayrollAddress, demoBenefitsAddress)
	for _, kv := range [][2]string{
		{"connectors", inst},
		{"approver_groups", fmt.Sprintf(`{payroll: [%s], benefits: [%s]}`, demoPayrollMember, demoBenefitsMember)},
		{"outbound", `{allow_hosts: [127.0.0.1]}`},
		// The email channel: it mails the return instructions of a device
		// to the person's private address (equipment.go).
		{"chat", fmt.Sprintf(`{email: {host: 127.0.0.1, port: %d, tls: starttls, ca_file: %q, from: "Kinetic <offboarding@example.com>", timeout: 10s}}`,
			mb.port, mb.caFile)},
	} {
		if err := add(kv[0], kv[1]); err != nil {
			mb.Close()
			return nil, err
		}
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		mb.Close()
		return nil, err
	}
	svc, err := compose.ParseService("embedded.yaml (demo notices)", out)
	if err != nil {
		mb.Close()
		return nil, err
	}
	cfg.Service.Connectors[demoNoticeConnector] = svc.Connectors[demoNoticeConnector]
	cfg.Service.ApproverGroups = svc.ApproverGroups
	cfg.Service.Outbound = svc.Outbound
	cfg.Service.Chat.Email = svc.Chat.Email
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		mb.Close()
		return nil, err
	}
	// The page is the real handler's path; the demo calls the handler in
	// process, so the host is only what the link shows.
	cfg.Service.Notices = &configs.Notices{AckPage: "http://127.0.0.1:8080/notices/ack", AckKey: secret.FromValue(hex.EncodeToString(key)),
		AckTTL: configs.Duration(24 * time.Hour)}
	return mb, nil
}

// noticePolicy adds to the demo policy (root, the policy document's
// mapping) the notify action on the notices connector and a rule that
// gives it to Amara Okafor's case.
func noticePolicy(root *yaml.Node) (string, error) {
	var v yaml.Node
	if err := yaml.Unmarshal([]byte(fmt.Sprintf(`{
%[1]s_payroll: {description: "Tell payroll the final pay date by email", connector: %[2]s, operation: notify, phase: notifications, params: {template: final_pay, teams: payroll}},
%[1]s_benefits: {description: "Tell benefits the coverage end date by email", connector: %[2]s, operation: notify, phase: notifications, params: {template: benefits, teams: benefits}}}`,
		demoNoticeAction, demoNoticeConnector)), &v); err != nil {
		return "", err
	}
	found := false
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "actions" {
			root.Content[i+1].Content = append(root.Content[i+1].Content, v.Content[0].Content...)
			found = true
		}
	}
	if !found {
		return "", errors.New("policy has no actions")
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "rules" {
			var r yaml.Node
			if err := yaml.Unmarshal([]byte(fmt.Sprintf(`{name: demo notices by email, when: 'employee.id == "%s"', add: [%[2]s_payroll, %[2]s_benefits]}`, demoNoticeEmployee, demoNoticeAction)), &r); err != nil {
				return "", err
			}
			root.Content[i+1].Content = append(root.Content[i+1].Content, r.Content[0])
			return "Amara Okafor's payroll and benefits notices go by email (SMTP with STARTTLS) to an in-process mail server", nil
		}
	}
	return "", errors.New("policy has no rules")
}

// noticeSent reports whether act is a notify action on the demo's email
// connector that recorded its notices (one per team): mail has no
// read-back, the notice's proof is its acknowledgement, which
// noticesPhase checks.
func noticeSent(ctx context.Context, a *app.App, act *store.Action) bool {
	if act.Connector != demoNoticeConnector || act.Status != store.ActionSucceeded {
		return false
	}
	ns, err := a.Store.CaseNotices(ctx, act.CaseID)
	if err != nil {
		return false
	}
	for _, n := range ns {
		if n.ActionID == act.ID {
			return true
		}
	}
	return false
}

// dateHeaders are the notice headers the demo prints.
var dateHeaders = []string{"X-Kinetic-Last-Working-Day", "X-Kinetic-Final-Pay-Date", "X-Kinetic-Benefits-End-Date", "X-Kinetic-Continuation-Notice"}

var ackLink = regexp.MustCompile(`https?://[^\s<>"]+/notices/ack\?t=[A-Za-z0-9._~%=-]+`)

// noticesPhase shows Amara Okafor's notices: both messages arrive over
// TLS with her dates; payroll acknowledges through its link (a wrong
// address refused first), benefits through the API callback (someone not
// on the team refused first); every refusal changes nothing. The case
// stays open for her laptop, with access fully revoked long before.
func noticesPhase(ctx context.Context, a *app.App, o Options, mb *mailbox, c *store.Case, check func(bool, string, ...any)) bool {
	fmt.Fprintf(o.Out, "\nNotices for %s, by email to payroll and benefits (in-process SMTP server, STARTTLS):\n", c.EmployeeName)
	ok := true
	chk := func(cond bool, format string, args ...any) {
		ok = ok && cond
		check(cond, format, args...)
	}
	links := map[string]string{}
	for range 2 {
		raw := mb.next(ctx, 15*time.Second)
		if raw == nil {
			chk(false, "a notice reached the mail server")
			return false
		}
		m, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			chk(false, "a notice is a mail message: %v", err)
			return false
		}
		var body io.Reader = m.Body
		if m.Header.Get("Content-Transfer-Encoding") == "quoted-printable" {
			body = quotedprintable.NewReader(body)
		}
		b, _ := io.ReadAll(body)
		to := m.Header.Get("To")
		fmt.Fprintf(o.Out, "  To: %s\n  Subject: %s\n", to, m.Header.Get("Subject"))
		var dates []string
		for _, h := range dateHeaders {
			if v := m.Header.Get(h); v != "" {
				dates = append(dates, strings.TrimPrefix(h, "X-Kinetic-")+": "+v)
			}
		}
		fmt.Fprintf(o.Out, "    %s\n", strings.Join(dates, "; "))
		team := "benefits"
		if strings.Contains(to, demoPayrollAddress) {
			team = "payroll"
		}
		links[team] = ackLink.FindString(string(b))
		chk(m.Header.Get("X-Kinetic-Final-Pay-Date") != "" && m.Header.Get("X-Kinetic-Last-Working-Day") != "" && links[team] != "",
			"the %s notice carries the last working day, the final pay date and a signed acknowledgement link", team)
	}
	ns, err := a.Store.CaseNotices(ctx, c.ID)
	if err != nil || len(ns) != 2 {
		chk(false, "two notices recorded for case %d (%d, %v)", c.ID, len(ns), err)
		return false
	}
	byTeam := map[string]store.Notice{}
	for _, n := range ns {
		byTeam[n.Team] = n
	}
	open := openSummary(ctx, a, c.ID)
	chk(strings.Contains(open, "notice"), "%s: access fully revoked, the case waits for %s", c.EmployeeName, open)

	h := bot.NewHandler(bot.ServerOptions{Engine: a.Engine, Log: o.Log, APIClients: map[string]bot.APIClient{
		"payroll-system": {Token: demoPayrollSystemToken, Scopes: []string{configs.ScopeActionsOperate}, ActAs: []string{engine.ActAsAny}},
	}})
	serve := func(req *http.Request) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, strings.Join(strings.Fields(rec.Body.String()), " ")
	}
	unchanged := func(team string) bool {
		n, err := a.Store.Notice(ctx, byTeam[team].ID)
		return err == nil && n.Open()
	}

	// Payroll: the link, GET (changes nothing) then POST with the address.
	u, err := url.Parse(links["payroll"])
	if err != nil {
		chk(false, "the payroll link parses: %v", err)
		return false
	}
	code, page := serve(httptest.NewRequest(http.MethodGet, u.RequestURI(), nil))
	chk(code == http.StatusOK && strings.Contains(page, "Confirm") && unchanged("payroll"),
		"payroll opens its link: GET /notices/ack shows the confirmation form (%d) and records nothing", code)
	post := func(address string) (int, string) {
		form := url.Values{"t": {u.Query().Get("t")}, "address": {address}}
		req := httptest.NewRequest(http.MethodPost, u.Path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return serve(req)
	}
	code, _ = post("someone@example.com")
	chk(code == http.StatusForbidden && unchanged("payroll"), "an address the notice did not go to is refused (%d) and nothing changed", code)
	code, page = post(demoPayrollAddress)
	chk(code == http.StatusOK && !unchanged("payroll"), "payroll confirms receipt: POST /notices/ack as %s (%d) %s", demoPayrollAddress, code, text.Fit(htmlText(page), 120))
	code, _ = post(demoPayrollAddress)
	chk(code == http.StatusConflict, "the same link again is refused as already acknowledged (%d)", code)

	// Benefits: the API callback, on behalf of a member of the team.
	callback := func(as string) (int, string) {
		b, _ := json.Marshal(bot.NoticeAckRequest{As: as})
		req := httptest.NewRequest(http.MethodPost, fmt.Sprintf("/api/v1/notices/%d/ack", byTeam["benefits"].ID), bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+demoPayrollSystemToken)
		req.Header.Set("Content-Type", "application/json")
		return serve(req)
	}
	code, body := callback(c.EmployeeID)
	chk(code >= 400 && unchanged("benefits"), "%s acknowledging her own notice is refused (%d) and nothing changed — %s", c.EmployeeName, code, text.Fit(body, 120))
	code, body = callback("E1004")
	chk(code == http.StatusForbidden && unchanged("benefits"), "someone not on the benefits team (E1004) is refused (%d) and nothing changed — %s", code, text.Fit(body, 120))
	code, body = callback(demoBenefitsMember)
	chk(code == http.StatusOK && !unchanged("benefits"), "benefits acknowledges through the callback, POST /api/v1/notices/%d/ack as %s %s", byTeam["benefits"].ID, demoBenefitsMember, errBody(code, body))

	after, err := a.Store.CaseWithActions(ctx, c.ID)
	if err != nil {
		return false
	}
	open = openSummary(ctx, a, c.ID)
	chk(after.RevokedAt != nil && after.ClosedAt == nil && !strings.Contains(open, "notice"),
		"%s: both notices acknowledged; access fully revoked %s, still not closed — waiting for %s", c.EmployeeName, sinceEffective(after, after.RevokedAt), open)
	return ok
}

// htmlText strips tags from a small HTML page.
func htmlText(s string) string {
	return strings.Join(strings.Fields(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(s, " ")), " ")
}
