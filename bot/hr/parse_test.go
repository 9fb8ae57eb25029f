package hr

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kineticsec/kinetic/bot/hr/hrconfig"
)

func TestNormDate(t *testing.T) {
	for in, want := range map[string]string{
		"":                           "",
		"0000-00-00":                 "",
		"2026-12-04":                 "2026-12-04",
		" 2026-12-04 ":               "2026-12-04",
		"2026-12-04T00:00:00Z":       "2026-12-04",
		"2026-12-04T17:00:00-05:00":  "2026-12-04",
		"2026-12-04-08:00":           "2026-12-04", // Workday
		"2026-12-04+0100":            "2026-12-04",
		"2026-12-04 09:00":           "2026-12-04",
		"/Date(1796256000000)/":      "2026-12-03", // SuccessFactors OData
		"/Date(1796256000000+0000)/": "2026-12-03",
	} {
		if got, err := normDate(in); err != nil || got != want {
			t.Errorf("normDate(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"12/04/2026", "2026-13-01", "2026-12-4", "2026-12-04x", "tomorrow", "/Date(x)/", "2026-02-30"} {
		if got, err := normDate(in); err == nil {
			t.Errorf("normDate(%q) = %q, want an error", in, got)
		}
	}
}

func TestParseTimestamp(t *testing.T) {
	want := time.Date(2026, 1, 31, 18, 42, 0, 0, time.UTC)
	for _, in := range []string{"1769884920", "1769884920000", "2026-01-31T18:42:00Z", "2026-01-31T18:42:00+0000", "2026-01-31T13:42:00-05:00"} {
		if got, err := parseTimestamp(in); err != nil || !got.Equal(want) {
			t.Errorf("parseTimestamp(%q) = %s, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "yesterday", "2026-01-31", "1e9"} {
		if _, err := parseTimestamp(in); err == nil {
			t.Errorf("parseTimestamp(%q) accepted", in)
		}
	}
}

func TestSignMatchesTheDocumentedSchemes(t *testing.T) {
	// echo -n '{"a":1}1700000000' | openssl dgst -sha256 -hmac key
	if got := Sign("bamboohr", "key", "1700000000", []byte(`{"a":1}`)); got != "5cff791334e7fd8344cc05c2398964f60329f4edd6ab1087ed1ba6c34eefeeca" {
		t.Fatalf("bamboohr signature %q", got)
	}
	// echo -n '1700000000.{"a":1}' | openssl dgst -sha256 -hmac key
	if got := Sign("generic", "key", "1700000000", []byte(`{"a":1}`)); got != "a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03" {
		t.Fatalf("generic signature %q", got)
	}
	if Sign("generic", "key", "17", []byte("00000000.{}")) == Sign("generic", "key", "1700000000", []byte("{}")) {
		t.Fatal("the generic scheme's separator does not bind the timestamp")
	}
}

func sfMapping() Mapping {
	return Mapping{Fields: hrconfig.Fields{EventID: "eventId", Kind: "eventType", EmployeeID: "userId", Email: "email",
		Date: "endDate", Time: "endTime", Involuntary: "involuntary", Reason: "reason"},
		Kinds: map[string]string{"EmployeeTermination": "terminate", "TerminationRescinded": "rescind", "Rehire": "rehire"}}
}

func TestParseGenericNestedPaths(t *testing.T) {
	m := Mapping{Fields: hrconfig.Fields{Kind: "event.type", EmployeeID: "data.worker.ids.0", Date: "data.end", Involuntary: "data.invol"}}
	ev, err := ParseGeneric("sf", []byte(`{"event":{"type":"terminate"},"data":{"worker":{"ids":["E7","x"]},"end":"/Date(1796256000000)/","invol":true}}`), "", m)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Kind != "terminate" || ev.EmployeeID != "E7" || ev.Date != "2026-12-03" || !ev.Involuntary || ev.Source != "sf" {
		t.Fatalf("%+v", ev)
	}
	// A number is read as text; an unmapped kind must be one of the three.
	ev, err = ParseGeneric("sf", []byte(`{"event":{"type":"rescind"},"data":{"worker":{"ids":[1234]}}}`), "h-1", m)
	if err != nil || ev.EmployeeID != "1234" || ev.EventID != "h-1" || ev.Kind != "rescind" {
		t.Fatalf("%+v %v", ev, err)
	}
	if _, err := ParseGeneric("sf", []byte(`{"event":{"type":"Terminate"},"data":{"worker":{"ids":["E7"]},"end":"2026-12-02"}}`), "", m); !errors.Is(err, ErrInvalidPayload) {
		t.Fatalf("kind values are exact without kinds: %v", err)
	}
}

func TestParseBambooHRDecisions(t *testing.T) {
	entry := func(status, date, hire string, changed ...string) []byte {
		return bambooBody(t, map[string]any{"id": "7", "action": "Updated", "timestamp": "2026-11-25T10:00:00+0000", "changedFields": changed,
			"fields": map[string]any{"employeeNumber": "E1", "status": status, "terminationDate": date, "hireDate": hire}})
	}
	cases := []struct {
		name string
		body []byte
		kind string // "" = skipped
	}{
		{"inactive with a date", entry("Inactive", "2026-12-01", "2020-01-01", "status"), "terminate"},
		{"future-dated while still active", entry("Active", "2026-12-01", "2020-01-01", "terminationDate"), "terminate"},
		{"date cleared", entry("Active", "", "2020-01-01", "terminationDate"), "rescind"},
		{"back to active", entry("Active", "0000-00-00", "2020-01-01", "status"), "rescind"},
		{"rehired: active, new hire date, old termination date", entry("Active", "2025-06-30", "2026-11-20", "status", "hireDate"), "rehire"},
		{"an old termination date is history", entry("Active", "2025-06-30", "2026-11-20", "jobTitle"), ""},
		{"inactive without a date", entry("Inactive", "", "2020-01-01", "status"), ""},
		{"an unrelated change", entry("Active", "", "2020-01-01", "jobTitle"), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			entries, err := ParseBambooHR("bamboohr", c.body, hrconfig.Fields{})
			if err != nil || len(entries) != 1 || entries[0].Err != nil {
				t.Fatalf("%+v %v", entries, err)
			}
			e := entries[0]
			switch {
			case c.kind == "" && e.Event != nil:
				t.Fatalf("want skipped, got %+v", e.Event)
			case c.kind == "" && e.Skip == "":
				t.Fatal("skipped without a reason")
			case c.kind != "" && (e.Event == nil || e.Event.Kind != c.kind):
				t.Fatalf("want %s, got %+v (skip %q)", c.kind, e.Event, e.Skip)
			}
		})
	}
	t.Run("the employee id is BambooHR's unless a field is named", func(t *testing.T) {
		for f, want := range map[string]string{"": "7", "id": "7", "employeeNumber": "E1"} {
			entries, _ := ParseBambooHR("b", entry("Inactive", "2026-12-01", ""), hrconfig.Fields{EmployeeID: f})
			if ev := entries[0].Event; ev == nil || ev.EmployeeID != want {
				t.Fatalf("employee_id %q: %+v, want %s", f, entries[0], want)
			}
		}
	})
	t.Run("renamed fields", func(t *testing.T) {
		body := bambooBody(t, map[string]any{"id": "8", "fields": map[string]any{"Emp ID": "E4", "Last Day": "2026-12-01", "Kind": "Involuntary", "Why": "layoff"}})
		entries, _ := ParseBambooHR("b", body, hrconfig.Fields{EmployeeID: "Emp ID", Date: "Last Day", Involuntary: "Kind", Reason: "Why"})
		ev := entries[0].Event
		if ev == nil || ev.EmployeeID != "E4" || ev.Date != "2026-12-01" || !ev.Involuntary || ev.Reason != "layoff" {
			t.Fatalf("%+v", entries[0])
		}
	})
}

func TestReasonsAreClippedOnARuneBoundary(t *testing.T) {
	body := []byte(`{"eventType":"EmployeeTermination","userId":"E1","endDate":"2026-12-01","reason":"` + strings.Repeat("é", 700) + `"}`)
	ev, err := ParseGeneric("sf", body, "", sfMapping())
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Reason) > 1000 || !utf8.ValidString(ev.Reason) {
		t.Fatalf("reason of %d bytes, valid UTF-8 %v", len(ev.Reason), utf8.ValidString(ev.Reason))
	}
}

// Seconds are kept (store.HREventRecord.Time holds HH:MM:SS, 8
// characters; PostgreSQL refuses longer values).
func TestNormClockKeepsSeconds(t *testing.T) {
	for in, want := range map[string]string{"": "", "17:00": "17:00", "09:30:45": "09:30:45", " 23:59 ": "23:59"} {
		if got, err := normClock(in); err != nil || got != want {
			t.Errorf("normClock(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"24:00", "9:30", "17h", "17:60", "17:00:60"} {
		if _, err := normClock(in); err == nil {
			t.Errorf("normClock(%q) accepted", in)
		}
	}
}
