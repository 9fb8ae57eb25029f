package verkada

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/text"
)

// Paths of Verkada's Access Control API (https://apidocs.verkada.com/).
const (
	pathUsers        = "/access/v1/access_users"
	pathUser         = "/access/v1/access_users/user"
	pathCardOff      = "/access/v1/credentials/card/deactivate"
	pathPlateOff     = "/access/v1/credentials/license_plate/deactivate"
	pathBLEOff       = "/access/v1/access_users/user/ble/deactivate"
	pathRemoteOff    = "/access/v1/access_users/user/remote_unlock/deactivate"
	pathEntryCode    = "/access/v1/access_users/user/entry_code"
	kindCard         = "card"
	kindLicensePlate = "license plate"
)

// user is the part of Verkada's Access user object the connector reads
// (Get Access User Information,
// https://apidocs.verkada.com/reference/getaccessuserviewv1).
type user struct {
	UserID        string  `json:"user_id"`
	ExternalID    string  `json:"external_id"`
	Email         string  `json:"email"`
	Cards         []card  `json:"cards"`
	LicensePlates []plate `json:"license_plates"`
	// BLEUnlock and RemoteUnlock are the user's mobile (Bluetooth) and
	// remote unlock permissions; absent means not granted.
	BLEUnlock    *bool `json:"ble_unlock"`
	RemoteUnlock *bool `json:"remote_unlock"`
	// EntryCode is the keypad code; its value is never kept or shown.
	EntryCode string `json:"entry_code"`
}

type card struct {
	CardID       string `json:"card_id"`
	Active       *bool  `json:"active"`
	CardNumber   string `json:"card_number"`
	FacilityCode string `json:"facility_code"`
	Type         string `json:"type"`
}

func (k card) label() string {
	n := or(k.CardNumber, k.CardID)
	if k.FacilityCode != "" {
		n = k.FacilityCode + ":" + n
	}
	return or(k.Type, kindCard) + " " + n
}

type plate struct {
	Number string `json:"license_plate_number"`
	Active *bool  `json:"active"`
}

// active lists what the user can still open doors with.
func (u *user) active() []string {
	var out []string
	for _, k := range u.Cards {
		if k.Active == nil || *k.Active {
			out = append(out, k.label())
		}
	}
	for _, p := range u.LicensePlates {
		if p.Active == nil || *p.Active {
			out = append(out, kindLicensePlate+" "+p.Number)
		}
	}
	if u.BLEUnlock != nil && *u.BLEUnlock {
		out = append(out, "mobile unlock")
	}
	if u.RemoteUnlock != nil && *u.RemoteUnlock {
		out = append(out, "remote unlock")
	}
	if u.EntryCode != "" {
		out = append(out, "entry code")
	}
	return out
}

func (u *user) describe() string {
	act := u.active()
	d := fmt.Sprintf("Verkada user %s: %d %s, %d %s; %d active", u.UserID,
		len(u.Cards), text.Plural(len(u.Cards), kindCard), len(u.LicensePlates), text.Plural(len(u.LicensePlates), kindLicensePlate), len(act))
	if len(act) > 0 {
		d += " (" + strings.Join(act, ", ") + ")"
	}
	return d
}

// findUser resolves the subject to its Access user, nil when there is
// none: GET /access/v1/access_users/user?external_id=… (a 404 is none),
// or with find_by_email the list of all Access users
// (https://apidocs.verkada.com/reference/getaccessmembersviewv1) matched on
// email, then the user by user_id.
func (c *Connector) findUser(ctx context.Context, op string, s connectors.Subject) (*user, error) {
	q := url.Values{}
	if c.cfg.FindByEmail {
		id, err := c.userIDByEmail(ctx, op, strings.TrimSpace(s.Email))
		if err != nil || id == "" {
			return nil, err
		}
		q.Set("user_id", id)
	} else {
		v := matchValue(c.cfg.Match, s)
		if v == "" {
			return nil, nil
		}
		q.Set("external_id", v)
	}
	r, err := c.call(ctx, op, http.MethodGet, pathUser, q, nil)
	if err != nil {
		return nil, err
	}
	if r.status == http.StatusNotFound && !isHTML(r) {
		return nil, nil
	}
	var u user
	if err := c.decode(op, r, "get the Verkada Access user", &u); err != nil {
		return nil, err
	}
	if u.UserID == "" {
		return nil, connectors.NewError(connectors.KindInvalid, c.name, op,
			errors.New("Verkada answered an Access user without user_id (unexpected shape)"))
	}
	return &u, nil
}

func (c *Connector) userIDByEmail(ctx context.Context, op, email string) (string, error) {
	if email == "" {
		return "", nil
	}
	r, err := c.call(ctx, op, http.MethodGet, pathUsers, nil, nil)
	if err != nil {
		return "", err
	}
	var all struct {
		Members *[]struct {
			UserID string `json:"user_id"`
			Email  string `json:"email"`
		} `json:"access_members"`
	}
	if err := c.decode(op, r, "list Verkada Access users", &all); err != nil {
		return "", err
	}
	if all.Members == nil {
		return "", connectors.NewError(connectors.KindInvalid, c.name, op, errors.New("list Verkada Access users: the answer has no access_members"))
	}
	var ids []string
	for _, m := range *all.Members {
		if strings.EqualFold(strings.TrimSpace(m.Email), email) {
			ids = append(ids, m.UserID)
		}
	}
	if len(ids) > 1 {
		return "", connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("%d Verkada Access users (%s) have the person's email; resolve the duplicate in Command, nothing was changed",
				len(ids), strings.Join(ids, ", ")))
	}
	if len(ids) == 0 {
		return "", nil
	}
	return ids[0], nil
}

// Lookup reports the person's Access user as one badge account: active
// while any credential or unlock permission is.
func (c *Connector) Lookup(ctx context.Context, s connectors.Subject) (connectors.LookupResult, error) {
	u, err := c.findUser(ctx, "lookup", s)
	if err != nil || u == nil {
		return connectors.LookupResult{}, err
	}
	st := connectors.StatusDisabled
	if len(u.active()) > 0 {
		st = connectors.StatusActive
	}
	return connectors.LookupResult{Accounts: []connectors.Account{{ID: u.UserID, Kind: "badge", Status: st, Detail: u.describe()}}}, nil
}

// Do performs deactivate_badge: every active card
// (PUT /access/v1/credentials/card/deactivate?user_id=…&card_id=…,
// https://apidocs.verkada.com/reference/putaccesscarddeactivateviewv1),
// every active license plate
// (PUT /access/v1/credentials/license_plate/deactivate?user_id=…&license_plate_number=…),
// mobile unlock (PUT /access/v1/access_users/user/ble/deactivate) and
// remote unlock (PUT /access/v1/access_users/user/remote_unlock/deactivate)
// when granted, and the keypad entry code (DELETE
// /access/v1/access_users/user/entry_code) when set. Each is skipped when already off; one failure does not
// stop the others, and the error says what was done.
func (c *Connector) Do(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	const op = string(connectors.OpDeactivateBadge)
	if req.Operation != connectors.OpDeactivateBadge {
		return connectors.Result{}, connectors.NewError(connectors.KindInvalid, c.name, string(req.Operation),
			fmt.Errorf("verkada does not support %q (it supports %s)", req.Operation, connectors.OperationNames(Operations())))
	}
	u, err := c.findUser(ctx, op, req.Subject)
	if err != nil {
		return connectors.Result{}, err
	}
	if u == nil {
		return connectors.Result{Outcome: connectors.OutcomeNoneFound, Detail: "no Verkada Access user for this person"}, nil
	}
	type change struct {
		label, method, path string
		q                   url.Values
		// card: the answer is the card, which must say active false.
		card bool
	}
	var todo []change
	uid := url.Values{"user_id": {u.UserID}}
	for _, k := range u.Cards {
		if k.Active == nil || *k.Active {
			todo = append(todo, change{label: k.label(), path: pathCardOff, q: url.Values{"user_id": {u.UserID}, "card_id": {k.CardID}}, card: true})
		}
	}
	for _, p := range u.LicensePlates {
		if p.Active == nil || *p.Active {
			todo = append(todo, change{label: kindLicensePlate + " " + p.Number, path: pathPlateOff,
				q: url.Values{"user_id": {u.UserID}, "license_plate_number": {p.Number}}})
		}
	}
	if u.BLEUnlock != nil && *u.BLEUnlock {
		todo = append(todo, change{label: "mobile unlock", path: pathBLEOff, q: uid})
	}
	if u.RemoteUnlock != nil && *u.RemoteUnlock {
		todo = append(todo, change{label: "remote unlock", path: pathRemoteOff, q: uid})
	}
	if u.EntryCode != "" {
		// DELETE /access/v1/access_users/user/entry_code
		// (https://apidocs.verkada.com/reference/deleteaccessuserpinviewv1).
		todo = append(todo, change{label: "entry code", method: http.MethodDelete, path: pathEntryCode, q: uid})
	}
	if len(todo) == 0 {
		return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: u.UserID, Detail: "already done: " + u.describe()}, nil
	}
	var done, failures []string
	var first *connectors.Error
	for _, ch := range todo {
		r, err := c.call(ctx, op, or(ch.method, http.MethodPut), ch.path, ch.q, nil)
		var ce *connectors.Error
		switch {
		case err != nil:
			if !errors.As(err, &ce) {
				ce = connectors.Classify(c.name, op, err)
			}
		case ch.card:
			var k card
			if ce = asError(c.decode(op, r, "deactivate "+ch.label, &k)); ce == nil && (k.Active == nil || *k.Active) {
				ce = connectors.NewError(connectors.KindTransient, c.name, op,
					fmt.Errorf("Verkada answered the deactivation of %s with a card that is still active", ch.label))
			}
		case r.status/100 != 2:
			ce = c.classify(op, r, "deactivate "+ch.label)
		}
		if ce != nil {
			if first == nil {
				first = ce
			}
			failures = append(failures, fmt.Sprintf("%s: %s", ch.label, ce.Kind))
			continue
		}
		done = append(done, ch.label)
	}
	if first != nil {
		progress := "nothing changed"
		if len(done) > 0 {
			progress = "deactivated " + strings.Join(done, ", ")
		}
		return connectors.Result{}, &connectors.Error{
			Kind: first.Kind, Connector: c.name, Op: op, Status: first.Status, RetryAfter: first.RetryAfter,
			Err: fmt.Errorf("Verkada user %s: %s; %d of %d not deactivated (%s): %w",
				u.UserID, progress, len(failures), len(todo), strings.Join(failures, ", "), first.Err),
		}
	}
	return connectors.Result{Outcome: connectors.OutcomeDone, Account: u.UserID,
		Detail: fmt.Sprintf("Verkada user %s: deactivated %s", u.UserID, strings.Join(done, ", ")),
		Data:   map[string]string{"user_id": u.UserID, "deactivated": strings.Join(done, ",")}}, nil
}

func asError(err error) *connectors.Error {
	if err == nil {
		return nil
	}
	var ce *connectors.Error
	if errors.As(err, &ce) {
		return ce
	}
	return connectors.NewError(connectors.KindInvalid, "", "", err)
}

// Verify reads the user back: OK when no card or license plate is active,
// neither mobile nor remote unlock is granted and no entry code is set;
// no user is OK.
func (c *Connector) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	const op = "verify"
	if req.Operation != connectors.OpDeactivateBadge {
		return connectors.Verification{}, connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("verkada cannot verify %q", req.Operation))
	}
	u, err := c.findUser(ctx, op, req.Subject)
	if err != nil {
		return connectors.Verification{}, err
	}
	if u == nil {
		return connectors.Verification{OK: true, Detail: "no Verkada Access user for this person"}, nil
	}
	return connectors.Verification{OK: len(u.active()) == 0, Detail: u.describe()}, nil
}

func isHTML(r *response) bool {
	b := strings.TrimSpace(string(r.body[:min(len(r.body), 64)]))
	return strings.HasPrefix(b, "<")
}
