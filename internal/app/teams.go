package app

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/bot/teams/appcred"
	"github.com/kineticsec/kinetic/bot/teams/botauth"
	"github.com/kineticsec/kinetic/bot/teams/connector"
	"github.com/kineticsec/kinetic/bot/teams/graph"
	"github.com/kineticsec/kinetic/bot/teamsapp"
	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/routing"
)

// TeamsRoutes is the Teams routing table of the service file: each
// routing.NAME.teams block (its conversation posted in, its people DMed),
// and the approver groups group:NAME targets name (their entra:ID entries
// being Entra groups, whose members the front end keeps). A channel
// target without a Teams route goes to the alerts conversation, saying
// so.
func TeamsRoutes(svc *configs.Service) *routing.Table {
	routes := map[string]routing.Route{}
	for name, r := range svc.Routing {
		if r == nil || (r.Teams == nil && r.Email == nil) {
			continue
		}
		var rt routing.Route
		if r.Teams != nil {
			rt = routing.Route{Channel: r.Teams.Conversation, People: r.Teams.People}
		}
		if r.Email != nil {
			rt.Email = r.Email.To // reached by email: not a missing route
		}
		routes[name] = rt
	}
	return routing.New(routes, svc.ApproverGroups, configs.EntraGroupPrefix)
}

// teamsAlertsConversation is the alerts conversation: the security
// channel's Teams route, or chat.teams.alerts_conversation (configs
// refuses the two disagreeing).
func teamsAlertsConversation(svc *configs.Service) (string, error) {
	tc := svc.Chat.Teams
	r := svc.Routing[svc.Alerts.SecurityChannel]
	if svc.Alerts.SecurityChannel == "" || r == nil || r.Teams == nil || r.Teams.Conversation == "" {
		return tc.AlertsConversation, nil
	}
	if tc.AlertsConversation != "" && tc.AlertsConversation != r.Teams.Conversation {
		return "", fmt.Errorf("the Teams alerts conversation is set twice: %s (chat.teams.alerts_conversation) and %s (routing.%s.teams.conversation); set one",
			tc.AlertsConversation, r.Teams.Conversation, svc.Alerts.SecurityChannel)
	}
	return r.Teams.Conversation, nil
}

// Teams builds the Microsoft Teams front end of chat.teams, its token
// checks, token fetches, Bot Connector and Graph calls going through pol's
// client; nil, nil when chat.teams is absent. People are mapped by the
// directory's chat_user_id holding their Entra object id; with
// chat.teams.graph, also by the email Graph gives for their object id
// (and the other way, for DMs), and entra:ID approver groups are read
// through Graph.
func Teams(svc *configs.Service, pol *outbound.URLPolicy, log *logrus.Entry) (*teamsapp.App, error) {
	tc := svc.Chat.Teams
	if tc == nil {
		return nil, nil
	}
	wrap := func(err error) error { return fmt.Errorf("teams configuration (chat.teams in %s): %w", svc.File, err) }
	alerts, err := teamsAlertsConversation(svc)
	if err != nil {
		return nil, wrap(err)
	}
	v, err := botauth.New(botauth.Config{AppID: tc.AppID, TenantID: tc.TenantID, MetadataURL: tc.OpenIDMetadataURL, EntraMetadataURL: tc.EntraMetadataURL}, pol,
		botauth.WithRejectHook(func(err error) { log.WithError(err).Info("refused a Teams request") }))
	if err != nil {
		return nil, wrap(err)
	}
	cert, err := teamsCertificate(tc)
	if err != nil {
		return nil, wrap(err)
	}
	cl, err := connector.New(connector.Config{AppID: tc.AppID, AppPassword: tc.AppPassword, Certificate: cert, TenantID: tc.TenantID, TokenURL: tc.TokenURL}, pol)
	if err != nil {
		return nil, wrap(err)
	}
	o := teamsapp.Options{
		AppID: tc.AppID, TenantID: tc.TenantID, ServiceURL: tc.ServiceURL,
		OffboardingConversation: tc.OffboardingConversation, AlertsConversation: alerts,
		Connector: cl, Verifier: v, Routes: TeamsRoutes(svc), Log: log,
	}
	if g := tc.Graph; g != nil {
		gc, err := graph.New(graph.Config{AppID: tc.AppID, AppPassword: tc.AppPassword, Certificate: cert, TenantID: tc.TenantID, BaseURL: g.URL, TokenURL: g.TokenURL}, pol)
		if err != nil {
			return nil, wrap(err)
		}
		o.EmailOf, o.AADOf = GraphPeople(gc)
		o.Groups, o.GroupRefresh = gc, g.GroupRefresh.D()
	}
	a, err := teamsapp.New(o)
	if err != nil {
		return nil, wrap(err)
	}
	return a, nil
}

// teamsCertificate reads chat.teams.certificate and its private_key (nil
// when the bot authenticates with app_password). Errors name the file, never
// the key.
func teamsCertificate(tc *configs.TeamsChat) (*appcred.Certificate, error) {
	if tc.Certificate == "" {
		return nil, nil
	}
	pemCert, err := os.ReadFile(tc.Certificate)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	cert, err := appcred.ParseCertificate(pemCert, []byte(tc.PrivateKey.Value()))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tc.Certificate, err)
	}
	if now := time.Now(); now.After(cert.Leaf().NotAfter) {
		return nil, fmt.Errorf("certificate %s (thumbprint %s) expired on %s: upload a new one to the app registration", tc.Certificate, cert.ThumbprintSHA1(), cert.Leaf().NotAfter.Format(time.DateOnly))
	}
	return cert, nil
}

// GraphPeople maps Entra users and emails through Graph: emailOf reads a
// user's mail (or UPN) by object id, GET /users/{id}?$select=…
// (https://learn.microsoft.com/en-us/graph/api/user-get); aadOf reads the
// object id of the user whose UPN is the email (GET /users/{upn}: Graph
// addresses users by id or userPrincipalName, so this finds people whose
// UPN is their email, as it is in most tenants). Answers are kept for
// graphPeopleTTL, so a conversation does not ask Graph at every message;
// failures are not kept.
func GraphPeople(gc *graph.Client) (emailOf, aadOf func(context.Context, string) (string, error)) {
	c := &ttlCache{ttl: graphPeopleTTL, now: time.Now, m: map[string]ttlEntry{}}
	emailOf = func(ctx context.Context, aad string) (string, error) {
		return c.get("id:"+aad, func() (string, error) {
			u, err := gc.User(ctx, aad)
			return u.Email(), err
		})
	}
	aadOf = func(ctx context.Context, email string) (string, error) {
		return c.get("email:"+strings.ToLower(email), func() (string, error) {
			u, err := gc.User(ctx, email)
			return u.ID, err
		})
	}
	return emailOf, aadOf
}

// graphPeopleTTL is how long a Graph answer about a person is kept.
const graphPeopleTTL = 10 * time.Minute

// graphPeopleMax bounds the kept answers; past it they are all dropped.
const graphPeopleMax = 10000

type ttlEntry struct {
	v   string
	exp time.Time
}

type ttlCache struct {
	ttl time.Duration
	now func() time.Time
	mu  sync.Mutex
	m   map[string]ttlEntry
}

func (c *ttlCache) get(key string, load func() (string, error)) (string, error) {
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && c.now().Before(e.exp) {
		return e.v, nil
	}
	v, err := load()
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	if len(c.m) >= graphPeopleMax {
		c.m = map[string]ttlEntry{}
	}
	c.m[key] = ttlEntry{v: v, exp: c.now().Add(c.ttl)}
	c.mu.Unlock()
	return v, nil
}
