package hr

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kineticsec/kinetic/bot/hr/hrconfig"
	"github.com/kineticsec/kinetic/directory/bamboohr"
	"github.com/kineticsec/kinetic/directory/hrpath"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/jsonbody"
	"github.com/kineticsec/kinetic/internal/text"
)

// ErrInvalidPayload is wrapped by every refusal of a payload's content:
// malformed JSON, missing or contradictory fields, an unknown kind. The
// webhook answers it with 400.
var ErrInvalidPayload = errors.New("invalid HR event")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidPayload, fmt.Sprintf(format, args...))
}

// Store limits (store.HREventRecord): longer values are refused rather than
// failing the insert.
const (
	maxEmployeeID = 128
	maxEmail      = 320
	maxEventID    = 256
	maxReason     = 1000
)

// Mapping says where an event's parts are in a JSON document (a generic
// webhook's body or a report row): dotted paths, with Kinds translating
// the source's kind values, or a fixed Kind.
type Mapping struct {
	Fields hrconfig.Fields
	Kinds  map[string]string
	Kind   string
}

// decodeJSON decodes one JSON value with numbers kept as json.Number,
// strictly (internal/jsonbody): a second value or trailing garbage, a key
// given twice in an object (a signed body naming two employees), a NUL or
// invalid UTF-8 is an error.
func decodeJSON(data []byte) (any, error) {
	var v any
	if err := jsonbody.Unmarshal(data, &v, jsonbody.Options{UseNumber: true}); err != nil {
		return nil, invalid("%v", err)
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

// scalar turns a JSON value into text (hrpath.Scalar): strings trimmed,
// numbers and booleans in their JSON form, null as "", a {"value": …}
// wrapper as its value; an object or a list is an error.
func scalar(v any) (string, error) { return hrpath.Scalar(v) }

// field reads the value at path as text; a missing path is "".
func field(root any, what, path string) (string, error) {
	if path == "" {
		return "", nil
	}
	v, ok := lookup(root, path)
	if !ok {
		return "", nil
	}
	s, err := scalar(v)
	if err != nil {
		return "", invalid("%s (%s) %v", what, path, err)
	}
	return s, nil
}

var (
	msDateRE = regexp.MustCompile(`^/Date\((-?\d{1,15})([+-]\d{4})?\)/$`)
	zoneRE   = regexp.MustCompile(`^(Z|[+-]\d{2}:?\d{2})$`)
	clockRE  = regexp.MustCompile(`^([01]\d|2[0-3]):([0-5]\d)(:[0-5]\d)?$`)
)

// normDate turns an HR date into YYYY-MM-DD: it accepts YYYY-MM-DD,
// optionally followed by a time ("2026-12-04T00:00:00Z") or a zone offset
// (Workday's "2026-12-04-08:00"), and SuccessFactors OData's
// "/Date(1764806400000)/" (a UTC calendar date). BambooHR's empty date
// "0000-00-00" is "".
func normDate(s string) (string, error) {
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

// normClock accepts HH:MM or HH:MM:SS and keeps the seconds (the engine
// and store.HREventRecord.Time take either).
func normClock(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	m := clockRE.FindStringSubmatch(s)
	if m == nil {
		return "", fmt.Errorf("time %q is not HH:MM", s)
	}
	return m[1] + ":" + m[2] + m[3], nil // m[3] is ":SS" or ""
}

// parseBool reads a yes/no value: JSON booleans, true/false, yes/no, 1/0,
// and Involuntary/Voluntary (a termination category).
func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "false", "no", "n", "0", "voluntary":
		return false, nil
	case "true", "yes", "y", "1", "involuntary":
		return true, nil
	}
	return false, fmt.Errorf("%q is not a yes/no value (true/false, yes/no, involuntary/voluntary)", s)
}

// mapEvent builds an event from a JSON document with m. The event's
// Source, Payload and (unless mapped) EventID are the caller's.
func mapEvent(root any, m Mapping) (engine.HREvent, error) {
	var ev engine.HREvent
	f := m.Fields
	if _, ok := root.(map[string]any); !ok {
		return ev, invalid("the event must be a JSON object")
	}
	ev.Kind = m.Kind
	if ev.Kind == "" {
		raw, err := field(root, "kind", f.Kind)
		if err != nil {
			return ev, err
		}
		if raw == "" {
			return ev, invalid("no kind at %q", f.Kind)
		}
		if len(m.Kinds) > 0 {
			k, ok := m.Kinds[raw]
			if !ok {
				return ev, invalid("unknown kind %q at %q (configured: %s)", text.ClipBytes(raw, 64), f.Kind, strings.Join(slices.Sorted(maps.Keys(m.Kinds)), ", "))
			}
			ev.Kind = k
		} else {
			ev.Kind = raw
		}
	}
	switch ev.Kind {
	case hrconfig.KindTerminate, hrconfig.KindRescind, hrconfig.KindRehire:
	default:
		return ev, invalid("unknown kind %q (want terminate, rescind or rehire)", text.ClipBytes(ev.Kind, 64))
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
	if ev.Date, err = normDate(date); err != nil {
		return ev, invalid("%v", err)
	}
	if ev.Time, err = normClock(clock); err != nil {
		return ev, invalid("%v", err)
	}
	if ev.Involuntary, err = parseBool(invol); err != nil {
		return ev, invalid("involuntary: %v", err)
	}
	return ev, checkEvent(&ev)
}

// checkEvent refuses what the engine or the store would: no employee, a
// termination without a date that is not involuntary, oversized values.
func checkEvent(ev *engine.HREvent) error {
	if ev.EmployeeID == "" && ev.Email == "" {
		return invalid("the event names no employee (id or email)")
	}
	if ev.Kind == hrconfig.KindTerminate && ev.Date == "" && !ev.Involuntary {
		return invalid("a termination needs its date (the last day, YYYY-MM-DD) unless it is involuntary")
	}
	if ev.Time != "" && ev.Date == "" {
		return invalid("a time without a date")
	}
	if len(ev.EmployeeID) > maxEmployeeID {
		return invalid("employee id is longer than %d characters", maxEmployeeID)
	}
	if len(ev.Email) > maxEmail || ev.Email != "" && !strings.Contains(ev.Email, "@") {
		return invalid("email %q is not an email address", text.ClipBytes(ev.Email, 64))
	}
	if len(ev.EventID) > maxEventID {
		return invalid("event id is longer than %d characters", maxEventID)
	}
	for _, v := range []string{ev.EventID, ev.EmployeeID, ev.Email, ev.Reason} {
		if strings.ContainsRune(v, 0) {
			return invalid("a value contains a NUL character")
		}
	}
	ev.Reason = text.ClipBytes(ev.Reason, maxReason-len("…")) // the engine cuts at 1000 bytes, possibly inside a rune
	return nil
}

// rowEventID derives a report row's event id from the row's identity and
// its date, so that the same row polled again is the same event (a no-op)
// while a corrected date is a new one.
func rowEventID(ev engine.HREvent) string {
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
	return boundID(key)
}

// boundID keeps an event id within the store's limit.
func boundID(s string) string {
	if len(s) <= maxEventID {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return s[:maxEventID-33] + "~" + hex.EncodeToString(sum[:16])
}

// ParseGeneric parses a generic webhook's body into one event with m. The
// event id is id when not empty (a header), else the one m maps, else
// empty (the engine derives one from the content).
func ParseGeneric(source string, body []byte, id string, m Mapping) (engine.HREvent, error) {
	if !utf8.Valid(body) || !utf8.ValidString(id) {
		return engine.HREvent{}, invalid("the event is not UTF-8")
	}
	root, err := decodeJSON(body)
	if err != nil {
		return engine.HREvent{}, err
	}
	ev, err := mapEvent(root, m)
	if err != nil {
		return ev, err
	}
	if id != "" {
		if len(id) > maxEventID || strings.ContainsRune(id, 0) {
			return ev, invalid("the event id is longer than %d characters or holds a NUL", maxEventID)
		}
		ev.EventID = id
	}
	ev.Source, ev.Payload = source, body
	return ev, nil
}

// The BambooHR field names tried, in order, for each part of an event
// (bamboohr.FieldDefaults), and the fields.employee_id value that means
// BambooHR's own employee id.
var bambooDefaults = bamboohr.FieldDefaults

const bambooIDField = bamboohr.IDField

func names(configured, def string) []string { return bamboohr.FieldNames(configured, def) }

// bambooRecord is one BambooHR employee as a webhook or the API gives it.
type bambooRecord struct {
	id     string
	fields map[string]any
	// changed lists the changed field names (webhooks only).
	changed []string
	// stamp is the change's timestamp (webhook) or lastChanged (API).
	stamp string
}

// value reads the first of the candidate fields present.
func (r *bambooRecord) value(what string, candidates []string) (val string, present bool, err error) {
	for _, n := range candidates {
		// BambooHR field names match as hrpath's lenient keys do: exactly,
		// then case-insensitively.
		if v, ok := hrpath.Member(r.fields, n, hrpath.Lenient); ok {
			s, err := scalar(v)
			if err != nil {
				return "", true, fmt.Errorf("%s (%s) %v", what, n, err)
			}
			return s, true, nil
		}
	}
	return "", false, nil
}

func (r *bambooRecord) hasChanged(candidates []string) bool {
	for _, c := range r.changed {
		for _, n := range candidates {
			if strings.EqualFold(strings.TrimSpace(c), n) {
				return true
			}
		}
	}
	return false
}

// bambooState is what a BambooHR record says about employment.
type bambooState struct {
	employeeID, email, date, status, hire, reason string
	involuntary                                   bool
	dateChanged, statusChanged, hireChanged       bool
}

func (s bambooState) active() bool   { return strings.EqualFold(s.status, "Active") }
func (s bambooState) inactive() bool { return strings.EqualFold(s.status, "Inactive") }

// terminated: a termination date that is not history (a rehire after it
// has a later hire date).
func (s bambooState) terminated() bool {
	return s.date != "" && !(s.hire != "" && s.hire > s.date)
}

func readBamboo(r *bambooRecord, f hrconfig.Fields) (bambooState, error) {
	var st bambooState
	var err error
	get := func(dst *string, what string, cands []string) bool {
		if err != nil {
			return false
		}
		var present bool
		*dst, present, err = r.value(what, cands)
		return present
	}
	if f.EmployeeID == "" || f.EmployeeID == bambooIDField {
		st.employeeID = r.id
	} else {
		get(&st.employeeID, "employee id", names(f.EmployeeID, ""))
	}
	get(&st.email, "email", names(f.Email, bambooDefaults.Email))
	dateNames := names(f.Date, bambooDefaults.Date)
	var date, hire, invol string
	get(&date, "termination date", dateNames)
	statusNames := names(f.Status, bambooDefaults.Status)
	get(&st.status, "status", statusNames)
	hireNames := names(f.HireDate, bambooDefaults.HireDate)
	get(&hire, "hire date", hireNames)
	get(&st.reason, "reason", names(f.Reason, ""))
	get(&invol, "involuntary", names(f.Involuntary, ""))
	if err != nil {
		return st, invalid("%v", err)
	}
	if st.date, err = normDate(date); err != nil {
		return st, invalid("termination %v", err)
	}
	if st.hire, err = normDate(hire); err != nil {
		return st, invalid("hire %v", err)
	}
	if st.involuntary, err = parseBool(invol); err != nil {
		return st, invalid("involuntary: %v", err)
	}
	st.dateChanged = r.hasChanged(dateNames)
	st.statusChanged = r.hasChanged(statusNames)
	st.hireChanged = r.hasChanged(hireNames)
	return st, nil
}

// bambooKind decides what a webhook's record means: a termination date that
// is not history is a termination; an Inactive→Active change with a new
// hire date a rehire; a cleared termination date, or a change back to
// Active, a rescission. Anything else is not a termination change ("").
func bambooKind(st bambooState) (kind, why string) {
	switch {
	case st.terminated():
		return hrconfig.KindTerminate, ""
	case st.active() && st.statusChanged && st.hireChanged:
		return hrconfig.KindRehire, ""
	case !st.inactive() && (st.dateChanged || st.statusChanged && st.active()):
		return hrconfig.KindRescind, ""
	case st.inactive():
		return "", "status Inactive without a termination date"
	}
	return "", fmt.Sprintf("not a termination change (status %q, no termination date)", text.ClipBytes(st.status, 32))
}

// bambooEvent builds the event for a record of kind.
func bambooEvent(source string, r *bambooRecord, st bambooState, kind string, payload []byte) (engine.HREvent, error) {
	ev := engine.HREvent{Source: source, Kind: kind, EmployeeID: st.employeeID, Email: st.email,
		Involuntary: st.involuntary && kind == hrconfig.KindTerminate, Reason: st.reason, Payload: payload}
	if kind == hrconfig.KindTerminate {
		ev.Date = st.date
	}
	if ev.Reason == "" {
		switch kind {
		case hrconfig.KindTerminate:
			ev.Reason = fmt.Sprintf("BambooHR: termination date %s (status %s)", st.date, cmpOr(st.status, "not sent"))
		case hrconfig.KindRescind:
			ev.Reason = "BambooHR: termination removed"
		default:
			ev.Reason = "BambooHR: rehired, hire date " + st.hire
		}
	}
	// A termination is the same event whenever it is seen again with the
	// same date; a rescission or rehire is one change, identified by when
	// it happened.
	key := []string{r.id, kind}
	if kind == hrconfig.KindTerminate {
		key = append(key, st.date)
	} else {
		stamp := r.stamp
		if stamp == "" {
			sum := sha256.Sum256(payload)
			stamp = hex.EncodeToString(sum[:8])
		}
		key = append(key, stamp)
	}
	ev.EventID = boundID(strings.Join(key, ":"))
	return ev, checkEvent(&ev)
}

// Entry is one employee of a BambooHR webhook: the event it carries, or
// why it carries none (Skip), or what is wrong with it (Err, wrapping
// ErrInvalidPayload).
type Entry struct {
	// Employee is BambooHR's id of the employee.
	Employee string
	Event    *engine.HREvent
	Skip     string
	Err      error
}

type bambooWebhook struct {
	Employees []json.RawMessage `json:"employees"`
	// Event-based webhooks (type, data) carry no field values.
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

type bambooEntry struct {
	ID            any            `json:"id"`
	Action        string         `json:"action"`
	Timestamp     string         `json:"timestamp"`
	ChangedFields []any          `json:"changedFields"`
	Fields        map[string]any `json:"fields"`
}

// ParseBambooHR parses a BambooHR field-based webhook ({"employees": [...]},
// each with id, action, timestamp, changedFields and fields) into one Entry
// per employee. f renames the fields read (zero: BambooHR's employee id as
// the employee id; workEmail, terminationDate, status and hireDate, or their
// English names). The error is for a payload that is not such a webhook at
// all.
func ParseBambooHR(source string, body []byte, f hrconfig.Fields) ([]Entry, error) {
	if !utf8.Valid(body) {
		return nil, invalid("the webhook is not UTF-8")
	}
	// Strict for the whole body, entries included (no key twice, nothing
	// after it); BambooHR may add fields.
	var wh bambooWebhook
	if err := jsonbody.Unmarshal(body, &wh, jsonbody.Options{UseNumber: true, AllowUnknownFields: true}); err != nil {
		return nil, invalid("BambooHR webhook: %v", err)
	}
	if wh.Employees == nil {
		if wh.Type != "" || wh.Data != nil {
			return nil, invalid("an event-based BambooHR webhook (type %q) carries no field values: configure the webhook as field-based, posting status, terminationDate, employeeNumber and workEmail", text.ClipBytes(wh.Type, 64))
		}
		return nil, invalid(`a BambooHR webhook needs an "employees" list`)
	}
	if len(wh.Employees) > 1000 {
		return nil, invalid("%d employees in one webhook (at most 1000)", len(wh.Employees))
	}
	out := make([]Entry, 0, len(wh.Employees))
	for i, raw := range wh.Employees {
		out = append(out, parseBambooEntry(source, i, raw, f))
	}
	return out, nil
}

func parseBambooEntry(source string, i int, raw json.RawMessage, f hrconfig.Fields) Entry {
	var e bambooEntry
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&e); err != nil {
		return Entry{Employee: fmt.Sprintf("#%d", i), Err: invalid("employees[%d]: %v", i, err)}
	}
	id, err := scalar(e.ID)
	if err != nil || id == "" {
		return Entry{Employee: fmt.Sprintf("#%d", i), Err: invalid("employees[%d] has no id", i)}
	}
	ent := Entry{Employee: text.ClipBytes(id, 64)}
	if len(id) > maxEmployeeID {
		ent.Err = invalid("employees[%d]: id is longer than %d characters", i, maxEmployeeID)
		return ent
	}
	switch strings.ToLower(e.Action) {
	case "deleted":
		ent.Skip = "employee record deleted in BambooHR (not a termination)"
		return ent
	case "created", "inserted":
		ent.Skip = "employee record created in BambooHR"
		return ent
	}
	rec := &bambooRecord{id: id, fields: e.Fields, stamp: e.Timestamp}
	for _, c := range e.ChangedFields {
		if s, err := scalar(c); err == nil {
			rec.changed = append(rec.changed, s)
		}
	}
	st, err := readBamboo(rec, f)
	if err != nil {
		ent.Err = fmt.Errorf("employees[%d]: %w", i, err)
		return ent
	}
	kind, why := bambooKind(st)
	if kind == "" {
		ent.Skip = why
		return ent
	}
	ev, err := bambooEvent(source, rec, st, kind, raw)
	if err != nil {
		ent.Err = fmt.Errorf("employees[%d]: %w", i, err)
		return ent
	}
	ent.Event = &ev
	return ent
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
