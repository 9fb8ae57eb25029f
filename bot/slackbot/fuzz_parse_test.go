package slackbot

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/kineticsec/kinetic/internal/jsonbody"
)

// Fuzz targets for what the HTTP transport parses: slash command forms,
// interactivity payloads, and the three routes as a whole (signature check,
// parsing, url_verification, dispatch). Seeds live in
// testdata/fuzz/<target>.

// FuzzParseSlashCommand checks ParseSlashCommand against url.ParseQuery: it
// accepts exactly the forms that parse and carry a command, every field is
// the form's first value for its key, and re-encoding the result parses to
// the same command.
func FuzzParseSlashCommand(f *testing.F) {
	f.Add([]byte(commandBody("<@U0DANA|dana> resigned")))
	f.Add([]byte("command=%2Foffboard&text=help&user_id=U1&is_enterprise_install=true"))
	f.Add([]byte("text=hello"))
	f.Add([]byte("command=%zz"))
	f.Add([]byte("command=/offboard;text=x"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		cmd, err := ParseSlashCommand(body)
		v, perr := url.ParseQuery(string(body))
		if err != nil {
			if perr == nil && v.Get("command") != "" {
				t.Fatalf("refused a form with a command: %v", err)
			}
			return
		}
		if perr != nil {
			t.Fatalf("accepted a form url.ParseQuery refuses (%v)", perr)
		}
		if cmd.Command == "" {
			t.Fatal("accepted a command without a command")
		}
		form := slashForm(cmd)
		for key := range form {
			want := v.Get(key)
			if key == "is_enterprise_install" {
				want = strconv.FormatBool(want == "true")
			}
			if got := form.Get(key); got != want {
				t.Fatalf("%s = %q, the form says %q", key, got, want)
			}
		}
		again, err := ParseSlashCommand([]byte(form.Encode()))
		if err != nil || !reflect.DeepEqual(again, cmd) {
			t.Fatalf("re-encoded command parses to %+v, %v; want %+v", again, err, cmd)
		}
	})
}

// slashForm is the form Slack would send for cmd.
func slashForm(cmd slack.SlashCommand) url.Values {
	return url.Values{
		"token":                 {cmd.Token},
		"team_id":               {cmd.TeamID},
		"team_domain":           {cmd.TeamDomain},
		"enterprise_id":         {cmd.EnterpriseID},
		"enterprise_name":       {cmd.EnterpriseName},
		"is_enterprise_install": {strconv.FormatBool(cmd.IsEnterpriseInstall)},
		"channel_id":            {cmd.ChannelID},
		"channel_name":          {cmd.ChannelName},
		"user_id":               {cmd.UserID},
		"user_name":             {cmd.UserName},
		"command":               {cmd.Command},
		"text":                  {cmd.Text},
		"response_url":          {cmd.ResponseURL},
		"trigger_id":            {cmd.TriggerID},
		"api_app_id":            {cmd.APIAppID},
	}
}

// FuzzParseInteraction checks ParseInteraction: an accepted body is a form
// whose payload is JSON with a type; every block action it returns can be
// dereferenced (the app reads the first one); and a form whose payload
// decodes with a type is never refused.
func FuzzParseInteraction(f *testing.F) {
	f.Add([]byte(interactionBody(blockActionsPayload)))
	f.Add([]byte(interactionBody(viewSubmissionPayload)))
	f.Add([]byte(interactionBody(`{"type":"shortcut","callback_id":"offboard","trigger_id":"t","user":{"id":"U1"}}`)))
	f.Add([]byte(interactionBody(`{"type":"block_actions","actions":[null,{"block_id":"b"}],"state":{"values":{"b":{"a":{"type":"datepicker","selected_date":"2026-12-04"}}}}}`)))
	f.Add([]byte(interactionBody(`{"user":{"id":"U1"}}`)))
	f.Add([]byte("payload=%7Bnot+json"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		cb, err := ParseInteraction(body)
		cb2, err2 := ParseInteraction(body)
		if (err == nil) != (err2 == nil) || cb.Type != cb2.Type {
			t.Fatal("ParseInteraction is not deterministic")
		}
		v, perr := url.ParseQuery(string(body))
		payload := v.Get("payload")
		if err != nil {
			if perr == nil && payload != "" {
				var direct slack.InteractionCallback
				// A payload internal/jsonbody refuses (a key twice, data
				// after it, a NUL) is refused on purpose.
				if jsonbody.Check([]byte(payload)) == nil && json.Unmarshal([]byte(payload), &direct) == nil && direct.Type != "" {
					t.Fatalf("refused a payload of type %q that decodes: %v", direct.Type, err)
				}
			}
			return
		}
		if perr != nil || payload == "" || !json.Valid([]byte(payload)) {
			t.Fatalf("accepted a body without a JSON payload (%v)", perr)
		}
		if cb.Type == "" {
			t.Fatal("accepted an interaction without a type")
		}
		for i, a := range cb.ActionCallback.BlockActions {
			if a == nil {
				t.Fatalf("block action %d is nil", i)
			}
		}
		for i, a := range cb.ActionCallback.AttachmentActions {
			if a == nil {
				t.Fatalf("attachment action %d is nil", i)
			}
		}
	})
}

// Signing modes of FuzzRoutes.
const (
	signValid    = iota // signed with the app's secret, now
	signNone            // no signature headers
	signWrongKey        // signed with another secret
	signStale           // signed six minutes ago
	signTampered        // signed, then the body changed
	signReplayed        // a valid request delivered twice
	signModes
)

var routePaths = []string{"/slack/commands", "/slack/interactions", "/slack/events"}

// FuzzRoutes posts arbitrary bodies to the three Slack routes, signed or
// not. Whatever the body, the answer is never a 5xx; a request that is not
// correctly signed is refused with 401 (Slack's certificate probe aside),
// reaches no handler, says nothing else (no url_verification challenge)
// and changes nothing (the genuine request is verified after it); a
// replayed request is refused the second time; a signed one
// reaches its handler exactly when it parses: a slash command is answered
// 200 either way, an interaction or event that does not parse gets 400.
func FuzzRoutes(f *testing.F) {
	for route, body := range []string{
		commandBody("<@U0DANA|dana> --now"),
		interactionBody(blockActionsPayload),
		`{"token":"x","team_id":"T0001","type":"event_callback","event_id":"Ev1","event":{"type":"app_home_opened","user":"U1","tab":"home"}}`,
	} {
		for mode := range signModes {
			f.Add(route, mode, "", []byte(body))
		}
	}
	f.Add(0, signNone, "", []byte("ssl_check=1&token=abc"))
	f.Add(2, signValid, "", []byte(`{"type":"url_verification","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}`))
	f.Add(2, signValid, "1", []byte(`{"type":"event_callback","event":{"type":"app_mention","user":"U1","text":"hi","channel":"C1"}}`))
	f.Add(2, signValid, "", []byte(`{"type":"app_rate_limited"}`))
	f.Add(1, signValid, "", []byte(interactionBody(viewSubmissionPayload)))
	f.Add(1, signValid, "", []byte("payload=%7B"))
	f.Add(2, signNone, "", []byte(`{"type":"url_verification","challenge":"secret-challenge"}`))
	f.Fuzz(func(t *testing.T, route, mode int, retry string, body []byte) {
		route, mode = abs(route)%len(routePaths), abs(mode)%signModes
		path := routePaths[route]
		rec := &recorder{}
		mux := newMux(rec)
		sent := body
		send := func() *httptest.ResponseRecorder {
			r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(sent))
			switch mode {
			case signValid, signReplayed:
				SignRequest(r, testSecret, testNow, body)
			case signWrongKey:
				SignRequest(r, "not-"+testSecret, testNow, body)
			case signStale:
				SignRequest(r, testSecret, testNow.Add(-MaxSkew-time.Minute), body)
			case signTampered:
				SignRequest(r, testSecret, testNow, body)
			}
			if retry != "" {
				r.Header.Set("X-Slack-Retry-Num", retry)
			}
			return serve(mux, r)
		}
		if mode == signTampered {
			sent = append(append([]byte(nil), body...), ' ')
		}
		w := send()
		calls := func() int { c, i, e := rec.counts(); return c + i + e }
		if w.Code >= 500 {
			t.Fatalf("%s answered %d to garbage: %q", path, w.Code, w.Body.String())
		}
		if len(sent) > MaxBodyBytes {
			if w.Code != http.StatusRequestEntityTooLarge || calls() != 0 {
				t.Fatalf("an oversized body: %d, %d calls", w.Code, calls())
			}
			return
		}
		probe := route == 0 && isSSLCheck(sent)
		if probe {
			if w.Code != http.StatusOK || w.Body.Len() != 0 || calls() != 0 {
				t.Fatalf("the certificate probe got %d %q and %d calls", w.Code, w.Body.String(), calls())
			}
			return
		}
		if mode != signValid && mode != signReplayed {
			if w.Code != http.StatusUnauthorized || calls() != 0 {
				t.Fatalf("a request signed with mode %d got %d and reached %d handlers", mode, w.Code, calls())
			}
			if w.Body.String() != http.StatusText(http.StatusUnauthorized)+"\n" {
				t.Fatalf("a refusal said %q", w.Body.String())
			}
			// The refusal changed nothing: the genuine request is then
			// verified (not taken for a replay).
			mode, sent = signValid, body
			if again := send(); again.Code == http.StatusUnauthorized || again.Code >= 500 {
				t.Fatalf("after a refused request, the genuine one answered %d", again.Code)
			}
			return
		}
		checkSignedAnswer(t, route, sent, w, rec)
		if n, err := strconv.Atoi(retry); calls() == 1 && err == nil && n > 0 && rec.deliveries[0].RetryAttempt != n {
			t.Fatalf("X-Slack-Retry-Num %q became retry attempt %d", retry, rec.deliveries[0].RetryAttempt)
		}
		if mode == signReplayed {
			before := calls()
			if again := send(); again.Code != http.StatusUnauthorized || calls() != before {
				t.Fatalf("a replay got %d and reached %d more handlers", again.Code, calls()-before)
			}
		}
	})
}

// checkSignedAnswer checks the answer to a correctly signed request.
func checkSignedAnswer(t *testing.T, route int, body []byte, w *httptest.ResponseRecorder, rec *recorder) {
	t.Helper()
	commands, interactions, events := rec.counts()
	switch route {
	case 0:
		_, err := ParseSlashCommand(body)
		if w.Code != http.StatusOK || interactions+events != 0 || (err == nil) != (commands == 1) {
			t.Fatalf("slash command (parse error %v): %d, %d calls", err, w.Code, commands)
		}
		if err != nil {
			var m Message
			if json.Unmarshal(w.Body.Bytes(), &m) != nil || m.Text != MalformedCommandText || m.ResponseType != slack.ResponseTypeEphemeral {
				t.Fatalf("a malformed command was answered %q", w.Body.String())
			}
		}
	case 1:
		_, err := ParseInteraction(body)
		want := http.StatusOK
		if err != nil {
			want = http.StatusBadRequest
		}
		if w.Code != want || commands+events != 0 || (err == nil) != (interactions == 1) {
			t.Fatalf("interaction (parse error %v): %d, %d calls", err, w.Code, interactions)
		}
	case 2:
		if commands+interactions != 0 || events > 1 || (events == 1 && w.Code != http.StatusOK) {
			t.Fatalf("event: %d, %d calls", w.Code, events)
		}
		if w.Code != http.StatusOK && w.Code != http.StatusBadRequest {
			t.Fatalf("event answered %d", w.Code)
		}
		var outer struct {
			Type      string `json:"type"`
			Challenge string `json:"challenge"`
		}
		// Not JSON, or not strict JSON (internal/jsonbody: a key twice,
		// data after it, a NUL): refused.
		if jsonbody.Check(body) != nil || json.Unmarshal(body, &outer) != nil {
			if w.Code != http.StatusBadRequest {
				t.Fatalf("a body that is not (strict) JSON got %d", w.Code)
			}
			return
		}
		switch outer.Type {
		case "url_verification":
			got, _ := io.ReadAll(w.Body)
			if events != 0 || (outer.Challenge != "") != (w.Code == http.StatusOK) || (w.Code == http.StatusOK && string(got) != outer.Challenge) {
				t.Fatalf("url_verification answered %d %q", w.Code, got)
			}
		case "event_callback":
			if (events == 1) != (w.Code == http.StatusOK) {
				t.Fatalf("event_callback answered %d with %d calls", w.Code, events)
			}
		default:
			if events != 0 || w.Code != http.StatusOK {
				t.Fatalf("a %q request answered %d with %d calls", outer.Type, w.Code, events)
			}
		}
	}
}

func abs(n int) int {
	if n < 0 {
		if n = -n; n < 0 {
			return 0
		}
	}
	return n
}
