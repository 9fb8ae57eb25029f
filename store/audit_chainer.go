package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	"gorm.io/gorm"
)

// The audit chainer: on PostgreSQL, state changes no longer wait on the
// audit head.
//
// Appending to the chain inside a transaction (AppendAudit) locks the
// audit_heads row until commit, so every transition of every case waits for
// the one before it to commit: measured under load, 68 % of PostgreSQL's
// busy backends waited on that lock. StageAudit instead writes a
// transaction's events to audit_pending, in that same transaction: an
// accepted event is as durable as the state change it records, and commits
// or rolls back with it. The chainer then moves pending events into the
// chain — seq, prev_hash and hash assigned in one transaction under the head
// lock, in audit_pending id order, a batch at a time — so the chain stays a
// single SHA-256 chain checked by VerifyAudit, and only the chainer waits on
// the head.
//
// Order: a case's transitions serialise on the case's row lock (LockCase),
// so a case's later transaction takes its pending ids after the earlier one
// committed, and no chainer can see the later events without the earlier:
// a case's events are chained in the order they happened. Events of
// unrelated transactions are chained in id order, which may differ from
// their commit order by the few transactions in flight.
//
// Every reader of the chain (VerifyAudit, VerifyAuditedState, ExportAudit,
// CaseChain, CheckAuditAnchor, AuditHeadNow, the case views, TestDB) first
// chains what is pending, so nothing it reads lags behind a committed state
// change. Each PostgreSQL Store runs a chainer in the background, woken
// after each committed Tx and every chainInterval; chainers of several
// processes serialise on the head, and each chains only what the others
// left. Between commit and chaining (milliseconds) an event is stored but
// not yet hashed: someone who can write the database could change or remove
// it in that window without VerifyAudit noticing, which is why the window is
// kept short and every reader closes it first.
//
// SQLite has one connection and a single writer, so there is nothing to
// gain: StageAudit chains at once there, as AppendAudit does.

// AuditPending is an audit event committed with its state change and not
// yet chained (PostgreSQL only; see StageAudit).
type AuditPending struct {
	ID       int64     `gorm:"primaryKey"`
	Time     time.Time `gorm:"not null"`
	CaseID   int64
	ActionID int64
	Actor    string `gorm:"size:256"`
	System   string `gorm:"size:128"`
	Event    string `gorm:"size:64;not null"`
	Result   string `gorm:"size:64"`
	Detail   string `gorm:"type:text"`
}

// TableName is audit_pending.
func (AuditPending) TableName() string { return "audit_pending" }

// chainBatch is how many pending events one chainer transaction chains.
const chainBatch = 1000

// chainInterval is how often the chainer looks for pending events when no
// commit woke it (events staged outside Store.Tx, or by another process
// whose chainer stopped).
const chainInterval = 200 * time.Millisecond

// StageAudit records entries in the caller's transaction tx, so a state
// change and its audit events commit together. On PostgreSQL they are
// written to audit_pending and chained after commit (see the chainer
// above); on SQLite they are chained at once (AppendAudit). Entries are
// checked and normalised as AppendAudit does; an invalid one fails with
// ErrInvalidEntry and nothing is written.
func StageAudit(tx *gorm.DB, entries ...Entry) error {
	if len(entries) == 0 {
		return nil
	}
	if tx.Dialector.Name() != DialectPostgres {
		_, err := AppendAudit(tx, entries...)
		return err
	}
	events, err := auditEvents(entries)
	if err != nil {
		return err
	}
	rows := make([]AuditPending, len(events))
	for i, e := range events {
		rows[i] = AuditPending{Time: e.Time, CaseID: e.CaseID, ActionID: e.ActionID, Actor: e.Actor,
			System: e.System, Event: e.Event, Result: e.Result, Detail: e.Detail}
	}
	db := tx.Session(&gorm.Session{NewDB: true})
	if err := db.CreateInBatches(rows, 500).Error; err != nil {
		return fmt.Errorf("store: stage audit: %w", err)
	}
	return nil
}

// ChainPending chains every audit event pending when it starts (see
// StageAudit) and returns how many it chained. It is a no-op on SQLite.
// Several callers, in one process or several, may run it at once: they
// serialise on the audit head, and each chains what the others left.
func (s *Store) ChainPending(ctx context.Context) (int, error) {
	if s.Dialect != DialectPostgres {
		return 0, nil
	}
	db := s.db.WithContext(ctx)
	total := 0
	for {
		// A cheap look first, so that readers and an idle chainer do not
		// take the head lock for nothing.
		var ids []int64
		if err := db.Model(&AuditPending{}).Order("id").Limit(1).Pluck("id", &ids).Error; err != nil {
			return total, fmt.Errorf("store: chain audit: %w", err)
		}
		if len(ids) == 0 {
			return total, nil
		}
		n := 0
		err := db.Transaction(func(tx *gorm.DB) error {
			var heads []AuditHead
			if err := tx.Raw("UPDATE audit_heads SET seq = seq WHERE id = 1 RETURNING id, seq, hash").Scan(&heads).Error; err != nil {
				return fmt.Errorf("lock head: %w", err)
			}
			if len(heads) != 1 {
				return ErrNoAuditHead
			}
			// Read after the head lock: what another chainer chained
			// while this one waited is gone.
			var rows []AuditPending
			if err := tx.Order("id").Limit(chainBatch).Find(&rows).Error; err != nil {
				return fmt.Errorf("read pending: %w", err)
			}
			if len(rows) == 0 {
				return nil
			}
			events := make([]AuditEvent, len(rows))
			done := make([]int64, len(rows))
			seq, prev := heads[0].Seq, heads[0].Hash
			for i, r := range rows {
				seq++
				events[i] = AuditEvent{Seq: seq, Time: r.Time, CaseID: r.CaseID, ActionID: r.ActionID, Actor: r.Actor,
					System: r.System, Event: r.Event, Result: r.Result, Detail: r.Detail, PrevHash: prev}
				events[i].Hash = HashEvent(&events[i])
				prev = events[i].Hash
				done[i] = r.ID
			}
			if err := tx.CreateInBatches(events, 500).Error; err != nil {
				return fmt.Errorf("insert: %w", err)
			}
			if err := tx.Exec("UPDATE audit_heads SET seq = ?, hash = ? WHERE id = 1", seq, prev).Error; err != nil {
				return fmt.Errorf("move head: %w", err)
			}
			if err := tx.Where("id IN ?", done).Delete(&AuditPending{}).Error; err != nil {
				return fmt.Errorf("delete pending: %w", err)
			}
			n = len(rows)
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("store: chain audit: %w", err)
		}
		total += n
		if n < chainBatch {
			return total, nil
		}
	}
}

// PendingBound is how long an audit event may wait to be chained before
// VerifyAudit reports it: a chainer runs in every serve and worker process
// and chains within milliseconds, so an older pending event means none ran
// (or one failed) since.
const PendingBound = time.Minute

// chainForRead chains what is pending before a reader reads the chain. It
// is best effort: a reader whose database role may not write (an auditor's
// read-only account) still reads the chain, and VerifyAudit reports what
// stayed pending too long.
func (s *Store) chainForRead(ctx context.Context) {
	if _, err := s.ChainPending(ctx); err != nil && s.log != nil {
		s.log.WithError(err).Debug("store: chaining pending audit events before a read")
	}
}

// PendingAudit returns how many audit events wait to be chained and the
// time of the oldest (zero when none).
func (s *Store) PendingAudit(ctx context.Context) (int64, time.Time, error) {
	if s.Dialect != DialectPostgres {
		return 0, time.Time{}, nil
	}
	var r struct {
		N      int64
		Oldest *time.Time
	}
	if err := s.db.WithContext(ctx).Model(&AuditPending{}).Select("COUNT(*) AS n, MIN(time) AS oldest").Scan(&r).Error; err != nil {
		return 0, time.Time{}, fmt.Errorf("store: pending audit: %w", err)
	}
	if r.Oldest == nil {
		return r.N, time.Time{}, nil
	}
	return r.N, *r.Oldest, nil
}

// chainer runs ChainPending in the background on PostgreSQL: after each
// committed Tx (kick) and every chainInterval, until stop closes.
type chainer struct {
	kick     chan struct{}
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

func (s *Store) startChainer() {
	c := &chainer{kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	s.chain = c
	go func() {
		defer close(c.done)
		t := time.NewTicker(chainInterval)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-c.kick:
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, err := s.ChainPending(ctx)
			cancel()
			if err != nil && s.log != nil {
				// Before Migrate the tables may not exist yet; the next
				// round tries again, and every reader chains first.
				s.log.WithError(err).Debug("store: audit chainer")
			}
		}
	}()
}

// wakeChainer asks the background chainer for a round; it never blocks.
func (s *Store) wakeChainer() {
	if s.chain == nil {
		return
	}
	select {
	case s.chain.kick <- struct{}{}:
	default:
	}
}

// stopChainer stops the background chainer and waits for its round to end.
func (s *Store) stopChainer() {
	if s.chain == nil {
		return
	}
	s.chain.stopOnce.Do(func() { close(s.chain.stop) })
	<-s.chain.done
}
