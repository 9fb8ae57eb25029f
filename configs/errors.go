package configs

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Error is one configuration problem.
type Error struct {
	// File is the file the problem is in ("embedded.yaml" for the embedded
	// default).
	File string
	// Line is the 1-based line of the key at fault; 0 when unknown.
	Line int
	// Key is the dotted path of the key at fault, e.g.
	// connectors.okta.rate_limit.per or rules[2].when.
	Key string
	// Msg says what is wrong. It never contains a secret's value.
	Msg string
}

// Error formats the problem as "FILE:LINE: KEY: MSG", omitting empty parts.
func (e Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		b.WriteString("line " + strconv.Itoa(e.Line) + ": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a configuration. Load, ParseService,
// ParsePolicy and LoadPolicy return *Errors when there is at least one; the
// list is sorted by file and line.
type Errors struct {
	List []Error
}

// Error returns one problem per line.
func (e *Errors) Error() string {
	lines := make([]string, len(e.List))
	for i, x := range e.List {
		lines[i] = x.Error()
	}
	return strings.Join(lines, "\n")
}

// add records a problem.
func (e *Errors) add(file string, line int, key, format string, args ...any) {
	e.List = append(e.List, Error{File: file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// merge appends other's problems.
func (e *Errors) merge(other *Errors) {
	if other != nil {
		e.List = append(e.List, other.List...)
	}
}

// err sorts and de-duplicates the list and returns it as an error, or nil
// when there are no problems (never a typed nil).
func (e *Errors) err() error {
	if e == nil || len(e.List) == 0 {
		return nil
	}
	slices.SortStableFunc(e.List, func(a, b Error) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Key, b.Key))
	})
	e.List = slices.Compact(e.List)
	return e
}
