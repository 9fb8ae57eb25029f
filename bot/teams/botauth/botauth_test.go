package botauth_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/kineticsec/kinetic/bot/teams/botauth"
	"github.com/kineticsec/kinetic/bot/teams/connector"
	"github.com/kineticsec/kinetic/bot/teams/teamstest"
	"github.com/kineticsec/kinetic/internal/outbound"
)

const (
	appID      = "00000000-0000-0000-0000-0000000000b0"
	tenant     = "11111111-2222-3333-4444-555555555555"
	serviceURL = "https://smba.trafficmanager.net/amer/"
)

var (
	testPolicy = &outbound.URLPolicy{AllowHosts: []string{"127.0.0.1"}}
	t0         = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type env struct {
	bf, entra *teamstest.Issuer
	clock     *clock
	v         *botauth.Verifier
	h         http.Handler

	mu      sync.Mutex
	reasons []error
	nexts   int
}

func newEnv(t testing.TB, tenantID string) *env {
	t.Helper()
	e := &env{bf: teamstest.NewIssuer(t), entra: teamstest.NewIssuer(t), clock: &clock{now: t0}}
	e.bf.Endorse("key-1", "msteams")
	v, err := botauth.New(botauth.Config{
		AppID:            appID,
		TenantID:         tenantID,
		MetadataURL:      e.bf.MetadataURL(),
		EntraMetadataURL: e.entra.MetadataURL(),
		MaxBody:          8 << 10,
	}, testPolicy, botauth.WithClock(e.clock.Now), botauth.WithRejectHook(func(err error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.reasons = append(e.reasons, err)
	}))
	if err != nil {
		t.Fatal(err)
	}
	e.v = v
	e.h = v.Verify(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := botauth.ActivityFrom(r.Context())
		body, _ := io.ReadAll(r.Body)
		if !ok || a.ServiceURL == "" || len(body) == 0 {
			t.Errorf("next: activity %v ok=%v body %d bytes", a, ok, len(body))
		}
		e.mu.Lock()
		e.nexts++
		e.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	return e
}

func (e *env) lastReason() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.reasons) == 0 {
		return nil
	}
	return e.reasons[len(e.reasons)-1]
}

func (e *env) nextCalls() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.nexts
}

func activity(su, channel string) string {
	b, _ := json.Marshal(map[string]any{
		"type": "message", "id": "1", "serviceUrl": su, "channelId": channel,
		"from":         map[string]string{"id": "29:u", "aadObjectId": "aad-u"},
		"conversation": map[string]string{"id": "a:1", "tenantId": tenant},
		"recipient":    map[string]string{"id": "28:" + appID},
		"text":         "help",
		"futureField":  map[string]int{"x": 1},
	})
	return string(b)
}

func (e *env) post(auth, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/teams/messages", strings.NewReader(body))
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

func good() teamstest.Claims {
	return teamstest.Claims{
		Issuer: botauth.BotFrameworkIssuer, Audience: appID, ServiceURL: serviceURL,
		IssuedAt: t0.Add(-time.Minute), NotBefore: t0.Add(-time.Minute), Expiry: t0.Add(time.Hour),
	}
}

func with(f func(*teamstest.Claims)) teamstest.Claims {
	c := good()
	f(&c)
	return c
}

func unsigned(alg string, c map[string]any) string {
	enc := base64.RawURLEncoding.EncodeToString
	h, _ := json.Marshal(map[string]string{"alg": alg, "kid": "key-1", "typ": "JWT"})
	p, _ := json.Marshal(c)
	return enc(h) + "." + enc(p) + "."
}

func TestBadTokensAre401AndNextIsNeverCalled(t *testing.T) {
	e := newEnv(t, "")
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(e.bf.PublicKey("key-1"))
	if err != nil {
		t.Fatal(err)
	}
	body := activity(serviceURL, "msteams")
	bearer := func(tok string) string { return "Bearer " + tok }
	cases := []struct {
		name string
		auth string
		body string
		want error
	}{
		{"missing", "", body, botauth.ErrNoToken},
		{"not bearer", "Basic " + base64.StdEncoding.EncodeToString([]byte("a:b")), body, botauth.ErrNoToken},
		{"empty bearer", "Bearer ", body, botauth.ErrNoToken},
		{"malformed", "Bearer not.a.jwt", body, botauth.ErrBadToken},
		{"forged with another key", bearer(teamstest.MintWith(t, jose.SigningKey{Algorithm: jose.RS256, Key: other}, "key-1", good())), body, botauth.ErrSignature},
		{"expired", bearer(e.bf.Mint("key-1", with(func(c *teamstest.Claims) { c.Expiry = t0.Add(-6 * time.Minute) }))), body, botauth.ErrClaims},
		{"not yet valid", bearer(e.bf.Mint("key-1", with(func(c *teamstest.Claims) { c.NotBefore = t0.Add(6 * time.Minute) }))), body, botauth.ErrClaims},
		{"no exp", bearer(e.bf.Mint("key-1", with(func(c *teamstest.Claims) { c.Expiry = time.Time{} }))), body, botauth.ErrClaims},
		{"wrong audience", bearer(e.bf.Mint("key-1", with(func(c *teamstest.Claims) { c.Audience = "another-bot" }))), body, botauth.ErrClaims},
		{"wrong issuer", bearer(e.bf.Mint("key-1", with(func(c *teamstest.Claims) { c.Issuer = "https://evil.example.com" }))), body, botauth.ErrIssuer},
		{"entra issuer without tenant configured", bearer(e.bf.Mint("key-1", with(func(c *teamstest.Claims) { c.Issuer = "https://sts.windows.net/" + tenant + "/" }))), body, botauth.ErrIssuer},
		{"wrong serviceurl claim", bearer(e.bf.Mint("key-1", with(func(c *teamstest.Claims) { c.ServiceURL = "https://attacker.example.com/" }))), body, botauth.ErrServiceURL},
		{"activity serviceUrl differs", bearer(e.bf.Mint("key-1", good())), activity("https://attacker.example.com/", "msteams"), botauth.ErrServiceURL},
		{"no serviceurl claim", bearer(e.bf.Mint("key-1", with(func(c *teamstest.Claims) { c.ServiceURL = "" }))), body, botauth.ErrServiceURL},
		{"key not endorsed for channel", bearer(e.bf.Mint("key-1", good())), activity(serviceURL, "slack"), botauth.ErrEndorsement},
		{"unknown kid", bearer(teamstest.MintWith(t, jose.SigningKey{Algorithm: jose.RS256, Key: other}, "no-such-key", good())), body, botauth.ErrSignature},
		{"alg none", bearer(unsigned("none", map[string]any{"iss": botauth.BotFrameworkIssuer, "aud": appID, "serviceurl": serviceURL, "exp": t0.Add(time.Hour).Unix()})), body, botauth.ErrBadToken},
		{"HS256 keyed with the public key", bearer(teamstest.MintWith(t, jose.SigningKey{Algorithm: jose.HS256, Key: pubDER}, "key-1", good())), body, botauth.ErrBadToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := e.post(tc.auth, tc.body)
			if w.Code != http.StatusUnauthorized {
				t.Fatalf("status = %d, want 401: %s", w.Code, w.Body)
			}
			if got := e.lastReason(); !errors.Is(got, tc.want) {
				t.Errorf("reason = %v, want %v", got, tc.want)
			}
			if strings.Contains(w.Body.String(), "serviceurl") || strings.Contains(w.Body.String(), "issuer") {
				t.Errorf("401 body tells the reason: %s", w.Body)
			}
		})
	}
	if n := e.nextCalls(); n != 0 {
		t.Errorf("next handler called %d times for bad tokens", n)
	}
}

func TestGoodTokenPasses(t *testing.T) {
	e := newEnv(t, "")
	for _, c := range []teamstest.Claims{
		good(),
		with(func(c *teamstest.Claims) { c.Expiry = t0.Add(-4 * time.Minute) }),   // within skew
		with(func(c *teamstest.Claims) { c.NotBefore = t0.Add(4 * time.Minute) }), // within skew
	} {
		if w := e.post("Bearer "+e.bf.Mint("key-1", c), activity(serviceURL, "msteams")); w.Code != http.StatusOK {
			t.Errorf("status = %d (%v), want 200", w.Code, e.lastReason())
		}
	}
	if n := e.nextCalls(); n != 3 {
		t.Errorf("next calls = %d, want 3", n)
	}
	if n := e.bf.KeyFetches(); n != 1 {
		t.Errorf("key fetches = %d, want 1 (cached)", n)
	}
}

func TestBodyLimitsAndStrictDecoding(t *testing.T) {
	e := newEnv(t, "")
	tok := "Bearer " + e.bf.Mint("key-1", good())
	big := `{"type":"message","serviceUrl":"` + serviceURL + `","channelId":"msteams","text":"` + strings.Repeat("x", 9<<10) + `"}`
	cases := []struct {
		name string
		body string
		want int
	}{
		{"too large", big, http.StatusRequestEntityTooLarge},
		{"not json", "hello", http.StatusBadRequest},
		{"duplicate key", `{"type":"message","serviceUrl":"` + serviceURL + `","serviceUrl":"https://attacker.example.com/","channelId":"msteams"}`, http.StatusBadRequest},
		{"trailing data", activity(serviceURL, "msteams") + "{}", http.StatusBadRequest},
	}
	for _, tc := range cases {
		if w := e.post(tok, tc.body); w.Code != tc.want {
			t.Errorf("%s: status = %d, want %d", tc.name, w.Code, tc.want)
		}
	}
	// Without a token the body is not even read: 401, not 413.
	if w := e.post("", big); w.Code != http.StatusUnauthorized {
		t.Errorf("big body without token: %d", w.Code)
	}
	if n := e.nextCalls(); n != 0 {
		t.Errorf("next called %d times", n)
	}
}

func TestUnknownKidRefreshesOnceAndIsRateLimited(t *testing.T) {
	e := newEnv(t, "")
	body := activity(serviceURL, "msteams")
	if w := e.post("Bearer "+e.bf.Mint("key-1", good()), body); w.Code != http.StatusOK {
		t.Fatalf("first: %d %v", w.Code, e.lastReason())
	}
	if n := e.bf.KeyFetches(); n != 1 {
		t.Fatalf("key fetches = %d, want 1", n)
	}
	// A rotation: key-2 is published after the cache was filled.
	e.bf.AddKey("key-2", true)
	e.clock.Advance(time.Minute) // past MinRefresh
	for range 5 {
		if w := e.post("Bearer "+e.bf.Mint("key-2", good()), body); w.Code != http.StatusOK {
			t.Fatalf("rotated key: %d %v", w.Code, e.lastReason())
		}
	}
	if n := e.bf.KeyFetches(); n != 2 {
		t.Errorf("key fetches after rotation = %d, want exactly 2", n)
	}
	// Made-up kids right after: no fetch storm.
	e.bf.AddKey("key-3", false)
	for range 10 {
		if w := e.post("Bearer "+e.bf.Mint("key-3", good()), body); w.Code != http.StatusUnauthorized {
			t.Fatalf("unpublished key: %d", w.Code)
		}
	}
	if n := e.bf.KeyFetches(); n != 2 {
		t.Errorf("key fetches after unknown kids = %d, want still 2 (rate limited)", n)
	}
	// Once the interval has passed, one more fetch is allowed.
	e.clock.Advance(time.Minute)
	e.bf.Publish("key-3")
	if w := e.post("Bearer "+e.bf.Mint("key-3", good()), body); w.Code != http.StatusOK {
		t.Errorf("key-3 after publication: %d %v", w.Code, e.lastReason())
	}
	if n := e.bf.KeyFetches(); n != 3 {
		t.Errorf("key fetches = %d, want 3", n)
	}
}

func TestEntraTokensOnlyForTheConfiguredTenant(t *testing.T) {
	e := newEnv(t, tenant)
	body := activity(serviceURL, "msteams")
	entra := func(iss string) teamstest.Claims {
		return with(func(c *teamstest.Claims) { c.Issuer = iss })
	}
	ok := []string{
		"https://login.microsoftonline.com/" + tenant + "/v2.0",
		"https://sts.windows.net/" + tenant + "/",
	}
	for _, iss := range ok {
		if w := e.post("Bearer "+e.entra.Mint("key-1", entra(iss)), body); w.Code != http.StatusOK {
			t.Errorf("%s: %d %v", iss, w.Code, e.lastReason())
		}
	}
	bad := []struct {
		name string
		tok  string
		want error
	}{
		{"other tenant", e.entra.Mint("key-1", entra("https://login.microsoftonline.com/99999999-2222-3333-4444-555555555555/v2.0")), botauth.ErrIssuer},
		{"entra issuer signed by bot framework key", e.bf.Mint("key-1", entra(ok[0])), botauth.ErrSignature},
		{"bot framework issuer signed by entra key", e.entra.Mint("key-1", good()), botauth.ErrSignature},
		{"entra token with another serviceurl", e.entra.Mint("key-1", with(func(c *teamstest.Claims) {
			c.Issuer, c.ServiceURL = ok[0], "https://attacker.example.com/"
		})), botauth.ErrServiceURL},
	}
	for _, tc := range bad {
		if w := e.post("Bearer "+tc.tok, body); w.Code != http.StatusUnauthorized || !errors.Is(e.lastReason(), tc.want) {
			t.Errorf("%s: %d %v, want 401 %v", tc.name, w.Code, e.lastReason(), tc.want)
		}
	}
	if n := e.nextCalls(); n != len(ok) {
		t.Errorf("next calls = %d, want %d", n, len(ok))
	}
}

func TestMetadataGoesThroughTheOutboundPolicy(t *testing.T) {
	is := teamstest.NewIssuer(t)
	v, err := botauth.New(botauth.Config{AppID: appID, MetadataURL: is.MetadataURL()}, &outbound.URLPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.VerifyToken(t.Context(), "Bearer "+is.Mint("key-1", good()), serviceURL, "msteams")
	if !errors.Is(err, botauth.ErrKeysUnusable) || !strings.Contains(err.Error(), outbound.ErrURLRefused.Error()) {
		t.Errorf("err = %v, want keys unusable: refused by policy", err)
	}
	if n := is.MetadataFetches(); n != 0 {
		t.Errorf("metadata fetched %d times despite the policy", n)
	}
	if _, err := botauth.New(botauth.Config{AppID: appID, MetadataURL: "http://login.example.com/meta"}, nil); err == nil {
		t.Error("http metadata url accepted")
	}
	if _, err := botauth.New(botauth.Config{}, nil); err == nil {
		t.Error("no app id accepted")
	}
}

func TestSignedRequestHelpersAndMethod(t *testing.T) {
	e := newEnv(t, "")
	a := &connector.Activity{Type: connector.TypeMessage, ServiceURL: serviceURL, ChannelID: "msteams", Text: "help",
		Conversation: &connector.ConversationAccount{ID: "a:1"}}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, teamstest.Request(t, "/teams/messages", e.bf.Token(appID, serviceURL, t0), a))
	if w.Code != http.StatusOK {
		t.Errorf("signed request: %d %v", w.Code, e.lastReason())
	}
	w = httptest.NewRecorder()
	e.h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/teams/messages", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", w.Code)
	}
	if n := e.nextCalls(); n != 1 {
		t.Errorf("next calls = %d, want 1", n)
	}
}

func TestKeysExpireAndSurviveAnOutage(t *testing.T) {
	e := newEnv(t, "")
	body := activity(serviceURL, "msteams")
	post := func() int { return e.post("Bearer "+e.bf.Token(appID, serviceURL, e.clock.Now()), body).Code }
	if c := post(); c != http.StatusOK {
		t.Fatalf("first: %d", c)
	}
	// Past the TTL with the provider down: the cached key still works.
	e.clock.Advance(botauth.DefaultKeyTTL + time.Minute)
	e.bf.SetDown(true)
	if c := post(); c != http.StatusOK {
		t.Fatalf("during outage: %d %v", c, e.lastReason())
	}
	if n := e.bf.MetadataFetches(); n != 2 {
		t.Errorf("metadata fetches = %d, want 2 (one refresh attempt)", n)
	}
	// Back up: the next request after MinRefresh refetches.
	e.bf.SetDown(false)
	e.clock.Advance(time.Minute)
	if c := post(); c != http.StatusOK {
		t.Fatalf("after outage: %d", c)
	}
	if n := e.bf.KeyFetches(); n != 2 {
		t.Errorf("key fetches = %d, want 2", n)
	}
	if c := post(); c != http.StatusOK || e.bf.KeyFetches() != 2 {
		t.Errorf("cached again: %d, fetches %d", c, e.bf.KeyFetches())
	}
}
