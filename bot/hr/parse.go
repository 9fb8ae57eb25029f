package hr

import (
	"github.com/kineticsec/kinetic/bot/hr/hrconfig"
	"github.com/kineticsec/kinetic/directory/bamboohr"
	"github.com/kineticsec/kinetic/engine"
)

// The formats' parsing lives with the formats (hrconfig for generic
// events and report rows, directory/bamboohr for BambooHR's webhook and
// employee records) and produces hrconfig.Event, the engine's HR event
// without the engine; this file converts it.

// ErrInvalidPayload is wrapped by every refusal of a payload's content:
// malformed JSON, missing or contradictory fields, an unknown kind. The
// webhook answers it with 400 (hrconfig.ErrInvalidPayload).
var ErrInvalidPayload = hrconfig.ErrInvalidPayload

// Mapping says where an event's parts are in a JSON document
// (hrconfig.Mapping).
type Mapping = hrconfig.Mapping

// toEngine converts a format's event to the engine's.
func toEngine(ev hrconfig.Event) engine.HREvent { return engine.HREvent(ev) }

// ParseGeneric parses a generic webhook's body into one event with m
// (hrconfig.ParseGeneric).
func ParseGeneric(source string, body []byte, id string, m Mapping) (engine.HREvent, error) {
	ev, err := hrconfig.ParseGeneric(source, body, id, m)
	return toEngine(ev), err
}

// parseRow maps one report row to an event whose id is derived from the
// row's identity and date (hrconfig.ParseRow).
func parseRow(source string, raw []byte, m Mapping) (engine.HREvent, error) {
	ev, err := hrconfig.ParseRow(source, raw, m)
	return toEngine(ev), err
}

// Entry is one employee of a webhook that carries several: the event it
// carries, or why it carries none (Skip), or what is wrong with it (Err,
// wrapping ErrInvalidPayload).
type Entry struct {
	// Employee is the source's id of the employee.
	Employee string
	Event    *engine.HREvent
	Skip     string
	Err      error
}

func toEntries(in []hrconfig.Entry) []Entry {
	out := make([]Entry, len(in))
	for i, e := range in {
		out[i] = Entry{Employee: e.Employee, Skip: e.Skip, Err: e.Err}
		if e.Event != nil {
			ev := toEngine(*e.Event)
			out[i].Event = &ev
		}
	}
	return out
}

// ParseBambooHR parses a BambooHR field-based webhook into one Entry per
// employee (bamboohr.ParseWebhook).
func ParseBambooHR(source string, body []byte, f hrconfig.Fields) ([]Entry, error) {
	entries, err := bamboohr.ParseWebhook(source, body, f)
	if err != nil {
		return nil, err
	}
	return toEntries(entries), nil
}
