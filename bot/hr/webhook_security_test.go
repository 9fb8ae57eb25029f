package hr

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/bot"
	"github.com/kineticsec/kinetic/bot/hr/hrconfig"
	"github.com/kineticsec/kinetic/internal/compose/table"
	"github.com/kineticsec/kinetic/internal/dur"
	"github.com/kineticsec/kinetic/internal/replay"
	"github.com/kineticsec/kinetic/internal/secret"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// hrSecuritySeed seeds TestHRWebhooksRefuseForgedStaleAndReplayedRequests;
// a failure names it and the request number, so it reproduces.
const hrSecuritySeed = 0x4e11_0b0c

const workdayKey = "wd-relay-hmac-key-2468"

// secSource describes one configured webhook source for the generator.
type secSource struct {
	name, format, key    string
	sigHeader, tsHeader  string
	tolerance            time.Duration
	prefix               string // what the sender puts before the hex ("sha256=" or "")
	bodies               [][]byte
	idHeader, otherIDHdr string
}

// secRequest is one generated request.
type secRequest struct {
	category string
	source   string // path segment
	hdr      http.Header
	body     []byte
	want     int
}

func securityHRConfig() *hrconfig.Config {
	cfg := testConfig()
	cfg.Webhooks["workday"] = &hrconfig.Webhook{Format: hrconfig.FormatGeneric, Secret: secret.FromValue(workdayKey),
		SignatureHeader: "X-Workday-Signature", TimestampHeader: "X-Workday-Timestamp", Tolerance: dur.Duration(2 * time.Minute),
		Kind: hrconfig.KindTerminate, Fields: &hrconfig.Fields{EmployeeID: "worker.id", Date: "worker.lastDay", Reason: "worker.reason"}}
	return cfg
}

// tsString renders at in one of the timestamp forms the verifier accepts.
func tsString(rng *rand.Rand, at time.Time) string {
	switch rng.IntN(4) {
	case 0:
		return strconv.FormatInt(at.UnixMilli(), 10)
	case 1:
		return at.UTC().Format(time.RFC3339)
	case 2:
		return at.UTC().Format("2006-01-02T15:04:05-0700")
	}
	return strconv.FormatInt(at.Unix(), 10)
}

// signed returns src's valid headers for body at timestamp ts.
func (src secSource) signed(ts string, body []byte) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(src.sigHeader, src.prefix+Sign(src.format, src.key, ts, body))
	h.Set(src.tsHeader, ts)
	return h
}

// hexFlip flips one bit of the signature in h (after any prefix).
func hexFlip(rng *rand.Rand, sig string) string {
	pre, hx := "", sig
	if strings.HasPrefix(strings.ToLower(sig), "sha256=") {
		pre, hx = sig[:7], sig[7:]
	}
	b, err := hex.DecodeString(hx)
	if err != nil || len(b) == 0 {
		return sig + "0"
	}
	b[rng.IntN(len(b))] ^= 1 << rng.IntN(8)
	return pre + hex.EncodeToString(b)
}

func flipBodyBit(rng *rand.Rand, body []byte) []byte {
	b := bytes.Clone(body)
	b[rng.IntN(len(b))] ^= 1 << rng.IntN(8)
	return b
}

// genHRForgery returns a random forged, stale or malformed request against
// src, built from one of its valid bodies signed now.
func genHRForgery(rng *rand.Rand, srcs []secSource, i int, now time.Time) secRequest {
	src := srcs[i%len(srcs)]
	body := src.bodies[rng.IntN(len(src.bodies))]
	ts := tsString(rng, now)
	good := src.signed(ts, body)
	sig := good.Get(src.sigHeader)
	req := func(cat string, h http.Header, b []byte) secRequest {
		return secRequest{category: cat, source: src.name, hdr: h, body: b, want: http.StatusUnauthorized}
	}
	with := func(name, value string) http.Header {
		h := good.Clone()
		h.Set(name, value)
		return h
	}
	without := func(names ...string) http.Header {
		h := good.Clone()
		for _, n := range names {
			h.Del(n)
		}
		return h
	}
	other := srcs[(i+1)%len(srcs)]
	switch rng.IntN(22) {
	case 0:
		keys := []string{"wrong-key", "", src.key + "x", strings.ToUpper(src.key), src.key[:len(src.key)-1], " " + src.key, src.key + "\n", other.key}
		k := keys[rng.IntN(len(keys))]
		return req("wrong secret", src.signed(ts, body).Clone(), body).withSig(src, src.prefix+Sign(src.format, k, ts, body))
	case 1:
		return req("signature bit flipped", with(src.sigHeader, hexFlip(rng, sig)), body)
	case 2:
		return req("body bit flipped", good, flipBodyBit(rng, body))
	case 3:
		if rng.IntN(2) == 0 {
			return req("body truncated", good, body[:rng.IntN(len(body))])
		}
		return req("body extended", good, append(bytes.Clone(body), []byte([]string{" ", "\n", "{}", `,"x":1`, "\x00"}[rng.IntN(5)])...))
	case 4:
		// The timestamp changed after signing, within the window.
		d := time.Duration(1+rng.IntN(60)) * time.Second
		if rng.IntN(2) == 0 {
			d = -d
		}
		return req("timestamp altered", with(src.tsHeader, tsString(rng, now.Add(d))), body)
	case 5:
		// The same instant spelled differently than what was signed.
		at, _ := parseTimestamp(ts)
		forms := []string{strconv.FormatInt(at.Unix(), 10), strconv.FormatInt(at.UnixMilli(), 10), at.UTC().Format(time.RFC3339),
			at.UTC().Format("2006-01-02T15:04:05-0700"), at.In(newYork).Format(time.RFC3339), "0" + strconv.FormatInt(at.Unix(), 10), "+" + strconv.FormatInt(at.Unix(), 10)}
		alt := forms[rng.IntN(len(forms))]
		if alt == ts {
			alt = " 0" + alt
		}
		return req("timestamp respelled", with(src.tsHeader, alt), body)
	case 6:
		return req("signature truncated", with(src.sigHeader, sig[:rng.IntN(len(sig))]), body)
	case 7:
		ext := []string{"0", "00", "ff", "deadbeef", sig[len(sig)-2:], " 00"}[rng.IntN(6)]
		return req("signature extended", with(src.sigHeader, sig+ext), body)
	case 8:
		hx := strings.TrimPrefix(sig, "sha256=")
		pre := []string{"sha1=", "sha512=", "md5=", "v0=", "sha256:", "sha256 =", "hmac-sha256=", "sha256==", "=", "sha-256="}[rng.IntN(10)]
		return req("wrong prefix", with(src.sigHeader, pre+hx), body)
	case 9:
		hs := [][]string{{src.sigHeader}, {src.tsHeader}, {src.sigHeader, src.tsHeader}}
		return req("missing header", without(hs[rng.IntN(3)]...), body)
	case 10:
		// The headers another source uses, or the right value under
		// another header's name.
		h := without(src.sigHeader, src.tsHeader)
		h.Set(other.sigHeader, sig)
		h.Set(other.tsHeader, ts)
		if other.sigHeader == src.sigHeader {
			h.Set("X-Signature-256", sig)
			h.Del(src.sigHeader)
		}
		return req("signature under another header", h, body)
	case 11:
		h := good.Clone()
		if rng.IntN(2) == 0 {
			h[http.CanonicalHeaderKey(src.sigHeader)] = []string{hexFlip(rng, sig), sig}
		} else {
			h[http.CanonicalHeaderKey(src.tsHeader)] = []string{tsString(rng, now.Add(-time.Duration(1+rng.IntN(50))*time.Second)), ts}
		}
		return req("duplicated header (forged first)", h, body)
	case 12:
		past := src.tolerance + time.Duration(30+rng.IntN(3600*24*400))*time.Second
		at := now.Add(-past)
		if rng.IntN(2) == 0 {
			at = now.Add(past)
			return req("stale (future)", src.signed(tsString(rng, at), body), body)
		}
		return req("stale (past)", src.signed(tsString(rng, at), body), body)
	case 13:
		bad := []string{"abc", "1.7e9", "0x" + strconv.FormatInt(now.Unix(), 16), "1_700_000_000", "yesterday", "2026-02-30T00:00:00Z",
			strconv.FormatInt(now.Unix(), 10) + ".5", "١٧٠٠٠٠٠٠٠٠", "NaN", "-", now.UTC().Format(time.RFC1123), now.UTC().Format("2006-01-02 15:04:05")}
		t := bad[rng.IntN(len(bad))]
		return req("malformed timestamp", src.signed(t, body), body)
	case 14:
		b2 := src.bodies[rng.IntN(len(src.bodies))]
		if bytes.Equal(b2, body) {
			b2 = other.bodies[0]
		}
		return req("body swapped", good, b2)
	case 15:
		// Signature of one request with the timestamp of another.
		ts2 := tsString(rng, now.Add(-time.Duration(1+rng.IntN(100))*time.Second))
		return req("timestamp swapped", with(src.tsHeader, ts2), body).withSig(src, src.signed(ts, body).Get(src.sigHeader))
	case 16:
		// Bytes moved between the timestamp and the body, so that the
		// signed message is unchanged.
		var b []byte
		var t2 string
		if src.format == hrconfig.FormatBambooHR { // message = body + ts
			k := 1 + rng.IntN(len(ts)-1)
			if rng.IntN(2) == 0 {
				b, t2 = append(bytes.Clone(body), ts[:k]...), ts[k:]
			} else {
				k = 1 + rng.IntN(min(4, len(body)-1))
				b, t2 = body[:len(body)-k], string(body[len(body)-k:])+ts
			}
		} else { // message = ts + "." + body
			msg := ts + "." + string(body)
			var dots []int
			for j := range msg {
				if msg[j] == '.' && j != len(ts) {
					dots = append(dots, j)
				}
			}
			if len(dots) == 0 {
				b, t2 = body[1:], ts+"."+string(body[:0]) // "ts." + body[1:] ≠ message
			} else {
				j := dots[rng.IntN(len(dots))]
				t2, b = msg[:j], []byte(msg[j+1:])
			}
		}
		return req("message boundary shifted", with(src.tsHeader, t2), b)
	case 17:
		// Signed with the other format's message layout.
		f := hrconfig.FormatGeneric
		if src.format == f {
			f = hrconfig.FormatBambooHR
		}
		return req("other scheme's message", with(src.sigHeader, src.prefix+Sign(f, src.key, ts, body)), body)
	case 18:
		// A request valid for another source, posted to this one.
		b2 := other.bodies[0]
		r := req("another source's request", other.signed(ts, b2), b2)
		return r
	case 19:
		return req("signature not hex", with(src.sigHeader, src.prefix+strings.Repeat("zz", 32)), body)
	case 20:
		z := []string{strings.Repeat("0", 64), "", " ", "sha256=", "null", src.prefix + Sign(src.format, "", "", nil)}[rng.IntN(6)]
		return req("trivial signature", with(src.sigHeader, z), body)
	default:
		names := []string{"BambooHR", "bamboohr%20", "unknown", "bamboohr.", "SuccessFactors", "workday-test", "Workday"}
		r := req("unknown source", good, body)
		r.source, r.want = names[rng.IntN(len(names))], http.StatusNotFound
		return r
	}
}

// withSig returns r with its signature header set to sig.
func (r secRequest) withSig(src secSource, sig string) secRequest {
	r.hdr = r.hdr.Clone()
	r.hdr.Set(src.sigHeader, sig)
	return r
}

// TestHRWebhooksRefuseForgedStaleAndReplayedRequests sends thousands of
// generated requests to POST /hr/webhooks/{source} of the handler `kinetic
// serve` builds (bot.NewHandler with hr.Routes), for a BambooHR source and
// two generic HMAC sources (SuccessFactors-style with "sha256=" and an id
// header; a Workday relay with other headers and a 2-minute tolerance):
// mutations of valid signed requests (wrong secret, flipped bits in the
// signature, body or timestamp, truncated or extended signatures, wrong
// prefixes, missing and duplicated headers, stale and future timestamps,
// malformed or respelled timestamps, swapped bodies and timestamps, bytes
// moved across the signed message's boundary, the other format's message,
// another source's request). Every one is refused with 401 (404 for an
// unknown source) and nothing is recorded. Then one valid request per
// source is accepted (202) and every replay of it — verbatim, with the
// signature's case or prefix changed, or with a different event id header —
// is refused with 401 while the replay cache remembers it (twice the
// tolerance), changing nothing.
func TestHRWebhooksRefuseForgedStaleAndReplayedRequests(t *testing.T) {
	cfg := securityHRConfig()
	if err := cfg.Use(table.PollerFormats()...).UseWebhooks(table.WebhookFormats()...).Validate(); err != nil {
		t.Fatal(err)
	}
	k := testkit.New(t, testkit.Options{RedisDB: redisDB})
	l := logrus.New()
	l.Out = io.Discard
	log := logrus.NewEntry(l)
	h := bot.NewHandler(bot.ServerOptions{Engine: k.Engine, Ready: k.Ready, Metrics: k.Metrics, Log: log,
		Routes: []func(*http.ServeMux){Routes(cfg, k.Engine, log, replay.NewRedis(k.RDB, replay.HRPrefix))}})

	date := localDate(time.Now(), 5)
	srcs := []secSource{
		{name: "bamboohr", format: hrconfig.FormatBambooHR, key: bambooKey, sigHeader: BambooHRSignatureHeader, tsHeader: BambooHRTimestampHeader,
			tolerance: hrconfig.DefaultTolerance, bodies: [][]byte{
				bambooBody(t, bambooEmp("101", "E1", "Inactive", date, "status", "terminationDate")),
				bambooBody(t, bambooEmp("102", "E2", "Inactive", date, "terminationDate"), bambooEmp("104", "E4", "Inactive", date, "terminationDate")),
			}},
		{name: "successfactors", format: hrconfig.FormatGeneric, key: sfKey, sigHeader: "X-Signature", tsHeader: "X-Timestamp", prefix: "sha256=",
			tolerance: hrconfig.DefaultTolerance, idHeader: "X-Event-Id", bodies: [][]byte{
				[]byte(`{"eventId":"sf-901","eventType":"EmployeeTermination","userId":"E4","endDate":"` + date + `"}`),
				[]byte(`{"eventId":"sf-903","eventType":"EmployeeTermination","userId":"E1","endDate":"` + date + `","involuntary":true}`),
				[]byte(`{"eventId":"sf-902","eventType":"EmployeeTermination","userId":"E2","endDate":"` + date + `","reason":"contract ended. see ticket 4.2"}`),
			}},
		{name: "workday", format: hrconfig.FormatGeneric, key: workdayKey, sigHeader: "X-Workday-Signature", tsHeader: "X-Workday-Timestamp",
			tolerance: 2 * time.Minute, bodies: [][]byte{
				[]byte(`{"worker":{"id":"E2","lastDay":"` + date + `","reason":"contract ended. Thanks for everything."}}`),
				[]byte("{\"worker\": {\"id\": \"E4\", \"lastDay\": \"" + date + "\"}}\n"),
			}},
	}
	send := func(r secRequest) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/hr/webhooks/"+r.source, bytes.NewReader(r.body))
		req.RemoteAddr = "203.0.113.50:5555"
		for k, vs := range r.hdr {
			req.Header[k] = vs
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	ctx := context.Background()
	snapshot := func() string {
		var head store.AuditHead
		if err := k.Store.TestDB().WithContext(ctx).First(&head, 1).Error; err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("cases %d, HR events %d, audit head %d %s", k.Count(t, &store.Case{}, ""), k.Count(t, &store.HREventRecord{}, ""), head.Seq, head.Hash)
	}
	before := snapshot()

	rng := rand.New(rand.NewPCG(hrSecuritySeed, 4))
	const n = 3600
	counts := map[string]map[string]int{}
	failures := 0
	fail := func(format string, args ...any) {
		failures++
		if failures <= 20 {
			t.Errorf(format, args...)
		}
	}
	for i := 0; i < n; i++ {
		r := genHRForgery(rng, srcs, i, time.Now())
		w := send(r)
		src := srcs[i%len(srcs)].name
		if counts[src] == nil {
			counts[src] = map[string]int{}
		}
		counts[src][r.category]++
		if strings.HasPrefix(r.category, "stale") && !strings.Contains(w.Body.String(), errStale.Error()) {
			fail("seed %#x request %d (%s, %s): %s, want refused as %q", hrSecuritySeed, i, src, r.category, w.Body, errStale)
		}
		if w.Code != r.want {
			fail("seed %#x request %d (%s → %s, %s): %d %s, want %d\nheaders %v\nbody %q",
				hrSecuritySeed, i, src, r.source, r.category, w.Code, strings.TrimSpace(w.Body.String()), r.want, r.hdr, r.body)
		}
	}
	if after := snapshot(); after != before {
		t.Fatalf("forged requests changed state:\nbefore %s\nafter  %s", before, after)
	}
	if n := k.Count(t, &store.HREventRecord{}, ""); n != 0 {
		t.Fatalf("%d HR events recorded by forged requests", n)
	}

	// Controls: one valid request per source is accepted and recorded.
	type accepted struct {
		src  secSource
		hdr  http.Header
		body []byte
	}
	var valid []accepted
	for i, src := range srcs {
		ts := tsString(rng, time.Now())
		body := src.bodies[0]
		hdr := src.signed(ts, body)
		if src.idHeader != "" {
			hdr.Set(src.idHeader, fmt.Sprintf("evt-%d", i))
		}
		w := send(secRequest{source: src.name, hdr: hdr, body: body})
		if w.Code != http.StatusAccepted || !strings.Contains(w.Body.String(), `"outcome": "opened"`) {
			t.Fatalf("control: valid %s request (timestamp %q): %d %s", src.name, ts, w.Code, w.Body)
		}
		valid = append(valid, accepted{src, hdr, body})
	}
	recorded := k.Count(t, &store.HREventRecord{}, "")
	if recorded != int64(len(srcs)) {
		t.Fatalf("%d HR events recorded by the controls, want %d", recorded, len(srcs))
	}
	afterControls := snapshot()
	if afterControls == before {
		t.Fatal("the state snapshot did not change after accepted requests: it cannot see changes")
	}

	// Replays of the accepted requests.
	replays := map[string]int{}
	const copies = 40
	for _, v := range valid {
		sig := v.hdr.Get(v.src.sigHeader)
		hx := strings.TrimPrefix(sig, "sha256=")
		variants := []struct {
			name string
			mod  func(h http.Header)
		}{
			{"verbatim", func(http.Header) {}},
			{"signature upper-cased", func(h http.Header) { h.Set(v.src.sigHeader, strings.ToUpper(sig)) }},
			{"hex upper-cased", func(h http.Header) { h.Set(v.src.sigHeader, strings.TrimSuffix(sig, hx)+strings.ToUpper(hx)) }},
			{"sha256= prefix toggled", func(h http.Header) {
				if hx == sig {
					h.Set(v.src.sigHeader, "sha256="+hx)
				} else {
					h.Set(v.src.sigHeader, hx)
				}
			}},
			{"SHA256= prefix", func(h http.Header) { h.Set(v.src.sigHeader, "SHA256="+hx) }},
			{"whitespace around the signature", func(h http.Header) { h.Set(v.src.sigHeader, " "+sig+"\t") }},
			{"another event id header", func(h http.Header) { h.Set("X-Event-Id", fmt.Sprintf("evt-replay-%d", rng.IntN(1e6))) }},
			{"retry headers and another content type", func(h http.Header) {
				h.Set("X-Retry-Count", "1")
				h.Set("Content-Type", "text/plain")
			}},
		}
		for c := 0; c < copies; c++ {
			vr := variants[c%len(variants)]
			hdr := v.hdr.Clone()
			vr.mod(hdr)
			w := send(secRequest{source: v.src.name, hdr: hdr, body: v.body})
			replays[v.src.name+": "+vr.name]++
			if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "replayed") {
				fail("replay %d of the %s request (%s): %d %s, want 401 replayed", c, v.src.name, vr.name, w.Code, w.Body)
			}
		}
	}
	if after := snapshot(); after != afterControls {
		t.Fatalf("replays changed state:\nbefore %s\nafter  %s", afterControls, after)
	}
	// Another replica (or this one after a restart) shares the replay
	// store in Redis, as kinetic serve builds it: a replay there is refused
	// too — verbatim, or with the unsigned event id header changed, which
	// would otherwise let a captured involuntary termination open a second
	// case once the first had closed.
	cases := k.Count(t, &store.Case{}, "")
	for _, v := range valid {
		for j, id := range []string{"", "evt-other-replica"} {
			if j == 1 && v.src.idHeader == "" {
				continue
			}
			replica := bot.NewHandler(bot.ServerOptions{Engine: k.Engine, Log: log,
				Routes: []func(*http.ServeMux){Routes(cfg, k.Engine, log, replay.NewRedis(k.RDB, replay.HRPrefix))}})
			hdr := v.hdr.Clone()
			if id != "" {
				hdr.Set(v.src.idHeader, id)
			}
			req := httptest.NewRequest(http.MethodPost, "/hr/webhooks/"+v.src.name, bytes.NewReader(v.body))
			req.Header = hdr
			w := httptest.NewRecorder()
			replica.ServeHTTP(w, req)
			replays[v.src.name+": on another replica"]++
			if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "replayed") {
				fail("replay of the %s request on another replica (event id header %q): %d %s, want 401 replayed", v.src.name, id, w.Code, w.Body)
			}
		}
	}
	if got := k.Count(t, &store.Case{}, ""); got != cases {
		t.Errorf("replays on another replica opened %d cases", got-cases)
	}
	total := 0
	for src, byCat := range counts {
		sum := 0
		for _, c := range byCat {
			sum += c
		}
		total += sum
		t.Logf("%s: %d forged/stale/malformed requests refused; by category %v", src, sum, byCat)
	}
	t.Logf("seed %#x: %d generated requests refused, %d valid accepted, %d replays refused (%d per source); replays by kind %v",
		hrSecuritySeed, total, len(valid), len(valid)*copies, copies, replays)
}
