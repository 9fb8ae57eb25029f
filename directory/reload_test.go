package directory

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// rewrite replaces the file's content and moves its modification time on,
// so the change is seen even on file systems with coarse timestamps.
func rewrite(t *testing.T, path, data string, mod time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mod, mod); err != nil {
		t.Fatal(err)
	}
}

func TestFileReload(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "people.json")
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	rewrite(t, path, sampleJSON, start)
	clock := &testClock{t: start}
	f, err := OpenFile(path, FileOptions{Reload: 30 * time.Second, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}

	changed := strings.Replace(sampleJSON, `"name": "Alice"`, `"name": "Alice Renamed"`, 1)
	changed = strings.Replace(changed, `"E2", "email": "Bob@Example.com"`, `"E3", "email": "Bob@Example.com"`, 1)
	rewrite(t, path, changed, start.Add(time.Minute))

	t.Run("before the interval the old data is served", func(t *testing.T) {
		clock.Advance(29 * time.Second)
		a, err := f.ByID(ctx, "E1")
		if err != nil || a.Name != "Alice" {
			t.Fatalf("ByID(E1) = %+v, %v", a, err)
		}
	})
	t.Run("after the interval the next lookup sees the new data", func(t *testing.T) {
		clock.Advance(time.Second)
		a, err := f.ByID(ctx, "E1")
		if err != nil || a.Name != "Alice Renamed" {
			t.Fatalf("ByID(E1) = %+v, %v", a, err)
		}
		if _, err := f.ByID(ctx, "E2"); !errors.Is(err, ErrNotFound) {
			t.Errorf("E2 was renumbered E3; ByID(E2) = %v", err)
		}
		if b, err := f.ByChatUserID(ctx, "U2"); err != nil || b.ID != "E3" {
			t.Errorf("ByChatUserID(U2) = %+v, %v", b, err)
		}
		if f.Len() != 2 || f.LastReloadError() != nil {
			t.Errorf("Len = %d, LastReloadError = %v", f.Len(), f.LastReloadError())
		}
	})
	t.Run("a broken rewrite keeps the last good data", func(t *testing.T) {
		rewrite(t, path, `[{"id": "E9", "email": "x@example.com"`, start.Add(2*time.Minute))
		clock.Advance(30 * time.Second)
		a, err := f.ByID(ctx, "E1")
		if err != nil || a.Name != "Alice Renamed" {
			t.Fatalf("ByID(E1) after a broken rewrite = %+v, %v", a, err)
		}
		if err := f.LastReloadError(); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("LastReloadError = %v, want the parse error naming the file", err)
		}
		if err := f.Reload(); err == nil {
			t.Error("Reload of a broken file returns its error")
		}
		if f.Len() != 2 {
			t.Errorf("Len = %d after a failed Reload, want 2", f.Len())
		}
	})
	t.Run("a rewrite with invalid records keeps the last good data too", func(t *testing.T) {
		rewrite(t, path, `[{"id": "E9", "email": "x@example.com"}]`, start.Add(3*time.Minute))
		clock.Advance(30 * time.Second)
		if _, err := f.ByID(ctx, "E9"); !errors.Is(err, ErrNotFound) {
			t.Errorf("a record missing type and status must not be loaded: %v", err)
		}
	})
	t.Run("a fixed file is picked up again", func(t *testing.T) {
		rewrite(t, path, sampleJSON, start.Add(4*time.Minute))
		clock.Advance(30 * time.Second)
		if b, err := f.ByID(ctx, "E2"); err != nil || b.Name != "Bob" {
			t.Fatalf("ByID(E2) = %+v, %v", b, err)
		}
		if f.LastReloadError() != nil {
			t.Errorf("LastReloadError = %v after a good reload", f.LastReloadError())
		}
	})
	t.Run("Reload reads now, without waiting for the interval", func(t *testing.T) {
		rewrite(t, path, changed, start.Add(5*time.Minute))
		if err := f.Reload(); err != nil {
			t.Fatal(err)
		}
		if a, _ := f.ByID(ctx, "E1"); a == nil || a.Name != "Alice Renamed" {
			t.Errorf("ByID(E1) = %+v after Reload", a)
		}
	})
}

func TestFileWithoutReloadNeverRereads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "people.csv")
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	rewrite(t, path, sampleCSV, start)
	f, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rewrite(t, path, "id,email\n", start.Add(time.Hour))
	if f.Len() != 2 {
		t.Errorf("Len = %d; LoadFile's data never changes by itself", f.Len())
	}
	if err := (NewMemory(nil)).Reload(); err != nil {
		t.Errorf("Reload of an in-memory directory = %v, want nil", err)
	}
}

func TestFileReloadIsRaceFree(t *testing.T) {
	path := filepath.Join(t.TempDir(), "people.json")
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	rewrite(t, path, sampleJSON, start)
	clock := &testClock{t: start}
	f, err := OpenFile(path, FileOptions{Reload: time.Second, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if _, err := f.ByEmail(context.Background(), "alice@example.com"); err != nil {
					t.Error(err)
					return
				}
				_ = f.All()
			}
		}()
		if i%2 == 0 {
			rewrite(t, path, sampleJSON+"\n", start.Add(time.Duration(i+1)*time.Minute))
			clock.Advance(time.Second)
		}
	}
	wg.Wait()
}
