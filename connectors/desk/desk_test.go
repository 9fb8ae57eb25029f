package desk

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/connspec"
)

func TestConfigValidateNamesTheKey(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
		key  string
	}{
		{"facility is required", Config{Doors: []string{"Main entrance"}}, "facility"},
		{"an empty door", Config{Facility: "Lagos", Doors: []string{"Main entrance", " "}}, "doors[1]"},
		{"a door with a comma", Config{Facility: "Lagos", Doors: []string{"Gate 1, north"}}, "doors[0]"},
		{"an unknown operation", Config{Facility: "Lagos", Operations: []string{"open_sesame"}}, "operations[0]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var fe *connspec.FieldError
			if err := tt.cfg.Validate(); !errors.As(err, &fe) || fe.Field != tt.key {
				t.Fatalf("Validate = %v, want an error at %s", err, tt.key)
			}
		})
	}
	if err := (Config{Facility: "Lagos office", Doors: []string{"Main entrance", "Server room (L2)"}}).Validate(); err != nil {
		t.Fatalf("a valid block: %v", err)
	}
}

// TestDeskRunsNothing: a desk declares deactivate_badge manual-only and
// enables no automated operation; a request that reaches it anyway is
// refused as permanent (not retried); Lookup finds nothing; its steps get
// the facility and the doors.
func TestDeskRunsNothing(t *testing.T) {
	d := Descriptor()
	cfg := &Config{Facility: "Lagos office", Doors: []string{"Main entrance", "Server room (L2)"}}
	if ops, ok := d.Operations(cfg); !ok || len(ops) != 0 {
		t.Fatalf("Operations = %v, %t; want none", ops, ok)
	}
	if got := d.ManualOnly(cfg); len(got) != 1 || got[0] != string(connectors.OpDeactivateBadge) {
		t.Fatalf("ManualOnly = %v", got)
	}
	c, ops, err := d.New("desk-lagos", cfg, connectors.Deps{})
	if err != nil || len(ops) != 0 {
		t.Fatalf("New = %v, %v", ops, err)
	}
	subj := connectors.Subject{EmployeeID: "E1", Email: "erin@example.test"}
	if res, err := c.Lookup(context.Background(), subj); err != nil || len(res.Accounts) != 0 {
		t.Fatalf("Lookup = %+v, %v", res, err)
	}
	_, err = c.Do(context.Background(), connectors.Request{Operation: connectors.OpDeactivateBadge, Subject: subj})
	if connectors.KindOf(err) != connectors.KindInvalid || connectors.IsRetryable(err) || !strings.Contains(err.Error(), "desk-lagos") || !errors.Is(err, ErrManualOnly) {
		t.Fatalf("Do = %v, want a permanent invalid error naming the instance", err)
	}
	sp, ok := c.(connectors.StepParamer)
	if !ok {
		t.Fatal("a desk gives its steps no parameters")
	}
	if p := sp.StepParams(connectors.OpDeactivateBadge); p["facility"] != "Lagos office" || p["doors"] != "Main entrance, Server room (L2)" {
		t.Fatalf("StepParams = %v", p)
	}
}
