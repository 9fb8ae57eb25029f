package slackapp

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sirupsen/logrus"

	slackbot "github.com/kineticsec/kinetic/bot/slackbot"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/replay"
)

// FromEnv builds the Slack front end when the KINETIC_SLACK_* variables
// configure one (CheckEnv); it returns nil, nil when they don't, and an
// error naming every problem when the configuration is invalid. pol is the
// outbound URL policy (outbound.allow_cidrs and allow_hosts; nil refuses
// every internal address): the Web API URL must pass it, and every Web API
// call goes through its client, which checks each address it connects to.
func FromEnv(getenv func(string) string, pol *outbound.URLPolicy, log *logrus.Entry) (*App, error) {
	cfg, err := CheckEnv(getenv, pol)
	if cfg == nil || err != nil {
		return nil, err
	}
	cfg.HTTPClient = pol.HTTPClient(apiTimeout)
	return New(Options{Config: cfg, Log: log})
}

// apiTimeout bounds each Web API call made through the policy's client.
const apiTimeout = 30 * time.Second

// CheckEnv returns the Slack configuration the KINETIC_SLACK_* variables
// make (slackbot.ConfigFromEnv), or nil, nil when they make none. It is
// validated (Config.Validate) and its Web API URL checked against the
// outbound URL policy pol (Config.CheckOutbound); every problem is
// returned, naming its variable. `kinetic config validate` runs it too.
func CheckEnv(getenv func(string) string, pol *outbound.URLPolicy) (*slackbot.Config, error) {
	cfg, ok := slackbot.ConfigFromEnv(getenv)
	if !ok {
		return nil, nil
	}
	err := cfg.Validate()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = cfg.CheckOutbound(ctx, pol)
	}
	if err != nil {
		return nil, fmt.Errorf("slack configuration (KINETIC_SLACK_*): %w", err)
	}
	return cfg, nil
}

// Run binds the App to the engine and directory and starts the notifier.
// With receive set (kinetic serve), it also receives from Slack: in HTTP
// mode it returns the routes to mount (requests verified with the signing
// secret; replays caught in rdb when given, so every replica shares the
// cache), in Socket Mode it connects. stop ends everything Run started and
// waits for it.
func (a *App) Run(ctx context.Context, eng *engine.Engine, dir directory.Directory, rdb redis.UniversalClient, receive bool) (mount func(*http.ServeMux), stop func()) {
	a.Bind(eng, dir)
	ctx, cancel := context.WithCancel(ctx)
	waitNotifier := a.Start(ctx)
	var wg sync.WaitGroup
	if receive {
		switch a.cfg.EffectiveMode() {
		case slackbot.ModeSocket:
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := slackbot.RunSocketMode(ctx, &a.cfg, a, a.log); err != nil {
					a.log.WithError(err).Error("Slack Socket Mode stopped")
				}
			}()
		default:
			var opts []slackbot.VerifierOption
			if rdb != nil {
				opts = append(opts, slackbot.WithReplayStore(replay.NewRedis(rdb, replay.SlackPrefix)))
			}
			mount = a.Routes(slackbot.NewVerifier(a.cfg.SigningSecret.Value(), nil, opts...))
		}
	}
	return mount, func() {
		cancel()
		wg.Wait()
		waitNotifier()
	}
}
