package bamboohr

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kineticsec/kinetic/bot/hr/hrconfig"
	"github.com/kineticsec/kinetic/directory/hrpath"
	"github.com/kineticsec/kinetic/internal/jsonbody"
	"github.com/kineticsec/kinetic/internal/text"
)

// BambooHR's signature headers.
//
// BambooHR signs each webhook request with the webhook's private key using
// HMAC-SHA256 and sends X-BambooHR-Timestamp (when the request was sent) and
// X-BambooHR-Signature (https://documentation.bamboohr.com/docs/webhooks-2,
// "Security"). The signed message is the raw request body followed by the
// timestamp header's value, with nothing between them, and the signature is
// its hex digest: the part of BambooHR's page that spells this out was not
// readable to us, so this follows the AsyncAPI description of BambooHR's
// webhooks ("SHA-256 HMAC signature of the raw request body concatenated
// with the timestamp") and Nango's BambooHR guide
// (https://nango.dev/docs/api-integrations/bamboohr/webhooks: "The signature
// covers the request body followed by X-BambooHR-Timestamp"), which agree
// with several open-source verifiers. BambooHR's timestamp has been seen
// both as unix seconds and as ISO 8601; both are accepted.
const (
	SignatureHeader = "X-BambooHR-Signature"
	TimestampHeader = "X-BambooHR-Timestamp"
)

// Message is what BambooHR signs: the body followed by the timestamp.
func Message(ts string, body []byte) []byte {
	return append(append(make([]byte, 0, len(body)+len(ts)), body...), ts...)
}

// WebhookFormat describes the bamboohr webhook format (an HR event
// source): BambooHR's field-based webhook, signed with SignatureHeader
// over the body followed by TimestampHeader, one entry per employee.
// internal/compose/table lists it.
func WebhookFormat() hrconfig.WebhookFormat {
	return hrconfig.WebhookFormat{
		Format:   hrconfig.FormatBambooHR,
		Validate: validateWebhook,
		Verify: func(w *hrconfig.Webhook, h http.Header, body []byte, now time.Time) (string, error) {
			return hrconfig.HMAC{Key: []byte(w.Secret.Value()), SignatureHeader: SignatureHeader, TimestampHeader: TimestampHeader,
				Tolerance: w.EffectiveTolerance(), Message: Message}.Verify(h, body, now)
		},
		Parse: func(source string, w *hrconfig.Webhook, _ http.Header, body []byte) (hrconfig.Parsed, error) {
			var f hrconfig.Fields
			if w.Fields != nil {
				f = *w.Fields
			}
			entries, err := ParseWebhook(source, body, f)
			return hrconfig.Parsed{Entries: entries, List: true}, err
		},
		Sign: func(key, ts string, body []byte) string {
			return hrconfig.HMAC{Key: []byte(key), Message: Message}.Sign(ts, body)
		},
	}
}

func validateWebhook(path string, w *hrconfig.Webhook, add func(field, format string, args ...any)) {
	for key, v := range map[string]string{"signature_header": w.SignatureHeader, "timestamp_header": w.TimestampHeader, "id_header": w.IDHeader, "kind": w.Kind} {
		if v != "" {
			add(path+"."+key, "format bamboohr has fixed headers and kinds: remove %s", key)
		}
	}
	if len(w.Kinds) > 0 {
		add(path+".kinds", "format bamboohr has fixed kinds: remove kinds")
	}
	hrconfig.ValidateBambooHRFields(path+".fields", w.Fields, add)
}

// record is one BambooHR employee as a webhook or the API gives it.
type record struct {
	id     string
	fields map[string]any
	// changed lists the changed field names (webhooks only).
	changed []string
	// stamp is the change's timestamp (webhook) or lastChanged (API).
	stamp string
}

// value reads the first of the candidate fields present.
func (r *record) value(what string, candidates []string) (val string, present bool, err error) {
	for _, n := range candidates {
		// BambooHR field names match as hrpath's lenient keys do: exactly,
		// then case-insensitively.
		if v, ok := hrpath.Member(r.fields, n, hrpath.Lenient); ok {
			s, err := hrpath.Scalar(v)
			if err != nil {
				return "", true, fmt.Errorf("%s (%s) %v", what, n, err)
			}
			return s, true, nil
		}
	}
	return "", false, nil
}

func (r *record) hasChanged(candidates []string) bool {
	for _, c := range r.changed {
		for _, n := range candidates {
			if strings.EqualFold(strings.TrimSpace(c), n) {
				return true
			}
		}
	}
	return false
}

// State is what a BambooHR employee record says about employment.
type State struct {
	rec                                           *record
	employeeID, email, date, status, hire, reason string
	involuntary                                   bool
	dateChanged, statusChanged, hireChanged       bool
}

// Active: status Active.
func (s State) Active() bool   { return strings.EqualFold(s.status, "Active") }
func (s State) inactive() bool { return strings.EqualFold(s.status, "Inactive") }

// Date is the termination date (YYYY-MM-DD, or "").
func (s State) Date() string { return s.date }

// HireDate is the hire date (YYYY-MM-DD, or "").
func (s State) HireDate() string { return s.hire }

// Terminated: a termination date that is not history (a rehire after it
// has a later hire date).
func (s State) Terminated() bool {
	return s.date != "" && !(s.hire != "" && s.hire > s.date)
}

// ReadEmployee reads one employee's current fields (the JSON object of
// GET …/v1/employees/{id}/, lastChanged its change's time) with renames f.
// The error wraps hrconfig.ErrInvalidPayload.
func ReadEmployee(id, lastChanged string, fields map[string]any, f hrconfig.Fields) (State, error) {
	return readState(&record{id: id, fields: fields, stamp: lastChanged}, f)
}

func readState(r *record, f hrconfig.Fields) (State, error) {
	st := State{rec: r}
	var err error
	get := func(dst *string, what string, cands []string) bool {
		if err != nil {
			return false
		}
		var present bool
		*dst, present, err = r.value(what, cands)
		return present
	}
	if f.EmployeeID == "" || f.EmployeeID == IDField {
		st.employeeID = r.id
	} else {
		get(&st.employeeID, "employee id", FieldNames(f.EmployeeID, ""))
	}
	get(&st.email, "email", FieldNames(f.Email, FieldDefaults.Email))
	dateNames := FieldNames(f.Date, FieldDefaults.Date)
	var date, hire, invol string
	get(&date, "termination date", dateNames)
	statusNames := FieldNames(f.Status, FieldDefaults.Status)
	get(&st.status, "status", statusNames)
	hireNames := FieldNames(f.HireDate, FieldDefaults.HireDate)
	get(&hire, "hire date", hireNames)
	get(&st.reason, "reason", FieldNames(f.Reason, ""))
	get(&invol, "involuntary", FieldNames(f.Involuntary, ""))
	if err != nil {
		return st, hrconfig.Invalid("%v", err)
	}
	if st.date, err = hrconfig.NormDate(date); err != nil {
		return st, hrconfig.Invalid("termination %v", err)
	}
	if st.hire, err = hrconfig.NormDate(hire); err != nil {
		return st, hrconfig.Invalid("hire %v", err)
	}
	if st.involuntary, err = hrconfig.ParseBool(invol); err != nil {
		return st, hrconfig.Invalid("involuntary: %v", err)
	}
	st.dateChanged = r.hasChanged(dateNames)
	st.statusChanged = r.hasChanged(statusNames)
	st.hireChanged = r.hasChanged(hireNames)
	return st, nil
}

// webhookKind decides what a webhook's record means: a termination date
// that is not history is a termination; an Inactive→Active change with a
// new hire date a rehire; a cleared termination date, or a change back to
// Active, a rescission. Anything else is not a termination change ("").
func webhookKind(st State) (kind, why string) {
	switch {
	case st.Terminated():
		return hrconfig.KindTerminate, ""
	case st.Active() && st.statusChanged && st.hireChanged:
		return hrconfig.KindRehire, ""
	case !st.inactive() && (st.dateChanged || st.statusChanged && st.Active()):
		return hrconfig.KindRescind, ""
	case st.inactive():
		return "", "status Inactive without a termination date"
	}
	return "", fmt.Sprintf("not a termination change (status %q, no termination date)", text.ClipBytes(st.status, 32))
}

// Event builds the event of kind for the employee s describes, from
// source, payload being the record as received.
func (s State) Event(source, kind string, payload []byte) (hrconfig.Event, error) {
	r := s.rec
	ev := hrconfig.Event{Source: source, Kind: kind, EmployeeID: s.employeeID, Email: s.email,
		Involuntary: s.involuntary && kind == hrconfig.KindTerminate, Reason: s.reason, Payload: payload}
	if kind == hrconfig.KindTerminate {
		ev.Date = s.date
	}
	if ev.Reason == "" {
		switch kind {
		case hrconfig.KindTerminate:
			ev.Reason = fmt.Sprintf("BambooHR: termination date %s (status %s)", s.date, cmpOr(s.status, "not sent"))
		case hrconfig.KindRescind:
			ev.Reason = "BambooHR: termination removed"
		default:
			ev.Reason = "BambooHR: rehired, hire date " + s.hire
		}
	}
	// A termination is the same event whenever it is seen again with the
	// same date; a rescission or rehire is one change, identified by when
	// it happened.
	key := []string{r.id, kind}
	if kind == hrconfig.KindTerminate {
		key = append(key, s.date)
	} else {
		stamp := r.stamp
		if stamp == "" {
			sum := sha256.Sum256(payload)
			stamp = hex.EncodeToString(sum[:8])
		}
		key = append(key, stamp)
	}
	ev.EventID = hrconfig.BoundID(strings.Join(key, ":"))
	return ev, hrconfig.CheckEvent(&ev)
}

type webhookBody struct {
	Employees []json.RawMessage `json:"employees"`
	// Event-based webhooks (type, data) carry no field values.
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

type webhookEntry struct {
	ID            any            `json:"id"`
	Action        string         `json:"action"`
	Timestamp     string         `json:"timestamp"`
	ChangedFields []any          `json:"changedFields"`
	Fields        map[string]any `json:"fields"`
}

// ParseWebhook parses a BambooHR field-based webhook ({"employees": [...]},
// each with id, action, timestamp, changedFields and fields) into one Entry
// per employee. f renames the fields read (zero: BambooHR's employee id as
// the employee id; workEmail, terminationDate, status and hireDate, or their
// English names). The error (wrapping hrconfig.ErrInvalidPayload) is for a
// payload that is not such a webhook at all.
func ParseWebhook(source string, body []byte, f hrconfig.Fields) ([]hrconfig.Entry, error) {
	if !utf8.Valid(body) {
		return nil, hrconfig.Invalid("the webhook is not UTF-8")
	}
	// Strict for the whole body, entries included (no key twice, nothing
	// after it); BambooHR may add fields.
	var wh webhookBody
	if err := jsonbody.Unmarshal(body, &wh, jsonbody.Options{UseNumber: true, AllowUnknownFields: true}); err != nil {
		return nil, hrconfig.Invalid("BambooHR webhook: %v", err)
	}
	if wh.Employees == nil {
		if wh.Type != "" || wh.Data != nil {
			return nil, hrconfig.Invalid("an event-based BambooHR webhook (type %q) carries no field values: configure the webhook as field-based, posting status, terminationDate, employeeNumber and workEmail", text.ClipBytes(wh.Type, 64))
		}
		return nil, hrconfig.Invalid(`a BambooHR webhook needs an "employees" list`)
	}
	if len(wh.Employees) > 1000 {
		return nil, hrconfig.Invalid("%d employees in one webhook (at most 1000)", len(wh.Employees))
	}
	out := make([]hrconfig.Entry, 0, len(wh.Employees))
	for i, raw := range wh.Employees {
		out = append(out, parseWebhookEntry(source, i, raw, f))
	}
	return out, nil
}

func parseWebhookEntry(source string, i int, raw json.RawMessage, f hrconfig.Fields) hrconfig.Entry {
	var e webhookEntry
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&e); err != nil {
		return hrconfig.Entry{Employee: fmt.Sprintf("#%d", i), Err: hrconfig.Invalid("employees[%d]: %v", i, err)}
	}
	id, err := hrpath.Scalar(e.ID)
	if err != nil || id == "" {
		return hrconfig.Entry{Employee: fmt.Sprintf("#%d", i), Err: hrconfig.Invalid("employees[%d] has no id", i)}
	}
	ent := hrconfig.Entry{Employee: text.ClipBytes(id, 64)}
	if len(id) > hrconfig.MaxEmployeeID {
		ent.Err = hrconfig.Invalid("employees[%d]: id is longer than %d characters", i, hrconfig.MaxEmployeeID)
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
	rec := &record{id: id, fields: e.Fields, stamp: e.Timestamp}
	for _, c := range e.ChangedFields {
		if s, err := hrpath.Scalar(c); err == nil {
			rec.changed = append(rec.changed, s)
		}
	}
	st, err := readState(rec, f)
	if err != nil {
		ent.Err = fmt.Errorf("employees[%d]: %w", i, err)
		return ent
	}
	kind, why := webhookKind(st)
	if kind == "" {
		ent.Skip = why
		return ent
	}
	ev, err := st.Event(source, kind, raw)
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
