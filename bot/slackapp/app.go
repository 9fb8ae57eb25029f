// Package slackapp is Kinetic's Slack front end: it implements
// slackbot.Handlers (the /offboard command, buttons and modals, App Home)
// on top of the engine, and an engine.Observer (the notifier) that keeps
// one live status message per case in the offboarding channel and in the
// manager's and HR partner's DMs, threads replies under it, DMs approval
// cards to approvers and posts alerts.
//
// Nothing slow happens in a Slack callback (docs/slack.md): callbacks
// validate, map the Slack user to an HR record and either answer from the
// database or hand the work to a goroutine with its own detached context,
// reporting the result later with chat.postEphemeral, a DM or chat.update.
// Engine.Open, which makes connector lookups that can take seconds, always
// runs in the background; the callback first runs Engine.Precheck (the
// directory and the database only), refusing at once what would be
// refused, and otherwise answers "planning…".
package slackapp

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/slack-go/slack"

	"github.com/kineticsec/kinetic/bot/frontend"
	slackbot "github.com/kineticsec/kinetic/bot/slackbot"
	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/routing"
	"github.com/kineticsec/kinetic/store"
)

// Platform is the store.ChatMessage platform of every message this
// package records.
const Platform = "slack"

// Options configure an App. Config is required; Engine and Directory are
// set here or later with Bind (the notifier must exist before the engine
// that calls it is built).
type Options struct {
	Config *slackbot.Config
	// Engine and Directory may be left nil and supplied with Bind.
	Engine    *engine.Engine
	Directory directory.Directory
	// Log defaults to the standard logger.
	Log *logrus.Entry
	// Now defaults to time.Now.
	Now func() time.Time
	// PeopleTTL is how long a Slack id ↔ HR record mapping is cached;
	// default 10 minutes.
	PeopleTTL time.Duration
	// OpenTimeout bounds a background Engine.Open (planning with connector
	// lookups); default 2 minutes.
	OpenTimeout time.Duration
	// UpdateInterval is the minimum time between two chat.update calls in
	// one channel; default 1s.
	UpdateInterval time.Duration
	// BatchThreshold and BatchWindow: when more than BatchThreshold cases
	// with trigger hr open within BatchWindow, the further ones get one
	// shared BatchSummary message instead of a status card each; defaults
	// 10 and 10s.
	BatchThreshold int
	BatchWindow    time.Duration
	// Routes resolves the targets the engine addresses notifications to
	// (channel:NAME, user:HR-ID, group:NAME) to Slack channels, user
	// groups and people (route.go). Nil routes nothing: a channel target
	// then goes to the alerts channel, which says the team has no route.
	Routes *routing.Table
	// SecurityChannel is alerts.security_channel's name: its target
	// (channel:NAME) is the alerts channel (Config.AlertsChannel) when
	// Routes gives it no channel of its own.
	SecurityChannel string
	// GroupRefresh is how often the members of the Slack user groups named
	// by approver groups (slack:ID entries, see GroupMembers) are fetched
	// again; default 1 minute.
	GroupRefresh time.Duration
}

// App is the Slack front end. It implements slackbot.Handlers and
// engine.Observer. Create it with New, Bind it to the engine, Start the
// notifier and mount Routes.
type App struct {
	cfg     slackbot.Config
	api     *slack.Client
	log     *logrus.Entry
	now     func() time.Time
	openTO  time.Duration
	updIntv time.Duration

	eng *engine.Engine
	st  *store.Store
	ppl *people

	n      *notifier
	groups *userGroups
	routes *routing.Table
	secCh  string
	sent   sentContent // what each message last showed (updateMessage)

	plans frontend.Plans // plans shown for confirmation, by case
	refs  frontend.Refs  // the messages this front end posted

	homes homeViews // the approvals each published Home tab shows

	bg sync.WaitGroup // background work started by callbacks
}

// New builds an App. It makes no network call.
func New(o Options) (*App, error) {
	if o.Config == nil {
		return nil, errors.New("slackapp: a Config is required")
	}
	if o.Log == nil {
		o.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PeopleTTL <= 0 {
		o.PeopleTTL = 10 * time.Minute
	}
	if o.OpenTimeout <= 0 {
		o.OpenTimeout = 2 * time.Minute
	}
	if o.UpdateInterval <= 0 {
		o.UpdateInterval = time.Second
	}
	if o.BatchThreshold <= 0 {
		o.BatchThreshold = 10
	}
	if o.BatchWindow <= 0 {
		o.BatchWindow = 10 * time.Second
	}
	if o.GroupRefresh <= 0 {
		o.GroupRefresh = time.Minute
	}
	a := &App{
		cfg:     *o.Config,
		api:     slack.New(o.Config.BotToken.Value(), apiOptions(o.Config)...),
		log:     o.Log.WithField("component", "slack"),
		now:     o.Now,
		openTO:  o.OpenTimeout,
		updIntv: o.UpdateInterval,
		routes:  o.Routes,
		secCh:   o.SecurityChannel,
	}
	a.ppl = &people{api: a.api, ttl: o.PeopleTTL, now: o.Now}
	a.n = newNotifier(a, o.BatchThreshold, o.BatchWindow)
	a.groups = newUserGroups(a, o.GroupRefresh)
	for _, id := range o.Routes.UserGroups() {
		a.WatchGroups(configs.SlackGroupPrefix + id)
	}
	if o.Engine != nil {
		a.Bind(o.Engine, o.Directory)
	}
	return a, nil
}

// apiOptions are the Web API client's options: the configured URL and,
// when set, the configured HTTP client (the outbound URL policy's).
func apiOptions(c *slackbot.Config) []slack.Option {
	opts := []slack.Option{slack.OptionAPIURL(c.EffectiveAPIURL())}
	if c.HTTPClient != nil {
		opts = append(opts, slack.OptionHTTPClient(c.HTTPClient))
	}
	return opts
}

// Bind connects the App to the engine and HR directory. Call it once,
// before Start and before mounting Routes.
func (a *App) Bind(eng *engine.Engine, dir directory.Directory) {
	a.eng, a.st = eng, eng.Store()
	a.refs = frontend.Refs{Store: a.st, Platform: Platform, Log: a.log}
	a.ppl.dir = dir
}

// Start runs the notifier and the Slack user group refresher (see
// GroupMembers) until ctx ends; events observed before Start are kept and
// handled then. The returned function waits for them to stop.
func (a *App) Start(ctx context.Context) (wait func()) {
	if a.eng == nil {
		panic("slackapp: Start before Bind")
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		a.n.run(ctx)
	}()
	go func() {
		defer wg.Done()
		a.groups.run(ctx)
	}()
	return func() {
		wg.Wait()
		a.bg.Wait()
	}
}

// Observe implements engine.Observer: it queues the event for the notifier
// and returns at once.
func (a *App) Observe(ev engine.Event) { a.n.observe(ev) }

// Routes mounts the Slack HTTP endpoints (slackbot.Routes) verified with
// the configured signing secret.
func (a *App) Routes(v *slackbot.Verifier, opts ...slackbot.Option) func(*http.ServeMux) {
	return slackbot.Routes(v, a, append([]slackbot.Option{slackbot.WithLog(a.log)}, opts...)...)
}

// background runs f in a goroutine with a context detached from the Slack
// request and bounded by d.
func (a *App) background(d time.Duration, f func(ctx context.Context)) {
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		defer func() {
			if p := recover(); p != nil {
				a.log.WithField("panic", p).Error("Slack background job panicked")
			}
		}()
		f(ctx)
	}()
}

// tell shows text (and blocks) to user privately: an ephemeral message in
// channel when there is one, else (or when that fails) a DM.
func (a *App) tell(ctx context.Context, channel, user, text string, bs ...slack.Block) {
	opts := []slack.MsgOption{slack.MsgOptionText(text, false)}
	if len(bs) > 0 {
		opts = append(opts, slack.MsgOptionBlocks(bs...))
	}
	if channel != "" {
		if _, err := a.api.PostEphemeralContext(ctx, channel, user, opts...); err == nil {
			return
		}
	}
	if _, _, err := a.dm(ctx, user, opts...); err != nil {
		a.log.WithError(err).WithField("slack_user", user).Warn("could not reach a Slack user")
	}
}

// dm posts a direct message to a Slack user.
func (a *App) dm(ctx context.Context, user string, opts ...slack.MsgOption) (channel, ts string, err error) {
	ch, _, _, err := a.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{user}})
	if err != nil {
		return "", "", err
	}
	return a.api.PostMessageContext(ctx, ch.ID, opts...)
}

// Scopes are the bot token scopes this package needs, one per kind of Web
// API call it makes: commands (/offboard), chat:write (chat.postMessage,
// chat.update, chat.postEphemeral), im:write (conversations.open for DMs),
// users:read (users.info), users:read.email (profile emails,
// users.lookupByEmail) and usergroups:read (usergroups.users.list, for
// approver groups that are Slack user groups). deployments/slack/manifest.yaml
// lists exactly these (a test checks it).
var Scopes = []string{"commands", "chat:write", "im:write", "users:read", "users:read.email", "usergroups:read"}
