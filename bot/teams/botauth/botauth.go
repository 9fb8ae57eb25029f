// Package botauth authenticates inbound Bot Framework activities: the
// bearer JWT of every request is checked before anything else, as
// https://learn.microsoft.com/en-us/azure/bot-service/rest-api/bot-framework-rest-connector-authentication
// ("Authenticate requests from the Bot Connector service to your bot")
// requires:
//
//   - the token's signature verifies with a key from the OpenID metadata's
//     jwks_uri (RS256 only: "none" and HMAC are refused before any key is
//     looked at), keys cached and fetched again on an unknown key id;
//   - issuer https://api.botframework.com;
//   - audience equal to the bot's app id;
//   - not expired, already valid, with 5 minutes of clock skew;
//   - the serviceurl claim equal to the activity's serviceUrl — the check
//     that stops a token issued for one conversation service from being
//     replayed with a serviceUrl the attacker owns (the bot would then
//     send its own Bot Connector token there);
//   - if the key lists endorsements, the activity's channelId among them.
//
// A single-tenant bot (TenantID set) also accepts tokens issued by Entra ID
// for its tenant (issuer https://login.microsoftonline.com/{tenant}/v2.0 or
// https://sts.windows.net/{tenant}/), verified with that tenant's own
// OpenID metadata.
package botauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/kineticsec/kinetic/bot/teams/connector"
	"github.com/kineticsec/kinetic/internal/jsonbody"
	"github.com/kineticsec/kinetic/internal/outbound"
)

// Defaults and fixed values.
const (
	// BotFrameworkMetadataURL is the Bot Connector's OpenID metadata.
	BotFrameworkMetadataURL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
	// BotFrameworkIssuer is the issuer of Bot Connector tokens.
	BotFrameworkIssuer = "https://api.botframework.com"
	// Skew is the clock skew allowed on exp and nbf ("industry-standard
	// clock-skew is 5 minutes", the authentication page).
	Skew = 5 * time.Minute

	DefaultMaxBody = 256 << 10
	// DefaultKeyTTL is how long fetched keys are used before a refetch.
	// The Bot Framework rotates keys rarely and announces new ones before use.
	DefaultKeyTTL = 24 * time.Hour
	// DefaultMinRefresh is the least time between two key fetches.
	DefaultMinRefresh = 30 * time.Second
	fetchTimeout      = 10 * time.Second
)

// EntraMetadataURL is the OpenID metadata of a tenant's v2.0 endpoint.
func EntraMetadataURL(tenant string) string {
	return "https://login.microsoftonline.com/" + url.PathEscape(tenant) + "/v2.0/.well-known/openid-configuration"
}

// Config configures a Verifier.
type Config struct {
	// AppID is the bot's Microsoft app id: the audience tokens must carry.
	AppID string
	// TenantID, for a single-tenant bot, also accepts Entra-issued tokens
	// from this tenant.
	TenantID string
	// MetadataURL overrides BotFrameworkMetadataURL (sovereign clouds, tests).
	MetadataURL string
	// EntraMetadataURL overrides EntraMetadataURL(TenantID) (tests).
	EntraMetadataURL string
	// MaxBody bounds the activity body (default DefaultMaxBody).
	MaxBody int64
	// KeyTTL and MinRefresh tune the key cache (defaults DefaultKeyTTL,
	// DefaultMinRefresh).
	KeyTTL     time.Duration
	MinRefresh time.Duration
}

// Option changes a Verifier.
type Option func(*Verifier)

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(v *Verifier) { v.now = now } }

// WithRejectHook is called with the reason of every refused request (for
// logging; the reason is never sent to the caller).
func WithRejectHook(f func(error)) Option { return func(v *Verifier) { v.onReject = f } }

// Verifier checks Bot Framework bearer tokens.
type Verifier struct {
	appID    string
	maxBody  int64
	now      func() time.Time
	onReject func(error)
	// issuers maps an accepted issuer to the keys that sign its tokens.
	issuers map[string]*keySource
	bf      *keySource
}

// New returns a Verifier. Metadata and keys are fetched lazily, through
// policy's HTTP client (nil refuses internal addresses).
func New(cfg Config, policy *outbound.URLPolicy, opts ...Option) (*Verifier, error) {
	if strings.TrimSpace(cfg.AppID) == "" {
		return nil, errors.New("teams auth: app_id is required")
	}
	v := &Verifier{appID: cfg.AppID, maxBody: cfg.MaxBody, now: time.Now, issuers: map[string]*keySource{}}
	if v.maxBody <= 0 {
		v.maxBody = DefaultMaxBody
	}
	for _, o := range opts {
		o(v)
	}
	ttl, minRefresh := cfg.KeyTTL, cfg.MinRefresh
	if ttl <= 0 {
		ttl = DefaultKeyTTL
	}
	if minRefresh <= 0 {
		minRefresh = DefaultMinRefresh
	}
	client := policy.HTTPClient(fetchTimeout)
	src := func(name, raw string) (*keySource, error) {
		if _, err := outbound.CheckURLForm(name+" metadata_url", raw, outbound.URLForm{HTTPSOnly: true}); err != nil {
			return nil, fmt.Errorf("teams auth: %w", err)
		}
		return &keySource{name: name, metaURL: raw, policy: policy, client: client, ttl: ttl, minRefresh: minRefresh, now: v.now}, nil
	}
	meta := cfg.MetadataURL
	if meta == "" {
		meta = BotFrameworkMetadataURL
	}
	bf, err := src("bot framework", meta)
	if err != nil {
		return nil, err
	}
	v.bf = bf
	v.issuers[BotFrameworkIssuer] = bf
	if t := strings.TrimSpace(cfg.TenantID); t != "" {
		em := cfg.EntraMetadataURL
		if em == "" {
			em = EntraMetadataURL(t)
		}
		entra, err := src("entra", em)
		if err != nil {
			return nil, err
		}
		v.issuers["https://login.microsoftonline.com/"+t+"/v2.0"] = entra
		v.issuers["https://sts.windows.net/"+t+"/"] = entra
	}
	return v, nil
}

// Identity is what a verified token says about the caller.
type Identity struct {
	Issuer     string
	ServiceURL string // the serviceurl claim ("" only for Entra tokens without one)
	Subject    string
}

type botClaims struct {
	ServiceURL string `json:"serviceurl"`
}

// Errors a token is refused with (wrapped; match with errors.Is).
var (
	ErrNoToken      = errors.New("no bearer token")
	ErrBadToken     = errors.New("malformed token or disallowed algorithm")
	ErrIssuer       = errors.New("issuer not accepted")
	ErrSignature    = errors.New("signature does not verify")
	ErrClaims       = errors.New("token claims not valid")
	ErrServiceURL   = errors.New("serviceurl claim does not match the activity's serviceUrl")
	ErrEndorsement  = errors.New("signing key not endorsed for the activity's channel")
	ErrKeysUnusable = errors.New("signing keys unavailable")
)

// allowedAlgs: both providers sign with RS256 (their metadata's
// id_token_signing_alg_values_supported). go-jose refuses any other alg at
// parse time, so "none" and HS256-with-the-public-key never reach a key.
var allowedAlgs = []jose.SignatureAlgorithm{jose.RS256}

// VerifyToken checks the Authorization header value for an activity that
// names serviceURL and channelID.
func (v *Verifier) VerifyToken(ctx context.Context, authorization, serviceURL, channelID string) (*Identity, error) {
	id, key, err := v.verifyToken(ctx, authorization)
	if err != nil {
		return nil, err
	}
	return id, v.checkActivity(id, key, serviceURL, channelID)
}

func (v *Verifier) verifyToken(ctx context.Context, authorization string) (*Identity, signingKey, error) {
	scheme, raw, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
		return nil, signingKey{}, ErrNoToken
	}
	tok, err := jwt.ParseSigned(strings.TrimSpace(raw), allowedAlgs)
	if err != nil || len(tok.Headers) != 1 {
		return nil, signingKey{}, ErrBadToken
	}
	// The issuer picks the key set; nothing unverified is trusted beyond
	// that choice: the signature check below covers the issuer claim.
	var peek jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&peek); err != nil {
		return nil, signingKey{}, ErrBadToken
	}
	src, ok := v.issuers[peek.Issuer]
	if !ok {
		return nil, signingKey{}, fmt.Errorf("%w: %q", ErrIssuer, jsonbody.Clip(peek.Issuer, 80))
	}
	kid := tok.Headers[0].KeyID
	if kid == "" {
		return nil, signingKey{}, fmt.Errorf("%w: no kid", ErrBadToken)
	}
	key, err := src.lookup(ctx, kid)
	switch {
	case errors.Is(err, errUnknownKey):
		return nil, signingKey{}, fmt.Errorf("%w: %v", ErrSignature, err)
	case err != nil:
		return nil, signingKey{}, fmt.Errorf("%w: %v", ErrKeysUnusable, err)
	}
	var std jwt.Claims
	var bc botClaims
	if err := tok.Claims(key.jwk.Key, &std, &bc); err != nil {
		return nil, signingKey{}, ErrSignature
	}
	if std.Expiry == nil {
		return nil, signingKey{}, fmt.Errorf("%w: no exp", ErrClaims)
	}
	err = std.ValidateWithLeeway(jwt.Expected{
		Issuer:      peek.Issuer,
		AnyAudience: jwt.Audience{v.appID},
		Time:        v.now(),
	}, Skew)
	if err != nil {
		return nil, signingKey{}, fmt.Errorf("%w: %v", ErrClaims, err)
	}
	id := &Identity{Issuer: std.Issuer, ServiceURL: bc.ServiceURL, Subject: std.Subject}
	if src == v.bf && bc.ServiceURL == "" {
		return nil, signingKey{}, fmt.Errorf("%w: no serviceurl claim", ErrServiceURL)
	}
	return id, key, nil
}

func (v *Verifier) checkActivity(id *Identity, key signingKey, serviceURL, channelID string) error {
	// Bot Framework tokens always carry serviceurl (required above); an
	// Entra token that carries one must match too.
	if id.ServiceURL != "" && id.ServiceURL != serviceURL {
		return ErrServiceURL
	}
	// "The activity's ChannelId MUST be found in the endorsement list"
	// (https://learn.microsoft.com/en-us/dotnet/api/microsoft.bot.connector.authentication.endorsementsvalidator.validate).
	// The SDKs let an empty channelId pass; Teams always sends "msteams",
	// so an empty one is refused here.
	if key.endorsements != nil && !slices.Contains(key.endorsements, channelID) {
		return ErrEndorsement
	}
	return nil
}

type ctxKey struct{}

// ActivityFrom returns the activity Verify decoded and authenticated.
func ActivityFrom(ctx context.Context) (*connector.Activity, bool) {
	a, ok := ctx.Value(ctxKey{}).(*connector.Activity)
	return a, ok
}

// IdentityFrom returns the verified token's identity.
func IdentityFrom(ctx context.Context) (*Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(*Identity)
	return id, ok
}

type identityKey struct{}

// Verify wraps next: the bearer token is checked first (401 for a missing,
// malformed, forged, expired, wrong-issuer or wrong-audience token, before
// the body is read), then the body is read (at most MaxBody bytes: 413
// beyond) and decoded as an activity (400 if malformed), then the
// serviceurl claim and endorsements are checked against it (401). Only
// then is next called, with the activity in the context (ActivityFrom) and
// the body readable again.
func (v *Verifier) Verify(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			jsonbody.Write(w, http.StatusMethodNotAllowed, errBody("method not allowed"))
			return
		}
		id, key, err := v.verifyToken(r.Context(), r.Header.Get("Authorization"))
		if err != nil {
			v.reject(w, err)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, v.maxBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				jsonbody.Write(w, http.StatusRequestEntityTooLarge, errBody("activity too large"))
				return
			}
			jsonbody.Write(w, http.StatusBadRequest, errBody("could not read the activity"))
			return
		}
		// Activities are a Microsoft format that grows fields: unknown
		// keys are accepted, everything else jsonbody checks (one
		// document, valid UTF-8, no duplicate keys, bounded depth) holds.
		var a connector.Activity
		if err := jsonbody.Unmarshal(body, &a, jsonbody.Options{AllowUnknownFields: true}); err != nil {
			jsonbody.Write(w, http.StatusBadRequest, errBody("malformed activity: "+err.Error()))
			return
		}
		if err := v.checkActivity(id, key, a.ServiceURL, a.ChannelID); err != nil {
			v.reject(w, err)
			return
		}
		ctx := context.WithValue(r.Context(), ctxKey{}, &a)
		ctx = context.WithValue(ctx, identityKey{}, id)
		r = r.WithContext(ctx)
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

func (v *Verifier) reject(w http.ResponseWriter, err error) {
	if v.onReject != nil {
		v.onReject(err)
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="kinetic teams"`)
	jsonbody.Write(w, http.StatusUnauthorized, errBody("unauthorized"))
}

func errBody(msg string) map[string]string { return map[string]string{"error": msg} }
