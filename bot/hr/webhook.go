// Package hr is Kinetic's HR front end: it authenticates and parses
// termination events from HR systems and hands them to the engine
// (engine.HandleHREvent), which records, deduplicates and applies them.
//
// Two ways in: signed webhooks (POST /hr/webhooks/{source}; BambooHR's own
// format, or a generic HMAC-signed JSON event that SuccessFactors, Workday
// or any relay can send) and pollers (a Workday RaaS report, BambooHR's
// "changed since" API). Configuration is bot/hr/hrconfig; the service
// file's hr: block. See docs/hr.md.
//
// The formats describe themselves (hrconfig.WebhookFormat and
// PollerFormat, listed in internal/compose/table): the handler and the
// pollers look a source's format up in what they are given and never
// switch on a format's name.
package hr

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/bot/hr/hrconfig"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/jsonbody"
	"github.com/kineticsec/kinetic/internal/replay"
)

// Engine applies HR events; *engine.Engine implements it.
type Engine interface {
	HandleHREvent(ctx context.Context, ev engine.HREvent, timing engine.HRTiming) (engine.HRResult, error)
}

// MaxBody is the largest webhook body accepted (1 MiB); larger ones are
// answered 413.
const MaxBody = 1 << 20

// Timing converts the configuration's timing to the engine's.
func Timing(c *hrconfig.Config) engine.HRTiming {
	if c == nil {
		return engine.HRTiming{}
	}
	return engine.HRTiming{RevokeAt: c.Timing.RevokeAt, MaxFuture: c.Timing.MaxFuture.D(), MaxPast: c.Timing.MaxPast.D()}
}

// Options tune the webhook handler and the pollers.
type Options struct {
	// Log receives one line per request or poll (never a secret or a
	// signature); default the standard logger.
	Log *logrus.Entry
	// Now is the clock for timestamps and cursors; default time.Now.
	Now func() time.Time
	// Replay remembers accepted webhook signatures (keyed "source:signature",
	// for twice the source's tolerance: a replay later than that fails the
	// timestamp check anyway); default a replay.Memory in this process of
	// replay.DefaultCapacity entries. kinetic serve passes a replay.Redis
	// under replay.HRPrefix, shared by every replica, so a replay is refused
	// by every replica and after a restart.
	Replay replay.Store
	// Formats are the poller formats NewPoller looks a poller's format up
	// in; StartPollers defaults them to the configuration's
	// (hrconfig.Config.PollerFormats).
	Formats []hrconfig.PollerFormat
	// WebhookFormats are the webhook formats NewHandler looks a webhook's
	// format up in; default the configuration's
	// (hrconfig.Config.WebhookFormats).
	WebhookFormats []hrconfig.WebhookFormat
}

func (o Options) withDefaults() Options {
	if o.Log == nil {
		o.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Replay == nil {
		o.Replay = replay.NewMemory(replay.DefaultCapacity, o.Now)
	}
	return o
}

// Result is what one event did, as the webhook answers it: the engine's
// result (outcome opened, rescheduled, unchanged, duplicate, cancelled,
// too_late, restore_requested, unknown_employee or ignored), or the reason
// the event was refused (Error).
type Result struct {
	// Employee is the source's reference for the person (BambooHR's
	// employee id), for multi-employee payloads.
	Employee string `json:"employee,omitempty"`
	EventID  string `json:"event_id,omitempty"`
	engine.HRResult
	Error string `json:"error,omitempty"`
}

// Handler serves POST /hr/webhooks/{source}.
type Handler struct {
	eng    Engine
	timing engine.HRTiming
	log    *logrus.Entry
	now    func() time.Time
	replay replay.Store
	hooks  map[string]*hook
}

type hook struct {
	name   string
	cfg    *hrconfig.Webhook
	format hrconfig.WebhookFormat
	// ready: the secret is resolved and the format known.
	ready bool
}

// NewHandler returns the webhook handler for cfg's webhooks, each of its
// format among o.WebhookFormats (default cfg's). cfg's secrets must be
// resolved (configs.Load does it); a source whose secret is empty, or
// whose format is not among them, answers 503 to everything rather than
// accept unsigned requests.
func NewHandler(cfg *hrconfig.Config, eng Engine, o Options) *Handler {
	o = o.withDefaults()
	h := &Handler{eng: eng, timing: Timing(cfg), log: o.Log, now: o.Now, replay: o.Replay, hooks: map[string]*hook{}}
	if cfg == nil {
		return h
	}
	formats := o.WebhookFormats
	if formats == nil {
		formats = cfg.WebhookFormats()
	}
	for name, w := range cfg.Webhooks {
		if w == nil {
			continue
		}
		hk := &hook{name: name, cfg: w}
		i := slices.IndexFunc(formats, func(f hrconfig.WebhookFormat) bool { return f.Format == w.Format })
		switch {
		case i < 0 || formats[i].Verify == nil || formats[i].Parse == nil:
			o.Log.WithFields(logrus.Fields{"source": name, "format": w.Format}).Error("HR webhook format is unknown: every request to this source is refused")
		case w.Secret.Value() == "":
			o.Log.WithField("source", name).Error("HR webhook secret is not resolved: every request to this source is refused")
		default:
			hk.format, hk.ready = formats[i], true
		}
		h.hooks[name] = hk
	}
	return h
}

// Mount adds POST /hr/webhooks/{source} to mux.
func (h *Handler) Mount(mux *http.ServeMux) {
	mux.HandleFunc("POST /hr/webhooks/{source}", h.ServeHTTP)
}

// Routes returns a function that mounts cfg's webhooks on a mux (for
// bot.ServerOptions.Routes). rs may be nil (one process's memory).
func Routes(cfg *hrconfig.Config, eng Engine, log *logrus.Entry, rs replay.Store) func(*http.ServeMux) {
	return NewHandler(cfg, eng, Options{Log: log, Replay: rs}).Mount
}

// ServeHTTP verifies, parses and applies one webhook request with its
// source's format: 404 for an unknown source, 503 for a source whose
// secret (or format) is missing, 413 for a body over 1 MiB, 401 for a
// missing, forged, stale or replayed signature (nothing is recorded), 400
// for a payload that is not a valid event, 202 with the result (a list
// when the format's requests carry several employees, as BambooHR's do)
// once the engine has recorded it, 500 when recording failed (the sender
// should retry; the signature is then not counted as used).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	source := r.PathValue("source")
	log := h.log.WithFields(logrus.Fields{"source": source, "remote": r.RemoteAddr})
	hk, ok := h.hooks[source]
	if !ok {
		log.Warn("HR webhook refused: unknown source")
		writeError(w, http.StatusNotFound, "unknown HR webhook source")
		return
	}
	if !hk.ready {
		log.Error("HR webhook refused: the source's secret or format is not configured")
		writeError(w, http.StatusServiceUnavailable, "this source's secret is not configured")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			log.Warn("HR webhook refused: body over 1 MiB")
			writeError(w, http.StatusRequestEntityTooLarge, "body over 1 MiB")
			return
		}
		log.WithError(err).Warn("HR webhook refused: reading the body failed")
		writeError(w, http.StatusBadRequest, "could not read the body")
		return
	}
	now := h.now()
	sig, err := hk.format.Verify(hk.cfg, r.Header, body, now)
	if err == nil {
		// A replay later than twice the tolerance fails the timestamp
		// check anyway.
		seen, rerr := h.replay.SeenBefore(r.Context(), hk.name+":"+sig, 2*hk.cfg.EffectiveTolerance())
		if rerr != nil {
			log.WithError(rerr).Error("HR webhook refused: the replay check failed")
			writeError(w, http.StatusServiceUnavailable, "cannot check for replays right now; retry later")
			return
		}
		if seen {
			err = errReplayed
		}
	}
	if err != nil {
		log.WithField("reason", err.Error()).Warn("HR webhook refused: not authenticated")
		writeError(w, http.StatusUnauthorized, err.Error())
		return
	}
	parsed, err := hk.format.Parse(hk.name, hk.cfg, r.Header, body)
	if err != nil {
		log.WithFields(logrus.Fields{"format": hk.cfg.Format, "reason": err.Error()}).Warn("HR webhook refused: invalid payload")
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !parsed.List {
		h.serveOne(r.Context(), w, log, hk, sig, parsed.Entries)
		return
	}
	h.serveList(r.Context(), w, log, hk, sig, parsed.Entries)
}

// serveOne applies a request that carries one event and answers its
// result.
func (h *Handler) serveOne(ctx context.Context, w http.ResponseWriter, log *logrus.Entry, hk *hook, sig string, entries []hrconfig.Entry) {
	if len(entries) != 1 || entries[0].Event == nil {
		reason := "the request carries no event"
		if len(entries) == 1 && entries[0].Err != nil {
			reason = entries[0].Err.Error()
		}
		log.WithField("reason", reason).Warn("HR webhook refused: invalid payload")
		writeError(w, http.StatusBadRequest, reason)
		return
	}
	res, status := h.apply(ctx, log, toEngine(*entries[0].Event))
	if status >= 500 {
		h.forget(ctx, log, hk, sig)
	}
	jsonbody.Write(w, status, res)
}

// serveList applies a request that carries several employees and answers
// a list, one result per entry.
func (h *Handler) serveList(ctx context.Context, w http.ResponseWriter, log *logrus.Entry, hk *hook, sig string, entries []hrconfig.Entry) {
	results := make([]Result, 0, len(entries))
	status, refused := http.StatusAccepted, 0
	for _, e := range entries {
		elog := log.WithField("employee", e.Employee)
		switch {
		case e.Err != nil:
			refused++
			elog.WithField("reason", e.Err.Error()).Warn("HR webhook entry refused")
			results = append(results, Result{Employee: e.Employee, Error: e.Err.Error()})
		case e.Event == nil:
			elog.WithField("reason", e.Skip).Info("HR webhook entry ignored")
			results = append(results, Result{Employee: e.Employee, HRResult: engine.HRResult{Outcome: engine.HRIgnored, Detail: e.Skip}})
		default:
			res, st := h.apply(ctx, elog, toEngine(*e.Event))
			res.Employee = e.Employee
			results = append(results, res)
			switch {
			case st >= 500:
				status = st
			case st == http.StatusBadRequest:
				refused++
			}
		}
	}
	if status < 500 && refused > 0 && refused == len(entries) {
		status = http.StatusBadRequest
	}
	if status >= 500 {
		// Let the sender's retry through: the entries already applied are
		// duplicates then.
		h.forget(ctx, log, hk, sig)
	}
	jsonbody.Write(w, status, results)
}

// forget lets the sender's retry of a request we failed through the replay
// check.
func (h *Handler) forget(ctx context.Context, log *logrus.Entry, hk *hook, sig string) {
	if err := h.replay.Forget(context.WithoutCancel(ctx), hk.name+":"+sig); err != nil {
		log.WithError(err).Warn("forgetting a failed request's signature failed; the sender's retry will be refused as a replay")
	}
}

// apply hands one event to the engine and says how to answer.
func (h *Handler) apply(ctx context.Context, log *logrus.Entry, ev engine.HREvent) (Result, int) {
	// The HR source is the principal: its signature authenticated it.
	res, err := h.eng.HandleHREvent(engine.WithPrincipal(ctx, engine.Principal{ID: "hr:" + ev.Source}), ev, h.timing)
	out := Result{EventID: ev.EventID, HRResult: res}
	log = log.WithFields(logrus.Fields{"kind": ev.Kind, "event_id": ev.EventID})
	switch {
	case errors.Is(err, engine.ErrInvalidRequest):
		log.WithField("reason", err.Error()).Warn("HR event refused")
		out.Error = err.Error()
		return out, http.StatusBadRequest
	case err != nil:
		log.WithError(err).Error("HR event could not be recorded")
		out.Error = "internal error: the event was not applied; retry"
		return out, http.StatusInternalServerError
	}
	log.WithFields(logrus.Fields{"outcome": res.Outcome, "case": res.CaseID}).Info("HR event accepted")
	return out, http.StatusAccepted
}

func writeError(w http.ResponseWriter, status int, msg string) {
	jsonbody.Write(w, status, map[string]string{"error": msg})
}
