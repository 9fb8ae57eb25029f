package teamstest_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/kineticsec/kinetic/bot/teams/teamstest"
)

// recTB records the fake's complaints instead of failing the test.
type recTB struct {
	testing.TB
	mu       sync.Mutex
	errs     []string
	cleanups []func()
}

func (r *recTB) Helper() {}
func (r *recTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recTB) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recTB) finish() []string {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	return r.errs
}

// The fake is strict: a call without the bot's token, with a body that is
// not an activity, or to a route the Bot Connector does not have fails the
// test that made it.
func TestFakeConnectorComplains(t *testing.T) {
	cases := []struct {
		name, method, path, auth, body string
		want                           string
	}{
		{"no bearer", http.MethodPost, "/v3/conversations/a:1/activities", "", `{"type":"message"}`, "without the bot's bearer token"},
		{"unknown field", http.MethodPost, "/v3/conversations/a:1/activities", "Bearer fake-bot-token", `{"type":"message","bogus":1}`, "send: body"},
		{"no type", http.MethodPost, "/v3/conversations/a:1/activities", "Bearer fake-bot-token", `{"text":"x"}`, "without a type"},
		{"reply without replyToId", http.MethodPost, "/v3/conversations/a:1/activities/9", "Bearer fake-bot-token", `{"type":"message"}`, "replyToId"},
		{"unknown route", http.MethodDelete, "/v3/conversations/a:1", "Bearer fake-bot-token", ``, "unexpected DELETE"},
		{"1:1 without tenant", http.MethodPost, "/v3/conversations", "Bearer fake-bot-token", `{"isGroup":false,"bot":{"id":"28:b"},"members":[{"id":"29:u"}]}`, "tenantId"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recTB{TB: t}
			fake := teamstest.NewConnector(rec)
			req, _ := http.NewRequest(tc.method, fake.URL()+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode < 400 {
				t.Errorf("status = %d, want an error", resp.StatusCode)
			}
			errs := rec.finish()
			if len(errs) != 1 || !strings.Contains(errs[0], tc.want) {
				t.Errorf("complaints = %q, want one containing %q", errs, tc.want)
			}
			if n := len(fake.Calls()); n != 0 {
				t.Errorf("recorded %d calls", n)
			}
		})
	}
}
