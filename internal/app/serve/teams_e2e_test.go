package serve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/bot"
	slackbot "github.com/kineticsec/kinetic/bot/slackbot"
	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/bot/slackbot/slacktest"
	"github.com/kineticsec/kinetic/bot/teams/cards"
	"github.com/kineticsec/kinetic/bot/teams/connector"
	"github.com/kineticsec/kinetic/bot/teams/teamstest"
	"github.com/kineticsec/kinetic/bot/teamsapp"
	"github.com/kineticsec/kinetic/internal/app/serve"
	"github.com/kineticsec/kinetic/internal/compose"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// Teams users of the e2e directory: HR id → AAD object id (the
// directory's chat_user_id) and display name.
var e2eUsers = map[string][2]string{
	"M1": {"00000000-0000-0000-0000-0000000000a1", "Mia Manager"},
	"E1": {"00000000-0000-0000-0000-0000000000e1", "Erin Employee"},
	"E2": {"00000000-0000-0000-0000-0000000000e2", "Carl Contractor"},
	"H1": {"00000000-0000-0000-0000-0000000000b1", "Hal HR"},
	"H2": {"00000000-0000-0000-0000-0000000000b2", "Hana HR"},
	"L1": {"00000000-0000-0000-0000-0000000000c1", "Lee Legal"},
	"L2": {"00000000-0000-0000-0000-0000000000c2", "Lou Legal"},
}

const (
	e2eAppID      = "6a0c2f4e-1b7d-4c3e-9f5a-2d8e7b6c5a41"
	e2eTenant     = "3f2e1d0c-9b8a-4f6e-8d5c-4b3a2f1e0d9c"
	e2eOffboard   = "19:offboarding@thread.tacv2"
	e2eAlerts     = "19:security-alerts@thread.tacv2"
	e2eAPIToken   = "e2e-api-token-5c1d"
	e2eWaitWithin = 60 * time.Second
)

// teamsServe is a running `kinetic serve` (serve.Run, as the kinetic
// command calls it) with the Teams front end, against https fakes of the
// Bot Connector service and the Bot Framework token issuer.
type teamsServe struct {
	t    *testing.T
	fake *teamstest.Connector
	is   *teamstest.Issuer
	base string
	seq  atomic.Int64
}

// startTeamsServe writes a service file whose chat.teams points at the
// fakes (https URLs, which configs requires) and runs serve on it; the
// fakes' certificate is trusted through serve.Options.RootCAs, the only
// test hook. chatExtra is added under chat: (a chat.slack block), files
// are written beside the service file (its secrets).
func startTeamsServe(t *testing.T, chatExtra string, files map[string]string) *teamsServe {
	t.Helper()
	return startTeamsServeWith(t, serveSetup{chatExtra: chatExtra, files: files, chatIDs: true})
}

// serveSetup varies the service file of startTeamsServeWith.
type serveSetup struct {
	chatExtra  string            // under chat:
	teamsExtra string            // under chat.teams:
	files      map[string]string // beside the service file
	// chatIDs puts the Teams users' object ids in the directory's
	// chat_user_id; without, people are mapped through Graph by email.
	chatIDs        bool
	approverGroups string // default {hr: [H1, H2, M1], legal: [L1, L2], security: [S1]}
	// cert, when set, is the bot's credential instead of the client
	// secret (chat.teams.certificate and private_key); the fake token
	// endpoint then accepts only assertions its key signed.
	cert *teamstest.Certificate
}

func startTeamsServeWith(t *testing.T, o serveSetup) *teamsServe {
	chatExtra, files := o.chatExtra, o.files
	if o.approverGroups == "" {
		o.approverGroups = "{hr: [H1, H2, M1], legal: [L1, L2], security: [S1]}"
	}
	t.Helper()
	fake := teamstest.NewTLSConnector(t)
	fake.AppID = e2eAppID // a GUID, as chat.teams.app_id must be
	is := teamstest.NewTLSIssuer(t)
	is.Endorse("key-1", "msteams")
	dir := t.TempDir()
	credential := "    app_password: {file: teams-secret}\n"
	if o.cert != nil {
		fake.Secret, fake.Certificate = "", o.cert.Cert
		credential = "    certificate: teams.pem\n    private_key: {file: teams.key}\n"
		if o.files == nil {
			o.files = map[string]string{}
		}
		o.files["teams.pem"], o.files["teams.key"] = string(o.cert.CertPEM), string(o.cert.KeyPEM)
		files = o.files
	}

	var people []map[string]any
	if err := json.Unmarshal([]byte(testkit.Directory), &people); err != nil {
		t.Fatal(err)
	}
	for _, p := range people {
		if u, ok := e2eUsers[p["id"].(string)]; ok && o.chatIDs {
			p["chat_user_id"] = u[0]
		}
	}
	dirJSON, _ := json.Marshal(people)
	addr := freeAddr(t)
	var conns strings.Builder
	for _, sys := range []string{"ad", "okta", "badge", "assets", "payroll", "m365"} {
		fmt.Fprintf(&conns, "  %s: {type: sandbox, sandbox: {system: %s}}\n", sys, sys)
	}
	svc := fmt.Sprintf(`simulated: true
http:
  addr: %s
  api_tokens:
    reader: {file: api-token}
database: {driver: sqlite, path: %s}
redis: {embedded: true}
directory: {file: directory.json}
policy: policy.yaml
admins: [A1]
approver_groups: %s
alerts: {security_channel: security-alerts, security_officers: [S1]}
routing:
  security-alerts:
    teams: {conversation: "%s"}
outbound: {allow_hosts: [127.0.0.1]}
workers: {concurrency: 8, lease: 5s, sweep_interval: 200ms}
log: {level: warn, format: text}
chat:
  teams:
    app_id: %s
%s    tenant_id: %s
    service_url: %s
    openid_metadata_url: %s
    entra_metadata_url: %s
    token_url: %s
    offboarding_conversation: "%s"
%s%sconnectors:
%s`, addr, filepath.Join(dir, "kinetic.db"), o.approverGroups, e2eAlerts, e2eAppID, credential, e2eTenant, fake.URL(), is.MetadataURL(), is.MetadataURL(), fake.TokenURL(), e2eOffboard, o.teamsExtra, chatExtra, conns.String())
	if files == nil {
		files = map[string]string{}
	}
	for name, data := range map[string]string{
		"kinetic.yaml": svc, "policy.yaml": testkit.ApprovalPolicy, "directory.json": string(dirJSON),
		"teams-secret": fake.Secret, "api-token": e2eAPIToken,
	} {
		files[name] = data
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := compose.Load(filepath.Join(dir, "kinetic.yaml"))
	if err != nil {
		t.Fatalf("loading the service file: %v", err)
	}
	// httptest's TLS servers share one certificate: trusting the
	// connector's trusts the issuer's.
	roots := fake.CertPool()
	if roots == nil || is.CertPool() == nil {
		t.Fatal("a fake is not on https")
	}

	l := logrus.New()
	l.Out = io.Discard
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve.Run(ctx, cfg, serve.Options{Name: "serve", Front: true, Log: logrus.NewEntry(l), RootCAs: roots})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop within 30s")
		}
	})
	s := &teamsServe{t: t, fake: fake, is: is, base: "http://" + addr}
	testkit.Eventually(t, 30*time.Second, func() bool {
		select {
		case err := <-done:
			t.Fatalf("serve ended: %v", err)
		default:
		}
		res, err := http.Get(s.base + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}, func() string { return "serve did not become ready" })
	return s
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (s *teamsServe) account(hrID string) *connector.ChannelAccount {
	u := e2eUsers[hrID]
	return &connector.ChannelAccount{ID: "29:" + u[0], Name: u[1], AADObjectID: u[0]}
}

// activity is an activity from HR person hrID in their personal chat.
func (s *teamsServe) activity(typ, hrID string) *connector.Activity {
	return &connector.Activity{
		Type: typ, ID: fmt.Sprintf("in-%d", s.seq.Add(1)), ServiceURL: s.fake.URL(), ChannelID: "msteams", From: s.account(hrID),
		Recipient:    &connector.ChannelAccount{ID: "28:" + e2eAppID, Name: "Kinetic"},
		Conversation: &connector.ConversationAccount{ID: "a:personal-" + hrID, ConversationType: "personal", TenantID: e2eTenant},
	}
}

func (s *teamsServe) message(from, text string, mentioned ...string) *connector.Activity {
	a := s.activity(connector.TypeMessage, from)
	a.Text = text
	for _, id := range mentioned {
		m := s.account(id)
		a.Entities = append(a.Entities, connector.Entity{Type: "mention", Mentioned: m, Text: "<at>" + m.Name + "</at>"})
	}
	return a
}

func (s *teamsServe) invoke(from, verb string, data map[string]any) *connector.Activity {
	a := s.activity(connector.TypeInvoke, from)
	a.Name = "adaptiveCard/action"
	a.Value, _ = json.Marshal(map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"})
	return a
}

func (s *teamsServe) token() string { return s.is.Token(e2eAppID, s.fake.URL(), time.Now()) }

// post sends a to serve's /teams/messages with token over the network.
func (s *teamsServe) post(a *connector.Activity, token string) (int, []byte) {
	s.t.Helper()
	body, _ := json.Marshal(a)
	req, _ := http.NewRequest(http.MethodPost, s.base+"/teams/messages", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// answer posts a signed invoke and returns the invoke response's type and
// value (the refreshed card, or the text shown to the clicker).
func (s *teamsServe) answer(a *connector.Activity) (typ, value string) {
	s.t.Helper()
	code, b := s.post(a, s.token())
	var r struct {
		StatusCode int             `json:"statusCode"`
		Type       string          `json:"type"`
		Value      json.RawMessage `json:"value"`
	}
	if code != http.StatusOK || json.Unmarshal(b, &r) != nil || r.StatusCode != 200 {
		s.t.Fatalf("invoke %s answered %d: %s", a.Name, code, b)
	}
	return r.Type, string(r.Value)
}

func cardText(c teamstest.Call) string {
	if c.Activity == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(c.Activity.Text)
	for _, at := range c.Activity.Attachments {
		b.Write(at.Content)
	}
	return b.String()
}

func (s *teamsServe) waitCall(what string, ok func(teamstest.Call) bool) teamstest.Call {
	s.t.Helper()
	var got teamstest.Call
	testkit.Eventually(s.t, e2eWaitWithin, func() bool {
		for _, c := range s.fake.Calls() {
			if ok(c) {
				got = c
				return true
			}
		}
		return false
	}, func() string {
		var lines []string
		for _, c := range s.fake.Calls() {
			lines = append(lines, c.Op+" "+c.ConversationID+" "+c.ActivityID+" "+cardText(c))
		}
		return fmt.Sprintf("no %s among the Bot Connector calls:\n%s", what, strings.Join(lines, "\n"))
	})
	return got
}

// apiCase reads a case through the API.
func (s *teamsServe) apiCase(id int64) (status string, actions []bot.ActionView) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/v1/cases/%d", s.base, id), nil)
	req.Header.Set("Authorization", "Bearer "+e2eAPIToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	var c struct {
		Status  string           `json:"status"`
		Actions []bot.ActionView `json:"actions"`
	}
	if err := json.NewDecoder(res.Body).Decode(&c); err != nil || res.StatusCode != http.StatusOK {
		s.t.Fatalf("GET case %d: %d %v", id, res.StatusCode, err)
	}
	return c.Status, c.Actions
}

var (
	caseRef     = regexp.MustCompile(`"kineticId":"case:(\d+)"`)
	approvalRef = regexp.MustCompile(`"kineticId":"approval:(\d+)"`)
)

func refIn(t *testing.T, re *regexp.Regexp, card string) int64 {
	t.Helper()
	m := re.FindStringSubmatch(card)
	if m == nil {
		t.Fatalf("no %s in %s", re, card)
	}
	var id int64
	fmt.Sscan(m[1], &id)
	return id
}

// TestServeTeamsOnlyOffboardsEndToEnd is issue #15's "done when": kinetic
// serve with only chat.teams configured (no Slack) offboards a person from
// a signed Teams message through confirmation and closure, an approval
// invoke changes a plan, and a forged token is refused — every call over
// the network, the Bot Connector and token issuer being https fakes.
func TestServeTeamsOnlyOffboardsEndToEnd(t *testing.T) {
	s := startTeamsServe(t, "", nil)

	// A forged token (a key the issuer never published) is refused and
	// changes nothing.
	forged := teamstest.NewIssuer(t).Token(e2eAppID, s.fake.URL(), time.Now())
	if code, body := s.post(s.message("M1", "offboard <at>Carl Contractor</at> contract ended", "E2"), forged); code != http.StatusUnauthorized {
		t.Fatalf("a forged token answered %d: %s", code, body)
	}
	if code, _ := s.post(s.message("M1", "offboard <at>Carl Contractor</at> contract ended", "E2"), ""); code != http.StatusUnauthorized {
		t.Fatalf("no token answered %d", code)
	}
	if calls := s.fake.Calls(); len(calls) != 0 {
		t.Fatalf("refused requests made Bot Connector calls: %+v", calls)
	}

	// A signed message opens a case; the plan card arrives in Mia's chat.
	if code, body := s.post(s.message("M1", "offboard <at>Carl Contractor</at> contract ended", "E2"), s.token()); code != http.StatusOK {
		t.Fatalf("the signed message answered %d: %s", code, body)
	}
	preview := s.waitCall("plan preview in Mia's chat", func(c teamstest.Call) bool {
		return c.Op == "send" && strings.Contains(cardText(c), cards.VerbConfirmPlan) && strings.Contains(cardText(c), "Carl Contractor")
	})
	caseID := refIn(t, caseRef, cardText(preview))
	if st, _ := s.apiCase(caseID); st != store.CaseAwaitingConfirmation {
		t.Fatalf("case %d is %s before the confirmation", caseID, st)
	}
	// Someone else's Confirm is refused to them; Mia's runs the plan.
	if typ, text := s.answer(s.invoke("H2", cards.VerbConfirmPlan, map[string]any{"kineticId": blocks.CaseValue(caseID)})); !strings.Contains(text, "refused") {
		t.Fatalf("Hana's confirm: %s %s", typ, text)
	}
	if typ, card := s.answer(s.invoke("M1", cards.VerbConfirmPlan, map[string]any{"kineticId": blocks.CaseValue(caseID)})); strings.Contains(card, cards.VerbConfirmPlan) {
		t.Fatalf("Mia's confirm answered %s %s", typ, card)
	}
	card := s.waitCall("the status card in the offboarding conversation", func(c teamstest.Call) bool {
		return c.Op == "send" && c.ConversationID == e2eOffboard && strings.Contains(cardText(c), "Carl Contractor")
	})
	// Updates are coalesced (one a second per card): a fast case may show
	// its closure in the card's first post.
	s.waitCall("the status card showing the closure", func(c teamstest.Call) bool {
		return (c.Op == "update" && c.ActivityID != "" || c.Op == "send" && c == card) &&
			c.ConversationID == e2eOffboard && strings.Contains(cardText(c), `"value":"completed"`)
	})
	s.waitCall("the closure reply in the card's thread", func(c teamstest.Call) bool {
		return c.Op == "reply" && c.ConversationID == e2eOffboard && strings.Contains(cardText(c), "closed: completed")
	})
	if st, _ := s.apiCase(caseID); st != store.CaseCompleted {
		t.Fatalf("case %d closed as %s", caseID, st)
	}
	ops := map[string]int{}
	for _, c := range s.fake.Calls() {
		ops[c.Op]++
	}
	t.Logf("Bot Connector calls for one departure (message to closure): %v, %d token requests", ops, s.fake.TokenRequests())

	// The offboard form with email forwarding opens a case whose approval
	// chain (manager, then HR) holds convert_mailbox; the approval invokes
	// change the plan (set_forwarding is added).
	form := map[string]any{
		blocks.FieldPerson: e2eUsers["E1"][0], blocks.FieldLastDay: time.Now().AddDate(0, 0, 7).Format("2006-01-02"), blocks.FieldLastTime: "17:00",
		blocks.FieldReason: blocks.ReasonVoluntary, blocks.FieldForwardEmail: "erin.desk@example.test", blocks.FieldForwardDays: "7",
	}
	if typ, card := s.answer(s.invoke("H1", cards.VerbSubmitOffboard, form)); !strings.Contains(card, "Planning the offboarding of **Erin Employee**") {
		t.Fatalf("the form answered %s %s", typ, card)
	}
	preview = s.waitCall("plan preview in Hal's chat", func(c teamstest.Call) bool {
		return c.Op == "send" && strings.Contains(cardText(c), cards.VerbConfirmPlan) && strings.Contains(cardText(c), "Erin Employee")
	})
	erinCase := refIn(t, caseRef, cardText(preview))
	s.answer(s.invoke("H1", cards.VerbConfirmPlan, map[string]any{"kineticId": blocks.CaseValue(erinCase)}))
	ask := s.waitCall("the approval card DMed to Mia (the manager step)", func(c teamstest.Call) bool {
		mia := e2eUsers["M1"][0]
		return c.Op == "send" && (c.ConversationID == "a:"+mia || c.ConversationID == "a:29:"+mia) && approvalRef.MatchString(cardText(c))
	})
	apID := refIn(t, approvalRef, cardText(ask))
	approve := map[string]any{"kineticId": blocks.ApprovalValue(apID)}
	if typ, card := s.answer(s.invoke("M1", cards.VerbApprove, approve)); typ != teamsapp.TypeCardResponse {
		t.Fatalf("Mia's approval answered %s %s", typ, card)
	}
	if typ, card := s.answer(s.invoke("H2", cards.VerbApprove, approve)); typ != teamsapp.TypeCardResponse {
		t.Fatalf("Hana's approval answered %s %s", typ, card)
	}
	testkit.Eventually(t, e2eWaitWithin, func() bool {
		_, acts := s.apiCase(erinCase)
		for _, a := range acts {
			if a.Name == "set_forwarding" {
				return true
			}
		}
		return false
	}, func() string {
		return fmt.Sprintf("the approved forwarding did not add set_forwarding to case %d", erinCase)
	})
}

// TestServeSlackAndTeamsTogether: one kinetic serve runs both front ends;
// a signed Slack /offboard and a signed Teams message each open a case and
// each front end sends its own plan preview, on its own platform.
func TestServeSlackAndTeamsTogether(t *testing.T) {
	const signing = "e2e-slack-signing-secret"
	slack := slacktest.NewServer(t)
	slack.AddUser("UMIA", "manager@example.test", "Mia Manager")
	slack.AddUser("UERIN", "erin@example.test", "Erin Employee")
	s := startTeamsServe(t, fmt.Sprintf(`  slack:
    bot_token: {file: slack-bot-token}
    signing_secret: {file: slack-signing-secret}
    mode: http
    api_url: %s
    offboarding_channel: C0OFFBOARD
`, slack.URL()), map[string]string{"slack-bot-token": slacktest.BotToken, "slack-signing-secret": signing})

	form := url.Values{
		"team_id": {slacktest.TeamID}, "channel_id": {"C0OFFBOARD"}, "user_id": {"UMIA"}, "command": {"/offboard"},
		"text": {"<@UERIN|erin> moving on"}, "response_url": {"https://hooks.slack.invalid/x"}, "trigger_id": {"trig-1"},
	}.Encode()
	req, _ := http.NewRequest(http.MethodPost, s.base+"/slack/commands", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	slackbot.SignRequest(req, signing, time.Now(), []byte(form))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(b), "Planning") {
		t.Fatalf("the Slack command answered %d: %s", res.StatusCode, b)
	}
	if code, body := s.post(s.message("M1", "offboard <at>Carl Contractor</at> contract ended", "E2"), s.token()); code != http.StatusOK {
		t.Fatalf("the Teams message answered %d: %s", code, body)
	}
	slack.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool {
		return c.Channel == "DUMIA" && strings.Contains(string(c.Blocks), "Erin Employee")
	}, e2eWaitWithin)
	s.waitCall("the Teams plan preview for Carl", func(c teamstest.Call) bool {
		return c.Op == "send" && strings.Contains(cardText(c), cards.VerbConfirmPlan) && strings.Contains(cardText(c), "Carl Contractor")
	})
	for _, c := range s.fake.Calls() {
		if strings.Contains(cardText(c), "Erin Employee") {
			t.Errorf("the Slack case's plan reached Teams: %s", cardText(c))
		}
	}
	for _, c := range slack.Calls("chat.postMessage") {
		if strings.Contains(c.Text+string(c.Blocks), "Carl Contractor") && strings.Contains(string(c.Blocks), "confirm") {
			t.Errorf("the Teams case's plan preview reached Slack: %s", c.Blocks)
		}
	}
}

// TestServeTeamsEntraApproverGroupAndGraphEmails: with chat.teams.graph
// and a directory without chat_user_id, Teams users are mapped to HR by
// the email Graph gives for their object id; the legal approver group
// names an Entra group whose (transitive) members Graph lists. A click by
// a member decides the legal hold and changes the plan; a click by a
// non-member (Lou, in HR's legal list no more) is refused by the engine.
func TestServeTeamsEntraApproverGroupAndGraphEmails(t *testing.T) {
	const legalGroup = "7d1e5c2a-4b3f-4e6d-9a8b-1c2d3e4f5a6b"
	g := teamstest.NewGraph(t)
	g.AppID = e2eAppID
	emails := map[string]string{"M1": "manager@example.test", "E1": "erin@example.test", "E2": "carl@example.test", "H1": "hr@example.test",
		"H2": "hr2@example.test", "L1": "legal1@example.test", "L2": "legal2@example.test"}
	for id, u := range e2eUsers {
		g.AddUser(teamstest.GraphUser{ID: u[0], Mail: emails[id], UPN: emails[id]})
	}
	g.SetGroup(legalGroup, e2eUsers["L1"][0])
	s := startTeamsServeWith(t, serveSetup{
		teamsExtra:     fmt.Sprintf("    graph: {url: %s, token_url: %s}\n", g.URL(), g.TokenURL()),
		approverGroups: fmt.Sprintf("{hr: [H1, H2, M1], legal: [\"entra:%s\"], security: [S1]}", legalGroup),
	})
	g.Secret = s.fake.Secret

	form := map[string]any{
		blocks.FieldPerson: e2eUsers["E1"][0], blocks.FieldLastDay: time.Now().AddDate(0, 0, 7).Format("2006-01-02"), blocks.FieldLastTime: "17:00",
		blocks.FieldReason: blocks.ReasonVoluntary, blocks.FieldLegalHold: true,
	}
	if typ, card := s.answer(s.invoke("H1", cards.VerbSubmitOffboard, form)); !strings.Contains(card, "Planning the offboarding of **Erin Employee**") {
		t.Fatalf("the form answered %s %s", typ, card)
	}
	preview := s.waitCall("plan preview in Hal's chat", func(c teamstest.Call) bool {
		return c.Op == "send" && strings.Contains(cardText(c), cards.VerbConfirmPlan) && strings.Contains(cardText(c), "Erin Employee")
	})
	erinCase := refIn(t, caseRef, cardText(preview))
	s.answer(s.invoke("H1", cards.VerbConfirmPlan, map[string]any{"kineticId": blocks.CaseValue(erinCase)}))
	lee := e2eUsers["L1"][0]
	ask := s.waitCall("the legal approval card DMed to Lee, the Entra group's member", func(c teamstest.Call) bool {
		return c.Op == "send" && (c.ConversationID == "a:"+lee || c.ConversationID == "a:29:"+lee) && approvalRef.MatchString(cardText(c))
	})
	apID := refIn(t, approvalRef, cardText(ask))
	approve := map[string]any{"kineticId": blocks.ApprovalValue(apID)}
	if typ, text := s.answer(s.invoke("L2", cards.VerbApprove, approve)); typ != teamsapp.TypeMessageResponse || !strings.Contains(text, "Nothing was changed") {
		t.Fatalf("Lou (not in the Entra group) approving: %s %s", typ, text)
	}
	if typ, card := s.answer(s.invoke("L1", cards.VerbApprove, approve)); typ != teamsapp.TypeCardResponse {
		t.Fatalf("Lee's approval answered %s %s", typ, card)
	}
	testkit.Eventually(t, e2eWaitWithin, func() bool {
		_, acts := s.apiCase(erinCase)
		for _, a := range acts {
			if a.Name == "preserve_mailbox" {
				return true
			}
		}
		return false
	}, func() string {
		return fmt.Sprintf("the approved legal hold did not add preserve_mailbox to case %d", erinCase)
	})

	// Graph was asked for users by object id (people mapped by email) and
	// for the group's members; every request carried the app's token
	// (the fake fails the test otherwise).
	var users, groups int
	for _, r := range g.Requests() {
		switch {
		case strings.HasPrefix(r.Path, "/v1.0/users/"):
			users++
		case r.Path == "/v1.0/groups/"+legalGroup+"/transitiveMembers/microsoft.graph.user":
			groups++
		default:
			t.Errorf("unexpected Graph request %s", r)
		}
	}
	if users == 0 || groups == 0 {
		t.Fatalf("Graph requests: %d user reads, %d group listings", users, groups)
	}
	distinct := map[string]bool{}
	for _, r := range g.Requests() {
		distinct[r.Path] = true
	}
	// Answers about people are kept (10 minutes): each is asked about
	// about once, not at every message (two concurrent first asks may
	// both go out).
	if users > 2*(len(distinct)-1) {
		t.Errorf("%d user reads for %d distinct users: answers are not kept", users, len(distinct)-1)
	}
	t.Logf("Graph requests for one departure with a legal hold: %d user reads (%d distinct), %d group listings, %d token requests", users, len(distinct)-1, groups, g.TokenRequests())
}

// TestServeTeamsWithCertificate: with chat.teams.certificate and
// private_key (no client secret) kinetic serve gets its Bot Connector
// token with a client assertion the token endpoint verifies against the
// registered certificate, and answers a signed message.
func TestServeTeamsWithCertificate(t *testing.T) {
	cert := teamstest.NewCertificate(t, false)
	s := startTeamsServeWith(t, serveSetup{chatIDs: true, cert: &cert})
	if code, body := s.post(s.message("M1", "help"), s.token()); code != http.StatusOK {
		t.Fatalf("the signed message answered %d: %s", code, body)
	}
	s.waitCall("the help card", func(c teamstest.Call) bool { return strings.Contains(cardText(c), "Kinetic commands") })
	if n := s.fake.TokenRequests(); n < 1 {
		t.Fatalf("%d tokens issued", n)
	}
}
