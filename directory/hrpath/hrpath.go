// Package hrpath is the one reader of paths into HR JSON records: the
// directory sources' field mappings (directory/hrsource) and the HR event
// front end's webhook and report mappings (bot/hr) both resolve their
// configured paths here. It is a leaf (standard library only).
//
// Two modes:
//
//   - Lenient, for HR directory records (SCIM attributes are
//     case-insensitive, RFC 7643 section 2.1): a key matches exactly, then
//     case-insensitively; the whole path is first tried as one literal key
//     ("Work Email", "a.b" as a key); dots descend into objects; a SCIM
//     schema URN prefix names an extension object
//     ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
//     split at the URN's last ':'); a multi-valued attribute takes a
//     selector ("emails[primary].value" picks the element marked primary,
//     else the first; "emails[type eq \"work\"].value" the first whose type
//     is work) and without one gives its first element; alternatives
//     separated by '|' are tried in turn. "" and "-" map nothing.
//   - Exact, for HR events (a signed body's fields must be named as
//     written): dot-separated segments, each an object key matched exactly
//     or, on a list, a decimal index ("employees.0.id"); no alternatives,
//     selectors or URNs. "" maps nothing.
package hrpath

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Mode says how a path's names match a record's keys.
type Mode int

const (
	// Lenient matches keys case-insensitively and accepts '|'
	// alternatives, SCIM URN prefixes and selectors (see the package doc).
	Lenient Mode = iota
	// Exact matches keys exactly and lists by index, nothing else.
	Exact
)

// Path is a parsed path: one or more alternatives. The zero Path maps
// nothing.
type Path struct {
	alts []alt
}

// alt is one alternative.
type alt struct {
	mode  Mode
	raw   string // lenient: the whole alternative, tried first as a literal key
	urn   string // lenient: SCIM schema URN prefix, or ""
	segs  []seg
	exact []string // exact: the segments
}

type seg struct {
	name string
	// Selector on a multi-valued attribute: primary, or attr eq value.
	sel     bool
	primary bool
	attr    string
	value   string
}

// Parse parses s in mode. The empty path (and "-" when lenient) is the zero
// Path. An exact path must have no empty segment ("a..b", "a.").
func Parse(s string, mode Mode) (Path, error) {
	if mode == Exact {
		if s == "" {
			return Path{}, nil
		}
		segs := strings.Split(s, ".")
		for _, sg := range segs {
			if strings.TrimSpace(sg) == "" {
				return Path{}, fmt.Errorf("%q is not a dotted JSON path (e.g. data.userId or employees.0.id)", s)
			}
		}
		return Path{alts: []alt{{mode: Exact, raw: s, exact: segs}}}, nil
	}
	s = strings.TrimSpace(s)
	if s == "" || s == "-" {
		return Path{}, nil
	}
	var p Path
	for _, a := range strings.Split(s, "|") {
		pa, err := parseLenient(strings.TrimSpace(a))
		if err != nil {
			return Path{}, err
		}
		p.alts = append(p.alts, pa)
	}
	return p, nil
}

// IsZero reports whether p maps nothing.
func (p Path) IsZero() bool { return len(p.alts) == 0 }

// Alternatives returns p's alternatives, each a Path of its own, in order.
func (p Path) Alternatives() []Path {
	out := make([]Path, len(p.alts))
	for i, a := range p.alts {
		out[i] = Path{alts: []alt{a}}
	}
	return out
}

// Heads returns the top-level record key each alternative reads (the URN
// for a SCIM extension attribute), in order: what to ask a system for that
// returns only the fields asked for.
func (p Path) Heads() []string {
	var out []string
	for _, a := range p.alts {
		switch {
		case a.urn != "":
			out = append(out, a.urn)
		case len(a.segs) > 0:
			out = append(out, a.segs[0].name)
		case len(a.exact) > 0:
			out = append(out, a.exact[0])
		}
	}
	return out
}

// Lookup resolves p in root (decoded JSON: map[string]any, []any, scalars)
// and returns the value of the first alternative that resolves. ok is false
// when none does.
func (p Path) Lookup(root any) (v any, ok bool) {
	for _, a := range p.alts {
		if v, ok := a.get(root); ok {
			return v, true
		}
	}
	return nil, false
}

func (a alt) get(root any) (any, bool) {
	if a.mode == Exact {
		v := root
		for _, sg := range a.exact {
			switch x := v.(type) {
			case map[string]any:
				n, ok := x[sg]
				if !ok {
					return nil, false
				}
				v = n
			case []any:
				i, err := strconv.Atoi(sg)
				if err != nil || i < 0 || i >= len(x) {
					return nil, false
				}
				v = x[i]
			default:
				return nil, false
			}
		}
		return v, true
	}
	obj := asObject(root)
	if obj == nil {
		return nil, false
	}
	if a.urn == "" {
		if v, ok := member(obj, a.raw); ok {
			return v, true
		}
	}
	var cur any = obj
	if a.urn != "" {
		ext, ok := member(obj, a.urn)
		if !ok {
			return nil, false
		}
		cur = ext
	}
	for _, sg := range a.segs {
		o := asObject(cur)
		if o == nil {
			return nil, false
		}
		v, ok := member(o, sg.name)
		if !ok {
			return nil, false
		}
		if list, isList := v.([]any); isList {
			if v, ok = sg.pick(list); !ok {
				return nil, false
			}
		} else if sg.sel && !sg.primary {
			// A selector on a single value: it must match.
			if o := asObject(v); o == nil || !matches(o, sg) {
				return nil, false
			}
		}
		cur = v
	}
	return cur, true
}

func parseLenient(s string) (alt, error) {
	p := alt{mode: Lenient, raw: s}
	if s == "" {
		return p, errors.New("empty alternative in a '|' list")
	}
	rest := s
	if len(s) > 4 && strings.EqualFold(s[:4], "urn:") {
		i := strings.LastIndex(s, ":")
		p.urn, rest = s[:i], s[i+1:]
		if rest == "" {
			return p, fmt.Errorf("%q names a schema but no attribute (e.g. %s:employeeNumber)", s, p.urn)
		}
	}
	for rest != "" {
		var part string
		// Split at the next '.' outside brackets.
		depth, cut := 0, -1
		for i, c := range rest {
			switch c {
			case '[':
				depth++
			case ']':
				depth--
			case '.':
				if depth == 0 && cut < 0 {
					cut = i
				}
			}
		}
		if depth != 0 {
			return p, fmt.Errorf("%q: unbalanced brackets", s)
		}
		if cut >= 0 {
			part, rest = rest[:cut], rest[cut+1:]
			if rest == "" {
				return p, fmt.Errorf("%q ends with '.'", s)
			}
		} else {
			part, rest = rest, ""
		}
		sg, err := parseSeg(part)
		if err != nil {
			return p, fmt.Errorf("%q: %v", s, err)
		}
		p.segs = append(p.segs, sg)
	}
	return p, nil
}

func parseSeg(s string) (seg, error) {
	name, sel, hasSel := strings.Cut(s, "[")
	sg := seg{name: strings.TrimSpace(name)}
	if sg.name == "" {
		return sg, errors.New("empty attribute name")
	}
	if !hasSel {
		return sg, nil
	}
	if !strings.HasSuffix(sel, "]") || strings.ContainsAny(sel[:len(sel)-1], "[]") {
		return sg, fmt.Errorf("selector of %q must be [primary] or [attr eq \"value\"] at the end of the name", sg.name)
	}
	sel = strings.TrimSpace(sel[:len(sel)-1])
	sg.sel = true
	if strings.EqualFold(sel, "primary") {
		sg.primary = true
		return sg, nil
	}
	f := strings.Fields(sel)
	if len(f) < 3 || !strings.EqualFold(f[1], "eq") {
		return sg, fmt.Errorf("selector [%s] of %q must be [primary] or [attr eq \"value\"]", sel, sg.name)
	}
	sg.attr = f[0]
	sg.value = strings.Trim(strings.Join(f[2:], " "), `"`)
	return sg, nil
}

// asObject returns v as an object: a map[string]any or any named map type
// with that underlying type (hrsource.Record).
func asObject(v any) map[string]any {
	switch x := v.(type) {
	case map[string]any:
		return x
	case interface{ Object() map[string]any }:
		return x.Object()
	}
	return nil
}

// pick selects from a multi-valued attribute.
func (sg seg) pick(list []any) (any, bool) {
	if len(list) == 0 {
		return nil, false
	}
	if !sg.sel {
		return list[0], true
	}
	for _, e := range list {
		if o := asObject(e); o != nil && matches(o, sg) {
			return e, true
		}
	}
	if sg.primary {
		return list[0], true // none marked primary: the first
	}
	return nil, false
}

func matches(o map[string]any, sg seg) bool {
	if sg.primary {
		v, _ := member(o, "primary")
		ss := Strings(v)
		return len(ss) == 1 && strings.EqualFold(ss[0], "true")
	}
	v, _ := member(o, sg.attr)
	for _, s := range Strings(v) {
		if strings.EqualFold(s, sg.value) {
			return true
		}
	}
	return false
}

// member looks key up exactly, then case-insensitively.
func member(o map[string]any, key string) (any, bool) {
	if v, ok := o[key]; ok {
		return v, true
	}
	for k, v := range o {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// Member returns o's value for key, matched exactly, then (unless mode is
// Exact) case-insensitively.
func Member(o map[string]any, key string, mode Mode) (any, bool) {
	if mode == Exact {
		v, ok := o[key]
		return v, ok
	}
	return member(o, key)
}

// Strings renders a JSON value as strings, the lenient way (directory
// records): scalars as
// themselves (numbers in their JSON form), an object by its "value" member,
// a list element by element, null as none.
func Strings(v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return []string{x}
	case json.Number:
		return []string{x.String()}
	case float64:
		return []string{strconv.FormatFloat(x, 'f', -1, 64)}
	case bool:
		return []string{strconv.FormatBool(x)}
	case map[string]any:
		if mv, ok := member(x, "value"); ok {
			return Strings(mv)
		}
		return nil
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, Strings(e)...)
		}
		return out
	}
	return []string{fmt.Sprint(v)}
}

// Scalar renders a JSON value as one text, the exact way (HR events): a
// string trimmed, a number or boolean in its JSON form, null as "". An
// object with a "value" key and at most one other (as some BambooHR
// payloads wrap field values) is that value, unless it is itself an
// object; any other object, and a list, is an error.
func Scalar(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return strings.TrimSpace(x), nil
	case json.Number:
		return x.String(), nil
	case bool:
		return strconv.FormatBool(x), nil
	case map[string]any:
		if inner, ok := x["value"]; ok && len(x) <= 2 {
			if _, nested := inner.(map[string]any); !nested {
				return Scalar(inner)
			}
		}
		return "", errors.New("is an object, not a value")
	case []any:
		return "", errors.New("is a list, not a value")
	}
	return "", fmt.Errorf("has an unexpected type %T", v)
}
