// Package frontend holds what Kinetic's chat front ends (bot/slackapp,
// bot/teamsapp) share that is not about one platform: the words for the
// engine's refusals, the references to posted messages (store.ChatMessage
// rows, so a restart keeps updating the same card) and the plans shown for
// confirmation. Each front end keeps its own wording where the platform
// differs (how to ask for a case's status).
package frontend

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/store"
)

// Texts both front ends answer with.
const (
	TextGone          = "That case, approval or action no longer exists. Nothing was changed."
	TextLookupFailed  = "Kinetic could not look people up just now. Nothing was changed; please try again."
	TextNothingToSee  = "There is no offboarding you can see there."
	TextUnknownButton = "Kinetic doesn't know that button (it may be from an older version). Nothing was changed."
	TextBadButton     = "That button's data is not valid. Nothing was changed."
)

// OpenError explains an Engine.Open (or Precheck) error to the requester;
// followHint says how to follow an open case on this platform ("Use
// /offboard status to follow it.").
func OpenError(err error, followHint string) string {
	var open *engine.CaseOpenError
	switch {
	case errors.As(err, &open):
		return fmt.Sprintf("An offboarding is already in progress for that person (case %d). %s Nothing was changed.", open.CaseID, followHint)
	case errors.Is(err, engine.ErrUnknownEmployee), errors.Is(err, engine.ErrInactiveEmployee),
		errors.Is(err, engine.ErrNotAllowed), errors.Is(err, engine.ErrInvalidRequest):
		return "Kinetic did not open a case: " + err.Error() + ". Nothing was changed."
	}
	return "Kinetic could not plan that offboarding (an internal error, logged). Nothing was changed; please try again."
}

// EngineError explains the engine's refusal of a click or command.
func EngineError(err error) string {
	switch {
	case errors.Is(err, engine.ErrNotFound), errors.Is(err, store.ErrNotFound):
		return TextGone
	case errors.Is(err, engine.ErrNotAllowed):
		return "Kinetic refused: " + err.Error() + ". Nothing was changed."
	case errors.Is(err, engine.ErrInvalidRequest):
		return "Nothing to do: " + err.Error() + "."
	}
	return "Kinetic hit an internal error (logged). Please try again."
}

// StatusWord is a case or action status as people read it.
func StatusWord(s string) string { return strings.ReplaceAll(s, "_", " ") }

// recordTimeout bounds the write of a posted message's reference.
const recordTimeout = 5 * time.Second

// Refs reads and writes the references to the messages one platform posted
// (store.ChatMessage rows of Platform).
type Refs struct {
	Store    *store.Store
	Platform string
	Log      *logrus.Entry
}

// Record stores a posted message's (channel, ts) so it can be updated
// after a restart. The message is already posted, so its reference is
// written even when ctx has just ended (a shutdown, or the job's deadline
// right after the post): on a context of its own, bounded by
// recordTimeout, never on the caller's.
func (r Refs) Record(ctx context.Context, caseID int64, channel, ts, kind string) {
	m := store.ChatMessage{CaseID: caseID, Platform: r.Platform, Channel: channel, TS: ts, Kind: kind}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := r.Store.RecordChatMessage(rctx, &m); err != nil {
		r.Log.WithError(err).WithFields(logrus.Fields{"case": caseID, "platform": r.Platform}).Error("recording a posted message failed")
	}
}

// Load returns the case's recorded messages of the given kinds (all kinds
// when none is given); a read failure is logged and returns none.
func (r Refs) Load(ctx context.Context, caseID int64, kinds ...string) []store.ChatMessage {
	ms, err := r.Store.ChatMessagesFor(ctx, caseID, r.Platform, kinds...)
	if err != nil {
		r.Log.WithError(err).WithFields(logrus.Fields{"case": caseID, "platform": r.Platform}).Error("loading posted message refs failed")
	}
	return ms
}

// Plans holds the plans shown for confirmation, by case, until the
// requester answers (the answer's card shows the plan resolved).
type Plans struct {
	mu sync.Mutex
	m  map[int64]*engine.Plan
}

// Remember keeps case id's plan.
func (p *Plans) Remember(id int64, plan *engine.Plan) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[int64]*engine.Plan{}
	}
	p.m[id] = plan
}

// Take returns case id's plan (nil when none is kept) and forgets it.
func (p *Plans) Take(id int64) *engine.Plan {
	p.mu.Lock()
	defer p.mu.Unlock()
	plan := p.m[id]
	delete(p.m, id)
	return plan
}
