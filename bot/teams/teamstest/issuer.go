// Package teamstest holds test doubles for the Teams front end: Issuer, a
// token issuer with its own OpenID metadata and RSA keys that mints really
// signed tokens, Connector, a fake Bot Connector service that records
// every activity sent, replied and updated, Graph, a fake Microsoft Graph,
// and Certificate, an app certificate whose client assertions the fakes'
// token endpoints verify (signature, thumbprint, claims, a jti used once).
package teamstest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Paths served by an Issuer.
const (
	MetadataPath = "/v1/.well-known/openidconfiguration"
	KeysPath     = "/v1/keys"
)

// Claims are the claims of a minted token. Zero times are left out.
type Claims struct {
	Issuer     string
	Audience   string
	ServiceURL string
	Subject    string
	IssuedAt   time.Time
	NotBefore  time.Time
	Expiry     time.Time
	// Extra claims are added as they are.
	Extra map[string]any
}

// Issuer is an OpenID provider for tests: metadata at MetadataPath, JWKS at
// KeysPath, RSA keys by kid.
type Issuer struct {
	t   testing.TB
	srv *httptest.Server

	mu          sync.Mutex
	keys        map[string]*rsa.PrivateKey
	published   []string // kids in the JWKS
	endorse     map[string][]string
	down        atomic.Bool
	keyFetches  atomic.Int64
	metaFetches atomic.Int64
}

// NewIssuer starts an issuer with one published key, kid "key-1", on
// plain http.
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	return newIssuer(t, false)
}

// NewTLSIssuer is NewIssuer on https (httptest.NewTLSServer): its
// metadata and jwks_uri are https URLs, as production configuration
// requires; clients trust it through CertPool.
func NewTLSIssuer(t testing.TB) *Issuer {
	t.Helper()
	return newIssuer(t, true)
}

// CertPool holds the certificate of an https issuer (nil on http).
func (is *Issuer) CertPool() *x509.CertPool { return certPool(is.srv) }

func newIssuer(t testing.TB, useTLS bool) *Issuer {
	t.Helper()
	is := &Issuer{t: t, keys: map[string]*rsa.PrivateKey{}, endorse: map[string][]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+MetadataPath, func(w http.ResponseWriter, r *http.Request) {
		is.metaFetches.Add(1)
		if is.down.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                "https://api.botframework.com",
			"jwks_uri":                              is.srv.URL + KeysPath,
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET "+KeysPath, func(w http.ResponseWriter, r *http.Request) {
		is.keyFetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(is.jwks())
	})
	is.srv = httptest.NewUnstartedServer(mux)
	start(is.srv, useTLS)
	t.Cleanup(is.srv.Close)
	is.AddKey("key-1", true)
	return is
}

// SetDown makes the metadata endpoint answer 503 (an outage).
func (is *Issuer) SetDown(down bool) { is.down.Store(down) }

// MetadataURL is the OpenID metadata URL to configure a validator with.
func (is *Issuer) MetadataURL() string { return is.srv.URL + MetadataPath }

// KeyFetches is how many times the JWKS was fetched.
func (is *Issuer) KeyFetches() int64 { return is.keyFetches.Load() }

// AddKey makes a new RSA key kid; published puts it in the JWKS.
func (is *Issuer) AddKey(kid string, published bool) {
	is.t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		is.t.Fatal(err)
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	is.keys[kid] = k
	if published {
		is.published = append(is.published, kid)
	}
}

// Publish adds an existing key to the JWKS (a key rotation).
func (is *Issuer) Publish(kid string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.published = append(is.published, kid)
}

// Endorse sets the channel ids a key is endorsed for (the Bot Framework
// JWKS "endorsements" member); none means the member is left out.
func (is *Issuer) Endorse(kid string, channels ...string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.endorse[kid] = channels
}

func (is *Issuer) jwks() []byte {
	is.mu.Lock()
	defer is.mu.Unlock()
	var keys []json.RawMessage
	for _, kid := range is.published {
		jwk := jose.JSONWebKey{Key: &is.keys[kid].PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"}
		b, err := jwk.MarshalJSON()
		if err != nil {
			is.t.Error(err)
			continue
		}
		if e, ok := is.endorse[kid]; ok {
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			m["endorsements"] = e
			b, _ = json.Marshal(m)
		}
		keys = append(keys, b)
	}
	out, _ := json.Marshal(map[string]any{"keys": keys})
	return out
}

// Mint signs c with key kid (RS256).
func (is *Issuer) Mint(kid string, c Claims) string {
	is.t.Helper()
	is.mu.Lock()
	k := is.keys[kid]
	is.mu.Unlock()
	if k == nil {
		is.t.Fatalf("teamstest: no key %q", kid)
	}
	return MintWith(is.t, jose.SigningKey{Algorithm: jose.RS256, Key: k}, kid, c)
}

// PublicKey is the public half of key kid.
func (is *Issuer) PublicKey(kid string) *rsa.PublicKey {
	is.mu.Lock()
	defer is.mu.Unlock()
	return &is.keys[kid].PublicKey
}

// MetadataFetches is how many times the OpenID metadata was fetched.
func (is *Issuer) MetadataFetches() int64 { return is.metaFetches.Load() }

// MintWith signs c with any key (forged tokens, HS256 confusion).
func MintWith(t testing.TB, key jose.SigningKey, kid string, c Claims) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	sig, err := jose.NewSigner(key, opts)
	if err != nil {
		t.Fatal(err)
	}
	std := jwt.Claims{Issuer: c.Issuer, Subject: c.Subject}
	if c.Audience != "" {
		std.Audience = jwt.Audience{c.Audience}
	}
	if !c.IssuedAt.IsZero() {
		std.IssuedAt = jwt.NewNumericDate(c.IssuedAt)
	}
	if !c.NotBefore.IsZero() {
		std.NotBefore = jwt.NewNumericDate(c.NotBefore)
	}
	if !c.Expiry.IsZero() {
		std.Expiry = jwt.NewNumericDate(c.Expiry)
	}
	extra := map[string]any{}
	for k, v := range c.Extra {
		extra[k] = v
	}
	if c.ServiceURL != "" {
		extra["serviceurl"] = c.ServiceURL
	}
	raw, err := jwt.Signed(sig).Claims(std).Claims(extra).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
