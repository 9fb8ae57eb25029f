package hr

import (
	"errors"

	"github.com/kineticsec/kinetic/bot/hr/hrconfig"
	"github.com/kineticsec/kinetic/directory/bamboohr"
)

// BambooHR's signature headers (bamboohr.SignatureHeader and
// TimestampHeader, where the scheme is described).
const (
	BambooHRSignatureHeader = bamboohr.SignatureHeader
	BambooHRTimestampHeader = bamboohr.TimestampHeader
)

// errReplayed refuses a signature already accepted (answered 401, nothing
// recorded). The formats' own refusals are hrconfig.ErrUnsigned,
// ErrBadTimestamp, ErrBadSignature and ErrStale.
var errReplayed = errors.New("replayed request (this signature was already accepted)")

// Sign returns the hex signature of body at timestamp ts with key for the
// built-in webhook format named format (bamboohr: HMAC-SHA256 of body+ts;
// generic: of ts+"."+body), or "" for another. For tests and for
// documentation; senders compute the same.
func Sign(format, key, ts string, body []byte) string {
	for _, f := range []hrconfig.WebhookFormat{bamboohr.WebhookFormat(), hrconfig.GenericWebhookFormat()} {
		if f.Format == format && f.Sign != nil {
			return f.Sign(key, ts, body)
		}
	}
	return ""
}
