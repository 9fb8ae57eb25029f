package slackapp

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/redis/go-redis/v9"
	"github.com/sirupsen/logrus"

	slackbot "github.com/kineticsec/kinetic/bot/slack"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/engine"
)

// FromEnv builds the Slack front end when the KINETIC_SLACK_* variables
// configure one (slackbot.ConfigFromEnv); it returns nil, nil when they
// don't, and an error naming every problem when the configuration is
// invalid.
func FromEnv(getenv func(string) string, log *logrus.Entry) (*App, error) {
	cfg, ok := slackbot.ConfigFromEnv(getenv)
	if !ok {
		return nil, nil
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("slack configuration (KINETIC_SLACK_*): %w", err)
	}
	return New(Options{Config: cfg, Log: log})
}

// Run binds the App to the engine and directory and starts the notifier.
// With receive set (kinetic serve), it also receives from Slack: in HTTP
// mode it returns the routes to mount (requests verified with the signing
// secret; replays caught in rdb when given, so every replica shares the
// cache), in Socket Mode it connects. stop ends everything Run started and
// waits for it.
func (a *App) Run(ctx context.Context, eng *engine.Engine, dir directory.Directory, rdb *redis.Client, receive bool) (mount func(*http.ServeMux), stop func()) {
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
				opts = append(opts, slackbot.WithReplayStore(slackbot.NewRedisReplayStore(rdb, "")))
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
