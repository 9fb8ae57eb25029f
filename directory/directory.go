// Package directory owns HR employee data as Kinetic sees it: the Employee
// record and the Directory interface the engine validates and plans against.
// The spine ships one source, a JSON or CSV file (see File); HR systems
// (BambooHR, Workday, SCIM) implement the same interface.
package directory

import (
	"context"
	"errors"
	"net/mail"
	"strings"
)

// Employee types used by the example policy; HR data may use others.
const (
	TypeEmployee   = "employee"
	TypeContractor = "contractor"
	TypeIntern     = "intern"
)

// Employee is the HR record.
type Employee struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
	// Username is the directory login (sAMAccountName-like).
	Username string `json:"username,omitempty"`
	// ChatUserID is the Slack (or Teams) user id, when HR knows it.
	ChatUserID string `json:"chat_user_id,omitempty"`
	// Manager and HRPartner are employee ids.
	Manager   string `json:"manager,omitempty"`
	HRPartner string `json:"hr_partner,omitempty"`
	// Type is employee, contractor, intern, …
	Type string `json:"type"`
	// Status is "active" or "inactive" (already gone in HR).
	Status     string `json:"status"`
	Department string `json:"department,omitempty"`
	Location   string `json:"location,omitempty"`
	// Country is an ISO 3166 alpha-2 code.
	Country string `json:"country,omitempty"`
	// TimeZone is an IANA zone name ("Europe/Berlin").
	TimeZone string `json:"time_zone,omitempty"`
	// Clearance is "", "confidential", "secret" or "top_secret".
	Clearance    string   `json:"clearance,omitempty"`
	RoleProfiles []string `json:"role_profiles,omitempty"`
	// HRRole marks people who may offboard anyone (HR staff).
	HRRole bool `json:"hr_role,omitempty"`
	// Attributes holds any further HR attribute the policy may use.
	Attributes map[string]string `json:"attributes,omitempty"`
	// Accounts optionally lists known account ids per connector instance.
	Accounts map[string]string `json:"accounts,omitempty"`
	// Equipment lists asset tags assigned to the person.
	Equipment []string `json:"equipment,omitempty"`
	// PrivateEmail is the person's own (personal, home) address, when HR
	// holds one: where the instructions for returning their devices go
	// once their work mailbox is closed. It is personal data: front ends
	// and logs show it masked (text.MaskEmail).
	PrivateEmail string `json:"private_email,omitempty"`
}

// Active reports whether HR considers the person active.
func (e *Employee) Active() bool { return strings.EqualFold(e.Status, "active") }

// ErrNotFound is returned when no employee matches.
var ErrNotFound = errors.New("employee not found")

// Directory looks people up. Implementations are safe for concurrent use.
type Directory interface {
	// ByID finds by HR employee id.
	ByID(ctx context.Context, id string) (*Employee, error)
	// ByEmail finds by email, case-insensitively.
	ByEmail(ctx context.Context, email string) (*Employee, error)
	// ByChatUserID finds by chat user id.
	ByChatUserID(ctx context.Context, id string) (*Employee, error)
}

// ValidAddress reports whether s is one bare email address
// (name@domain, RFC 5322 addr-spec, no display name or angle brackets),
// as PrivateEmail must be to be written to.
func ValidAddress(s string) bool {
	if s == "" || len(s) > 254 || strings.TrimSpace(s) != s {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s && strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".")
}
