package connectors

import (
	"fmt"
	"sort"
	"time"
)

// Type describes a kind of connector (sandbox, ldap, okta, …): the name
// config uses for it and the operations its instances support. Config
// validation checks the action catalog against it without building anything.
type Type struct {
	Name       string
	Operations []Operation
}

// RateLimit is a request budget shared by every worker process: at most
// Requests in any window of Per, Burst of them (default 1) at once. Every
// call (Lookup, Do, Verify) is one request.
type RateLimit struct {
	Requests int
	Per      time.Duration
	Burst    int
}

// Instance is one configured connector with the limits the job layer
// enforces around it.
type Instance struct {
	Name       string
	Type       string
	Connector  Connector
	Operations []Operation
	// RateLimit is zero when the system has no limit.
	RateLimit RateLimit
	// Concurrency caps calls in flight across all workers; zero means no cap.
	Concurrency int
	// Timeout bounds one call; the default is 30 s.
	Timeout time.Duration
	// Simulated is set for an instance that simulates its system
	// (connectors/sandbox): its results are not real, and every action on
	// it is recorded and shown as simulated.
	Simulated bool
	// Revokes is the type's declaration of the remote access each
	// operation revokes (Descriptor.Revokes); nil: none.
	Revokes map[Operation][]Revocation
	// SyncedFrom names the instance that is this system's source of
	// authority (a directory sync copies its state here): the planner
	// orders the source's disabling actions first. "" when none.
	SyncedFrom string
}

// Registry holds the configured connector instances by name. It is built
// once at start-up and read concurrently afterwards.
type Registry struct {
	instances map[string]*Instance
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{instances: map[string]*Instance{}} }

// Add registers an instance. Names are unique.
func (r *Registry) Add(in *Instance) error {
	if in == nil || in.Connector == nil {
		return fmt.Errorf("connector instance %q has no connector", in.Name)
	}
	if _, dup := r.instances[in.Name]; dup {
		return fmt.Errorf("connector instance %q registered twice", in.Name)
	}
	if in.Timeout <= 0 {
		in.Timeout = 30 * time.Second
	}
	r.instances[in.Name] = in
	return nil
}

// Get returns the named instance.
func (r *Registry) Get(name string) (*Instance, bool) {
	in, ok := r.instances[name]
	return in, ok
}

// Names returns the instance names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.instances))
	for n := range r.instances {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Close closes every instance that holds resources and returns the first
// error.
func (r *Registry) Close() error {
	var first error
	for _, in := range r.instances {
		if c, ok := in.Connector.(Closer); ok {
			if err := c.Close(); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}
