package app

import (
	"context"
	"net/url"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/internal/anchor"
	"github.com/kineticsec/kinetic/internal/outbound"
)

// AnchorSinks builds the sinks audit.anchors configures (none when the
// block sets none). The HTTP sink's client goes through policy.
func AnchorSinks(an configs.AuditAnchors, policy *outbound.URLPolicy) []anchor.Sink {
	var sinks []anchor.Sink
	if an.File != "" {
		sinks = append(sinks, anchor.File{Path: an.File})
	}
	if an.URL != "" {
		sinks = append(sinks, anchor.HTTP{URL: an.URL, Token: an.URLToken.Value(), Client: policy.HTTPClient(an.Interval.D())})
	}
	switch s := an.Syslog; s {
	case "":
	case "local":
		sinks = append(sinks, &anchor.Syslog{})
	default:
		if u, err := url.Parse(s); err == nil {
			sinks = append(sinks, &anchor.Syslog{Network: u.Scheme, Addr: u.Host})
		}
	}
	return sinks
}

// StartAnchors publishes the audit head to the configured sinks every
// audit.anchors.interval until ctx ends or stop is called; stop waits for
// the publisher to return. Nothing runs when no sink is configured.
func (a *App) StartAnchors(ctx context.Context, policy *outbound.URLPolicy) (stop func()) {
	an := a.Config.Service.Audit.Anchors
	if !an.Enabled() {
		return func() {}
	}
	p := &anchor.Publisher{Head: a.Store.AuditHeadNow, Sinks: AnchorSinks(an, policy), Interval: an.Interval.D(),
		Log: a.Log.WithField("component", "audit-anchor")}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	return func() { cancel(); <-done }
}
