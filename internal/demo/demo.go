// Package demo runs `kinetic demo`: a realistic offboarding on the embedded
// default (SQLite file, in-process Redis, sandbox connectors, the bundled
// HR directory), with live progress, a check of every outcome, and an audit
// verification. The database stays behind for `kinetic audit verify` and
// `kinetic audit export`.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/sandbox"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/app"
	"github.com/kineticsec/kinetic/store"
)

// Options configure a demo run.
type Options struct {
	// DBPath is the SQLite file; default kinetic.db.
	DBPath string
	Out    io.Writer
	// TTY redraws a live table; otherwise plain lines are printed.
	TTY bool
	// Width is the terminal's width in columns; table rows are clipped to
	// it so a redraw never wraps (default 80).
	Width int
	// Log receives warnings; nil discards them.
	Log *logrus.Entry
	// ScheduledIn is how far ahead the scheduled case's effective time is;
	// default 6s.
	ScheduledIn time.Duration
}

// scenario is one departure the demo runs.
type scenario struct {
	label, employee, requester, reason string
	involuntary                        bool
	delay                              time.Duration
	flaky                              string // connector that fails transiently twice first
}

// Run runs the demo. It reports whether every expectation held.
func Run(ctx context.Context, o Options) (bool, error) {
	if o.DBPath == "" {
		o.DBPath = "kinetic.db"
	}
	if o.ScheduledIn <= 0 {
		o.ScheduledIn = 6 * time.Second
	}
	if o.Log == nil {
		l := logrus.New()
		l.Out = io.Discard
		o.Log = logrus.NewEntry(l)
	}
	cfg, err := configs.Default()
	if err != nil {
		return false, err
	}
	cfg.Service.Database.Path = o.DBPath
	cfg.Service.Workers.SweepInterval = configs.Duration(time.Second)

	if o.Width <= 0 {
		o.Width = 80
	}
	p := &printer{out: o.Out, tty: o.TTY, width: o.Width, names: map[int64]string{}}
	a, err := app.Build(ctx, cfg, app.Options{Log: o.Log, Observers: []engine.Observer{p}})
	if err != nil {
		return false, err
	}
	defer a.Close()

	scenarios := []scenario{
		{label: "full-time, Sales", employee: "E1001", requester: "E0100", reason: "resigned: moving abroad"},
		{label: "contractor", employee: "E1002", requester: "E0002", reason: "end of contract"},
		{label: "cleared (top secret), involuntary", employee: "E1003", requester: "E0001", reason: "involuntary: policy violation", involuntary: true},
		{label: "scheduled", employee: "E1004", requester: "E0102", reason: "resigned", delay: o.ScheduledIn},
		{label: "flaky Okta", employee: "E1005", requester: "E0002", reason: "retirement", flaky: "okta"},
	}
	fmt.Fprintf(o.Out, "Kinetic demo — embedded default: SQLite %s, in-process Redis, %d simulated systems, %d people in the sample HR directory\n\n",
		o.DBPath, len(a.Connectors.Names()), len(a.Directory.All()))

	// A crashed earlier run may have left a demo case open; close it so this
	// run can start clean (recorded in the audit trail like any cancel).
	for _, s := range scenarios {
		if c, err := a.Store.OpenCaseFor(ctx, s.employee); err == nil {
			if err := a.Engine.Cancel(ctx, c.ID, "demo", "superseded by a new demo run"); err != nil {
				return false, err
			}
		}
	}
	if _, err := a.StartWorker(); err != nil {
		return false, err
	}

	ok := true
	check := func(cond bool, format string, args ...any) {
		mark := "ok  "
		if !cond {
			mark, ok = "FAIL", false
		}
		fmt.Fprintf(o.Out, "  [%s] %s\n", mark, fmt.Sprintf(format, args...))
	}

	fmt.Fprintln(o.Out, "Requests that must be refused:")
	refusals := []struct {
		what string
		req  engine.Request
		want func(error) bool
	}{
		{"unknown employee E9999", engine.Request{EmployeeID: "E9999", Requester: "E0002", Trigger: store.TriggerDemo},
			func(err error) bool { return errors.Is(err, engine.ErrUnknownEmployee) }},
		{"inactive employee E1099", engine.Request{EmployeeID: "E1099", Requester: "E0002", Trigger: store.TriggerDemo},
			func(err error) bool { return errors.Is(err, engine.ErrInactiveEmployee) }},
		{"a colleague (E1004) offboarding E1001", engine.Request{EmployeeID: "E1001", Requester: "E1004", Trigger: store.TriggerDemo},
			func(err error) bool { return errors.Is(err, engine.ErrNotAllowed) }},
	}
	for _, r := range refusals {
		_, err := a.Engine.Open(ctx, r.req)
		check(err != nil && r.want(err), "%s: %v", r.what, err)
	}

	fmt.Fprintln(o.Out, "\nOffboarding:")
	start := time.Now()
	cases := map[string]*store.Case{}
	requested := map[int64]time.Time{}
	effective := map[int64]time.Time{}
	for _, s := range scenarios {
		emp, err := a.Directory.ByID(ctx, s.employee)
		if err != nil {
			return false, err
		}
		if s.flaky != "" {
			if in, found := a.Connectors.Get(s.flaky); found {
				if sb, isSandbox := in.Connector.(*sandbox.Connector); isSandbox {
					sb.FailNext(emp.Email, 2, connectors.KindTransient, 0)
				}
			}
		}
		req := engine.Request{EmployeeID: s.employee, Requester: s.requester, Trigger: store.TriggerDemo,
			Reason: s.reason, Involuntary: s.involuntary}
		if s.delay > 0 {
			req.EffectiveAt = time.Now().Add(s.delay)
		}
		at := time.Now()
		opened, err := a.Engine.Open(ctx, req)
		if err != nil {
			check(false, "opening %s (%s): %v", emp.Name, s.label, err)
			continue
		}
		c := opened.Case
		p.name(c.ID, emp.Name)
		cases[s.employee], requested[c.ID], effective[c.ID] = c, at, c.EffectiveAt
		when := "now"
		if s.delay > 0 {
			when = "at " + c.EffectiveAt.Local().Format("15:04:05") + fmt.Sprintf(" (in %s)", s.delay)
		}
		fmt.Fprintf(o.Out, "  case %d: %s (%s, %s) — %d actions, starts %s\n", c.ID, emp.Name, emp.ID, s.label, len(opened.Plan.Actions), when)
	}
	_, err = a.Engine.Open(ctx, engine.Request{EmployeeID: "E1001", Requester: "E0100", Trigger: store.TriggerDemo})
	var dup *engine.CaseOpenError
	check(errors.As(err, &dup), "a second request for E1001 while the first runs is refused: %v", err)
	fmt.Fprintln(o.Out)

	// Live progress until every case is closed.
	ids := make([]int64, 0, len(cases))
	for _, c := range cases {
		ids = append(ids, c.ID)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	deadline := time.Now().Add(2*time.Minute + o.ScheduledIn)
	final := map[int64]*store.Case{}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for len(final) < len(ids) {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-tick.C:
		}
		var snaps []*store.Case
		for _, id := range ids {
			c, err := a.Store.CaseWithActions(ctx, id)
			if err != nil {
				return false, err
			}
			snaps = append(snaps, c)
			if !store.CaseOpen(c.Status) {
				final[id] = c
			}
		}
		if o.TTY {
			p.table(snaps, time.Since(start))
		}
		if time.Now().After(deadline) {
			fmt.Fprintln(o.Out, "timed out waiting for the cases to close")
			break
		}
	}
	p.stop()

	fmt.Fprintln(o.Out, "\nOutcome:")
	for _, id := range ids {
		c := final[id]
		if c == nil {
			c, _ = a.Store.CaseWithActions(ctx, id)
		}
		took := "-"
		if c.ClosedAt != nil {
			took = c.ClosedAt.Sub(requested[id]).Round(time.Millisecond).String()
		}
		fmt.Fprintf(o.Out, "  case %d %-16s %-26s request → all verified %s\n      %s\n", c.ID, c.EmployeeName, c.Status, took, c.Summary)
	}

	fmt.Fprintln(o.Out, "\nChecks:")
	for _, s := range scenarios {
		c := cases[s.employee]
		if c == nil {
			continue
		}
		c = final[c.ID]
		if c == nil {
			check(false, "%s (%s) closed", s.employee, s.label)
			continue
		}
		check(c.Status == store.CaseCompleted, "%s (%s): case %s", c.EmployeeName, s.label, c.Status)
		verified := 0
		for _, act := range c.Actions {
			if act.Verified || act.Status == store.ActionSkipped {
				verified++
			}
		}
		check(verified == len(c.Actions), "%s: %d/%d actions verified by reading back (or had no account)", c.EmployeeName, verified, len(c.Actions))
		if s.delay > 0 && c.StartedAt != nil {
			check(!c.StartedAt.Before(effective[c.ID]), "%s: started %s, not before its effective time %s",
				c.EmployeeName, c.StartedAt.Local().Format("15:04:05.000"), effective[c.ID].Local().Format("15:04:05.000"))
		}
		if s.flaky != "" {
			retried := 0
			for _, act := range c.Actions {
				if act.Connector == s.flaky && act.Attempts > 1 && act.Status == store.ActionSucceeded {
					retried++
				}
			}
			check(retried > 0, "%s: %s failed transiently, was retried with back-off and succeeded (%d actions)", c.EmployeeName, s.flaky, retried)
		}
		if s.involuntary {
			check(c.Involuntary && !c.EffectiveAt.After(c.CreatedAt), "%s: involuntary case started immediately", c.EmployeeName)
		}
	}
	if e1001, e1003 := final[idOf(cases, "E1001")], final[idOf(cases, "E1003")]; e1001 != nil && e1003 != nil {
		check(countPhase(e1003, 1) > countPhase(e1001, 1), "cleared employee got extra critical steps (%d critical vs %d)", countPhase(e1003, 1), countPhase(e1001, 1))
		check(hasConnector(e1001, "salesforce") && !hasConnector(e1003, "salesforce"), "Sales employee got Salesforce actions; others did not")
	}
	dups := duplicateEffects(a)
	check(len(dups) == 0, "no external effect was applied twice (%d effects checked) %s", totalEffects(a), strings.Join(dups, "; "))
	rep, err := a.Store.VerifyAudit(ctx)
	if err != nil {
		return false, err
	}
	check(rep.OK, "audit chain verifies: %d events, head %s %s", rep.Events, shortHash(rep.HeadHash), rep.Problem)

	fmt.Fprintf(o.Out, "\nThe database is kept in %s. Try:\n  go run . audit verify\n  go run . audit export --case %d --format csv\n", o.DBPath, idOf(cases, "E1001"))
	return ok, nil
}

func idOf(cases map[string]*store.Case, emp string) int64 {
	if c := cases[emp]; c != nil {
		return c.ID
	}
	return 0
}

func countPhase(c *store.Case, phase int) int {
	n := 0
	for _, a := range c.Actions {
		if a.Phase == phase {
			n++
		}
	}
	return n
}

func hasConnector(c *store.Case, name string) bool {
	for _, a := range c.Actions {
		if a.Connector == name {
			return true
		}
	}
	return false
}

func shortHash(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}

// duplicateEffects lists any external effect the sandboxes recorded twice.
func duplicateEffects(a *app.App) []string {
	var dups []string
	for _, name := range a.Connectors.Names() {
		in, _ := a.Connectors.Get(name)
		sb, ok := in.Connector.(*sandbox.Connector)
		if !ok {
			continue
		}
		seen := map[string]int{}
		for _, e := range sb.Effects() {
			k := e.Operation + "|" + e.Account + "|" + e.Change
			seen[k]++
			if seen[k] == 2 {
				dups = append(dups, fmt.Sprintf("%s: %s %s %s", name, e.Operation, e.Account, e.Change))
			}
		}
	}
	return dups
}

func totalEffects(a *app.App) int {
	n := 0
	for _, name := range a.Connectors.Names() {
		in, _ := a.Connectors.Get(name)
		if sb, ok := in.Connector.(*sandbox.Connector); ok {
			n += len(sb.Effects())
		}
	}
	return n
}

// printer shows progress: plain lines per transition when not on a
// terminal, a redrawn table on one.
type printer struct {
	mu      sync.Mutex
	out     io.Writer
	tty     bool
	width   int
	names   map[int64]string
	drawn   int
	stopped bool
}

func (p *printer) name(id int64, n string) {
	p.mu.Lock()
	p.names[id] = n
	p.mu.Unlock()
}

// Observe implements engine.Observer (plain mode).
func (p *printer) Observe(ev engine.Event) {
	if p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	who := p.names[ev.CaseID]
	if who == "" {
		who = fmt.Sprintf("case %d", ev.CaseID)
	}
	ts := ev.At.Local().Format("15:04:05.000")
	switch ev.Kind {
	case "action":
		if ev.Status == store.ActionQueued && !strings.Contains(ev.Detail, "attempt") {
			return // queued lines add little; running follows at once
		}
		line := fmt.Sprintf("  %s %-16s %-28s %s", ts, who, ev.Name, ev.Status)
		if ev.Status == store.ActionQueued || ev.Status == store.ActionFailed || ev.Status == store.ActionBlocked {
			line += " — " + ev.Detail
		}
		fmt.Fprintln(p.out, line)
	case "case_started", "case_closed", "case_cancelled":
		fmt.Fprintf(p.out, "  %s %-16s case %s %s\n", ts, who, ev.Status, ev.Detail)
	}
}

func (p *printer) stop() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
}

// table redraws the live table in place.
func (p *printer) table(cs []*store.Case, elapsed time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	lines := 0
	row := func(format string, args ...any) {
		// Clip to the terminal so no row wraps: the redraw moves the cursor
		// up by rows, not by wrapped lines.
		line := []rune(fmt.Sprintf(format, args...))
		if len(line) > p.width-1 {
			line = append(line[:p.width-2], '…')
		}
		fmt.Fprintf(&b, "\x1b[2K%s\n", string(line))
	}
	row("  elapsed %s", elapsed.Round(100*time.Millisecond))
	lines++
	for _, c := range cs {
		counts := map[string]int{}
		for _, a := range c.Actions {
			counts[a.Status]++
		}
		done := counts[store.ActionSucceeded] + counts[store.ActionSkipped] + counts[store.ActionFailed] + counts[store.ActionCancelled]
		bar := strings.Repeat("█", done) + strings.Repeat("·", len(c.Actions)-done)
		extra := ""
		for _, a := range c.Actions {
			if a.Status == store.ActionQueued && a.Attempts > 0 {
				extra = fmt.Sprintf(" retrying %s (attempt %d, %s)", a.Name, a.Attempts+1, a.ErrorKind)
			}
		}
		if c.Status == store.CaseScheduled {
			extra = " starts " + c.EffectiveAt.Local().Format("15:04:05")
		}
		row("  case %-3d %-16s %-10s %s %2d/%-2d running %d%s", c.ID, c.EmployeeName, c.Status, bar, done, len(c.Actions), counts[store.ActionRunning], extra)
		lines++
	}
	p.drawn = lines
	fmt.Fprint(p.out, b.String())
}
