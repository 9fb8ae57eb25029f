package configs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/directory/bamboohr"
	"github.com/kineticsec/kinetic/directory/hrsource"
	"github.com/kineticsec/kinetic/directory/scim"
	"github.com/kineticsec/kinetic/directory/workday"
	"github.com/kineticsec/kinetic/internal/outbound"
)

// The directory block: where HR data comes from.
//
//	directory:
//	  type: file            # file (default), bamboohr, workday or scim
//	  file: people.csv      # type file
//	  reload: 30s           # type file: re-read when it changes
//	  ttl: 15m              # HR systems: snapshot lifetime
//	  bamboohr: {…}         # exactly the block named by type
//
// Adding an HR system type (say personio): a package under directory/
// with a Config (Validate returning *hrsource.FieldError, BaseURLs) and
// New; a block on DirectorySource; a case in directoryBlocks,
// validateDirectory and OpenHRDirectory; an example and invalid cases under
// testdata/hrsources.

// DirectoryFile is the file directory type.
const DirectoryFile = "file"

// DirectoryTypes are the directory types configuration accepts.
var DirectoryTypes = []string{DirectoryFile, bamboohr.TypeName, workday.TypeName, scim.TypeName}

// directoryBlocks names the HR system blocks set on ds.
func directoryBlocks(ds *DirectorySource) []string {
	var set []string
	if ds.BambooHR != nil {
		set = append(set, bamboohr.TypeName)
	}
	if ds.Workday != nil {
		set = append(set, workday.TypeName)
	}
	if ds.SCIM != nil {
		set = append(set, scim.TypeName)
	}
	return set
}

// validateDirectory checks the directory block: its type, that only the
// type's block is set, the block itself (every problem at its own key) and,
// when the outbound allow lists parsed, the block's URLs against the
// outbound URL policy. directory.file's existence is checked by Load.
func (s *Service) validateDirectory(d *doc, outboundOK bool) {
	ds := &s.Directory
	typ := ds.Type
	if typ == "" {
		typ = DirectoryFile
	}
	for _, b := range directoryBlocks(ds) {
		if b != typ {
			d.add("directory."+b, "a %s block does not belong in a directory of type %q", b, typ)
		}
	}
	if typ == DirectoryFile {
		if ds.TTL != 0 {
			d.add("directory.ttl", "ttl is for the HR system types (%s); type file uses reload", strings.Join(DirectoryTypes[1:], ", "))
		}
		return
	}
	if !slices.Contains(DirectoryTypes, typ) {
		d.add("directory.type", "unknown directory type %q (known: %s)", ds.Type, strings.Join(DirectoryTypes, ", "))
		return
	}
	if ds.File != "" {
		d.add("directory.file", "file is for type file; type %s reads the HR system", typ)
	}
	if ds.Reload != 0 {
		d.add("directory.reload", "reload is for type file; type %s refreshes after ttl", typ)
	}
	path := "directory." + typ
	var (
		err  error
		urls map[string]string
		set  bool
	)
	switch typ {
	case bamboohr.TypeName:
		if set = ds.BambooHR != nil; set {
			err, urls = ds.BambooHR.Validate(), ds.BambooHR.BaseURLs()
		}
	case workday.TypeName:
		if set = ds.Workday != nil; set {
			err, urls = ds.Workday.Validate(), ds.Workday.BaseURLs()
		}
	case scim.TypeName:
		if set = ds.SCIM != nil; set {
			err, urls = ds.SCIM.Validate(), ds.SCIM.BaseURLs()
		}
	}
	if !set {
		d.add("directory", "type %s needs a %s: block", typ, typ)
		return
	}
	hrFieldErrors(d, path, err)
	if outboundOK {
		var targets []urlTarget
		for _, key := range slices.Sorted(maps.Keys(urls)) {
			targets = append(targets, urlTarget{path: path + "." + key, url: urls[key]})
		}
		checkURLs(d, s.Outbound, targets)
	}
}

// hrFieldErrors records an HR block's Validate error: each
// *hrsource.FieldError at its own key below path (e.g.
// directory.bamboohr.fields.email), anything else at path.
func hrFieldErrors(d *doc, path string, err error) {
	for _, e := range flatten(err) {
		var fe *hrsource.FieldError
		if errors.As(e, &fe) && fe.Field != "" {
			d.add(path+"."+fe.Field, "%v", fe.Err)
			continue
		}
		d.add(path, "%v", e)
	}
}

// flatten unwraps joined errors, however nested.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, flatten(e)...)
	}
	return out
}

// OpenHRDirectory opens the configured directory source.
//
// Type file returns a *directory.File: the bundled sample, or
// directory.file, re-read when it changes if directory.reload is set (and
// the configuration is not the embedded default). The HR system types
// return their source (*bamboohr.Source, *workday.Source, *scim.Source),
// each a directory.Directory, directory.Lister and directory.Refresher,
// calling out through an HTTP client from the outbound URL policy; their
// base URLs are checked against the policy again now (a refusal is an
// error wrapping outbound.ErrURLRefused; a host that cannot be resolved
// now is not, the client checks every connection anyway). Nothing is
// fetched: the first lookup, or Refresh, fetches. log receives reloads and
// refreshes (nil discards them).
func (c *Config) OpenHRDirectory(ctx context.Context, log *logrus.Entry) (directory.Directory, error) {
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = logrus.NewEntry(l)
	}
	log = log.WithField("component", "directory")
	ds := c.Service.Directory
	typ := ds.Type
	if typ == "" {
		typ = DirectoryFile
	}
	if typ == DirectoryFile {
		var (
			f   *directory.File
			err error
		)
		if ds.Reload > 0 && c.fsys == nil && ds.File != "" {
			f, err = directory.OpenFile(c.resolve(ds.File), directory.FileOptions{Reload: ds.Reload.D(), Log: log})
		} else {
			f, err = c.OpenDirectory()
		}
		if err != nil {
			return nil, err
		}
		return f, nil
	}

	policy, err := c.outboundPolicy()
	if err != nil {
		return nil, err
	}
	client := policy.HTTPClient(hrsource.DefaultRequestTimeout)
	var (
		src  directory.Directory
		urls map[string]string
	)
	missing := fmt.Errorf("directory: type %s needs a %s: block", typ, typ)
	switch typ {
	case bamboohr.TypeName:
		if ds.BambooHR == nil {
			return nil, missing
		}
		urls = ds.BambooHR.BaseURLs()
		src, err = newSource(bamboohr.New(*ds.BambooHR, bamboohr.Options{HTTP: client, TTL: ds.TTL.D(), Log: log}))
	case workday.TypeName:
		if ds.Workday == nil {
			return nil, missing
		}
		urls = ds.Workday.BaseURLs()
		src, err = newSource(workday.New(*ds.Workday, workday.Options{HTTP: client, TTL: ds.TTL.D(), Log: log}))
	case scim.TypeName:
		if ds.SCIM == nil {
			return nil, missing
		}
		urls = ds.SCIM.BaseURLs()
		src, err = newSource(scim.New(*ds.SCIM, scim.Options{HTTP: client, TTL: ds.TTL.D(), Log: log}))
	default:
		return nil, fmt.Errorf("directory: unknown type %q (known: %s)", ds.Type, strings.Join(DirectoryTypes, ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("directory.%s: %w", typ, err)
	}
	for _, key := range slices.Sorted(maps.Keys(urls)) {
		if err := policy.CheckURL(ctx, urls[key]); errors.Is(err, outbound.ErrURLRefused) {
			return nil, fmt.Errorf("directory.%s.%s: %w", typ, key, err)
		}
	}
	return src, nil
}

// newSource turns a typed constructor's result into a Directory, keeping a
// nil source nil.
func newSource[S directory.Directory](s S, err error) (directory.Directory, error) {
	if err != nil {
		return nil, err
	}
	return s, nil
}
