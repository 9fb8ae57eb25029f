package store

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
)

// Entry is what callers supply; Seq, PrevHash, Hash and (if zero) Time are
// filled in.
type Entry struct {
	Time     time.Time
	CaseID   int64
	ActionID int64
	Actor    string
	System   string
	Event    string
	Result   string
	Detail   string
}

// Errors from the audit functions, for errors.Is.
var (
	// ErrNoAuditHead means the audit_heads row is missing: the database
	// was not migrated, or the row was deleted.
	ErrNoAuditHead = errors.New("audit head row missing (run migrate)")
	// ErrInvalidEntry means an Entry cannot be appended (no event name, or
	// a field longer than its column).
	ErrInvalidEntry = errors.New("invalid audit entry")
	// ErrNoAuditEvents means a case has no audit events to export.
	ErrNoAuditEvents = errors.New("no audit events")
	// ErrUnknownFormat means ExportAudit was asked for a format other than
	// json or csv.
	ErrUnknownFormat = errors.New("unknown audit export format")
)

// auditTimeFormat is the canonical time encoding: UTC, RFC 3339, exactly
// six fractional digits.
const auditTimeFormat = "2006-01-02T15:04:05.000000Z07:00"

// auditHashDomain opens every hashed encoding, so the encoding can change
// later without ambiguity.
const auditHashDomain = "kinetic.audit.v1"

// auditBatch is how many events VerifyAudit and ExportAudit read at a time.
const auditBatch = 1000

// Column limits of AuditEvent's sized fields, in characters.
var auditLimits = []struct {
	name  string
	get   func(*AuditEvent) string
	limit int
}{
	{"actor", func(e *AuditEvent) string { return e.Actor }, 256},
	{"system", func(e *AuditEvent) string { return e.System }, 128},
	{"event", func(e *AuditEvent) string { return e.Event }, 64},
	{"result", func(e *AuditEvent) string { return e.Result }, 64},
}

// AppendAudit appends entries to the chain inside the caller's transaction
// tx, so a state change and its audit events commit together; if tx is not
// in a transaction AppendAudit opens one. It returns the stored events. The
// engine stages its events with StageAudit instead, which on PostgreSQL
// does not hold the head's lock until commit.
//
// Appends serialise on the audit_heads row: the first statement is
// `UPDATE audit_heads SET seq = seq WHERE id = 1`, which takes that row's
// lock on PostgreSQL and the write lock on SQLite; then it reads the head,
// chains and inserts the events, and moves the head. The lock is held until
// tx ends, so keep transactions that append audit events short.
//
// Each event's Time is the entry's (now if zero), in UTC truncated to
// microseconds. Text fields are stored as valid UTF-8 without NUL bytes
// (others are replaced by U+FFFD, which PostgreSQL would otherwise refuse).
// An entry without an Event, or with a field longer than its column, fails
// with ErrInvalidEntry.
func AppendAudit(tx *gorm.DB, entries ...Entry) ([]AuditEvent, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	events, err := auditEvents(entries)
	if err != nil {
		return nil, err
	}
	db := tx.Session(&gorm.Session{NewDB: true})
	if _, inTx := db.Statement.ConnPool.(gorm.TxCommitter); !inTx {
		err := db.Transaction(func(tx *gorm.DB) error { return appendAudit(tx, events) })
		if err != nil {
			return nil, err
		}
		return events, nil
	}
	if err := appendAudit(db, events); err != nil {
		return nil, err
	}
	return events, nil
}

// auditEvents checks and normalises entries into unchained events (Seq,
// PrevHash and Hash unset); see AppendAudit.
func auditEvents(entries []Entry) ([]AuditEvent, error) {
	events := make([]AuditEvent, len(entries))
	stamp := utcNow()
	for i, en := range entries {
		t := stamp
		if !en.Time.IsZero() {
			t = normTime(en.Time)
		}
		e := AuditEvent{
			Time:     t,
			CaseID:   en.CaseID,
			ActionID: en.ActionID,
			Actor:    auditText(en.Actor),
			System:   auditText(en.System),
			Event:    auditText(en.Event),
			Result:   auditText(en.Result),
			Detail:   auditText(en.Detail),
		}
		if e.Event == "" {
			return nil, fmt.Errorf("store: append audit: entry %d: %w: event is empty", i, ErrInvalidEntry)
		}
		for _, l := range auditLimits {
			if n := utf8.RuneCountInString(l.get(&e)); n > l.limit {
				return nil, fmt.Errorf("store: append audit: entry %d: %w: %s is %d characters, limit %d", i, ErrInvalidEntry, l.name, n, l.limit)
			}
		}
		events[i] = e
	}
	return events, nil
}

// appendAudit chains and stores events (Seq, PrevHash and Hash unset) in
// transaction tx.
func appendAudit(tx *gorm.DB, events []AuditEvent) error {
	// Lock and read the head in one statement (the row lock on PostgreSQL,
	// the write lock on SQLite); it is held until commit, so callers append
	// last in their transaction.
	var heads []AuditHead
	if err := tx.Raw("UPDATE audit_heads SET seq = seq WHERE id = 1 RETURNING id, seq, hash").Scan(&heads).Error; err != nil {
		return fmt.Errorf("store: append audit: lock head: %w", err)
	}
	if len(heads) != 1 {
		return fmt.Errorf("store: append audit: %w", ErrNoAuditHead)
	}
	head := heads[0]
	seq, prev := head.Seq, head.Hash
	for i := range events {
		seq++
		events[i].Seq = seq
		events[i].PrevHash = prev
		events[i].Hash = HashEvent(&events[i])
		prev = events[i].Hash
	}
	if err := tx.CreateInBatches(events, 500).Error; err != nil {
		return fmt.Errorf("store: append audit: insert: %w", err)
	}
	if err := tx.Exec("UPDATE audit_heads SET seq = ?, hash = ? WHERE id = 1", seq, prev).Error; err != nil {
		return fmt.Errorf("store: append audit: move head: %w", err)
	}
	return nil
}

// checkPending records in r the events still pending after a walk, and
// fails r when the oldest waited longer than PendingBound.
func (s *Store) checkPending(ctx context.Context, r *VerifyReport, fail func(int64, string)) error {
	n, oldest, err := s.PendingAudit(ctx)
	if err != nil {
		return fmt.Errorf("store: verify audit: %w", err)
	}
	if n == 0 {
		return nil
	}
	r.Pending, r.PendingSince = n, &oldest
	if age := time.Since(oldest); age > PendingBound {
		fail(0, fmt.Sprintf("%d audit events committed but not chained, the oldest from %s (%s ago, more than %s): no chainer ran",
			n, oldest.UTC().Format(time.RFC3339), age.Round(time.Second), PendingBound))
	}
	return nil
}

// auditText makes s storable as text on both dialects.
func auditText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// HashEvent computes the SHA-256 (hex) of the canonical encoding of every
// field but Hash. The encoding is a sequence of netstrings —
// "<byte length>:<bytes>," — of, in order: "kinetic.audit.v1", seq
// (decimal), time (UTC, RFC 3339 with exactly six fractional digits, e.g.
// 2024-05-01T09:30:00.123456Z), case id, action id (decimal), actor,
// system, event, result, detail, prev hash. The length prefixes mean no
// field's content can be shifted into its neighbour.
func HashEvent(e *AuditEvent) string {
	buf := make([]byte, 0, 256+len(e.Detail))
	field := func(s string) {
		buf = strconv.AppendInt(buf, int64(len(s)), 10)
		buf = append(buf, ':')
		buf = append(buf, s...)
		buf = append(buf, ',')
	}
	field(auditHashDomain)
	field(strconv.FormatInt(e.Seq, 10))
	field(e.Time.UTC().Format(auditTimeFormat))
	field(strconv.FormatInt(e.CaseID, 10))
	field(strconv.FormatInt(e.ActionID, 10))
	field(e.Actor)
	field(e.System)
	field(e.Event)
	field(e.Result)
	field(e.Detail)
	field(e.PrevHash)
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:])
}

// VerifyReport is the outcome of VerifyAudit.
type VerifyReport struct {
	// Events is how many events the chain holds.
	Events int64 `json:"events"`
	// HeadSeq and HeadHash are the audit head's.
	HeadSeq  int64  `json:"head_seq"`
	HeadHash string `json:"head_hash"`
	// OK is true when the chain is intact.
	OK bool `json:"ok"`
	// FirstBad is the seq of the first broken (or missing) event; 0 if
	// none, or when the problem is the head row itself.
	FirstBad int64 `json:"first_bad,omitempty"`
	// Problem says what is wrong with the first broken event, e.g.
	// "event 17: hash does not match its contents (edited)".
	Problem string `json:"problem,omitempty"`
	// Pending is how many events were committed but not yet chained when
	// the walk ended (PostgreSQL; see StageAudit), and PendingSince the
	// time of the oldest. Events pending longer than PendingBound make the
	// report fail: no chainer is running.
	Pending      int64      `json:"pending,omitempty"`
	PendingSince *time.Time `json:"pending_since,omitempty"`
}

// VerifyAudit walks the whole chain in seq order, a batch of 1000 at a
// time, checking that seqs run contiguously from 1, that each event's
// prev_hash is the previous event's hash, that each hash matches its event's
// contents, and that the chain ends where the audit head says. It reports
// the first problem; the error is for failures to read. Appends may go on
// meanwhile: events appended during the walk are verified too.
//
// It first chains the events pending (PostgreSQL, see StageAudit; best
// effort, so a read-only role can verify too), and reports in Pending the
// events still pending at the end; any pending longer than PendingBound
// fails the report.
//
// The head lives in the same database, so someone who can rewrite the whole
// chain and the head can forge a consistent chain; record HeadSeq and
// HeadHash elsewhere to detect that.
func (s *Store) VerifyAudit(ctx context.Context) (VerifyReport, error) {
	db := s.db.WithContext(ctx)
	r := VerifyReport{OK: true}
	s.chainForRead(ctx)
	fail := func(seq int64, problem string) {
		if r.OK {
			r.OK, r.FirstBad, r.Problem = false, seq, problem
		}
	}
	var (
		last int64 // seq of the last event read
		// after is the next query's lower bound: the smallest int64 at
		// first, so that a row inserted with seq 0 or below is read (and
		// reported) rather than skipped.
		after    = int64(math.MinInt64)
		prevHash = GenesisHash
		recheck  bool
		batch    []AuditEvent
	)
	for {
		batch = batch[:0]
		if err := db.Where("seq > ?", after).Order("seq").Limit(auditBatch).Find(&batch).Error; err != nil {
			return r, fmt.Errorf("store: verify audit: %w", err)
		}
		if len(batch) == 0 {
			var heads []AuditHead
			if err := db.Where("id = 1").Limit(1).Find(&heads).Error; err != nil {
				return r, fmt.Errorf("store: verify audit: read head: %w", err)
			}
			if len(heads) == 0 {
				fail(0, "the audit head row is missing")
				return r, nil
			}
			head := heads[0]
			if head.Seq > last && !recheck {
				// Events read so far committed before the head was read, but
				// the head may have moved since the last query: look again.
				recheck = true
				continue
			}
			r.HeadSeq, r.HeadHash = head.Seq, head.Hash
			switch {
			case head.Seq > last:
				fail(last+1, fmt.Sprintf("chain ends at %d but head says %d (truncated)", last, head.Seq))
			case head.Seq < last:
				fail(head.Seq+1, fmt.Sprintf("chain continues to %d past the head at %d (inserted after the head)", last, head.Seq))
			case head.Hash != prevHash:
				fail(last, fmt.Sprintf("event %d: hash does not match the head's (replaced)", last))
			}
			return r, s.checkPending(ctx, &r, fail)
		}
		recheck = false
		for i := range batch {
			e := &batch[i]
			r.Events++
			if r.OK {
				want := last + 1
				switch {
				case e.Seq != want:
					fail(want, fmt.Sprintf("event %d: expected seq %d, found %d (deleted or inserted)", want, want, e.Seq))
				case e.PrevHash != prevHash:
					fail(e.Seq, fmt.Sprintf("event %d: prev_hash does not match event %d (reordered or inserted)", e.Seq, e.Seq-1))
				case HashEvent(e) != e.Hash:
					fail(e.Seq, fmt.Sprintf("event %d: hash does not match its contents (edited)", e.Seq))
				}
			}
			last, prevHash = e.Seq, e.Hash
		}
		after = last
	}
}

// ExportAudit writes one case's audit events to w in seq order and returns
// how many it wrote. format "json" is a pretty-printed JSON array of
// AuditEvent; "csv" is a header row (seq, time, case_id, action_id, actor,
// system, event, result, detail, prev_hash, hash, links) then one row per event,
// times in the canonical form HashEvent uses so hashes can be recomputed
// from the file. Cells are written verbatim (no spreadsheet-formula
// escaping) because the export is evidence. An unknown format fails with
// ErrUnknownFormat, a case without events with ErrNoAuditEvents; either way
// nothing is written.
//
// Linking: the case's first event's prev_hash is the hash of the event
// before the case; an event preceded by other cases' events carries them
// as links (seq, prev_hash and hash only, their contents left out) — JSON
// "links", CSV "SEQ:PREV_HASH:HASH" joined by ";" — so the export's chain
// runs without a gap and VerifyExport checks one case's export alone.
//
// A simulated case (one with an action on a sandbox connector, see
// Case.Simulated) says so: in JSON every event of a simulated action, and
// every case-level event, carries "simulated": true (not part of the
// hash); in CSV the header gains a last column, simulated, "true" on those
// rows and "false" on the others. A case with nothing simulated is exported
// exactly as before.
func (s *Store) ExportAudit(ctx context.Context, caseID int64, format string, w io.Writer) (int, error) {
	format = strings.ToLower(format)
	if format != "json" && format != "csv" {
		return 0, fmt.Errorf("store: export audit: %w %q (want json or csv)", ErrUnknownFormat, format)
	}
	s.chainForRead(ctx)
	db := s.db.WithContext(ctx)
	sim, err := s.simulatedActions(ctx, caseID)
	if err != nil {
		return 0, fmt.Errorf("store: export audit: %w", err)
	}
	simulated := func(e *AuditEvent) bool { return sim != nil && (e.ActionID == 0 || sim[e.ActionID]) }
	bw := bufio.NewWriter(w)
	var (
		cw    *csv.Writer
		n     int
		last  int64
		batch []AuditEvent
	)
	for {
		batch = batch[:0]
		err := db.Where("case_id = ? AND seq > ?", caseID, last).Order("seq").Limit(auditBatch).Find(&batch).Error
		if err != nil {
			return n, fmt.Errorf("store: export audit: %w", err)
		}
		if len(batch) == 0 {
			break
		}
		if n == 0 {
			switch format {
			case "json":
				_, _ = bw.WriteString("[\n")
			case "csv":
				cw = csv.NewWriter(bw)
				header := []string{"seq", "time", "case_id", "action_id", "actor", "system", "event", "result", "detail", "prev_hash", "hash", "links"}
				if sim != nil {
					header = append(header, "simulated")
				}
				_ = cw.Write(header)
			}
		}
		for i := range batch {
			e := &batch[i]
			var links []ChainLink
			if n > 0 && e.Seq > last+1 {
				var others []AuditEvent
				if err := db.Select("seq", "prev_hash", "hash").Where("seq > ? AND seq < ?", last, e.Seq).Order("seq").Find(&others).Error; err != nil {
					return n, fmt.Errorf("store: export audit: %w", err)
				}
				for _, o := range others {
					links = append(links, ChainLink{Seq: o.Seq, PrevHash: o.PrevHash, Hash: o.Hash})
				}
			}
			switch format {
			case "json":
				b, err := json.MarshalIndent(exportedEvent{AuditEvent: e, Links: links, Simulated: simulated(e)}, "  ", "  ")
				if err != nil {
					return n, fmt.Errorf("store: export audit: %w", err)
				}
				if n > 0 {
					_, _ = bw.WriteString(",\n")
				}
				_, _ = bw.WriteString("  ")
				_, _ = bw.Write(b)
			case "csv":
				row := []string{
					strconv.FormatInt(e.Seq, 10), e.Time.UTC().Format(auditTimeFormat),
					strconv.FormatInt(e.CaseID, 10), strconv.FormatInt(e.ActionID, 10),
					e.Actor, e.System, e.Event, e.Result, e.Detail, e.PrevHash, e.Hash, formatLinks(links),
				}
				if sim != nil {
					row = append(row, strconv.FormatBool(simulated(e)))
				}
				_ = cw.Write(row)
			}
			n++
			last = e.Seq
		}
		if cw != nil {
			cw.Flush() // into bw; its error, if any, is bw's
		}
		if err := bw.Flush(); err != nil {
			return n, fmt.Errorf("store: export audit: %w", err)
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("store: export audit: case %d: %w", caseID, ErrNoAuditEvents)
	}
	if format == "json" {
		_, _ = bw.WriteString("\n]\n")
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("store: export audit: %w", err)
	}
	return n, nil
}

// exportedEvent is an audit event as ExportAudit writes it in JSON: the
// event's own fields, then whether it is simulated.
type exportedEvent struct {
	*AuditEvent
	Links     []ChainLink `json:"links,omitempty"`
	Simulated bool        `json:"simulated,omitempty"`
}

// simulatedActions returns the ids of caseID's simulated actions, or nil
// when the case is not simulated (a non-nil, possibly empty, map when it
// is).
func (s *Store) simulatedActions(ctx context.Context, caseID int64) (map[int64]bool, error) {
	var ids []int64
	if err := s.db.WithContext(ctx).Model(&Action{}).Where("case_id = ? AND simulated = ?", caseID, true).Pluck("id", &ids).Error; err != nil {
		return nil, err
	}
	var cases int64
	if err := s.db.WithContext(ctx).Model(&Case{}).Where("id = ? AND simulated = ?", caseID, true).Count(&cases).Error; err != nil {
		return nil, err
	}
	if len(ids) == 0 && cases == 0 {
		return nil, nil
	}
	m := make(map[int64]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m, nil
}

// CheckAuditAnchor checks that the chain still holds event seq with hash (a
// head recorded outside the database earlier). Run it after VerifyAudit:
// with the chain intact, a matching anchor means nothing at or before seq
// was rewritten, and the chain was not truncated below it.
func (s *Store) CheckAuditAnchor(ctx context.Context, seq int64, hash string) error {
	s.chainForRead(ctx)
	var e AuditEvent
	err := s.db.WithContext(ctx).Where("seq = ?", seq).Limit(1).Find(&e).Error
	switch {
	case err != nil:
		return fmt.Errorf("store: audit anchor: %w", err)
	case e.Seq != seq:
		return fmt.Errorf("event %d is gone (the chain was truncated or rewritten below it)", seq)
	case !strings.EqualFold(e.Hash, hash):
		return fmt.Errorf("event %d's hash is %s, the anchor says %s (the chain was rewritten at or before it)", seq, e.Hash, hash)
	}
	return nil
}
