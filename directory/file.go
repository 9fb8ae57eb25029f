package directory

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/sirupsen/logrus"
)

// File is a Directory backed by a file: a JSON array of Employee, or a
// UTF-8 CSV file with a header row. CSV columns are the Employee JSON names
// (id, email, name, username, chat_user_id, manager, hr_partner, type,
// status, department, location, country, time_zone, clearance,
// role_profiles, hr_role, equipment); role_profiles and equipment are
// ';'-separated; attributes are attr.<name> columns and accounts are
// account.<instance> columns, an empty cell meaning "none".
//
// A File is safe for concurrent use. Lookups return copies, so callers may
// modify what they get. A File opened with OpenFile and a Reload interval
// re-reads its file when it changes (see FileOptions); otherwise its data
// never changes once built.
type File struct {
	data atomic.Pointer[snapshot]

	// Reloading; path is "" for a File not read from disk.
	path  string
	every time.Duration
	now   func() time.Time
	log   *logrus.Entry

	mu      sync.Mutex // serialises reloads; guards the fields below
	checked time.Time  // when the file was last looked at
	seen    fileStamp  // the version last read, good or bad
	lastErr error      // the last reload's error, nil after a good one
}

// snapshot is one immutable version of the data.
type snapshot struct {
	emps    []Employee // sorted by ID
	byID    map[string]int
	byEmail map[string]int // lower-cased email
	byChat  map[string]int
}

// fileStamp identifies a version of a file well enough to notice a
// rewrite: modification time and size.
type fileStamp struct {
	mod  time.Time
	size int64
}

func (a fileStamp) same(b fileStamp) bool { return a.size == b.size && a.mod.Equal(b.mod) }

var (
	_ Directory = (*File)(nil)
	_ Lister    = (*File)(nil)
)

// FileOptions tune OpenFile.
type FileOptions struct {
	// Reload is how often lookups check whether the file changed (its
	// modification time or size); 0 never checks. The check is made by the
	// first lookup after the interval, which then reads the new version
	// before answering; lookups made meanwhile by other goroutines answer
	// from the previous version without waiting. A version that does not
	// parse is logged and the last good data kept; it is not read again
	// until the file changes once more.
	Reload time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// Log receives reload results; default a discarding logger.
	Log *logrus.Entry
}

// LoadFile reads a JSON (.json) or CSV (.csv) directory file. Errors name the
// file and the record (JSON: record number and line; CSV: line) at fault, and
// every problem found is reported, joined.
func LoadFile(path string) (*File, error) {
	return OpenFile(path, FileOptions{})
}

// OpenFile reads a directory file like LoadFile and, when o.Reload is set,
// keeps it current: see FileOptions.
func OpenFile(path string, o FileOptions) (*File, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		o.Log = logrus.NewEntry(l)
	}
	st, snap, err := readFile(path)
	if err != nil {
		return nil, err
	}
	f := &File{path: path, every: o.Reload, now: o.Now, log: o.Log.WithField("directory_file", path)}
	f.data.Store(snap)
	f.seen, f.checked = st, o.Now()
	return f, nil
}

// readFile stats, reads and parses path.
func readFile(path string) (fileStamp, *snapshot, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, nil, fmt.Errorf("directory: %w", err)
	}
	st := fileStamp{mod: fi.ModTime(), size: fi.Size()}
	data, err := os.ReadFile(path)
	if err != nil {
		return st, nil, fmt.Errorf("directory: %w", err)
	}
	f, err := Parse(path, data)
	if err != nil {
		return st, nil, err
	}
	return st, f.data.Load(), nil
}

// Reload re-reads the file now, whether or not it changed. When it cannot
// be read or does not parse, the last good data is kept and the error
// returned (every problem found, joined). A File not read from disk (Parse,
// NewMemory) has nothing to reload: Reload returns nil.
func (f *File) Reload() error {
	if f.path == "" {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reloadLocked(true)
}

// LastReloadError returns the error of the last reload (automatic or by
// Reload), or nil when it succeeded or none was made.
func (f *File) LastReloadError() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastErr
}

// reloadLocked reads the file when force is set or it changed since it was
// last read. f.mu is held.
func (f *File) reloadLocked(force bool) error {
	f.checked = f.now()
	if !force {
		fi, err := os.Stat(f.path)
		if err != nil {
			// Gone or unreadable: keep serving, say so once.
			if f.lastErr == nil || f.lastErr.Error() != err.Error() {
				f.log.WithError(err).Warn("directory file cannot be checked; keeping the last good data")
			}
			f.lastErr = err
			return err
		}
		if f.seen.same(fileStamp{mod: fi.ModTime(), size: fi.Size()}) {
			return f.lastErr
		}
	}
	st, snap, err := readFile(f.path)
	f.seen = st
	if err != nil {
		f.lastErr = err
		f.log.WithError(err).Error("directory file changed but cannot be loaded; keeping the last good data")
		return err
	}
	f.data.Store(snap)
	f.lastErr = nil
	f.log.WithField("employees", len(snap.emps)).Info("directory file reloaded")
	return nil
}

// current returns the data to answer from, first reloading it when the
// check interval has passed. Only one goroutine checks at a time; the
// others answer from the data they find.
func (f *File) current() *snapshot {
	if f.every > 0 && f.path != "" && f.mu.TryLock() {
		if f.now().Sub(f.checked) >= f.every {
			_ = f.reloadLocked(false)
		}
		f.mu.Unlock()
	}
	if s := f.data.Load(); s != nil {
		return s
	}
	return &snapshot{}
}

// Parse reads directory data whose format is given by name's extension
// (.json or .csv); name is also used in error messages. Records must have an
// id, email, type and status; ids, emails (case-insensitively) and chat user
// ids must be unique.
func Parse(name string, data []byte) (*File, error) {
	var (
		recs []record
		err  error
	)
	switch ext := strings.ToLower(filepath.Ext(name)); ext {
	case ".json":
		recs, err = parseJSON(name, data)
	case ".csv":
		recs, err = parseCSV(name, data)
	default:
		return nil, fmt.Errorf("directory %s: unknown format %q (want .json or .csv)", name, ext)
	}
	if err != nil {
		return nil, err
	}
	return build(name, recs)
}

// NewMemory returns a File holding emps, for tests and for sources that
// produce records themselves. It does not validate: when ids, emails or chat
// user ids repeat, the first record wins the lookup.
func NewMemory(emps []Employee) *File {
	s := newSnapshot(len(emps))
	for _, e := range emps {
		s.emps = append(s.emps, clone(e))
	}
	s.index()
	return fileOf(s)
}

func fileOf(s *snapshot) *File {
	f := &File{}
	f.data.Store(s)
	return f
}

// All returns every employee, sorted by ID.
func (f *File) All() []Employee {
	s := f.current()
	out := make([]Employee, len(s.emps))
	for i, e := range s.emps {
		out[i] = clone(e)
	}
	return out
}

// Len returns the number of employees.
func (f *File) Len() int { return len(f.current().emps) }

// ByID finds by HR employee id; a missing id is an error wrapping
// ErrNotFound.
func (f *File) ByID(_ context.Context, id string) (*Employee, error) {
	s := f.current()
	return s.get(s.byID, id, "id")
}

// ByEmail finds by email, case-insensitively; a missing email is an error
// wrapping ErrNotFound.
func (f *File) ByEmail(_ context.Context, email string) (*Employee, error) {
	s := f.current()
	return s.get(s.byEmail, emailKey(email), "email")
}

// ByChatUserID finds by chat user id; a missing id is an error wrapping
// ErrNotFound.
func (f *File) ByChatUserID(_ context.Context, id string) (*Employee, error) {
	s := f.current()
	return s.get(s.byChat, id, "chat user id")
}

// emailKey is how emails are compared: trimmed, ignoring case. A JSON file
// may keep spaces around an email; the lookup still finds it.
func emailKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

func (s *snapshot) get(idx map[string]int, key, what string) (*Employee, error) {
	i, ok := idx[key]
	if !ok || key == "" {
		return nil, fmt.Errorf("%w: %s %q", ErrNotFound, what, key)
	}
	e := clone(s.emps[i])
	return &e, nil
}

func newSnapshot(n int) *snapshot {
	return &snapshot{
		emps:    make([]Employee, 0, n),
		byID:    make(map[string]int, n),
		byEmail: make(map[string]int, n),
		byChat:  make(map[string]int, n),
	}
}

// index sorts s.emps by ID (stably, so NewMemory's "first wins" holds) and
// builds the lookup maps.
func (s *snapshot) index() {
	slices.SortStableFunc(s.emps, func(a, b Employee) int { return strings.Compare(a.ID, b.ID) })
	for i, e := range s.emps {
		putFirst(s.byID, e.ID, i)
		putFirst(s.byEmail, emailKey(e.Email), i)
		putFirst(s.byChat, e.ChatUserID, i)
	}
}

func putFirst(m map[string]int, k string, i int) {
	if k == "" {
		return
	}
	if _, ok := m[k]; !ok {
		m[k] = i
	}
}

// record is one parsed employee with where it came from.
type record struct {
	emp Employee
	pos string // "record 3 (line 40)" or "line 7"
}

// build validates recs and indexes them.
func build(name string, recs []record) (*File, error) {
	var errs []error
	fail := func(r record, format string, args ...any) {
		errs = append(errs, fmt.Errorf("directory %s: %s: %s", name, r.pos, fmt.Sprintf(format, args...)))
	}
	ids := map[string]string{}
	emails := map[string]string{}
	chats := map[string]string{}
	s := newSnapshot(len(recs))
	for _, r := range recs {
		e := r.emp
		var missing []string
		for _, fld := range []struct{ name, v string }{{"id", e.ID}, {"email", e.Email}, {"type", e.Type}, {"status", e.Status}} {
			if strings.TrimSpace(fld.v) == "" {
				missing = append(missing, fld.name)
			}
		}
		if len(missing) > 0 {
			who := e.ID
			if who == "" {
				who = e.Email
			}
			if who != "" {
				fail(r, "employee %q is missing %s", who, strings.Join(missing, ", "))
			} else {
				fail(r, "employee is missing %s", strings.Join(missing, ", "))
			}
		}
		if e.ID != "" {
			if prev, dup := ids[e.ID]; dup {
				fail(r, "duplicate id %q (first at %s)", e.ID, prev)
			} else {
				ids[e.ID] = r.pos
			}
		}
		if e.Email != "" {
			k := emailKey(e.Email)
			if prev, dup := emails[k]; dup {
				fail(r, "duplicate email %q (first at %s)", e.Email, prev)
			} else {
				emails[k] = r.pos
			}
		}
		if e.PrivateEmail != "" && !ValidAddress(e.PrivateEmail) {
			fail(r, "employee %q: private_email is not an email address (name@domain, without a display name)", e.ID)
		}
		if e.ChatUserID != "" {
			if prev, dup := chats[e.ChatUserID]; dup {
				fail(r, "duplicate chat_user_id %q (first at %s)", e.ChatUserID, prev)
			} else {
				chats[e.ChatUserID] = r.pos
			}
		}
		s.emps = append(s.emps, e)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s.index()
	return fileOf(s), nil
}

func parseJSON(name string, data []byte) ([]record, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("directory %s: %w", name, jsonErr(data, err))
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, fmt.Errorf("directory %s: want a JSON array of employees", name)
	}
	var (
		recs []record
		errs []error
	)
	for n := 1; dec.More(); n++ {
		line := lineAt(data, skipSpace(data, int(dec.InputOffset())))
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("directory %s: record %d (line %d): %w", name, n, line, jsonErr(data, err))
		}
		pos := fmt.Sprintf("record %d (line %d)", n, line)
		rd := json.NewDecoder(bytes.NewReader(raw))
		rd.DisallowUnknownFields()
		var e Employee
		if err := rd.Decode(&e); err != nil {
			errs = append(errs, fmt.Errorf("directory %s: %s: %w", name, pos, err))
			continue
		}
		recs = append(recs, record{emp: e, pos: pos})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("directory %s: %w", name, jsonErr(data, err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("directory %s: unexpected data after the array", name)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return recs, nil
}

// jsonErr adds a line number to a JSON syntax error.
func jsonErr(data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) && se.Offset > 0 && int(se.Offset) <= len(data) {
		return fmt.Errorf("line %d: %w", lineAt(data, int(se.Offset)-1), err)
	}
	return err
}

func skipSpace(data []byte, off int) int {
	for off < len(data) && strings.IndexByte(" \t\r\n,", data[off]) >= 0 {
		off++
	}
	return off
}

func lineAt(data []byte, off int) int {
	off = min(max(off, 0), len(data))
	return bytes.Count(data[:off], []byte("\n")) + 1
}

// csvColumns are the plain CSV columns, as JSON names.
var csvColumns = []string{
	"id", "email", "name", "username", "chat_user_id", "manager", "hr_partner",
	"type", "status", "department", "location", "country", "time_zone",
	"clearance", "role_profiles", "hr_role", "equipment", "private_email",
}

func parseCSV(name string, data []byte) ([]record, error) {
	data = bytes.TrimPrefix(data, []byte("\ufeff")) // spreadsheet exports add a BOM
	r := csv.NewReader(bytes.NewReader(data))
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("directory %s: empty CSV file (want a header row)", name)
	}
	if err != nil {
		return nil, fmt.Errorf("directory %s: %w", name, err)
	}
	known := map[string]bool{}
	for _, c := range csvColumns {
		known[c] = true
	}
	col := map[string]int{}
	var errs []error
	for i, h := range header {
		h = strings.TrimSpace(h)
		header[i] = h
		switch {
		case h == "":
			errs = append(errs, fmt.Errorf("directory %s: line 1: column %d has no name", name, i+1))
		case !utf8.ValidString(h):
			errs = append(errs, fmt.Errorf("directory %s: line 1: column %d's name is not UTF-8 text (save the file as UTF-8)", name, i+1))
		case known[h], strings.HasPrefix(h, "attr.") && len(h) > 5, strings.HasPrefix(h, "account.") && len(h) > 8:
			if _, dup := col[h]; dup {
				errs = append(errs, fmt.Errorf("directory %s: line 1: duplicate column %q", name, h))
			}
			col[h] = i
		default:
			errs = append(errs, fmt.Errorf("directory %s: line 1: unknown column %q (want %s, attr.<name> or account.<instance>)", name, h, strings.Join(csvColumns, ", ")))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var recs []record
	for {
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			// csv.ParseError carries the line.
			return nil, fmt.Errorf("directory %s: %w", name, err)
		}
		line, _ := r.FieldPos(0)
		pos := "line " + strconv.Itoa(line)
		if !allUTF8(row) {
			// The JSON decoder replaces such bytes; text that is not UTF-8
			// would otherwise reach the database and Slack.
			errs = append(errs, fmt.Errorf("directory %s: %s: not UTF-8 text (save the file as UTF-8)", name, pos))
			continue
		}
		get := func(c string) string {
			if i, ok := col[c]; ok {
				return strings.TrimSpace(row[i])
			}
			return ""
		}
		e := Employee{
			ID: get("id"), Email: get("email"), Name: get("name"), Username: get("username"),
			ChatUserID: get("chat_user_id"), Manager: get("manager"), HRPartner: get("hr_partner"),
			Type: get("type"), Status: get("status"), Department: get("department"),
			Location: get("location"), Country: get("country"), TimeZone: get("time_zone"),
			Clearance:    get("clearance"),
			RoleProfiles: splitList(get("role_profiles")),
			Equipment:    splitList(get("equipment")),
			PrivateEmail: get("private_email"),
		}
		if v := get("hr_role"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("directory %s: %s: hr_role %q is not true or false", name, pos, v))
			}
			e.HRRole = b
		}
		for _, h := range header {
			v := get(h)
			if v == "" {
				continue
			}
			if k, ok := strings.CutPrefix(h, "attr."); ok {
				if e.Attributes == nil {
					e.Attributes = map[string]string{}
				}
				e.Attributes[k] = v
			} else if k, ok := strings.CutPrefix(h, "account."); ok {
				if e.Accounts == nil {
					e.Accounts = map[string]string{}
				}
				e.Accounts[k] = v
			}
		}
		recs = append(recs, record{emp: e, pos: pos})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return recs, nil
}

func allUTF8(fields []string) bool {
	for _, f := range fields {
		if !utf8.ValidString(f) {
			return false
		}
	}
	return true
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ";") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// clone deep-copies e so callers cannot change the directory's data.
func clone(e Employee) Employee {
	e.RoleProfiles = slices.Clone(e.RoleProfiles)
	e.Equipment = slices.Clone(e.Equipment)
	e.Attributes = maps.Clone(e.Attributes)
	e.Accounts = maps.Clone(e.Accounts)
	return e
}
