package app

import (
	"fmt"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/bot/emailroute"
	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/internal/mailer"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/routing"
)

// EmailRoutes is the email channel's routing table: each
// routing.NAME.email block.
func EmailRoutes(svc *configs.Service) *routing.Table {
	routes := map[string]routing.Route{}
	for name, r := range svc.Routing {
		if r != nil && r.Email != nil {
			routes[name] = routing.Route{Email: r.Email.To}
		}
	}
	return routing.New(routes, svc.ApproverGroups, "email:")
}

// emailNotifier builds the email channel (chat.email and the
// routing.NAME.email blocks); nil when chat.email is absent.
func emailNotifier(svc *configs.Service, log *logrus.Entry) (*emailroute.Notifier, error) {
	c := svc.Chat.Email
	if c == nil {
		return nil, nil
	}
	pol, err := outbound.NewURLPolicy(svc.Outbound.AllowCIDRs, svc.Outbound.AllowHosts)
	if err != nil {
		return nil, err
	}
	pw := ""
	if c.Password != nil {
		pw = c.Password.Value()
	}
	m, err := mailer.New(mailer.Options{Host: c.Host, Port: c.Port, Implicit: c.TLS == "implicit", CAFile: c.CAFile,
		Username: c.Username, Password: pw, Timeout: c.Timeout.D(), Policy: pol})
	if err != nil {
		return nil, fmt.Errorf("chat.email: %w", err)
	}
	return emailroute.New(emailroute.Options{Mailer: m, From: c.From, Routes: EmailRoutes(svc), AlertsRoute: svc.Alerts.SecurityChannel,
		Log: log.WithField("component", "email")}), nil
}
