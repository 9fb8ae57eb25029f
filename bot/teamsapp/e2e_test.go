package teamsapp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/bot/teams/botauth"
	"github.com/kineticsec/kinetic/bot/teams/cards"
	"github.com/kineticsec/kinetic/bot/teams/connector"
	"github.com/kineticsec/kinetic/bot/teams/teamstest"
	"github.com/kineticsec/kinetic/bot/teamsapp"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/routing"
	"github.com/kineticsec/kinetic/internal/secret"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

const (
	offboarding = "19:offboarding@thread.tacv2"
	alerts      = "19:alerts@thread.tacv2"
	itIdentity  = "19:it-identity@thread.tacv2"
	tenant      = "tenant-1"
	wait        = 20 * time.Second
)

// Teams users of the test directory, by AAD object id: email (the
// directory has no chat_user_id, so EmailOf maps them) and display name.
var teamsUsers = map[string][2]string{
	"00000000-0000-0000-0000-0000000000a1": {"manager@example.test", "Mia Manager"},
	"00000000-0000-0000-0000-0000000000e1": {"erin@example.test", "Erin Employee"},
	"00000000-0000-0000-0000-0000000000e2": {"carl@example.test", "Carl Contractor"},
	"00000000-0000-0000-0000-0000000000b1": {"hr@example.test", "Hal HR"},
	"00000000-0000-0000-0000-0000000000b2": {"hr2@example.test", "Hana HR"},
	"00000000-0000-0000-0000-0000000000c1": {"legal1@example.test", "Lee Legal"},
	"00000000-0000-0000-0000-0000000000c2": {"legal2@example.test", "Lou Legal"},
	"00000000-0000-0000-0000-0000000000f1": {"nobody@example.test", "No Body"},
	"00000000-0000-0000-0000-0000000000d1": {"security@example.test", "Sam Security"},
	"00000000-0000-0000-0000-0000000000d2": {"tech@example.test", "Tom Tech"},
	"00000000-0000-0000-0000-0000000000e7": {"gia@example.test", "Gia Gadget"},
}

const (
	mia   = "00000000-0000-0000-0000-0000000000a1"
	erin  = "00000000-0000-0000-0000-0000000000e1"
	carl  = "00000000-0000-0000-0000-0000000000e2"
	hal   = "00000000-0000-0000-0000-0000000000b1"
	hana  = "00000000-0000-0000-0000-0000000000b2"
	lee   = "00000000-0000-0000-0000-0000000000c1"
	nobod = "00000000-0000-0000-0000-0000000000f1"
)

var testPolicy = &outbound.URLPolicy{AllowHosts: []string{"127.0.0.1"}}

type env struct {
	t    testing.TB
	fake *teamstest.Connector
	is   *teamstest.Issuer
	kit  *testkit.Kit
	app  *teamsapp.App
	h    http.Handler
	seq  int
	mu   sync.Mutex
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvPolicy(t, testkit.ApprovalPolicy)
}

// newEnvPolicy is newEnv with the engine on policy.
func newEnvPolicy(t testing.TB, policy string) *env {
	t.Helper()
	return newEnvWith(t, func(o *testkit.Options) { o.Policy = policy }, nil)
}

// newEnvWith is newEnv with the kit's and the app's options changed by
// kitOpts and appOpts (either may be nil).
func newEnvWith(t testing.TB, kitOpts func(*testkit.Options), appOpts func(*teamsapp.Options)) *env {
	t.Helper()
	fake := teamstest.NewConnector(t)
	is := teamstest.NewIssuer(t)
	is.Endorse("key-1", "msteams")
	a := newApp(t, fake, is, appOpts)
	ko := testkit.Options{RedisDB: 13, Observers: []engine.Observer{a}}
	if kitOpts != nil {
		kitOpts(&ko)
	}
	kit := testkit.New(t, ko)
	a.Bind(kit.Engine, kit.Directory)
	ctx, cancel := context.WithCancel(context.Background())
	stop := a.Start(ctx)
	t.Cleanup(func() { cancel(); stop() })
	if _, err := kit.StartWorker(); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	a.Routes()(mux)
	return &env{t: t, fake: fake, is: is, kit: kit, app: a, h: mux}
}

// newApp builds a Teams front end over the fake connector and issuer (a
// process of its own: tests build a second one as a restart).
func newApp(t testing.TB, fake *teamstest.Connector, is *teamstest.Issuer, opts ...func(*teamsapp.Options)) *teamsapp.App {
	t.Helper()
	v, err := botauth.New(botauth.Config{AppID: fake.AppID, MetadataURL: is.MetadataURL()}, testPolicy)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := connector.New(connector.Config{AppID: fake.AppID, AppPassword: secret.FromValue(fake.Secret), TokenURL: fake.TokenURL()}, testPolicy,
		connector.WithSleep(func(context.Context, time.Duration) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	emails := map[string]string{}
	aads := map[string]string{}
	for id, u := range teamsUsers {
		emails[id], aads[u[0]] = u[0], id
	}
	l := logrus.New()
	l.Level = logrus.WarnLevel
	o := teamsapp.Options{
		AppID: fake.AppID, TenantID: tenant, ServiceURL: fake.URL(),
		OffboardingConversation: offboarding, AlertsConversation: alerts,
		Connector: cl, Verifier: v, Log: logrus.NewEntry(l), UpdateInterval: 50 * time.Millisecond,
		Routes: routing.New(map[string]routing.Route{"it-identity": {Channel: itIdentity, People: []string{"H1"}}}, nil, "teams:"),
		EmailOf: func(_ context.Context, aad string) (string, error) {
			if e, ok := emails[aad]; ok {
				return e, nil
			}
			return "", fmt.Errorf("no such user")
		},
		AADOf: func(_ context.Context, email string) (string, error) {
			if id, ok := aads[email]; ok {
				return id, nil
			}
			return "", fmt.Errorf("no such user")
		},
	}
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	a, err := teamsapp.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (e *env) nextID() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seq++
	return fmt.Sprintf("in-%d", e.seq)
}

func account(aad string) *connector.ChannelAccount {
	return &connector.ChannelAccount{ID: "29:" + aad, Name: teamsUsers[aad][1], AADObjectID: aad}
}

// activity is an inbound activity from aad in their personal chat.
func (e *env) activity(typ, from string) *connector.Activity {
	return &connector.Activity{
		Type: typ, ID: e.nextID(), ServiceURL: e.fake.URL(), ChannelID: "msteams", From: account(from),
		Recipient:    &connector.ChannelAccount{ID: "28:" + e.fake.AppID, Name: "Kinetic"},
		Conversation: &connector.ConversationAccount{ID: "a:personal-" + from, ConversationType: "personal", TenantID: tenant},
	}
}

// message is a message from aad; text may hold <at>Name</at> mentions of
// the people in mentions (name → aad object id, "" for a non-person).
func (e *env) message(from, text string, mentions map[string]string) *connector.Activity {
	a := e.activity(connector.TypeMessage, from)
	a.Text = text
	for name, id := range mentions {
		m := &connector.ChannelAccount{ID: "29:" + id, Name: name, AADObjectID: id}
		if id == "" {
			m = &connector.ChannelAccount{ID: "19:tag-" + name, Name: name}
		}
		a.Entities = append(a.Entities, connector.Entity{Type: "mention", Mentioned: m, Text: "<at>" + name + "</at>"})
	}
	return a
}

func (e *env) invoke(from, verb string, data map[string]any) *connector.Activity {
	a := e.activity(connector.TypeInvoke, from)
	a.Name = "adaptiveCard/action"
	b, _ := json.Marshal(map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"})
	a.Value = b
	return a
}

func (e *env) post(a *connector.Activity, token string) *httptest.ResponseRecorder {
	e.t.Helper()
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, teamstest.Request(e.t, "/teams/messages", token, a))
	return w
}

func (e *env) token() string { return e.is.Token(e.fake.AppID, e.fake.URL(), time.Now()) }

// answer posts an invoke and decodes the invoke response.
func (e *env) answer(a *connector.Activity) (typ, text string, card string) {
	e.t.Helper()
	w := e.post(a, e.token())
	if w.Code != http.StatusOK {
		e.t.Fatalf("invoke answered %d: %s", w.Code, w.Body)
	}
	var r struct {
		StatusCode int             `json:"statusCode"`
		Type       string          `json:"type"`
		Value      json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil || r.StatusCode != 200 {
		e.t.Fatalf("invoke response %s: %v", w.Body, err)
	}
	if r.Type == teamsapp.TypeMessageResponse {
		_ = json.Unmarshal(r.Value, &text)
		return r.Type, text, ""
	}
	return r.Type, "", string(r.Value)
}

func cardOf(c teamstest.Call) string {
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

// waitCall waits for a connector call matching ok.
func (e *env) waitCall(what string, ok func(teamstest.Call) bool) teamstest.Call {
	e.t.Helper()
	var got teamstest.Call
	testkit.Eventually(e.t, wait, func() bool {
		for _, c := range e.fake.Calls() {
			if ok(c) {
				got = c
				return true
			}
		}
		return false
	}, func() string {
		var s []string
		for _, c := range e.fake.Calls() {
			s = append(s, c.Op+" "+c.ConversationID+" "+c.ActivityID+" "+cardOf(c))
		}
		return fmt.Sprintf("no %s among calls:\n%s", what, strings.Join(s, "\n"))
	})
	return got
}

func TestOffboardMessageConfirmThroughClosure(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	msg := e.message(mia, "<at>Kinetic</at> offboard <at>Erin</at> moving on", map[string]string{"Erin": erin})
	msg.Entities = append(msg.Entities, connector.Entity{Type: "mention", Mentioned: msg.Recipient, Text: "<at>Kinetic</at>"})
	if w := e.post(msg, e.token()); w.Code != http.StatusOK {
		t.Fatalf("message answered %d: %s", w.Code, w.Body)
	}
	e.waitCall("planning reply", func(c teamstest.Call) bool {
		return c.Op == "reply" && strings.Contains(cardOf(c), "Planning the offboarding of Erin Employee")
	})
	preview := e.waitCall("plan preview in Mia's 1:1", func(c teamstest.Call) bool {
		return c.Op == "send" && c.ConversationID == "a:29:"+mia && strings.Contains(cardOf(c), cards.VerbConfirmPlan)
	})
	c, err := e.kit.Store.OpenCaseFor(ctx, "E1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != store.CaseAwaitingConfirmation || c.Requester != "M1" || c.Trigger != store.TriggerTeams {
		t.Fatalf("case: %+v", c)
	}
	if !strings.Contains(cardOf(preview), blocks.CaseValue(c.ID)) {
		t.Fatalf("preview lacks the case: %s", cardOf(preview))
	}
	// Someone else's Confirm is refused, to them only, and changes nothing.
	if typ, text, _ := e.answer(e.invoke(hal, cards.VerbConfirmPlan, map[string]any{"kineticId": blocks.CaseValue(c.ID)})); typ != teamsapp.TypeMessageResponse || !strings.Contains(text, "refused") {
		t.Fatalf("Hal's confirm: %s %q", typ, text)
	}
	if now, _ := e.kit.Store.Case(ctx, c.ID); now.Status != store.CaseAwaitingConfirmation {
		t.Fatalf("after a refused confirm the case is %s", now.Status)
	}
	typ, _, card := e.answer(e.invoke(mia, cards.VerbConfirmPlan, map[string]any{"kineticId": blocks.CaseValue(c.ID)}))
	if typ != teamsapp.TypeCardResponse || strings.Contains(card, cards.VerbConfirmPlan) {
		t.Fatalf("confirm answered %s with %s", typ, card)
	}
	e.waitCall("status card", func(c teamstest.Call) bool { return c.Op == "send" && c.ConversationID == offboarding })
	closed := e.kit.WaitClosed(t, c.ID, 60*time.Second)
	if closed.Status != store.CaseCompleted {
		t.Fatalf("case closed as %s:\n%s", closed.Status, engine.Summary(closed))
	}
	e.waitCall("closure reply", func(x teamstest.Call) bool {
		return x.Op == "reply" && x.ConversationID == offboarding && strings.Contains(cardOf(x), "closed: completed")
	})
	upd := e.waitCall("status card updated to completed", func(x teamstest.Call) bool {
		return x.Op == "update" && x.ConversationID == offboarding && strings.Contains(cardOf(x), `"value":"completed"`)
	})
	for _, x := range e.fake.Calls() {
		if x.Op == "reply" && x.ConversationID == offboarding && x.ActivityID != upd.ActivityID {
			t.Errorf("a thread reply under %s, not the status card %s", x.ActivityID, upd.ActivityID)
		}
	}
	ms, err := e.kit.Store.ChatMessagesFor(ctx, c.ID, teamsapp.Platform, store.ChatKindStatus)
	if err != nil || len(ms) != 1 || ms[0].TS != upd.ActivityID {
		t.Fatalf("recorded status cards: %v %v", ms, err)
	}

	// After a restart (a new process), a change of the case updates the
	// same card: nothing new is posted in the offboarding channel.
	sends := func() (n int) {
		for _, x := range e.fake.Calls() {
			if x.Op == "send" && x.ConversationID == offboarding {
				n++
			}
		}
		return n
	}
	cardUpdates := func() (n int) {
		for _, x := range e.fake.Calls() {
			if x.Op == "update" && x.ActivityID == upd.ActivityID {
				n++
			}
		}
		return n
	}
	before, updates := sends(), cardUpdates()
	a2 := newApp(t, e.fake, e.is)
	a2.Bind(e.kit.Engine, e.kit.Directory)
	rctx, cancel := context.WithCancel(ctx)
	stop := a2.Start(rctx)
	defer func() { cancel(); stop() }()
	a2.Observe(engine.Event{Kind: engine.EventCaseRescheduled, CaseID: c.ID})
	testkit.Eventually(t, wait, func() bool { return cardUpdates() > updates }, func() string { return "the restarted process did not update the card" })
	if sends() != before {
		t.Fatal("the restarted process posted a new status card")
	}
}

func TestApprovalInvokeChangesThePlan(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	o, err := e.kit.Engine.Open(ctx, engine.Request{EmployeeID: "E1", Requester: "H1", Trigger: store.TriggerTeams, AwaitConfirmation: true, Reason: "t"})
	if err != nil {
		t.Fatal(err)
	}
	ap, err := e.kit.Engine.RequestException(ctx, engine.ExceptionRequest{CaseID: o.Case.ID, Kind: "mailbox_handover", Action: "disable_ad", Days: 3, Requester: "H1", Via: "test"})
	if err != nil {
		t.Fatal(err)
	}
	typ, _, _ := e.answer(e.invoke(hal, cards.VerbConfirmPlan, map[string]any{"kineticId": blocks.CaseValue(o.Case.ID)}))
	if typ != teamsapp.TypeCardResponse {
		t.Fatalf("confirm answered %s", typ)
	}
	v, err := e.kit.Engine.Approval(ctx, ap.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Approvers) == 0 {
		t.Fatalf("no approvers: %+v", v)
	}
	// A person who is not an approver is refused.
	if typ, text, _ := e.answer(e.invoke(lee, cards.VerbApprove, map[string]any{"kineticId": blocks.ApprovalValue(ap.ID)})); typ != teamsapp.TypeMessageResponse || text == "" {
		t.Logf("Hal's approve: %s %q", typ, text)
	}
	approver := ""
	for aad, u := range teamsUsers {
		if emp, err := e.kit.Directory.ByEmail(ctx, u[0]); err == nil && emp.ID == v.Approvers[0] {
			approver = aad
		}
	}
	if approver == "" {
		t.Fatalf("no Teams user for approver %s", v.Approvers[0])
	}
	e.waitCall("approval card DMed", func(c teamstest.Call) bool {
		return c.Op == "send" && c.ConversationID == "a:"+approver && strings.Contains(cardOf(c), blocks.ApprovalValue(ap.ID))
	})
	typ, text, card := e.answer(e.invoke(approver, cards.VerbApprove, map[string]any{"kineticId": blocks.ApprovalValue(ap.ID)}))
	if typ != teamsapp.TypeCardResponse {
		t.Fatalf("approve answered %s %q", typ, text)
	}
	if !strings.Contains(card, "Mia Manager") {
		t.Fatalf("the refreshed card does not show the decision: %s", card)
	}
	// The DMed copy is updated too.
	e.waitCall("approval card copy updated", func(c teamstest.Call) bool {
		return c.Op == "update" && c.ConversationID == "a:"+approver
	})
	after, err := e.kit.Engine.Approval(ctx, ap.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Decisions) == 0 {
		t.Fatalf("approval not decided: %+v", after)
	}
	// Deny without a reason is refused and changes nothing; with one, Hana
	// (in the HR step's group) denies it.
	deny := map[string]any{"kineticId": blocks.ApprovalValue(ap.ID)}
	if typ, text, _ := e.answer(e.invoke(hana, cards.VerbDeny, deny)); typ != teamsapp.TypeMessageResponse || !strings.Contains(text, "Nothing was changed") {
		t.Fatalf("deny without a reason: %s %q", typ, text)
	}
	if now, _ := e.kit.Engine.Approval(ctx, ap.ID); now.Status != store.ApprovalPending {
		t.Fatalf("after a refused deny the approval is %s", now.Status)
	}
	for k := range reasonInputs() {
		deny[k] = "the mailbox must stay closed"
	}
	if typ, text, _ := e.answer(e.invoke(hana, cards.VerbDeny, deny)); typ != teamsapp.TypeCardResponse {
		t.Fatalf("deny with a reason: %s %q", typ, text)
	}
	if now, _ := e.kit.Engine.Approval(ctx, ap.ID); now.Status != store.ApprovalDenied {
		t.Fatalf("after the deny the approval is %s", now.Status)
	}
}

// reasonInputs are the input ids a reason form may send (ReasonCard's).
func reasonInputs() map[string]bool {
	ids := map[string]bool{}
	for _, verb := range []string{cards.VerbDeny} {
		b, _ := json.Marshal(cards.ReasonCard(verb, "x", &cards.Data{ID: "approval:1"}))
		var c struct {
			Body []map[string]any `json:"body"`
		}
		_ = json.Unmarshal(b, &c)
		for _, el := range c.Body {
			if el["type"] == "Input.Text" {
				ids[el["id"].(string)] = true
			}
		}
	}
	return ids
}

func TestForgedTokenRefused(t *testing.T) {
	e := newEnv(t)
	msg := e.message(mia, "offboard <at>Erin</at> moving on", map[string]string{"Erin": erin})
	forged := teamstest.NewIssuer(t) // its own keys, not published by e.is
	bad := forged.Token(e.fake.AppID, e.fake.URL(), time.Now())
	for name, tok := range map[string]string{"forged": bad, "missing": "", "wrong audience": e.is.Token("other-app", e.fake.URL(), time.Now())} {
		if w := e.post(msg, tok); w.Code != http.StatusUnauthorized {
			t.Errorf("%s token answered %d", name, w.Code)
		}
	}
	if n := e.kit.Count(t, &store.Case{}, "1 = 1"); n != 0 {
		t.Fatalf("%d cases after refused requests", n)
	}
	// A signed activity from another tenant is refused too.
	other := e.message(mia, "offboard <at>Erin</at> moving on", map[string]string{"Erin": erin})
	other.Conversation.TenantID = "another-tenant"
	if w := e.post(other, e.token()); w.Code != http.StatusForbidden {
		t.Errorf("another tenant's activity answered %d", w.Code)
	}
	if calls := e.fake.Calls(); len(calls) != 0 {
		t.Fatalf("connector calls after refused requests: %+v", calls)
	}
}

func TestBadInputIsToldAndChangesNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// A malformed activity (a message without a conversation).
	m := e.message(mia, "help", nil)
	m.Conversation = nil
	if w := e.post(m, e.token()); w.Code != http.StatusBadRequest {
		t.Errorf("message without a conversation answered %d", w.Code)
	}
	// Unknown verb, bad data, a case that no longer exists.
	for _, tc := range []struct {
		verb string
		data map[string]any
		want string
	}{
		{"selfDestruct", map[string]any{"kineticId": "case:1"}, "doesn't know that button"},
		{cards.VerbConfirmPlan, map[string]any{"kineticId": "approval:1"}, "not valid"},
		{cards.VerbConfirmPlan, map[string]any{"kineticId": blocks.CaseValue(9999)}, "no longer exists"},
		{cards.VerbApprove, map[string]any{"kineticId": blocks.ApprovalValue(9999)}, "no longer exists"},
		{cards.VerbAckNotice, map[string]any{"kineticId": blocks.NoticeValue(9999)}, "no longer exists"},
		{cards.VerbRemediate, map[string]any{"kineticId": blocks.ResidualValue(9999)}, "no longer exists"},
		{cards.VerbMoveEquipment, map[string]any{"kineticId": blocks.EquipmentValue(9999), "to": "received"}, "no longer exists"},
		{cards.VerbMoveEquipment, map[string]any{"kineticId": blocks.EquipmentValue(9999)}, "not valid"},
		{cards.VerbAckNotice, map[string]any{"kineticId": blocks.CaseValue(1)}, "not valid"},
		{cards.VerbDisposeEquipment, map[string]any{"kineticId": blocks.EquipmentValue(9999), cards.InputReference: "COD-1"}, "no longer exists"},
	} {
		typ, text, _ := e.answer(e.invoke(mia, tc.verb, tc.data))
		if typ != teamsapp.TypeMessageResponse || !strings.Contains(text, tc.want) {
			t.Errorf("%s %v: %s %q, want %q", tc.verb, tc.data, typ, text, tc.want)
		}
	}
	// A mention that is not a person; a person not in HR; an unmapped sender.
	for _, tc := range []struct {
		from, text string
		mentions   map[string]string
		want       string
	}{
		{mia, "offboard <at>Sales Team</at> reorg", map[string]string{"Sales Team": ""}, "not a person"},
		{mia, "offboard <at>No Body</at>", map[string]string{"No Body": nobod}, "not in the HR directory"},
		{"00000000-0000-0000-0000-0000000000ff", "offboard <at>Erin</at>", map[string]string{"Erin": erin}, "can't match your Teams account"},
		{mia, "offboard Erin", nil, "Kinetic couldn't read that"},
	} {
		msg := e.message(tc.from, tc.text, tc.mentions)
		if w := e.post(msg, e.token()); w.Code != http.StatusOK {
			t.Fatalf("%q answered %d", tc.text, w.Code)
		}
		e.waitCall(tc.want, func(c teamstest.Call) bool {
			return c.Op == "reply" && c.ActivityID == msg.ID && strings.Contains(cardOf(c), tc.want)
		})
	}
	if _, err := e.kit.Store.OpenCaseFor(ctx, "E1"); err == nil {
		t.Fatal("a case was opened")
	}
}

// TestEscalationRouting: a user: target is DMed; a channel target with no
// Teams route goes to the alerts conversation, which says so.
func TestEscalationRouting(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	o, err := e.kit.Engine.Open(ctx, engine.Request{EmployeeID: "E1", Requester: "H1", Trigger: store.TriggerTeams, AwaitConfirmation: true, Reason: "t"})
	if err != nil {
		t.Fatal(err)
	}
	e.app.Observe(engine.Event{Kind: engine.EventEscalation, CaseID: o.Case.ID, Targets: []string{"user:M1", "channel:network"}, Level: 1, Detail: "disable_ad is late", At: time.Now()})
	e.waitCall("escalation DM to Mia", func(c teamstest.Call) bool {
		return c.Op == "send" && c.ConversationID == "a:"+mia
	})
	e.waitCall("unrouted target in the alerts conversation", func(c teamstest.Call) bool {
		return c.Op == "send" && c.ConversationID == alerts && strings.Contains(cardOf(c), "channel:network")
	})
}

// TestEscalationToOwningTeam: an escalation to a team with a
// routing.NAME.teams route is posted in its conversation with the
// action's buttons, naming the person it DMed, and nothing goes to the
// alerts conversation.
func TestEscalationToOwningTeam(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	o, err := e.kit.Engine.Open(ctx, engine.Request{EmployeeID: "E1", Requester: "M1", Trigger: store.TriggerTeams, AwaitConfirmation: true, Reason: "t"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.kit.Store.CaseWithActions(ctx, o.Case.ID)
	if err != nil || len(c.Actions) == 0 {
		t.Fatalf("case actions: %v %v", c, err)
	}
	act := c.Actions[0]
	e.app.Observe(engine.Event{Kind: engine.EventEscalation, CaseID: o.Case.ID, ActionID: act.ID, Targets: []string{"channel:it-identity"}, Level: 2, Detail: act.Name + " is late", At: time.Now()})
	e.waitCall("the escalation in the team's conversation, with buttons, naming Hal", func(c teamstest.Call) bool {
		card := cardOf(c)
		return c.Op == "send" && c.ConversationID == itIdentity && strings.Contains(card, cards.VerbEscalate) && strings.Contains(card, "Hal HR")
	})
	e.waitCall("the route's person DMed", func(c teamstest.Call) bool {
		return c.Op == "send" && c.ConversationID == "a:"+hal && strings.Contains(cardOf(c), "is late")
	})
	for _, c := range e.fake.Calls() {
		if c.ConversationID == alerts {
			t.Fatalf("a routed escalation went to the alerts conversation: %s", cardOf(c))
		}
	}
}

// TestStatusCancelAndCancelPlan: status @person answers with the card,
// cancelPlan is the requester's alone, cancel @person cancels an open case.
func TestStatusCancelAndCancelPlan(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	o, err := e.kit.Engine.Open(ctx, engine.Request{EmployeeID: "E1", Requester: "M1", Trigger: store.TriggerTeams, AwaitConfirmation: true, Reason: "t"})
	if err != nil {
		t.Fatal(err)
	}
	st := e.message(mia, "status <at>Erin</at>", map[string]string{"Erin": erin})
	if w := e.post(st, e.token()); w.Code != http.StatusOK {
		t.Fatalf("status answered %d", w.Code)
	}
	e.waitCall("status card", func(c teamstest.Call) bool {
		return c.Op == "send" && c.ConversationID == st.Conversation.ID && strings.Contains(cardOf(c), "Offboarding · Erin Employee")
	})
	data := map[string]any{"kineticId": blocks.CaseValue(o.Case.ID)}
	if typ, text, _ := e.answer(e.invoke(hal, cards.VerbCancelPlan, data)); typ != teamsapp.TypeMessageResponse || !strings.Contains(text, "only the requester") {
		t.Fatalf("Hal's cancelPlan: %s %q", typ, text)
	}
	if typ, _, card := e.answer(e.invoke(mia, cards.VerbCancelPlan, data)); typ != teamsapp.TypeCardResponse || strings.Contains(card, cards.VerbConfirmPlan) {
		t.Fatalf("Mia's cancelPlan: %s %s", typ, card)
	}
	if c, _ := e.kit.Store.Case(ctx, o.Case.ID); c.Status != store.CaseCancelled {
		t.Fatalf("case is %s", c.Status)
	}
	o2, err := e.kit.Engine.Open(ctx, engine.Request{EmployeeID: "E2", Requester: "M1", Trigger: store.TriggerTeams, AwaitConfirmation: true, Reason: "t"})
	if err != nil {
		t.Fatal(err)
	}
	cn := e.message(mia, "cancel <at>Carl</at> changed our minds", map[string]string{"Carl": carl})
	if w := e.post(cn, e.token()); w.Code != http.StatusOK {
		t.Fatalf("cancel answered %d", w.Code)
	}
	e.waitCall("cancel answer", func(c teamstest.Call) bool {
		return c.Op == "reply" && c.ActivityID == cn.ID && strings.Contains(cardOf(c), "cancelled")
	})
	if c, _ := e.kit.Store.Case(ctx, o2.Case.ID); c.Status != store.CaseCancelled {
		t.Fatalf("case 2 is %s", c.Status)
	}
}

// TestEscalationDeliveryParity (as Slack's routed delivery): the DM names
// everyone the escalation reached; a conversation post the Bot Connector
// refuses (403: the app is not in that team) is raised in the alerts
// conversation as a delivery failure naming the route and the reason,
// and the messages that did go out are corrected to name only whom they
// reached.
func TestEscalationDeliveryParity(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		want   string
	}{
		{"403 from the Bot Connector", http.StatusForbidden, "403: the app is not installed"},
		{"404 from the Bot Connector", http.StatusNotFound, "404: no such conversation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			o, err := e.kit.Engine.Open(ctx, engine.Request{EmployeeID: "E1", Requester: "M1", Trigger: store.TriggerTeams, AwaitConfirmation: true, Reason: "t"})
			if err != nil {
				t.Fatal(err)
			}
			c, err := e.kit.Store.CaseWithActions(ctx, o.Case.ID)
			if err != nil || len(c.Actions) == 0 {
				t.Fatalf("case actions: %v %v", c, err)
			}
			// The next Bot Connector call (the post in it-identity's
			// conversation, the first delivery) is refused.
			e.fake.Fail(1, tc.status, "")
			act := c.Actions[0]
			e.app.Observe(engine.Event{Kind: engine.EventEscalation, CaseID: o.Case.ID, ActionID: act.ID, Targets: []string{"channel:it-identity"}, Level: 2, Detail: act.Name + " is late", At: time.Now()})
			failure := e.waitCall("the delivery failure in the alerts conversation", func(c teamstest.Call) bool {
				return c.Op == "send" && c.ConversationID == alerts && strings.Contains(cardOf(c), tc.want)
			})
			if !strings.Contains(cardOf(failure), "it-identity") {
				t.Errorf("the delivery failure does not name the route: %s", cardOf(failure))
			}
			dm := e.waitCall("the DM to Hal", func(c teamstest.Call) bool {
				return c.Op == "send" && c.ConversationID == "a:"+hal && strings.Contains(cardOf(c), "is late")
			})
			if !strings.Contains(cardOf(dm), "Notified: ") {
				t.Errorf("the DM does not list whom the escalation reached: %s", cardOf(dm))
			}
			fixed := e.waitCall("the DM corrected to whom it reached", func(c teamstest.Call) bool {
				return c.Op == "update" && c.ConversationID == "a:"+hal && c.ActivityID != ""
			})
			if card := cardOf(fixed); !strings.Contains(card, "Notified: Hal HR") || strings.Contains(card, "it-identity") {
				t.Errorf("the corrected DM: %s", card)
			}
			for _, c := range e.fake.Calls() {
				if c.ConversationID == itIdentity {
					t.Errorf("a refused post was recorded as sent: %+v", c)
				}
			}
		})
	}
}
