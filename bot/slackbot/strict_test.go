package slackbot

import (
	"net/http"
	"strings"
	"testing"
)

// TestSignedPayloadsAreStrict: a signed Slack body that names a key twice
// (encoding/json takes the last one) or carries data after its document is
// refused before any handler sees it.
func TestSignedPayloadsAreStrict(t *testing.T) {
	for name, payload := range map[string]string{
		"two users":           `{"type":"block_actions","user":{"id":"U0APPROVER"},"trigger_id":"t-1","actions":[{"action_id":"approve","value":"approval:42"}],"user":{"id":"U0OTHER"}}`,
		"user and USER":       `{"type":"block_actions","user":{"id":"U0APPROVER"},"USER":{"id":"U0OTHER"},"actions":[{"action_id":"approve","value":"approval:42"}]}`,
		"two values":          `{"type":"block_actions","user":{"id":"U0APPROVER"},"actions":[{"action_id":"approve","value":"approval:42","value":"approval:43"}]}`,
		"a document after it": `{"type":"block_actions","user":{"id":"U0APPROVER"}} {"type":"view_submission"}`,
		"a NUL in a value":    `{"type":"block_actions","user":{"id":"U0\u0000APPROVER"}}`,
	} {
		t.Run("interaction/"+name, func(t *testing.T) {
			if _, err := ParseInteraction([]byte(interactionBody(payload))); err == nil {
				t.Fatal("ParseInteraction accepted it")
			}
			h := &recorder{}
			w := serve(newMux(h), signed("/slack/interactions", testSecret, testNow, interactionBody(payload)))
			if w.Code != http.StatusBadRequest {
				t.Errorf("status %d, want 400: %s", w.Code, w.Body)
			}
			if _, n, _ := h.counts(); n != 0 {
				t.Error("the interaction reached its handler")
			}
		})
	}
	for name, body := range map[string]string{
		"two events":       `{"type":"event_callback","event_id":"Ev1","event":{"type":"app_home_opened","user":"U1","tab":"home"},"event":{"type":"app_home_opened","user":"U2","tab":"home"}}`,
		"two types":        `{"type":"url_verification","challenge":"c","type":"event_callback"}`,
		"garbage after it": `{"type":"event_callback","event_id":"Ev1","event":{"type":"app_home_opened","user":"U1"}}` + strings.Repeat(" ", 1000) + "x",
	} {
		t.Run("events/"+name, func(t *testing.T) {
			h := &recorder{}
			w := serve(newMux(h), signed("/slack/events", testSecret, testNow, body))
			if w.Code != http.StatusBadRequest {
				t.Errorf("status %d, want 400: %s", w.Code, w.Body)
			}
			if _, _, n := h.counts(); n != 0 {
				t.Error("the event reached its handler")
			}
		})
	}
}
