package hr

import (
	"net/http"
	"slices"
	"time"

	"github.com/kineticsec/kinetic/bot/hr/hrconfig"
	"github.com/kineticsec/kinetic/directory/bamboohr"
	"github.com/kineticsec/kinetic/internal/compose/table"
)

// The parsing and signature helpers moved to the formats (hrconfig,
// directory/bamboohr); this package's tests keep their names.

var (
	normDate  = hrconfig.NormDate
	normClock = hrconfig.NormClock
)

func parseTimestamp(s string) (time.Time, error) {
	t, err := hrconfig.ParseTimestamp(s)
	if err != nil {
		return time.Time{}, hrconfig.ErrBadTimestamp
	}
	return t, nil
}

const (
	maxEmployeeID = hrconfig.MaxEmployeeID
	maxEmail      = hrconfig.MaxEmail
	maxEventID    = hrconfig.MaxEventID
	maxReason     = hrconfig.MaxReason
)

var (
	errUnsigned     = hrconfig.ErrUnsigned
	errBadTimestamp = hrconfig.ErrBadTimestamp
	errBadSignature = hrconfig.ErrBadSignature
	errStale        = hrconfig.ErrStale
)

// verifier checks one webhook's signatures with its format from the table.
type verifier struct {
	sigHeader, tsHeader string
	w                   *hrconfig.Webhook
	f                   hrconfig.WebhookFormat
}

func newVerifier(w *hrconfig.Webhook) verifier {
	formats := table.WebhookFormats()
	f := formats[slices.IndexFunc(formats, func(f hrconfig.WebhookFormat) bool { return f.Format == w.Format })]
	v := verifier{sigHeader: w.SignatureHeader, tsHeader: w.TimestampHeader, w: w, f: f}
	if w.Format == hrconfig.FormatBambooHR {
		v.sigHeader, v.tsHeader = bamboohr.SignatureHeader, bamboohr.TimestampHeader
	}
	return v
}

func (v verifier) verify(h http.Header, body []byte, now time.Time) (string, error) {
	return v.f.Verify(v.w, h, body, now)
}
