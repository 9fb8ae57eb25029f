package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
)

// auditSecuritySeed seeds the generated chain and tamperings; a failure
// names it and the case number, so it reproduces.
const auditSecuritySeed = 0x7a3e_91c4

// auditChainLen is the length of the generated chain.
const auditChainLen = 200

var errRollback = errors.New("roll back the tampering")

// auditTamper is one generated tampering: do changes the chain inside a
// transaction; firstBad and problem are what VerifyAudit must report.
type auditTamper struct {
	kind     string
	desc     string
	do       func(tx *gorm.DB) error
	firstBad int64
	problem  string
}

// TestAuditTamperingAlwaysDetected builds a chain of 200 generated events
// through AppendAudit (random batch sizes, cases, actors, Unicode, empty
// fields, explicit and defaulted times), then applies several hundred
// generated tamperings (about 180) — an edit of every hashed column of random events
// (with and without a recomputed hash), deletions of one event and of runs,
// forged insertions (seqs shifted, appended past the head, after a gap),
// reorderings, truncations with and without editing the head row, and edits
// of the head row itself — each in its own transaction that is rolled back,
// so every case starts from the same intact chain. VerifyAudit must report
// each one, naming the first broken event and why.
//
// Rewrites that leave a self-consistent chain AND move the head row to
// match are out of reach of any check inside the database (VerifyAudit's
// documented limit: "record HeadSeq and HeadHash elsewhere"); they are
// generated too, and the test checks that a head recorded earlier exposes
// them.
func TestAuditTamperingAlwaysDetected(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := ctxForTest(t)
		rng := rand.New(rand.NewPCG(auditSecuritySeed, 1))
		evs := buildAuditChain(t, s, rng)
		anchor := mustVerify(t, s)
		if !anchor.OK || anchor.Events != auditChainLen || anchor.HeadSeq != auditChainLen || anchor.HeadHash != evs[auditChainLen-1].Hash {
			t.Fatalf("the untampered chain does not verify: %+v", anchor)
		}

		tampers := generateAuditTampers(rng, evs)
		counts := map[string]int{}
		for i, tc := range tampers {
			var rep VerifyReport
			err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
				if err := tc.do(tx); err != nil {
					return fmt.Errorf("tampering: %w", err)
				}
				var err error
				rep, err = (&Store{db: tx, Dialect: s.Dialect}).VerifyAudit(ctx)
				if err != nil {
					return fmt.Errorf("verify: %w", err)
				}
				return errRollback
			})
			if !errors.Is(err, errRollback) {
				t.Fatalf("seed %#x case %d (%s: %s): %v", auditSecuritySeed, i, tc.kind, tc.desc, err)
			}
			counts[tc.kind]++
			if rep.OK || rep.FirstBad != tc.firstBad || rep.Problem != tc.problem {
				t.Errorf("seed %#x case %d (%s: %s): report %+v\nwant first bad %d, problem %q",
					auditSecuritySeed, i, tc.kind, tc.desc, rep, tc.firstBad, tc.problem)
			}
		}

		// The rollbacks left the chain as it was.
		if r := mustVerify(t, s); r != anchor {
			t.Fatalf("after the rolled-back tamperings: %+v, want %+v", r, anchor)
		}

		// Self-consistent rewrites that also move the head: not detectable
		// from inside the database, but a head recorded before (anchor)
		// exposes each one.
		limits := generateConsistentRewrites(rng, evs)
		for i, tc := range limits {
			var rep VerifyReport
			var atAnchor []AuditEvent
			err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
				if err := tc.do(tx); err != nil {
					return err
				}
				var err error
				if rep, err = (&Store{db: tx, Dialect: s.Dialect}).VerifyAudit(ctx); err != nil {
					return err
				}
				if err := tx.Where("seq = ?", anchor.HeadSeq).Find(&atAnchor).Error; err != nil {
					return err
				}
				return errRollback
			})
			if !errors.Is(err, errRollback) {
				t.Fatalf("seed %#x rewrite %d (%s: %s): %v", auditSecuritySeed, i, tc.kind, tc.desc, err)
			}
			counts["undetectable-in-db:"+tc.kind]++
			if !rep.OK {
				// Not a failure: it would mean VerifyAudit got stronger.
				t.Logf("rewrite %d (%s) is now detected: %+v", i, tc.kind, rep)
			}
			anchored := rep.HeadSeq >= anchor.HeadSeq && len(atAnchor) == 1 && atAnchor[0].Hash == anchor.HeadHash
			if anchored && tc.kind != "append-forged-and-move-head" {
				t.Errorf("seed %#x rewrite %d (%s: %s): the recorded head %d %s does not expose it", auditSecuritySeed, i, tc.kind, tc.desc, anchor.HeadSeq, anchor.HeadHash)
			}
		}
		if r := mustVerify(t, s); r != anchor {
			t.Fatalf("after the rolled-back rewrites: %+v, want %+v", r, anchor)
		}
		total := 0
		for _, n := range counts {
			total += n
		}
		t.Logf("seed %#x: chain of %d events; %d tamperings: %v", auditSecuritySeed, auditChainLen, total, counts)
	})
}

// TestAuditHashCoversEveryColumn checks that HashEvent reads every column of
// AuditEvent but Hash: changing any one of them (to a value that differs
// after normalisation) changes the hash. A column added later without being
// hashed fails here.
func TestAuditHashCoversEveryColumn(t *testing.T) {
	base := AuditEvent{Seq: 7, Time: time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC), CaseID: 3, ActionID: 9,
		Actor: "M1", System: "ad", Event: "action.finished", Result: "succeeded", Detail: "disabled", PrevHash: strings.Repeat("ab", 32)}
	h0 := HashEvent(&base)
	typ := reflect.TypeFor[AuditEvent]()
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		if f.Name == "Hash" {
			continue
		}
		e := base
		v := reflect.ValueOf(&e).Elem().Field(i)
		switch v.Kind() {
		case reflect.String:
			v.SetString(v.String() + "x")
		case reflect.Int64:
			v.SetInt(v.Int() + 1)
		default:
			if f.Type == reflect.TypeFor[time.Time]() {
				v.Set(reflect.ValueOf(base.Time.Add(time.Microsecond)))
			} else {
				t.Fatalf("column %s of kind %s: extend this test", f.Name, v.Kind())
			}
		}
		if HashEvent(&e) == h0 {
			t.Errorf("column %s is not covered by the hash", f.Name)
		}
	}
	// A time in another zone, or with nanoseconds below the microsecond the
	// store keeps, is the same instant as stored: same hash (normalised).
	e := base
	e.Time = base.Time.In(time.FixedZone("X", 5*3600))
	if HashEvent(&e) != h0 {
		t.Error("the same instant in another zone hashes differently")
	}
}

// buildAuditChain appends auditChainLen generated events in random batches
// and returns them as stored.
func buildAuditChain(t *testing.T, s *Store, rng *rand.Rand) []AuditEvent {
	t.Helper()
	ctx := ctxForTest(t)
	actors := []string{"kinetic", "M1", "H1", "api:hris", "slack:UMIA", "hr:bamboohr", "Ælfrēd Ünïcødé", "", "mallory?", "O'Brien, \"Pat\""}
	systems := []string{"ad", "okta", "m365", "badge", "", "webhook:badges"}
	eventNames := []string{"case.created", "case.validated", "case.planned", "action.started", "action.finished", "approval.decided", "case.closed", "exception.requested"}
	results := []string{"succeeded", "failed", "", "approved", "denied", "skipped"}
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	var all []AuditEvent
	for len(all) < auditChainLen {
		n := 1 + rng.IntN(8)
		if len(all)+n > auditChainLen {
			n = auditChainLen - len(all)
		}
		entries := make([]Entry, n)
		for i := range entries {
			en := Entry{
				CaseID: int64(rng.IntN(25)), ActionID: int64(rng.IntN(60)),
				Actor: actors[rng.IntN(len(actors))], System: systems[rng.IntN(len(systems))],
				Event: eventNames[rng.IntN(len(eventNames))], Result: results[rng.IntN(len(results))],
				Detail: randomDetail(rng),
			}
			if rng.IntN(4) > 0 { // else: now
				en.Time = t0.Add(time.Duration(len(all)+i)*time.Minute + time.Duration(rng.IntN(1e9)))
			}
			entries[i] = en
		}
		err := s.Tx(ctx, func(tx *gorm.DB) error {
			out, err := AppendAudit(tx, entries...)
			all = append(all, out...)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// As stored (the store normalises times and text).
	var stored []AuditEvent
	if err := s.db.WithContext(ctx).Order("seq").Find(&stored).Error; err != nil {
		t.Fatal(err)
	}
	if len(stored) != auditChainLen {
		t.Fatalf("%d events stored, want %d", len(stored), auditChainLen)
	}
	for i := range stored {
		if stored[i].Seq != int64(i+1) || stored[i].Hash != all[i].Hash || HashEvent(&stored[i]) != stored[i].Hash {
			t.Fatalf("event %d as stored does not match what was hashed: %+v vs %+v", i+1, stored[i], all[i])
		}
	}
	return stored
}

func randomDetail(rng *rand.Rand) string {
	pieces := []string{"disabled CN=Erin,OU=Sales", "", "a,b;c", "line1\nline2", "tab\there", "ünïcødé ✓", "\"quoted\"", "100%", "0", "NULL", "'; DROP TABLE audit_events; --", "1:x,", "9999999999"}
	var b strings.Builder
	for n := rng.IntN(3); n >= 0; n-- {
		b.WriteString(pieces[rng.IntN(len(pieces))])
	}
	return b.String()
}

// flipHex changes one hex digit of h at a random position.
func flipHex(rng *rand.Rand, h string) string {
	const digits = "0123456789abcdef"
	b := []byte(h)
	i := rng.IntN(len(b))
	for {
		c := digits[rng.IntN(16)]
		if c != b[i] {
			b[i] = c
			return string(b)
		}
	}
}

// mutateText returns a different string: one character changed, added,
// removed, case flipped, whitespace added, or replaced by a look-alike.
func mutateText(rng *rand.Rand, s string) string {
	for {
		var out string
		switch k := rng.IntN(7); {
		case k == 0 || s == "":
			out = s + string(rune('a'+rng.IntN(26)))
		case k == 1:
			out = s[:len(s)-1]
		case k == 2:
			out = strings.ToUpper(s)
		case k == 3:
			out = s + " "
		case k == 4:
			out = " " + s
		case k == 5:
			r := []rune(s)
			r[rng.IntN(len(r))] = 'а' // Cyrillic a
			out = string(r)
		default:
			out = "mallory"
		}
		if out = auditText(out); out != s {
			return out
		}
	}
}

func shiftUp(tx *gorm.DB, from int64) error {
	// Two steps, so no intermediate row collides with a primary key.
	if err := tx.Exec("UPDATE audit_events SET seq = -seq - 1 WHERE seq >= ?", from).Error; err != nil {
		return err
	}
	return tx.Exec("UPDATE audit_events SET seq = -seq WHERE seq < 0").Error
}

func setColumns(tx *gorm.DB, seq int64, cols map[string]any) error {
	res := tx.Model(&AuditEvent{}).Where("seq = ?", seq).Updates(cols)
	if res.Error == nil && res.RowsAffected != 1 {
		return fmt.Errorf("update of event %d touched %d rows", seq, res.RowsAffected)
	}
	return res.Error
}

func columnsOf(e AuditEvent) map[string]any {
	return map[string]any{
		"time": e.Time, "case_id": e.CaseID, "action_id": e.ActionID, "actor": e.Actor, "system": e.System,
		"event": e.Event, "result": e.Result, "detail": e.Detail, "prev_hash": e.PrevHash, "hash": e.Hash,
	}
}

func payloadOf(e AuditEvent) map[string]any {
	m := columnsOf(e)
	delete(m, "prev_hash")
	delete(m, "hash")
	return m
}

// samePayload reports whether a with b's payload (all but seq, prev_hash
// and hash) still hashes as a: then swapping the payloads changes nothing.
func samePayload(a, b AuditEvent) bool {
	x := b
	x.Seq, x.PrevHash, x.Hash = a.Seq, a.PrevHash, a.Hash
	return HashEvent(&x) == a.Hash
}

func prevOf(evs []AuditEvent, seq int64) string {
	if seq == 1 {
		return GenesisHash
	}
	return evs[seq-2].Hash
}

// editColumn returns an edit of column col of e (a different value) and
// the edited event.
func editColumn(rng *rand.Rand, evs []AuditEvent, e AuditEvent, col string) (any, AuditEvent) {
	var v any
	switch col {
	case "time":
		deltas := []time.Duration{time.Microsecond, time.Second, time.Hour, 24 * time.Hour, 400 * 24 * time.Hour}
		d := deltas[rng.IntN(len(deltas))] * time.Duration(1+rng.IntN(5))
		if rng.IntN(2) == 0 {
			d = -d
		}
		e.Time = e.Time.Add(d)
		v = e.Time
	case "case_id":
		e.CaseID += int64(1 + rng.IntN(1000))
		if rng.IntN(3) == 0 {
			e.CaseID = -e.CaseID - 1
		}
		v = e.CaseID
	case "action_id":
		e.ActionID += int64(1 + rng.IntN(1000))
		v = e.ActionID
	case "actor":
		e.Actor = mutateText(rng, e.Actor)
		v = e.Actor
	case "system":
		e.System = mutateText(rng, e.System)
		v = e.System
	case "event":
		e.Event = mutateText(rng, e.Event)
		v = e.Event
	case "result":
		e.Result = mutateText(rng, e.Result)
		v = e.Result
	case "detail":
		e.Detail = mutateText(rng, e.Detail)
		v = e.Detail
	case "prev_hash":
		switch rng.IntN(3) {
		case 0:
			e.PrevHash = flipHex(rng, e.PrevHash)
		case 1:
			e.PrevHash = strings.ToUpper(e.PrevHash)
			if e.PrevHash == strings.ToLower(e.PrevHash) {
				e.PrevHash = flipHex(rng, e.PrevHash)
			}
		default:
			other := evs[rng.IntN(len(evs))].Hash
			if other == e.PrevHash {
				other = flipHex(rng, other)
			}
			e.PrevHash = other
		}
		v = e.PrevHash
	case "hash":
		if rng.IntN(3) == 0 && strings.ToUpper(e.Hash) != e.Hash {
			e.Hash = strings.ToUpper(e.Hash)
		} else {
			e.Hash = flipHex(rng, e.Hash)
		}
		v = e.Hash
	}
	return v, e
}

var hashedColumns = []string{"time", "case_id", "action_id", "actor", "system", "event", "result", "detail", "prev_hash", "hash"}

func generateAuditTampers(rng *rand.Rand, evs []AuditEvent) []auditTamper {
	n := int64(len(evs))
	var out []auditTamper
	add := func(kind, desc string, firstBad int64, problem string, do func(tx *gorm.DB) error) {
		out = append(out, auditTamper{kind: kind, desc: desc, do: do, firstBad: firstBad, problem: problem})
	}
	edited := func(k int64) string { return fmt.Sprintf("event %d: hash does not match its contents (edited)", k) }
	relinked := func(k int64) string {
		return fmt.Sprintf("event %d: prev_hash does not match event %d (reordered or inserted)", k, k-1)
	}
	gap := func(want, found int64) string {
		return fmt.Sprintf("event %d: expected seq %d, found %d (deleted or inserted)", want, want, found)
	}
	truncated := func(last int64) string {
		return fmt.Sprintf("chain ends at %d but head says %d (truncated)", last, n)
	}
	replaced := func(k int64) string { return fmt.Sprintf("event %d: hash does not match the head's (replaced)", k) }
	// Positions: the ends, a batch boundary, and random ones.
	pick := func() int64 {
		switch rng.IntN(6) {
		case 0:
			return 1
		case 1:
			return n
		default:
			return 1 + rng.Int64N(n)
		}
	}

	// 1. Edit each hashed column, in place (hash left as it was).
	for round := 0; round < 5; round++ {
		for _, col := range hashedColumns {
			k := pick()
			v, _ := editColumn(rng, evs, evs[k-1], col)
			want := edited(k)
			if col == "prev_hash" {
				want = relinked(k)
			}
			add("edit-"+col, fmt.Sprintf("event %d %s := %v", k, col, v), k, want, func(tx *gorm.DB) error {
				return setColumns(tx, k, map[string]any{col: v})
			})
		}
	}
	// The seq column: moving an event's seq leaves a gap.
	for round := 0; round < 5; round++ {
		k := pick()
		to := n + 1000 + rng.Int64N(1000)
		found := k + 1
		if k == n {
			found = to
		}
		add("edit-seq", fmt.Sprintf("event %d seq := %d", k, to), k, gap(k, found), func(tx *gorm.DB) error {
			return tx.Exec("UPDATE audit_events SET seq = ? WHERE seq = ?", to, k).Error
		})
	}

	// 2. Edit a content column and recompute that event's hash: the next
	// link (or the head) breaks.
	for round := 0; round < 2; round++ {
		for _, col := range hashedColumns[:8] {
			k := pick()
			v, e := editColumn(rng, evs, evs[k-1], col)
			e.Hash = HashEvent(&e)
			firstBad, want := k+1, relinked(k+1)
			if k == n {
				firstBad, want = n, replaced(n)
			}
			add("edit-rehashed-"+col, fmt.Sprintf("event %d %s := %v, hash recomputed", k, col, v), firstBad, want, func(tx *gorm.DB) error {
				return setColumns(tx, k, map[string]any{col: v, "hash": e.Hash})
			})
		}
	}

	// 3. Rewrite a suffix into a self-consistent chain, head untouched.
	for round := 0; round < 6; round++ {
		k := n - rng.Int64N(min(n, 25))
		add("rewrite-suffix-keep-head", fmt.Sprintf("events %d..%d rewritten and rechained", k, n), n, replaced(n), func(tx *gorm.DB) error {
			prev := prevOf(evs, k)
			for seq := k; seq <= n; seq++ {
				e := evs[seq-1]
				if seq == k {
					e.Detail = mutateText(rng, e.Detail)
				}
				e.PrevHash = prev
				e.Hash = HashEvent(&e)
				prev = e.Hash
				if err := setColumns(tx, seq, columnsOf(e)); err != nil {
					return err
				}
			}
			return nil
		})
	}

	// 4. Delete one event, or a run.
	for round := 0; round < 12; round++ {
		k := pick()
		if k < n {
			add("delete-one", fmt.Sprintf("event %d deleted", k), k, gap(k, k+1), func(tx *gorm.DB) error {
				return tx.Exec("DELETE FROM audit_events WHERE seq = ?", k).Error
			})
		} else {
			add("delete-one", fmt.Sprintf("event %d (the last) deleted", k), n, truncated(n-1), func(tx *gorm.DB) error {
				return tx.Exec("DELETE FROM audit_events WHERE seq = ?", k).Error
			})
		}
	}
	for round := 0; round < 12; round++ {
		a := 1 + rng.Int64N(n-1)
		b := a + rng.Int64N(min(20, n-a))
		add("delete-run", fmt.Sprintf("events %d..%d deleted", a, b), a, gap(a, b+1), func(tx *gorm.DB) error {
			return tx.Exec("DELETE FROM audit_events WHERE seq >= ? AND seq <= ?", a, b).Error
		})
	}

	// 5. Insert a forged event with a recomputed hash chained to its
	// predecessor, shifting the rest up (head moved, or not).
	for round := 0; round < 12; round++ {
		k := pick()
		if round%3 != 0 {
			k = n - rng.Int64N(min(n, 25)) // cheaper: fewer rows to shift
		}
		moveHead := rng.IntN(2) == 0
		forged := AuditEvent{Seq: k, Time: evs[k-1].Time, CaseID: evs[k-1].CaseID, Actor: "H1", System: "ad",
			Event: "approval.decided", Result: "approved", Detail: "forged approval", PrevHash: prevOf(evs, k)}
		forged.Hash = HashEvent(&forged)
		add("insert-forged-shifted", fmt.Sprintf("forged event at %d, later events shifted, head moved %v", k, moveHead), k+1, relinked(k+1), func(tx *gorm.DB) error {
			if err := shiftUp(tx, k); err != nil {
				return err
			}
			if err := tx.Create(&forged).Error; err != nil {
				return err
			}
			if moveHead {
				return tx.Exec("UPDATE audit_heads SET seq = seq + 1 WHERE id = 1").Error
			}
			return nil
		})
	}
	// Replace an event by a forged one with a copied (not recomputed) hash.
	for round := 0; round < 6; round++ {
		k := pick()
		forged := evs[k-1]
		forged.Actor, forged.Detail = "mallory", "forged with a copied hash"
		add("replace-forged-copied-hash", fmt.Sprintf("event %d replaced, hash copied", k), k, edited(k), func(tx *gorm.DB) error {
			if err := tx.Exec("DELETE FROM audit_events WHERE seq = ?", k).Error; err != nil {
				return err
			}
			return tx.Create(&forged).Error
		})
	}
	// Insert before the first event: seq 0 or negative, self-consistent
	// or not.
	for round := 0; round < 5; round++ {
		seq := -rng.Int64N(3) // 0, -1 or -2
		e := AuditEvent{Seq: seq, Time: evs[0].Time.Add(-time.Hour), CaseID: evs[0].CaseID, Actor: "H1", Event: "approval.decided",
			Result: "approved", Detail: "forged before the start", PrevHash: GenesisHash}
		e.Hash = HashEvent(&e)
		add("insert-before-first", fmt.Sprintf("forged event with seq %d", seq), 1, gap(1, seq), func(tx *gorm.DB) error {
			return tx.Create(&e).Error
		})
	}
	// Append past the head (head untouched), or after a gap.
	for round := 0; round < 5; round++ {
		after := 1 + rng.Int64N(3)
		e := AuditEvent{Seq: n + after, Time: evs[n-1].Time.Add(time.Minute), Event: "case.closed", Actor: "kinetic", PrevHash: evs[n-1].Hash}
		e.Hash = HashEvent(&e)
		firstBad, want := n+1, fmt.Sprintf("chain continues to %d past the head at %d (inserted after the head)", n+1, n)
		if after > 1 {
			want = gap(n+1, n+after)
		}
		add("append-past-head", fmt.Sprintf("forged event %d appended, head left at %d", n+after, n), firstBad, want, func(tx *gorm.DB) error {
			return tx.Create(&e).Error
		})
	}

	// 6. Reorder: swap two events' contents (all columns but seq), or only
	// their payload, or their seqs; copy one event over another.
	for round := 0; round < 20; round++ {
		i := 1 + rng.Int64N(n-1)
		j := i + 1 + rng.Int64N(min(30, n-i))
		if rng.IntN(3) == 0 {
			j = i + 1
		}
		a, b := evs[i-1], evs[j-1]
		switch round % 4 {
		case 0:
			add("reorder-swap-rows", fmt.Sprintf("events %d and %d swapped", i, j), i, relinked(i), func(tx *gorm.DB) error {
				if err := setColumns(tx, i, columnsOf(b)); err != nil {
					return err
				}
				return setColumns(tx, j, columnsOf(a))
			})
		case 1:
			if samePayload(a, b) {
				continue
			}
			add("reorder-swap-payload", fmt.Sprintf("payloads of events %d and %d swapped", i, j), i, edited(i), func(tx *gorm.DB) error {
				if err := setColumns(tx, i, payloadOf(b)); err != nil {
					return err
				}
				return setColumns(tx, j, payloadOf(a))
			})
		case 2:
			add("reorder-swap-seq", fmt.Sprintf("seqs of events %d and %d swapped", i, j), i, relinked(i), func(tx *gorm.DB) error {
				for _, q := range [][2]int64{{i, -1}, {j, i}, {-1, j}} {
					if err := tx.Exec("UPDATE audit_events SET seq = ? WHERE seq = ?", q[1], q[0]).Error; err != nil {
						return err
					}
				}
				return nil
			})
		default:
			add("duplicate-row", fmt.Sprintf("event %d copied over event %d", i, j), j, relinked(j), func(tx *gorm.DB) error {
				return setColumns(tx, j, columnsOf(a))
			})
		}
	}

	// 7. Truncate the tail: head untouched, or head partly edited.
	for round := 0; round < 18; round++ {
		k := rng.Int64N(n) // keep events 1..k
		switch round % 3 {
		case 0:
			add("truncate", fmt.Sprintf("events after %d deleted", k), k+1, truncated(k), func(tx *gorm.DB) error {
				return tx.Exec("DELETE FROM audit_events WHERE seq > ?", k).Error
			})
		case 1:
			if k == 0 {
				k = 1
			}
			add("truncate-head-seq-edited", fmt.Sprintf("events after %d deleted, head seq := %d (hash kept)", k, k), k, replaced(k), func(tx *gorm.DB) error {
				if err := tx.Exec("DELETE FROM audit_events WHERE seq > ?", k).Error; err != nil {
					return err
				}
				return tx.Exec("UPDATE audit_heads SET seq = ? WHERE id = 1", k).Error
			})
		default:
			h := prevOf(evs, k+1)
			add("truncate-head-hash-edited", fmt.Sprintf("events after %d deleted, head hash := event %d's (seq kept)", k, k), k+1, truncated(k), func(tx *gorm.DB) error {
				if err := tx.Exec("DELETE FROM audit_events WHERE seq > ?", k).Error; err != nil {
					return err
				}
				return tx.Exec("UPDATE audit_heads SET hash = ? WHERE id = 1", h).Error
			})
		}
	}

	// 8. The head row alone.
	add("head-edit", "head seq + 1", n+1, fmt.Sprintf("chain ends at %d but head says %d (truncated)", n, n+1), func(tx *gorm.DB) error {
		return tx.Exec("UPDATE audit_heads SET seq = seq + 1 WHERE id = 1").Error
	})
	add("head-edit", "head seq - 1", n, fmt.Sprintf("chain continues to %d past the head at %d (inserted after the head)", n, n-1), func(tx *gorm.DB) error {
		return tx.Exec("UPDATE audit_heads SET seq = seq - 1 WHERE id = 1").Error
	})
	for round := 0; round < 4; round++ {
		h := flipHex(rng, evs[n-1].Hash)
		if round == 0 {
			h = strings.ToUpper(evs[n-1].Hash)
		}
		add("head-edit", "head hash := "+h, n, replaced(n), func(tx *gorm.DB) error {
			return tx.Exec("UPDATE audit_heads SET hash = ? WHERE id = 1", h).Error
		})
	}
	add("head-edit", "head row deleted", 0, "the audit head row is missing", func(tx *gorm.DB) error {
		return tx.Exec("DELETE FROM audit_heads").Error
	})
	return out
}

// generateConsistentRewrites are tamperings that leave a self-consistent
// chain and move the head to match: VerifyAudit alone cannot see them.
func generateConsistentRewrites(rng *rand.Rand, evs []AuditEvent) []auditTamper {
	n := int64(len(evs))
	var out []auditTamper
	for round := 0; round < 3; round++ {
		k := 1 + rng.Int64N(n-1)
		out = append(out, auditTamper{kind: "truncate-and-rewrite-head", desc: fmt.Sprintf("events after %d deleted, head := (%d, event %d's hash)", k, k, k),
			do: func(tx *gorm.DB) error {
				if err := tx.Exec("DELETE FROM audit_events WHERE seq > ?", k).Error; err != nil {
					return err
				}
				return tx.Exec("UPDATE audit_heads SET seq = ?, hash = ? WHERE id = 1", k, evs[k-1].Hash).Error
			}})
		k = n - rng.Int64N(min(n, 25))
		out = append(out, auditTamper{kind: "rewrite-suffix-and-head", desc: fmt.Sprintf("events %d..%d rewritten and rechained, head moved", k, n),
			do: func(tx *gorm.DB) error {
				prev := prevOf(evs, k)
				for seq := k; seq <= n; seq++ {
					e := evs[seq-1]
					if seq == k {
						e.Actor = "mallory"
					}
					e.PrevHash = prev
					e.Hash = HashEvent(&e)
					prev = e.Hash
					if err := setColumns(tx, seq, columnsOf(e)); err != nil {
						return err
					}
				}
				return tx.Exec("UPDATE audit_heads SET hash = ? WHERE id = 1", prev).Error
			}})
	}
	e := AuditEvent{Seq: n + 1, Time: evs[n-1].Time.Add(time.Minute), Actor: "H1", Event: "approval.decided", Result: "approved", PrevHash: evs[n-1].Hash}
	e.Hash = HashEvent(&e)
	out = append(out, auditTamper{kind: "append-forged-and-move-head", desc: "forged event appended, head moved to it",
		do: func(tx *gorm.DB) error {
			if err := tx.Create(&e).Error; err != nil {
				return err
			}
			return tx.Exec("UPDATE audit_heads SET seq = ?, hash = ? WHERE id = 1", e.Seq, e.Hash).Error
		}})
	return out
}
