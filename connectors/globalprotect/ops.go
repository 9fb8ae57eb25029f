package globalprotect

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/kineticsec/kinetic/connectors"
)

// localUser is an <entry> of the local user database (its phash is never
// read into memory).
type localUser struct {
	Name     string `xml:"name,attr"`
	Disabled string `xml:"disabled"`
}

func (u *localUser) disabled() bool { return strings.EqualFold(u.Disabled, "yes") }

// gpUser is an <entry> of show global-protect-gateway current-user.
type gpUser struct {
	Domain    string `xml:"domain"`
	Username  string `xml:"username"`
	Computer  string `xml:"computer"`
	VirtualIP string `xml:"virtual-ip"`
	PublicIP  string `xml:"public-ip"`
}

type session struct {
	gateway string
	user    gpUser
}

// state is what the firewall holds for one person.
type state struct {
	name     string
	names    []string // lower case, matched against current users
	user     *localUser
	sessions []session
}

func (s *state) empty() bool { return s.user == nil && len(s.sessions) == 0 }

func (s *state) describe() string {
	var b strings.Builder
	switch {
	case s.user == nil:
		b.WriteString("no local user (identity-provider sign-in: block it there)")
	case s.user.disabled():
		b.WriteString("local user " + s.user.Name + " disabled in the running config")
	default:
		b.WriteString("local user " + s.user.Name + " enabled")
	}
	fmt.Fprintf(&b, ", %d GlobalProtect session(s)", len(s.sessions))
	return b.String()
}

func (c *Connector) candidates(s connectors.Subject, account string) []string {
	if account != "" {
		return []string{account}
	}
	var out []string
	seen := map[string]bool{}
	for _, f := range c.from {
		v := ""
		switch {
		case f == FromUsername:
			v = s.Username
		case f == FromEmail:
			v = s.Email
		case f == FromEmailLocal:
			v, _, _ = strings.Cut(s.Email, "@")
		case f == FromEmployeeID:
			v = s.EmployeeID
		case strings.HasPrefix(f, FromAttrPrefix):
			v = s.Attributes[strings.TrimPrefix(f, FromAttrPrefix)]
		}
		v = strings.TrimSpace(v)
		if v == "" || seen[strings.ToLower(v)] {
			continue
		}
		seen[strings.ToLower(v)] = true
		out = append(out, v)
	}
	return out
}

func (c *Connector) userXPath(name string) string {
	return c.userBase + "/entry[@name='" + name + "']"
}

// read collects the local user (running config) and the person's current
// users on every gateway.
func (c *Connector) read(ctx context.Context, op string, s connectors.Subject, account string) (*state, error) {
	cands := c.candidates(s, account)
	if len(cands) == 0 {
		return &state{}, nil
	}
	for _, n := range cands {
		if !nameRE.MatchString(n) {
			return nil, connectors.NewError(connectors.KindInvalid, c.name, op,
				fmt.Errorf("user name %q cannot be put in a PAN-OS XPath (quotes or angle brackets); set user_name_from", n))
		}
	}
	st := &state{name: cands[0]}
	var found []localUser
	if c.block == BlockDisableLocalUser {
		for _, n := range cands {
			u, err := c.showUser(ctx, op, n)
			if err != nil {
				return nil, err
			}
			if u != nil && !containsUser(found, u.Name) {
				found = append(found, *u)
			}
		}
	}
	switch len(found) {
	case 0:
		for _, n := range cands {
			st.names = append(st.names, strings.ToLower(n))
		}
	case 1:
		st.user, st.name = &found[0], found[0].Name
		st.names = []string{strings.ToLower(found[0].Name)}
	default:
		names := make([]string, len(found))
		for i, u := range found {
			names[i] = u.Name
		}
		return nil, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf(
			"the person matches %d PAN-OS local users (%s); refusing to guess which to disable: set the account explicitly or narrow user_name_from",
			len(found), strings.Join(names, ", ")))
	}
	for _, gw := range c.gateways {
		users, err := c.currentUsers(ctx, op, gw)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			if st.matches(u.Username) {
				st.sessions = append(st.sessions, session{gateway: gw, user: u})
			}
		}
	}
	return st, nil
}

// matches compares a GlobalProtect user name to the person's names, each
// without any DOMAIN\ prefix.
func (s *state) matches(user string) bool {
	user = stripDomain(strings.ToLower(strings.TrimSpace(user)))
	for _, n := range s.names {
		if user != "" && stripDomain(n) == user {
			return true
		}
	}
	return false
}

func stripDomain(s string) string {
	if i := strings.LastIndexByte(s, '\\'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func containsUser(us []localUser, name string) bool {
	for _, u := range us {
		if strings.EqualFold(u.Name, name) {
			return true
		}
	}
	return false
}

// showUser reads one local user from the running configuration; nil when
// there is none.
func (c *Connector) showUser(ctx context.Context, op, name string) (*localUser, error) {
	r, err := c.call(ctx, op, url.Values{"type": {"config"}, "action": {"show"}, "xpath": {c.userXPath(name)}})
	var ce *connectors.Error
	if errors.As(err, &ce) && ce.Kind == connectors.KindNotFound {
		return nil, nil // code 7: no such node
	}
	if err != nil {
		return nil, err
	}
	var entries struct {
		Entries []localUser `xml:"entry"`
	}
	if err := xml.Unmarshal(wrap(r.Result.Inner), &entries); err != nil {
		return nil, c.shapeError(op, "config show of the local user")
	}
	for i := range entries.Entries {
		if strings.EqualFold(entries.Entries[i].Name, name) {
			return &entries.Entries[i], nil
		}
	}
	if len(entries.Entries) > 0 {
		return nil, c.shapeError(op, "config show of the local user")
	}
	return nil, nil
}

func (c *Connector) currentUsers(ctx context.Context, op, gw string) ([]gpUser, error) {
	cmd := "<show><global-protect-gateway><current-user><gateway>" + xmlEscape(gw) + "</gateway></current-user></global-protect-gateway></show>"
	r, err := c.call(ctx, op, url.Values{"type": {"op"}, "cmd": {cmd}})
	if err != nil {
		return nil, err
	}
	var out struct {
		Entries []gpUser `xml:"entry"`
	}
	if err := xml.Unmarshal(wrap(r.Result.Inner), &out); err != nil {
		return nil, c.shapeError(op, "show global-protect-gateway current-user")
	}
	return out.Entries, nil
}

// wrap gives inner XML one root so it parses as a document.
func wrap(inner []byte) []byte {
	return append(append([]byte("<r>"), inner...), "</r>"...)
}

func (c *Connector) shapeError(op, what string) error {
	return connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("PAN-OS answered %s with a result of an unexpected shape", what))
}

// disable sets <disabled>yes</disabled> on the local user and commits the
// API admin's changes, waiting for the commit job.
func (c *Connector) disable(ctx context.Context, op, name string) error {
	if _, err := c.call(ctx, op, url.Values{"type": {"config"}, "action": {"set"}, "xpath": {c.userXPath(name)}, "element": {"<disabled>yes</disabled>"}}); err != nil {
		return err
	}
	cmd := "<commit><partial><admin><member>" + xmlEscape(c.admin) + "</member></admin></partial></commit>"
	r, err := c.call(ctx, op, url.Values{"type": {"commit"}, "action": {"partial"}, "cmd": {cmd}})
	if err != nil {
		return err
	}
	var job struct {
		Job string `xml:"job"`
	}
	if err := xml.Unmarshal(wrap(r.Result.Inner), &job); err != nil {
		return c.shapeError(op, "commit")
	}
	if strings.TrimSpace(job.Job) == "" {
		return nil // "There are no changes to commit."
	}
	id, err := strconv.Atoi(strings.TrimSpace(job.Job))
	if err != nil {
		return c.shapeError(op, "commit")
	}
	for i := 0; i < c.polls; i++ {
		r, err := c.call(ctx, op, url.Values{"type": {"op"}, "cmd": {fmt.Sprintf("<show><jobs><id>%d</id></jobs></show>", id)}})
		if err != nil {
			return err
		}
		var out struct {
			Job struct {
				Status  string   `xml:"status"`
				Result  string   `xml:"result"`
				Details textNode `xml:"details"`
			} `xml:"job"`
		}
		if err := xml.Unmarshal(wrap(r.Result.Inner), &out); err != nil || out.Job.Status == "" {
			return c.shapeError(op, "show jobs")
		}
		if out.Job.Status == "FIN" {
			if out.Job.Result == "OK" {
				return nil
			}
			return connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf(
				"commit job %d finished %s: %s (the user is disabled in the candidate configuration only)", id, out.Job.Result, c.clip(out.Job.Details.String())))
		}
		if err := c.sleep(ctx, pollInterval); err != nil {
			return connectors.NewError(connectors.KindCanceled, c.name, op, err)
		}
	}
	return connectors.NewError(connectors.KindTransient, c.name, op, fmt.Errorf(
		"commit job %d has not finished after %d reads; the user is disabled in the candidate configuration, and the revocation will be retried", id, c.polls))
}

func (c *Connector) logout(ctx context.Context, op string, s session) error {
	var b strings.Builder
	b.WriteString("<request><global-protect-gateway><client-logout>")
	b.WriteString("<gateway>" + xmlEscape(s.gateway) + "</gateway>")
	b.WriteString("<user>" + xmlEscape(s.user.Username) + "</user>")
	b.WriteString("<reason>force-logout</reason>")
	b.WriteString("<computer>" + xmlEscape(s.user.Computer) + "</computer>")
	if d := strings.TrimSpace(s.user.Domain); d != "" && d != "(null)" {
		b.WriteString("<domain>" + xmlEscape(d) + "</domain>")
	}
	b.WriteString("</client-logout></global-protect-gateway></request>")
	r, err := c.call(ctx, op, url.Values{"type": {"op"}, "cmd": {b.String()}})
	if err != nil {
		return err
	}
	// The outcome is a nested <response status="…"> inside <result>.
	var inner struct {
		Response *struct {
			Status string   `xml:"status,attr"`
			Error  textNode `xml:"error"`
		} `xml:"response"`
	}
	if err := xml.Unmarshal(wrap(r.Result.Inner), &inner); err != nil || inner.Response == nil {
		return c.shapeError(op, "client-logout")
	}
	if inner.Response.Status != "success" {
		return connectors.NewError(connectors.KindTransient, c.name, op, fmt.Errorf(
			"gateway %s did not log %s out (%s): %s", s.gateway, s.user.Username, s.user.Computer, c.clip(inner.Response.Error.String())))
	}
	return nil
}

// Lookup reports the person's GlobalProtect identity: the local user and
// the live sessions on the configured gateways.
func (c *Connector) Lookup(ctx context.Context, s connectors.Subject) (connectors.LookupResult, error) {
	st, err := c.read(ctx, "lookup", s, "")
	if err != nil || st.empty() {
		return connectors.LookupResult{}, err
	}
	status := connectors.StatusActive
	if st.user != nil && st.user.disabled() && len(st.sessions) == 0 {
		status = connectors.StatusDisabled
	}
	return connectors.LookupResult{Accounts: []connectors.Account{{
		ID: st.name, Kind: "vpn_user", Status: status, Sessions: len(st.sessions), Detail: st.describe(),
	}}}, nil
}

// Do performs revoke_vpn: block first (disable and commit), so a logged
// out client cannot sign straight back in, then log every session out.
// A failed step does not stop the others; the error lists what was done.
func (c *Connector) Do(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	op := string(req.Operation)
	if req.Operation != connectors.OpRevokeVPN {
		return connectors.Result{}, connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("operation %q is not supported by globalprotect (supported: %s)", req.Operation, connectors.OpRevokeVPN))
	}
	st, err := c.read(ctx, op, req.Subject, req.Account)
	if err != nil {
		return connectors.Result{}, err
	}
	if st.empty() {
		return connectors.Result{Outcome: connectors.OutcomeNoneFound, Detail: "no local user and no GlobalProtect session"}, nil
	}
	var done []string
	var failed []*connectors.Error
	note := func(err error) {
		var ce *connectors.Error
		if !errors.As(err, &ce) {
			ce = connectors.Classify(c.name, op, err)
		}
		failed = append(failed, ce)
	}
	data := map[string]string{}
	if st.user != nil && !st.user.disabled() {
		if err := c.disable(ctx, op, st.user.Name); err != nil {
			note(err)
		} else {
			done = append(done, "local user disabled and committed")
			data["user_disabled"] = st.user.Name
		}
	}
	out := 0
	for _, s := range st.sessions {
		if err := c.logout(ctx, op, s); err != nil {
			note(err)
			continue
		}
		out++
	}
	if out > 0 {
		done = append(done, fmt.Sprintf("%d GlobalProtect session(s) logged out", out))
		data["sessions_logged_out"] = strconv.Itoa(out)
	}
	if len(failed) > 0 {
		msgs := make([]string, len(failed))
		for i, f := range failed {
			msgs[i] = f.Err.Error()
		}
		did := "nothing changed"
		if len(done) > 0 {
			did = "done: " + strings.Join(done, "; ")
		}
		first := failed[0]
		return connectors.Result{}, &connectors.Error{Kind: first.Kind, Connector: c.name, Op: op, Status: first.Status, RetryAfter: first.RetryAfter,
			Err: fmt.Errorf("%d step(s) failed (%s); %s", len(failed), strings.Join(msgs, " | "), did)}
	}
	if len(done) == 0 {
		return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: st.name, Detail: st.describe()}, nil
	}
	detail := strings.Join(done, "; ")
	if st.user == nil {
		detail += "; no local user: block the person at the identity provider"
	}
	return connectors.Result{Outcome: connectors.OutcomeDone, Account: st.name, Detail: detail, Data: data}, nil
}

// Verify reads the running configuration and every gateway back: OK when
// the local user (if any) is disabled and no session remains. A session
// while the local user is disabled in the running config means a client
// got back in: a transient error, so the revocation runs again.
func (c *Connector) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	op := "verify"
	if req.Operation != connectors.OpRevokeVPN {
		return connectors.Verification{}, connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("operation %q is not supported by globalprotect", req.Operation))
	}
	st, err := c.read(ctx, op, req.Subject, req.Account)
	if err != nil {
		return connectors.Verification{}, err
	}
	if st.empty() {
		return connectors.Verification{OK: true, Detail: "no local user and no GlobalProtect session"}, nil
	}
	if st.user != nil && st.user.disabled() && len(st.sessions) > 0 {
		return connectors.Verification{}, connectors.NewError(connectors.KindTransient, c.name, op, fmt.Errorf(
			"a GlobalProtect session of %s is live although the user is disabled (%s): it reappeared; run the revocation again", st.name, st.describe()))
	}
	ok := (st.user == nil || st.user.disabled()) && len(st.sessions) == 0
	return connectors.Verification{OK: ok, Detail: st.describe()}, nil
}
