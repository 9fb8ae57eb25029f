package botauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/kineticsec/kinetic/internal/jsonbody"
	"github.com/kineticsec/kinetic/internal/outbound"
)

// maxDoc bounds an OpenID metadata or JWKS document.
const maxDoc = 1 << 20

var errUnknownKey = errors.New("unknown signing key id")

type signingKey struct {
	jwk jose.JSONWebKey
	// endorsements are the channel ids the Bot Framework endorses the key
	// for; nil when the JWKS does not say (Entra keys).
	endorsements []string
}

// keySource is the signing keys of one OpenID provider: fetched from its
// metadata's jwks_uri through the outbound policy, cached for ttl, fetched
// again on an unknown key id at most once per minRefresh.
type keySource struct {
	name       string
	metaURL    string
	policy     *outbound.URLPolicy
	client     *http.Client
	ttl        time.Duration
	minRefresh time.Duration
	now        func() time.Time

	mu      sync.RWMutex // guards keys and fetched
	keys    map[string]signingKey
	fetched time.Time // last successful fetch

	// refresh serializes fetches and guards lastAttempt. It is never held
	// with mu, so requests whose key is cached are not held up by a slow
	// metadata endpoint.
	refresh     sync.Mutex
	lastAttempt time.Time // last fetch, successful or not
}

func (s *keySource) cached(kid string, now time.Time) (k signingKey, known, fresh bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, known = s.keys[kid]
	return k, known, s.keys != nil && now.Sub(s.fetched) < s.ttl
}

func (s *keySource) lookup(ctx context.Context, kid string) (signingKey, error) {
	now := s.now()
	k, known, fresh := s.cached(kid, now)
	if known && fresh {
		return k, nil
	}
	if known {
		// Stale but known: refresh if nobody else is, else use it.
		if !s.refresh.TryLock() {
			return k, nil
		}
	} else {
		s.refresh.Lock()
	}
	defer s.refresh.Unlock()
	// Another request may have refreshed while this one waited.
	if k2, known2, fresh2 := s.cached(kid, now); known2 && fresh2 {
		return k2, nil
	}
	// Rate limit: a stream of tokens naming made-up kids must not turn
	// into a stream of fetches.
	if !s.lastAttempt.IsZero() && now.Sub(s.lastAttempt) < s.minRefresh {
		if known {
			return k, nil
		}
		return signingKey{}, errUnknownKey
	}
	s.lastAttempt = now
	keys, err := s.fetch(ctx)
	if err != nil {
		if known { // keep using the old keys while the provider is down
			return k, nil
		}
		return signingKey{}, fmt.Errorf("%s signing keys: %w", s.name, err)
	}
	s.mu.Lock()
	s.keys, s.fetched = keys, now
	s.mu.Unlock()
	if k, ok := keys[kid]; ok {
		return k, nil
	}
	return signingKey{}, errUnknownKey
}

func (s *keySource) get(ctx context.Context, u string, v any) error {
	if err := s.policy.CheckURL(ctx, u); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxDoc))
	if err != nil {
		return err
	}
	return jsonbody.Unmarshal(data, v, jsonbody.Options{AllowUnknownFields: true})
}

func (s *keySource) fetch(ctx context.Context) (map[string]signingKey, error) {
	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := s.get(ctx, s.metaURL, &meta); err != nil {
		return nil, fmt.Errorf("openid metadata: %w", err)
	}
	if _, err := outbound.CheckURLForm("jwks_uri", meta.JWKSURI, outbound.URLForm{HTTPSOnly: true}); err != nil {
		return nil, err
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := s.get(ctx, meta.JWKSURI, &set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	keys := make(map[string]signingKey, len(set.Keys))
	for _, raw := range set.Keys {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil {
			continue // a key type go-jose does not know: not one we accept
		}
		if jwk.KeyID == "" || !jwk.Valid() || !jwk.IsPublic() || (jwk.Use != "" && jwk.Use != "sig") {
			continue
		}
		var extra struct {
			Endorsements []string `json:"endorsements"`
		}
		_ = json.Unmarshal(raw, &extra)
		keys[jwk.KeyID] = signingKey{jwk: jwk, endorsements: extra.Endorsements}
	}
	if len(keys) == 0 {
		return nil, errors.New("jwks: no usable signing key")
	}
	return keys, nil
}
