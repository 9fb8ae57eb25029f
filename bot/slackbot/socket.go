package slackbot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

// maxSocketInFlight bounds how many envelopes are handled at once in Socket
// Mode; further envelopes wait in slack-go's queue.
const maxSocketInFlight = 64

// ackTimeout bounds queueing an ack for the WebSocket writer.
const ackTimeout = 5 * time.Second

// fatalConnectErrors are apps.connections.open errors that retrying cannot
// fix. slack-go gives up by itself on invalid_auth, account_inactive,
// not_authed and token_revoked; the rest it would retry forever with
// back-off, hiding a misconfiguration.
var fatalConnectErrors = map[string]bool{
	"invalid_auth": true, "not_authed": true, "account_inactive": true, "token_revoked": true,
	"not_allowed_token_type": true, "missing_scope": true, "invalid_token": true,
}

// RunSocketMode receives Slack's payloads over Socket Mode and dispatches
// them to h until ctx is done. It calls apps.connections.open at
// cfg.EffectiveAPIURL() with cfg.AppToken, dials the WebSocket URL Slack
// returns, and reconnects when Slack asks (a "disconnect" envelope) or the
// connection drops, with back-off (https://api.slack.com/apis/connections/socket-implement).
//
// Every envelope is acknowledged with its envelope_id — Slack redelivers
// unacknowledged ones — including ones that cannot be parsed. Events are
// acknowledged before the handler runs; slash commands and interactions
// after it returns (or the budget passes, as for Routes), so that the ack
// can carry the Response: Slack reads an ack payload only where the envelope
// says accepts_response_payload (slash commands and interactions), and a
// payload must be under 20 KB, else the bare ack is sent.
//
// There is no request signature in Socket Mode: Slack authenticated the
// connection when it handed out the URL.
//
// It returns nil when ctx is cancelled, and an error when the connection
// cannot be established for a reason retrying will not fix (a wrong or
// revoked token). The error never contains a token.
func RunSocketMode(ctx context.Context, cfg *Config, h Handlers, log *logrus.Entry, opts ...Option) error {
	if cfg == nil {
		return errors.New("slack socket mode: no configuration")
	}
	if cfg.AppToken.Value() == "" {
		return errors.New("slack socket mode: app_token is not set or not resolved")
	}
	o := buildOptions(append(append([]Option(nil), opts...), WithLog(log)))
	log = o.log.WithField("slack_transport", TransportSocket)

	apiOpts := []slack.Option{
		slack.OptionAPIURL(cfg.EffectiveAPIURL()),
		slack.OptionAppLevelToken(cfg.AppToken.Value()),
		slack.OptionLog(debugLogger{log}),
	}
	if cfg.HTTPClient != nil {
		apiOpts = append(apiOpts, slack.OptionHTTPClient(cfg.HTTPClient))
	}
	api := slack.New(cfg.BotToken.Value(), apiOpts...)
	client := socketmode.New(api, socketmode.OptionLog(debugLogger{log}))

	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel (defers run last-in first-out)
	defer cancel()

	runErr := make(chan error, 1)
	go func() { runErr <- client.RunContext(runCtx) }()

	s := &socketRunner{client: client, h: h, o: o, log: log, ctx: runCtx, sem: make(chan struct{}, maxSocketInFlight), wg: &wg}
	var fatal error
	for {
		select {
		case err := <-runErr:
			switch {
			case fatal != nil:
				return fatal
			case ctx.Err() != nil:
				return nil
			case err == nil:
				return errors.New("slack socket mode: stopped")
			}
			return fmt.Errorf("slack socket mode: %w", err)
		case evt := <-client.Events:
			if err := s.dispatch(evt); err != nil && fatal == nil {
				fatal = err
				cancel()
			}
		}
	}
}

type socketRunner struct {
	client *socketmode.Client
	h      Handlers
	o      options
	log    *logrus.Entry
	ctx    context.Context
	sem    chan struct{}
	wg     *sync.WaitGroup
}

// dispatch handles one event from slack-go's queue. It returns an error only
// for a connection failure that retrying cannot fix.
func (s *socketRunner) dispatch(evt socketmode.Event) error {
	switch evt.Type {
	case socketmode.EventTypeConnecting:
		s.log.Debug("connecting to Slack Socket Mode")
	case socketmode.EventTypeConnected:
		s.log.Info("connected to Slack Socket Mode")
	case socketmode.EventTypeHello:
		s.log.Debug("Slack Socket Mode hello")
	case socketmode.EventTypeConnectionError:
		if e, ok := evt.Data.(*slack.ConnectionErrorEvent); ok {
			var se slack.SlackErrorResponse
			if errors.As(e.ErrorObj, &se) && fatalConnectErrors[se.Err] {
				s.log.WithField("error", se.Err).Error("Slack refused the app-level token")
				return fmt.Errorf("slack socket mode: apps.connections.open: %s", se.Err)
			}
			s.log.WithError(e.ErrorObj).WithField("retry_in", e.Backoff.String()).Warn("Slack Socket Mode connection failed; retrying")
		}
	case socketmode.EventTypeInvalidAuth:
		s.log.Error("Slack rejected the app-level token")
	case socketmode.EventTypeIncomingError, socketmode.EventTypeErrorWriteFailed:
		s.log.WithField("event", string(evt.Type)).Warn("Slack Socket Mode I/O error")
	case socketmode.EventTypeErrorBadMessage:
		// slack-go could not parse the envelope, so it gave us no Request.
		// Ack it anyway if it has an id, or Slack will redeliver it.
		if bad, ok := evt.Data.(*socketmode.ErrorBadMessage); ok {
			var env struct {
				EnvelopeID string `json:"envelope_id"`
			}
			if json.Unmarshal(bad.Message, &env) == nil && env.EnvelopeID != "" {
				s.ack(env.EnvelopeID, false, nil)
			}
			s.log.WithError(bad.Cause).Warn("unparseable Socket Mode envelope acknowledged and dropped")
		}
	case socketmode.EventTypeSlashCommand:
		cmd, ok := evt.Data.(slack.SlashCommand)
		if !ok || evt.Request == nil {
			s.ackRequest(evt.Request, nil)
			return nil
		}
		s.spawn(evt.Request, func(ctx context.Context, log *logrus.Entry) any {
			log = log.WithFields(logrus.Fields{"command": cmd.Command, "slack_user": cmd.UserID})
			resp, out := runBudgeted(ctx, log, func(ctx context.Context) Response { return s.h.Command(ctx, cmd) })
			switch out {
			case outcomeTimeout:
				resp = Ephemeral(TimeoutCommandText)
			case outcomePanic:
				resp = Ephemeral(InternalErrorText)
			}
			return resp.commandPayload()
		})
	case socketmode.EventTypeInteractive:
		cb, ok := evt.Data.(slack.InteractionCallback)
		if !ok || evt.Request == nil {
			s.ackRequest(evt.Request, nil)
			return nil
		}
		s.spawn(evt.Request, func(ctx context.Context, log *logrus.Entry) any {
			log = log.WithFields(logrus.Fields{"interaction": string(cb.Type), "slack_user": cb.User.ID})
			resp, out := runBudgeted(ctx, log, func(ctx context.Context) Response { return s.h.Interaction(ctx, cb) })
			if out != outcomeDone {
				return nil
			}
			return resp.interactionPayload(&cb)
		})
	case socketmode.EventTypeEventsAPI:
		// Nothing can ride on an events ack, so ack first and handle after.
		s.ackRequest(evt.Request, nil)
		if evt.Request == nil {
			return nil
		}
		ev, ok := evt.Data.(slackevents.EventsAPIEvent)
		if !ok {
			return nil
		}
		if ev.Type != slackevents.CallbackEvent {
			// As over HTTP, only event_callback reaches Event (see Handlers).
			s.log.WithField("type", ev.Type).Debug("ignoring a Socket Mode event that is not an event_callback")
			return nil
		}
		req := evt.Request
		s.run(req, func(ctx context.Context, log *logrus.Entry) {
			_, _ = runBudgeted(ctx, log.WithField("event", ev.InnerEvent.Type), func(ctx context.Context) Response { s.h.Event(ctx, ev); return Ack() })
		})
	default:
		if evt.Request != nil && evt.Request.EnvelopeID != "" {
			s.ackRequest(evt.Request, nil)
		}
	}
	return nil
}

// spawn handles a request that is acknowledged after its handler: f returns
// the ack payload (nil for none).
func (s *socketRunner) spawn(req *socketmode.Request, f func(context.Context, *logrus.Entry) any) {
	s.run(req, func(ctx context.Context, log *logrus.Entry) {
		s.ackRequest(req, f(ctx, log))
	})
}

// run calls f in a goroutine, at most maxSocketInFlight at once, with the
// budget's deadline counted from now and the Delivery in the context.
func (s *socketRunner) run(req *socketmode.Request, f func(context.Context, *logrus.Entry)) {
	start := time.Now()
	select {
	case s.sem <- struct{}{}:
	case <-s.ctx.Done():
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.sem }()
		ctx, cancel := context.WithDeadline(s.ctx, start.Add(s.o.budget))
		defer cancel()
		ctx = withDelivery(ctx, Delivery{
			Transport:    TransportSocket,
			RetryAttempt: req.RetryAttempt,
			RetryReason:  req.RetryReason,
			EnvelopeID:   req.EnvelopeID,
		})
		f(ctx, s.log.WithField("envelope_id", req.EnvelopeID))
	}()
}

func (s *socketRunner) ackRequest(req *socketmode.Request, payload any) {
	if req == nil || req.EnvelopeID == "" {
		return
	}
	s.ack(req.EnvelopeID, req.AcceptsResponsePayload, payload)
}

// ack queues the acknowledgement. A payload is sent only where the envelope
// accepts one; one Slack would drop (20 KB or more) is replaced by a bare
// ack so that the envelope is at least acknowledged.
func (s *socketRunner) ack(envelopeID string, acceptsPayload bool, payload any) {
	ctx, cancel := context.WithTimeout(s.ctx, ackTimeout)
	defer cancel()
	log := s.log.WithField("envelope_id", envelopeID)
	if payload != nil && !acceptsPayload {
		log.Debug("dropping a response payload the envelope does not accept")
		payload = nil
	}
	if payload != nil {
		err := s.client.AckCtx(ctx, envelopeID, payload)
		if err == nil {
			return
		}
		log.WithError(err).Warn("acknowledging with a payload failed; sending a bare ack")
	}
	if err := s.client.AckCtx(ctx, envelopeID, nil); err != nil {
		log.WithError(err).Warn("acknowledging a Socket Mode envelope failed")
	}
}

// debugLogger routes slack-go's own logging (emitted only in its debug mode,
// with tokens redacted by slack-go) to logrus at debug level.
type debugLogger struct{ e *logrus.Entry }

func (l debugLogger) Output(_ int, s string) error {
	l.e.Debug(strings.TrimSpace(s))
	return nil
}
