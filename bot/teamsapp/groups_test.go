package teamsapp_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/bot/teams/botauth"
	"github.com/kineticsec/kinetic/bot/teams/connector"
	"github.com/kineticsec/kinetic/bot/teams/graph"
	"github.com/kineticsec/kinetic/bot/teams/teamstest"
	"github.com/kineticsec/kinetic/bot/teamsapp"
	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/routing"
	"github.com/kineticsec/kinetic/internal/secret"
	"github.com/kineticsec/kinetic/internal/testkit"
)

// TestEntraGroupMembers: an entra:ID approver group's members are its
// Graph users mapped to HR by email (nested groups come flattened from
// transitiveMembers); nobody before the first successful read (fail
// closed); a failed read (5xx, or the group gone) keeps the last members;
// a later read picks up a change. Other entries have no members.
func TestEntraGroupMembers(t *testing.T) {
	const group = "7d1e5c2a-4b3f-4e6d-9a8b-1c2d3e4f5a6b"
	g := teamstest.NewGraph(t)
	g.AddUser(teamstest.GraphUser{ID: lee, Mail: "legal1@example.test", UPN: "lee@corp.example.test"})
	g.AddUser(teamstest.GraphUser{ID: "00000000-0000-0000-0000-0000000000c2", UPN: "legal2@example.test"})
	g.AddUser(teamstest.GraphUser{ID: "00000000-0000-0000-0000-0000000000ff", Mail: "contractor@elsewhere.test"}) // no HR record
	g.Fail(3, 503, "")                                                                                            // the first reads fail whole (MaxAttempts 1)
	pol := &outbound.URLPolicy{AllowHosts: []string{"127.0.0.1"}, RootCAs: g.CertPool()}
	gc, err := graph.New(graph.Config{AppID: g.AppID, AppPassword: secret.FromValue(g.Secret), TenantID: tenant, BaseURL: g.URL(), TokenURL: g.TokenURL(), MaxAttempts: 1}, pol)
	if err != nil {
		t.Fatal(err)
	}
	fake := teamstest.NewConnector(t)
	is := teamstest.NewIssuer(t)
	v, err := botauth.New(botauth.Config{AppID: fake.AppID, MetadataURL: is.MetadataURL()}, testPolicy)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := connector.New(connector.Config{AppID: fake.AppID, AppPassword: secret.FromValue(fake.Secret), TokenURL: fake.TokenURL()}, testPolicy)
	if err != nil {
		t.Fatal(err)
	}
	l := logrus.New()
	l.Level = logrus.ErrorLevel
	a, err := teamsapp.New(teamsapp.Options{AppID: fake.AppID, TenantID: tenant, ServiceURL: fake.URL(), Connector: cl, Verifier: v, Log: logrus.NewEntry(l),
		Groups: gc, GroupRefresh: 20 * time.Millisecond, AlertsConversation: alerts,
		Routes: routing.New(nil, map[string][]string{"legal": {"entra:" + group}}, configs.EntraGroupPrefix),
		AADOf: func(ctx context.Context, email string) (string, error) {
			u, err := gc.User(ctx, email)
			return u.ID, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	kit := testkit.New(t, testkit.Options{RedisDB: 13})
	a.Bind(kit.Engine, kit.Directory)
	a.WatchGroups("entra:"+group, "slack:S0123", "H1")
	g.SetGroup(group, lee, "00000000-0000-0000-0000-0000000000ff")
	if m := a.GroupMembers("entra:" + group); len(m) != 0 {
		t.Fatalf("members before any read: %v", m)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stop := a.Start(ctx)
	defer func() { cancel(); stop() }()

	testkit.Eventually(t, 20*time.Second, func() bool { return slices.Equal(a.GroupMembers("entra:"+group), []string{"L1"}) },
		func() string { return "the group never had L1 alone" })
	// The group disappears (404) and Graph fails: the last members stay.
	g.RemoveGroup(group)
	n := len(g.Requests())
	testkit.Eventually(t, 20*time.Second, func() bool { return len(g.Requests()) > n+2 }, func() string { return "no more reads" })
	if m := a.GroupMembers("entra:" + group); !slices.Equal(m, []string{"L1"}) {
		t.Fatalf("after failed reads: %v", m)
	}
	// Lou joins (through a nested group, flattened by Graph).
	g.SetGroup(group, lee, "00000000-0000-0000-0000-0000000000c2")
	testkit.Eventually(t, 20*time.Second, func() bool { return slices.Equal(a.GroupMembers("entra:"+group), []string{"L1", "L2"}) },
		func() string { return "Lou's joining was never seen" })
	// An escalation to group:legal DMs the Entra group's members. Lou's
	// UPN is her email, so Graph finds her object id; Lee's UPN is not
	// his email (GET /users/{email} cannot find him), which the alerts
	// conversation is told as a delivery failure.
	a.Observe(engine.Event{Kind: engine.EventEscalation, Targets: []string{"group:legal"}, Level: 1, Detail: "a step is late", At: time.Now()})
	waitSend := func(what string, ok func(teamstest.Call) bool) {
		t.Helper()
		testkit.Eventually(t, 20*time.Second, func() bool { return slices.ContainsFunc(fake.Calls(), ok) },
			func() string { return fmt.Sprintf("no %s: %+v", what, fake.Calls()) })
	}
	waitSend("escalation DM to Lou", func(c teamstest.Call) bool {
		return c.Op == "send" && c.ConversationID == "a:00000000-0000-0000-0000-0000000000c2" && strings.Contains(cardOf(c), "a step is late")
	})
	waitSend("delivery failure naming Lee", func(c teamstest.Call) bool {
		return c.Op == "send" && c.ConversationID == alerts && strings.Contains(cardOf(c), "Lee Legal (L1): no Teams account")
	})
	for _, other := range []string{"slack:S0123", "entra:", "H1"} {
		if m := a.GroupMembers(other); m != nil {
			t.Errorf("%q has members %v", other, m)
		}
	}
}
