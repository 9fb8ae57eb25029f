package slackbot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"github.com/kineticsec/kinetic/internal/jsonbody"
)

// Handlers is the seam between the transport and Kinetic's Slack logic: the
// transport verifies and parses, Handlers decides. The same Handlers serves
// HTTP (Routes) and Socket Mode (RunSocketMode).
//
// Every method is called with a context whose deadline is the budget
// (DefaultBudget, 2.5 s, after the request arrived) so that the answer
// reaches Slack within its 3 seconds. Methods must do no work in the
// callback: check the input, enqueue a job (with an id derived from the
// request, so a retried delivery is harmless), and return. When the deadline
// passes the transport answers without the handler (see Routes) and ignores
// what it returns later. Methods are called concurrently.
type Handlers interface {
	// Command handles a slash command. Its Response's Message, if any, is
	// the immediate reply.
	Command(ctx context.Context, cmd slack.SlashCommand) Response
	// Interaction handles block_actions, view_submission, view_closed,
	// shortcuts and the like. Only a view_submission's Response.View is
	// sent back; for the rest the answer is an acknowledgement.
	Interaction(ctx context.Context, cb slack.InteractionCallback) Response
	// Event handles an Events API event_callback. url_verification is
	// answered by the transport and never reaches Event. Slack retries an
	// event it thinks failed: deduplicate on the event id
	// (DeliveryFrom(ctx).RetryAttempt > 0 says it is a retry).
	Event(ctx context.Context, ev slackevents.EventsAPIEvent)
}

// DefaultBudget is how long a handler has before the transport answers
// Slack without it. Slack waits 3 s for slash commands, interactions and
// events (https://api.slack.com/interactivity/handling);
// the remaining half second covers verification, the network and a slow
// proxy.
const DefaultBudget = 2500 * time.Millisecond

// MaxBodyBytes bounds a request body. Slack's payloads are far smaller; a
// larger body is refused with 413 before it is verified.
const MaxBodyBytes = 1 << 20

// Texts of the ephemeral replies the transport writes itself.
const (
	// MalformedCommandText answers a signed slash command whose form cannot
	// be parsed. Slack shows the user an opaque failure for a non-200
	// answer but displays a 200's ephemeral text, so the error is a 200
	// (https://api.slack.com/interactivity/slash-commands).
	MalformedCommandText = "Kinetic could not read that command. Please try again; if it keeps failing, tell your Kinetic administrators."
	// TimeoutCommandText answers a slash command whose handler overran the
	// budget. The job may still have been queued, so it must not claim
	// failure.
	TimeoutCommandText = "Kinetic is taking longer than usual to answer. If you don't see a result shortly, run the command again."
	// InternalErrorText answers a slash command whose handler panicked.
	InternalErrorText = "Kinetic hit an internal error handling that command. It has been logged; please try again."
)

// Option configures Routes and RunSocketMode.
type Option func(*options)

type options struct {
	budget time.Duration
	log    *logrus.Entry
}

// WithBudget sets the handlers' deadline (default DefaultBudget). Tests use
// a short one.
func WithBudget(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.budget = d
		}
	}
}

// WithLog sets Routes' logger (default: logrus's standard logger).
// RunSocketMode takes its logger as an argument.
func WithLog(l *logrus.Entry) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}

func buildOptions(opts []Option) options {
	o := options{budget: DefaultBudget}
	for _, f := range opts {
		f(&o)
	}
	if o.log == nil {
		o.log = logrus.NewEntry(logrus.StandardLogger())
	}
	return o
}

// Transports, for Delivery.Transport.
const (
	TransportHTTP   = "http"
	TransportSocket = "socket"
)

// Delivery describes how a request reached Kinetic.
type Delivery struct {
	// Transport is TransportHTTP or TransportSocket.
	Transport string
	// RetryAttempt is 0 for a first delivery, n for Slack's n-th retry
	// (X-Slack-Retry-Num over HTTP, retry_attempt in Socket Mode).
	RetryAttempt int
	// RetryReason is Slack's reason for retrying (e.g. http_timeout).
	RetryReason string
	// EnvelopeID is the Socket Mode envelope id ("" over HTTP).
	EnvelopeID string
}

type deliveryKey struct{}

// DeliveryFrom returns the Delivery of the request a handler is serving.
func DeliveryFrom(ctx context.Context) (Delivery, bool) {
	d, ok := ctx.Value(deliveryKey{}).(Delivery)
	return d, ok
}

func withDelivery(ctx context.Context, d Delivery) context.Context {
	return context.WithValue(ctx, deliveryKey{}, d)
}

// Routes returns a function that mounts Slack's three request URLs on a
// mux:
//
//	POST /slack/commands      slash commands (form-encoded)
//	POST /slack/interactions  interactivity (form field "payload", JSON)
//	POST /slack/events        Events API (JSON)
//
// Each reads the raw body (at most MaxBodyBytes, else 413) and verifies it
// with v. A request that fails verification gets 401 and nothing else
// happens: it is not parsed and no handler runs. (503 when the replay store
// is unreachable: fail closed, and let Slack retry.)
//
// Malformed but signed requests: a slash command gets 200 with an ephemeral
// MalformedCommandText, because that is what the user can see; an
// interaction or event gets 400 (a modal then stays open with Slack's error,
// and a retry of an unparseable body would not help).
//
// A url_verification event is answered with its challenge as text/plain
// (https://api.slack.com/events/url_verification). A slash command body
// that is exactly Slack's certificate probe (ssl_check=1, which Slack's own
// Bolt frameworks answer before verifying) gets an empty 200 and nothing
// else.
//
// When a handler overruns the budget the answer goes out anyway: a command
// gets an ephemeral TimeoutCommandText, an interaction or event an empty 200
// (for a view_submission that closes the modal). A handler that panics is
// logged; a command gets InternalErrorText, anything else 500.
//
// Tokens, signatures and bodies are never logged.
func Routes(v *Verifier, h Handlers, opts ...Option) func(mux *http.ServeMux) {
	if v == nil || h == nil {
		panic("slackbot.Routes: a Verifier and Handlers are required")
	}
	rt := &routes{v: v, h: h, o: buildOptions(opts)}
	return func(mux *http.ServeMux) {
		mux.HandleFunc("POST /slack/commands", rt.commands)
		mux.HandleFunc("POST /slack/interactions", rt.interactions)
		mux.HandleFunc("POST /slack/events", rt.events)
	}
}

type routes struct {
	v *Verifier
	h Handlers
	o options
}

// receive reads and verifies the body. On failure it has written the answer
// and returns ok false.
func (rt *routes) receive(ctx context.Context, w http.ResponseWriter, r *http.Request, log *logrus.Entry) ([]byte, bool) {
	body, err := rt.read(w, r, log)
	if err != nil {
		return nil, false
	}
	return body, rt.verify(ctx, w, r, body, log)
}

// read reads the body, answering 413 or 400 itself on failure.
func (rt *routes) read(w http.ResponseWriter, r *http.Request, log *logrus.Entry) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			log.Warn("refused a Slack request: body over 1 MiB")
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return nil, err
		}
		log.WithError(err).Info("reading a Slack request body failed")
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return nil, err
	}
	return body, nil
}

// verify checks the signature, answering 401 (or 503) itself on failure.
func (rt *routes) verify(ctx context.Context, w http.ResponseWriter, r *http.Request, body []byte, log *logrus.Entry) bool {
	if err := rt.v.VerifyContext(ctx, r.Header, body); err != nil {
		status := http.StatusUnauthorized
		if errors.Is(err, ErrReplayCheck) {
			status = http.StatusServiceUnavailable
			log.WithError(err).Error("refused a Slack request: replay store unavailable")
		} else {
			// err's text never holds the secret or the signature.
			log.WithField("reason", Reason(err)).WithField("remote", r.RemoteAddr).Warn("refused an unverified Slack request")
		}
		http.Error(w, http.StatusText(status), status)
		return false
	}
	return true
}

// isSSLCheck reports whether body is exactly Slack's periodic certificate
// probe of a slash command URL: ssl_check=1 and a token, no command. It
// carries nothing to act on, so it is answered 200 whether or not it is
// signed (https://api.slack.com/interactivity/slash-commands).
func isSSLCheck(body []byte) bool {
	if len(body) > 256 {
		return false
	}
	v, err := url.ParseQuery(string(body))
	if err != nil || v.Get("ssl_check") != "1" || v.Has("command") {
		return false
	}
	for k := range v {
		if k != "ssl_check" && k != "token" {
			return false
		}
	}
	return true
}

// Reason names the kind of a verification error for logs and metrics:
// unsigned, stale, forged, replayed, replay_check, or other.
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrUnsigned):
		return "unsigned"
	case errors.Is(err, ErrStale):
		return "stale"
	case errors.Is(err, ErrForged):
		return "forged"
	case errors.Is(err, ErrReplayed):
		return "replayed"
	case errors.Is(err, ErrReplayCheck):
		return "replay_check"
	}
	return "other"
}

func httpDelivery(r *http.Request) Delivery {
	d := Delivery{Transport: TransportHTTP, RetryReason: r.Header.Get("X-Slack-Retry-Reason")}
	if n, err := strconv.Atoi(r.Header.Get("X-Slack-Retry-Num")); err == nil && n > 0 {
		d.RetryAttempt = n
	}
	return d
}

func (rt *routes) commands(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), rt.o.budget)
	defer cancel()
	log := rt.o.log.WithField("slack_route", "commands")
	body, err := rt.read(w, r, log)
	if err != nil {
		return
	}
	if isSSLCheck(body) {
		w.WriteHeader(http.StatusOK)
		return
	}
	if !rt.verify(ctx, w, r, body, log) {
		return
	}
	cmd, err := ParseSlashCommand(body)
	if err != nil {
		log.WithError(err).Warn("malformed slash command")
		writeAck(w, Ephemeral(MalformedCommandText).commandPayload())
		return
	}
	log = log.WithFields(logrus.Fields{"command": cmd.Command, "slack_user": cmd.UserID})
	ctx = withDelivery(ctx, httpDelivery(r))
	resp, out := runBudgeted(ctx, log, func(ctx context.Context) Response { return rt.h.Command(ctx, cmd) })
	switch out {
	case outcomeTimeout:
		resp = Ephemeral(TimeoutCommandText)
	case outcomePanic:
		resp = Ephemeral(InternalErrorText)
	}
	writeAck(w, resp.commandPayload())
}

func (rt *routes) interactions(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), rt.o.budget)
	defer cancel()
	log := rt.o.log.WithField("slack_route", "interactions")
	body, ok := rt.receive(ctx, w, r, log)
	if !ok {
		return
	}
	cb, err := ParseInteraction(body)
	if err != nil {
		log.WithError(err).Warn("malformed interaction payload")
		http.Error(w, "malformed interaction payload", http.StatusBadRequest)
		return
	}
	log = log.WithFields(logrus.Fields{"interaction": string(cb.Type), "slack_user": cb.User.ID})
	ctx = withDelivery(ctx, httpDelivery(r))
	resp, out := runBudgeted(ctx, log, func(ctx context.Context) Response { return rt.h.Interaction(ctx, cb) })
	switch out {
	case outcomeTimeout:
		resp = Ack()
	case outcomePanic:
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	writeAck(w, resp.interactionPayload(&cb))
}

func (rt *routes) events(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), rt.o.budget)
	defer cancel()
	log := rt.o.log.WithField("slack_route", "events")
	body, ok := rt.receive(ctx, w, r, log)
	if !ok {
		return
	}
	var outer struct {
		Type      string `json:"type"`
		Challenge string `json:"challenge"`
	}
	// Strict (internal/jsonbody): a signed body with a key twice, data
	// after it, a NUL or invalid UTF-8 is refused before anything reads it.
	if err := jsonbody.Check(body); err != nil {
		log.WithField("reason", err.Error()).Warn("malformed Events API body")
		http.Error(w, "malformed JSON", http.StatusBadRequest)
		return
	}
	if err := json.Unmarshal(body, &outer); err != nil {
		log.WithError(err).Warn("malformed Events API body")
		http.Error(w, "malformed JSON", http.StatusBadRequest)
		return
	}
	switch outer.Type {
	case slackevents.URLVerification:
		if outer.Challenge == "" {
			http.Error(w, "url_verification without a challenge", http.StatusBadRequest)
			return
		}
		// Slack accepts the bare challenge as text/plain (or JSON or a
		// form); this is only reached after the signature was verified.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, outer.Challenge)
		return
	case slackevents.CallbackEvent:
	case slackevents.AppRateLimited:
		// Slack stopped delivering events for a minute because we were
		// too slow or too many; nothing to answer but 200.
		log.Warn("Slack reports the Events API is rate limiting this app")
		w.WriteHeader(http.StatusOK)
		return
	default:
		log.WithField("type", outer.Type).Debug("ignoring an Events API request of unknown type")
		w.WriteHeader(http.StatusOK)
		return
	}
	ev, err := slackevents.ParseEvent(json.RawMessage(body), slackevents.OptionNoVerifyToken())
	if err != nil {
		log.WithError(err).Warn("malformed event_callback")
		http.Error(w, "malformed event_callback", http.StatusBadRequest)
		return
	}
	log = log.WithField("event", ev.InnerEvent.Type)
	ctx = withDelivery(ctx, httpDelivery(r))
	_, out := runBudgeted(ctx, log, func(ctx context.Context) Response { rt.h.Event(ctx, ev); return Ack() })
	if out == outcomePanic {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// ParseSlashCommand parses a slash command's form-encoded body, as
// slack.SlashCommandParse does from an *http.Request, but from the raw bytes
// that were verified. A body without a command is an error.
func ParseSlashCommand(body []byte) (slack.SlashCommand, error) {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return slack.SlashCommand{}, fmt.Errorf("slash command form: %w", err)
	}
	s := slack.SlashCommand{
		Token:               v.Get("token"),
		TeamID:              v.Get("team_id"),
		TeamDomain:          v.Get("team_domain"),
		EnterpriseID:        v.Get("enterprise_id"),
		EnterpriseName:      v.Get("enterprise_name"),
		IsEnterpriseInstall: v.Get("is_enterprise_install") == "true",
		ChannelID:           v.Get("channel_id"),
		ChannelName:         v.Get("channel_name"),
		UserID:              v.Get("user_id"),
		UserName:            v.Get("user_name"),
		Command:             v.Get("command"),
		Text:                v.Get("text"),
		ResponseURL:         v.Get("response_url"),
		TriggerID:           v.Get("trigger_id"),
		APIAppID:            v.Get("api_app_id"),
	}
	if s.Command == "" {
		return s, errors.New("slash command form has no command")
	}
	return s, nil
}

// ParseInteraction parses an interactivity request body: a form whose
// "payload" field is the JSON interaction callback.
func ParseInteraction(body []byte) (slack.InteractionCallback, error) {
	var cb slack.InteractionCallback
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return cb, fmt.Errorf("interaction form: %w", err)
	}
	p := v.Get("payload")
	if p == "" {
		return cb, errors.New("interaction form has no payload")
	}
	if err := jsonbody.Check([]byte(p)); err != nil {
		return cb, fmt.Errorf("interaction payload: %w", err)
	}
	if err := json.Unmarshal([]byte(p), &cb); err != nil {
		return cb, fmt.Errorf("interaction payload: %w", err)
	}
	if cb.Type == "" {
		return cb, errors.New("interaction payload has no type")
	}
	return cb, nil
}

type outcome int

const (
	outcomeDone outcome = iota
	outcomeTimeout
	outcomePanic
)

// runBudgeted runs f in its own goroutine and waits for it or for ctx's
// deadline, whichever is first. A late result is dropped (the channel is
// buffered so the goroutine never blocks); a panic is recovered and logged.
func runBudgeted(ctx context.Context, log *logrus.Entry, f func(context.Context) Response) (Response, outcome) {
	type result struct {
		resp     Response
		panicked any
	}
	ch := make(chan result, 1)
	start := time.Now()
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- result{panicked: p}
			}
		}()
		ch <- result{resp: f(ctx)}
	}()
	select {
	case res := <-ch:
		if res.panicked != nil {
			log.WithField("panic", fmt.Sprint(res.panicked)).Error("Slack handler panicked")
			return Response{}, outcomePanic
		}
		return res.resp, outcomeDone
	case <-ctx.Done():
		log.WithField("elapsed", time.Since(start).Round(time.Millisecond).String()).
			Warn("Slack handler overran its budget; answered without it (handlers must enqueue work, not do it)")
		return Response{}, outcomeTimeout
	}
}

// writeJSON writes 200 with payload as JSON, or an empty 200 for nil.
func writeAck(w http.ResponseWriter, payload any) {
	if payload == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	b, err := json.Marshal(payload)
	if err != nil {
		// Block Kit values are plain structs; this does not happen, but
		// an acknowledgement is better than nothing.
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}
