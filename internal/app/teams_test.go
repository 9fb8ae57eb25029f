package app_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/bot/teams/connector"
	"github.com/kineticsec/kinetic/bot/teams/graph"
	"github.com/kineticsec/kinetic/bot/teams/teamstest"
	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/internal/app"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

// TestTeamsFromChatTeams: chat.teams builds the Teams front end (nil
// without it), whose /teams/messages refuses an unsigned activity and
// accepts one the Bot Framework signed.
func TestTeamsFromChatTeams(t *testing.T) {
	pol := &outbound.URLPolicy{AllowHosts: []string{"127.0.0.1"}}
	log := logrus.NewEntry(logrus.New())
	if ta, err := app.Teams(&configs.Service{}, pol, log); ta != nil || err != nil {
		t.Fatalf("without chat.teams: %v %v", ta, err)
	}
	fake := teamstest.NewConnector(t)
	is := teamstest.NewIssuer(t)
	is.Endorse("key-1", "msteams")
	svc := &configs.Service{Chat: configs.Chat{Teams: &configs.TeamsChat{
		AppID: fake.AppID, AppPassword: secret.FromValue(fake.Secret), ServiceURL: fake.URL(),
		OpenIDMetadataURL: is.MetadataURL(), TokenURL: fake.TokenURL(), OffboardingConversation: "19:o@thread.tacv2",
	}}}
	ta, err := app.Teams(svc, pol, log)
	if err != nil || ta == nil {
		t.Fatalf("app.Teams: %v %v", ta, err)
	}
	mux := http.NewServeMux()
	ta.Routes()(mux)
	act := &connector.Activity{Type: "conversationUpdate", ServiceURL: fake.URL(), ChannelID: "msteams",
		Conversation: &connector.ConversationAccount{ID: "a:x"}}
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, teamstest.Request(t, "/teams/messages", "", act))
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("unsigned: %d", w.Code)
	}
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, teamstest.Request(t, "/teams/messages", is.Token(fake.AppID, fake.URL(), time.Now()), act))
	if w.Code != http.StatusOK {
		t.Fatalf("signed: %d %s", w.Code, strings.TrimSpace(w.Body.String()))
	}
}

// TestTeamsRoutes: routing.NAME.teams blocks make the Teams routing table;
// the security channel's Teams route is the alerts conversation, and a
// chat.teams.alerts_conversation disagreeing with it is refused.
func TestTeamsRoutes(t *testing.T) {
	svc := &configs.Service{Routing: map[string]*configs.Route{
		"it-identity":     {Teams: &configs.TeamsRoute{Conversation: "19:id@thread.tacv2", People: []string{"E1"}}},
		"network":         {Slack: &configs.SlackRoute{Channel: "C0NET"}},
		"security-alerts": {Teams: &configs.TeamsRoute{Conversation: "19:sec@thread.tacv2"}},
	}}
	svc.Alerts.SecurityChannel = "security-alerts"
	tab := app.TeamsRoutes(svc)
	if d := tab.Resolve("channel:it-identity"); !d.Routed || d.Channel != "19:id@thread.tacv2" || len(d.People) != 1 {
		t.Errorf("channel:it-identity = %+v", d)
	}
	if d := tab.Resolve("channel:network"); d.Routed {
		t.Errorf("a Slack-only route reaches Teams: %+v", d)
	}
	fake := teamstest.NewConnector(t)
	is := teamstest.NewIssuer(t)
	svc.Chat.Teams = &configs.TeamsChat{
		AppID: fake.AppID, AppPassword: secret.FromValue(fake.Secret), ServiceURL: fake.URL(),
		OpenIDMetadataURL: is.MetadataURL(), TokenURL: fake.TokenURL(), AlertsConversation: "19:other@thread.tacv2",
	}
	pol := &outbound.URLPolicy{AllowHosts: []string{"127.0.0.1"}}
	if _, err := app.Teams(svc, pol, logrus.NewEntry(logrus.New())); err == nil || !strings.Contains(err.Error(), "set twice") {
		t.Fatalf("disagreeing alerts conversations: %v", err)
	}
	svc.Chat.Teams.AlertsConversation = ""
	if ta, err := app.Teams(svc, pol, logrus.NewEntry(logrus.New())); err != nil || ta == nil {
		t.Fatalf("alerts conversation from the route: %v %v", ta, err)
	}
}

// TestGraphPeopleKeepsAnswers: serve's Graph lookups of people read a
// user's email by object id and an object id by email, each answer kept
// (asked once), a failure not kept (asked again), a user Graph does not
// know an error.
func TestGraphPeopleKeepsAnswers(t *testing.T) {
	g := teamstest.NewGraph(t)
	g.AddUser(teamstest.GraphUser{ID: "00000000-0000-0000-0000-0000000000a1", Mail: "mia@example.test", UPN: "mia@example.test"})
	gc, err := graph.New(graph.Config{AppID: g.AppID, AppPassword: secret.FromValue(g.Secret), TenantID: "tenant-1", BaseURL: g.URL(), TokenURL: g.TokenURL(), MaxAttempts: 1},
		&outbound.URLPolicy{AllowHosts: []string{"127.0.0.1"}, RootCAs: g.CertPool()})
	if err != nil {
		t.Fatal(err)
	}
	emailOf, aadOf := app.GraphPeople(gc)
	ctx := context.Background()
	g.Fail(1, 503, "")
	if _, err := emailOf(ctx, "00000000-0000-0000-0000-0000000000a1"); err == nil {
		t.Fatal("a 503 gave an email")
	}
	for range 3 {
		if e, err := emailOf(ctx, "00000000-0000-0000-0000-0000000000a1"); err != nil || e != "mia@example.test" {
			t.Fatalf("emailOf: %q %v", e, err)
		}
		if id, err := aadOf(ctx, "Mia@example.test"); err != nil || id != "00000000-0000-0000-0000-0000000000a1" {
			t.Fatalf("aadOf: %q %v", id, err)
		}
	}
	if _, err := emailOf(ctx, "00000000-0000-0000-0000-0000000000ff"); !errors.Is(err, graph.ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
	if n := len(g.Requests()); n != 4 {
		t.Fatalf("%d Graph requests, want 4 (the failure, one per kept answer, the unknown user): %v", n, g.Requests())
	}
}

// TestTeamsWithCertificate: chat.teams.certificate and private_key are
// read and paired when the front end is built; a key of another
// certificate or a missing file is an error naming the file, never the key.
func TestTeamsWithCertificate(t *testing.T) {
	pol := &outbound.URLPolicy{AllowHosts: []string{"127.0.0.1"}}
	log := logrus.NewEntry(logrus.New())
	fake := teamstest.NewConnector(t)
	is := teamstest.NewIssuer(t)
	tc, other := teamstest.NewCertificate(t, false), teamstest.NewCertificate(t, false)
	certFile := filepath.Join(t.TempDir(), "teams.pem")
	if err := os.WriteFile(certFile, tc.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	build := func(cert string, key []byte) error {
		svc := &configs.Service{File: "kinetic.yaml", Chat: configs.Chat{Teams: &configs.TeamsChat{
			AppID: fake.AppID, Certificate: cert, PrivateKey: secret.FromValue(string(key)), ServiceURL: fake.URL(),
			OpenIDMetadataURL: is.MetadataURL(), TokenURL: fake.TokenURL(),
		}}}
		_, err := app.Teams(svc, pol, log)
		return err
	}
	if err := build(certFile, tc.KeyPEM); err != nil {
		t.Fatalf("certificate: %v", err)
	}
	for _, c := range []struct {
		file string
		key  []byte
		want string
	}{
		{certFile, other.KeyPEM, "teams.pem: private_key is not the key of the certificate"},
		{certFile + ".missing", tc.KeyPEM, "teams.pem.missing"},
	} {
		err := build(c.file, c.key)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "chat.teams in kinetic.yaml") || strings.Contains(err.Error(), "PRIVATE") {
			t.Errorf("err = %v, want %q", err, c.want)
		}
	}
}
