package hrconfig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"
)

// WebhookFormat describes one webhook format (a webhook's format:): its
// name, the validation of the webhook keys it reads, how a request is
// authenticated and how its body becomes events. The package that owns
// the HR system's wire format exports it (bamboohr.WebhookFormat; the
// generic format is GenericWebhookFormat, here); internal/compose/table
// lists them, one line each, and hands them to Descriptor. bot/hr's
// handler looks a webhook's format up in them: it never switches on a
// format's name.
//
// The keys every webhook has (format, secret, tolerance) are checked by
// Config.Validate; Validate checks the rest of the webhook's keys.
type WebhookFormat struct {
	// Format is the name written as the webhook's format: (bamboohr).
	Format string
	// Validate reports each problem with w through add, at a key below the
	// webhook (path is "webhooks.NAME"; add's field is the full key below
	// the hr block, e.g. path+".fields").
	Validate func(path string, w *Webhook, add func(field, format string, args ...any))
	// Verify checks a request's signature (in constant time) and
	// timestamp with w's secret (resolved, never empty) and tolerance, at
	// now. It returns the signature, normalized, as the replay cache's
	// key; a refusal is answered 401 with the error's text (never a
	// secret or a signature).
	Verify func(w *Webhook, h http.Header, body []byte, now time.Time) (string, error)
	// Parse turns an authenticated request into events for source (the
	// webhook's name). An error (wrapping ErrInvalidPayload) refuses the
	// whole request with 400.
	Parse func(source string, w *Webhook, h http.Header, body []byte) (Parsed, error)
	// Sign returns the signature a sender computes for body at timestamp
	// ts with key (for tests and documentation). Nil: none.
	Sign func(key, ts string, body []byte) string
}

// Parsed is what a webhook request carries.
type Parsed struct {
	// Entries are its employees' events (or why one carries none).
	Entries []Entry
	// List says the answer is a list of results, one per entry (a format
	// whose requests may carry several employees); else the request
	// carries one event (Entries[0]) and the answer is its result.
	List bool
}

// Signature refusals; every one is answered 401 and nothing is recorded.
var (
	ErrUnsigned     = errors.New("missing signature or timestamp header")
	ErrBadTimestamp = errors.New("malformed timestamp")
	ErrBadSignature = errors.New("invalid signature")
	ErrStale        = errors.New("timestamp outside the tolerance")
)

// HMAC checks a hex HMAC-SHA256 signature (optionally prefixed "sha256=")
// sent in one header over Message(timestamp, body), the timestamp in
// another (ParseTimestamp's forms), within Tolerance of now.
type HMAC struct {
	Key                              []byte
	SignatureHeader, TimestampHeader string
	Tolerance                        time.Duration
	// Message is what the sender signs.
	Message func(ts string, body []byte) []byte
}

// Sign returns the hex signature of body at ts.
func (v HMAC) Sign(ts string, body []byte) string {
	m := hmac.New(sha256.New, v.Key)
	m.Write(v.Message(ts, body))
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks the request's signature (in constant time) and timestamp.
// It returns the signature, normalized, as the replay cache's key; the
// error is one of ErrUnsigned, ErrBadTimestamp, ErrBadSignature and
// ErrStale.
func (v HMAC) Verify(h http.Header, body []byte, now time.Time) (string, error) {
	sig, ts := strings.TrimSpace(h.Get(v.SignatureHeader)), strings.TrimSpace(h.Get(v.TimestampHeader))
	if sig == "" || ts == "" {
		return "", ErrUnsigned
	}
	at, err := ParseTimestamp(ts)
	if err != nil {
		return "", ErrBadTimestamp
	}
	if len(sig) > 7 && strings.EqualFold(sig[:7], "sha256=") {
		sig = sig[7:]
	}
	got, err := hex.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return "", ErrBadSignature
	}
	m := hmac.New(sha256.New, v.Key)
	m.Write(v.Message(ts, body))
	if !hmac.Equal(got, m.Sum(nil)) {
		return "", ErrBadSignature
	}
	if d := now.Sub(at); d > v.Tolerance || d < -v.Tolerance {
		return "", ErrStale
	}
	return hex.EncodeToString(got), nil
}

// GenericMessage is what a generic webhook's sender signs:
// "<timestamp>.<body>".
func GenericMessage(ts string, body []byte) []byte {
	return append(append(append(make([]byte, 0, len(ts)+1+len(body)), ts...), '.'), body...)
}

// GenericWebhookFormat describes the generic format: any HR system (or
// relay) that signs "<timestamp>.<body>" with HMAC-SHA256, in the headers
// signature_header and timestamp_header, and posts one event as JSON,
// mapped with fields, kinds and kind (dotted paths). internal/compose/table
// lists it.
func GenericWebhookFormat() WebhookFormat {
	return WebhookFormat{
		Format:   FormatGeneric,
		Validate: validateGeneric,
		Verify: func(w *Webhook, h http.Header, body []byte, now time.Time) (string, error) {
			return HMAC{Key: []byte(w.Secret.Value()), SignatureHeader: w.SignatureHeader, TimestampHeader: w.TimestampHeader,
				Tolerance: w.EffectiveTolerance(), Message: GenericMessage}.Verify(h, body, now)
		},
		Parse: func(source string, w *Webhook, h http.Header, body []byte) (Parsed, error) {
			id := ""
			if w.IDHeader != "" {
				id = h.Get(w.IDHeader)
			}
			ev, err := ParseGeneric(source, body, id, w.Mapping())
			if err != nil {
				return Parsed{}, err
			}
			return Parsed{Entries: []Entry{{Event: &ev}}}, nil
		},
		Sign: func(key, ts string, body []byte) string {
			return HMAC{Key: []byte(key), Message: GenericMessage}.Sign(ts, body)
		},
	}
}

func validateGeneric(path string, w *Webhook, add func(field, format string, args ...any)) {
	for key, v := range map[string]string{"signature_header": w.SignatureHeader, "timestamp_header": w.TimestampHeader} {
		if v == "" {
			add(path+"."+key, "%s is required for format generic (e.g. X-%s)", key, map[string]string{"signature_header": "Signature", "timestamp_header": "Timestamp"}[key])
		} else if !validHeaderName(v) {
			add(path+"."+key, "%q is not a valid header name", v)
		}
	}
	if w.IDHeader != "" && !validHeaderName(w.IDHeader) {
		add(path+".id_header", "%q is not a valid header name", w.IDHeader)
	}
	validateMapping(path, w.Fields, w.Kinds, w.Kind, add)
}

// Mapping is w's fields, kinds and kind as a Mapping.
func (w *Webhook) Mapping() Mapping {
	m := Mapping{Kinds: w.Kinds, Kind: w.Kind}
	if w.Fields != nil {
		m.Fields = *w.Fields
	}
	return m
}
