package hrconfig

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// PollerFormat describes one poller format (a poller's format:): its name,
// the validation of the poller keys it reads, the URLs it calls and the
// constructor of its source. The package that owns the HR system's wire
// format exports it (workday.PollerFormat, bamboohr.PollerFormat);
// internal/compose/table lists them, one line each, and hands them to
// Descriptor. bot/hr runs the source New returns: it never switches on a
// format's name.
//
// The keys every poller has (format, every, timeout) are checked by
// Config.Validate; Validate checks the rest of the poller's keys.
type PollerFormat struct {
	// Format is the name written as the poller's format: (workday_raas).
	Format string
	// Validate reports each problem with p through add, at a key below the
	// poller (path is "pollers.NAME"; add's field is the full key below
	// the hr block, e.g. path+".url").
	Validate func(path string, p *Poller, add func(field, format string, args ...any))
	// URLs returns the URLs p calls that are written in the configuration,
	// by key below the poller ("url", "oauth.token_url"), for the
	// outbound URL policy; a URL whose form is wrong is left out. Nil:
	// none.
	URLs func(p *Poller) map[string]string
	// New returns the source for p (secrets resolved), named name.
	New func(name string, p *Poller, deps PollDeps) PollSource
}

// PollDeps is what a poller's source is given.
type PollDeps struct {
	// HTTP is the client every request goes through (from the outbound
	// URL policy, bounded by the poller's timeout).
	HTTP *http.Client
	// Now is the clock for cursors and tokens.
	Now func() time.Time
	// MaxPast is timing.max_past (or its default): how far back a cursor
	// starts.
	MaxPast time.Duration
}

// PollSource reads one HR source for bot/hr's poller. Poll is never called
// concurrently.
type PollSource interface {
	// Poll fetches the source once and hands what it read to sink. A batch
	// never stops at a bad record; the error joins what must be retried
	// (fetch failures, events that could not be recorded).
	Poll(ctx context.Context, sink Sink) error
}

// Sink is where a PollSource hands what it reads; bot/hr implements it,
// mapping records to events, handing them to the engine and counting.
type Sink interface {
	// Read counts one record read (a report row, a changed employee).
	Read()
	// Skip counts a record that carries no termination change.
	Skip()
	// Fail counts a record that could not be fetched (retried next round).
	Fail()
	// Row maps one JSON record with the poller's fields, kinds and kind
	// (dotted paths, as generic webhooks), derives its event id from the
	// row and hands the event to the engine. A row that does not map is
	// counted refused and logged once; the error is one to retry.
	Row(ctx context.Context, raw []byte) error
	// BambooHREmployee maps one employee's current BambooHR fields (the
	// JSON object of GET …/v1/employees/{id}/) as the BambooHR webhook
	// does, telling a termination, a rescission and a rehire apart, and
	// hands the event to the engine; the error is one to retry.
	BambooHREmployee(ctx context.Context, id, lastChanged string, body []byte) error
}

// MaxPollBody bounds one poll response (a report can be large).
const MaxPollBody = 32 << 20

// HTTPError is a non-200 answer from an HR API. The body is not kept (it
// may hold personal data).
type HTTPError struct {
	What   string
	Status int
}

func (e *HTTPError) Error() string {
	hint := ""
	switch {
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		hint = " (credentials refused)"
	case e.Status == http.StatusTooManyRequests || e.Status >= 500:
		hint = " (retried next round)"
	}
	return fmt.Sprintf("%s: HTTP %d%s", e.What, e.Status, hint)
}

// Get fetches a JSON document with client, authenticating with auth; what
// names it in errors. A non-200 answer is an *HTTPError; the URL is never
// in an error (its query may carry report prompts).
func Get(ctx context.Context, client *http.Client, what, rawURL string, auth func(*http.Request) error) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: building the request failed", what)
	}
	req.Header.Set("Accept", "application/json")
	if err := auth(req); err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, StripURL(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPollBody+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the answer: %w", what, StripURL(err))
	}
	if len(body) > MaxPollBody {
		return nil, fmt.Errorf("%s: answer larger than %d MiB", what, MaxPollBody>>20)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &HTTPError{What: what, Status: resp.StatusCode}
	}
	return body, nil
}

// StripURL drops the URL *url.Error repeats (its query may carry report
// prompts); the cause stays.
func StripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// JoinCapped joins at most 5 errors and says how many more there were.
func JoinCapped(errs []error) error {
	if len(errs) <= 5 {
		return errors.Join(errs...)
	}
	return errors.Join(append(errs[:5:5], fmt.Errorf("and %d more", len(errs)-5))...)
}

// ParseTimestamp reads unix seconds (or milliseconds, when the number is
// that large), RFC 3339, or ISO 8601 with a +hhmm offset
// ("2026-01-31T18:42:00+0000", as BambooHR writes times).
func ParseTimestamp(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > 1e12 || n < -1e12 {
			return time.UnixMilli(n), nil
		}
		return time.Unix(n, 0), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05.999999999Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("malformed timestamp")
}
