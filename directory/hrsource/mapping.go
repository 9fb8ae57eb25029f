// Package hrsource holds what the HR system directory sources
// (directory/bamboohr, directory/workday, directory/scim) share: the
// configurable mapping from an HR record to a directory.Employee, the
// snapshot cache that serves lookups (TTL, single-flight refresh, stale
// data while the HR system is down), and the HTTP edge that classifies
// failures and keeps secrets out of errors.
package hrsource

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/directory/hrpath"
	"github.com/kineticsec/kinetic/internal/connspec"
)

// Record is one employee as the HR system returned it: decoded JSON (with
// json.Number for numbers), keyed by the system's field names.
type Record map[string]any

// String returns the value at path key (see Mapping), "" when absent.
func (r Record) String(key string) string {
	ps, err := parsePaths(key)
	if err != nil {
		return ""
	}
	return first(r, ps)
}

// Fields names, for each Employee field, where its value is in an HR
// record. A name is a path (see Mapping); "-" maps nothing, overriding the
// source's default; "" keeps the source's default.
type Fields struct {
	ID         string `yaml:"id"`
	Email      string `yaml:"email"`
	Name       string `yaml:"name"`
	Username   string `yaml:"username"`
	ChatUserID string `yaml:"chat_user_id"`
	// Manager and HRPartner hold a reference to another employee: their
	// Kinetic id, or, with Mapping.ManagerKey, the value of another field
	// (an employee number, a SCIM resource id).
	Manager    string `yaml:"manager"`
	HRPartner  string `yaml:"hr_partner"`
	Type       string `yaml:"type"`
	Status     string `yaml:"status"`
	Department string `yaml:"department"`
	Location   string `yaml:"location"`
	Country    string `yaml:"country"`
	TimeZone   string `yaml:"time_zone"`
	Clearance  string `yaml:"clearance"`
	// RoleProfiles reads a list, or a string split at ';' and ','.
	RoleProfiles string `yaml:"role_profiles"`
	// HRRole reads true/yes/1 (any case) as true.
	HRRole string `yaml:"hr_role"`
	// PrivateEmail is the person's own (personal, home) address, where
	// the instructions for returning their devices go.
	PrivateEmail string `yaml:"private_email"`
}

// FieldNames are the Employee fields a mapping may fill, by their JSON
// (and YAML) names, in Employee order.
var FieldNames = []string{
	"id", "email", "name", "username", "chat_user_id", "manager", "hr_partner",
	"type", "status", "department", "location", "country", "time_zone",
	"clearance", "role_profiles", "hr_role", "private_email",
}

// ptrs returns f's fields in FieldNames order.
func (f *Fields) ptrs() []*string {
	return []*string{
		&f.ID, &f.Email, &f.Name, &f.Username, &f.ChatUserID, &f.Manager, &f.HRPartner,
		&f.Type, &f.Status, &f.Department, &f.Location, &f.Country, &f.TimeZone,
		&f.Clearance, &f.RoleProfiles, &f.HRRole, &f.PrivateEmail,
	}
}

// Mapping turns HR records into Employees. Each source type applies its own
// defaults (WithDefaults) under what configuration sets.
//
// Paths are hrpath's lenient paths: a plain name is looked up as a key of
// the record (exactly, then case-insensitively: SCIM attribute names are case-insensitive, RFC 7643
// section 2.1). Dots descend into objects ("name.formatted",
// "manager.value"); a SCIM schema URN prefix names an extension object
// ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
// split at the URN's last ':'). A multi-valued attribute takes a selector:
// "emails[primary].value" picks the element marked primary (else the
// first), "emails[type eq \"work\"].value" the first whose type is work;
// without a selector the first element is used. An object where a value is
// wanted gives its "value" member. Alternatives separated by '|' are tried
// in turn until one is not empty ("displayName|name.formatted").
type Mapping struct {
	// Fields names each Employee field's source; see Fields.
	Fields Fields `yaml:"fields"`
	// ManagerKey, when set, is the path of the field that manager and
	// hr_partner values refer to: the manager value is looked up among all
	// records' ManagerKey values and replaced by that record's id. Set it
	// when the HR system names a manager by something other than the field
	// mapped to id (BambooHR's supervisorEId is the supervisor's employee
	// number; SCIM's manager.value is the manager's SCIM resource id, not
	// their employee number). "" (or "-") means manager values already are
	// employee ids. A reference that matches nobody is dropped and counted
	// in the refresh log.
	ManagerKey string `yaml:"manager_key"`
	// Attributes are extra HR attributes for Employee.Attributes, by
	// attribute name (what the policy sees) → path, e.g.
	// {cost_center: customCostCenter}. "-" removes a default attribute.
	Attributes map[string]string `yaml:"attributes"`
	// Values translate source values, per Employee field, e.g.
	// {type: {Full-Time: employee, Contractor: contractor},
	//  status: {Active: active, Inactive: inactive}}. Source values match
	// case-insensitively; a value with no entry is kept as it is (so an
	// unmapped status such as "On Leave" is not "active"). Each source type
	// has defaults; entries here add to and override them.
	Values map[string]map[string]string `yaml:"values"`
	// DefaultType is the type of a record whose type is empty or unmapped
	// ("-"); default "employee".
	DefaultType string `yaml:"default_type"`
}

// DefaultType is Mapping.DefaultType's default.
const DefaultType = directory.TypeEmployee

// FieldError is one configuration problem at Field, the key below the
// source's block (e.g. "fields.email", "values.type"), so configuration
// loading can report file, line and key.
//
// It is connspec.FieldError, so configuration loading reports connector
// and HR blocks alike without importing this package.
type FieldError = connspec.FieldError

// Errorf returns a *FieldError.
func Errorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// WithDefaults returns m with def filling whatever m leaves unset: every
// empty field path, ManagerKey and DefaultType; def's attributes and value
// entries m does not set. "-" in m disables the default.
func (m Mapping) WithDefaults(def Mapping) Mapping {
	out := m
	dp, op := def.Fields.ptrs(), out.Fields.ptrs()
	for i := range op {
		if *op[i] == "" {
			*op[i] = *dp[i]
		}
	}
	if out.ManagerKey == "" {
		out.ManagerKey = def.ManagerKey
	}
	if out.DefaultType == "" {
		out.DefaultType = def.DefaultType
	}
	out.Attributes = map[string]string{}
	for k, v := range def.Attributes {
		out.Attributes[k] = v
	}
	for k, v := range m.Attributes {
		out.Attributes[k] = v
	}
	// Value maps keep their keys as written (so errors can name them);
	// an entry of m replaces a default entry that matches it
	// case-insensitively.
	out.Values = map[string]map[string]string{}
	for f, vm := range def.Values {
		out.Values[f] = maps.Clone(vm)
	}
	for f, vm := range m.Values {
		if out.Values[f] == nil {
			out.Values[f] = map[string]string{}
		}
		for k, v := range vm {
			for dk := range out.Values[f] {
				if strings.EqualFold(dk, k) {
					delete(out.Values[f], dk)
				}
			}
			out.Values[f][k] = v
		}
	}
	return out
}

// Validate checks m as written, without defaults: path syntax, attribute
// names and value-map keys. Every problem is a *FieldError; they are
// joined. Sources validate m.WithDefaults(theirs).Compile() instead, which
// also checks that id, email and status end up mapped.
func (m Mapping) Validate() error {
	_, err := m.compile(false)
	return err
}

// Mapper is a compiled Mapping.
type Mapper struct {
	fields      [][]path // FieldNames order; nil when not mapped
	managerKey  []path
	attrs       map[string][]path
	values      map[string]map[string]string // lower-cased source value → value
	defaultType string
}

// Compile compiles m, which must already have its defaults (WithDefaults).
// It also requires id, email and status to be mapped: without them lookups
// and offboarding decisions cannot work.
func (m Mapping) Compile() (*Mapper, error) { return m.compile(true) }

func (m Mapping) compile(final bool) (*Mapper, error) {
	var errs []error
	mp := &Mapper{attrs: map[string][]path{}, values: map[string]map[string]string{}, defaultType: m.DefaultType}
	f := m.Fields
	for i, p := range f.ptrs() {
		name := FieldNames[i]
		ps, err := parsePaths(*p)
		if err != nil {
			errs = append(errs, Errorf("fields."+name, "%v", err))
			continue
		}
		mp.fields = append(mp.fields, ps)
		if final && ps == nil && (name == "id" || name == "email" || name == "status") {
			errs = append(errs, Errorf("fields."+name, "the %s field must be mapped (name the HR field that holds it)", name))
		}
	}
	if ps, err := parsePaths(m.ManagerKey); err != nil {
		errs = append(errs, Errorf("manager_key", "%v", err))
	} else {
		mp.managerKey = ps
	}
	for _, name := range slices.Sorted(maps.Keys(m.Attributes)) {
		if strings.TrimSpace(name) == "" {
			errs = append(errs, Errorf("attributes", "an attribute needs a name"))
			continue
		}
		ps, err := parsePaths(m.Attributes[name])
		if err != nil {
			errs = append(errs, Errorf("attributes."+name, "%v", err))
			continue
		}
		if ps != nil {
			mp.attrs[name] = ps
		}
	}
	for _, field := range slices.Sorted(maps.Keys(m.Values)) {
		if !slices.Contains(FieldNames, field) {
			errs = append(errs, Errorf("values."+field, "unknown field %q (want one of %s)", field, strings.Join(FieldNames, ", ")))
			continue
		}
		vm := map[string]string{}
		for _, k := range slices.Sorted(maps.Keys(m.Values[field])) {
			v := m.Values[field][k]
			if (field == "type" || field == "status" || field == "id") && strings.TrimSpace(v) == "" {
				errs = append(errs, Errorf("values."+field+"."+k, "maps to an empty %s", field))
			}
			vm[strings.ToLower(strings.TrimSpace(k))] = v
		}
		mp.values[field] = vm
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if mp.defaultType == "" {
		mp.defaultType = DefaultType
	}
	return mp, nil
}

// SourceFields returns the top-level record keys the mapping reads (for
// systems that return only the fields asked for, like BambooHR's custom
// report), sorted and de-duplicated.
func (mp *Mapper) SourceFields() []string {
	var out []string
	add := func(ps []path) {
		for _, p := range ps {
			out = append(out, p.Heads()...)
		}
	}
	for _, ps := range mp.fields {
		add(ps)
	}
	add(mp.managerKey)
	for _, ps := range mp.attrs {
		add(ps)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Report counts what Map could not use, for the refresh log. It holds no
// personal data beyond employee ids.
type Report struct {
	// NoID counts records whose id was empty (skipped).
	NoID int
	// DuplicateIDs lists ids seen more than once (the first record wins).
	DuplicateIDs []string
	// UnresolvedManagers counts manager and hr_partner references that
	// matched no record's manager key (left empty).
	UnresolvedManagers int
}

// Map turns records into Employees, in record order. Records without an id
// are skipped; of records sharing an id the first wins. See Report.
func (mp *Mapper) Map(recs []Record) ([]directory.Employee, Report) {
	var rep Report
	emps := make([]directory.Employee, 0, len(recs))
	seen := map[string]bool{}
	byKey := map[string]string{} // manager key value → id
	type refs struct{ manager, partner string }
	raw := make([]refs, 0, len(recs))
	for _, r := range recs {
		e := directory.Employee{ID: mp.str(r, 0)}
		if e.ID == "" {
			rep.NoID++
			continue
		}
		if seen[e.ID] {
			rep.DuplicateIDs = append(rep.DuplicateIDs, e.ID)
			continue
		}
		seen[e.ID] = true
		e.Email = mp.str(r, 1)
		e.Name = mp.str(r, 2)
		e.Username = mp.str(r, 3)
		e.ChatUserID = mp.str(r, 4)
		ref := refs{manager: mp.str(r, 5), partner: mp.str(r, 6)}
		e.Type = mp.str(r, 7)
		if e.Type == "" {
			e.Type = mp.defaultType
		}
		e.Status = mp.str(r, 8)
		e.Department = mp.str(r, 9)
		e.Location = mp.str(r, 10)
		e.Country = mp.str(r, 11)
		e.TimeZone = mp.str(r, 12)
		e.Clearance = mp.str(r, 13)
		e.RoleProfiles = mp.list(r, 14)
		switch strings.ToLower(mp.str(r, 15)) {
		case "true", "yes", "y", "1":
			e.HRRole = true
		}
		e.PrivateEmail = mp.str(r, 16)
		for name, ps := range mp.attrs {
			if v := first(r, ps); v != "" {
				if e.Attributes == nil {
					e.Attributes = map[string]string{}
				}
				e.Attributes[name] = v
			}
		}
		if mp.managerKey != nil {
			if k := first(r, mp.managerKey); k != "" {
				if _, dup := byKey[k]; !dup {
					byKey[k] = e.ID
				}
			}
		}
		emps = append(emps, e)
		raw = append(raw, ref)
	}
	resolve := func(v string) string {
		if v == "" || mp.managerKey == nil {
			return v
		}
		id, ok := byKey[v]
		if !ok {
			rep.UnresolvedManagers++
		}
		return id
	}
	for i := range emps {
		emps[i].Manager = resolve(raw[i].manager)
		emps[i].HRPartner = resolve(raw[i].partner)
	}
	return emps, rep
}

// str returns field i's value, translated by its value map.
func (mp *Mapper) str(r Record, i int) string {
	v := first(r, mp.fields[i])
	if v == "" {
		return ""
	}
	return mp.translate(FieldNames[i], v)
}

func (mp *Mapper) translate(field, v string) string {
	if to, ok := mp.values[field][strings.ToLower(v)]; ok {
		return to
	}
	return v
}

// list returns field i's values: every element of a list, or a string
// split at ';' and ','.
func (mp *Mapper) list(r Record, i int) []string {
	var out []string
	for _, p := range mp.fields[i] {
		for _, s := range strs(get(r, p)) {
			for _, part := range strings.FieldsFunc(s, func(c rune) bool { return c == ';' || c == ',' }) {
				if part = strings.TrimSpace(part); part != "" {
					out = append(out, mp.translate(FieldNames[i], part))
				}
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	return nil
}

// first returns the first non-empty value of the alternatives.
func first(r Record, ps []path) string {
	for _, p := range ps {
		for _, s := range strs(get(r, p)) {
			if s = strings.TrimSpace(s); s != "" {
				return s
			}
		}
	}
	return ""
}

// strs renders a JSON value as strings (hrpath.Strings): scalars as
// themselves, an object by its "value" member, a list element by element.
func strs(v any) []string { return hrpath.Strings(v) }

// path is one parsed mapping: alternatives (hrpath.Lenient).
type path = hrpath.Path

// parsePaths parses a mapping's path; "" and "-" give nil.
func parsePaths(s string) ([]path, error) {
	p, err := hrpath.Parse(s, hrpath.Lenient)
	if err != nil || p.IsZero() {
		return nil, err
	}
	return p.Alternatives(), nil
}

// get resolves one alternative in r (nil when absent).
func get(r Record, p path) any {
	v, _ := p.Lookup(r)
	return v
}

// Object returns r as a plain map, for hrpath.
func (r Record) Object() map[string]any { return r }
