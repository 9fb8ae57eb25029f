package configs

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/graph"
	"github.com/kineticsec/kinetic/connectors/ldap"
	"github.com/kineticsec/kinetic/connectors/okta"
	"github.com/kineticsec/kinetic/connectors/sandbox"
	"github.com/kineticsec/kinetic/connectors/webhook"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/internal/outbound"
)

// Adding a connector type (say jira; docs/connectors.md has the same list):
//
//  1. write connectors/jira (TypeName, Config with Validate, New,
//     Operations, tested with connectors/conformance); an operation that
//     is new to Kinetic goes into connectors/connectors.go and its
//     AllOperations, not the package;
//  2. give ConnectorInstance a `Jira *jira.Config `yaml:"jira"“ block and
//     add its name to ConnectorTypes;
//  3. add a case to typeBlocks, validateInstance (call the block's
//     Validate and record its error with fieldErrors, which reports each
//     problem at the key it names), instanceOperations, baseURLs (every
//     URL the connector calls, by key, so the outbound URL policy checks
//     it at load) and BuildConnectors (pass c.outboundPolicy() to every
//     connector that makes network calls);
//  4. if the block names files (keys, certificates, CA bundles), list them
//     in connectorFiles: relative paths are then taken relative to the
//     service file and a missing file is reported at load;
//  5. add an instance to kinetic.example.yaml (commented out when it needs
//     a secret or file the example's tests do not provide, with a test
//     that uncomments and loads it), testdata/invalid cases (each asserting
//     file:line:key), and a section in docs/connectors.md.

const (
	sandboxType = sandbox.TypeName
	webhookType = webhook.TypeName
	ldapType    = ldap.TypeName
	graphType   = graph.TypeName
	oktaType    = okta.TypeName
)

// ConnectorTypes are the connector types configuration accepts.
var ConnectorTypes = []string{sandboxType, webhookType, ldapType, graphType, oktaType}

// typeBlocks names the type-specific blocks set on ci.
func typeBlocks(ci *ConnectorInstance) []string {
	var set []string
	if ci.Sandbox != nil {
		set = append(set, sandboxType)
	}
	if ci.Webhook != nil {
		set = append(set, webhookType)
	}
	if ci.LDAP != nil {
		set = append(set, ldapType)
	}
	if ci.Graph != nil {
		set = append(set, graphType)
	}
	if ci.Okta != nil {
		set = append(set, oktaType)
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
	case ldapType:
		if ci.LDAP == nil {
			return nil, false
		}
		return ldap.Operations(*ci.LDAP), true
	case graphType:
		if ci.Graph == nil {
			return nil, false
		}
		return graph.Operations(), true
	case oktaType:
		if ci.Okta == nil {
			return nil, false
		}
		// remove_group_memberships only when the credentials can manage
		// groups (see okta.Operations).
		return okta.Operations(*ci.Okta), true
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

// baseURL is one URL a connector instance calls, for the outbound URL
// policy.
type baseURL struct {
	// url is what URLPolicy.CheckURL checks (http or https).
	url string
	// shown, when set, replaces url's scheme-and-host form in messages: an
	// LDAP server is checked as https://host:port/ (the policy accepts
	// only http and https and judges the host) but named as written.
	shown string
}

// baseURLs returns the URLs ci calls, by key below the instance (e.g.
// "okta.org_url"), for the outbound URL policy. Sandbox instances call
// nothing unless they name a sandbox server (sandbox.url). A URL whose
// form is wrong is left to the block's validation, so it is not reported
// twice. Graph's authority_url and graph_url are checked when they are
// written; their defaults (Microsoft's public endpoints) are not looked up
// at load, but every connection the connector makes is checked by the
// policy's HTTP client all the same.
func baseURLs(ci *ConnectorInstance) map[string]baseURL {
	switch ci.Type {
	case sandboxType:
		if ci.Sandbox != nil && ci.Sandbox.URL != "" && httpURL(ci.Sandbox.URL) {
			return map[string]baseURL{"sandbox.url": {url: ci.Sandbox.URL}}
		}
	case webhookType:
		if ci.Webhook != nil && webhook.ValidateBaseURL(ci.Webhook.BaseURL) == nil {
			return map[string]baseURL{"webhook.base_url": {url: ci.Webhook.BaseURL}}
		}
	case graphType:
		if ci.Graph == nil {
			return nil
		}
		urls := map[string]baseURL{}
		if httpURL(ci.Graph.AuthorityURL) {
			urls["graph.authority_url"] = baseURL{url: ci.Graph.AuthorityURL}
		}
		if httpURL(ci.Graph.GraphURL) {
			urls["graph.graph_url"] = baseURL{url: ci.Graph.GraphURL}
		}
		return urls
	case oktaType:
		if ci.Okta != nil && httpURL(ci.Okta.OrgURL) {
			return map[string]baseURL{"okta.org_url": {url: ci.Okta.BaseURL()}}
		}
	case ldapType:
		if ci.LDAP == nil {
			return nil
		}
		// BaseURL is "" when url does not parse (the block's validation
		// says why); otherwise https://host:port/ for the policy.
		if check := ci.LDAP.BaseURL(); check != "" {
			u, _ := url.Parse(strings.TrimSpace(ci.LDAP.URL))
			return map[string]baseURL{"ldap.url": {url: check, shown: u.Scheme + "://" + strings.TrimPrefix(check, "https://")}}
		}
	}
	return nil
}

// httpURL reports whether raw is an absolute http(s) URL with a host and
// no user info: the form the outbound policy can judge. Any other form is
// reported by the block's own validation.
func httpURL(raw string) bool {
	u, err := url.Parse(strings.TrimSpace(raw))
	return err == nil && u.Opaque == "" && u.User == nil && u.Host != "" && u.Hostname() != "" &&
		(u.Scheme == "http" || u.Scheme == "https")
}

// connectorFile is a file a connector block names, by key below the
// instance, with a pointer to the field so its path can be resolved.
type connectorFile struct {
	key  string
	path *string
}

// connectorFiles returns the files ci's block names (keys, certificates,
// CA bundles). Their relative paths are taken relative to the service
// file, like secret files.
func connectorFiles(ci *ConnectorInstance) []connectorFile {
	var files []connectorFile
	if g := ci.Graph; g != nil {
		files = append(files,
			connectorFile{"graph.certificate_file", &g.CertificateFile},
			connectorFile{"graph.private_key_file", &g.PrivateKeyFile})
	}
	if o := ci.Okta; o != nil && o.OAuth != nil {
		files = append(files, connectorFile{"okta.oauth.private_key_file", &o.OAuth.PrivateKeyFile})
	}
	if l := ci.LDAP; l != nil {
		files = append(files, connectorFile{"ldap.ca_file", &l.CAFile})
	}
	return files
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
func (c *Config) outboundPolicy() (*outbound.URLPolicy, error) {
	return outbound.NewURLPolicy(c.Service.Outbound.AllowCIDRs, c.Service.Outbound.AllowHosts)
}

// BuildConnectors constructs every configured connector instance (an
// explicit switch on type, no registration side effects), seeds in-memory
// sandbox instances from dir (when not nil; one with sandbox.url is a
// client of a sandbox server, which holds and seeds its state) and returns
// the registry. Every construction error is returned, joined; the registry
// then holds the instances that could be built.
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
			if ci.Sandbox.URL == "" {
				sc, err := sandbox.New(name, *ci.Sandbox)
				if err != nil {
					errs = append(errs, fmt.Errorf("connector %q: %w", name, err))
					continue
				}
				sc.SeedEmployees(emps)
				conn, ops = sc, sandbox.Operations(ci.Sandbox.System)
			} else {
				// The state lives in a sandbox server, which seeds it.
				policy, err := c.outboundPolicy()
				if err != nil {
					errs = append(errs, fmt.Errorf("connector %q: %w", name, err))
					continue
				}
				rc, err := sandbox.NewRemote(name, *ci.Sandbox, policy)
				if err != nil {
					errs = append(errs, fmt.Errorf("connector %q: %w", name, err))
					continue
				}
				conn, ops = rc, rc.Type().Operations
			}
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
		case ldapType:
			if ci.LDAP == nil {
				errs = append(errs, fmt.Errorf("connector %q: type ldap needs an ldap block", name))
				continue
			}
			policy, err := c.outboundPolicy()
			if err != nil {
				errs = append(errs, fmt.Errorf("connector %q: %w", name, err))
				continue
			}
			lc, err := ldap.New(name, *ci.LDAP, ldap.WithURLPolicy(policy), ldap.WithLogger(log))
			if err != nil {
				errs = append(errs, fmt.Errorf("connector %q: %w", name, err))
				continue
			}
			conn, ops = lc, lc.Type().Operations
		case graphType:
			if ci.Graph == nil {
				errs = append(errs, fmt.Errorf("connector %q: type graph needs a graph block", name))
				continue
			}
			policy, err := c.outboundPolicy()
			if err != nil {
				errs = append(errs, fmt.Errorf("connector %q: %w", name, err))
				continue
			}
			gc, err := graph.New(name, *ci.Graph, policy)
			if err != nil {
				errs = append(errs, fmt.Errorf("connector %q: %w", name, err))
				continue
			}
			conn, ops = gc, gc.Type().Operations
		case oktaType:
			if ci.Okta == nil {
				errs = append(errs, fmt.Errorf("connector %q: type okta needs an okta block", name))
				continue
			}
			policy, err := c.outboundPolicy()
			if err != nil {
				errs = append(errs, fmt.Errorf("connector %q: %w", name, err))
				continue
			}
			oc, err := okta.New(name, *ci.Okta, policy, okta.WithLogger(log))
			if err != nil {
				errs = append(errs, fmt.Errorf("connector %q: %w", name, err))
				continue
			}
			conn, ops = oc, oc.Type().Operations
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
			Simulated:   ci.Type == sandboxType,
		}
		if rl := ci.RateLimit; rl != nil {
			burst := max(rl.Burst, 1)
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
