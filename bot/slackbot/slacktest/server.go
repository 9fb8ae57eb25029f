// Package slacktest is a fake Slack for tests: an httptest server that
// speaks the Web API methods Kinetic calls, records every call, and serves
// a Socket Mode WebSocket. Point slack-go at it with
// slack.OptionAPIURL(srv.URL()).
//
// It is a fake at the HTTP level, not a mock of Kinetic's interfaces: the
// real slack-go client talks to it over the loopback network, so request
// encoding, auth and error handling are exercised for real.
//
// Served methods: auth.test, chat.postMessage, chat.update,
// chat.postEphemeral, views.open, views.publish, views.update, users.info,
// users.lookupByEmail, conversations.open, usergroups.users.list and
// apps.connections.open. Anything else answers {"ok":false,
// "error":"unknown_method"} and is recorded too.
package slacktest

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tokens the fake accepts. Requests must present BotToken (or AppToken for
// apps.connections.open); anything else gets invalid_auth.
const (
	BotToken = "xoxb-slacktest-bot-token"
	AppToken = "xapp-slacktest-app-token"
)

// Identity auth.test reports.
const (
	TeamID    = "T0SLACKTEST"
	BotUserID = "U0KINETIC"
	BotID     = "B0KINETIC"
	AppID     = "A0KINETIC"
)

// Call is one recorded Web API call.
type Call struct {
	// Method is the API method, e.g. "chat.postMessage".
	Method string
	// Params are the form parameters, or for a JSON body its top-level
	// fields (strings as-is, anything else as its JSON text). The token
	// parameter is removed.
	Params url.Values
	// JSON is the raw body of a JSON call (nil for a form call).
	JSON json.RawMessage
	// Auth is "bot" or "app" for the token presented, "" if none matched.
	Auth string
	// Convenience copies of common parameters.
	Channel  string
	Text     string
	Blocks   json.RawMessage
	ThreadTS string
	// TS is the message timestamp the fake assigned (chat.postMessage,
	// chat.postEphemeral) or was asked to update (chat.update).
	TS string
	// Error is the error the fake answered ("" when ok).
	Error string
	// RateLimited is true when the fake answered 429.
	RateLimited bool
	At          time.Time
}

// Server is the fake. Create it with NewServer; it stops when the test ends.
// All methods are safe for concurrent use.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	calls    []Call
	changed  chan struct{} // closed and replaced whenever calls or acks change
	users    map[string]User
	groups   map[string][]string
	limits   map[string]*limiter
	tsSeq    map[string]int
	messages map[string]bool   // channel + "/" + ts of posted messages
	refuse   map[string]string // channel → error chat.postMessage answers there
	before   map[string][]func(Call)
	viewSeq  int
	ticket   int

	// Socket Mode state, also under mu.
	conns  []*wsConn
	hellos int
	acks   []Ack
	envSeq int
}

// User is a row of the fake's user table.
type User struct {
	ID, Email, Name string
}

// NewServer starts a fake Slack for the duration of t.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := Start()
	t.Cleanup(s.Close)
	return s
}

// Start starts a fake Slack outside a test (the kinetic bench command);
// Close stops it.
func Start() *Server {
	s := &Server{
		changed:  make(chan struct{}),
		users:    map[string]User{},
		groups:   map[string][]string{},
		limits:   map[string]*limiter{},
		tsSeq:    map[string]int{},
		messages: map[string]bool{},
		refuse:   map[string]string{},
		before:   map[string][]func(Call){},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/{method}", s.serveAPI)
	mux.HandleFunc("/link", s.serveSocket)
	s.srv = httptest.NewServer(mux)
	return s
}

// Close closes the Socket Mode connections and stops the server.
func (s *Server) Close() {
	s.closeSockets()
	s.srv.Close()
}

// URL returns the Web API base URL, ending in "/api/" as
// slack.OptionAPIURL expects.
func (s *Server) URL() string { return s.srv.URL + "/api/" }

// SocketURL returns the Socket Mode WebSocket URL apps.connections.open
// hands out (without its ticket).
func (s *Server) SocketURL() string { return "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/link" }

// AddUser adds (or replaces) a user for users.info and users.lookupByEmail.
func (s *Server) AddUser(id, email, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[id] = User{ID: id, Email: email, Name: name}
}

// AddGroup sets a user group's members for usergroups.users.list.
func (s *Server) AddGroup(id string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[id] = append([]string(nil), members...)
}

// RefuseChannel makes chat.postMessage to channel answer
// {"ok":false,"error":code} (e.g. not_in_channel, channel_not_found), as
// Slack does for a channel the app cannot post in; code "" lifts it.
func (s *Server) RefuseChannel(channel, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == "" {
		delete(s.refuse, channel)
		return
	}
	s.refuse[channel] = code
}

// BeforeAnswer runs f for every call of method, on the request's own
// goroutine, before the call is answered or recorded: a test's way to make
// something happen between a request and its answer (a click that lands
// while a message is being posted).
func (s *Server) BeforeAnswer(method string, f func(Call)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.before[method] = append(s.before[method], f)
}

// RemoveGroup deletes a user group: usergroups.users.list then answers
// no_such_subteam.
func (s *Server) RemoveGroup(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.groups, id)
}

// SetRateLimit limits method to n calls per second (a fixed one-second
// window); calls over it get HTTP 429 with Retry-After: 1 and
// {"ok":false,"error":"ratelimited"}, as Slack answers. n <= 0 removes the
// limit.
func (s *Server) SetRateLimit(method string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 {
		delete(s.limits, method)
		return
	}
	s.limits[method] = &limiter{perSecond: n}
}

// Calls returns the calls recorded for method, in order ("" for all).
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// WaitFor returns the first recorded call to method that satisfies pred (nil
// matches any), waiting up to timeout for it to arrive; it fails the test
// if none does. It wakes on each new call rather than polling on a timer.
func (s *Server) WaitFor(t testing.TB, method string, pred func(Call) bool, timeout time.Duration) Call {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		for _, c := range s.calls {
			if c.Method == method && (pred == nil || pred(c)) {
				s.mu.Unlock()
				return c
			}
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("slacktest: no matching %s call within %s; calls to it: %s", method, timeout, describe(s.Calls(method)))
			return Call{}
		}
	}
}

func describe(calls []Call) string {
	if len(calls) == 0 {
		return "none"
	}
	var b strings.Builder
	for i, c := range calls {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s channel=%q text=%q error=%q", c.Method, c.Channel, c.Text, c.Error)
	}
	return b.String()
}

// notifyLocked wakes every waiter. s.mu must be held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

type limiter struct {
	perSecond int
	window    time.Time
	count     int
}

func (l *limiter) allow(now time.Time) bool {
	if now.Sub(l.window) >= time.Second {
		l.window, l.count = now, 0
	}
	l.count++
	return l.count <= l.perSecond
}

// serveAPI answers one Web API call.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	call := Call{Method: method, Params: url.Values{}, At: time.Now()}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))

	// Slack accepts the token as "Authorization: Bearer" or as a token
	// parameter; slack-go v0.35 sends form-encoded methods (chat.*, users.*)
	// with the parameter and JSON methods (views.*, apps.connections.open)
	// with the header, so the fake takes both.
	// apps.connections.open is the exception: its token must be in the
	// header (https://api.slack.com/methods/apps.connections.open).
	token := ""
	if scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		token = tok
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		call.JSON = json.RawMessage(body)
		var top map[string]json.RawMessage
		if json.Unmarshal(body, &top) == nil {
			for k, v := range top {
				var str string
				if json.Unmarshal(v, &str) == nil {
					call.Params.Set(k, str)
				} else {
					call.Params.Set(k, string(v))
				}
			}
		}
	default:
		if v, err := url.ParseQuery(string(body)); err == nil {
			call.Params = v
		}
		for k, vs := range r.URL.Query() {
			for _, v := range vs {
				call.Params.Add(k, v)
			}
		}
	}
	if token == "" && method != "apps.connections.open" {
		token = call.Params.Get("token")
	}
	call.Params.Del("token")
	switch token {
	case BotToken:
		call.Auth = "bot"
	case AppToken:
		call.Auth = "app"
	}
	call.Channel = call.Params.Get("channel")
	call.Text = call.Params.Get("text")
	call.ThreadTS = call.Params.Get("thread_ts")
	if b := call.Params.Get("blocks"); b != "" {
		call.Blocks = json.RawMessage(b)
	}

	s.mu.Lock()
	hooks := slices.Clone(s.before[method])
	s.mu.Unlock()
	for _, f := range hooks {
		f(call)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.notifyLocked()

	if l := s.limits[method]; l != nil && !l.allow(call.At) {
		call.RateLimited, call.Error = true, "ratelimited"
		s.calls = append(s.calls, call)
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"ok":false,"error":"ratelimited"}`)
		return
	}

	wantAuth := "bot"
	if method == "apps.connections.open" {
		wantAuth = "app"
	}
	var resp map[string]any
	switch {
	case token == "":
		resp = fail("not_authed")
	case call.Auth != wantAuth:
		resp = fail("invalid_auth")
	default:
		resp = s.answerLocked(&call)
	}
	if e, _ := resp["error"].(string); e != "" {
		call.Error = e
	}
	s.calls = append(s.calls, call)
	// Slack answers API errors with HTTP 200 and ok:false.
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

func fail(code string) map[string]any { return map[string]any{"ok": false, "error": code} }

func ok(kv ...any) map[string]any {
	m := map[string]any{"ok": true}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// answerLocked builds the response for an authenticated call. s.mu is held.
func (s *Server) answerLocked(c *Call) map[string]any {
	p := c.Params
	switch c.Method {
	case "auth.test":
		return ok("url", "https://slacktest.slack.com/", "team", "Slacktest", "user", "kinetic",
			"team_id", TeamID, "user_id", BotUserID, "bot_id", BotID)

	case "chat.postMessage":
		if c.Channel == "" {
			return fail("channel_not_found")
		}
		if code := s.refuse[c.Channel]; code != "" {
			return fail(code)
		}
		if c.Text == "" && len(c.Blocks) == 0 && p.Get("attachments") == "" {
			return fail("no_text")
		}
		c.TS = s.nextTSLocked(c.Channel)
		s.messages[c.Channel+"/"+c.TS] = true
		msg := map[string]any{"type": "message", "text": c.Text, "user": BotUserID, "bot_id": BotID, "ts": c.TS}
		if c.ThreadTS != "" {
			msg["thread_ts"] = c.ThreadTS
		}
		return ok("channel", c.Channel, "ts", c.TS, "message", msg)

	case "chat.update":
		c.TS = p.Get("ts")
		if c.Channel == "" {
			return fail("channel_not_found")
		}
		if !s.messages[c.Channel+"/"+c.TS] {
			return fail("message_not_found")
		}
		return ok("channel", c.Channel, "ts", c.TS, "text", c.Text)

	case "chat.postEphemeral":
		if c.Channel == "" {
			return fail("channel_not_found")
		}
		if p.Get("user") == "" {
			return fail("user_not_in_channel")
		}
		c.TS = s.nextTSLocked(c.Channel)
		return ok("message_ts", c.TS)

	case "views.open", "views.publish", "views.update":
		raw := p.Get("view")
		if raw == "" {
			return fail("invalid_arguments")
		}
		switch {
		case c.Method == "views.open" && p.Get("trigger_id") == "":
			return fail("invalid_trigger_id")
		case c.Method == "views.publish" && p.Get("user_id") == "":
			return fail("user_not_found")
		case c.Method == "views.update" && p.Get("view_id") == "" && p.Get("external_id") == "":
			return fail("not_found")
		}
		var view map[string]any
		if err := json.Unmarshal([]byte(raw), &view); err != nil {
			return fail("invalid_arguments")
		}
		id := p.Get("view_id")
		if id == "" {
			s.viewSeq++
			id = fmt.Sprintf("V%07d", s.viewSeq)
		}
		view["id"], view["team_id"], view["app_id"] = id, TeamID, AppID
		return ok("view", view)

	case "users.info":
		u, found := s.users[p.Get("user")]
		if !found {
			return fail("user_not_found")
		}
		return ok("user", userJSON(u))

	case "users.lookupByEmail":
		for _, u := range s.users {
			if strings.EqualFold(u.Email, p.Get("email")) {
				return ok("user", userJSON(u))
			}
		}
		return fail("users_not_found")

	case "conversations.open":
		if ch := p.Get("channel"); ch != "" {
			return ok("channel", map[string]any{"id": ch})
		}
		users := strings.Split(p.Get("users"), ",")
		if len(users) != 1 || users[0] == "" {
			// Multi-person DMs are not something Kinetic opens.
			return fail("not_supported")
		}
		return ok("channel", map[string]any{"id": "D" + users[0], "is_im": true, "user": users[0]})

	case "usergroups.users.list":
		members, found := s.groups[p.Get("usergroup")]
		if !found {
			return fail("no_such_subteam")
		}
		return ok("users", append([]string{}, members...))

	case "apps.connections.open":
		s.ticket++
		return ok("url", s.SocketURL()+"?ticket="+strconv.Itoa(s.ticket))
	}
	return fail("unknown_method")
}

// nextTSLocked returns the next message timestamp for channel: increasing
// per channel, in Slack's "seconds.micros" form.
func (s *Server) nextTSLocked(channel string) string {
	s.tsSeq[channel]++
	return fmt.Sprintf("1700000000.%06d", s.tsSeq[channel])
}

func userJSON(u User) map[string]any {
	return map[string]any{
		"id": u.ID, "team_id": TeamID, "name": u.Name, "real_name": u.Name, "deleted": false,
		"profile": map[string]any{"email": u.Email, "real_name": u.Name, "display_name": u.Name},
	}
}

// Methods returns the distinct methods called so far, sorted; handy in
// failure messages.
func (s *Server) Methods() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, c := range s.calls {
		if !seen[c.Method] {
			seen[c.Method] = true
			out = append(out, c.Method)
		}
	}
	sort.Strings(out)
	return out
}
