package teamsapp

import (
	"context"
	"errors"
	"fmt"
	"github.com/kineticsec/kinetic/bot/frontend"
	"strings"
	"sync"
	"time"

	"github.com/kineticsec/kinetic/bot/teams/cards"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/engine"
)

// errNoPerson says a Teams user has no HR record Kinetic can find.
var errNoPerson = errors.New("no HR record for this Teams user")

// people maps Teams users to HR records by their AAD object id, never by
// display name: the directory's chat_user_id first (HR may store the AAD
// object id there), else the user's email from Options.EmailOf looked up
// with ByEmail. It also remembers the Teams id ("29:…") of everyone who
// wrote to the bot, for DMs.
type people struct {
	dir     directory.Directory
	emailOf func(context.Context, string) (string, error)
	aadOf   func(context.Context, string) (string, error)

	mu      sync.Mutex
	teamsID map[string]string // AAD object id → "29:…"
}

func (p *people) hr(ctx context.Context, aad string) (*directory.Employee, error) {
	if !cards.AADObjectID(aad) {
		return nil, fmt.Errorf("%w: no AAD object id", errNoPerson)
	}
	emp, err := p.dir.ByChatUserID(ctx, aad)
	if err == nil {
		return emp, nil
	}
	if !errors.Is(err, directory.ErrNotFound) {
		return nil, err
	}
	if p.emailOf == nil {
		return nil, errNoPerson
	}
	email, err := p.emailOf(ctx, aad)
	if err != nil || strings.TrimSpace(email) == "" {
		return nil, errNoPerson
	}
	emp, err = p.dir.ByEmail(ctx, email)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, errNoPerson
	}
	return emp, err
}

// seen remembers the Teams id of a user who wrote to the bot.
func (p *people) seen(aad, id string) {
	if aad == "" || id == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.teamsID == nil {
		p.teamsID = map[string]string{}
	}
	p.teamsID[aad] = id
}

// member is the id to address HR person hrID with in a 1:1 conversation:
// their "29:…" id when they wrote to the bot, else their AAD object id
// (Teams accepts either as the member of a created conversation), or "".
func (p *people) member(ctx context.Context, hrID string) string {
	emp, err := p.dir.ByID(ctx, hrID)
	if err != nil {
		return ""
	}
	aad := ""
	if cards.AADObjectID(emp.ChatUserID) {
		aad = emp.ChatUserID
	} else if p.aadOf != nil && emp.Email != "" {
		if id, err := p.aadOf(ctx, emp.Email); err == nil && cards.AADObjectID(id) {
			aad = id
		}
	}
	if aad == "" {
		return ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if id := p.teamsID[aad]; id != "" {
		return id
	}
	return aad
}

// name is the HR name of id, or id.
func (p *people) name(ctx context.Context, id string) string {
	if emp, err := p.dir.ByID(ctx, id); err == nil && emp.Name != "" {
		return emp.Name
	}
	return id
}

// teamsPrincipal is the engine principal of a Teams user whose HR record
// is hrID: they act for themselves only.
func teamsPrincipal(aad, hrID string) engine.Principal {
	return engine.Principal{ID: "teams:" + aad, ActAs: []string{hrID}}
}

// zone is the employee's time zone, UTC when unknown.
func zone(emp *directory.Employee) *time.Location { return frontend.Zone(emp) }
