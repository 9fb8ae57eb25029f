package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// auditStateRedisDB is this test's Redis database (see testenv.RedisAddr).
const auditStateRedisDB = 14

// TestAuditVerifyCommandChecksState runs real cases through the engine on
// the database `kinetic audit verify` reads (see auditCLIDB), then changes rows behind
// the engine's back without touching the chain — an insider closing a
// failed case by marking its failed revocation and the action blocked
// behind it succeeded. The command, as a process, exits 1 and names each
// row with the database's and the audit trail's state; undone, it exits 0.
func TestAuditVerifyCommandChecksState(t *testing.T) {
	dir := inTempDir(t)
	cfg := kitConfig(t, dir, "")
	ctx := context.Background()
	// The migrated SQLite file, or with KINETIC_TEST_POSTGRES_DSN a fresh
	// PostgreSQL database that KINETIC_DATABASE_DSN points the command at.
	_, dialect := auditCLIDB(t, dir)
	openDB := func() *store.Store {
		o := store.Options{Driver: store.DialectSQLite, Path: filepath.Join(dir, "kinetic.db")}
		if dialect == store.DialectPostgres {
			o = store.Options{Driver: store.DialectPostgres, DSN: os.Getenv(configs.EnvDatabaseDSN)}
		}
		st, err := store.Open(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := openDB()
	var failed, done *store.Case
	t.Run("cases run through the engine", func(t *testing.T) { // the kit stops when this subtest ends
		k := testkit.New(t, testkit.Options{Store: st, RedisDB: auditStateRedisDB})
		k.Sandbox("ad").FailNext("erin@example.test", 100, connectors.KindForbidden, 0)
		if _, err := k.StartWorker(); err != nil {
			t.Fatal(err)
		}
		o, err := k.Engine.Open(ctx, engine.Request{EmployeeID: "E1", Requester: "M1", Trigger: store.TriggerCLI})
		if err != nil {
			t.Fatal(err)
		}
		failed = k.WaitClosed(t, o.Case.ID, 30*time.Second)
		if o, err = k.Engine.Open(ctx, engine.Request{EmployeeID: "E2", Requester: "M1", Trigger: store.TriggerCLI}); err != nil {
			t.Fatal(err)
		}
		done = k.WaitClosed(t, o.Case.ID, 30*time.Second)
	})
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	if failed.Status != store.CaseFailed || done.Status != store.CaseCompleted {
		t.Fatalf("cases %s and %s, want failed and completed", failed.Status, done.Status)
	}
	nActions := len(failed.Actions) + len(done.Actions)
	okLine := fmt.Sprintf("state matches the audit trail: 2 cases, %d actions, 0 approvals", nActions)
	kinetic(t, "audit", "verify", "--config", cfg).want(t, 0, "audit chain OK: ", okLine)

	id := func(name string) int64 {
		for _, a := range failed.Actions {
			if a.Name == name {
				return a.ID
			}
		}
		t.Fatalf("no action %s", name)
		return 0
	}
	sqlExec := func(q string, args ...any) {
		t.Helper()
		st := openDB()
		defer func() { _ = st.Close() }()
		if res := st.TestDB().Exec(q, args...); res.Error != nil || res.RowsAffected == 0 {
			t.Fatalf("%s: %v (%d rows)", q, res.Error, res.RowsAffected)
		}
	}
	sqlExec("UPDATE actions SET status = 'succeeded' WHERE case_id = ? AND name IN ('disable_ad','remove_ad_groups')", failed.ID)
	sqlExec("UPDATE cases SET status = 'completed' WHERE id = ?", failed.ID)

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
	for _, want := range []string{
		"audit chain OK: ", // the chain itself was not touched
		fmt.Sprintf(`state MISMATCH: case %d: status is "completed" in the database, "failed" by the audit trail`, failed.ID),
		fmt.Sprintf(`state MISMATCH: case %d action %d (disable_ad): status is "succeeded" in the database, "failed" by the audit trail`, failed.ID, id("disable_ad")),
		fmt.Sprintf(`state MISMATCH: case %d action %d (remove_ad_groups): status is "succeeded" in the database, "blocked" by the audit trail`, failed.ID, id("remove_ad_groups")),
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, &stdout)
		}
	}
	if n := strings.Count(stdout.String(), "state MISMATCH"); n != 3 {
		t.Errorf("%d mismatches reported, want 3:\n%s", n, &stdout)
	}
	if want := "kinetic: the database's state does not match the audit trail (3 mismatches)"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, &stderr)
	}

	sqlExec("UPDATE actions SET status = 'failed' WHERE id = ?", id("disable_ad"))
	sqlExec("UPDATE actions SET status = 'blocked' WHERE id = ?", id("remove_ad_groups"))
	sqlExec("UPDATE cases SET status = 'failed' WHERE id = ?", failed.ID)
	kinetic(t, "audit", "verify", "--config", cfg).want(t, 0, okLine)
	t.Logf("database %s", dialect)
}
