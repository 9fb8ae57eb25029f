package connector_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/bot/teams/connector"
	"github.com/kineticsec/kinetic/bot/teams/teamstest"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

var testPolicy = &outbound.URLPolicy{AllowHosts: []string{"127.0.0.1"}}

type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return nil
}

func (s *sleeps) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

func newClient(t *testing.T, fake *teamstest.Connector, policy *outbound.URLPolicy) (*connector.Client, *sleeps) {
	t.Helper()
	sl := &sleeps{}
	c, err := connector.New(connector.Config{
		AppID:       fake.AppID,
		AppPassword: secret.FromValue(fake.Secret),
		TokenURL:    fake.TokenURL(),
	}, policy, connector.WithSleep(sl.sleep))
	if err != nil {
		t.Fatal(err)
	}
	return c, sl
}

func card(t *testing.T) connector.Attachment {
	t.Helper()
	return connector.AdaptiveCard(json.RawMessage(`{"type":"AdaptiveCard","version":"1.5","body":[]}`))
}

func TestEachCallHasItsMethodPathAndBody(t *testing.T) {
	fake := teamstest.NewConnector(t)
	c, _ := newClient(t, fake, testPolicy)
	ctx := context.Background()
	conv := "19:abc@thread.tacv2;messageid=1700000000000"

	sent, err := c.SendToConversation(ctx, fake.URL(), conv, &connector.Activity{Type: connector.TypeMessage, Attachments: []connector.Attachment{card(t)}})
	if err != nil || sent.ID == "" {
		t.Fatalf("send: %+v %v", sent, err)
	}
	if _, err := c.ReplyToActivity(ctx, fake.URL()+"/", conv, sent.ID, &connector.Activity{Type: connector.TypeMessage, Text: "step failed"}); err != nil {
		t.Fatalf("reply: %v", err)
	}
	if _, err := c.UpdateActivity(ctx, fake.URL(), conv, sent.ID, &connector.Activity{Type: connector.TypeMessage, Attachments: []connector.Attachment{card(t)}}); err != nil {
		t.Fatalf("update: %v", err)
	}
	cr, err := c.CreateConversation(ctx, fake.URL(), &connector.ConversationParameters{
		Bot:      &connector.ChannelAccount{ID: "28:bot"},
		Members:  []connector.ChannelAccount{{ID: "29:manager"}},
		TenantID: "tenant-1",
	})
	if err != nil || cr.ID == "" {
		t.Fatalf("create: %+v %v", cr, err)
	}

	calls := fake.Calls()
	if len(calls) != 4 {
		t.Fatalf("calls = %d, want 4: %+v", len(calls), calls)
	}
	want := []struct{ method, op, conv, id string }{
		{http.MethodPost, "send", conv, ""},
		{http.MethodPost, "reply", conv, sent.ID},
		{http.MethodPut, "update", conv, sent.ID},
		{http.MethodPost, "create", "", ""},
	}
	for i, w := range want {
		got := calls[i]
		if got.Method != w.method || got.Op != w.op || got.ConversationID != w.conv || got.ActivityID != w.id {
			t.Errorf("call %d = %s %s conv=%q id=%q, want %+v", i, got.Method, got.Op, got.ConversationID, got.ActivityID, w)
		}
	}
	if a := calls[0].Activity; len(a.Attachments) != 1 || a.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" {
		t.Errorf("send body = %+v", a)
	}
	if calls[1].Activity.Text != "step failed" || calls[1].Activity.ReplyToID != sent.ID {
		t.Errorf("reply body = %+v", calls[1].Activity)
	}
	if calls[2].Activity.ID != sent.ID {
		t.Errorf("update body id = %q", calls[2].Activity.ID)
	}
	if p := calls[3].Params; p.TenantID != "tenant-1" || p.Members[0].ID != "29:manager" || p.Bot.ID != "28:bot" || p.IsGroup {
		t.Errorf("create body = %+v", p)
	}
}

func TestTokenIsCachedAcrossCalls(t *testing.T) {
	fake := teamstest.NewConnector(t)
	c, _ := newClient(t, fake, testPolicy)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.SendToConversation(context.Background(), fake.URL(), "a:1", &connector.Activity{Type: connector.TypeMessage, Text: "hi"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := fake.TokenRequests(); n != 1 {
		t.Errorf("token requests = %d, want 1 for 20 calls", n)
	}
	if n := len(fake.Calls()); n != 20 {
		t.Errorf("calls = %d", n)
	}
}

func TestRetries(t *testing.T) {
	cases := []struct {
		name       string
		status     int
		n          int
		retryAfter string
		wantErr    error
		wantSleeps []time.Duration
		wantCalls  int
	}{
		{"429 honors Retry-After", http.StatusTooManyRequests, 2, "3", nil, []time.Duration{3 * time.Second, 3 * time.Second}, 1},
		{"5xx backs off", http.StatusBadGateway, 1, "", nil, []time.Duration{time.Second}, 1},
		{"503 until attempts run out", http.StatusServiceUnavailable, 10, "", connector.ErrRetryable, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, 0},
		{"Retry-After beyond the budget is not waited", http.StatusTooManyRequests, 1, "120", connector.ErrRetryable, nil, 0},
		{"4xx is permanent", http.StatusForbidden, 1, "", connector.ErrPermanent, nil, 0},
		{"404 is permanent", http.StatusNotFound, 1, "", connector.ErrPermanent, nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := teamstest.NewConnector(t)
			c, sl := newClient(t, fake, testPolicy)
			fake.Fail(tc.n, tc.status, tc.retryAfter)
			_, err := c.SendToConversation(context.Background(), fake.URL(), "a:1", &connector.Activity{Type: connector.TypeMessage, Text: "x"})
			if tc.wantErr == nil && err != nil {
				t.Fatalf("err = %v", err)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				var ae *connector.APIError
				if !errors.As(err, &ae) || ae.Status != tc.status || ae.Code != "Injected" {
					t.Errorf("err = %#v", err)
				}
				if strings.Contains(err.Error(), "fake-bot-token") || strings.Contains(err.Error(), fake.Secret) {
					t.Errorf("error leaks a credential: %v", err)
				}
			}
			if got := sl.got(); !equalDurations(got, tc.wantSleeps) {
				t.Errorf("sleeps = %v, want %v", got, tc.wantSleeps)
			}
			if n := len(fake.Calls()); n != tc.wantCalls {
				t.Errorf("accepted calls = %d, want %d", n, tc.wantCalls)
			}
		})
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestServiceURLRefused(t *testing.T) {
	fake := teamstest.NewConnector(t)
	c, _ := newClient(t, fake, testPolicy)
	for _, su := range []string{
		"https://169.254.169.254/",  // cloud metadata: refused by the policy
		"https://10.0.0.1/teams/",   // internal
		"http://smba.example.com/",  // not https
		"https://user:pw@127.0.0.1", // user info
		"not a url",
	} {
		_, err := c.SendToConversation(context.Background(), su, "a:1", &connector.Activity{Type: connector.TypeMessage})
		if !errors.Is(err, outbound.ErrURLRefused) || !errors.Is(err, connector.ErrPermanent) {
			t.Errorf("%q: err = %v, want refused and permanent", su, err)
		}
		if strings.Contains(err.Error(), "pw") {
			t.Errorf("%q: error repeats user info: %v", su, err)
		}
	}
	// An internal serviceUrl is refused even with a token at hand; nothing
	// reached the fake.
	strict, _ := newClient(t, fake, &outbound.URLPolicy{})
	if _, err := strict.SendToConversation(context.Background(), fake.URL(), "a:1", &connector.Activity{Type: connector.TypeMessage}); !errors.Is(err, outbound.ErrURLRefused) {
		t.Errorf("loopback serviceUrl under a strict policy: err = %v", err)
	}
	if n := len(fake.Calls()); n != 0 {
		t.Errorf("calls = %d, want 0", n)
	}
}

func TestConversationIDIsOnePathSegment(t *testing.T) {
	fake := teamstest.NewConnector(t)
	c, _ := newClient(t, fake, testPolicy)
	conv := "a:1/../../evil?x=1#y"
	if _, err := c.SendToConversation(context.Background(), fake.URL(), conv, &connector.Activity{Type: connector.TypeMessage}); err != nil {
		t.Fatal(err)
	}
	if got := fake.Calls()[0].ConversationID; got != conv {
		t.Errorf("conversation id = %q, want %q", got, conv)
	}
}

func TestNewRequiresCredentials(t *testing.T) {
	if _, err := connector.New(connector.Config{AppPassword: secret.FromValue("x")}, nil); err == nil {
		t.Error("no app id accepted")
	}
	if _, err := connector.New(connector.Config{AppID: "x"}, nil); err == nil {
		t.Error("no password accepted")
	}
	if _, err := connector.New(connector.Config{AppID: "x", AppPassword: secret.FromValue("y"), TokenURL: "http://login.example.com/t"}, nil); err == nil {
		t.Error("http token url accepted")
	}
}

func TestBadCredentialsArePermanentAndNotLeaked(t *testing.T) {
	fake := teamstest.NewConnector(t)
	sl := &sleeps{}
	c, err := connector.New(connector.Config{
		AppID:       fake.AppID,
		AppPassword: secret.FromValue("wrong-secret-value"),
		TokenURL:    fake.TokenURL(),
	}, testPolicy, connector.WithSleep(sl.sleep))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SendToConversation(context.Background(), fake.URL(), "a:1", &connector.Activity{Type: connector.TypeMessage})
	if !errors.Is(err, connector.ErrPermanent) {
		t.Fatalf("err = %v, want permanent", err)
	}
	var ae *connector.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || ae.Code != "invalid_client" || !strings.Contains(ae.Msg, "AADSTS7000215") {
		t.Errorf("err = %#v, want the token endpoint's 401 invalid_client", err)
	}
	if strings.Contains(err.Error(), "wrong-secret-value") {
		t.Errorf("error leaks the secret: %v", err)
	}
	if len(sl.got()) != 0 || len(fake.Calls()) != 0 {
		t.Errorf("retried (%v) or called (%d)", sl.got(), len(fake.Calls()))
	}
}
