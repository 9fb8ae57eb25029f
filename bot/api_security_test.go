package bot_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/bot"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// apiSecuritySeed seeds TestAPIRefusesForgedBearerTokens; a failure names
// it and the request number, so it reproduces.
const apiSecuritySeed = 0xb3a7_e400

// The API clients of the security test. "retired" has no token (an empty
// value must not make an empty bearer valid).
const (
	secTokHRIS = "kin_hris_7Qx2LmN4pR8sT1vW5yZ0aB3cD6eF9gH"
	secTokOps  = "kin_ops_Jk3Lm5Np7Qr9St1Uv3Wx5Yz7Ab9Cd1Ef"
)

// secRoute is one authenticated API route with a body that would change
// something if the request were accepted.
type secRoute struct{ method, path, body string }

func secRoutes(caseID, actionID int64) []secRoute {
	c, a := fmt.Sprint(caseID), fmt.Sprint(actionID)
	return []secRoute{
		{"POST", "/api/v1/cases", `{"employee_id":"E1","reason":"forged","involuntary":true}`},
		{"GET", "/api/v1/cases/" + c, ""},
		{"GET", "/api/v1/approvals", ""},
		{"GET", "/api/v1/approvals/1", ""},
		{"POST", "/api/v1/approvals/1/approve", `{"as":"M1"}`},
		{"POST", "/api/v1/approvals/1/deny", `{"as":"M1","reason":"forged"}`},
		{"POST", "/api/v1/approvals/1/release", `{"as":"H1","reason":"forged"}`},
		{"POST", "/api/v1/cases/" + c + "/exceptions", `{"kind":"late_laptop","as":"M1","days":5}`},
		{"GET", "/api/v1/batches", ""},
		{"POST", "/api/v1/batches/1/approve", `{"as":"H1"}`},
		{"POST", "/api/v1/batches/1/deny", `{"as":"H1","reason":"forged"}`},
		{"POST", "/api/v1/cases/" + c + "/confirm", `{"as":"M1"}`},
		{"POST", "/api/v1/actions/" + a + "/retry", `{"as":"A1"}`},
		{"POST", "/api/v1/actions/" + a + "/skip", `{"as":"A1","reason":"forged"}`},
		{"POST", "/api/v1/actions/" + a + "/done", `{"as":"A1","reason":"forged"}`},
		{"POST", "/api/v1/actions/" + a + "/escalate", `{"as":"A1"}`},
		{"POST", "/api/v1/cases/" + c + "/cancel", `{"as":"H1","reason":"forged"}`},
		{"POST", "/api/v1/cases/" + c + "/restore", `{"as":"H1","reason":"forged"}`},
	}
}

// forgedAuth is one generated way to present a bearer token that is not a
// configured client's.
type forgedAuth struct {
	category string
	// header values of Authorization, in order (none: no header).
	auth []string
	// extra headers, query and cookie that carry a valid token somewhere
	// the API does not read it from.
	extra  map[string]string
	query  string
	cookie string
}

func flipBit(rng *rand.Rand, s string) string {
	b := []byte(s)
	for {
		i := rng.IntN(len(b))
		c := b[i] ^ 1<<rng.IntN(7)
		if c != b[i] && c >= 0x21 && c < 0x7f { // stays a visible ASCII character
			b[i] = c
			return string(b)
		}
	}
}

func randToken(rng *rand.Rand, n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

func swapCase(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 32
		case r >= 'A' && r <= 'Z':
			return r + 32
		}
		return r
	}, s)
}

// genForgedAuth returns a random forgery of the valid tokens.
func genForgedAuth(rng *rand.Rand) forgedAuth {
	tok := []string{secTokHRIS, secTokOps}[rng.IntN(2)]
	one := func(cat, v string) forgedAuth { return forgedAuth{category: cat, auth: []string{v}} }
	switch rng.IntN(19) {
	case 0:
		return forgedAuth{category: "missing header"}
	case 1:
		return one("empty bearer", []string{"", "Bearer", "Bearer ", "Bearer  ", "bearer ", "Bearer \t"}[rng.IntN(6)])
	case 2:
		return one("random token", "Bearer "+randToken(rng, 1+rng.IntN(64)))
	case 3:
		return one("random token of the same length", "Bearer "+randToken(rng, len(tok)))
	case 4:
		return one("one bit flipped", "Bearer "+flipBit(rng, tok))
	case 5:
		return one("truncated", "Bearer "+tok[:rng.IntN(len(tok))])
	case 6:
		return one("extended", "Bearer "+tok+randToken(rng, 1+rng.IntN(8)))
	case 7:
		return one("prefixed", "Bearer "+randToken(rng, 1+rng.IntN(8))+tok)
	case 8:
		return one("case variant", "Bearer "+[]string{strings.ToUpper(tok), strings.ToLower(tok), swapCase(tok)}[rng.IntN(3)])
	case 9:
		return one("wrong scheme", []string{
			"Basic " + base64.StdEncoding.EncodeToString([]byte("hris:"+tok)), "Token " + tok, "Bearer:" + tok, "Bearer" + tok,
			tok, "Digest " + tok, "Bearer=" + tok, "MAC " + tok, "Bearer-" + tok,
		}[rng.IntN(9)])
	case 10:
		return one("whitespace", []string{"Bearer  " + tok, "Bearer " + tok + " ", "Bearer\t" + tok, " Bearer " + tok, "Bearer " + tok + "\t", "Bearer " + " " + tok}[rng.IntN(6)])
	case 11:
		return one("quoted or decorated", []string{`Bearer "` + tok + `"`, "Bearer <" + tok + ">", "Bearer " + tok + ";", "Bearer " + tok + ",", "Bearer " + base64.StdEncoding.EncodeToString([]byte(tok))}[rng.IntN(5)])
	case 12:
		return one("two tokens", []string{"Bearer " + secTokHRIS + " " + secTokOps, "Bearer " + secTokHRIS + "," + secTokOps, "Bearer " + secTokOps + secTokHRIS}[rng.IntN(3)])
	case 13:
		return one("another deployment's token", "Bearer "+[]string{"kin_hris_" + randToken(rng, 31), "test-token-123", "changeme", "null", "undefined", "0"}[rng.IntN(6)])
	case 14:
		// Header duplicated: the first value is what counts, and it is forged.
		return forgedAuth{category: "duplicated header", auth: []string{"Bearer " + flipBit(rng, tok), "Bearer " + tok}}
	case 15:
		return forgedAuth{category: "token elsewhere", query: []string{"access_token=", "token=", "api_key="}[rng.IntN(3)] + tok}
	case 16:
		h := []string{"X-Api-Key", "X-Auth-Token", "Proxy-Authorization", "X-Forwarded-Authorization"}[rng.IntN(4)]
		return forgedAuth{category: "token elsewhere", extra: map[string]string{h: "Bearer " + tok}}
	case 17:
		return forgedAuth{category: "token elsewhere", cookie: "session=" + tok}
	default:
		// Look-alikes: a character replaced by a Unicode confusable, or
		// a NUL or newline appended.
		r := []rune(tok)
		r[rng.IntN(len(r))] = []rune("аеорсхΑΒΕΖΗΙΚΜΝΟΡΤΥΧ０１")[rng.IntN(22)]
		return one("look-alike", []string{"Bearer " + string(r), "Bearer " + tok + "\x00", "Bearer " + tok + "\n"}[rng.IntN(3)])
	}
}

// TestAPIRefusesForgedBearerTokens sends thousands of generated requests
// with forged, mangled, misplaced or missing bearer tokens to every
// authenticated /api/v1 route of the handler `kinetic serve` builds
// (bot.NewHandler on a test Kinetic): every one is answered 401 with a
// WWW-Authenticate challenge, and nothing changes (no case, decision or
// action change: the audit chain's head does not move). Valid tokens of
// both clients, either scheme case, are accepted. Bearer tokens have no
// replay protection by design (an API client repeats its token on every
// call); a repeated POST with the same idempotency key opens nothing new.
func TestAPIRefusesForgedBearerTokens(t *testing.T) {
	k := testkit.New(t, testkit.Options{RedisDB: redisDB})
	l := logrus.New()
	l.Out = io.Discard
	h := bot.NewHandler(bot.ServerOptions{
		Engine: k.Engine, Ready: k.Ready, Metrics: k.Metrics, Log: logrus.NewEntry(l),
		APITokens: map[string]string{"hris": secTokHRIS, "ops": secTokOps, "retired": ""},
	})
	do := func(method, path, body string, mod func(*http.Request)) *httptest.ResponseRecorder {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		r := httptest.NewRequest(method, path, rd)
		r.RemoteAddr = "198.51.100.23:4711"
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		if mod != nil {
			mod(r)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}

	// A case to aim at (opened with a valid token: the control).
	w := do("POST", "/api/v1/cases", `{"employee_id":"E2","reason":"contract ended","idempotency_key":"sec-1"}`, bearer(secTokHRIS))
	if w.Code != http.StatusCreated {
		t.Fatalf("control: POST with the hris token: %d %s", w.Code, w.Body)
	}
	var c struct {
		ID        int64            `json:"id"`
		Requester string           `json:"requester"`
		Actions   []bot.ActionView `json:"actions"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &c); err != nil || c.ID == 0 || len(c.Actions) == 0 || c.Requester != "api:hris" {
		t.Fatalf("control: case %+v, %v: %s", c, err, w.Body)
	}
	ctx := context.Background()
	snapshot := func() string {
		var head store.AuditHead
		if err := k.Store.TestDB().WithContext(ctx).First(&head, 1).Error; err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("cases %d, approvals %d, decisions %d, audit head %d %s",
			k.Count(t, &store.Case{}, ""), k.Count(t, &store.Approval{}, ""), k.Count(t, &store.ApprovalDecision{}, ""), head.Seq, head.Hash)
	}
	before := snapshot()

	routes := secRoutes(c.ID, c.Actions[0].ID)
	rng := rand.New(rand.NewPCG(apiSecuritySeed, 3))
	const n = 3000
	perCategory, perRoute := map[string]int{}, map[string]int{}
	failures := 0
	for i := 0; i < n; i++ {
		rt := routes[rng.IntN(len(routes))]
		f := genForgedAuth(rng)
		path := rt.path
		if f.query != "" {
			path += "?" + f.query
		}
		w := do(rt.method, path, rt.body, func(r *http.Request) {
			for _, v := range f.auth {
				r.Header.Add("Authorization", v)
			}
			for k, v := range f.extra {
				r.Header.Set(k, v)
			}
			if f.cookie != "" {
				r.Header.Set("Cookie", f.cookie)
			}
		})
		perCategory[f.category]++
		perRoute[rt.method+" "+rt.path]++
		if w.Code != http.StatusUnauthorized || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") ||
			!strings.Contains(w.Body.String(), "a valid bearer token is required") {
			failures++
			if failures <= 20 {
				t.Errorf("seed %#x request %d (%s): %s %s with Authorization %q %v %q %q: %d %s, want 401 with a Bearer challenge",
					apiSecuritySeed, i, f.category, rt.method, path, f.auth, f.extra, f.query, f.cookie, w.Code, w.Body)
			}
		}
	}
	if after := snapshot(); after != before {
		t.Errorf("forged requests changed state:\nbefore %s\nafter  %s", before, after)
	}

	// Controls: both clients' tokens, either scheme case, are accepted and
	// identify their own client.
	for _, auth := range []string{"Bearer " + secTokHRIS, "bearer " + secTokHRIS, "BEARER " + secTokOps} {
		w := do("GET", fmt.Sprintf("/api/v1/cases/%d", c.ID), "", func(r *http.Request) { r.Header.Set("Authorization", auth) })
		if w.Code != http.StatusOK {
			t.Errorf("control: GET with %q...: %d %s", auth[:12], w.Code, w.Body)
		}
	}
	w = do("POST", "/api/v1/cases", `{"employee_id":"E1","reason":"resigned"}`, bearer(secTokOps))
	if w.Code != http.StatusCreated || !strings.Contains(w.Body.String(), `"requester": "api:ops"`) {
		t.Errorf("control: POST with the ops token: %d %s", w.Code, w.Body)
	}
	if snapshot() == before {
		t.Error("the state snapshot did not change after an accepted POST: it cannot see changes")
	}
	// A repeated POST (same idempotency key) is the same case, not a new one.
	cases := k.Count(t, &store.Case{}, "")
	w = do("POST", "/api/v1/cases", `{"employee_id":"E2","reason":"contract ended","idempotency_key":"sec-1"}`, bearer(secTokHRIS))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), fmt.Sprintf(`"id": %d,`, c.ID)) || k.Count(t, &store.Case{}, "") != cases {
		t.Errorf("repeated POST: %d %s", w.Code, w.Body)
	}
	t.Logf("seed %#x: %d forged requests over %d routes, all 401; by category %v", apiSecuritySeed, n, len(perRoute), perCategory)
}
