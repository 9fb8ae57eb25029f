package slackbot

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
)

// testSecret is the signing secret of the tests' Slack app.
const testSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// testNow is the fixed clock of the tests: 2023-11-14T22:13:20Z.
var testNow = time.Unix(1_700_000_000, 0)

func fixedClock() time.Time { return testNow }

// discardLog is a logger that writes nowhere.
func discardLog() *logrus.Entry {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return logrus.NewEntry(l)
}

// bufferLog is a JSON logger writing to buf at debug level, to check what
// is (not) logged.
func bufferLog(buf *bytes.Buffer) *logrus.Entry {
	l := logrus.New()
	l.SetOutput(buf)
	l.SetFormatter(&logrus.JSONFormatter{})
	l.SetLevel(logrus.DebugLevel)
	return logrus.NewEntry(l)
}

// signed builds a POST to path with body, signed with secret at ts.
func signed(path, secret string, ts time.Time, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewBufferString(body))
	SignRequest(r, secret, ts, []byte(body))
	return r
}

// commandBody is a slash command form as Slack sends it.
func commandBody(text string) string {
	return url.Values{
		"token":        {"deprecated-verification-token"},
		"team_id":      {"T0001"},
		"team_domain":  {"example"},
		"channel_id":   {"C0OFFBOARD"},
		"channel_name": {"offboarding"},
		"user_id":      {"U0MANAGER"},
		"user_name":    {"mia"},
		"command":      {"/offboard"},
		"text":         {text},
		"response_url": {"https://hooks.slack.com/commands/T0001/1/abc"},
		"trigger_id":   {"13345224609.738474920.8088930838d88f008e0"},
		"api_app_id":   {"A0KINETIC"},
	}.Encode()
}

// interactionBody wraps a JSON interaction payload in Slack's form.
func interactionBody(payloadJSON string) string {
	return url.Values{"payload": {payloadJSON}}.Encode()
}

const blockActionsPayload = `{"type":"block_actions","user":{"id":"U0APPROVER","name":"hal"},
 "trigger_id":"t-1","team":{"id":"T0001"},"channel":{"id":"C0OFFBOARD"},
 "actions":[{"type":"button","action_id":"approve","block_id":"b1","value":"approval:42"}]}`

const viewSubmissionPayload = `{"type":"view_submission","user":{"id":"U0MANAGER"},
 "view":{"id":"V1","type":"modal","callback_id":"offboard_modal","state":{"values":{}}}}`

// recorder is a Handlers test double: it records what it was given and
// answers with the configured functions (or an empty Response).
type recorder struct {
	mu           sync.Mutex
	commands     []slack.SlashCommand
	interactions []slack.InteractionCallback
	events       []slackevents.EventsAPIEvent
	deliveries   []Delivery

	onCommand     func(context.Context, slack.SlashCommand) Response
	onInteraction func(context.Context, slack.InteractionCallback) Response
	onEvent       func(context.Context, slackevents.EventsAPIEvent)
	called        chan struct{} // receives once per call when non-nil
}

func (r *recorder) note(ctx context.Context) {
	d, _ := DeliveryFrom(ctx)
	r.deliveries = append(r.deliveries, d)
}

func (r *recorder) signal() {
	if r.called != nil {
		r.called <- struct{}{}
	}
}

func (r *recorder) Command(ctx context.Context, cmd slack.SlashCommand) Response {
	r.mu.Lock()
	r.commands = append(r.commands, cmd)
	r.note(ctx)
	f := r.onCommand
	r.mu.Unlock()
	defer r.signal()
	if f != nil {
		return f(ctx, cmd)
	}
	return Response{}
}

func (r *recorder) Interaction(ctx context.Context, cb slack.InteractionCallback) Response {
	r.mu.Lock()
	r.interactions = append(r.interactions, cb)
	r.note(ctx)
	f := r.onInteraction
	r.mu.Unlock()
	defer r.signal()
	if f != nil {
		return f(ctx, cb)
	}
	return Response{}
}

func (r *recorder) Event(ctx context.Context, ev slackevents.EventsAPIEvent) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.note(ctx)
	f := r.onEvent
	r.mu.Unlock()
	defer r.signal()
	if f != nil {
		f(ctx, ev)
	}
}

func (r *recorder) counts() (commands, interactions, events int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.commands), len(r.interactions), len(r.events)
}

// newMux mounts Routes with the fixed clock and a discarding logger.
func newMux(h Handlers, opts ...Option) *http.ServeMux {
	mux := http.NewServeMux()
	Routes(NewVerifier(testSecret, fixedClock), h, append([]Option{WithLog(discardLog())}, opts...)...)(mux)
	return mux
}

func serve(mux http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	return w
}

// waitSignal waits for one handler call.
func waitSignal(t *testing.T, ch chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}
