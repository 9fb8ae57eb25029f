// Package engine is Kinetic's workflow: validate → plan → execute → close.
//
// It turns a request into a case with a planned set of actions (policy rules
// over the HR record, connector lookups for what the person really holds),
// releases actions as their dependencies and phases allow, runs each one
// through its connector with read-back verification, records every
// transition in the store together with its audit event, and closes the case
// when nothing more can happen. It is driven by the job layer (which carries
// work and enforces shared limits) and by the front ends (which open cases);
// it never talks to chat or to Redis itself.
//
// The database is the truth. Every transition is a conditional update inside
// a transaction that also appends the audit event, so a step happens once,
// and a crash between steps leaves a state the recovery sweep can resume.
//
// Files are split by duty: plan.go and open.go plan and open a case,
// after precheck.go's checks (which front ends also run in their
// callbacks); casestate.go is the case state machine (advance, close);
// execute.go runs one action from claim to recorded outcome; dispatch.go
// hands committed work to the queue; cancel.go, operate.go (retry, skip,
// done), escalate.go (escalate now), exceptions.go and decisions.go (approval chains),
// batches.go (the mass-termination guard), hr.go and rehire.go change
// cases; views.go and snapshot.go are the read side, viewauth.go who may
// see a case; sweep.go runs the recovery sweep, one sweep_<duty>.go per
// duty. Observers switch on the EventKind constants in eventkind.go.
package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"gorm.io/gorm"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/engine/view"
	"github.com/kineticsec/kinetic/internal/noticeack"
	"github.com/kineticsec/kinetic/internal/reqid"
	"github.com/kineticsec/kinetic/store"
)

// Errors returned by Open. Each is wrapped with details; test with errors.Is.
var (
	ErrUnknownEmployee  = errors.New("unknown employee")
	ErrInactiveEmployee = errors.New("employee is not active in HR")
	ErrNotAllowed       = errors.New("not allowed")
	ErrInvalidRequest   = errors.New("invalid request")
)

// CaseOpenError is returned when the employee already has an open case.
type CaseOpenError struct{ CaseID int64 }

func (e *CaseOpenError) Error() string {
	return fmt.Sprintf("an offboarding is already in progress for this employee (case %d)", e.CaseID)
}

// Dispatcher hands work to the queue. The job layer implements it with
// asynq; task ids are derived from (action id, generation), so a second
// dispatch of the same generation is harmless.
type Dispatcher interface {
	// DispatchAction enqueues an action's task to run at or after at.
	DispatchAction(ctx context.Context, actionID int64, gen int, at time.Time) error
	// DispatchCaseStart enqueues the start of a scheduled case at its
	// effective time.
	DispatchCaseStart(ctx context.Context, caseID int64, at time.Time) error
	// ActionTaskPending reports whether the task for (action, generation) is
	// still held by the queue (pending, scheduled, retrying or active).
	ActionTaskPending(ctx context.Context, actionID int64, gen int) (bool, error)
}

// FirstDispatcher is implemented by a Dispatcher that can put an action's
// task ahead of every other waiting task (jobs.Dispatcher: a queue of its
// own served first). The engine uses it for work taken back from a dead or
// stopping worker — an expired lease, a hand-back, a lost task — whose
// case has already waited: behind a backlog of thousands of fresh tasks
// its pick-up after a kill -9 would wait for all of them.
type FirstDispatcher interface {
	DispatchActionFirst(ctx context.Context, actionID int64, gen int) error
}

// Gate enforces a connector instance's shared rate limit and concurrency
// cap. Every call to a system (Lookup, Do, Verify) takes one request from
// its rate limit.
type Gate interface {
	// Acquire takes a request for an action's Do and a concurrency slot: it
	// either grants them (release must be called when the action's calls
	// end) or says how long to wait before trying again.
	Acquire(ctx context.Context, in *connectors.Instance) (release func(), wait time.Duration, err error)
	// Take takes one more request for a further call (the read-back, a
	// discovery lookup), waiting at most maxWait; false when none is free
	// by then.
	Take(ctx context.Context, in *connectors.Instance, maxWait time.Duration) (bool, error)
}

// Observer is told about transitions after they commit. Observe must be
// quick and must not block; it runs on the worker's goroutine.
type Observer interface {
	Observe(Event)
}

// Event is a committed transition (view.Event): the engine's notification
// to front ends.
type Event = view.Event

// DefaultMaxFuture is how far ahead an effective time may be when
// Options.MaxFuture (and the HR timing's max_future) is not set.
const DefaultMaxFuture = 365 * 24 * time.Hour

// Options construct an Engine. Store, Directory, Policy, Connectors and
// Dispatcher are required.
type Options struct {
	Store      *store.Store
	Directory  directory.Directory
	Policy     *configs.Policy
	Connectors *connectors.Registry
	Dispatcher Dispatcher
	// Gate defaults to no limits.
	Gate Gate
	// Now defaults to time.Now.
	Now func() time.Time
	// Log defaults to a discarding logger.
	Log *logrus.Entry
	// Metrics may be nil.
	Metrics *Metrics
	// Admins are HR ids allowed to offboard anyone; HRRoles are role
	// profiles whose holders may (default ["hr"]).
	Admins  []string
	HRRoles []string
	// Lease is how long a running action's claim lasts without renewal;
	// default 10s.
	Lease time.Duration
	// LookupTimeout bounds each discovery lookup at planning; default 10s.
	LookupTimeout time.Duration
	// MaxFuture is how far ahead a request's effective time may be: the
	// HR timing's max_future (hr.timing.max_future), so every front end
	// refuses what HR events refuse; default 365 days.
	MaxFuture time.Duration
	// Observers are told about committed transitions.
	Observers []Observer
	// ApproverGroups resolve group:NAME approver references. Each entry is
	// an HR id, or a reference of the form PLATFORM:ID (e.g. slack:S0123ABCD,
	// a Slack user group) that GroupMembers expands.
	ApproverGroups map[string][]string
	// GroupMembers expands an ApproverGroups entry of the form PLATFORM:ID
	// to the HR ids it stands for now; plain entries are HR ids and are
	// used as they are. It is called inside database transactions (when
	// someone decides, an approval is shown, a batch is decided or an
	// action's buttons are used), so it must not block: answer from a
	// cache. Nil means such entries have no members.
	GroupMembers func(entry string) []string
	// Owners maps connector instances to their owning team (escalation
	// level target "owner").
	Owners map[string]string
	// SecurityChannel is the security alerts channel; SecurityOfficers are
	// HR ids told of cleared cases.
	SecurityChannel  string
	SecurityOfficers []string
	// NoticeAck signs the acknowledgement links notify actions carry (nil:
	// notices carry no link and are acknowledged by button or callback).
	NoticeAck *noticeack.Signer
	// EmailChannel says an observer delivers EventReturnInstructions by
	// email (bot/emailroute, with chat.email) and reports back through
	// ReturnInstructionsSent. Without it the instructions for returning a
	// device go to the person's manager in chat.
	EmailChannel bool
}

// Engine runs offboardings. It is safe for concurrent use.
type Engine struct {
	store   *store.Store
	dir     directory.Directory
	policy  atomic.Pointer[configs.Policy]
	reg     *connectors.Registry
	disp    Dispatcher
	gate    Gate
	now     func() time.Time
	log     *logrus.Entry
	metrics *Metrics
	admins  map[string]bool
	hrRoles map[string]bool
	lease   time.Duration
	lookupT time.Duration
	maxFut  time.Duration
	obs     []Observer
	snaps   snapCache
	groups  map[string][]string
	expand  func(entry string) []string
	owners  map[string]string
	secChan string
	officer []string
	ackSign *noticeack.Signer
	mailOut bool // Options.EmailChannel
}

// New builds an Engine.
func New(o Options) (*Engine, error) {
	if o.Store == nil || o.Directory == nil || o.Policy == nil || o.Connectors == nil || o.Dispatcher == nil {
		return nil, errors.New("engine: Store, Directory, Policy, Connectors and Dispatcher are required")
	}
	e := &Engine{
		store: o.Store, dir: o.Directory, reg: o.Connectors, disp: o.Dispatcher,
		gate: o.Gate, now: o.Now, log: o.Log, metrics: o.Metrics,
		admins: map[string]bool{}, hrRoles: map[string]bool{},
		lease: o.Lease, lookupT: o.LookupTimeout, maxFut: o.MaxFuture, obs: o.Observers,
		groups: o.ApproverGroups, expand: o.GroupMembers, owners: o.Owners, secChan: o.SecurityChannel, officer: o.SecurityOfficers,
		ackSign: o.NoticeAck, mailOut: o.EmailChannel,
	}
	e.policy.Store(o.Policy)
	e.metrics.initActions(o.Policy)
	if e.gate == nil {
		e.gate = noGate{}
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.log == nil {
		l := logrus.New()
		l.Out = discard{}
		e.log = logrus.NewEntry(l)
	}
	if e.lease <= 0 {
		e.lease = 10 * time.Second
	}
	if e.lookupT <= 0 {
		e.lookupT = 10 * time.Second
	}
	if e.maxFut <= 0 {
		e.maxFut = DefaultMaxFuture
	}
	for _, a := range o.Admins {
		e.admins[a] = true
	}
	roles := o.HRRoles
	if len(roles) == 0 {
		roles = []string{"hr"}
	}
	for _, r := range roles {
		e.hrRoles[r] = true
	}
	return e, nil
}

// Policy returns the policy new cases are planned under.
func (e *Engine) Policy() *configs.Policy { return e.policy.Load() }

// SetPolicy replaces the policy for cases opened from now on.
func (e *Engine) SetPolicy(p *configs.Policy) { e.policy.Store(p) }

// Store returns the engine's store.
func (e *Engine) Store() *store.Store { return e.store }

// Lease returns the action lease duration.
func (e *Engine) Lease() time.Duration { return e.lease }

func (e *Engine) clock() time.Time { return e.now().UTC().Truncate(time.Microsecond) }

func (e *Engine) emit(evs ...Event) {
	for _, ev := range evs {
		for _, o := range e.obs {
			o.Observe(ev)
		}
	}
}

// LogObserver logs every notification: the notifier that exists without
// chat.
type LogObserver struct{ Log *logrus.Entry }

// Observe implements Observer.
func (l LogObserver) Observe(ev Event) {
	if ev.Kind == EventAction && ev.Status != store.ActionFailed && ev.Status != store.ActionBlocked {
		return // per-action progress is too chatty for the log
	}
	f := logrus.Fields{"event": ev.Kind, "case": ev.CaseID}
	if ev.ActionID != 0 {
		f["action"] = ev.ActionID
	}
	if ev.ApprovalID != 0 {
		f["approval"] = ev.ApprovalID
	}
	if ev.BatchID != 0 {
		f["batch"] = ev.BatchID
	}
	if len(ev.Targets) > 0 {
		f["targets"] = ev.Targets
	}
	if ev.Level > 0 {
		f["level"] = ev.Level
	}
	msg := ev.Detail
	if ev.Kind == EventReturnInstructions {
		msg = "return instructions for equipment task " + strconv.FormatInt(ev.EquipmentID, 10) + " to be emailed to the person's private address"
	}
	if msg == "" {
		msg = string(ev.Kind) + " " + ev.Status
	}
	l.Log.WithFields(f).Info(msg)
}

type noGate struct{}

func (noGate) Acquire(context.Context, *connectors.Instance) (func(), time.Duration, error) {
	return func() {}, 0, nil
}

func (noGate) Take(context.Context, *connectors.Instance, time.Duration) (bool, error) {
	return true, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// auditBuf collects a transaction's audit entries and the state it writes
// to cases, actions and approvals. Appending to the chain takes the audit
// head's row lock, which serialises every writer until commit, so entries
// are appended once, as the transaction's last statement (see Engine.tx),
// followed by one store.EventStateRecorded event per case changed.
//
// Every write of a case's status, an action's status, attempts or results,
// or an approval's status records what it wrote in st (from the values
// written, never read back), so that `kinetic audit verify` can tell a row
// changed behind the engine's back from one the engine changed.
type auditBuf struct {
	entries []store.Entry
	st      store.StateChanges
}

func (b *auditBuf) add(es ...store.Entry) { b.entries = append(b.entries, es...) }

// withRequestID appends " [request ID]" to an audit detail when id is set
// (reqid.Sane ids only, so it cannot forge text); "" leaves it unchanged.
func withRequestID(detail, id string) string {
	if id == "" {
		return detail
	}
	if detail == "" {
		return "[request " + id + "]"
	}
	return detail + " [request " + id + "]"
}

// tx runs fn in a store transaction with an audit buffer, appending the
// buffered entries last; a state change and its audit events still commit
// together or not at all. Every entry names the principal ctx carries (see
// auditActor) and, when ctx carries an HTTP request's id, ends with
// "[request ID]" (see withRequestID) so an auditor can follow a request
// from the access log into the trail. The state records au.st writes are
// JSON read back by the state check and are left as they are.
func (e *Engine) tx(ctx context.Context, fn func(tx *gorm.DB, au *auditBuf) error) error {
	p, hasP := PrincipalFrom(ctx)
	return e.store.Tx(ctx, func(tx *gorm.DB) error {
		au := &auditBuf{}
		if err := fn(tx, au); err != nil {
			return err
		}
		if len(au.entries) == 0 && au.st.Empty() {
			return nil
		}
		rid := reqid.From(ctx)
		for i := range au.entries {
			au.entries[i].Actor = auditActor(p, hasP, au.entries[i].Actor)
			au.entries[i].Detail = withRequestID(au.entries[i].Detail, rid)
		}
		entries := au.entries
		if !au.st.Empty() {
			at := e.clock()
			if len(entries) > 0 {
				at = entries[len(entries)-1].Time
			}
			entries = append(entries, au.st.Entries(at, auditActor(p, hasP, "kinetic"))...)
		}
		_, err := store.AppendAudit(tx, entries...)
		return err
	})
}

// members returns the HR ids of approver group name as of now: its plain
// entries, and what GroupMembers makes of its PLATFORM:ID entries.
func (e *Engine) members(name string) []string {
	var ids []string
	for _, entry := range e.groups[name] {
		if !strings.Contains(entry, ":") {
			ids = append(ids, entry)
			continue
		}
		if e.expand != nil {
			ids = append(ids, e.expand(entry)...)
		}
	}
	return ids
}
