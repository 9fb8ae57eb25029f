// Package teamsapp is Kinetic's Microsoft Teams front end: the Bot
// Framework messaging endpoint (POST /teams/messages, behind
// botauth.Verify), the commands of a message to the bot, the
// Action.Execute invokes of its Adaptive Cards, and an engine.Observer
// (the notifier) that keeps one live status card per case in the
// offboarding conversation, replies in its thread and DMs approval cards.
//
// As in bot/slackapp, nothing slow happens while Teams waits: a message is
// validated, its sender mapped to an HR record and Engine.Precheck run;
// Engine.Open (connector lookups) runs in the background on a detached
// context and the answer goes out through the Bot Connector. Teams gives a
// bot about 15 seconds to answer an activity
// (https://learn.microsoft.com/en-us/microsoftteams/platform/bots/how-to/conversations/conversation-messages).
//
// Invokes (adaptiveCard/action) are answered in the HTTP response with the
// Universal Actions invoke response: the refreshed card, or a message
// shown to the clicker only
// (https://learn.microsoft.com/en-us/microsoftteams/platform/task-modules-and-cards/cards/universal-actions-for-adaptive-cards/work-with-universal-actions-for-adaptive-cards).
package teamsapp

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/kineticsec/kinetic/bot/frontend"
	"net/http"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/bot/teams/botauth"
	"github.com/kineticsec/kinetic/bot/teams/cards"
	"github.com/kineticsec/kinetic/bot/teams/connector"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/routing"
	"github.com/kineticsec/kinetic/store"
)

// Platform is the store.ChatMessage platform of every message this
// package records.
const Platform = "teams"

// MessagesPath is the Bot Framework messaging endpoint.
const MessagesPath = "/teams/messages"

// Options configure an App.
type Options struct {
	// AppID is the bot's Microsoft app id (the bot account of 1:1
	// conversations it creates).
	AppID string
	// TenantID is the tenant of proactive 1:1 conversations when the
	// activity does not say (single-tenant bots).
	TenantID string
	// ServiceURL is the Bot Connector service of proactive messages
	// (status cards, DMs to people who have not written to the bot).
	ServiceURL string
	// OffboardingConversation is the conversation (a channel) of status
	// cards; AlertsConversation that of alerts and unrouted escalations.
	OffboardingConversation string
	AlertsConversation      string
	// Connector sends activities; Verifier authenticates inbound ones.
	Connector *connector.Client
	Verifier  *botauth.Verifier
	// Engine and Directory may be left nil and supplied with Bind.
	Engine    *engine.Engine
	Directory directory.Directory
	// EmailOf returns the email (UPN) of an Entra user by AAD object id,
	// for people whose HR record has no Teams chat id; AADOf is the
	// reverse (for DMs). Either may be nil.
	EmailOf func(ctx context.Context, aadObjectID string) (string, error)
	AADOf   func(ctx context.Context, email string) (string, error)
	// Routes resolves escalation targets (routing.NAME.teams: a channel
	// target's conversation posted in and its people DMed; user:HR-ID
	// DMed; what reaches nobody goes to the alerts conversation).
	Routes *routing.Table
	Log    *logrus.Entry
	Now    func() time.Time
	// OpenTimeout bounds a background Engine.Open; default 2 minutes.
	OpenTimeout time.Duration
	// Groups reads the Entra groups approver_groups name (entra:ID
	// entries, see GroupMembers); nil: such groups have no members.
	// GroupRefresh is how often they are read again (default
	// DefaultGroupRefresh).
	Groups       GroupReader
	GroupRefresh time.Duration
	// UpdateInterval is the minimum time between two updates of one
	// status card; default 1s (Teams allows a bot about one message per
	// second per conversation).
	UpdateInterval time.Duration
	// BatchThreshold and BatchWindow: when more than BatchThreshold cases
	// with trigger hr open within BatchWindow, the further ones share one
	// summary card instead of a status card each (batch.go); defaults
	// DefaultBatchThreshold and DefaultBatchWindow.
	BatchThreshold int
	BatchWindow    time.Duration
}

// App is the Teams front end. Create it with New, Bind it to the engine,
// Start the notifier and mount Routes.
type App struct {
	o   Options
	log *logrus.Entry
	now func() time.Time
	api *connector.Client

	eng    *engine.Engine
	st     *store.Store
	ppl    *people
	n      *notifier
	groups *entraGroups // nil without Options.Groups

	plans frontend.Plans // plans shown for confirmation, by case
	refs  frontend.Refs  // the activities this front end posted

	bg sync.WaitGroup
}

// New builds an App. It makes no network call.
func New(o Options) (*App, error) {
	if o.Connector == nil || o.Verifier == nil {
		return nil, errors.New("teamsapp: a Connector and a Verifier are required")
	}
	if o.AppID == "" || o.ServiceURL == "" {
		return nil, errors.New("teamsapp: app_id and service_url are required")
	}
	if o.Log == nil {
		o.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.OpenTimeout <= 0 {
		o.OpenTimeout = 2 * time.Minute
	}
	if o.UpdateInterval <= 0 {
		o.UpdateInterval = time.Second
	}
	if o.BatchThreshold <= 0 {
		o.BatchThreshold = DefaultBatchThreshold
	}
	if o.BatchWindow <= 0 {
		o.BatchWindow = DefaultBatchWindow
	}
	a := &App{o: o, log: o.Log.WithField("component", "teams"), now: o.Now, api: o.Connector}
	a.ppl = &people{emailOf: o.EmailOf, aadOf: o.AADOf}
	a.n = newNotifier(a)
	if o.Groups != nil {
		a.groups = newEntraGroups(a, o.Groups, o.GroupRefresh)
	}
	if o.Engine != nil {
		a.Bind(o.Engine, o.Directory)
	}
	return a, nil
}

// Bind connects the App to the engine and HR directory.
func (a *App) Bind(eng *engine.Engine, dir directory.Directory) {
	a.eng, a.st = eng, eng.Store()
	a.refs = frontend.Refs{Store: a.st, Platform: Platform, Log: a.log}
	a.ppl.dir = dir
}

// Start runs the notifier until ctx ends; the returned function waits for
// it and for background work.
func (a *App) Start(ctx context.Context) (wait func()) {
	if a.eng == nil {
		panic("teamsapp: Start before Bind")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.n.run(ctx)
	}()
	groupsDone := make(chan struct{})
	go func() {
		defer close(groupsDone)
		if a.groups != nil {
			a.groups.run(ctx)
		}
	}()
	return func() {
		<-done
		<-groupsDone
		a.bg.Wait()
	}
}

// Observe implements engine.Observer.
func (a *App) Observe(ev engine.Event) { a.n.observe(ev) }

// Routes mounts POST /teams/messages behind the verifier.
func (a *App) Routes() func(*http.ServeMux) {
	return func(mux *http.ServeMux) {
		mux.Handle(MessagesPath, a.o.Verifier.Verify(http.HandlerFunc(a.serve)))
	}
}

// serve handles one authenticated activity.
func (a *App) serve(w http.ResponseWriter, r *http.Request) {
	act, ok := botauth.ActivityFrom(r.Context())
	if !ok {
		http.Error(w, "no activity", http.StatusInternalServerError)
		return
	}
	// A single-tenant deployment answers its own tenant only: the Bot
	// Framework's tokens are not tenant-specific, the activity says whose
	// conversation it is.
	if a.o.TenantID != "" && act.Conversation != nil && act.Conversation.TenantID != "" && act.Conversation.TenantID != a.o.TenantID {
		a.log.WithField("tenant", act.Conversation.TenantID).Warn("refused an activity from another tenant")
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "this bot serves another tenant"})
		return
	}
	switch act.Type {
	case connector.TypeMessage:
		if act.From == nil || act.Conversation == nil || act.Conversation.ID == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "message without from or conversation"})
			return
		}
		a.message(r.Context(), act)
		w.WriteHeader(http.StatusOK)
	case connector.TypeInvoke:
		if act.Name != "adaptiveCard/action" {
			// Other invokes (task/fetch, composeExtension/…) are not
			// Kinetic's: 200 with nothing, as Teams expects of a bot
			// that does not handle them... but say so.
			writeJSON(w, http.StatusOK, messageResponse("Kinetic does not handle that kind of request. Nothing was changed."))
			return
		}
		writeJSON(w, http.StatusOK, a.invoke(r.Context(), act))
	default:
		// conversationUpdate, installationUpdate, typing…: nothing to do.
		w.WriteHeader(http.StatusOK)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// invokeResponse is the Universal Actions answer to adaptiveCard/action.
type invokeResponse struct {
	StatusCode int    `json:"statusCode"`
	Type       string `json:"type"`
	Value      any    `json:"value"`
}

// Types of an invoke response.
const (
	TypeCardResponse    = "application/vnd.microsoft.card.adaptive"
	TypeMessageResponse = "application/vnd.microsoft.activity.message"
)

func cardResponse(c *cards.Card) invokeResponse {
	return invokeResponse{StatusCode: 200, Type: TypeCardResponse, Value: c}
}

func messageResponse(text string) invokeResponse {
	return invokeResponse{StatusCode: 200, Type: TypeMessageResponse, Value: text}
}

// background runs f in a goroutine with a detached context bounded by d.
func (a *App) background(d time.Duration, f func(ctx context.Context)) {
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		defer func() {
			if p := recover(); p != nil {
				a.log.WithField("panic", p).Error("Teams background job panicked")
			}
		}()
		f(ctx)
	}()
}

// cardActivity is a message activity carrying card.
func cardActivity(c *cards.Card) (*connector.Activity, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return &connector.Activity{Type: connector.TypeMessage, Attachments: []connector.Attachment{connector.AdaptiveCard(b)}}, nil
}

// reply sends text to the conversation of act, as a reply to it.
func (a *App) reply(ctx context.Context, act *connector.Activity, text string) {
	out := &connector.Activity{Type: connector.TypeMessage, Text: text, TextFormat: "plain"}
	var err error
	if act.ID != "" {
		out.ReplyToID = act.ID
		_, err = a.api.ReplyToActivity(ctx, act.ServiceURL, act.Conversation.ID, act.ID, out)
	} else {
		_, err = a.api.SendToConversation(ctx, act.ServiceURL, act.Conversation.ID, out)
	}
	if err != nil {
		a.log.WithError(err).Warn("answering a Teams message failed")
	}
}

// dm sends out to the Teams user (id "29:…" or an AAD object id) in a 1:1
// conversation, created (or found: Teams returns the existing one) first.
func (a *App) dm(ctx context.Context, userID, tenant string, out *connector.Activity) (conv, activityID string, err error) {
	if tenant == "" {
		tenant = a.o.TenantID
	}
	cr, err := a.api.CreateConversation(ctx, a.o.ServiceURL, &connector.ConversationParameters{
		Bot: &connector.ChannelAccount{ID: "28:" + a.o.AppID}, Members: []connector.ChannelAccount{{ID: userID}}, TenantID: tenant,
	})
	if err != nil {
		return "", "", err
	}
	rr, err := a.api.SendToConversation(ctx, a.o.ServiceURL, cr.ID, out)
	if err != nil {
		return "", "", err
	}
	return cr.ID, rr.ID, nil
}
