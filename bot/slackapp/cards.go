package slackapp

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"github.com/kineticsec/kinetic/bot/frontend"
	"sync"

	"github.com/slack-go/slack"

	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/store"
)

// statusCard renders case c's status card with what it shows beyond the
// case: people's names, the employee's time zone, the exceptions still
// pending, and the policy's descriptions of actions planned before
// descriptions were stored on them.
func (a *App) statusCard(ctx context.Context, c *store.Case) ([]slack.Block, string) {
	acts, x := frontend.StatusView(ctx, a.eng, a.ppl.dir, c, a.ppl.name)
	return blocks.StatusCardWith(*c, acts, a.now(), x)
}

// sentContent remembers, per message (channel and ts), a digest of the
// content Kinetic last sent for it, so that an update that would change
// nothing is not sent (issue 14: 19 of 180 chat.update calls repeated the
// message exactly). It lives in memory: after a restart the first update
// of a message may repeat it. Past maxSentContent messages it starts
// afresh, which costs at most one repeated update per message. Another
// process (a worker) may update the same card; each renders the database's
// current state, so the card still ends on the latest one, except when an
// older render lands after a newer one — as before, the next change of the
// case sets it right.
type sentContent struct {
	mu      sync.Mutex
	m       map[string][sha256.Size]byte
	claimed map[string]bool
}

const maxSentContent = 20000

func contentKey(channel, ts string) string { return channel + "\x00" + ts }

func contentSum(text string, bs []slack.Block) [sha256.Size]byte {
	b, err := json.Marshal(bs)
	if err != nil {
		b = nil // cannot happen for blocks built here; then every update is sent
	}
	return sha256.Sum256(append(append([]byte(text), 0), b...))
}

// note records what a message now shows (after a post or an update).
func (s *sentContent) note(channel, ts, text string, bs []slack.Block) {
	if channel == "" || ts == "" {
		return
	}
	sum := contentSum(text, bs)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil || len(s.m) >= maxSentContent {
		s.m = map[string][sha256.Size]byte{}
	}
	s.m[contentKey(channel, ts)] = sum
}

// same reports whether the message already shows this content.
func (s *sentContent) same(channel, ts, text string, bs []slack.Block) bool {
	sum := contentSum(text, bs)
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, ok := s.m[contentKey(channel, ts)]
	return ok && prev == sum
}

// claim marks a message as settled by the caller (a plan preview the
// requester cancelled from: the click's answer replaces it), so that
// another path (closedCase) leaves it alone; it reports whether the
// message was not claimed already.
func (s *sentContent) claim(channel, ts string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := contentKey(channel, ts)
	if s.claimed[k] {
		return false
	}
	if s.claimed == nil || len(s.claimed) >= maxSentContent {
		s.claimed = map[string]bool{}
	}
	s.claimed[k] = true
	return true
}

// unclaim undoes claim (the cancel it was for failed).
func (s *sentContent) unclaim(channel, ts string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.claimed, contentKey(channel, ts))
}

// updateMessage replaces a message's content unless it already shows it;
// it reports whether chat.update was called.
func (a *App) updateMessage(ctx context.Context, channel, ts, text string, bs []slack.Block) (bool, error) {
	if a.sent.same(channel, ts, text, bs) {
		return false, nil
	}
	if _, _, _, err := a.api.UpdateMessageContext(ctx, channel, ts, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(bs...)); err != nil {
		return true, err
	}
	a.sent.note(channel, ts, text, bs)
	return true, nil
}
