package engine

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/store"
	"gorm.io/gorm"
)

// The employee snapshot taken when a case opened, and its cache.

// snapshot returns the HR record a case was opened with. It never changes
// once written, so every worker's action path reads it from the database
// once per case, then from a small cache. Callers only read it (its maps
// and slices are shared with the cache).
func (e *Engine) snapshot(tx *gorm.DB, caseID int64) (*directory.Employee, error) {
	if emp, ok := e.snaps.get(caseID); ok {
		return &emp, nil
	}
	var snap store.EmployeeSnapshot
	if err := tx.Where("case_id = ?", caseID).First(&snap).Error; err != nil {
		return nil, fmt.Errorf("loading employee snapshot: %w", err)
	}
	var emp directory.Employee
	if err := json.Unmarshal([]byte(snap.Data), &emp); err != nil {
		return nil, fmt.Errorf("decoding employee snapshot: %w", err)
	}
	e.snaps.put(caseID, emp)
	return &emp, nil
}

// snapCache holds recent cases' snapshots; it forgets everything when it
// grows past its bound, which is simpler than an LRU and just as good for a
// working set of cases in flight.
type snapCache struct {
	mu sync.Mutex
	m  map[int64]directory.Employee
}

const snapCacheMax = 4096

func (c *snapCache) get(id int64) (directory.Employee, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	emp, ok := c.m[id]
	return emp, ok
}

func (c *snapCache) put(id int64, emp directory.Employee) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= snapCacheMax {
		c.m = make(map[int64]directory.Employee)
	}
	c.m[id] = emp
}
