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

// TeamsRoutes is the Teams routing table of the service file: approver
// groups only for now (routing.NAME.teams blocks do not exist yet), so
// user: targets and group members are DMed and channel targets go to the
// alerts conversation, saying no Teams route reached them.
func TeamsRoutes(svc *configs.Service) *routing.Table {
	return routing.New(nil, svc.ApproverGroups, "teams:")
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
		OffboardingConversation: tc.OffboardingConversation, AlertsConversation: tc.AlertsConversation,
		Connector: cl, Verifier: v, Routes: TeamsRoutes(svc), Log: log,
	})
	if err != nil {
		return nil, wrap(err)
	}
	return a, nil
}
