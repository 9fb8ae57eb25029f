package configs

import (
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/kineticsec/kinetic/internal/connspec"
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
// The HR system types are not known here: each package under directory/
// exports a directory.Descriptor whose hrspec.Directory the load is given
// (Types.Directories, from internal/compose/table); the load decodes the
// block with it (strict.go, into DirectorySource.Block), this file
// validates it, and internal/compose builds the source (OpenHRDirectory).
// Adding an HR system type (say personio) is its package plus one line in
// internal/compose/table, with an example and invalid cases under
// testdata/hrsources.

// DirectoryFile is the file directory type.
const DirectoryFile = "file"

// DirectoryTypes returns the directory types the load accepted: file, then
// the HR system types it was given.
func (s *Service) DirectoryTypes() []string {
	out := []string{DirectoryFile}
	for _, t := range s.dirTypes {
		out = append(out, t.Type)
	}
	return out
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
	types := s.DirectoryTypes()
	for _, b := range ds.blocks {
		if b != typ {
			d.add("directory."+b, "a %s block does not belong in a directory of type %q", b, typ)
		}
	}
	if typ == DirectoryFile {
		if ds.TTL != 0 {
			d.add("directory.ttl", "ttl is for the HR system types (%s); type file uses reload", strings.Join(types[1:], ", "))
		}
		return
	}
	spec := findDirectory(s.dirTypes, typ)
	if spec == nil {
		d.add("directory.type", "unknown directory type %q (known: %s)", ds.Type, strings.Join(types, ", "))
		return
	}
	if ds.File != "" {
		d.add("directory.file", "file is for type file; type %s reads the HR system", typ)
	}
	if ds.Reload != 0 {
		d.add("directory.reload", "reload is for type file; type %s refreshes after ttl", typ)
	}
	path := "directory." + typ
	if ds.Block == nil {
		d.add("directory", "type %s needs a %s: block", typ, typ)
		return
	}
	hrFieldErrors(d, path, spec.Validate(ds.Block))
	if outboundOK && spec.URLs != nil {
		urls := spec.URLs(ds.Block)
		var targets []urlTarget
		for _, key := range slices.Sorted(maps.Keys(urls)) {
			targets = append(targets, urlTarget{path: path + "." + key, url: urls[key]})
		}
		checkURLs(d, s.Outbound, targets)
	}
}

// hrFieldErrors records an HR block's Validate error: each
// *connspec.FieldError (hrsource's and hrconfig's) at its own key below
// path (e.g. directory.bamboohr.fields.email), anything else at path.
func hrFieldErrors(d *doc, path string, err error) {
	for _, e := range flatten(err) {
		var fe *connspec.FieldError
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
