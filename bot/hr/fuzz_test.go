package hr

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kineticsec/kinetic/bot/hr/hrconfig"
	"github.com/kineticsec/kinetic/engine"
)

// checkParsed holds every event a parser returns to the contract the engine
// and the store rely on.
func checkParsed(t *testing.T, ev engine.HREvent) {
	t.Helper()
	switch ev.Kind {
	case hrconfig.KindTerminate, hrconfig.KindRescind, hrconfig.KindRehire:
	default:
		t.Fatalf("kind %q", ev.Kind)
	}
	if ev.Source == "" || ev.EmployeeID == "" && ev.Email == "" {
		t.Fatalf("no source or no employee: %+v", ev)
	}
	if ev.Kind == hrconfig.KindTerminate && ev.Date == "" && !ev.Involuntary {
		t.Fatalf("a termination without a date: %+v", ev)
	}
	if ev.Date != "" {
		if _, err := time.Parse(time.DateOnly, ev.Date); err != nil {
			t.Fatalf("date %q", ev.Date)
		}
	}
	if ev.Time != "" && len(ev.Time) != 5 {
		t.Fatalf("time %q", ev.Time)
	}
	if len(ev.EventID) > maxEventID || len(ev.EmployeeID) > maxEmployeeID || len(ev.Email) > maxEmail || len(ev.Reason) > maxReason {
		t.Fatalf("a value over the store's limits: %d %d %d %d", len(ev.EventID), len(ev.EmployeeID), len(ev.Email), len(ev.Reason))
	}
	for _, v := range []string{ev.EventID, ev.EmployeeID, ev.Email, ev.Reason, string(ev.Payload)} {
		if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			t.Fatalf("%q is not UTF-8 text the database can store", v)
		}
	}
}

func FuzzBambooHRPayload(f *testing.F) {
	f.Add(`{"employees":[{"id":"1","action":"Updated","changedFields":["status"],"fields":{"employeeNumber":"E1","status":"Inactive","terminationDate":"2026-12-04"}}]}`, "")
	f.Fuzz(func(t *testing.T, body, employeeIDField string) {
		entries, err := ParseBambooHR("bamboohr", []byte(body), hrconfig.Fields{EmployeeID: employeeIDField})
		if err != nil {
			if !errors.Is(err, ErrInvalidPayload) {
				t.Fatalf("error of the wrong kind: %v", err)
			}
			return
		}
		for _, e := range entries {
			switch {
			case e.Err != nil:
				if !errors.Is(e.Err, ErrInvalidPayload) {
					t.Fatalf("entry error of the wrong kind: %v", e.Err)
				}
			case e.Event != nil:
				checkParsed(t, *e.Event)
				if e.Event.EventID == "" {
					t.Fatal("a BambooHR event without an event id")
				}
			case e.Skip == "":
				t.Fatal("an entry with neither event, error nor reason to skip")
			}
		}
	})
}

func FuzzGenericPayload(f *testing.F) {
	f.Add(`{"eventType":"EmployeeTermination","userId":"E1","endDate":"2026-12-04"}`, "")
	m := sfMapping()
	f.Fuzz(func(t *testing.T, body, idHeader string) {
		ev, err := ParseGeneric("successfactors", []byte(body), idHeader, m)
		if err != nil {
			if !errors.Is(err, ErrInvalidPayload) {
				t.Fatalf("error of the wrong kind: %v", err)
			}
			return
		}
		checkParsed(t, ev)
		// The same body as a report row parses the same way.
		row, err := parseRow("workday", []byte(body), m)
		if err != nil {
			t.Fatalf("parsed as a webhook but not as a row: %v", err)
		}
		checkParsed(t, row)
	})
}
