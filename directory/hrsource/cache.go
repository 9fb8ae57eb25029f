package hrsource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/directory"
)

// Cache defaults.
const (
	// DefaultTTL is how long a fetched snapshot is served before the next
	// lookup refreshes it.
	DefaultTTL = 15 * time.Minute
	// DefaultFetchTimeout bounds one whole fetch (every page, every call).
	DefaultFetchTimeout = 5 * time.Minute
	// maxRetryBackoff caps how long a failed refresh holds back the next
	// attempt.
	maxRetryBackoff = time.Minute
)

// FetchFunc fetches the whole directory from the HR system. Its errors
// should be *directory.SourceError (see HTTP).
type FetchFunc func(ctx context.Context) ([]directory.Employee, error)

// Options configure a Cache.
type Options struct {
	// Source names the source type in logs and errors ("bamboohr").
	Source string
	// TTL is how long a snapshot is fresh; default DefaultTTL.
	TTL time.Duration
	// FetchTimeout bounds one fetch; default DefaultFetchTimeout.
	FetchTimeout time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Log receives refresh results; default a discarding logger.
	Log *logrus.Entry
}

// Cache serves directory lookups from a snapshot of the whole HR directory.
//
// Contract: a lookup answers from the last snapshot while it is younger
// than the TTL. The first lookup after that refreshes it, and every lookup
// made meanwhile waits for that one fetch (single-flight; a caller whose
// context ends stops waiting, the fetch goes on). When the refresh fails the
// stale snapshot keeps being served (the failure is logged) until it is two
// TTLs old; after that lookups return the failure, a *directory.SourceError
// that says whether it is retryable. After a failure the next attempt waits
// a quarter of the TTL (at most a minute), so an outage is not hammered by
// every lookup. A fetch that returns nobody is treated as a failure: an
// HR system never legitimately employs no one, and an empty answer (a
// report that lost its permissions) must not replace a good snapshot.
type Cache struct {
	source  string
	fetch   FetchFunc
	ttl     time.Duration
	timeout time.Duration
	now     func() time.Time
	log     *logrus.Entry

	mu        sync.Mutex
	snap      *directory.File // nil before the first good fetch
	fetchedAt time.Time
	inflight  *call
	lastErr   error
	failedAt  time.Time
}

// call is one fetch in flight.
type call struct {
	done chan struct{}
	err  error
}

var (
	_ directory.Directory = (*Cache)(nil)
	_ directory.Lister    = (*Cache)(nil)
	_ directory.Refresher = (*Cache)(nil)
)

// NewCache returns a Cache over fetch. It fetches nothing until the first
// lookup or Refresh.
func NewCache(fetch FetchFunc, o Options) *Cache {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.FetchTimeout <= 0 {
		o.FetchTimeout = DefaultFetchTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		o.Log = logrus.NewEntry(l)
	}
	return &Cache{
		source: o.Source, fetch: fetch, ttl: o.TTL, timeout: o.FetchTimeout, now: o.Now,
		log: o.Log.WithField("directory", o.Source),
	}
}

// ByID finds by HR employee id.
func (c *Cache) ByID(ctx context.Context, id string) (*directory.Employee, error) {
	f, err := c.get(ctx)
	if err != nil {
		return nil, err
	}
	return f.ByID(ctx, id)
}

// ByEmail finds by email, case-insensitively.
func (c *Cache) ByEmail(ctx context.Context, email string) (*directory.Employee, error) {
	f, err := c.get(ctx)
	if err != nil {
		return nil, err
	}
	return f.ByEmail(ctx, email)
}

// ByChatUserID finds by chat user id (the mapped chat_user_id field).
func (c *Cache) ByChatUserID(ctx context.Context, id string) (*directory.Employee, error) {
	f, err := c.get(ctx)
	if err != nil {
		return nil, err
	}
	return f.ByChatUserID(ctx, id)
}

// All returns the last snapshot's employees, sorted by ID, without
// fetching: nil before the first successful fetch (call Refresh first).
func (c *Cache) All() []directory.Employee {
	c.mu.Lock()
	s := c.snap
	c.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.All()
}

// FetchedAt returns when the current snapshot was fetched (zero before the
// first successful fetch).
func (c *Cache) FetchedAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fetchedAt
}

// Refresh fetches the directory now, whatever the snapshot's age (joining a
// fetch already under way), and returns the fetch's error; a failure keeps
// the previous snapshot.
func (c *Cache) Refresh(ctx context.Context) error {
	c.mu.Lock()
	cl := c.inflight
	if cl == nil {
		cl = c.start(ctx)
	}
	c.mu.Unlock()
	select {
	case <-cl.done:
		return cl.err
	case <-ctx.Done():
		return c.ctxErr(ctx)
	}
}

// get returns the snapshot to answer from, refreshing it as the contract
// says.
func (c *Cache) get(ctx context.Context) (*directory.File, error) {
	c.mu.Lock()
	now := c.now()
	if c.snap != nil && now.Sub(c.fetchedAt) < c.ttl {
		s := c.snap
		c.mu.Unlock()
		return s, nil
	}
	cl := c.inflight
	if cl == nil {
		if !c.failedAt.IsZero() && now.Sub(c.failedAt) < c.backoff() {
			defer c.mu.Unlock()
			return c.staleOr(now, c.lastErr)
		}
		cl = c.start(ctx)
	}
	c.mu.Unlock()
	select {
	case <-cl.done:
	case <-ctx.Done():
		return nil, c.ctxErr(ctx)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl.err == nil {
		return c.snap, nil
	}
	return c.staleOr(c.now(), cl.err)
}

func (c *Cache) backoff() time.Duration { return min(c.ttl/4, maxRetryBackoff) }

// staleOr returns the stale snapshot while it is younger than two TTLs,
// else err. c.mu is held.
func (c *Cache) staleOr(now time.Time, err error) (*directory.File, error) {
	if c.snap != nil && now.Sub(c.fetchedAt) < 2*c.ttl {
		return c.snap, nil
	}
	if c.snap == nil {
		return nil, err
	}
	out := &directory.SourceError{
		Source: c.source, Op: fmt.Sprintf("the directory fetched at %s is older than twice the TTL (%s) and refreshing it failed", c.fetchedAt.UTC().Format(time.RFC3339), 2*c.ttl),
		Err: err,
	}
	var se *directory.SourceError
	if errors.As(err, &se) {
		out.Retryable, out.Status = se.Retryable, se.Status
	}
	return nil, out
}

func (c *Cache) ctxErr(ctx context.Context) error {
	return &directory.SourceError{Source: c.source, Op: "waiting for the directory to be fetched", Retryable: true, Err: ctx.Err()}
}

// start begins a fetch; c.mu is held. The fetch runs detached from the
// caller's cancellation (other callers wait for it too), bounded by the
// fetch timeout.
func (c *Cache) start(ctx context.Context) *call {
	cl := &call{done: make(chan struct{})}
	c.inflight = cl
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	go func() {
		defer cancel()
		began := c.now()
		emps, err := c.fetch(fctx)
		if err == nil && len(emps) == 0 {
			err = &directory.SourceError{Source: c.source, Op: "fetching the directory", Err: errors.New("the HR system returned no employees; keeping the previous snapshot (check the report or account's permissions)")}
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		now := c.now()
		if err != nil {
			c.lastErr, c.failedAt = err, now
			l := c.log.WithError(err).WithField("retryable", directory.IsRetryable(err))
			switch {
			case c.snap == nil:
				l.Error("fetching the HR directory failed; lookups fail until it succeeds")
			case now.Sub(c.fetchedAt) < 2*c.ttl:
				l.WithFields(logrus.Fields{
					"snapshot_fetched_at": c.fetchedAt.UTC().Format(time.RFC3339),
					"served_until":        c.fetchedAt.Add(2 * c.ttl).UTC().Format(time.RFC3339),
				}).Warn("refreshing the HR directory failed; serving the previous snapshot")
			default:
				l.WithField("snapshot_fetched_at", c.fetchedAt.UTC().Format(time.RFC3339)).
					Error("refreshing the HR directory failed and the previous snapshot is too old to serve; lookups fail")
			}
		} else {
			c.snap = directory.NewMemory(emps)
			c.fetchedAt = now
			c.lastErr, c.failedAt = nil, time.Time{}
			c.log.WithFields(logrus.Fields{"employees": len(emps), "took": now.Sub(began).String()}).Info("HR directory fetched")
		}
		cl.err = err
		c.inflight = nil
		close(cl.done)
	}()
	return cl
}

// LogReport logs what a Mapper could not use.
func LogReport(log *logrus.Entry, rep Report) {
	if log == nil {
		return
	}
	if rep.NoID > 0 {
		log.WithField("records", rep.NoID).Warn("HR records without an id were skipped (check fields.id)")
	}
	if len(rep.DuplicateIDs) > 0 {
		ids := rep.DuplicateIDs
		if len(ids) > 20 {
			ids = ids[:20]
		}
		log.WithFields(logrus.Fields{"count": len(rep.DuplicateIDs), "ids": ids}).Warn("HR records share an id; the first of each was kept")
	}
	if rep.UnresolvedManagers > 0 {
		log.WithField("references", rep.UnresolvedManagers).Warn("manager or hr_partner references match no employee's manager_key and were dropped (check fields.manager and manager_key)")
	}
}
