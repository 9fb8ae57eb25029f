package slackapp

import (
	"context"
	"errors"
	"fmt"
	"github.com/kineticsec/kinetic/bot/frontend"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/kineticsec/kinetic/directory"
)

// errNoPerson says a Slack user has no HR record Kinetic can find.
var errNoPerson = errors.New("no HR record for this Slack user")

// people maps Slack users to HR records by stable ids: the directory's
// chat_user_id first, else the Slack profile's email (users.info) looked up
// with ByEmail; and back, chat_user_id or users.lookupByEmail. Answers,
// found or not, are cached for ttl (not-found for a tenth of it).
type people struct {
	api *slack.Client
	dir directory.Directory
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	toHR    map[string]hrEntry
	toSlack map[string]slackEntry
}

type hrEntry struct {
	emp *directory.Employee
	err error
	exp time.Time
}

type slackEntry struct {
	id  string
	exp time.Time
}

// hr returns the HR record of Slack user id, or an error wrapping
// errNoPerson.
func (p *people) hr(ctx context.Context, slackID string) (*directory.Employee, error) {
	now := p.now()
	p.mu.Lock()
	if e, ok := p.toHR[slackID]; ok && now.Before(e.exp) {
		p.mu.Unlock()
		return e.emp, e.err
	}
	p.mu.Unlock()
	emp, err := p.lookupHR(ctx, slackID)
	if err != nil && !errors.Is(err, errNoPerson) {
		return nil, err // transient: not cached
	}
	ttl := p.ttl
	if err != nil {
		ttl /= 10
	}
	p.mu.Lock()
	if p.toHR == nil {
		p.toHR = map[string]hrEntry{}
	}
	p.toHR[slackID] = hrEntry{emp: emp, err: err, exp: now.Add(ttl)}
	p.mu.Unlock()
	return emp, err
}

func (p *people) lookupHR(ctx context.Context, slackID string) (*directory.Employee, error) {
	emp, err := p.dir.ByChatUserID(ctx, slackID)
	if err == nil {
		return emp, nil
	}
	if !errors.Is(err, directory.ErrNotFound) {
		return nil, err
	}
	u, err := p.api.GetUserInfoContext(ctx, slackID)
	if err != nil {
		var se slack.SlackErrorResponse
		if errors.As(err, &se) && (se.Err == "user_not_found" || se.Err == "users_not_found") {
			return nil, fmt.Errorf("%w: Slack does not know %s", errNoPerson, slackID)
		}
		return nil, fmt.Errorf("users.info: %w", err)
	}
	if u.IsBot || u.Profile.Email == "" {
		return nil, fmt.Errorf("%w: %s has no email in Slack", errNoPerson, slackID)
	}
	emp, err = p.dir.ByEmail(ctx, u.Profile.Email)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s is not in the HR directory", errNoPerson, slackID)
	}
	return emp, err
}

// slackID returns the Slack user id of HR id hrID ("" when there is none).
func (p *people) slackID(ctx context.Context, hrID string) string {
	now := p.now()
	p.mu.Lock()
	if e, ok := p.toSlack[hrID]; ok && now.Before(e.exp) {
		p.mu.Unlock()
		return e.id
	}
	p.mu.Unlock()
	emp, err := p.dir.ByID(ctx, hrID)
	if err != nil {
		return ""
	}
	id := emp.ChatUserID
	if id == "" && emp.Email != "" {
		u, err := p.api.GetUserByEmailContext(ctx, emp.Email)
		if err != nil {
			var se slack.SlackErrorResponse
			if !errors.As(err, &se) {
				return "" // transient: not cached
			}
		} else {
			id = u.ID
		}
	}
	ttl := p.ttl
	if id == "" {
		ttl /= 10
	}
	p.mu.Lock()
	if p.toSlack == nil {
		p.toSlack = map[string]slackEntry{}
	}
	p.toSlack[hrID] = slackEntry{id: id, exp: now.Add(ttl)}
	p.mu.Unlock()
	return id
}

// name is an HR id's display name, or the id.
func (p *people) name(ctx context.Context, hrID string) string {
	if emp, err := p.dir.ByID(ctx, hrID); err == nil && emp.Name != "" {
		return emp.Name
	}
	return hrID
}

// names maps HR ids to display names, for builders that name people
// (blocks' person: "Mia Manager (E0002)"); an id without a name in the
// directory is left out, and shows as the id.
func (p *people) names(ctx context.Context, hrIDs ...string) map[string]string {
	return frontend.Names(ctx, p.name, hrIDs...)
}

// zone is the employee's time zone, UTC when unknown.
func zone(emp *directory.Employee) *time.Location { return frontend.Zone(emp) }
