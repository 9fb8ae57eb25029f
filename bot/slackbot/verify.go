package slackbot

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kineticsec/kinetic/internal/replay"
)

// Headers Slack signs its HTTP requests with.
const (
	HeaderSignature = "X-Slack-Signature"
	HeaderTimestamp = "X-Slack-Request-Timestamp"
)

// MaxSkew is how far a request's timestamp may be from the local clock, in
// either direction, before it is refused as stale. Slack's guide uses five
// minutes (https://api.slack.com/authentication/verifying-requests-from-slack).
const MaxSkew = 5 * time.Minute

// Verification errors. Verify wraps exactly one of them with a detail that
// never contains the signing secret or the signature; test with errors.Is.
var (
	// ErrUnsigned: a signature or timestamp header is missing or not in
	// Slack's format (timestamp: decimal Unix seconds; signature: "v0="
	// followed by 64 hex digits).
	ErrUnsigned = errors.New("slack request is not signed")
	// ErrStale: the timestamp is more than MaxSkew from now, in the past
	// or the future.
	ErrStale = errors.New("slack request timestamp is outside the 5-minute window")
	// ErrForged: the signature does not match the body and timestamp under
	// the signing secret (or no signing secret is configured).
	ErrForged = errors.New("slack request signature does not match")
	// ErrReplayed: this exact signed request was already accepted within
	// the window.
	ErrReplayed = errors.New("slack request was already received (replay)")
	// ErrReplayCheck: the replay store could not answer, so the request is
	// refused (fail closed). Unlike the others it says nothing about the
	// request; Routes answers it with 503 so that Slack retries.
	ErrReplayCheck = errors.New("slack replay check unavailable")
)

// Verifier checks Slack's v0 request signatures: HMAC-SHA256 of
// "v0:" + X-Slack-Request-Timestamp + ":" + raw body under the app's signing
// secret, hex-encoded and prefixed "v0=" in X-Slack-Signature. It is safe for
// concurrent use.
//
// slack-go's SecretsVerifier checks the signature and the timestamp but
// keeps no memory of what it accepted, so a captured request can be replayed
// for five minutes. Verifier also remembers every accepted signature until
// its timestamp leaves the window and refuses a second delivery.
//
// The default replay store is in process memory: with several replicas
// behind a load balancer, a replay routed to a different replica than the
// original is not caught. Give every replica the same shared store
// (WithReplayStore(replay.NewRedis(…, replay.SlackPrefix))) to close that gap.
type Verifier struct {
	secret []byte
	now    func() time.Time
	replay replay.Store
}

// VerifierOption configures a Verifier.
type VerifierOption func(*Verifier)

// WithReplayStore replaces the default in-memory replay cache, typically with
// a replay.Redis (under replay.SlackPrefix) shared by every replica.
func WithReplayStore(s replay.Store) VerifierOption {
	return func(v *Verifier) {
		if s != nil {
			v.replay = s
		}
	}
}

// NewVerifier returns a Verifier for signingSecret. now is the clock (nil
// means time.Now); the default replay store is a replay.Memory of
// replay.DefaultCapacity entries on the same clock. An empty signingSecret
// makes every request fail with ErrForged: an HMAC under an empty key is one
// anybody can compute.
func NewVerifier(signingSecret string, now func() time.Time, opts ...VerifierOption) *Verifier {
	if now == nil {
		now = time.Now
	}
	v := &Verifier{secret: []byte(signingSecret), now: now}
	for _, o := range opts {
		o(v)
	}
	if v.replay == nil {
		v.replay = replay.NewMemory(replay.DefaultCapacity, now)
	}
	return v
}

// Verify is VerifyContext with a background context.
func (v *Verifier) Verify(header http.Header, body []byte) error {
	return v.VerifyContext(context.Background(), header, body)
}

// VerifyContext checks the request's signature headers against body (the raw
// bytes as received, before any parsing). It returns nil only for a request
// signed with the signing secret, timestamped within MaxSkew of now, and not
// accepted before; otherwise an error wrapping ErrUnsigned, ErrStale,
// ErrForged, ErrReplayed or ErrReplayCheck. ctx bounds the replay store call.
func (v *Verifier) VerifyContext(ctx context.Context, header http.Header, body []byte) error {
	tsHeader := header.Get(HeaderTimestamp)
	sigHeader := header.Get(HeaderSignature)
	if tsHeader == "" || sigHeader == "" {
		return fmt.Errorf("%w: missing %s or %s header", ErrUnsigned, HeaderTimestamp, HeaderSignature)
	}
	ts, ok := parseTimestamp(tsHeader)
	if !ok {
		return fmt.Errorf("%w: %s is not Unix seconds", ErrUnsigned, HeaderTimestamp)
	}
	given, ok := parseSignature(sigHeader)
	if !ok {
		return fmt.Errorf("%w: %s is not v0=<64 hex digits>", ErrUnsigned, HeaderSignature)
	}

	// The window is checked before the MAC: it is cheaper, and a request
	// outside it is refused whoever signed it. time.Time.Sub saturates, so
	// absurd timestamps cannot overflow.
	now := v.now()
	sent := time.Unix(ts, 0)
	if skew := now.Sub(sent); skew > MaxSkew || skew < -MaxSkew {
		return fmt.Errorf("%w: timestamp is %s from the local clock", ErrStale, skew.Round(time.Second))
	}

	if len(v.secret) == 0 {
		return fmt.Errorf("%w: no signing secret is configured", ErrForged)
	}
	mac := hmac.New(sha256.New, v.secret)
	mac.Write([]byte("v0:"))
	mac.Write([]byte(tsHeader))
	mac.Write([]byte(":"))
	mac.Write(body)
	want := mac.Sum(nil)
	if !hmac.Equal(given, want) {
		return fmt.Errorf("%w", ErrForged)
	}

	// Recorded only after the MAC matched: recording first would let
	// anyone who saw a signature (in a proxy log, say) burn it with a
	// garbage body and get the genuine request refused. The key is the
	// computed MAC, not the header text, so "v0=ABC…" and "v0=abc…" are
	// the same request.
	//
	// The entry lives until the timestamp leaves the window (plus a second
	// for the whole-second timestamps); after that the request is stale
	// anyway.
	ttl := sent.Add(MaxSkew + time.Second).Sub(now)
	seen, err := v.replay.SeenBefore(ctx, hex.EncodeToString(want), ttl)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrReplayCheck, err)
	}
	if seen {
		return fmt.Errorf("%w", ErrReplayed)
	}
	return nil
}

// parseTimestamp accepts only plain decimal digits (no sign, no spaces, no
// exponent), at most 12 of them.
func parseTimestamp(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 12 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// parseSignature decodes "v0=" + 64 hex digits (either case).
func parseSignature(s string) ([]byte, bool) {
	hexSig, ok := strings.CutPrefix(s, "v0=")
	if !ok || len(hexSig) != 2*sha256.Size {
		return nil, false
	}
	b, err := hex.DecodeString(hexSig)
	return b, err == nil
}

// Sign returns the X-Slack-Request-Timestamp and X-Slack-Signature values
// Slack would send for body at ts. Tests and the fake use it; it is the same
// computation Verify checks.
func Sign(signingSecret string, ts time.Time, body []byte) (timestamp, signature string) {
	timestamp = strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(signingSecret))
	mac.Write([]byte("v0:" + timestamp + ":"))
	mac.Write(body)
	return timestamp, "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// SignRequest sets the two signature headers on r for body.
func SignRequest(r *http.Request, signingSecret string, ts time.Time, body []byte) {
	t, s := Sign(signingSecret, ts, body)
	r.Header.Set(HeaderTimestamp, t)
	r.Header.Set(HeaderSignature, s)
}
