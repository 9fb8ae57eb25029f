package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/sirupsen/logrus"
	"gorm.io/gorm"
)

// forEachDialect runs fn against a fresh SQLite store and, when
// KINETIC_TEST_POSTGRES_DSN is set (required under CI), a fresh PostgreSQL
// database.
func forEachDialect(t *testing.T, fn func(t *testing.T, s *Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, OpenTestSQLite(t)) })
	t.Run("postgres", func(t *testing.T) {
		if os.Getenv(TestPostgresDSNEnv) == "" && os.Getenv("CI") != "true" {
			t.Skip(TestPostgresDSNEnv + " not set")
		}
		fn(t, OpenTest(t))
	})
}

func ctxForTest(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func openCaseFor(employee string) *Case {
	return &Case{
		EmployeeID:  employee,
		Trigger:     TriggerCLI,
		Requester:   "hr-1",
		EffectiveAt: time.Now(),
		Status:      CaseValidating,
	}
}

func TestOpenPostgresErrorHidesPassword(t *testing.T) {
	dsns := map[string]string{
		"url":           "postgres://postgres:hunter2@127.0.0.1:1/test?sslmode=disable&connect_timeout=5",
		"key=value":     "host=127.0.0.1 port=1 user=postgres password=hunter2 dbname=test sslmode=disable connect_timeout=5",
		"quoted":        "host=127.0.0.1 port=1 user=postgres password='hunter2' dbname=test sslmode=disable connect_timeout=5",
		"malformed url": "postgres://postgres:hunter2@127.0.0.1:notaport/test",
		"bad option":    "host=127.0.0.1 port=1 password=hunter2 sslmode=bogus",
	}
	for name, dsn := range dsns {
		t.Run(name, func(t *testing.T) {
			s, err := Open(ctxForTest(t), Options{Driver: DialectPostgres, DSN: dsn})
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded against a port nothing listens on")
			}
			for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				if strings.Contains(text, "hunter2") {
					t.Fatalf("error leaks the password: %s", text)
				}
			}
			var connErr *pgconn.ConnectError
			if errors.As(err, &connErr) {
				t.Fatal("error still wraps pgconn.ConnectError, whose Config holds the password")
			}
		})
	}
}

func TestOpenPostgresHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, err := Open(ctx, Options{Driver: DialectPostgres, DSN: "postgres://postgres:hunter2@127.0.0.1:1/test"})
	if err == nil {
		_ = s.Close()
		t.Fatal("Open succeeded with a cancelled context")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	ctx := ctxForTest(t)
	for name, o := range map[string]Options{
		"unknown driver":  {Driver: "mysql", DSN: "x"},
		"postgres no dsn": {Driver: DialectPostgres},
		"sqlite no path":  {Driver: DialectSQLite},
		"sqlite query":    {Driver: DialectSQLite, Path: t.TempDir() + "/k.db?mode=ro"},
	} {
		t.Run(name, func(t *testing.T) {
			if s, err := Open(ctx, o); err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
		})
	}
}

func TestOpenDefaultsToSQLite(t *testing.T) {
	s, err := Open(ctxForTest(t), Options{Path: t.TempDir() + "/sub/dir/kinetic.db"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Dialect != DialectSQLite {
		t.Fatalf("Dialect = %q", s.Dialect)
	}
}

func TestSQLitePragmas(t *testing.T) {
	s := OpenTestSQLite(t)
	db := s.db.WithContext(ctxForTest(t))
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"foreign_keys": "1",
		"busy_timeout": "10000",
		"synchronous":  "1", // NORMAL
	} {
		var got string
		if err := db.Raw("PRAGMA " + pragma).Row().Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", pragma, err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
		}
	}
	sqlDB, _ := s.db.DB()
	if n := sqlDB.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("MaxOpenConnections = %d, want 1", n)
	}
}

func TestPingAndClose(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := ctxForTest(t)
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Ping(ctx); err == nil {
			t.Fatal("Ping after Close succeeded")
		}
	})
}

func TestMigrateIsIdempotent(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := ctxForTest(t)
		if _, err := AppendAudit(s.db.WithContext(ctx), Entry{Event: "test"}); err != nil {
			t.Fatal(err)
		}
		// OpenTest migrated once already.
		for range 2 {
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("migrate again: %v", err)
			}
		}
		var heads []AuditHead
		if err := s.db.WithContext(ctx).Find(&heads).Error; err != nil {
			t.Fatal(err)
		}
		if len(heads) != 1 || heads[0].ID != 1 || heads[0].Seq != 1 {
			t.Fatalf("heads after re-migrating = %+v, want one row at seq 1", heads)
		}
		for _, idx := range []string{"idx_cases_one_open", "idx_actions_status_lease"} {
			table := "cases"
			if strings.HasPrefix(idx, "idx_actions") {
				table = "actions"
			}
			if !s.db.Migrator().HasIndex(table, idx) {
				t.Errorf("index %s missing", idx)
			}
		}
	})
}

func TestFreshHeadIsGenesis(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		var h AuditHead
		if err := s.db.WithContext(ctxForTest(t)).First(&h, 1).Error; err != nil {
			t.Fatal(err)
		}
		if h.Seq != 0 || h.Hash != GenesisHash || len(GenesisHash) != 64 {
			t.Fatalf("head = %+v", h)
		}
	})
}

func TestMigrateConcurrentlyOnPostgres(t *testing.T) {
	dsn := os.Getenv(TestPostgresDSNEnv)
	if dsn == "" {
		t.Skip(TestPostgresDSNEnv + " not set")
	}
	ctx := ctxForTest(t)
	testDSN := createTestPostgres(t, dsn)
	const procs = 4
	errs := make(chan error, procs)
	var wg sync.WaitGroup
	for range procs {
		// Separate pools stand in for separate processes.
		s, err := Open(ctx, Options{DSN: testDSN})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		wg.Go(func() { errs <- s.Migrate(ctx) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Migrate: %v", err)
		}
	}
}

func TestOneOpenCasePerEmployee(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		db := s.db.WithContext(ctxForTest(t))
		first := openCaseFor("emp-1")
		if err := db.Create(first).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Create(openCaseFor("emp-2")).Error; err != nil {
			t.Fatalf("another employee's case refused: %v", err)
		}

		err := db.Create(openCaseFor("emp-1")).Error
		if err == nil {
			t.Fatal("second open case for the same employee was accepted")
		}
		if !IsUniqueViolation(err) {
			t.Fatalf("IsUniqueViolation(%v) = false", err)
		}

		closed := time.Now()
		if err := db.Model(first).Updates(map[string]any{"status": CaseCompleted, "closed_at": closed}).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Create(openCaseFor("emp-1")).Error; err != nil {
			t.Fatalf("new case after the first closed: %v", err)
		}
	})
}

func TestIsUniqueViolation(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		db := s.db.WithContext(ctxForTest(t))
		key := "hr-event-1"
		c := openCaseFor("emp-1")
		c.IdempotencyKey = &key
		if err := db.Create(c).Error; err != nil {
			t.Fatal(err)
		}
		d := openCaseFor("emp-2")
		d.IdempotencyKey = &key
		err := db.Create(d).Error
		if !IsUniqueViolation(err) {
			t.Fatalf("duplicate idempotency key: IsUniqueViolation(%v) = false", err)
		}
		if !IsUniqueViolation(fmt.Errorf("create case: %w", err)) {
			t.Fatal("IsUniqueViolation does not look through wrapping")
		}
		// A primary-key clash is a unique violation too.
		err = db.Create(&AuditHead{ID: 1, Hash: GenesisHash}).Error
		if !IsUniqueViolation(err) {
			t.Fatalf("duplicate primary key: IsUniqueViolation(%v) = false", err)
		}
		// Other constraint failures are not.
		err = db.Create(&Action{CaseID: 999999, Name: "x", Connector: "x", Operation: "x", Status: ActionPending}).Error
		if err == nil {
			t.Fatal("foreign key not enforced")
		}
		if IsUniqueViolation(err) {
			t.Fatalf("IsUniqueViolation(%v) = true for a foreign key violation", err)
		}
	})
	for _, err := range []error{nil, errors.New("duplicate key"), gorm.ErrRecordNotFound, &pgconn.PgError{Code: "23503"}} {
		if IsUniqueViolation(err) {
			t.Errorf("IsUniqueViolation(%v) = true", err)
		}
	}
	for _, err := range []error{gorm.ErrDuplicatedKey, &pgconn.PgError{Code: "23505"}, fmt.Errorf("x: %w", &pgconn.PgError{Code: "23505"})} {
		if !IsUniqueViolation(err) {
			t.Errorf("IsUniqueViolation(%v) = false", err)
		}
	}
}

func TestTimesRoundTripInUTC(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		db := s.db.WithContext(ctxForTest(t))
		zone := time.FixedZone("UTC-5", -5*3600)
		eff := time.Date(2024, 5, 1, 9, 30, 0, 123456789, zone)
		c := openCaseFor("emp-1")
		c.EffectiveAt = eff
		if err := db.Create(c).Error; err != nil {
			t.Fatal(err)
		}
		var got Case
		if err := db.First(&got, c.ID).Error; err != nil {
			t.Fatal(err)
		}
		want := eff.UTC().Truncate(time.Microsecond)
		if !got.EffectiveAt.Equal(want) || got.EffectiveAt.Location() != time.UTC {
			t.Errorf("EffectiveAt = %v, want %v in UTC", got.EffectiveAt, want)
		}
		if got.CreatedAt.Location() != time.UTC || !got.CreatedAt.Equal(c.CreatedAt) {
			t.Errorf("CreatedAt = %v, stored %v", got.CreatedAt, c.CreatedAt)
		}
		if got.CreatedAt.Nanosecond()%1000 != 0 {
			t.Errorf("CreatedAt %v has sub-microsecond precision", got.CreatedAt)
		}
	})
}

// On SQLite times are text and compare as text: a parameter in another zone
// must still compare correctly with stored values.
func TestTimeParametersCompareAcrossZones(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		db := s.db.WithContext(ctxForTest(t))
		c := openCaseFor("emp-1")
		if err := db.Create(c).Error; err != nil {
			t.Fatal(err)
		}
		lease := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
		a := Action{CaseID: c.ID, Name: "disable_ad", Connector: "ad", Operation: "disable_account", Status: ActionRunning, MaxAttempts: 3, LeaseUntil: &lease}
		if err := db.Create(&a).Error; err != nil {
			t.Fatal(err)
		}
		east := time.FixedZone("UTC+9", 9*3600)
		for _, tc := range []struct {
			now     time.Time
			expired bool
		}{
			{time.Date(2024, 5, 1, 20, 59, 0, 0, east), false}, // 11:59 UTC
			{time.Date(2024, 5, 1, 21, 1, 0, 0, east), true},   // 12:01 UTC
		} {
			var n int64
			if err := db.Model(&Action{}).Where("status = ? AND lease_until < ?", ActionRunning, tc.now).Count(&n).Error; err != nil {
				t.Fatal(err)
			}
			if got := n == 1; got != tc.expired {
				t.Errorf("lease %v expired at %v = %v, want %v", lease, tc.now, got, tc.expired)
			}
		}
	})
}

func TestTxCommitsAndRollsBack(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := ctxForTest(t)
		count := func() int64 {
			var n int64
			if err := s.db.WithContext(ctx).Model(&Case{}).Count(&n).Error; err != nil {
				t.Fatal(err)
			}
			return n
		}
		boom := errors.New("boom")
		err := s.Tx(ctx, func(tx *gorm.DB) error {
			if err := tx.Create(openCaseFor("emp-1")).Error; err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Tx = %v, want boom", err)
		}
		if n := count(); n != 0 {
			t.Fatalf("%d cases after rollback", n)
		}

		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("panic was swallowed")
				}
			}()
			_ = s.Tx(ctx, func(tx *gorm.DB) error {
				tx.Create(openCaseFor("emp-1"))
				panic("boom")
			})
		}()
		if n := count(); n != 0 {
			t.Fatalf("%d cases after panic", n)
		}

		if err := s.Tx(ctx, func(tx *gorm.DB) error { return tx.Create(openCaseFor("emp-1")).Error }); err != nil {
			t.Fatal(err)
		}
		if n := count(); n != 1 {
			t.Fatalf("%d cases after commit", n)
		}
	})
}

func TestTxRetriesOnlyRetryableFailuresOnPostgres(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := ctxForTest(t)
		retries := s.Dialect == DialectPostgres
		for _, tc := range []struct {
			name      string
			failures  int
			code      string
			wantCalls int
			wantErr   bool
		}{
			{"serialization failure then success", 1, "40001", 2, false},
			{"deadlock then success", 2, "40P01", 3, false},
			{"serialization failure every time", 100, "40001", txAttempts, true},
			{"other error", 100, "23505", 1, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				calls := 0
				err := s.Tx(ctx, func(tx *gorm.DB) error {
					calls++
					if err := tx.Create(openCaseFor(fmt.Sprintf("emp-%d", calls))).Error; err != nil {
						return err
					}
					if calls <= tc.failures {
						return fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: tc.code})
					}
					return nil
				})
				want, wantErr := tc.wantCalls, tc.wantErr
				if !retries {
					want, wantErr = 1, true
				}
				if calls != want || (err != nil) != wantErr {
					t.Fatalf("calls = %d, err = %v; want %d calls, error %v", calls, err, want, wantErr)
				}
				_ = s.db.WithContext(ctx).Where("1 = 1").Delete(&Case{}).Error
			})
		}
	})
}

// A real deadlock: two transactions lock two rows in opposite orders; one
// is chosen as the victim and Tx runs it again, so both succeed.
func TestTxRetriesRealDeadlockOnPostgres(t *testing.T) {
	if os.Getenv(TestPostgresDSNEnv) == "" {
		t.Skip(TestPostgresDSNEnv + " not set")
	}
	s := OpenTest(t)
	ctx := ctxForTest(t)
	a, b := openCaseFor("emp-a"), openCaseFor("emp-b")
	if err := s.db.WithContext(ctx).Create(a).Error; err != nil {
		t.Fatal(err)
	}
	if err := s.db.WithContext(ctx).Create(b).Error; err != nil {
		t.Fatal(err)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		attempts int
	)
	// Both transactions hold their first lock before either asks for its
	// second, on the first attempt only.
	firstLocks := make(chan struct{}, 2)
	bothLocked := make(chan struct{})
	go func() { <-firstLocks; <-firstLocks; close(bothLocked) }()
	errs := make(chan error, 2)
	for _, order := range [][2]int64{{a.ID, b.ID}, {b.ID, a.ID}} {
		wg.Go(func() {
			first := true
			errs <- s.Tx(ctx, func(tx *gorm.DB) error {
				mu.Lock()
				attempts++
				mu.Unlock()
				if err := tx.Exec("UPDATE cases SET reason = 'x' WHERE id = ?", order[0]).Error; err != nil {
					return err
				}
				if first {
					first = false
					firstLocks <- struct{}{}
					select {
					case <-bothLocked:
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				return tx.Exec("UPDATE cases SET reason = 'y' WHERE id = ?", order[1]).Error
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Tx: %v", err)
		}
	}
	if attempts < 3 {
		t.Fatalf("attempts = %d, want a retry after the deadlock", attempts)
	}
}

func TestGormLogsFailuresWithoutValues(t *testing.T) {
	var buf bytes.Buffer
	l := logrus.New()
	l.SetOutput(&buf)
	l.SetFormatter(&logrus.JSONFormatter{})
	ctx := ctxForTest(t)
	s, err := Open(ctx, Options{Path: filepath.Join(t.TempDir(), "k.db"), Log: logrus.NewEntry(l)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	db := s.db.WithContext(ctx)
	if err := db.Create(&AuditHead{ID: 1, Hash: GenesisHash}).Error; !IsUniqueViolation(err) {
		t.Fatalf("want a unique violation, got %v", err)
	}
	if buf.Len() != 0 {
		t.Fatalf("an expected unique violation was logged: %s", buf.String())
	}
	if err := db.Exec("SELEC ?", "secret-value").Error; err == nil {
		t.Fatal("bad SQL succeeded")
	}
	if !strings.Contains(buf.String(), "SELEC ?") || !strings.Contains(buf.String(), `"level":"warning"`) {
		t.Fatalf("failed statement not logged at warning: %s", buf.String())
	}
	if strings.Contains(buf.String(), "secret-value") {
		t.Fatalf("log carries a parameter value: %s", buf.String())
	}
}

// Other packages' tests call OpenTest in parallel.
func TestOpenTestInParallel(t *testing.T) {
	for i := range 4 {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			s := OpenTest(t)
			if err := s.db.WithContext(ctxForTest(t)).Create(openCaseFor("emp-1")).Error; err != nil {
				t.Fatal(err)
			}
		})
	}
}
