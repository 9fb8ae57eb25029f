package store

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
)

// appendN appends n events for case caseID, one transaction per call.
func appendTestEvents(t *testing.T, s *Store, caseID int64, n int) []AuditEvent {
	t.Helper()
	entries := make([]Entry, n)
	for i := range entries {
		entries[i] = Entry{CaseID: caseID, ActionID: int64(i), Actor: "kinetic", System: "ad", Event: "action.finished", Result: "succeeded", Detail: fmt.Sprintf("event %d", i)}
	}
	var out []AuditEvent
	err := s.Tx(ctxForTest(t), func(tx *gorm.DB) error {
		var err error
		out, err = AppendAudit(tx, entries...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mustVerify(t *testing.T, s *Store) VerifyReport {
	t.Helper()
	r, err := s.VerifyAudit(ctxForTest(t))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestHashEventEncoding(t *testing.T) {
	e := AuditEvent{
		Seq: 1, Time: time.Date(2024, 5, 1, 9, 30, 0, 123456000, time.UTC),
		CaseID: 7, ActionID: 9, Actor: "U123", System: "ad", Event: "action.finished",
		Result: "succeeded", Detail: "disabled CN=Dana", PrevHash: GenesisHash,
	}
	// Golden value, cross-checked with an independent Python implementation
	// of the documented encoding. Changing the encoding breaks every stored
	// chain, so it must be a deliberate act.
	const golden = "63388b7dc18374bab2ec2d86e0eb2cf30f1c14f3262e3b49f9682549a850b99b"
	got := HashEvent(&e)
	if len(got) != 64 {
		t.Fatalf("hash %q is not 64 hex digits", got)
	}
	if got != golden {
		t.Errorf("HashEvent = %s, want golden %s", got, golden)
	}

	// The same instant in another zone, and nanoseconds below the
	// microsecond, hash the same.
	same := e
	same.Time = e.Time.In(time.FixedZone("UTC+2", 2*3600)).Add(999 * time.Nanosecond)
	if HashEvent(&same) != got {
		t.Error("hash depends on the time's zone or sub-microsecond digits")
	}

	// Moving a boundary between neighbouring fields changes the hash.
	shifted := e
	shifted.Actor, shifted.System = "U123a", "d"
	if HashEvent(&shifted) == got {
		t.Error("shifting a field boundary kept the hash")
	}
	// Every field is covered; Hash itself is not.
	for name, mutate := range map[string]func(*AuditEvent){
		"seq":       func(e *AuditEvent) { e.Seq++ },
		"time":      func(e *AuditEvent) { e.Time = e.Time.Add(time.Microsecond) },
		"case":      func(e *AuditEvent) { e.CaseID++ },
		"action":    func(e *AuditEvent) { e.ActionID++ },
		"actor":     func(e *AuditEvent) { e.Actor += "x" },
		"system":    func(e *AuditEvent) { e.System += "x" },
		"event":     func(e *AuditEvent) { e.Event += "x" },
		"result":    func(e *AuditEvent) { e.Result += "x" },
		"detail":    func(e *AuditEvent) { e.Detail += "x" },
		"prev_hash": func(e *AuditEvent) { e.PrevHash = strings.Repeat("1", 64) },
	} {
		m := e
		mutate(&m)
		if HashEvent(&m) == got {
			t.Errorf("changing %s kept the hash", name)
		}
	}
	withHash := e
	withHash.Hash = "anything"
	if HashEvent(&withHash) != got {
		t.Error("Hash field is part of its own hash")
	}
}

func TestAppendAuditConcurrent(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := ctxForTest(t)
		const workers = 20
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		results := make([][]AuditEvent, workers)
		for w := range workers {
			wg.Go(func() {
				errs <- s.Tx(ctx, func(tx *gorm.DB) error {
					evs, err := AppendAudit(tx,
						Entry{CaseID: int64(w + 1), Actor: fmt.Sprintf("worker-%d", w), Event: "action.started"},
						Entry{CaseID: int64(w + 1), Actor: fmt.Sprintf("worker-%d", w), Event: "action.finished"},
					)
					results[w] = evs
					return err
				})
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("append: %v", err)
			}
		}
		seen := map[int64]bool{}
		for w, evs := range results {
			if len(evs) != 2 || evs[1].Seq != evs[0].Seq+1 || evs[1].PrevHash != evs[0].Hash {
				t.Fatalf("worker %d's two events are not adjacent: %+v", w, evs)
			}
			for _, e := range evs {
				seen[e.Seq] = true
			}
		}
		for seq := int64(1); seq <= 2*workers; seq++ {
			if !seen[seq] {
				t.Fatalf("seq %d missing; have %v", seq, seen)
			}
		}
		r := mustVerify(t, s)
		if !r.OK || r.Events != 2*workers || r.HeadSeq != 2*workers {
			t.Fatalf("report = %+v", r)
		}
	})
}

func TestAppendAuditStoresWhatItHashes(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := ctxForTest(t)
		zone := time.FixedZone("UTC-7", -7*3600)
		when := time.Date(2024, 2, 29, 23, 59, 59, 987654321, zone)
		evs, err := AppendAudit(s.db.WithContext(ctx), // outside a transaction: AppendAudit opens one
			Entry{Time: when, CaseID: 3, ActionID: 4, Actor: "Dana Ø", System: "graph", Event: "action.failed", Result: "failed", Detail: "bad \xff utf-8 and a \x00 byte, ünïcödé, \"quotes\", comma, newline\nend"},
			Entry{CaseID: 3, Event: "case.closed"},
		)
		if err != nil {
			t.Fatal(err)
		}
		if want := when.UTC().Truncate(time.Microsecond); !evs[0].Time.Equal(want) || evs[0].Time.Location() != time.UTC {
			t.Errorf("event time = %v, want %v UTC", evs[0].Time, want)
		}
		if evs[1].Time.IsZero() || evs[1].Time.Location() != time.UTC {
			t.Errorf("zero Time not filled with now in UTC: %v", evs[1].Time)
		}
		if strings.Contains(evs[0].Detail, "\x00") || !strings.Contains(evs[0].Detail, "\uFFFD") {
			t.Errorf("detail not cleaned: %q", evs[0].Detail)
		}
		var stored []AuditEvent
		if err := s.db.WithContext(ctx).Order("seq").Find(&stored).Error; err != nil {
			t.Fatal(err)
		}
		if len(stored) != 2 {
			t.Fatalf("%d events stored", len(stored))
		}
		for i, e := range stored {
			if HashEvent(&e) != e.Hash || e.Hash != evs[i].Hash {
				t.Errorf("event %d read back hashes to %s; stored %s, appended %s", e.Seq, HashEvent(&e), e.Hash, evs[i].Hash)
			}
			if !e.Time.Equal(evs[i].Time) || e.Detail != evs[i].Detail {
				t.Errorf("event %d read back as %+v, appended %+v", e.Seq, e, evs[i])
			}
		}
		if r := mustVerify(t, s); !r.OK {
			t.Fatalf("report = %+v", r)
		}
	})
}

// The same entries produce the same chain on both dialects.
func TestAuditChainIdenticalAcrossDialects(t *testing.T) {
	if os.Getenv(TestPostgresDSNEnv) == "" {
		t.Skip(TestPostgresDSNEnv + " not set")
	}
	base := time.Date(2024, 5, 1, 9, 0, 0, 1, time.FixedZone("x", 3600))
	entries := []Entry{
		{Time: base, CaseID: 1, Actor: "a", Event: "case.opened", Detail: "ü"},
		{Time: base.Add(1500 * time.Nanosecond), CaseID: 1, ActionID: 2, System: "okta", Event: "action.finished", Result: "succeeded"},
	}
	var chains [][]string
	for _, s := range []*Store{OpenTestSQLite(t), OpenTest(t)} {
		if _, err := AppendAudit(s.db.WithContext(ctxForTest(t)), entries...); err != nil {
			t.Fatal(err)
		}
		var hashes []string
		if err := s.db.WithContext(ctxForTest(t)).Model(&AuditEvent{}).Order("seq").Pluck("hash", &hashes).Error; err != nil {
			t.Fatal(err)
		}
		chains = append(chains, hashes)
	}
	if strings.Join(chains[0], ",") != strings.Join(chains[1], ",") {
		t.Fatalf("sqlite chain %v != postgres chain %v", chains[0], chains[1])
	}
}

func TestAppendAuditRejectsInvalidEntries(t *testing.T) {
	s := OpenTestSQLite(t)
	db := s.db.WithContext(ctxForTest(t))
	for name, e := range map[string]Entry{
		"no event":    {Actor: "a"},
		"long actor":  {Event: "x", Actor: strings.Repeat("a", 257)},
		"long system": {Event: "x", System: strings.Repeat("s", 129)},
		"long event":  {Event: strings.Repeat("e", 65)},
		"long result": {Event: "x", Result: strings.Repeat("r", 65)},
	} {
		if _, err := AppendAudit(db, Entry{Event: "ok"}, e); !errors.Is(err, ErrInvalidEntry) {
			t.Errorf("%s: err = %v, want ErrInvalidEntry", name, err)
		}
	}
	// Limits count characters, not bytes.
	if _, err := AppendAudit(db, Entry{Event: "x", Actor: strings.Repeat("ü", 256)}); err != nil {
		t.Errorf("256-character actor: %v", err)
	}
	if n := mustVerify(t, s).Events; n != 1 {
		t.Errorf("%d events stored; rejected batches must store nothing", n)
	}
	if evs, err := AppendAudit(db); err != nil || evs != nil {
		t.Errorf("empty append = %v, %v", evs, err)
	}
}

func TestAppendAuditCommitsWithTheTransaction(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := ctxForTest(t)
		boom := errors.New("boom")
		err := s.Tx(ctx, func(tx *gorm.DB) error {
			if err := tx.Create(openCaseFor("emp-1")).Error; err != nil {
				return err
			}
			if _, err := AppendAudit(tx, Entry{Event: "case.opened"}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if r := mustVerify(t, s); !r.OK || r.Events != 0 || r.HeadSeq != 0 || r.HeadHash != GenesisHash {
			t.Fatalf("after rollback: %+v", r)
		}
		evs := appendTestEvents(t, s, 1, 1)
		if evs[0].Seq != 1 || evs[0].PrevHash != GenesisHash {
			t.Fatalf("first event after rollback = %+v", evs[0])
		}
	})
}

func TestAppendAuditWithoutHead(t *testing.T) {
	s := OpenTestSQLite(t)
	db := s.db.WithContext(ctxForTest(t))
	if err := db.Exec("DELETE FROM audit_heads").Error; err != nil {
		t.Fatal(err)
	}
	if _, err := AppendAudit(db, Entry{Event: "x"}); !errors.Is(err, ErrNoAuditHead) {
		t.Fatalf("err = %v, want ErrNoAuditHead", err)
	}
	r := mustVerify(t, s)
	if r.OK || !strings.Contains(r.Problem, "head row is missing") {
		t.Fatalf("report = %+v", r)
	}
}

func TestVerifyAuditEmptyChain(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		r := mustVerify(t, s)
		want := VerifyReport{OK: true, HeadHash: GenesisHash}
		if r != want {
			t.Fatalf("report = %+v, want %+v", r, want)
		}
	})
}

func TestVerifyAuditDetectsTampering(t *testing.T) {
	// Each case tampers with a chain of 10 events (seq 1..10).
	type tamper struct {
		name     string
		do       func(t *testing.T, db *gorm.DB, evs []AuditEvent)
		firstBad int64
		problem  string
		events   int64
	}
	exec := func(t *testing.T, db *gorm.DB, q string, args ...any) {
		t.Helper()
		if err := db.Exec(q, args...).Error; err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	cases := []tamper{
		{
			name: "edited detail",
			do: func(t *testing.T, db *gorm.DB, _ []AuditEvent) {
				exec(t, db, "UPDATE audit_events SET detail = ? WHERE seq = 5", "nothing happened")
			},
			firstBad: 5, problem: "event 5: hash does not match its contents (edited)", events: 10,
		},
		{
			name: "deleted middle row",
			do: func(t *testing.T, db *gorm.DB, _ []AuditEvent) {
				exec(t, db, "DELETE FROM audit_events WHERE seq = 5")
			},
			firstBad: 5, problem: "event 5: expected seq 5, found 6 (deleted or inserted)", events: 9,
		},
		{
			// The forger shifts events 5..10 up, inserts a self-consistent
			// event 5 chained to event 4, and moves the head: the break shows
			// where the shifted original no longer links to the forgery.
			name: "forged row inserted, seqs shifted",
			do: func(t *testing.T, db *gorm.DB, evs []AuditEvent) {
				for seq := 10; seq >= 5; seq-- {
					exec(t, db, "UPDATE audit_events SET seq = seq + 1 WHERE seq = ?", seq)
				}
				forged := AuditEvent{Seq: 5, Time: evs[4].Time, CaseID: 1, Actor: "mallory", Event: "action.finished", Result: "succeeded", PrevHash: evs[3].Hash}
				forged.Hash = HashEvent(&forged)
				if err := db.Create(&forged).Error; err != nil {
					t.Fatal(err)
				}
				exec(t, db, "UPDATE audit_heads SET seq = 11 WHERE id = 1")
			},
			firstBad: 6, problem: "event 6: prev_hash does not match event 5 (reordered or inserted)", events: 11,
		},
		{
			name: "forged row inserted without shifting",
			do: func(t *testing.T, db *gorm.DB, evs []AuditEvent) {
				exec(t, db, "DELETE FROM audit_events WHERE seq = 5")
				forged := evs[4]
				forged.Detail = "forged"
				if err := db.Create(&forged).Error; err != nil { // old hash
					t.Fatal(err)
				}
			},
			firstBad: 5, problem: "event 5: hash does not match its contents (edited)", events: 10,
		},
		{
			name: "two rows reordered",
			do: func(t *testing.T, db *gorm.DB, evs []AuditEvent) {
				swap := func(dst int64, src AuditEvent) {
					err := db.Model(&AuditEvent{}).Where("seq = ?", dst).Updates(map[string]any{
						"time": src.Time, "case_id": src.CaseID, "action_id": src.ActionID, "actor": src.Actor,
						"system": src.System, "event": src.Event, "result": src.Result, "detail": src.Detail,
						"prev_hash": src.PrevHash, "hash": src.Hash,
					}).Error
					if err != nil {
						t.Fatal(err)
					}
				}
				swap(5, evs[5])
				swap(6, evs[4])
			},
			firstBad: 5, problem: "event 5: prev_hash does not match event 4 (reordered or inserted)", events: 10,
		},
		{
			name: "last rows truncated",
			do: func(t *testing.T, db *gorm.DB, _ []AuditEvent) {
				exec(t, db, "DELETE FROM audit_events WHERE seq > 8")
			},
			firstBad: 9, problem: "chain ends at 8 but head says 10 (truncated)", events: 8,
		},
		{
			name: "last row replaced with a self-consistent one",
			do: func(t *testing.T, db *gorm.DB, evs []AuditEvent) {
				e := evs[9]
				e.Detail = "rewritten"
				exec(t, db, "UPDATE audit_events SET detail = ?, hash = ? WHERE seq = 10", e.Detail, HashEvent(&e))
			},
			firstBad: 10, problem: "event 10: hash does not match the head's (replaced)", events: 10,
		},
		{
			name: "row appended past the head",
			do: func(t *testing.T, db *gorm.DB, evs []AuditEvent) {
				e := AuditEvent{Seq: 11, Time: evs[9].Time, Event: "case.closed", PrevHash: evs[9].Hash}
				e.Hash = HashEvent(&e)
				if err := db.Create(&e).Error; err != nil {
					t.Fatal(err)
				}
			},
			firstBad: 11, problem: "chain continues to 11 past the head at 10 (inserted after the head)", events: 11,
		},
		{
			name: "head deleted",
			do: func(t *testing.T, db *gorm.DB, _ []AuditEvent) {
				exec(t, db, "DELETE FROM audit_heads")
			},
			firstBad: 0, problem: "the audit head row is missing", events: 10,
		},
	}
	forEachDialect(t, func(t *testing.T, s *Store) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ctx := ctxForTest(t)
				db := s.db.WithContext(ctx)
				for _, q := range []string{"DELETE FROM audit_events", "DELETE FROM audit_heads"} {
					exec(t, db, q)
				}
				if err := s.Migrate(ctx); err != nil { // restores the genesis head
					t.Fatal(err)
				}
				evs := appendTestEvents(t, s, 1, 10)
				if r := mustVerify(t, s); !r.OK {
					t.Fatalf("before tampering: %+v", r)
				}
				tc.do(t, db, evs)
				r := mustVerify(t, s)
				if r.OK || r.FirstBad != tc.firstBad || r.Problem != tc.problem || r.Events != tc.events {
					t.Fatalf("report = %+v\nwant FirstBad %d, Problem %q, Events %d", r, tc.firstBad, tc.problem, tc.events)
				}
			})
		}
	})
}

// Verification carries the chain across batch boundaries.
func TestVerifyAuditAcrossBatches(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		n := 2*auditBatch + 17
		appendTestEvents(t, s, 1, n)
		r := mustVerify(t, s)
		if !r.OK || r.Events != int64(n) || r.HeadSeq != int64(n) {
			t.Fatalf("report = %+v", r)
		}
		bad := int64(auditBatch + 1) // first event of the second batch
		if err := s.db.WithContext(ctxForTest(t)).Exec("UPDATE audit_events SET actor = 'mallory' WHERE seq = ?", bad).Error; err != nil {
			t.Fatal(err)
		}
		r = mustVerify(t, s)
		if r.OK || r.FirstBad != bad || r.Events != int64(n) {
			t.Fatalf("report = %+v, want FirstBad %d", r, bad)
		}
	})
}

func TestExportAudit(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := ctxForTest(t)
		// Interleave two cases' events.
		for i := range 3 {
			appendTestEvents(t, s, 1, 2)
			appendTestEvents(t, s, 2, 1+i)
		}
		const want = 6

		var js bytes.Buffer
		n, err := s.ExportAudit(ctx, 1, "json", &js)
		if err != nil || n != want {
			t.Fatalf("json export = %d, %v", n, err)
		}
		var evs []AuditEvent
		if err := json.Unmarshal(js.Bytes(), &evs); err != nil {
			t.Fatalf("json export does not parse: %v\n%s", err, js.String())
		}
		if len(evs) != want || !strings.HasPrefix(js.String(), "[\n  {\n    \"seq\"") {
			t.Fatalf("json export has %d events or is not pretty:\n%s", len(evs), js.String())
		}
		for i, e := range evs {
			if e.CaseID != 1 || (i > 0 && e.Seq <= evs[i-1].Seq) {
				t.Fatalf("json export event %d = %+v", i, e)
			}
			if HashEvent(&e) != e.Hash {
				t.Errorf("json event %d does not hash to its hash", e.Seq)
			}
		}

		var cs bytes.Buffer
		n, err = s.ExportAudit(ctx, 1, "csv", &cs)
		if err != nil || n != want {
			t.Fatalf("csv export = %d, %v", n, err)
		}
		rows, err := csv.NewReader(&cs).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		header := "seq,time,case_id,action_id,actor,system,event,result,detail,prev_hash,hash,links"
		if len(rows) != want+1 || strings.Join(rows[0], ",") != header {
			t.Fatalf("csv export: %d rows, header %v", len(rows), rows[0])
		}
		for i, row := range rows[1:] {
			seq, _ := strconv.ParseInt(row[0], 10, 64)
			tm, err := time.Parse(time.RFC3339Nano, row[1])
			if err != nil {
				t.Fatal(err)
			}
			caseID, _ := strconv.ParseInt(row[2], 10, 64)
			actionID, _ := strconv.ParseInt(row[3], 10, 64)
			e := AuditEvent{Seq: seq, Time: tm, CaseID: caseID, ActionID: actionID, Actor: row[4], System: row[5], Event: row[6], Result: row[7], Detail: row[8], PrevHash: row[9], Hash: row[10]}
			if e.CaseID != 1 || e.Seq != evs[i].Seq {
				t.Fatalf("csv row %d = %v", i+1, row)
			}
			if HashEvent(&e) != e.Hash {
				t.Errorf("csv row %d does not hash to its hash", i+1)
			}
		}
	})
}

func TestExportAuditErrors(t *testing.T) {
	s := OpenTestSQLite(t)
	ctx := ctxForTest(t)
	appendTestEvents(t, s, 1, 2)
	var buf bytes.Buffer
	if _, err := s.ExportAudit(ctx, 1, "xml", &buf); !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), "xml") {
		t.Errorf("unknown format: err = %v", err)
	}
	if _, err := s.ExportAudit(ctx, 99, "json", &buf); !errors.Is(err, ErrNoAuditEvents) || !strings.Contains(err.Error(), "case 99") {
		t.Errorf("case without events: err = %v", err)
	}
	if buf.Len() != 0 {
		t.Errorf("failed exports wrote %q", buf.String())
	}
	if _, err := s.ExportAudit(ctx, 1, "json", failingWriter{}); err == nil {
		t.Error("write error not reported")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }
