// Package desk is the connector type for a facility without an API: its
// badges are collected or disabled by people at the security desk. It
// performs nothing itself. Every operation it names (deactivate_badge by
// default) is manual-only: a policy step on a desk instance must say
// manual: true, the engine never sends a manual step to a connector, and
// the step's task names the person, their badge numbers and the facility's
// doors, and is marked done by the desk saying who collected or disabled
// the badge. So a facility without an API needs no sandbox instance to
// hang its manual step on.
package desk

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/connspec"
)

// TypeName is the connector type's name in configuration.
const TypeName = "desk"

// Config is the desk block. The instance's owner (the team told to act,
// e.g. lagos-security-desk) is the instance-level owner: key.
type Config struct {
	// Facility names the site, as the task shows it, e.g. "Lagos office".
	// Required.
	Facility string `yaml:"facility"`
	// Doors are the doors the badge opens there, e.g. [Main entrance,
	// Server room (L2)]; the task lists them unless the step's doors
	// parameter names others. Empty: "every door".
	Doors []string `yaml:"doors"`
	// Operations are the manual-only operations steps on this desk may
	// name; default [deactivate_badge].
	Operations []string `yaml:"operations"`
}

// Validate reports every problem with the block, joined; each error names
// its key.
func (c Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.Facility) == "" {
		errs = append(errs, field("facility", errors.New("is required (the site's name, e.g. \"Lagos office\")")))
	}
	for i, d := range c.Doors {
		if strings.TrimSpace(d) == "" {
			errs = append(errs, field(fmt.Sprintf("doors[%d]", i), errors.New("is empty")))
		} else if strings.Contains(d, ",") {
			errs = append(errs, field(fmt.Sprintf("doors[%d]", i), fmt.Errorf("%q contains a comma (the task lists doors comma separated)", d)))
		}
	}
	for i, op := range c.Operations {
		if !slices.Contains(connectors.AllOperations, connectors.Operation(op)) {
			errs = append(errs, field(fmt.Sprintf("operations[%d]", i), fmt.Errorf("unknown operation %q", op)))
		}
	}
	return errors.Join(errs...)
}

func field(key string, err error) error { return &connspec.FieldError{Field: key, Err: err} }

// ManualOperations are the operations the block declares manual-only.
func ManualOperations(c Config) []connectors.Operation {
	if len(c.Operations) == 0 {
		return []connectors.Operation{connectors.OpDeactivateBadge}
	}
	ops := make([]connectors.Operation, len(c.Operations))
	for i, op := range c.Operations {
		ops[i] = connectors.Operation(op)
	}
	return ops
}

// Connector is a desk instance. It has no system to call.
type Connector struct {
	name string
	cfg  Config
}

// New builds the desk instance name from a validated block.
func New(name string, cfg Config) (*Connector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Connector{name: name, cfg: cfg}, nil
}

// Name returns the instance name.
func (c *Connector) Name() string { return c.name }

// Facility is the facility's name.
func (c *Connector) Facility() string { return c.cfg.Facility }

// StepParams returns the parameters a manual step on this desk gets when
// the policy does not set them: the facility and its doors (comma
// separated), which the step's task shows.
func (c *Connector) StepParams(connectors.Operation) map[string]string {
	p := map[string]string{"facility": c.cfg.Facility}
	if len(c.cfg.Doors) > 0 {
		p["doors"] = strings.Join(c.cfg.Doors, ", ")
	}
	return p
}

// Lookup finds nothing: a desk has no record to read. Discovery reports
// "none found", the step's badge numbers come from the HR record, and a
// reconciliation sweep cannot see this facility (the desk's confirmation
// is the evidence).
func (c *Connector) Lookup(context.Context, connectors.Subject) (connectors.LookupResult, error) {
	return connectors.LookupResult{}, nil
}

// ErrManualOnly is the error Do returns: a desk performs nothing.
var ErrManualOnly = errors.New("a facility without an API: the security desk does this by hand (make the policy step manual: true)")

// Do refuses every request as permanent (KindInvalid): a desk's steps are
// manual, and the engine never sends a manual step to a connector, so a
// request here is a configuration mistake that retrying will not fix.
func (c *Connector) Do(_ context.Context, req connectors.Request) (connectors.Result, error) {
	return connectors.Result{}, connectors.NewError(connectors.KindInvalid, c.name, string(req.Operation), ErrManualOnly)
}
