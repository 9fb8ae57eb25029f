package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/kineticsec/kinetic/store"
)

// auditCLISeed seeds the chain and the tamperings of TestAuditVerifyCommandDetectsTampering.
const auditCLISeed = 0x5eed_a0d1

// auditCLIDB returns a function that runs fn in a transaction on the
// database `kinetic audit verify --config cfg` will read: the config's
// SQLite file (opened for each call and closed after, so that no
// connection of the test stays open while the command and its child
// process use the file), or, with KINETIC_TEST_POSTGRES_DSN, a fresh
// PostgreSQL database that KINETIC_DATABASE_DSN points the command at
// (dropped when the test ends).
func auditCLIDB(t *testing.T, dir string) (tx func(fn func(tx *gorm.DB) error) error, dialect string) {
	t.Helper()
	ctx := context.Background()
	if dsn := os.Getenv(store.TestPostgresDSNEnv); dsn != "" {
		st := store.OpenTest(t) // migrated; dropped at the end
		var name string
		if err := st.TestDB().WithContext(ctx).Raw("SELECT current_database()").Scan(&name).Error; err != nil {
			t.Fatal(err)
		}
		testDSN := dsn + " dbname=" + name
		if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
			u.Path = "/" + name
			testDSN = u.String()
		}
		t.Setenv("KINETIC_DATABASE_DSN", testDSN)
		return func(fn func(tx *gorm.DB) error) error { return st.Tx(ctx, fn) }, st.Dialect
	}
	open := func() *store.Store {
		st, err := store.Open(ctx, store.Options{Driver: store.DialectSQLite, Path: filepath.Join(dir, "kinetic.db")})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := open()
	err := st.Migrate(ctx)
	_ = st.Close()
	if err != nil {
		t.Fatal(err)
	}
	return func(fn func(tx *gorm.DB) error) error {
		st := open()
		defer func() { _ = st.Close() }()
		return st.Tx(ctx, fn)
	}, store.DialectSQLite
}

// TestAuditVerifyCommandDetectsTampering runs `kinetic audit verify`
// against a real chain (generated through store.AppendAudit) on the
// configured database: it exits 0 on the untampered chain, and 1 naming the
// first broken event for each tampering — edit (in place and with the hash
// recomputed), delete, forged insert, reorder, truncate (head untouched and
// head seq edited), append past the head, a forged event before the first
// (seq 0), head row deleted. Each tampering
// is committed, checked, then undone by restoring the saved rows.
func TestAuditVerifyCommandDetectsTampering(t *testing.T) {
	dir := inTempDir(t)
	cfg := kitConfig(t, dir, "")
	inTx, dialect := auditCLIDB(t, dir)
	rng := rand.New(rand.NewPCG(auditCLISeed, 2))

	const n = 120
	actors := []string{"kinetic", "M1", "H1", "api:hris", "hr:bamboohr", "Zoë Ünïcødé"}
	for have := 0; have < n; {
		k := min(1+rng.IntN(6), n-have)
		entries := make([]store.Entry, k)
		for i := range entries {
			entries[i] = store.Entry{CaseID: int64(1 + rng.IntN(9)), ActionID: int64(rng.IntN(30)), Actor: actors[rng.IntN(len(actors))],
				System: "ad", Event: "action.finished", Result: "succeeded", Detail: fmt.Sprintf("disabled account %d, ticket #%d", have+i, rng.IntN(1e6))}
		}
		if err := inTx(func(tx *gorm.DB) error { _, err := store.AppendAudit(tx, entries...); return err }); err != nil {
			t.Fatal(err)
		}
		have += k
	}
	var evs []store.AuditEvent
	var head store.AuditHead
	if err := inTx(func(tx *gorm.DB) error {
		if err := tx.Order("seq").Find(&evs).Error; err != nil {
			return err
		}
		return tx.First(&head, 1).Error
	}); err != nil || len(evs) != n {
		t.Fatalf("%d events, %v", len(evs), err)
	}
	okLine := fmt.Sprintf("audit chain OK: %d events, head %d %s", n, n, evs[n-1].Hash)
	kinetic(t, "audit", "verify", "--config", cfg).want(t, 0, okLine)

	restore := func(t *testing.T) {
		t.Helper()
		err := inTx(func(tx *gorm.DB) error {
			if err := tx.Exec("DELETE FROM audit_events").Error; err != nil {
				return err
			}
			if err := tx.Exec("DELETE FROM audit_heads").Error; err != nil {
				return err
			}
			if err := tx.CreateInBatches(evs, 100).Error; err != nil {
				return err
			}
			return tx.Create(&head).Error
		})
		if err != nil {
			t.Fatalf("restoring the chain: %v", err)
		}
	}
	sql := func(q string, args ...any) func(tx *gorm.DB) error {
		return func(tx *gorm.DB) error { return tx.Exec(q, args...).Error }
	}
	k := int64(2 + rng.IntN(n-10)) // a random event in the middle
	rehashed := evs[k-1]
	rehashed.Actor = "H2"
	rehashed.Hash = store.HashEvent(&rehashed)
	forged := store.AuditEvent{Seq: k, Time: evs[k-1].Time, CaseID: evs[k-1].CaseID, Actor: "H1", Event: "approval.decided",
		Result: "approved", Detail: "forged approval", PrevHash: evs[k-2].Hash}
	forged.Hash = store.HashEvent(&forged)
	a, b := evs[k-1], evs[k+2]
	cols := func(e store.AuditEvent) map[string]any {
		return map[string]any{"time": e.Time, "case_id": e.CaseID, "action_id": e.ActionID, "actor": e.Actor, "system": e.System,
			"event": e.Event, "result": e.Result, "detail": e.Detail, "prev_hash": e.PrevHash, "hash": e.Hash}
	}
	type tamper struct {
		name     string
		do       []func(tx *gorm.DB) error
		firstBad int64
		problem  string
	}
	cases := []tamper{
		{"edit detail", []func(*gorm.DB) error{sql("UPDATE audit_events SET detail = ? WHERE seq = ?", "nothing was disabled", k)},
			k, fmt.Sprintf("event %d: hash does not match its contents (edited)", k)},
		{"edit actor, hash recomputed", []func(*gorm.DB) error{sql("UPDATE audit_events SET actor = ?, hash = ? WHERE seq = ?", rehashed.Actor, rehashed.Hash, k)},
			k + 1, fmt.Sprintf("event %d: prev_hash does not match event %d (reordered or inserted)", k+1, k)},
		{"edit time by a second", []func(*gorm.DB) error{func(tx *gorm.DB) error {
			return tx.Model(&store.AuditEvent{}).Where("seq = ?", k).Update("time", evs[k-1].Time.Add(-time.Second)).Error
		}}, k, fmt.Sprintf("event %d: hash does not match its contents (edited)", k)},
		{"delete one", []func(*gorm.DB) error{sql("DELETE FROM audit_events WHERE seq = ?", k)},
			k, fmt.Sprintf("event %d: expected seq %d, found %d (deleted or inserted)", k, k, k+1)},
		{"delete a run", []func(*gorm.DB) error{sql("DELETE FROM audit_events WHERE seq BETWEEN ? AND ?", k, k+4)},
			k, fmt.Sprintf("event %d: expected seq %d, found %d (deleted or inserted)", k, k, k+5)},
		{"forged insert, seqs shifted, head moved", []func(*gorm.DB) error{
			sql("UPDATE audit_events SET seq = -seq - 1 WHERE seq >= ?", k), sql("UPDATE audit_events SET seq = -seq WHERE seq < 0"),
			func(tx *gorm.DB) error { return tx.Create(&forged).Error }, sql("UPDATE audit_heads SET seq = seq + 1 WHERE id = 1"),
		}, k + 1, fmt.Sprintf("event %d: prev_hash does not match event %d (reordered or inserted)", k+1, k)},
		{"reorder two events", []func(*gorm.DB) error{
			func(tx *gorm.DB) error {
				return tx.Model(&store.AuditEvent{}).Where("seq = ?", k).Updates(cols(b)).Error
			},
			func(tx *gorm.DB) error {
				return tx.Model(&store.AuditEvent{}).Where("seq = ?", k+3).Updates(cols(a)).Error
			},
		}, k, fmt.Sprintf("event %d: prev_hash does not match event %d (reordered or inserted)", k, k-1)},
		{"truncate the tail", []func(*gorm.DB) error{sql("DELETE FROM audit_events WHERE seq > ?", k)},
			k + 1, fmt.Sprintf("chain ends at %d but head says %d (truncated)", k, n)},
		{"truncate the tail and edit the head's seq", []func(*gorm.DB) error{sql("DELETE FROM audit_events WHERE seq > ?", k), sql("UPDATE audit_heads SET seq = ? WHERE id = 1", k)},
			k, fmt.Sprintf("event %d: hash does not match the head's (replaced)", k)},
		{"append past the head", []func(*gorm.DB) error{func(tx *gorm.DB) error {
			e := store.AuditEvent{Seq: n + 1, Time: evs[n-1].Time, Actor: "H1", Event: "approval.decided", PrevHash: evs[n-1].Hash}
			e.Hash = store.HashEvent(&e)
			return tx.Create(&e).Error
		}}, n + 1, fmt.Sprintf("chain continues to %d past the head at %d (inserted after the head)", n+1, n)},
		{"forged event before the first (seq 0)", []func(*gorm.DB) error{func(tx *gorm.DB) error {
			e := store.AuditEvent{Seq: 0, Time: evs[0].Time, Actor: "H1", Event: "approval.decided", Result: "approved", PrevHash: store.GenesisHash}
			e.Hash = store.HashEvent(&e)
			return tx.Create(&e).Error
		}}, 1, "event 1: expected seq 1, found 0 (deleted or inserted)"},
		{"delete the head row", []func(*gorm.DB) error{sql("DELETE FROM audit_heads")}, 0, "the audit head row is missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Cleanup(func() { restore(t) })
			if err := inTx(func(tx *gorm.DB) error {
				for _, f := range tc.do {
					if err := f(tx); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatalf("tampering: %v", err)
			}
			r := kinetic(t, "audit", "verify", "--config", cfg)
			r.want(t, 1, fmt.Sprintf("audit chain BROKEN at event %d: %s\n", tc.firstBad, tc.problem),
				fmt.Sprintf("audit chain does not verify (first broken event %d)", tc.firstBad))
			if strings.Contains(r.stdout, "audit chain OK") {
				t.Errorf("the command also says OK:\n%s", r)
			}
		})
	}

	// The real binary's exit status, for one tampering.
	t.Run("exit status of the process", func(t *testing.T) {
		t.Cleanup(func() { restore(t) })
		if err := inTx(sql("UPDATE audit_events SET result = 'failed' WHERE seq = ?", k)); err != nil {
			t.Fatal(err)
		}
		enc, _ := json.Marshal([]string{"audit", "verify", "--config", cfg})
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), mainArgsEnv+"="+string(enc))
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var xe *exec.ExitError
		if !errors.As(err, &xe) || xe.ExitCode() != 1 {
			t.Fatalf("exit: %v, want status 1\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
		}
		if want := fmt.Sprintf("audit chain BROKEN at event %d: event %d: hash does not match its contents (edited)", k, k); !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, &stdout)
		}
		if want := fmt.Sprintf("kinetic: audit chain does not verify (first broken event %d)", k); !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, &stderr)
		}
	})

	// Rewrites that also move the head row agree with themselves and pass a
	// plain verify; an anchor recorded earlier outside the database (the
	// line verify prints) exposes them.
	anchor := fmt.Sprintf("%d:%s", n, evs[n-1].Hash)
	kinetic(t, "audit", "verify", "--config", cfg).want(t, 0, "record this anchor outside the database: "+anchor)
	kinetic(t, "audit", "verify", "--config", cfg, "--anchor", anchor).want(t, 0, "anchors OK: 1")
	rewrites := []tamper{
		{"truncate the tail and move the head to the new end", []func(*gorm.DB) error{
			sql("DELETE FROM audit_events WHERE seq > ?", k), sql("UPDATE audit_heads SET seq = ?, hash = ? WHERE id = 1", k, evs[k-1].Hash),
		}, n, fmt.Sprintf("event %d is gone (the chain was truncated or rewritten below it)", n)},
		{"rewrite an event, rehash everything after it, move the head", []func(*gorm.DB) error{func(tx *gorm.DB) error {
			prev := evs[k-2].Hash
			var last string
			for _, e := range evs[k-1:] {
				if e.Seq == k {
					e.Detail = "nothing was disabled"
				}
				e.PrevHash = prev
				e.Hash = store.HashEvent(&e)
				if err := tx.Model(&store.AuditEvent{}).Where("seq = ?", e.Seq).Updates(map[string]any{"detail": e.Detail, "prev_hash": e.PrevHash, "hash": e.Hash}).Error; err != nil {
					return err
				}
				prev, last = e.Hash, e.Hash
			}
			return tx.Exec("UPDATE audit_heads SET hash = ? WHERE id = 1", last).Error
		}}, n, fmt.Sprintf("event %d's hash is", n)},
	}
	for _, tc := range rewrites {
		t.Run(tc.name, func(t *testing.T) {
			t.Cleanup(func() { restore(t) })
			if err := inTx(func(tx *gorm.DB) error {
				for _, f := range tc.do {
					if err := f(tx); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatalf("tampering: %v", err)
			}
			kinetic(t, "audit", "verify", "--config", cfg).want(t, 0, "audit chain OK")
			kinetic(t, "audit", "verify", "--config", cfg, "--anchor", anchor).want(t, 1,
				fmt.Sprintf("audit chain BROKEN at anchor %d: %s", tc.firstBad, tc.problem), fmt.Sprintf("audit chain does not match anchor %d", tc.firstBad))
		})
	}
	kinetic(t, "audit", "verify", "--config", cfg, "--anchor", "12:zz").want(t, 2, "--anchor")

	// Restored: the chain verifies again, unchanged.
	kinetic(t, "audit", "verify", "--config", cfg).want(t, 0, okLine)
	t.Logf("seed %#x: chain of %d events, %d tamperings through kinetic audit verify (+1 through the process exit status), database %s",
		auditCLISeed, n, len(cases), dialect)
}

func len0[T any](s []T) int { return len(s) }
