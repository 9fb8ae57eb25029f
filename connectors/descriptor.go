package connectors

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/internal/connspec"
	"github.com/kineticsec/kinetic/internal/outbound"
)

// Descriptor is how a connector package describes its type: the Spec
// configuration loads it by (type name, config block and validation,
// operations, URLs and files to check) and New, which builds an instance
// from a loaded block. Each connector package exports one
// (okta.Descriptor()); internal/compose lists them in one table, so adding
// a connector type is its package plus one line there.
type Descriptor struct {
	connspec.Spec
	// New builds the instance name from block (the pointer Spec.NewBlock
	// returned, decoded, validated and with its secrets resolved) and
	// returns it with the operations it supports.
	New func(name string, block any, deps Deps) (Connector, []Operation, error)
	// Revokes declares, per operation, the remote access it revokes (a
	// VPN connector: {OpRevokeVPN: {RevokesVPNIdentity,
	// RevokesVPNSessions}}). Only what the operation really does, and
	// reads back, belongs here: the case summary states it as revoked.
	// Nil: none.
	Revokes map[Operation][]Revocation
}

// Deps are what the composition hands every connector it builds.
type Deps struct {
	// Policy is the outbound URL policy every network call must pass
	// (outbound.allow_cidrs and allow_hosts).
	Policy *outbound.URLPolicy
	// Log is narrowed to the component; the connector adds its own fields.
	// May be nil.
	Log *logrus.Entry
}

// OperationStrings returns ops as the strings a connspec.Spec reports.
func OperationStrings(ops []Operation) []string {
	out := make([]string, len(ops))
	for i, op := range ops {
		out[i] = string(op)
	}
	return out
}

// InstanceConfig is one configured instance as the composition hands it to
// Build: its name, type, the type's loaded block (nil when missing) and the
// limits the job layer enforces.
type InstanceConfig struct {
	Name        string
	Type        string
	Block       any
	Concurrency int
	Timeout     time.Duration
	// RateLimit is zero for none.
	RateLimit RateLimit
	// SyncedFrom names the instance this one's accounts are synced from
	// (configs: synced_from); "" when none.
	SyncedFrom string
}

// Build constructs every instance with its type's descriptor from table
// and returns the registry; each built connector is passed to prepare
// (when not nil) before it is registered. Every construction error is
// returned, joined; the registry then holds the instances that could be
// built.
func Build(table []Descriptor, insts []InstanceConfig, deps Deps, prepare func(Connector)) (*Registry, error) {
	reg := NewRegistry()
	var errs []error
	names := make([]string, len(table))
	for i, d := range table {
		names[i] = d.Type
	}
	for _, ic := range insts {
		i := slices.IndexFunc(table, func(d Descriptor) bool { return d.Type == ic.Type })
		if i < 0 {
			errs = append(errs, fmt.Errorf("connector %q: unknown type %q (known: %s)", ic.Name, ic.Type, strings.Join(names, ", ")))
			continue
		}
		desc := table[i]
		if ic.Block == nil {
			errs = append(errs, fmt.Errorf("connector %q: type %s needs %s %s block", ic.Name, ic.Type, article(ic.Type), ic.Type))
			continue
		}
		conn, ops, err := desc.New(ic.Name, ic.Block, deps)
		if err != nil {
			errs = append(errs, fmt.Errorf("connector %q: %w", ic.Name, err))
			continue
		}
		if prepare != nil {
			prepare(conn)
		}
		in := &Instance{
			Name:        ic.Name,
			Type:        ic.Type,
			Connector:   conn,
			Operations:  ops,
			Concurrency: ic.Concurrency,
			Timeout:     ic.Timeout,
			Simulated:   desc.Simulated,
			RateLimit:   ic.RateLimit,
			Revokes:     desc.Revokes,
			SyncedFrom:  ic.SyncedFrom,
		}
		if err := reg.Add(in); err != nil {
			errs = append(errs, err)
			continue
		}
		if deps.Log != nil {
			deps.Log.WithFields(logrus.Fields{"connector": ic.Name, "type": ic.Type}).Debug("connector built")
		}
	}
	return reg, errors.Join(errs...)
}

// article is "an" before a type name read with a leading vowel sound
// ("an ldap block"), else "a".
func article(name string) string {
	if name != "" && strings.ContainsRune("aeiol", rune(name[0])) {
		return "an"
	}
	return "a"
}
