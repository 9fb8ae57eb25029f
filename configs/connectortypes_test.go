package configs

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/graph"
	"github.com/kineticsec/kinetic/connectors/ldap"
	"github.com/kineticsec/kinetic/connectors/okta"
	"github.com/kineticsec/kinetic/connectors/sandbox"
	"github.com/kineticsec/kinetic/connectors/webhook"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/internal/compose/table"
	"github.com/kineticsec/kinetic/internal/connspec"
	"github.com/kineticsec/kinetic/internal/hrspec"
	"github.com/kineticsec/kinetic/internal/outbound"
)

// This package's tests load with the table internal/compose uses
// (internal/compose/table; compose itself imports configs).

func testTable() []connectors.Descriptor { return table.Connectors() }

func testTypes() Types {
	var specs []connspec.Spec
	for _, d := range testTable() {
		specs = append(specs, d.Spec)
	}
	var dirs []hrspec.Directory
	for _, d := range table.Directories() {
		dirs = append(dirs, d.Spec)
	}
	hr := table.HREvents()
	return Types{Connectors: specs, Directories: dirs, HR: &hr}
}

func loadT(path string) (*Config, error) { return Load(path, testTypes()) }

func defaultT() (*Config, error) { return Default(testTypes()) }

func parseServiceT(name string, data []byte) (*Service, error) {
	return ParseService(name, data, testTypes())
}

// BuildConnectors builds c's connectors the way compose.Table.Build does,
// for the tests that check what loading hands to the connectors.
func (c *Config) BuildConnectors(dir *directory.File, log *logrus.Entry) (*connectors.Registry, error) {
	var emps []directory.Employee
	if dir != nil {
		emps = dir.All()
	}
	var insts []connectors.InstanceConfig
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(c.Service.Connectors)) {
		ci := c.Service.Connectors[name]
		if ci == nil {
			errs = append(errs, fmt.Errorf("connector %q: empty configuration", name))
			continue
		}
		ic := connectors.InstanceConfig{Name: name, Type: ci.Type, Block: ci.Block, Concurrency: ci.Concurrency, Timeout: ci.Timeout.D()}
		if rl := ci.RateLimit; rl != nil {
			ic.RateLimit = connectors.RateLimit{Requests: rl.Requests, Per: rl.Per.D(), Burst: max(rl.Burst, 1)}
		}
		insts = append(insts, ic)
	}
	pol, err := outbound.NewURLPolicy(c.Service.Outbound.AllowCIDRs, c.Service.Outbound.AllowHosts)
	if err != nil {
		return connectors.NewRegistry(), err
	}
	reg, err := connectors.Build(testTable(), insts, connectors.Deps{Policy: pol, Log: log}, func(conn connectors.Connector) {
		if s, ok := conn.(*sandbox.Connector); ok {
			s.SeedEmployees(emps)
		}
	})
	return reg, errors.Join(append(errs, err)...)
}

// The type blocks of ci, or nil.
func sandboxBlock(ci *ConnectorInstance) *sandbox.Config { return typed[sandbox.Config](ci) }
func webhookBlock(ci *ConnectorInstance) *webhook.Config { return typed[webhook.Config](ci) }
func ldapBlock(ci *ConnectorInstance) *ldap.Config       { return typed[ldap.Config](ci) }
func graphBlock(ci *ConnectorInstance) *graph.Config     { return typed[graph.Config](ci) }
func oktaBlock(ci *ConnectorInstance) *okta.Config       { return typed[okta.Config](ci) }

func typed[T any](ci *ConnectorInstance) *T {
	if ci == nil {
		return nil
	}
	b, _ := ci.Block.(*T)
	return b
}
