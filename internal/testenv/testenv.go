// Package testenv gives tests the real services they need: the Redis named
// by KINETIC_TEST_REDIS_ADDR (required when CI=true), or an in-process
// miniredis on a developer's machine. PostgreSQL is provided by
// store.OpenTest in the same way (KINETIC_TEST_POSTGRES_DSN).
package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// CI reports whether the tests run under CI, where a missing service is a
// failure, never a skip.
func CI() bool { return os.Getenv("CI") == "true" }

// RedisAddr returns the address of a Redis for this test, with database db
// flushed first (packages use distinct db numbers because `go test ./...`
// runs packages in parallel against the same server). Without
// KINETIC_TEST_REDIS_ADDR it starts a miniredis, except under CI, where it
// fails the test.
func RedisAddr(t testing.TB, db int) (addr string, dbIndex int) {
	t.Helper()
	if a := os.Getenv("KINETIC_TEST_REDIS_ADDR"); a != "" {
		rdb := redis.NewClient(&redis.Options{Addr: a, DB: db})
		defer rdb.Close()
		if err := rdb.FlushDB(context.Background()).Err(); err != nil {
			t.Fatalf("flushing the test Redis %s db %d: %v", a, db, err)
		}
		return a, db
	}
	if CI() {
		t.Fatal("KINETIC_TEST_REDIS_ADDR must be set under CI")
	}
	m := miniredis.RunT(t)
	return m.Addr(), 0
}

// RealRedis reports whether tests run against a real Redis server.
func RealRedis() bool { return os.Getenv("KINETIC_TEST_REDIS_ADDR") != "" }

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// Binary builds the kinetic command once per test process (go build of the
// module's main package, with the go tool that runs the tests) and returns
// its path, for tests that start kinetic serve and kinetic worker as
// separate processes.
func Binary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kinetic-testbin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "kinetic")
		goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goTool); err != nil {
			goTool = "go"
		}
		cmd := exec.Command(goTool, "build", "-o", binPath, "github.com/kineticsec/kinetic")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatalf("building the kinetic binary: %v", binErr)
	}
	return binPath
}
