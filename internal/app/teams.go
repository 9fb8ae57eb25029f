package app

import (
	"fmt"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/bot/teams/botauth"
	"github.com/kineticsec/kinetic/bot/teams/connector"
	"github.com/kineticsec/kinetic/bot/teamsapp"
	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/routing"
)

// TeamsRoutes is the Teams routing table of the service file: each
// routing.NAME.teams block (its conversation posted in, its people DMed),
// and the approver groups group:NAME targets name. A channel target
// without a Teams route goes to the alerts conversation, saying so.
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
	return routing.New(routes, svc.ApproverGroups, "teams:")
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
// checks, token fetches and Bot Connector calls going through pol's
// client; nil, nil when chat.teams is absent. People are mapped by the
// directory's chat_user_id holding their Entra object id (no Graph lookup
// of emails is configured).
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
	cl, err := connector.New(connector.Config{AppID: tc.AppID, AppPassword: tc.AppPassword, TenantID: tc.TenantID, TokenURL: tc.TokenURL}, pol)
	if err != nil {
		return nil, wrap(err)
	}
	a, err := teamsapp.New(teamsapp.Options{
		AppID: tc.AppID, TenantID: tc.TenantID, ServiceURL: tc.ServiceURL,
		OffboardingConversation: tc.OffboardingConversation, AlertsConversation: alerts,
		Connector: cl, Verifier: v, Routes: TeamsRoutes(svc), Log: log,
	})
	if err != nil {
		return nil, wrap(err)
	}
	return a, nil
}
