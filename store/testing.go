package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
)

// TestPostgresDSNEnv names the environment variable that points tests at a
// PostgreSQL server, e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable. The role must
// be allowed to create databases.
const TestPostgresDSNEnv = "KINETIC_TEST_POSTGRES_DSN"

// testMaxOpenConns caps a test PostgreSQL store's pool, so packages tested
// in parallel stay under the server's connection limit.
const testMaxOpenConns = 10

// OpenTest returns a migrated, empty Store for a test, closed (and on
// PostgreSQL dropped) when the test ends.
//
// With KINETIC_TEST_POSTGRES_DSN set it creates a fresh database
// kinetic_test_<random> on that server. Without it, under CI=true, the test
// fails; otherwise it uses SQLite in t.TempDir().
func OpenTest(t testing.TB) *Store {
	t.Helper()
	dsn := os.Getenv(TestPostgresDSNEnv)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(TestPostgresDSNEnv + " must be set under CI")
		}
		return OpenTestSQLite(t)
	}
	return openTestPostgres(t, dsn)
}

// OpenTestSQLite returns a migrated, empty SQLite Store in t.TempDir(),
// closed when the test ends.
func OpenTestSQLite(t testing.TB) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Open(ctx, Options{Driver: DialectSQLite, Path: filepath.Join(t.TempDir(), "kinetic.db")})
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate sqlite: %v", err)
	}
	return s
}

func openTestPostgres(t testing.TB, dsn string) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Open(ctx, Options{Driver: DialectPostgres, DSN: createTestPostgres(t, dsn)})
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if sqlDB, err := s.db.DB(); err == nil {
		sqlDB.SetMaxOpenConns(testMaxOpenConns)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate test database: %v", err)
	}
	return s
}

// createTestPostgres creates an empty database kinetic_test_<random> on
// dsn's server, to be dropped when the test ends, and returns its DSN.
func createTestPostgres(t testing.TB, dsn string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	testDSN, drop, err := CreateScratchDatabase(ctx, dsn, "kinetic_test_")
	if err != nil {
		t.Fatalf("%s: %v", TestPostgresDSNEnv, err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Error(err)
		}
	})
	return testDSN
}

// CreateScratchDatabase creates an empty database prefix<random> on the
// PostgreSQL server dsn points at (tests, benchmarks) and returns its DSN
// and a function that drops it, first ending its connections.
func CreateScratchDatabase(ctx context.Context, dsn, prefix string) (string, func() error, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	name := prefix + hex.EncodeToString(b[:])
	scratch, err := withDatabase(dsn, name)
	if err != nil {
		return "", nil, err
	}
	admin, err := Open(ctx, Options{Driver: DialectPostgres, DSN: dsn})
	if err != nil {
		return "", nil, err
	}
	err = admin.db.WithContext(ctx).Exec("CREATE DATABASE " + name).Error
	_ = admin.Close()
	if err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	return scratch, func() error { return dropDatabase(dsn, name) }, nil
}

// dropDatabase drops database name, first ending its connections.
func dropDatabase(dsn, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := Open(ctx, Options{Driver: DialectPostgres, DSN: dsn})
	if err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	defer func() { _ = admin.Close() }()
	db := admin.db.WithContext(ctx)
	if err := db.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ? AND pid <> pg_backend_pid()", name).Error; err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	if err := db.Exec("DROP DATABASE IF EXISTS " + name).Error; err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// withDatabase returns dsn pointed at database name.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("not a valid URL")
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	// key=value form: a later key wins.
	return dsn + " dbname=" + name, nil
}

// TestDB returns the gorm handle, for tests that read or arrange rows
// directly. Non-test code calls the Store's named methods instead.
//
// On PostgreSQL it first chains the audit events pending (see StageAudit),
// so a test reading audit_events sees every committed event.
func (s *Store) TestDB() *gorm.DB {
	_, _ = s.ChainPending(context.Background())
	return s.db
}
