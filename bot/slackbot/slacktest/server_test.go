package slacktest_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/kineticsec/kinetic/bot/slackbot/slacktest"
)

func client(srv *slacktest.Server, token string, opts ...slack.Option) *slack.Client {
	return slack.New(token, append([]slack.Option{slack.OptionAPIURL(srv.URL())}, opts...)...)
}

func TestURLEndsInAPISlash(t *testing.T) {
	srv := slacktest.NewServer(t)
	if u := srv.URL(); len(u) < 5 || u[len(u)-5:] != "/api/" {
		t.Fatalf("URL() = %q, want it to end in /api/", u)
	}
}

func TestAuth(t *testing.T) {
	ctx := context.Background()
	srv := slacktest.NewServer(t)

	t.Run("the bot token is accepted", func(t *testing.T) {
		res, err := client(srv, slacktest.BotToken).AuthTestContext(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.UserID != slacktest.BotUserID || res.TeamID != slacktest.TeamID {
			t.Errorf("auth.test = %+v", res)
		}
	})
	t.Run("a wrong token is invalid_auth", func(t *testing.T) {
		_, err := client(srv, "xoxb-wrong").AuthTestContext(ctx)
		var se slack.SlackErrorResponse
		if !errors.As(err, &se) || se.Err != "invalid_auth" {
			t.Fatalf("err = %v, want invalid_auth", err)
		}
	})
	t.Run("the app token is not a bot token", func(t *testing.T) {
		_, _, err := client(srv, slacktest.AppToken).PostMessageContext(ctx, "C1", slack.MsgOptionText("hi", false))
		var se slack.SlackErrorResponse
		if !errors.As(err, &se) || se.Err != "invalid_auth" {
			t.Fatalf("err = %v, want invalid_auth", err)
		}
	})
	t.Run("apps.connections.open wants the app token", func(t *testing.T) {
		if _, _, err := client(srv, "", slack.OptionAppLevelToken(slacktest.BotToken)).StartSocketModeContext(ctx); err == nil || err.Error() != "invalid_auth" {
			t.Fatalf("with the bot token: err = %v, want invalid_auth", err)
		}
		_, url, err := client(srv, "", slack.OptionAppLevelToken(slacktest.AppToken)).StartSocketModeContext(ctx)
		if err != nil || url == "" {
			t.Fatalf("with the app token: url %q, err %v", url, err)
		}
	})
	t.Run("no recorded call holds a token", func(t *testing.T) {
		for _, c := range srv.Calls("") {
			if c.Params.Has("token") {
				t.Errorf("%s recorded its token parameter", c.Method)
			}
		}
	})
}

func TestMessages(t *testing.T) {
	ctx := context.Background()
	srv := slacktest.NewServer(t)
	api := client(srv, slacktest.BotToken)

	blocks := slack.MsgOptionBlocks(slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "*Offboarding* Dana", false, false), nil, nil))
	ch, ts1, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("Offboarding Dana", false), blocks)
	if err != nil || ch != "C1" {
		t.Fatalf("postMessage: %q %v", ch, err)
	}
	_, ts2, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("step 1 done", false), slack.MsgOptionTS(ts1))
	if err != nil {
		t.Fatal(err)
	}
	_, other, _ := api.PostMessageContext(ctx, "C2", slack.MsgOptionText("x", false))

	t.Run("ts increase per channel", func(t *testing.T) {
		if !(ts2 > ts1) {
			t.Errorf("ts2 %s not after ts1 %s", ts2, ts1)
		}
		if other != ts1 {
			t.Errorf("first ts in another channel = %s, want %s (own sequence)", other, ts1)
		}
	})
	t.Run("calls are recorded with channel, text, blocks, thread_ts, ts", func(t *testing.T) {
		calls := srv.Calls("chat.postMessage")
		if len(calls) != 3 {
			t.Fatalf("%d calls", len(calls))
		}
		c := calls[0]
		if c.Channel != "C1" || c.Text != "Offboarding Dana" || c.TS != ts1 || c.Auth != "bot" {
			t.Errorf("first call = %+v", c)
		}
		var b []map[string]any
		if err := json.Unmarshal(c.Blocks, &b); err != nil || len(b) != 1 || b[0]["type"] != "section" {
			t.Errorf("blocks = %s (%v)", c.Blocks, err)
		}
		if calls[1].ThreadTS != ts1 || calls[1].TS != ts2 {
			t.Errorf("reply = %+v", calls[1])
		}
	})
	t.Run("chat.update of a posted message", func(t *testing.T) {
		_, ts, _, err := api.UpdateMessageContext(ctx, "C1", ts1, slack.MsgOptionText("Dana: done", false))
		if err != nil || ts != ts1 {
			t.Fatalf("update: %s %v", ts, err)
		}
		c := srv.WaitFor(t, "chat.update", nil, time.Second)
		if c.TS != ts1 || c.Text != "Dana: done" {
			t.Errorf("recorded %+v", c)
		}
	})
	t.Run("chat.update of an unknown message is message_not_found", func(t *testing.T) {
		_, _, _, err := api.UpdateMessageContext(ctx, "C1", "1.000000", slack.MsgOptionText("x", false))
		if err == nil || err.Error() != "message_not_found" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("chat.postEphemeral", func(t *testing.T) {
		ts, err := api.PostEphemeralContext(ctx, "C1", "U1", slack.MsgOptionText("only you", false))
		if err != nil || ts == "" {
			t.Fatalf("%q %v", ts, err)
		}
	})
}

func TestViews(t *testing.T) {
	ctx := context.Background()
	srv := slacktest.NewServer(t)
	api := client(srv, slacktest.BotToken)
	modal := slack.ModalViewRequest{
		Type:  slack.VTModal,
		Title: slack.NewTextBlockObject("plain_text", "Offboard", false, false),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewSectionBlock(slack.NewTextBlockObject("plain_text", "Who?", false, false), nil, nil),
		}},
	}
	opened, err := api.OpenViewContext(ctx, "trigger-1", modal)
	if err != nil || opened.View.ID == "" {
		t.Fatalf("views.open: %+v %v", opened, err)
	}
	if _, err := api.UpdateViewContext(ctx, modal, "", "", opened.View.ID); err != nil {
		t.Fatalf("views.update: %v", err)
	}
	home := slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: modal.Blocks}
	if _, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: "U1", View: home}); err != nil {
		t.Fatalf("views.publish: %v", err)
	}
	c := srv.WaitFor(t, "views.open", nil, time.Second)
	if c.Params.Get("trigger_id") != "trigger-1" || len(c.JSON) == 0 {
		t.Errorf("views.open recorded %+v", c)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(c.Params.Get("view")), &v); err != nil || v["type"] != "modal" {
		t.Errorf("view param = %s", c.Params.Get("view"))
	}
}

func TestDirectory(t *testing.T) {
	ctx := context.Background()
	srv := slacktest.NewServer(t)
	api := client(srv, slacktest.BotToken)
	srv.AddUser("U1", "dana@example.test", "Dana")
	srv.AddGroup("S1", "U1", "U2")

	t.Run("users.info", func(t *testing.T) {
		u, err := api.GetUserInfoContext(ctx, "U1")
		if err != nil || u.Profile.Email != "dana@example.test" || u.RealName != "Dana" {
			t.Fatalf("%+v %v", u, err)
		}
		if _, err := api.GetUserInfoContext(ctx, "U404"); err == nil || err.Error() != "user_not_found" {
			t.Errorf("missing user: %v", err)
		}
	})
	t.Run("users.lookupByEmail", func(t *testing.T) {
		u, err := api.GetUserByEmailContext(ctx, "DANA@example.test")
		if err != nil || u.ID != "U1" {
			t.Fatalf("%+v %v", u, err)
		}
		if _, err := api.GetUserByEmailContext(ctx, "nobody@example.test"); err == nil || err.Error() != "users_not_found" {
			t.Errorf("missing email: %v", err)
		}
	})
	t.Run("conversations.open gives D+user", func(t *testing.T) {
		ch, _, _, err := api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{"U1"}})
		if err != nil || ch.ID != "DU1" {
			t.Fatalf("%+v %v", ch, err)
		}
	})
	t.Run("usergroups.users.list", func(t *testing.T) {
		m, err := api.GetUserGroupMembersContext(ctx, "S1")
		if err != nil || len(m) != 2 || m[0] != "U1" {
			t.Fatalf("%v %v", m, err)
		}
		if _, err := api.GetUserGroupMembersContext(ctx, "S404"); err == nil {
			t.Error("unknown group answered ok")
		}
	})
}

func TestRateLimit(t *testing.T) {
	ctx := context.Background()
	srv := slacktest.NewServer(t)
	srv.SetRateLimit("chat.postMessage", 1)

	t.Run("over the limit is 429 with Retry-After", func(t *testing.T) {
		api := client(srv, slacktest.BotToken)
		if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("1", false)); err != nil {
			t.Fatal(err)
		}
		_, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("2", false))
		var rl *slack.RateLimitedError
		if !errors.As(err, &rl) || rl.RetryAfter != time.Second {
			t.Fatalf("err = %v, want a RateLimitedError with RetryAfter 1s", err)
		}
		calls := srv.Calls("chat.postMessage")
		if !calls[len(calls)-1].RateLimited {
			t.Error("the refused call is not marked RateLimited")
		}
	})
	t.Run("a client that honours Retry-After gets through", func(t *testing.T) {
		api := client(srv, slacktest.BotToken, slack.OptionRetryConfig(slack.RetryConfig{MaxRetries: 2}))
		start := time.Now()
		if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("3", false)); err != nil {
			t.Fatalf("with retries: %v", err)
		}
		if waited := time.Since(start); waited < 500*time.Millisecond {
			t.Errorf("succeeded after %s: the client did not back off", waited)
		}
	})
}

func TestUnknownMethodIsRecorded(t *testing.T) {
	srv := slacktest.NewServer(t)
	_, _, err := client(srv, slacktest.BotToken).DeleteMessageContext(context.Background(), "C1", "1.0")
	if err == nil || err.Error() != "unknown_method" {
		t.Fatalf("err = %v", err)
	}
	if c := srv.Calls("chat.delete"); len(c) != 1 || c[0].Error != "unknown_method" {
		t.Errorf("calls = %+v", c)
	}
}

func TestWaitForWakesOnNewCalls(t *testing.T) {
	srv := slacktest.NewServer(t)
	api := client(srv, slacktest.BotToken)
	go func() {
		for _, text := range []string{"a", "b", "c"} {
			_, _, _ = api.PostMessageContext(context.Background(), "C9", slack.MsgOptionText(text, false))
		}
	}()
	c := srv.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool { return c.Text == "c" }, 5*time.Second)
	if c.Channel != "C9" {
		t.Errorf("%+v", c)
	}
}
