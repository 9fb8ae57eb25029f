package hr

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sirupsen/logrus"
	"golang.org/x/oauth2"

	"github.com/kineticsec/kinetic/bot/hr/hrconfig"
	"github.com/kineticsec/kinetic/directory/bamboohr"
	"github.com/kineticsec/kinetic/directory/workday"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/outbound"
)

// maxPollBody bounds one poll response (a report can be large).
const maxPollBody = 32 << 20

// cursorOverlap is how far before the request time the BambooHR cursor
// moves when BambooHR does not say how recent its answer is: a little
// overlap costs duplicates, which the engine ignores.
const cursorOverlap = time.Minute

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
// never overlap.
type Poller struct {
	name    string
	cfg     *hrconfig.Poller
	eng     Engine
	timing  engine.HRTiming
	client  *http.Client
	log     *logrus.Entry
	now     func() time.Time
	mapping Mapping
	bamboo  hrconfig.Fields

	mu sync.Mutex
	// since is the BambooHR cursor, kept in memory: a restarted process
	// starts timing.max_past back and the engine ignores what it had
	// already recorded.
	since time.Time
	// terminated remembers the BambooHR employees reported terminated
	// (id → date), so that a later Active record without a termination
	// date is recognized as a rescission or a rehire.
	terminated map[string]string
	// warned holds the rows already logged as refused: a bad row in a
	// report is logged once per process, not every round.
	warned map[string]bool
	// tokens is the Workday token exchange (workday_raas with oauth).
	tokens *workday.Tokens
}

// NewPoller returns the poller for cfg, named name (the recorded source).
// Its HTTP client comes from policy (nil: the default policy, refusing
// internal addresses). cfg's secrets must be resolved.
func NewPoller(name string, cfg *hrconfig.Poller, timing engine.HRTiming, eng Engine, policy *outbound.URLPolicy, o Options) *Poller {
	o = o.withDefaults()
	p := &Poller{name: name, cfg: cfg, eng: eng, timing: timing, client: policy.HTTPClient(cfg.EffectiveTimeout()),
		log: o.Log.WithFields(logrus.Fields{"source": name, "format": cfg.Format}), now: o.Now,
		terminated: map[string]string{}, warned: map[string]bool{}}
	if cfg.Fields != nil {
		p.mapping.Fields = *cfg.Fields
		p.bamboo = *cfg.Fields
	}
	p.mapping.Kinds, p.mapping.Kind = cfg.Kinds, cfg.Kind
	if o := cfg.OAuth; o != nil {
		p.tokens = workday.NewTokens(workday.OAuth{TokenURL: o.TokenURL, ClientID: o.ClientID,
			ClientSecret: o.ClientSecret, RefreshToken: o.RefreshToken}, p.client, p.now)
	}
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
	switch p.cfg.Format {
	case hrconfig.FormatWorkdayRaaS:
		return st, p.pollWorkday(ctx, &st)
	case hrconfig.FormatBambooHRChanged:
		return st, p.pollBambooHR(ctx, &st)
	}
	return st, fmt.Errorf("unknown poller format %q", p.cfg.Format)
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

// get fetches a JSON document, authenticating with auth.
func (p *Poller) get(ctx context.Context, what, rawURL string, auth func(*http.Request) error) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: building the request failed", what)
	}
	req.Header.Set("Accept", "application/json")
	if err := auth(req); err != nil {
		return nil, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, stripURL(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPollBody+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the answer: %w", what, stripURL(err))
	}
	if len(body) > maxPollBody {
		return nil, fmt.Errorf("%s: answer larger than %d MiB", what, maxPollBody>>20)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &HTTPError{What: what, Status: resp.StatusCode}
	}
	return body, nil
}

// HTTPError is a non-200 answer from an HR API. The body is not kept (it may
// hold personal data).
type HTTPError struct {
	What   string
	Status int
}

func (e *HTTPError) Error() string {
	hint := ""
	switch {
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		hint = " (credentials refused)"
	case e.Status == http.StatusTooManyRequests || e.Status >= 500:
		hint = " (retried next round)"
	}
	return fmt.Sprintf("%s: HTTP %d%s", e.What, e.Status, hint)
}

// stripURL drops the URL *url.Error repeats (its query may carry report
// prompts); the cause stays.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// ---- Workday RaaS ----

// pollWorkday reads the report and maps each Report_Entry row. The report
// is read whole every round; rows already recorded are duplicates (their
// event id is the row's identity, kind and date).
func (p *Poller) pollWorkday(ctx context.Context, st *PollStats) error {
	body, err := p.get(ctx, "workday report", reportURL(p.cfg.URL), p.workdayAuth(ctx))
	if err != nil {
		if he := (*HTTPError)(nil); errors.As(err, &he) && he.Status == http.StatusUnauthorized {
			if p.tokens != nil {
				p.tokens.Invalidate() // a revoked access token: fetch a new one next round
			}
		}
		return err
	}
	rows, err := workday.DecodeReport(body)
	if errors.Is(err, workday.ErrNoReportEntry) {
		return fmt.Errorf("workday report: %w", err)
	}
	if err != nil {
		return fmt.Errorf("workday report: malformed JSON: %v", err)
	}
	var errs []error
	for _, raw := range rows {
		st.Rows++
		ev, err := parseRow(p.name, raw, p.mapping)
		if err != nil {
			st.Refused++
			sum := sha256.Sum256(raw)
			p.warnOnce("row:"+hex.EncodeToString(sum[:]), p.log, err.Error())
			continue
		}
		if _, err := p.apply(ctx, ev, st); err != nil {
			errs = append(errs, err)
		}
	}
	return joinCapped(errs)
}

// reportURL adds format=json to a RaaS URL that names no format (see
// workday.ReportURL); an unparsable URL is left for the request to refuse.
func reportURL(raw string) string {
	if u, err := workday.ReportURL(raw); err == nil {
		return u
	}
	return raw
}

// parseRow maps one report row to an event whose id is derived from the
// row's identity and date.
func parseRow(source string, raw []byte, m Mapping) (engine.HREvent, error) {
	if !utf8.Valid(raw) {
		return engine.HREvent{}, invalid("the row is not UTF-8")
	}
	root, err := decodeJSON(raw)
	if err != nil {
		return engine.HREvent{}, err
	}
	ev, err := mapEvent(root, m)
	if err != nil {
		return ev, err
	}
	ev.EventID = rowEventID(ev)
	ev.Source, ev.Payload = source, raw
	return ev, nil
}

// workdayAuth authenticates with basic auth, or with an access token
// obtained from the refresh token.
func (p *Poller) workdayAuth(ctx context.Context) func(*http.Request) error {
	return func(req *http.Request) error {
		if p.cfg.OAuth == nil {
			req.SetBasicAuth(p.cfg.Username, p.cfg.Password.Value())
			return nil
		}
		tok, err := p.accessToken(ctx)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		return nil
	}
}

// accessToken gets a token from the Workday token exchange
// (workday.Tokens), classifying a refusal like any HTTP answer.
func (p *Poller) accessToken(ctx context.Context) (string, error) {
	tok, err := p.tokens.Token(ctx)
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re) && re.Response != nil:
		// re's body may echo the client secret or the refresh token.
		return "", &HTTPError{What: "workday token", Status: re.Response.StatusCode}
	case err != nil:
		return "", fmt.Errorf("workday token: %w", stripURL(err))
	}
	return tok.AccessToken, nil
}

// ---- BambooHR changed-since ----

// pollBambooHR lists the employees changed since the cursor
// (GET /api/gateway.php/{company}/v1/employees/changed/?since=…), reads each
// one's status, terminationDate, hireDate and workEmail
// (GET …/v1/employees/{id}/?fields=…; the employee number too when
// fields.employee_id names it) and maps them like the webhook. The
// cursor moves only when the whole round succeeded.
func (p *Poller) pollBambooHR(ctx context.Context, st *PollStats) error {
	now := p.now()
	if p.since.IsZero() {
		maxPast := p.timing.MaxPast
		if maxPast <= 0 {
			maxPast = 30 * 24 * time.Hour
		}
		p.since = now.Add(-maxPast).UTC().Truncate(time.Second)
	}
	api := bamboohr.APIBase(p.cfg.EffectiveBaseURL(), p.cfg.Company)
	auth := func(req *http.Request) error {
		bamboohr.Authorize(req, p.cfg.APIKey.Value())
		return nil
	}
	body, err := p.get(ctx, "bamboohr changed employees", bamboohr.ChangedURL(api, p.since), auth)
	if err != nil {
		return err
	}
	latest, changes, err := bamboohr.DecodeChanged(body)
	if err != nil {
		return fmt.Errorf("bamboohr changed employees: %w", err)
	}
	fields := p.bambooFields()
	var errs []error
	for _, c := range changes {
		st.Rows++
		id, err := scalar(c.ID)
		if err != nil || id == "" || strings.EqualFold(c.Action, "Deleted") {
			st.Skipped++
			continue
		}
		body, err := p.get(ctx, "bamboohr employee", bamboohr.EmployeeURL(api, id, fields), auth)
		if err != nil {
			st.Failed++
			errs = append(errs, err)
			var he *HTTPError
			if errors.As(err, &he) && (he.Status == http.StatusTooManyRequests || he.Status == http.StatusUnauthorized || he.Status == http.StatusForbidden) {
				break // the rest would fail the same way
			}
			continue
		}
		if err := p.bambooEmployee(ctx, id, c.LastChanged, body, st); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return joinCapped(errs)
	}
	next := now.Add(-cursorOverlap)
	if t, err := parseTimestamp(latest); err == nil && latest != "" {
		next = t
	}
	if next.After(p.since) {
		p.since = next.UTC()
	}
	return nil
}

// bambooFields are the fields requested for each employee: the first
// (API) name of each part read.
func (p *Poller) bambooFields() []string {
	f := p.bamboo
	var out []string
	for _, n := range [][]string{names(f.EmployeeID, ""), names(f.Email, bambooDefaults.Email),
		names(f.Date, bambooDefaults.Date), names(f.Status, bambooDefaults.Status), names(f.HireDate, bambooDefaults.HireDate),
		names(f.Reason, ""), names(f.Involuntary, "")} {
		if len(n) > 0 && n[0] != bambooIDField && !slices.Contains(out, n[0]) {
			out = append(out, n[0])
		}
	}
	return out
}

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
	rec := &bambooRecord{id: id, fields: fields, stamp: lastChanged}
	state, err := readBamboo(rec, p.bamboo)
	if err != nil {
		st.Refused++
		p.warnOnce("employee:"+id+":"+lastChanged, p.log.WithField("employee", id), err.Error())
		return nil
	}
	kind := ""
	prev, known := p.terminated[id]
	switch {
	case state.terminated():
		kind = hrconfig.KindTerminate
	case known && state.active():
		kind = hrconfig.KindRescind
		if state.hire != "" && state.hire > prev {
			kind = hrconfig.KindRehire
		}
	}
	if kind == "" {
		st.Skipped++
		return nil
	}
	ev, err := bambooEvent(p.name, rec, state, kind, body)
	if err != nil {
		st.Refused++
		p.warnOnce("employee:"+id+":"+kind+":"+state.date, p.log.WithField("employee", id), err.Error())
		return nil
	}
	if _, err := p.apply(ctx, ev, st); err != nil {
		return err
	}
	if kind == hrconfig.KindTerminate {
		p.terminated[id] = state.date
	} else {
		delete(p.terminated, id)
	}
	return nil
}

// joinCapped joins at most 5 errors and says how many more there were.
func joinCapped(errs []error) error {
	if len(errs) <= 5 {
		return errors.Join(errs...)
	}
	return errors.Join(append(errs[:5:5], fmt.Errorf("and %d more", len(errs)-5))...)
}
