package configs

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/sandbox"
	"github.com/kineticsec/kinetic/connectors/webhook"
	"github.com/kineticsec/kinetic/directory"
)

// Adding a connector type (say okta):
//
//  1. give ConnectorInstance an `Okta *okta.Config `yaml:"okta"“ block;
//  2. add its name to ConnectorTypes;
//  3. add a case to typeBlocks, validateInstance (call the block's
//     Validate; report errors that name their own key, like webhook's
//     *FieldError, with fieldErrors), instanceOperations, baseURLs (so the
//     outbound URL policy checks it) and BuildConnectors (pass
//     c.outboundPolicy() to a connector that makes HTTP calls);
//  4. add an instance to kinetic.example.yaml (commented out when it needs
//     a secret the example's tests do not set) and a testdata/invalid case.

const (
	sandboxType = sandbox.TypeName
	webhookType = webhook.TypeName
)

// ConnectorTypes are the connector types configuration accepts.
var ConnectorTypes = []string{sandboxType, webhookType}

// typeBlocks names the type-specific blocks set on ci.
func typeBlocks(ci *ConnectorInstance) []string {
	var set []string
	if ci.Sandbox != nil {
		set = append(set, sandboxType)
	}
	if ci.Webhook != nil {
		set = append(set, webhookType)
	}
	return set
}

// instanceOperations returns the operations ci's type supports; ok is false
// when that cannot be known (unknown type, missing or invalid block), so
// callers do not pile errors on top of the instance's own.
func instanceOperations(ci *ConnectorInstance) (ops []connectors.Operation, ok bool) {
	if ci == nil {
		return nil, false
	}
	switch ci.Type {
	case sandboxType:
		if ci.Sandbox == nil {
			return nil, false
		}
		ops = sandbox.Operations(ci.Sandbox.System)
		return ops, ops != nil
	case webhookType:
		if ci.Webhook == nil {
			return nil, false
		}
		// Exactly the configured operations (an unknown key is reported
		// by the block's own validation).
		return ci.Webhook.OperationList(), true
	}
	return nil, false
}

// describeInstance names ci's type for messages ("sandbox system okta").
func describeInstance(ci *ConnectorInstance) string {
	if ci.Type == sandboxType && ci.Sandbox != nil {
		return "sandbox system " + ci.Sandbox.System
	}
	return ci.Type
}

// baseURLs returns the base URLs ci calls, by key below the instance (e.g.
// "okta.base_url"), for the outbound URL policy. Sandbox instances call
// nothing. A URL whose form is wrong is left to the block's validation, so
// it is not reported twice.
func baseURLs(ci *ConnectorInstance) map[string]string {
	switch ci.Type {
	case sandboxType:
		return nil
	case webhookType:
		if ci.Webhook != nil && webhook.ValidateBaseURL(ci.Webhook.BaseURL) == nil {
			return map[string]string{"webhook.base_url": ci.Webhook.BaseURL}
		}
	}
	return nil
}

// fieldErrors records a type block's Validate error like blockErrors, except
// that an error naming its own key below the block (webhook's *FieldError)
// is reported at that key, e.g.
// connectors.badges.webhook.operations.deactivate_badge.path.
func fieldErrors(d *doc, path string, err error) {
	if err == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var fe *webhook.FieldError
		if errors.As(e, &fe) && fe.Field != "" {
			d.add(path+"."+fe.Field, "%v", fe.Err)
			continue
		}
		blockErrors(d, path, e)
	}
}

// outboundPolicy returns the outbound URL policy from outbound.allow_cidrs
// and outbound.allow_hosts, for connectors that make HTTP calls.
func (c *Config) outboundPolicy() (*connectors.URLPolicy, error) {
	return connectors.NewURLPolicy(c.Service.Outbound.AllowCIDRs, c.Service.Outbound.AllowHosts)
}

// BuildConnectors constructs every configured connector instance (an
// explicit switch on type, no registration side effects), seeds sandbox
// instances from dir (when not nil) and returns the registry. Every
// construction error is returned, joined; the registry then holds the
// instances that could be built.
func (c *Config) BuildConnectors(dir *directory.File, log *logrus.Entry) (*connectors.Registry, error) {
	reg := connectors.NewRegistry()
	var errs []error
	var emps []directory.Employee
	if dir != nil {
		emps = dir.All()
	}
	for _, name := range sortedKeys(c.Service.Connectors) {
		ci := c.Service.Connectors[name]
		if ci == nil {
			errs = append(errs, fmt.Errorf("connector %q: empty configuration", name))
			continue
		}
		var (
			conn connectors.Connector
			ops  []connectors.Operation
		)
		switch ci.Type {
		case sandboxType:
			if ci.Sandbox == nil {
				errs = append(errs, fmt.Errorf("connector %q: type sandbox needs a sandbox block", name))
				continue
			}
			sc, err := sandbox.New(name, *ci.Sandbox)
			if err != nil {
				errs = append(errs, fmt.Errorf("connector %q: %w", name, err))
				continue
			}
			sc.SeedEmployees(emps)
			conn, ops = sc, sandbox.Operations(ci.Sandbox.System)
		case webhookType:
			if ci.Webhook == nil {
				errs = append(errs, fmt.Errorf("connector %q: type webhook needs a webhook block", name))
				continue
			}
			policy, err := c.outboundPolicy()
			if err != nil {
				errs = append(errs, fmt.Errorf("connector %q: %w", name, err))
				continue
			}
			wc, err := webhook.New(name, *ci.Webhook, policy)
			if err != nil {
				errs = append(errs, fmt.Errorf("connector %q: %w", name, err))
				continue
			}
			conn, ops = wc, wc.Operations()
		default:
			errs = append(errs, fmt.Errorf("connector %q: unknown type %q (known: %s)", name, ci.Type, strings.Join(ConnectorTypes, ", ")))
			continue
		}
		in := &connectors.Instance{
			Name:        name,
			Type:        ci.Type,
			Connector:   conn,
			Operations:  ops,
			Concurrency: ci.Concurrency,
			Timeout:     ci.Timeout.D(),
		}
		if rl := ci.RateLimit; rl != nil {
			burst := rl.Burst
			if burst == 0 {
				burst = rl.Requests
			}
			in.RateLimit = connectors.RateLimit{Requests: rl.Requests, Per: rl.Per.D(), Burst: burst}
		}
		if err := reg.Add(in); err != nil {
			errs = append(errs, err)
			continue
		}
		if log != nil {
			log.WithFields(logrus.Fields{"connector": name, "type": ci.Type}).Debug("connector built")
		}
	}
	return reg, errors.Join(errs...)
}

// OpenDirectory loads the configured HR directory: directory.file relative
// to the service file, or the bundled sample directory when it is not set
// (and always for Default(), whose files are embedded).
func (c *Config) OpenDirectory() (*directory.File, error) {
	name := c.Service.Directory.File
	switch {
	case c.fsys != nil && name != "":
		return openEmbedded(c.fsys, name)
	case name == "":
		return openEmbedded(embeddedFS, embeddedDirectoryName)
	}
	return directory.LoadFile(c.resolve(name))
}

func openEmbedded(fsys fs.FS, name string) (*directory.File, error) {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	return directory.Parse(name, data)
}
