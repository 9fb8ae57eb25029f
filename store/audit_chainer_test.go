package store

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
)

// Staged events commit with their transaction and end up in one verifiable
// chain, each transaction's events in the order it staged them; a rolled
// back transaction stages nothing.
func TestStageAuditChainsCommittedEvents(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := ctxForTest(t)
		const workers = 20
		var wg sync.WaitGroup
		errs := make(chan error, workers+1)
		for w := range workers {
			wg.Go(func() {
				errs <- s.Tx(ctx, func(tx *gorm.DB) error {
					return StageAudit(tx,
						Entry{CaseID: int64(w + 1), Actor: "worker", Event: "action.started"},
						Entry{CaseID: int64(w + 1), Actor: "worker", Event: "action.finished"})
				})
			})
		}
		boom := errors.New("boom")
		wg.Go(func() {
			err := s.Tx(ctx, func(tx *gorm.DB) error {
				if err := StageAudit(tx, Entry{CaseID: 999, Event: "case.opened"}); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				errs <- fmt.Errorf("rolled back transaction: %v", err)
			}
		})
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		r := mustVerify(t, s)
		if !r.OK || r.Events != 2*workers || r.HeadSeq != 2*workers {
			t.Fatalf("report = %+v", r)
		}
		if n, _, err := s.PendingAudit(ctx); err != nil || n != 0 {
			t.Fatalf("pending after verify = %d, %v", n, err)
		}
		var evs []AuditEvent
		if err := s.db.Order("seq").Find(&evs).Error; err != nil {
			t.Fatal(err)
		}
		started := map[int64]bool{}
		for _, e := range evs {
			switch {
			case e.CaseID == 999:
				t.Fatalf("the rolled back event was chained: %+v", e)
			case e.Event == "action.started":
				started[e.CaseID] = true
			case !started[e.CaseID]:
				t.Fatalf("case %d: %s chained before action.started", e.CaseID, e.Event)
			}
		}
	})
}

func TestStageAuditRejectsInvalidEntries(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := ctxForTest(t)
		err := s.Tx(ctx, func(tx *gorm.DB) error {
			return StageAudit(tx, Entry{Event: "case.opened"}, Entry{Actor: "nobody"})
		})
		if !errors.Is(err, ErrInvalidEntry) {
			t.Fatalf("err = %v, want ErrInvalidEntry", err)
		}
		if r := mustVerify(t, s); !r.OK || r.Events != 0 {
			t.Fatalf("report = %+v", r)
		}
	})
}

// On PostgreSQL, events wait in audit_pending until a chainer or a reader
// chains them; the state check counts the records its snapshot holds still
// pending, and several chainers at once build one chain.
func TestPendingAuditOnPostgres(t *testing.T) {
	s := OpenTest(t)
	if s.Dialect != DialectPostgres {
		t.Skip("SQLite chains staged events at once")
	}
	s.stopChainer() // so that the events stay pending until chained here
	ctx := ctxForTest(t)
	k := stateKit{t, s}
	var c Case
	err := s.Tx(ctx, func(tx *gorm.DB) error {
		c = newTestCase("P1", CaseRunning)
		if err := tx.Create(&c).Error; err != nil {
			return err
		}
		var sc StateChanges
		sc.NewCase(&c)
		return StageAudit(tx, append([]Entry{{CaseID: c.ID, Event: "case.opened"}}, sc.Entries(time.Time{}, "kinetic")...)...)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, oldest, err := s.PendingAudit(ctx); err != nil || n != 2 || oldest.IsZero() {
		t.Fatalf("pending = %d (oldest %v), %v; want 2", n, oldest, err)
	}
	// The snapshot sees the case and its pending creation record.
	var rep StateReport
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		rep, err = verifyAuditedState(tx)
		return err
	}, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil || !rep.OK || rep.Cases != 1 {
		t.Fatalf("state with pending records = %+v, %v", rep, err)
	}
	// A status change behind the engine's back is still found.
	k.s.db.Exec("UPDATE cases SET status = ? WHERE id = ?", CaseFailed, c.ID)
	if rep := mustVerifyState(t, s); rep.OK {
		t.Fatalf("a changed status was not reported: %+v", rep)
	}
	k.s.db.Exec("UPDATE cases SET status = ? WHERE id = ?", CaseRunning, c.ID)

	// Many transactions stage while four chainers run at once.
	const txs = 40
	var wg sync.WaitGroup
	errs := make(chan error, txs+4)
	for i := range txs {
		wg.Go(func() {
			errs <- s.Tx(ctx, func(tx *gorm.DB) error {
				return StageAudit(tx, Entry{CaseID: c.ID, Event: "action.started", Detail: fmt.Sprint(i)})
			})
		})
	}
	for range 4 {
		wg.Go(func() {
			_, err := s.ChainPending(ctx)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	r := mustVerify(t, s)
	if !r.OK || r.Events != txs+2 {
		t.Fatalf("report = %+v", r)
	}
	if rep := mustVerifyState(t, s); !rep.OK || rep.Cases != 1 {
		t.Fatalf("state = %+v", rep)
	}
	if n, _, _ := s.PendingAudit(ctx); n != 0 {
		t.Fatalf("%d still pending", n)
	}
}

// An event left pending longer than PendingBound (no chainer ran) fails
// the verification; a young one is only reported.
func TestVerifyReportsEventsPendingTooLong(t *testing.T) {
	s := OpenTest(t)
	if s.Dialect != DialectPostgres {
		t.Skip("SQLite chains staged events at once")
	}
	s.stopChainer()
	ctx := ctxForTest(t)
	young := AuditPending{Time: time.Now().UTC(), Event: "case.opened"}
	if err := s.db.Create(&young).Error; err != nil {
		t.Fatal(err)
	}
	r := VerifyReport{OK: true}
	fail := func(seq int64, problem string) { r.OK, r.FirstBad, r.Problem = false, seq, problem }
	if err := s.checkPending(ctx, &r, fail); err != nil || !r.OK || r.Pending != 1 || r.PendingSince == nil {
		t.Fatalf("young pending event: %+v, %v", r, err)
	}
	old := AuditPending{Time: time.Now().UTC().Add(-2 * PendingBound), Event: "case.opened"}
	if err := s.db.Create(&old).Error; err != nil {
		t.Fatal(err)
	}
	if err := s.checkPending(ctx, &r, fail); err != nil || r.OK || r.Pending != 2 || !strings.Contains(r.Problem, "not chained") {
		t.Fatalf("old pending event: %+v, %v", r, err)
	}
	// A reader chains both, and the chain verifies.
	if r := mustVerify(t, s); !r.OK || r.Events != 2 || r.Pending != 0 {
		t.Fatalf("after chaining: %+v", r)
	}
}
