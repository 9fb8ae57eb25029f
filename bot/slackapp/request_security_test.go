package slackapp_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/bot"
	slackapp "github.com/kineticsec/kinetic/bot/slackapp"
	slackbot "github.com/kineticsec/kinetic/bot/slackbot"
	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/bot/slackbot/slacktest"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/replay"
	"github.com/kineticsec/kinetic/internal/secret"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// slackSecuritySeed seeds TestSlackRefusesForgedStaleAndReplayedRequests;
// a failure names it and the request number, so it reproduces.
const slackSecuritySeed = 0x51ac_c0de

// slackEffects are the Web API methods that show something to someone or
// open a view: a forged request must cause none of them.
var slackEffects = []string{"chat.postMessage", "chat.postEphemeral", "chat.update", "views.open", "views.publish", "views.update", "conversations.open"}

// slackBase is a request Slack could send: where, and its body.
type slackBase struct {
	name, path string
	body       []byte
}

func slackBases(t *testing.T) []slackBase {
	t.Helper()
	payload := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return []byte(url.Values{"payload": {string(b)}}.Encode())
	}
	js := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return []slackBase{
		{"command /offboard @erin", "/slack/commands", []byte(commandForm("UMIA", "<@UERIN|erin> moving to a competitor"))},
		{"command /offboard help", "/slack/commands", []byte(commandForm("UHAL", "help"))},
		{"command /offboard @carl --now", "/slack/commands", []byte(commandForm("UMIA", "<@UCARL|carl> --now gross misconduct"))},
		{"click confirm", "/slack/interactions", payload(click("UMIA", "DUMIA", "1767000000.000100", blocks.ActionConfirmPlan, blocks.CaseValue(1)))},
		{"unknown view submitted", "/slack/interactions", payload(submission("UMIA", "kinetic.security_probe", "", map[string]any{}))},
		{"offboard modal submitted", "/slack/interactions", payload(submission("UMIA", blocks.ModalOffboard, "", map[string]any{}))},
		{"url_verification", "/slack/events", js(map[string]any{"type": "url_verification", "token": "legacy", "challenge": "chal-3eT7Qx"})},
		{"app_home_opened", "/slack/events", js(map[string]any{"type": "event_callback", "team_id": slacktest.TeamID, "api_app_id": slacktest.AppID,
			"event_id": "Ev0SEC", "event_time": 1767000000, "event": map[string]any{"type": "app_home_opened", "user": "UMIA", "channel": "DUMIA", "tab": "home"}})},
	}
}

// slackReq is one generated request.
type slackReq struct {
	category string
	path     string
	hdr      http.Header
	body     []byte
	want     int
}

func slackSign(key, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte("v0:" + ts + ":"))
	m.Write(body)
	return "v0=" + hex.EncodeToString(m.Sum(nil))
}

func slackHeaders(ts, sig string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set(slackbot.HeaderTimestamp, ts)
	h.Set(slackbot.HeaderSignature, sig)
	return h
}

// genSlackForgery returns a random forged, stale or malformed request
// built from base, signed now.
func genSlackForgery(rng *rand.Rand, bases []slackBase, base slackBase, now time.Time) slackReq {
	body := base.body
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := slackSign(signingSecret, ts, body)
	good := slackHeaders(ts, sig)
	req := func(cat string, h http.Header, b []byte) slackReq {
		return slackReq{category: cat, path: base.path, hdr: h, body: b, want: http.StatusUnauthorized}
	}
	with := func(name, value string) http.Header {
		h := good.Clone()
		h.Set(name, value)
		return h
	}
	flipSig := func() string {
		b, _ := hex.DecodeString(strings.TrimPrefix(sig, "v0="))
		b[rng.IntN(len(b))] ^= 1 << rng.IntN(8)
		return "v0=" + hex.EncodeToString(b)
	}
	switch rng.IntN(20) {
	case 0:
		keys := []string{"wrong-signing-secret", "", signingSecret + "x", strings.ToUpper(signingSecret), signingSecret[:len(signingSecret)-1],
			" " + signingSecret, signingSecret + "\n", slacktest.BotToken, slacktest.AppToken, fmt.Sprintf("%x", rng.Uint64())}
		return req("wrong secret", slackHeaders(ts, slackSign(keys[rng.IntN(len(keys))], ts, body)), body)
	case 1:
		return req("signature bit flipped", with(slackbot.HeaderSignature, flipSig()), body)
	case 2:
		b := bytes.Clone(body)
		b[rng.IntN(len(b))] ^= 1 << rng.IntN(8)
		return req("body bit flipped", good, b)
	case 3:
		if rng.IntN(2) == 0 {
			return req("body truncated", good, body[:rng.IntN(len(body))])
		}
		ext := []string{"&user_id=UADA", "&command=/offboard", " ", "\n", "&", "%00", `,"x":1`}
		return req("body extended", good, append(bytes.Clone(body), ext[rng.IntN(len(ext))]...))
	case 4:
		d := int64(1 + rng.IntN(280))
		if rng.IntN(2) == 0 {
			d = -d
		}
		return req("timestamp altered", with(slackbot.HeaderTimestamp, strconv.FormatInt(now.Unix()+d, 10)), body)
	case 5:
		// The same second, written differently from what was signed.
		return req("timestamp respelled", with(slackbot.HeaderTimestamp, []string{"0" + ts, "00" + ts}[rng.IntN(2)]), body)
	case 6:
		return req("signature truncated", with(slackbot.HeaderSignature, sig[:rng.IntN(len(sig))]), body)
	case 7:
		ext := []string{"0", "00", "ff", "deadbeef", " ", sig[len(sig)-2:]}
		return req("signature extended", with(slackbot.HeaderSignature, sig+ext[rng.IntN(len(ext))]), body)
	case 8:
		pre := []string{"v1=", "V0=", "v0:", "v0", "", "sha256=", "v00=", "v=", " v0=", "v0==", "v0= "}
		return req("wrong version prefix", with(slackbot.HeaderSignature, pre[rng.IntN(len(pre))]+strings.TrimPrefix(sig, "v0=")), body)
	case 9:
		h := good.Clone()
		switch rng.IntN(3) {
		case 0:
			h.Del(slackbot.HeaderSignature)
		case 1:
			h.Del(slackbot.HeaderTimestamp)
		default:
			h.Del(slackbot.HeaderSignature)
			h.Del(slackbot.HeaderTimestamp)
		}
		return req("missing header", h, body)
	case 10:
		h := good.Clone()
		if rng.IntN(2) == 0 {
			h[http.CanonicalHeaderKey(slackbot.HeaderSignature)] = []string{flipSig(), sig}
		} else {
			h[http.CanonicalHeaderKey(slackbot.HeaderTimestamp)] = []string{strconv.FormatInt(now.Unix()-int64(1+rng.IntN(200)), 10), ts}
		}
		return req("duplicated header (forged first)", h, body)
	case 11:
		skew := slackbot.MaxSkew + time.Duration(30+rng.IntN(400*24*3600))*time.Second
		cat := "stale (past)"
		at := now.Add(-skew)
		if rng.IntN(2) == 0 {
			cat, at = "stale (future)", now.Add(skew)
		}
		t2 := strconv.FormatInt(at.Unix(), 10)
		return req(cat, slackHeaders(t2, slackSign(signingSecret, t2, body)), body)
	case 12:
		bad := []string{"abc", "1.7e9", "-" + ts, "+" + ts, "0x" + strconv.FormatInt(now.Unix(), 16), ts + ".0", " " + ts, ts + " ",
			"١٧٦٧٠٠٠٠٠٠", "0000" + ts, now.UTC().Format(time.RFC3339), strconv.FormatInt(now.UnixMilli(), 10), "9999999999999"}
		t2 := bad[rng.IntN(len(bad))]
		return req("malformed timestamp", slackHeaders(t2, slackSign(signingSecret, t2, body)), body)
	case 13:
		other := bases[rng.IntN(len(bases))].body
		if bytes.Equal(other, body) {
			other = append(bytes.Clone(body), '&')
		}
		return req("body swapped", good, other)
	case 14:
		t2 := strconv.FormatInt(now.Unix()-int64(1+rng.IntN(200)), 10)
		return req("timestamp swapped", with(slackbot.HeaderTimestamp, t2), body)
	case 15:
		// An HMAC over another message than "v0:<ts>:<body>".
		msgs := [][]byte{body, []byte(ts + string(body)), []byte("v0:" + ts + string(body)), []byte("v1:" + ts + ":" + string(body)),
			append(bytes.Clone(body), ts...), []byte("v0:" + ts + ":")}
		m := hmac.New(sha256.New, []byte(signingSecret))
		m.Write(msgs[rng.IntN(len(msgs))])
		return req("other message signed", with(slackbot.HeaderSignature, "v0="+hex.EncodeToString(m.Sum(nil))), body)
	case 16:
		// Bytes moved between the timestamp and the body.
		k := 1 + rng.IntN(len(ts)-1)
		if rng.IntN(2) == 0 {
			return req("message boundary shifted", with(slackbot.HeaderTimestamp, ts[:k]), append([]byte(ts[k:]+":"), body...))
		}
		j := bytes.IndexByte(body, ':')
		if j < 0 {
			j = rng.IntN(len(body))
		}
		return req("message boundary shifted", with(slackbot.HeaderTimestamp, ts+":"+string(body[:j])), body[j+1:])
	case 17:
		trivial := []string{"v0=" + strings.Repeat("0", 64), "v0=" + strings.Repeat("g", 64), slackSign("", ts, body), "v0=" + strings.Repeat("ｆ", 64), "v0=" + strings.ToUpper(flipSig()[3:])}
		return req("trivial or malformed signature", with(slackbot.HeaderSignature, trivial[rng.IntN(len(trivial))]), body)
	case 18:
		if base.path != "/slack/commands" {
			return req("signature under another header", func() http.Header {
				h := good.Clone()
				h.Del(slackbot.HeaderSignature)
				h.Set([]string{"X-Slack-Signature-V0", "X-Signature", "Authorization"}[rng.IntN(3)], sig)
				return h
			}(), body)
		}
		// A command smuggled into Slack's unsigned certificate probe.
		smuggled := []string{"ssl_check=1&command=/offboard&text=%3C%40UERIN%3E&user_id=UMIA", "ssl_check=1&token=x&text=%3C%40UERIN%3E",
			"ssl_check=1&" + string(body), string(body) + "&ssl_check=1"}
		b := []byte(smuggled[rng.IntN(len(smuggled))])
		return req("command smuggled into ssl_check", slackHeaders(ts, flipSig()), b)
	default:
		// Slack's certificate probe is answered 200 without a signature
		// by design; it must do nothing else.
		if base.path == "/slack/commands" {
			r := req("ssl_check probe (200 by design, no effect)", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte("ssl_check=1&token=anything"))
			r.want = http.StatusOK
			return r
		}
		return req("unsigned", http.Header{"Content-Type": {"application/json"}}, body)
	}
}

// TestSlackRefusesForgedStaleAndReplayedRequests sends thousands of
// generated requests to the three Slack request URLs of the handler `kinetic
// serve` builds (bot.NewHandler with the routes slackapp.App.Run mounts,
// whose replay cache is the shared Redis): mutations of valid signed slash
// commands, interactions and events (wrong secret, flipped bits in the
// signature, body or timestamp, truncated or extended signatures, wrong
// version prefixes, missing and duplicated headers, stale and future
// timestamps, malformed or respelled timestamps, swapped bodies and
// timestamps, another message signed, bytes moved across the signed
// message's boundary, commands smuggled into the unsigned certificate
// probe). Every one is answered 401 and nothing happens: no case, no audit
// event, no Slack message or view. Slack's certificate probe alone is
// answered 200 unsigned, and does nothing. Then valid requests are accepted
// (and act), and every replay of them — verbatim, hex upper-cased, with
// retry headers, to another of the three URLs — is answered 401 while the
// replay cache remembers it (until the timestamp leaves the 5-minute
// window), changing nothing.
func TestSlackRefusesForgedStaleAndReplayedRequests(t *testing.T) {
	fake := slacktest.NewServer(t)
	for id, u := range slackUsers {
		fake.AddUser(id, u[0], u[1])
	}
	l := logrus.New()
	l.Level = logrus.ErrorLevel // refusals are warnings; thousands of them
	l.Out = testLog{t}
	sa, err := slackapp.New(slackapp.Options{
		Config: &slackbot.Config{BotToken: secret.FromValue(slacktest.BotToken), SigningSecret: secret.FromValue(signingSecret),
			APIURL: fake.URL(), OffboardingChannel: offboarding, AlertsChannel: alerts},
		Log: logrus.NewEntry(l), UpdateInterval: updateInterval,
	})
	if err != nil {
		t.Fatal(err)
	}
	kit := testkit.New(t, testkit.Options{RedisDB: 12, Policy: testkit.ApprovalPolicy, Observers: []engine.Observer{sa}})
	ctx, cancel := context.WithCancel(context.Background())
	mount, stop := sa.Run(ctx, kit.Engine, kit.Directory, kit.RDB, true)
	t.Cleanup(func() { cancel(); stop() })
	if mount == nil {
		t.Fatal("Run mounted no HTTP routes")
	}
	h := bot.NewHandler(bot.ServerOptions{Engine: kit.Engine, Ready: kit.Ready, Metrics: kit.Metrics, Log: logrus.NewEntry(l),
		APITokens: map[string]string{"hris": "unused-token"}, Routes: []func(*http.ServeMux){mount}})
	send := func(path string, hdr http.Header, body []byte) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		r.RemoteAddr = "192.0.2.77:31337"
		for k, vs := range hdr {
			r.Header[k] = vs
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	effects := func() int {
		n := 0
		for _, m := range slackEffects {
			n += len(fake.Calls(m))
		}
		return n
	}
	snapshot := func() string {
		var head store.AuditHead
		if err := kit.Store.TestDB().WithContext(context.Background()).First(&head, 1).Error; err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("cases %d, chat messages %d, audit head %d %s", kit.Count(t, &store.Case{}, ""), kit.Count(t, &store.ChatMessage{}, ""), head.Seq, head.Hash)
	}
	before, effectsBefore := snapshot(), effects()

	bases := slackBases(t)
	rng := rand.New(rand.NewPCG(slackSecuritySeed, 5))
	const n = 4200
	counts := map[string]map[string]int{}
	failures := 0
	fail := func(format string, args ...any) {
		failures++
		if failures <= 20 {
			t.Errorf(format, args...)
		}
	}
	for i := 0; i < n; i++ {
		base := bases[rng.IntN(len(bases))]
		r := genSlackForgery(rng, bases, base, time.Now())
		w := send(r.path, r.hdr, r.body)
		if counts[r.path] == nil {
			counts[r.path] = map[string]int{}
		}
		counts[r.path][r.category]++
		if w.Code != r.want || r.want == http.StatusOK && w.Body.Len() != 0 {
			fail("seed %#x request %d (%s, %s from %q): %d %q, want %d\nheaders %v\nbody %q",
				slackSecuritySeed, i, r.path, r.category, base.name, w.Code, w.Body.String(), r.want, r.hdr, r.body)
		}
	}
	if after := snapshot(); after != before {
		t.Fatalf("forged requests changed state:\nbefore %s\nafter  %s", before, after)
	}
	if got := effects(); got != effectsBefore {
		t.Fatalf("forged requests caused %d Slack calls (%v)", got-effectsBefore, fake.Methods())
	}

	// Controls: valid requests are accepted and act.
	type sent struct {
		base slackBase
		hdr  http.Header
	}
	var accepted []sent
	valid := func(b slackBase) *httptest.ResponseRecorder {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		hdr := slackHeaders(ts, slackSign(signingSecret, ts, b.body))
		w := send(b.path, hdr, b.body)
		accepted = append(accepted, sent{b, hdr})
		return w
	}
	byName := map[string]slackBase{}
	for _, b := range bases {
		byName[b.name] = b
	}
	if w := valid(byName["command /offboard help"]); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "ephemeral") {
		t.Fatalf("control: /offboard help: %d %s", w.Code, w.Body)
	}
	if w := valid(byName["command /offboard @erin"]); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Planning the offboarding") {
		t.Fatalf("control: /offboard @erin: %d %s", w.Code, w.Body)
	}
	if w := valid(byName["unknown view submitted"]); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"response_action":"clear"`) {
		t.Fatalf("control: view submission: %d %s", w.Code, w.Body)
	}
	if w := valid(byName["url_verification"]); w.Code != http.StatusOK || w.Body.String() != "chal-3eT7Qx" {
		t.Fatalf("control: url_verification: %d %q", w.Code, w.Body)
	}
	if w := valid(byName["app_home_opened"]); w.Code != http.StatusOK {
		t.Fatalf("control: app_home_opened: %d %s", w.Code, w.Body)
	}
	fake.WaitFor(t, "views.publish", func(c slacktest.Call) bool { return c.Params.Get("user_id") == "UMIA" }, wait)
	fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool {
		return c.Channel == "DUMIA" && has(c, blocks.ActionConfirmPlan)
	}, wait)
	c, err := kit.Store.OpenCaseFor(context.Background(), "E1")
	if err != nil || c.Status != store.CaseAwaitingConfirmation {
		t.Fatalf("control: the case for E1: %+v, %v", c, err)
	}
	// The preview is recorded after it is posted: wait for that too.
	if kit.WaitCount(t, 1, wait, &store.ChatMessage{}, "case_id = ?", c.ID) == 0 {
		t.Fatal("the plan preview was never recorded")
	}
	afterControls, effectsAfterControls := snapshot(), effects()
	if afterControls == before || effectsAfterControls == effectsBefore {
		t.Fatal("accepted requests changed nothing visible: the oracle cannot see changes")
	}

	// Replays of every accepted request.
	paths := []string{"/slack/commands", "/slack/interactions", "/slack/events"}
	replays := map[string]int{}
	const copies = 30
	for _, a := range accepted {
		sig := a.hdr.Get(slackbot.HeaderSignature)
		variants := []struct {
			name string
			path string
			mod  func(http.Header)
		}{
			{"verbatim", a.base.path, func(http.Header) {}},
			{"hex upper-cased", a.base.path, func(h http.Header) { h.Set(slackbot.HeaderSignature, "v0="+strings.ToUpper(sig[3:])) }},
			{"as Slack's retry", a.base.path, func(h http.Header) {
				h.Set("X-Slack-Retry-Num", "1")
				h.Set("X-Slack-Retry-Reason", "http_timeout")
			}},
			{"to another URL", paths[rng.IntN(len(paths))], func(http.Header) {}},
			{"with a junk second signature", a.base.path, func(h http.Header) { h.Add(slackbot.HeaderSignature, "v0=junk") }},
			{"another content type", a.base.path, func(h http.Header) { h.Set("Content-Type", "application/json") }},
		}
		for i := 0; i < copies; i++ {
			v := variants[i%len(variants)]
			hdr := a.hdr.Clone()
			v.mod(hdr)
			w := send(v.path, hdr, a.base.body)
			replays[a.base.name+": "+v.name]++
			if w.Code != http.StatusUnauthorized {
				fail("replay %d of %q (%s) to %s: %d %s, want 401", i, a.base.name, v.name, v.path, w.Code, w.Body)
			}
		}
	}
	// Another replica shares the replay cache (Redis, as Run wires it):
	// the replays are refused there too.
	mux2 := http.NewServeMux()
	sa.Routes(slackbot.NewVerifier(signingSecret, nil, slackbot.WithReplayStore(replay.NewRedis(kit.RDB, replay.SlackPrefix))))(mux2)
	for _, a := range accepted {
		r := httptest.NewRequest(http.MethodPost, a.base.path, bytes.NewReader(a.base.body))
		r.Header = a.hdr.Clone()
		w := httptest.NewRecorder()
		mux2.ServeHTTP(w, r)
		replays[a.base.name+": on another replica"]++
		if w.Code != http.StatusUnauthorized {
			fail("replay of %q on another replica: %d %s, want 401", a.base.name, w.Code, w.Body)
		}
	}
	if after := snapshot(); after != afterControls {
		t.Fatalf("replays changed state:\nbefore %s\nafter  %s", afterControls, after)
	}
	if got := effects(); got != effectsAfterControls {
		t.Errorf("replays caused %d Slack calls", got-effectsAfterControls)
	}
	total := 0
	for path, byCat := range counts {
		sum := 0
		for _, c := range byCat {
			sum += c
		}
		total += sum
		t.Logf("%s: %d generated requests; by category %v", path, sum, byCat)
	}
	nReplays := 0
	for _, c := range replays {
		nReplays += c
	}
	t.Logf("seed %#x: %d generated requests refused (the ssl_check probes answered 200 by design), %d valid accepted, %d replays refused (%d per accepted request on this replica, 1 on another)",
		slackSecuritySeed, total, len(accepted), nReplays, copies)
}
