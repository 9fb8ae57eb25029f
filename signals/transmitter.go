package signals

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/store"
)

// Defaults of Options.
const (
	DefaultPoll       = 5 * time.Second
	DefaultTimeout    = 10 * time.Second
	DefaultMinBackoff = 10 * time.Second
	DefaultMaxBackoff = time.Hour
	// scanEvery is how often the catch-up scan runs besides at start.
	scanEvery = time.Minute
	// batch is how many due SETs one claim takes; each is leased for
	// (batch+1) push timeouts, so a batch delivered one after another
	// never outlives its lease.
	batch = 10
)

// Options tune a Transmitter.
type Options struct {
	// Policy is the outbound URL policy every push passes. Required.
	Policy *outbound.URLPolicy
	// Log defaults to a discarding logger.
	Log *logrus.Entry
	// Now defaults to time.Now.
	Now func() time.Time
	// Poll is how often due SETs are looked for when nothing wakes the
	// transmitter; default DefaultPoll.
	Poll time.Duration
	// Timeout bounds each push; default DefaultTimeout.
	Timeout time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failed attempt: it
	// doubles from MinBackoff with each attempt up to MaxBackoff, or is
	// what the receiver's Retry-After asked when that is longer (up to 24
	// hours); defaults DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
}

type receiver struct {
	name, endpoint, host, authorization string
	cfg                                 *configs.SignalReceiver
	events                              map[EventType]bool
}

// Transmitter records a SET in the store's outbox for every reported
// action and receiver, and delivers the outbox. It is an engine.Observer;
// Bind gives it the store and Start runs it. Safe for concurrent use, and
// several processes may run one on the same database: each delivery is
// claimed with a lease first.
type Transmitter struct {
	cfg       *configs.Signals
	signer    *Signer
	client    *http.Client
	log       *logrus.Entry
	now       func() time.Time
	poll      time.Duration
	timeout   time.Duration
	minB      time.Duration
	maxB      time.Duration
	receivers map[string]*receiver
	names     []string

	st   atomic.Pointer[store.Store]
	mu   sync.Mutex
	ids  []int64
	wake chan struct{}
}

// New builds the transmitter cfg configures (the signals block, loaded and
// validated, its secrets read).
func New(cfg *configs.Signals, o Options) (*Transmitter, error) {
	if cfg == nil {
		return nil, errors.New("signals: no configuration")
	}
	if o.Policy == nil {
		return nil, errors.New("signals: an outbound URL policy is required")
	}
	signer, err := NewSigner(cfg.SigningKey.Value(), cfg.KeyID)
	if err != nil {
		return nil, err
	}
	t := &Transmitter{
		cfg: cfg, signer: signer, log: o.Log, now: o.Now, poll: o.Poll, timeout: o.Timeout,
		minB: o.MinBackoff, maxB: o.MaxBackoff, receivers: map[string]*receiver{}, wake: make(chan struct{}, 1),
	}
	if t.log == nil {
		l := logrus.New()
		l.Out = discard{}
		t.log = logrus.NewEntry(l)
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.poll <= 0 {
		t.poll = DefaultPoll
	}
	if t.timeout <= 0 {
		t.timeout = DefaultTimeout
	}
	if t.minB <= 0 {
		t.minB = DefaultMinBackoff
	}
	if t.maxB <= 0 {
		t.maxB = DefaultMaxBackoff
	}
	// The policy's client checks every address it connects to; a push is
	// never redirected (a redirected POST would be re-sent elsewhere or as
	// a GET), so a 3xx is an answer.
	c := *o.Policy.HTTPClient(t.timeout)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	t.client = &c
	for _, name := range slices.Sorted(maps.Keys(cfg.Receivers)) {
		rc := cfg.Receivers[name]
		u, err := url.Parse(rc.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("signals: receiver %s: the endpoint is not a URL", name)
		}
		r := &receiver{name: name, endpoint: rc.Endpoint, host: u.Scheme + "://" + u.Host,
			authorization: rc.AuthorizationHeader.Value(), cfg: rc, events: map[EventType]bool{}}
		for _, ev := range rc.Events {
			r.events[EventType(ev)] = true
		}
		t.receivers[name] = r
		t.names = append(t.names, name)
	}
	return t, nil
}

// Signer returns the transmitter's signer (its JWKS is published).
func (t *Transmitter) Signer() *Signer { return t.signer }

// Bind gives the transmitter its store; actions observed before are
// recorded when it runs.
func (t *Transmitter) Bind(st *store.Store) { t.st.Store(st) }

// Observe implements engine.Observer: a succeeded action is queued to be
// recorded (never blocks).
func (t *Transmitter) Observe(ev engine.Event) {
	if ev.Kind != engine.EventAction || ev.Status != store.ActionSucceeded || ev.ActionID == 0 {
		return
	}
	t.mu.Lock()
	t.ids = append(t.ids, ev.ActionID)
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

func (t *Transmitter) store() (*store.Store, error) {
	st := t.st.Load()
	if st == nil {
		return nil, errors.New("signals: not bound to a store")
	}
	return st, nil
}

func (t *Transmitter) clock() time.Time { return t.now().UTC().Truncate(time.Microsecond) }

// Record writes the SETs about action id to the outbox, if it succeeded
// with an outcome that is reported and its operation sends events, and
// returns how many rows were new (recording twice adds none).
func (t *Transmitter) Record(ctx context.Context, actionID int64) (int, error) {
	st, err := t.store()
	if err != nil {
		return 0, err
	}
	src, ok, err := st.SignalSourceOf(ctx, actionID)
	if err != nil || !ok {
		return 0, err
	}
	return t.record(ctx, st, src)
}

func (t *Transmitter) record(ctx context.Context, st *store.Store, src store.SignalSource) (int, error) {
	sigs := SignalsOf(connectors.Operation(src.Operation))
	if len(sigs) == 0 || !signalledOutcome(src.Outcome) {
		return 0, nil
	}
	if src.Simulated {
		// A sandbox connector's action changed nothing real: telling a
		// relying party otherwise would be a false security statement.
		return 0, nil
	}
	now := t.clock()
	var rows []store.SignalOutbox
	for _, name := range t.names {
		rc := t.receivers[name]
		for _, sig := range sigs {
			if !rc.events[sig.Type] {
				continue
			}
			c, err := buildClaims(t.cfg.Issuer, rc.cfg, sig, src, t.cfg.SubjectIssuers, now)
			if err != nil {
				return 0, err
			}
			js, err := marshalClaims(c)
			if err != nil {
				return 0, err
			}
			rows = append(rows, store.SignalOutbox{Receiver: name, CaseID: src.CaseID, ActionID: src.ActionID,
				EventType: string(sig.Type), JTI: c.ID, Claims: js, NextAttemptAt: now})
		}
	}
	return st.RecordSignals(ctx, rows)
}

// Scan records the SETs of every reported action that succeeded within
// signals.lookback and has none yet (an observer's process stopped between
// the action's commit and recording), and returns how many rows were new.
func (t *Transmitter) Scan(ctx context.Context) (int, error) {
	st, err := t.store()
	if err != nil {
		return 0, err
	}
	srcs, err := st.SignalSourcesSince(ctx, t.clock().Add(-t.cfg.Lookback.D()), signalledOperations())
	if err != nil {
		return 0, err
	}
	n := 0
	for _, src := range srcs {
		k, err := t.record(ctx, st, src)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Report counts what one DeliverDue did.
type Report struct {
	Delivered, Retrying, Failed int
}

// DeliverDue delivers every outbox row that is due, batch by batch, until
// none is left or ctx ends. A row the receiver accepted is marked
// delivered; one that failed in a way worth retrying stays pending with
// its next attempt pushed back; one the receiver refused for good is
// marked failed (kept, and made pending again when a transmitter starts,
// after its configuration may have been fixed). One row's failure never
// stops the others.
func (t *Transmitter) DeliverDue(ctx context.Context) (Report, error) {
	var rep Report
	st, err := t.store()
	if err != nil {
		return rep, err
	}
	for ctx.Err() == nil {
		rows, err := st.ClaimDueSignals(ctx, t.clock(), time.Duration(batch+1)*t.timeout, batch)
		if err != nil {
			return rep, err
		}
		if len(rows) == 0 {
			return rep, nil
		}
		for _, row := range rows {
			if err := t.deliver(ctx, st, row, &rep); err != nil {
				return rep, err
			}
		}
	}
	return rep, ctx.Err()
}

func (t *Transmitter) deliver(ctx context.Context, st *store.Store, row store.SignalOutbox, rep *Report) error {
	log := t.log.WithFields(logrus.Fields{"receiver": row.Receiver, "case": row.CaseID, "action": row.ActionID, "event": row.EventType, "jti": row.JTI})
	attempts := row.Attempts + 1
	rc := t.receivers[row.Receiver]
	if rc == nil {
		rep.Failed++
		log.Error("SET not delivered: its receiver is no longer configured")
		return st.MarkSignalFailed(ctx, row.ID, row.Attempts, "receiver "+row.Receiver+" is not configured", t.clock())
	}
	token, err := t.signer.Sign([]byte(row.Claims))
	if err != nil {
		return err
	}
	perr := push(ctx, t.client, rc, token)
	now := t.clock()
	switch {
	case perr == nil:
		rep.Delivered++
		log.WithField("attempts", attempts).Info("SET delivered")
		return st.MarkSignalDelivered(ctx, row.ID, attempts, now)
	case connectors.IsRetryable(perr):
		if ctx.Err() != nil {
			// Stopping: the attempt did not count; the lease runs out and
			// the row is due again.
			return ctx.Err()
		}
		rep.Retrying++
		next := now.Add(t.backoff(attempts, connectors.RetryAfterOf(perr)))
		log.WithError(perr).WithFields(logrus.Fields{"attempts": attempts, "next_attempt": next}).Warn("SET delivery failed; will retry")
		return st.MarkSignalRetry(ctx, row.ID, attempts, next, perr.Error(), now)
	default:
		rep.Failed++
		log.WithError(perr).WithField("attempts", attempts).Error("SET refused by its receiver; not retried until a transmitter starts again")
		return st.MarkSignalFailed(ctx, row.ID, attempts, perr.Error(), now)
	}
}

// backoff is the wait after the attempts-th failed attempt: MinBackoff
// doubled per attempt up to MaxBackoff, or retryAfter when longer.
func (t *Transmitter) backoff(attempts int, retryAfter time.Duration) time.Duration {
	d := t.minB
	for i := 1; i < attempts && d < t.maxB; i++ {
		d *= 2
	}
	d = min(d, t.maxB)
	return max(d, retryAfter)
}

// Start runs the transmitter until ctx ends: failed rows of configured
// receivers are made pending again, the catch-up scan runs, and then
// observed actions are recorded and due SETs delivered as they come, with
// a poll every Options.Poll and a scan every minute. The returned function
// waits for it to stop.
func (t *Transmitter) Start(ctx context.Context) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		t.run(ctx)
	}()
	return func() { <-done }
}

func (t *Transmitter) run(ctx context.Context) {
	st, err := t.store()
	if err != nil {
		t.log.WithError(err).Error("signals transmitter not started")
		return
	}
	for _, name := range t.names {
		if n, err := st.RequeueFailedSignals(ctx, name, t.clock()); err != nil {
			t.log.WithError(err).Warn("requeueing refused SETs failed")
		} else if n > 0 {
			t.log.WithFields(logrus.Fields{"receiver": name, "sets": n}).Info("SETs refused before are retried")
		}
	}
	t.scan(ctx)
	t.deliverDue(ctx)
	poll := time.NewTicker(t.poll)
	defer poll.Stop()
	scan := time.NewTicker(scanEvery)
	defer scan.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.wake:
			t.recordObserved(ctx)
		case <-poll.C:
		case <-scan.C:
			t.scan(ctx)
		}
		t.deliverDue(ctx)
	}
}

func (t *Transmitter) recordObserved(ctx context.Context) {
	t.mu.Lock()
	ids := t.ids
	t.ids = nil
	t.mu.Unlock()
	for _, id := range ids {
		if _, err := t.Record(ctx, id); err != nil && ctx.Err() == nil {
			// The catch-up scan records it later.
			t.log.WithError(err).WithField("action", id).Warn("recording SETs failed")
		}
	}
}

func (t *Transmitter) scan(ctx context.Context) {
	if n, err := t.Scan(ctx); err != nil && ctx.Err() == nil {
		t.log.WithError(err).Warn("SET catch-up scan failed")
	} else if n > 0 {
		t.log.WithField("sets", n).Info("SETs recorded by the catch-up scan")
	}
}

func (t *Transmitter) deliverDue(ctx context.Context) {
	if _, err := t.DeliverDue(ctx); err != nil && ctx.Err() == nil {
		t.log.WithError(err).Warn("delivering SETs failed")
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
