package hrconfig

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kineticsec/kinetic/directory/hrpath"
	"github.com/kineticsec/kinetic/internal/jsonbody"
	"github.com/kineticsec/kinetic/internal/text"
)

// Event is one HR event as a webhook or poller format reads it: the
// engine's HR event (engine.HREvent, field for field; bot/hr converts it)
// without linking the engine, so that the packages that own HR wire
// formats describe themselves for internal/compose/table.
type Event struct {
	// Source is the configured HR source's name ("bamboohr").
	Source string
	// EventID is the source's id for the event; empty means the engine
	// derives one from the event's content.
	EventID string
	// Kind is terminate, rescind or rehire.
	Kind string
	// EmployeeID or Email identifies the person (EmployeeID wins).
	EmployeeID string
	Email      string
	// Date is the last day, YYYY-MM-DD; Time, optional, HH:MM[:SS].
	Date string
	Time string
	// Involuntary terminations start at once, whatever the date.
	Involuntary bool
	Reason      string
	// Payload is the event as received, kept for the record.
	Payload []byte
}

// Entry is one employee of a webhook that may carry several (BambooHR's):
// the event it carries, or why it carries none (Skip), or what is wrong
// with it (Err, wrapping ErrInvalidPayload).
type Entry struct {
	// Employee is the source's reference for the person (BambooHR's
	// employee id).
	Employee string
	Event    *Event
	Skip     string
	Err      error
}

// ErrInvalidPayload is wrapped by every refusal of a payload's content:
// malformed JSON, missing or contradictory fields, an unknown kind. The
// webhook answers it with 400.
var ErrInvalidPayload = errors.New("invalid HR event")

// Invalid returns an error wrapping ErrInvalidPayload.
func Invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidPayload, fmt.Sprintf(format, args...))
}

// Store limits (store.HREventRecord): longer values are refused rather than
// failing the insert.
const (
	MaxEmployeeID = 128
	MaxEmail      = 320
	MaxEventID    = 256
	MaxReason     = 1000
)

// Mapping says where an event's parts are in a JSON document (a generic
// webhook's body or a report row): dotted paths, with Kinds translating
// the source's kind values, or a fixed Kind.
type Mapping struct {
	Fields Fields
	Kinds  map[string]string
	Kind   string
}

// DecodeJSON decodes one JSON value with numbers kept as json.Number,
// strictly (internal/jsonbody): a second value or trailing garbage, a key
// given twice in an object (a signed body naming two employees), a NUL or
// invalid UTF-8 is an error.
func DecodeJSON(data []byte) (any, error) {
	var v any
	if err := jsonbody.Unmarshal(data, &v, jsonbody.Options{UseNumber: true}); err != nil {
		return nil, Invalid("%v", err)
	}
	return v, nil
}

// lookup follows a dotted path (object keys matched exactly, or list
// indexes: hrpath.Exact) from v. ok is false when some step is missing, or
// the path is not one (configuration refuses those).
func lookup(v any, path string) (any, bool) {
	p, err := hrpath.Parse(path, hrpath.Exact)
	if err != nil {
		return nil, false
	}
	return p.Lookup(v)
}

// field reads the value at path as text; a missing path is "".
func field(root any, what, path string) (string, error) {
	if path == "" {
		return "", nil
	}
	v, ok := lookup(root, path)
	if !ok {
		return "", nil
	}
	s, err := hrpath.Scalar(v)
	if err != nil {
		return "", Invalid("%s (%s) %v", what, path, err)
	}
	return s, nil
}

var (
	msDateRE     = regexp.MustCompile(`^/Date\((-?\d{1,15})([+-]\d{4})?\)/$`)
	zoneRE       = regexp.MustCompile(`^(Z|[+-]\d{2}:?\d{2})$`)
	eventClockRE = regexp.MustCompile(`^([01]\d|2[0-3]):([0-5]\d)(:[0-5]\d)?$`)
)

// NormDate turns an HR date into YYYY-MM-DD: it accepts YYYY-MM-DD,
// optionally followed by a time ("2026-12-04T00:00:00Z") or a zone offset
// (Workday's "2026-12-04-08:00"), and SuccessFactors OData's
// "/Date(1764806400000)/" (a UTC calendar date). BambooHR's empty date
// "0000-00-00" is "".
func NormDate(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0000-00-00" {
		return "", nil
	}
	if m := msDateRE.FindStringSubmatch(s); m != nil {
		ms, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			return "", fmt.Errorf("date %q is not a date", s)
		}
		return time.UnixMilli(ms).UTC().Format(time.DateOnly), nil
	}
	if len(s) < 10 {
		return "", fmt.Errorf("date %q is not YYYY-MM-DD", s)
	}
	d, rest := s[:10], s[10:]
	if _, err := time.Parse(time.DateOnly, d); err != nil {
		return "", fmt.Errorf("date %q is not YYYY-MM-DD", s)
	}
	switch {
	case rest == "", rest[0] == 'T', rest[0] == ' ', zoneRE.MatchString(rest):
		return d, nil
	}
	return "", fmt.Errorf("date %q is not YYYY-MM-DD", s)
}

// NormClock accepts HH:MM or HH:MM:SS and keeps the seconds (the engine
// and store.HREventRecord.Time take either).
func NormClock(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	m := eventClockRE.FindStringSubmatch(s)
	if m == nil {
		return "", fmt.Errorf("time %q is not HH:MM", s)
	}
	return m[1] + ":" + m[2] + m[3], nil // m[3] is ":SS" or ""
}

// ParseBool reads a yes/no value: JSON booleans, true/false, yes/no, 1/0,
// and Involuntary/Voluntary (a termination category).
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "false", "no", "n", "0", "voluntary":
		return false, nil
	case "true", "yes", "y", "1", "involuntary":
		return true, nil
	}
	return false, fmt.Errorf("%q is not a yes/no value (true/false, yes/no, involuntary/voluntary)", s)
}

// MapEvent builds an event from a JSON document with m. The event's
// Source, Payload and (unless mapped) EventID are the caller's.
func MapEvent(root any, m Mapping) (Event, error) {
	var ev Event
	f := m.Fields
	if _, ok := root.(map[string]any); !ok {
		return ev, Invalid("the event must be a JSON object")
	}
	ev.Kind = m.Kind
	if ev.Kind == "" {
		raw, err := field(root, "kind", f.Kind)
		if err != nil {
			return ev, err
		}
		if raw == "" {
			return ev, Invalid("no kind at %q", f.Kind)
		}
		if len(m.Kinds) > 0 {
			k, ok := m.Kinds[raw]
			if !ok {
				return ev, Invalid("unknown kind %q at %q (configured: %s)", text.ClipBytes(raw, 64), f.Kind, strings.Join(slices.Sorted(maps.Keys(m.Kinds)), ", "))
			}
			ev.Kind = k
		} else {
			ev.Kind = raw
		}
	}
	switch ev.Kind {
	case KindTerminate, KindRescind, KindRehire:
	default:
		return ev, Invalid("unknown kind %q (want terminate, rescind or rehire)", text.ClipBytes(ev.Kind, 64))
	}
	var err error
	read := func(dst *string, what, path string) {
		if err == nil {
			*dst, err = field(root, what, path)
		}
	}
	var date, clock, invol string
	read(&ev.EventID, "event id", f.EventID)
	read(&ev.EmployeeID, "employee id", f.EmployeeID)
	read(&ev.Email, "email", f.Email)
	read(&date, "date", f.Date)
	read(&clock, "time", f.Time)
	read(&invol, "involuntary", f.Involuntary)
	read(&ev.Reason, "reason", f.Reason)
	if err != nil {
		return ev, err
	}
	if ev.Date, err = NormDate(date); err != nil {
		return ev, Invalid("%v", err)
	}
	if ev.Time, err = NormClock(clock); err != nil {
		return ev, Invalid("%v", err)
	}
	if ev.Involuntary, err = ParseBool(invol); err != nil {
		return ev, Invalid("involuntary: %v", err)
	}
	return ev, CheckEvent(&ev)
}

// CheckEvent refuses what the engine or the store would: no employee, a
// termination without a date that is not involuntary, oversized values.
// It clips the reason to the store's limit.
func CheckEvent(ev *Event) error {
	if ev.EmployeeID == "" && ev.Email == "" {
		return Invalid("the event names no employee (id or email)")
	}
	if ev.Kind == KindTerminate && ev.Date == "" && !ev.Involuntary {
		return Invalid("a termination needs its date (the last day, YYYY-MM-DD) unless it is involuntary")
	}
	if ev.Time != "" && ev.Date == "" {
		return Invalid("a time without a date")
	}
	if len(ev.EmployeeID) > MaxEmployeeID {
		return Invalid("employee id is longer than %d characters", MaxEmployeeID)
	}
	if len(ev.Email) > MaxEmail || ev.Email != "" && !strings.Contains(ev.Email, "@") {
		return Invalid("email %q is not an email address", text.ClipBytes(ev.Email, 64))
	}
	if len(ev.EventID) > MaxEventID {
		return Invalid("event id is longer than %d characters", MaxEventID)
	}
	for _, v := range []string{ev.EventID, ev.EmployeeID, ev.Email, ev.Reason} {
		if strings.ContainsRune(v, 0) {
			return Invalid("a value contains a NUL character")
		}
	}
	ev.Reason = text.ClipBytes(ev.Reason, MaxReason-len("…")) // the engine cuts at 1000 bytes, possibly inside a rune
	return nil
}

// rowEventID derives a report row's event id from the row's identity and
// its date, so that the same row polled again is the same event (a no-op)
// while a corrected date is a new one.
func rowEventID(ev Event) string {
	id := ev.EventID
	if id == "" {
		id = ev.EmployeeID
		if id == "" {
			id = ev.Email
		}
	}
	key := strings.Join([]string{id, ev.Kind, ev.Date}, ":")
	if ev.Time != "" {
		key += "T" + ev.Time
	}
	return BoundID(key)
}

// BoundID keeps an event id within the store's limit.
func BoundID(s string) string {
	if len(s) <= MaxEventID {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return s[:MaxEventID-33] + "~" + hex.EncodeToString(sum[:16])
}

// ParseGeneric parses a generic webhook's body into one event with m. The
// event id is id when not empty (a header), else the one m maps, else
// empty (the engine derives one from the content).
func ParseGeneric(source string, body []byte, id string, m Mapping) (Event, error) {
	if !utf8.Valid(body) || !utf8.ValidString(id) {
		return Event{}, Invalid("the event is not UTF-8")
	}
	root, err := DecodeJSON(body)
	if err != nil {
		return Event{}, err
	}
	ev, err := MapEvent(root, m)
	if err != nil {
		return ev, err
	}
	if id != "" {
		if len(id) > MaxEventID || strings.ContainsRune(id, 0) {
			return ev, Invalid("the event id is longer than %d characters or holds a NUL", MaxEventID)
		}
		ev.EventID = id
	}
	ev.Source, ev.Payload = source, body
	return ev, nil
}

// ParseRow maps one report row to an event whose id is derived from the
// row's identity and date (a poller's Sink.Row).
func ParseRow(source string, raw []byte, m Mapping) (Event, error) {
	if !utf8.Valid(raw) {
		return Event{}, Invalid("the row is not UTF-8")
	}
	root, err := DecodeJSON(raw)
	if err != nil {
		return Event{}, err
	}
	ev, err := MapEvent(root, m)
	if err != nil {
		return ev, err
	}
	ev.EventID = rowEventID(ev)
	ev.Source, ev.Payload = source, raw
	return ev, nil
}
