package configs

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/internal/connspec"
	"github.com/kineticsec/kinetic/internal/hrspec"
)

// Connector types are not known here: internal/compose lists each
// connector package's descriptor and passes their connspec.Specs to Load,
// Default and ParseService. Configuration decodes a type's block into the
// Spec's NewBlock, validates it with the Spec, checks its URLs and files and
// keeps it as ConnectorInstance.Block; compose builds the instance.
// docs/connectors.md has the checklist for adding a type.

// Types are the specs a load is given: internal/compose's table (each
// connector's, HR directory source's and the HR event front end's
// descriptor) hands them to Load, Default and ParseService, so this package
// knows none of those packages.
type Types struct {
	// Connectors are the connector types (connectors.type).
	Connectors []connspec.Spec
	// Directories are the HR system types of directory.type, besides
	// file.
	Directories []hrspec.Directory
	// HR is the HR event front end's top-level block (hr:); nil: the
	// key is unknown.
	HR *hrspec.Events
}

// directoryNames returns the HR directory type names, in their order.
func (t Types) directoryNames() []string {
	names := make([]string, len(t.Directories))
	for i, d := range t.Directories {
		names[i] = d.Type
	}
	return names
}

func (t Types) findDirectory(name string) *hrspec.Directory {
	return findDirectory(t.Directories, name)
}

// findDirectory returns the directory Spec named name, or nil.
func findDirectory(types []hrspec.Directory, name string) *hrspec.Directory {
	for i := range types {
		if types[i].Type == name {
			return &types[i]
		}
	}
	return nil
}

// typeNames returns the type names of types, in their order.
func typeNames(types []connspec.Spec) []string {
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = t.Type
	}
	return names
}

// findType returns the Spec named name, or nil.
func findType(types []connspec.Spec, name string) *connspec.Spec {
	for i := range types {
		if types[i].Type == name {
			return &types[i]
		}
	}
	return nil
}

// Spec returns the Spec of ci's type, or nil when the type is not known.
func (ci *ConnectorInstance) Spec() *connspec.Spec { return ci.spec }

// Simulated reports whether ci's type simulates its system (sandbox).
func (ci *ConnectorInstance) Simulated() bool { return ci.spec != nil && ci.spec.Simulated }

// instanceOperations returns the operations ci's type supports; ok is false
// when that cannot be known (unknown type, missing or invalid block), so
// callers do not pile errors on top of the instance's own.
func instanceOperations(ci *ConnectorInstance) (ops []string, ok bool) {
	if ci == nil || ci.spec == nil || ci.Block == nil || ci.spec.Operations == nil {
		return nil, false
	}
	return ci.spec.Operations(ci.Block)
}

// describeInstance names ci's type for messages ("sandbox system okta").
func describeInstance(ci *ConnectorInstance) string {
	if ci.spec != nil && ci.spec.Describe != nil && ci.Block != nil {
		return ci.spec.Describe(ci.Block)
	}
	return ci.Type
}

// baseURL is one URL a connector instance calls, for the outbound URL
// policy.
type baseURL struct {
	// url is what URLPolicy.CheckURL checks (http or https).
	url string
	// shown, when set, replaces url's scheme-and-host form in messages.
	shown string
}

// baseURLs returns the URLs ci calls, by key below the instance (e.g.
// "okta.org_url"), for the outbound URL policy (the type's Spec.URLs).
func baseURLs(ci *ConnectorInstance) map[string]baseURL {
	if ci.spec == nil || ci.spec.URLs == nil || ci.Block == nil {
		return nil
	}
	urls := map[string]baseURL{}
	for key, u := range ci.spec.URLs(ci.Block) {
		urls[ci.Type+"."+key] = baseURL{url: u.Check, shown: u.Shown}
	}
	return urls
}

// connectorFile is a file a connector block names, by key below the
// instance, with a pointer to the field so its path can be resolved.
type connectorFile struct {
	key  string
	path *string
	// validated: the block's validation reads it (ldap.ca_file).
	validated bool
}

// connectorFiles returns the files ci's block names (the type's
// Spec.Files). Their relative paths are taken relative to the service
// file, like secret files.
func connectorFiles(ci *ConnectorInstance) []connectorFile {
	if ci.spec == nil || ci.spec.Files == nil || ci.Block == nil {
		return nil
	}
	var files []connectorFile
	for _, f := range ci.spec.Files(ci.Block) {
		files = append(files, connectorFile{key: ci.Type + "." + f.Key, path: f.Path, validated: f.Validated})
	}
	return files
}

// fieldErrors records a type block's Validate error like blockErrors, except
// that an error naming its own key below the block (*connspec.FieldError)
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
		var fe *connspec.FieldError
		if errors.As(e, &fe) && fe.Field != "" {
			d.add(path+"."+fe.Field, "%v", fe.Err)
			continue
		}
		blockErrors(d, path, e)
	}
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

// OpenFileDirectory opens the directory of type file: OpenDirectory's,
// re-read when it changes if directory.reload is set (and the
// configuration is not the embedded default). log receives reloads.
func (c *Config) OpenFileDirectory(log *logrus.Entry) (*directory.File, error) {
	ds := c.Service.Directory
	if ds.Reload > 0 && c.fsys == nil && ds.File != "" {
		return directory.OpenFile(c.resolve(ds.File), directory.FileOptions{Reload: ds.Reload.D(), Log: log})
	}
	return c.OpenDirectory()
}

func openEmbedded(fsys fs.FS, name string) (*directory.File, error) {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	return directory.Parse(name, data)
}
