// Package compose holds the table of connector types, HR directory source
// types and the HR event front end, and builds what the configuration
// names, the way Alertmanager keeps its receivers apart from its config
// parser: configs parses, defaults and validates (it knows no connector
// and no HR system), each connector package describes itself with a
// connectors.Descriptor, each HR system with a directory.Descriptor, bot/hr
// with an hrspec.Events, and this package puts them together.
//
// Adding a connector type is its package (connectors/NAME with
// Descriptor()) plus one line in internal/compose/table; adding an HR
// system is its package (directory/NAME with Descriptor()) plus one line
// there too; adding an HR poller format is its hrconfig.PollerFormat, in
// the package that owns the HR system's wire format, plus one line in
// table.PollerFormats, and an HR webhook format its hrconfig.WebhookFormat
// plus one line in table.WebhookFormats.
package compose

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/bot/hr/hrconfig"
	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/internal/compose/table"
	"github.com/kineticsec/kinetic/internal/connspec"
	"github.com/kineticsec/kinetic/internal/hrspec"
	"github.com/kineticsec/kinetic/internal/outbound"
)

// Connectors is the table of connector types configuration accepts
// (table.Connectors, where adding a type is one line).
func Connectors() Table { return Table(table.Connectors()) }

// Table is a list of connector types.
type Table []connectors.Descriptor

// Specs returns what configs needs to load the table's types.
func (t Table) Specs() []connspec.Spec {
	specs := make([]connspec.Spec, len(t))
	for i, d := range t {
		specs[i] = d.Spec
	}
	return specs
}

// Types returns what configs needs to load t's connector types with the
// table's HR directory source types and HR event front end.
func (t Table) Types() configs.Types { return t.withHR().Types() }

func (t Table) withHR() Tables {
	return Tables{Connectors: t, Directories: table.Directories(), PollerFormats: table.PollerFormats(), WebhookFormats: table.WebhookFormats()}
}

// Load is configs.Load with the table's types.
func (t Table) Load(path string) (*configs.Config, error) { return t.withHR().Load(path) }

// Default is configs.Default with the table's types.
func (t Table) Default() (*configs.Config, error) { return t.withHR().Default() }

// ParseService is configs.ParseService with the table's types.
func (t Table) ParseService(name string, data []byte) (*configs.Service, error) {
	return t.withHR().ParseService(name, data)
}

// Tables is the whole composition table: connector types, HR directory
// source types (besides file) and the HR event front end's poller and
// webhook formats.
// All returns the one in internal/compose/table; tests compose their own.
type Tables struct {
	Connectors  Table
	Directories []directory.Descriptor
	// PollerFormats are the formats the hr: block's pollers may name; the
	// loaded hrconfig.Config carries them to bot/hr.
	PollerFormats []hrconfig.PollerFormat
	// WebhookFormats are the formats the hr: block's webhooks may name;
	// the loaded hrconfig.Config carries them to bot/hr's handler.
	WebhookFormats []hrconfig.WebhookFormat
}

// HR returns the HR event front end's spec (the hr: block) with t's poller
// and webhook formats.
func (t Tables) HR() hrspec.Events { return hrconfig.Descriptor(t.PollerFormats, t.WebhookFormats) }

// All returns internal/compose/table's tables.
func All() Tables { return Connectors().withHR() }

// Types returns what configs needs to load with t.
func (t Tables) Types() configs.Types {
	specs := make([]hrspec.Directory, len(t.Directories))
	for i, d := range t.Directories {
		specs[i] = d.Spec
	}
	hr := t.HR()
	return configs.Types{Connectors: t.Connectors.Specs(), Directories: specs, HR: &hr}
}

// Load is configs.Load with t's types.
func (t Tables) Load(path string) (*configs.Config, error) { return configs.Load(path, t.Types()) }

// Default is configs.Default with t's types.
func (t Tables) Default() (*configs.Config, error) { return configs.Default(t.Types()) }

// ParseService is configs.ParseService with t's types.
func (t Tables) ParseService(name string, data []byte) (*configs.Service, error) {
	return configs.ParseService(name, data, t.Types())
}

// Load loads the service file at path (and its policy) with every connector
// type of Connectors.
func Load(path string) (*configs.Config, error) { return Connectors().Load(path) }

// Default returns the embedded default configuration (configs.Default).
func Default() (*configs.Config, error) { return Connectors().Default() }

// ParseService parses a service file alone (configs.ParseService).
func ParseService(name string, data []byte) (*configs.Service, error) {
	return Connectors().ParseService(name, data)
}

// BuildConnectors builds cfg's connector instances with Connectors
// (Table.Build).
func BuildConnectors(cfg *configs.Config, dir *directory.File, log *logrus.Entry) (*connectors.Registry, error) {
	return Connectors().Build(cfg, dir, log)
}

// seeder is a connector that holds its own accounts and is seeded from the
// HR directory (the in-memory sandbox).
type seeder interface {
	SeedEmployees([]directory.Employee)
}

// Build constructs every configured connector instance with its type's
// descriptor (connectors.Build), seeds in-memory instances (sandboxes
// without url) from dir when it is not nil, and returns the registry. Every
// construction error is returned, joined; the registry then holds the
// instances that could be built.
func (t Table) Build(cfg *configs.Config, dir *directory.File, log *logrus.Entry) (*connectors.Registry, error) {
	var emps []directory.Employee
	if dir != nil {
		emps = dir.All()
	}
	svc := cfg.Service
	insts, errs := Instances(svc)
	var deps connectors.Deps
	deps.Log = log
	if len(insts) > 0 {
		p, err := outbound.NewURLPolicy(svc.Outbound.AllowCIDRs, svc.Outbound.AllowHosts)
		if err != nil {
			return connectors.NewRegistry(), errors.Join(append(errs, err)...)
		}
		deps.Policy = p
	}
	reg, err := connectors.Build(t, insts, deps, func(c connectors.Connector) {
		if s, ok := c.(seeder); ok {
			s.SeedEmployees(emps)
		}
	})
	return reg, errors.Join(append(errs, err)...)
}

// Instances returns svc's connector instances for connectors.Build, sorted
// by name, with an error for each empty one.
func Instances(svc *configs.Service) ([]connectors.InstanceConfig, []error) {
	var insts []connectors.InstanceConfig
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(svc.Connectors)) {
		ci := svc.Connectors[name]
		if ci == nil {
			errs = append(errs, fmt.Errorf("connector %q: empty configuration", name))
			continue
		}
		ic := connectors.InstanceConfig{Name: name, Type: ci.Type, Block: ci.Block, Concurrency: ci.Concurrency, Timeout: ci.Timeout.D(), SyncedFrom: ci.SyncedFrom}
		if rl := ci.RateLimit; rl != nil {
			ic.RateLimit = connectors.RateLimit{Requests: rl.Requests, Per: rl.Per.D(), Burst: max(rl.Burst, 1)}
		}
		insts = append(insts, ic)
	}
	return insts, errs
}
