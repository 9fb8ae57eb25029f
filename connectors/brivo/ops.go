package brivo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/text"
)

// user is the part of Brivo's User object the connector reads. The PIN
// and photo fields are never decoded.
type user struct {
	ID         json.Number `json:"id"`
	ExternalID string      `json:"externalId"`
	// Suspended is read as false when absent: Brivo omits empty values
	// ("Empty or null values in the domain model are omitted",
	// https://apidocs.brivo.com/#empty-values).
	Suspended bool `json:"suspended"`
}

// credential is one entry of GET /v1/api/users/{id}/credentials. Only the
// id, the format name and a card's referenceId (the printed card number)
// are kept: encodedCredential of a PIN is the PIN itself.
type credential struct {
	ID     json.Number `json:"id"`
	Format struct {
		Name string `json:"name"`
	} `json:"credentialFormat"`
	ReferenceID string `json:"referenceId"`
}

func (k credential) label() string {
	if k.ReferenceID != "" {
		return fmt.Sprintf("%s %s", or(k.Format.Name, "credential"), k.ReferenceID)
	}
	return or(k.Format.Name, "credential") + " #" + k.ID.String()
}

// pageSize is Brivo's maximum (https://apidocs.brivo.com/#paging).
const pageSize = 100

// findUser resolves the subject to its Brivo user: nil when there is none.
// By externalId: GET /v1/api/users/{externalId}/external, a 404 is "none"
// (https://apidocs.brivo.com/#api-User-RetrieveUserByExternal). By custom
// field: GET /v1/api/users?filter=cf_{id}__exact:{value}, where more than
// one user is an error (https://apidocs.brivo.com/#api-User-ListUsers).
func (c *Connector) findUser(ctx context.Context, op string, s connectors.Subject) (*user, error) {
	v := matchValue(c.cfg.Match, s)
	if v == "" {
		return nil, nil
	}
	if c.cfg.MatchCustomField > 0 {
		return c.findByCustomField(ctx, op, v)
	}
	r, err := c.call(ctx, op, http.MethodGet, "/v1/api/users/"+url.PathEscape(v)+"/external", nil, nil)
	if err != nil {
		return nil, err
	}
	if r.status == http.StatusNotFound && !isHTML(r) {
		return nil, nil
	}
	var u user
	if err := c.decode(op, r, "find the Brivo user by external id", &u); err != nil {
		return nil, err
	}
	if err := c.checkUser(op, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

func (c *Connector) findByCustomField(ctx context.Context, op, v string) (*user, error) {
	if strings.ContainsAny(v, ";,") {
		// Brivo's filter syntax separates filters with ; and values with ,.
		return nil, connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("the match value contains ; or , which Brivo's filter syntax cannot carry"))
	}
	q := url.Values{"filter": {fmt.Sprintf("cf_%d__exact:%s", c.cfg.MatchCustomField, v)}, "pageSize": {strconv.Itoa(pageSize)}}
	r, err := c.call(ctx, op, http.MethodGet, "/v1/api/users", q, nil)
	if err != nil {
		return nil, err
	}
	var page struct {
		Data  []user `json:"data"`
		Count *int   `json:"count"`
	}
	if err := c.decode(op, r, "list Brivo users by custom field", &page); err != nil {
		return nil, err
	}
	if page.Count == nil {
		return nil, connectors.NewError(connectors.KindInvalid, c.name, op, errors.New("list Brivo users: the answer has no count"))
	}
	switch n := max(*page.Count, len(page.Data)); {
	case n == 0:
		return nil, nil
	case n > 1:
		ids := make([]string, 0, len(page.Data))
		for _, u := range page.Data {
			ids = append(ids, u.ID.String())
		}
		return nil, connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("%d Brivo users (%s) hold custom field %d = the person's %s; resolve the duplicate in Brivo, nothing was changed",
				n, strings.Join(ids, ", "), c.cfg.MatchCustomField, or(c.cfg.Match, MatchEmployeeID)))
	}
	u := page.Data[0]
	if err := c.checkUser(op, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

func (c *Connector) checkUser(op string, u *user) error {
	if u.ID == "" {
		return connectors.NewError(connectors.KindInvalid, c.name, op,
			errors.New("Brivo answered a user without id (unexpected shape)"))
	}
	return nil
}

// credentials lists every credential assigned to the user, page by page
// (https://apidocs.brivo.com/#api-User-GetCredentialsForUser).
func (c *Connector) credentials(ctx context.Context, op string, u *user) ([]credential, error) {
	var out []credential
	for offset := 0; ; {
		q := url.Values{"offset": {strconv.Itoa(offset)}, "pageSize": {strconv.Itoa(pageSize)}}
		r, err := c.call(ctx, op, http.MethodGet, "/v1/api/users/"+u.ID.String()+"/credentials", q, nil)
		if err != nil {
			return nil, err
		}
		if r.status == http.StatusNotFound && !isHTML(r) {
			return nil, nil // deleted between the two reads: nothing left
		}
		var page struct {
			Data  []credential `json:"data"`
			Count *int         `json:"count"`
		}
		if err := c.decode(op, r, "list the Brivo user's credentials", &page); err != nil {
			return nil, err
		}
		if page.Count == nil {
			return nil, connectors.NewError(connectors.KindInvalid, c.name, op, errors.New("list credentials: the answer has no count"))
		}
		out = append(out, page.Data...)
		offset += len(page.Data)
		if len(page.Data) == 0 || offset >= *page.Count {
			return out, nil
		}
	}
}

// Lookup reports the person's Brivo user as one badge account: active
// unless suspended, with its credentials in Detail.
func (c *Connector) Lookup(ctx context.Context, s connectors.Subject) (connectors.LookupResult, error) {
	u, err := c.findUser(ctx, "lookup", s)
	if err != nil || u == nil {
		return connectors.LookupResult{}, err
	}
	creds, err := c.credentials(ctx, "lookup", u)
	if err != nil {
		return connectors.LookupResult{}, err
	}
	st := connectors.StatusActive
	if u.Suspended {
		st = connectors.StatusDisabled
	}
	return connectors.LookupResult{Accounts: []connectors.Account{{
		ID: u.ID.String(), Kind: "badge", Status: st, Detail: describe(u, creds),
	}}}, nil
}

func describe(u *user, creds []credential) string {
	labels := make([]string, len(creds))
	for i, k := range creds {
		labels[i] = k.label()
	}
	d := fmt.Sprintf("Brivo user %s suspended=%t, %d %s", u.ID, u.Suspended, len(creds), text.Plural(len(creds), "credential"))
	if len(labels) > 0 {
		d += " (" + strings.Join(labels, ", ") + ")"
	}
	return d
}

// Do performs deactivate_badge: suspend the user (PUT
// /v1/api/users/{id}/suspended {"suspended": true},
// https://apidocs.brivo.com/#api-User-ToggleSuspendedStatus), then
// unassign every credential (DELETE /v1/api/users/{id}/credentials/{cid},
// https://apidocs.brivo.com/#api-User-RemoveCredentialFromUser) unless
// keep_credentials. Each step is skipped when its effect already holds; a
// failed credential does not stop the others, and the error says what was
// done.
func (c *Connector) Do(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	const op = string(connectors.OpDeactivateBadge)
	if req.Operation != connectors.OpDeactivateBadge {
		return connectors.Result{}, connectors.NewError(connectors.KindInvalid, c.name, string(req.Operation),
			fmt.Errorf("brivo does not support %q (it supports %s)", req.Operation, connectors.OperationNames(Operations())))
	}
	u, err := c.findUser(ctx, op, req.Subject)
	if err != nil {
		return connectors.Result{}, err
	}
	if u == nil {
		return connectors.Result{Outcome: connectors.OutcomeNoneFound, Detail: "no Brivo user for this person"}, nil
	}
	creds, err := c.credentials(ctx, op, u)
	if err != nil {
		return connectors.Result{}, err
	}
	var done []string
	data := map[string]string{"user_id": u.ID.String()}
	if !u.Suspended {
		r, err := c.call(ctx, op, http.MethodPut, "/v1/api/users/"+u.ID.String()+"/suspended", nil, map[string]bool{"suspended": true})
		if err != nil {
			return connectors.Result{}, err
		}
		var st struct {
			Suspended *bool `json:"suspended"`
		}
		if err := c.decode(op, r, "suspend the Brivo user", &st); err != nil {
			return connectors.Result{}, err
		}
		if st.Suspended == nil || !*st.Suspended {
			return connectors.Result{}, connectors.NewError(connectors.KindTransient, c.name, op,
				fmt.Errorf("Brivo answered the suspension of user %s with suspended=false; nothing else was changed", u.ID))
		}
		done = append(done, "user suspended")
		data["suspended"] = "true"
	}
	if !c.cfg.KeepCredentials {
		var removed, labels []string
		var failures []string
		var first *connectors.Error
		for _, k := range creds {
			r, err := c.call(ctx, op, http.MethodDelete, "/v1/api/users/"+u.ID.String()+"/credentials/"+k.ID.String(), nil, nil)
			if err == nil && (r.status/100 == 2 || (r.status == http.StatusNotFound && !isHTML(r))) {
				removed = append(removed, k.ID.String())
				labels = append(labels, k.label())
				continue
			}
			var ce *connectors.Error
			if err == nil {
				ce = c.classify(op, r, "remove credential "+k.ID.String())
			} else if !errors.As(err, &ce) {
				ce = connectors.Classify(c.name, op, err)
			}
			if first == nil {
				first = ce
			}
			failures = append(failures, fmt.Sprintf("credential %s: %s", k.ID, ce.Kind))
		}
		if len(removed) > 0 {
			done = append(done, fmt.Sprintf("%d %s removed (%s)", len(removed), text.Plural(len(removed), "credential"), strings.Join(labels, ", ")))
			data["credentials_removed"] = strings.Join(removed, ",")
			data["badges"] = strings.Join(labels, ",")
		}
		if first != nil {
			progress := strings.Join(done, "; ")
			if progress == "" {
				progress = "nothing changed"
			}
			return connectors.Result{}, &connectors.Error{
				Kind: first.Kind, Connector: c.name, Op: op, Status: first.Status, RetryAfter: first.RetryAfter,
				Err: fmt.Errorf("Brivo user %s: %s; %d of %d credentials not removed (%s): %w",
					u.ID, progress, len(failures), len(creds), strings.Join(failures, ", "), first.Err),
			}
		}
	}
	if len(done) == 0 {
		return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: u.ID.String(),
			Detail: "already done: " + describe(u, creds)}, nil
	}
	return connectors.Result{Outcome: connectors.OutcomeDone, Account: u.ID.String(),
		Detail: fmt.Sprintf("Brivo user %s: %s", u.ID, strings.Join(done, "; ")), Data: data}, nil
}

// Verify reads back that the user is suspended and holds no credential
// (suspended only, with keep_credentials). No user verifies: nothing
// opens a door.
func (c *Connector) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	const op = "verify"
	if req.Operation != connectors.OpDeactivateBadge {
		return connectors.Verification{}, connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("brivo cannot verify %q", req.Operation))
	}
	u, err := c.findUser(ctx, op, req.Subject)
	if err != nil {
		return connectors.Verification{}, err
	}
	if u == nil {
		return connectors.Verification{OK: true, Detail: "no Brivo user for this person"}, nil
	}
	creds, err := c.credentials(ctx, op, u)
	if err != nil {
		return connectors.Verification{}, err
	}
	ok := u.Suspended && (c.cfg.KeepCredentials || len(creds) == 0)
	return connectors.Verification{OK: ok, Detail: describe(u, creds)}, nil
}

func isHTML(r *response) bool {
	b := strings.TrimSpace(string(r.body[:min(len(r.body), 64)]))
	return strings.HasPrefix(b, "<")
}
