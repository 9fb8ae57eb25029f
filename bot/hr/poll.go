package hr

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/bot/hr/hrconfig"
	"github.com/kineticsec/kinetic/directory/bamboohr"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/outbound"
)

// PollStats counts what one poll did.
type PollStats struct {
	// Rows is the number of report rows or changed employees read.
	Rows int
	// Outcomes counts the engine's outcomes (opened, duplicate, …).
	Outcomes map[string]int
	// Skipped rows carry no termination change; Refused ones are invalid
	// (bad data, or refused by the engine); Failed ones could not be
	// recorded and are retried next round.
	Skipped, Refused, Failed int
}

// Poller polls one HR source. Poll is safe to call while Run runs; polls
// never overlap. The source is its format's (hrconfig.PollerFormat): the
// format reads the HR system and the Poller maps what it reads, hands the
// events to the engine and counts.
type Poller struct {
	name    string
	cfg     *hrconfig.Poller
	format  hrconfig.PollerFormat
	found   bool
	eng     Engine
	timing  engine.HRTiming
	client  *http.Client
	log     *logrus.Entry
	now     func() time.Time
	mapping Mapping
	bamboo  hrconfig.Fields

	mu sync.Mutex
	// src is the format's source, built at the first poll.
	src hrconfig.PollSource
	// terminated remembers the BambooHR employees reported terminated
	// (id → date), so that a later Active record without a termination
	// date is recognized as a rescission or a rehire.
	terminated map[string]string
	// warned holds the rows already logged as refused: a bad row in a
	// report is logged once per process, not every round.
	warned map[string]bool
}

// NewPoller returns the poller for cfg, named name (the recorded source),
// of cfg's format among o.Formats. Its HTTP client comes from policy (nil:
// the default policy, refusing internal addresses). cfg's secrets must be
// resolved.
func NewPoller(name string, cfg *hrconfig.Poller, timing engine.HRTiming, eng Engine, policy *outbound.URLPolicy, o Options) *Poller {
	o = o.withDefaults()
	p := &Poller{name: name, cfg: cfg, eng: eng, timing: timing, client: policy.HTTPClient(cfg.EffectiveTimeout()),
		log: o.Log.WithFields(logrus.Fields{"source": name, "format": cfg.Format}), now: o.Now,
		terminated: map[string]string{}, warned: map[string]bool{}}
	if i := slices.IndexFunc(o.Formats, func(f hrconfig.PollerFormat) bool { return f.Format == cfg.Format }); i >= 0 {
		p.format, p.found = o.Formats[i], true
	}
	if cfg.Fields != nil {
		p.mapping.Fields = *cfg.Fields
		p.bamboo = *cfg.Fields
	}
	p.mapping.Kinds, p.mapping.Kind = cfg.Kinds, cfg.Kind
	return p
}

// StartPollers starts every configured poller in its own goroutine: each
// polls soon after start (with a little jitter), then every `every` ±10%.
// Errors are logged and retried next round; a poll never crashes the
// process. stop cancels them and waits for polls in flight.
//
// Run the pollers in one process only (kinetic serve): more would poll the
// same source several times, harmlessly (the engine deduplicates) but
// wastefully.
//
// Each poller's format is looked up in cfg.PollerFormats (the formats the
// configuration was loaded with).
func StartPollers(ctx context.Context, cfg *hrconfig.Config, eng Engine, policy *outbound.URLPolicy, log *logrus.Entry) (stop func()) {
	return startPollers(ctx, cfg, eng, policy, Options{Log: log}, firstDelay)
}

// firstDelay spreads the first polls of several pollers and processes.
func firstDelay(every time.Duration) time.Duration {
	return rand.N(min(every/10, 30*time.Second) + 1)
}

func startPollers(ctx context.Context, cfg *hrconfig.Config, eng Engine, policy *outbound.URLPolicy, o Options, first func(time.Duration) time.Duration) func() {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if cfg != nil {
		o = o.withDefaults()
		if o.Formats == nil {
			o.Formats = cfg.PollerFormats()
		}
		for _, name := range slices.Sorted(maps.Keys(cfg.Pollers)) {
			pc := cfg.Pollers[name]
			if pc == nil {
				continue
			}
			p := NewPoller(name, pc, Timing(cfg), eng, policy, o)
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.Run(ctx, first(pc.EffectiveEvery()))
			}()
			p.log.WithField("every", pc.EffectiveEvery().String()).Info("HR poller started")
		}
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

// Run polls after first, then every `every` ±10%, until ctx ends.
func (p *Poller) Run(ctx context.Context, first time.Duration) {
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.pollAndLog(ctx)
		every := p.cfg.EffectiveEvery()
		t.Reset(every - every/10 + rand.N(every/5+1))
	}
}

func (p *Poller) pollAndLog(ctx context.Context) {
	defer func() {
		if r := recover(); r != nil {
			p.log.WithField("panic", fmt.Sprint(r)).Error("HR poll panicked; retrying next round")
		}
	}()
	st, err := p.Poll(ctx)
	log := p.log.WithFields(logrus.Fields{"rows": st.Rows, "outcomes": st.Outcomes, "skipped": st.Skipped, "refused": st.Refused, "failed": st.Failed})
	switch {
	case err != nil && ctx.Err() != nil:
	case err != nil:
		log.WithError(err).Error("HR poll failed; retrying next round")
	case len(st.Outcomes) == 0 && st.Refused == 0 || len(st.Outcomes) == 1 && st.Outcomes[engine.HRDuplicate] > 0:
		log.Debug("HR poll: nothing new")
	default:
		log.Info("HR poll done")
	}
}

// Poll fetches the source once and hands every termination change to the
// engine. A batch never stops at a bad row: each is counted, and the error
// joins those that must be retried (fetch failures, events that could not
// be recorded).
func (p *Poller) Poll(ctx context.Context) (PollStats, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := PollStats{Outcomes: map[string]int{}}
	if !p.found || p.format.New == nil {
		return st, fmt.Errorf("unknown poller format %q", p.cfg.Format)
	}
	if p.src == nil {
		maxPast := p.timing.MaxPast
		if maxPast <= 0 {
			maxPast = 30 * 24 * time.Hour
		}
		p.src = p.format.New(p.name, p.cfg, hrconfig.PollDeps{HTTP: p.client, Now: p.now, MaxPast: maxPast})
	}
	return st, p.src.Poll(ctx, &sink{p: p, st: &st})
}

// since is the source's cursor, when it keeps one (bamboohr_changed).
func (p *Poller) since() time.Time {
	if c, ok := p.src.(interface{ Since() time.Time }); ok {
		return c.Since()
	}
	return time.Time{}
}

// sink is one poll's hrconfig.Sink.
type sink struct {
	p  *Poller
	st *PollStats
}

func (s *sink) Read() { s.st.Rows++ }
func (s *sink) Skip() { s.st.Skipped++ }
func (s *sink) Fail() { s.st.Failed++ }

// Row maps one report row; a row that does not map is refused and logged
// once.
func (s *sink) Row(ctx context.Context, raw []byte) error {
	p := s.p
	ev, err := parseRow(p.name, raw, p.mapping)
	if err != nil {
		s.st.Refused++
		sum := sha256.Sum256(raw)
		p.warnOnce("row:"+hex.EncodeToString(sum[:]), p.log, err.Error())
		return nil
	}
	_, err = p.apply(ctx, ev, s.st)
	return err
}

func (s *sink) BambooHREmployee(ctx context.Context, id, lastChanged string, body []byte) error {
	return s.p.bambooEmployee(ctx, id, lastChanged, body, s.st)
}

// apply hands one event to the engine and counts the outcome.
func (p *Poller) apply(ctx context.Context, ev engine.HREvent, st *PollStats) (engine.HRResult, error) {
	// The HR source is the principal: Kinetic read it with its credentials.
	res, err := p.eng.HandleHREvent(engine.WithPrincipal(ctx, engine.Principal{ID: "hr:" + ev.Source}), ev, p.timing)
	log := p.log.WithFields(logrus.Fields{"kind": ev.Kind, "event_id": ev.EventID})
	switch {
	case errors.Is(err, engine.ErrInvalidRequest):
		st.Refused++
		p.warnOnce(ev.EventID, log, err.Error())
		return res, nil
	case err != nil:
		st.Failed++
		return res, fmt.Errorf("event %s: %w", ev.EventID, err)
	}
	st.Outcomes[res.Outcome]++
	if res.Outcome != engine.HRDuplicate {
		log.WithFields(logrus.Fields{"outcome": res.Outcome, "case": res.CaseID}).Info("HR event accepted")
	}
	return res, nil
}

func (p *Poller) warnOnce(key string, log *logrus.Entry, reason string) {
	if p.warned[key] {
		log.WithField("reason", reason).Debug("HR row refused (again)")
		return
	}
	if len(p.warned) < 100000 {
		p.warned[key] = true
	}
	log.WithField("reason", reason).Warn("HR row refused")
}

// HTTPError is a non-200 answer from an HR API (hrconfig.HTTPError).
type HTTPError = hrconfig.HTTPError

// bambooEmployee maps one employee's current fields: a termination date
// that is not history is a termination; an employee reported terminated
// earlier (by this process) who is Active again without one is a rehire
// (a hire date after the termination) or a rescission.
func (p *Poller) bambooEmployee(ctx context.Context, id, lastChanged string, body []byte, st *PollStats) error {
	var fields map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&fields); err != nil || !utf8.Valid(body) {
		st.Refused++
		p.warnOnce("employee:"+id, p.log.WithField("employee", id), "malformed employee JSON")
		return nil
	}
	state, err := bamboohr.ReadEmployee(id, lastChanged, fields, p.bamboo)
	if err != nil {
		st.Refused++
		p.warnOnce("employee:"+id+":"+lastChanged, p.log.WithField("employee", id), err.Error())
		return nil
	}
	kind := ""
	prev, known := p.terminated[id]
	switch {
	case state.Terminated():
		kind = hrconfig.KindTerminate
	case known && state.Active():
		kind = hrconfig.KindRescind
		if state.HireDate() != "" && state.HireDate() > prev {
			kind = hrconfig.KindRehire
		}
	}
	if kind == "" {
		st.Skipped++
		return nil
	}
	ev, err := state.Event(p.name, kind, body)
	if err != nil {
		st.Refused++
		p.warnOnce("employee:"+id+":"+kind+":"+state.Date(), p.log.WithField("employee", id), err.Error())
		return nil
	}
	if _, err := p.apply(ctx, toEngine(ev), st); err != nil {
		return err
	}
	if kind == hrconfig.KindTerminate {
		p.terminated[id] = state.Date()
	} else {
		delete(p.terminated, id)
	}
	return nil
}
