package fortigate

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

// API paths (see the package comment).
const (
	pathLocalUser   = "/api/v2/cmdb/user/local/"
	pathSSL         = "/api/v2/monitor/vpn/ssl"
	pathSSLDelete   = "/api/v2/monitor/vpn/ssl/delete"
	pathIPsec       = "/api/v2/monitor/vpn/ipsec"
	pathIPsecDown   = "/api/v2/monitor/vpn/ipsec/tunnel_down"
	statusEnable    = "enable"
	statusDisable   = "disable"
	proxyStatusUp   = "up"
	sessionWebType  = "websession"
	accountKindUser = "vpn_user"
)

type localUser struct {
	Name   string `json:"name"`
	Status string `json:"status"`
}

// sslSession is one entry of GET monitor/vpn/ssl: a logged-in SSL-VPN
// user (web or tunnel mode); deleting its websession index logs the user
// out, tunnel subsessions included.
type sslSession struct {
	Index      json.Number `json:"index"`
	UserName   string      `json:"user_name"`
	RemoteHost string      `json:"remote_host"`
}

// ipsecTunnel is one entry of GET monitor/vpn/ipsec. A dial-up instance
// authenticated with XAuth names its user in xauth_user; each phase 2
// selector is a proxyid with its own status.
type ipsecTunnel struct {
	Name      string `json:"name"`
	XAuthUser string `json:"xauth_user"`
	ProxyID   []struct {
		P2Name   string      `json:"p2name"`
		P2Serial json.Number `json:"p2serial"`
		Status   string      `json:"status"`
	} `json:"proxyid"`
}

// tunnelRef names one phase 2 selector that is up.
type tunnelRef struct {
	P1Name   string `json:"p1name"`
	P2Name   string `json:"p2name"`
	P2Serial int    `json:"p2serial"`
}

// state is what the appliance holds for one person right now.
type state struct {
	name    string     // the local user name, or the first candidate when there is none
	names   []string   // the names sessions are matched on (lower case)
	user    *localUser // nil: no local user
	ssl     []sslSession
	tunnels []tunnelRef
}

func (s *state) empty() bool { return s.user == nil && len(s.ssl) == 0 && len(s.tunnels) == 0 }

func (s *state) sessions() int { return len(s.ssl) + len(s.tunnels) }

func (s *state) describe() string {
	var parts []string
	switch {
	case s.user == nil:
		parts = append(parts, "no local user (remote authentication: block it at the identity provider)")
	default:
		parts = append(parts, "local user "+s.user.Name+" status="+s.user.Status)
	}
	parts = append(parts, count(len(s.ssl), "SSL-VPN session"), count(len(s.tunnels), "IPsec dial-up tunnel"))
	return strings.Join(parts, ", ")
}

// candidates returns the user names to try for subject s, in order,
// without repeats (case-insensitive).
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

// read collects the person's local user, SSL-VPN sessions and IPsec
// tunnels. Two candidates naming two different local users is ambiguous:
// an invalid error, nothing read further.
func (c *Connector) read(ctx context.Context, op string, s connectors.Subject, account string) (*state, error) {
	cands := c.candidates(s, account)
	if len(cands) == 0 {
		return &state{}, nil
	}
	st := &state{name: cands[0]}
	var found []localUser
	for _, name := range cands {
		env, err := c.call(ctx, op, http.MethodGet, pathLocalUser+url.PathEscape(name), nil)
		var ce *connectors.Error
		if errors.As(err, &ce) && ce.Kind == connectors.KindNotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		var users []localUser
		if err := json.Unmarshal(env.Results, &users); err != nil {
			return nil, c.shapeError(op, pathLocalUser)
		}
		for _, u := range users {
			if strings.EqualFold(u.Name, name) && !containsUser(found, u.Name) {
				found = append(found, u)
			}
		}
	}
	switch len(found) {
	case 0:
		for _, n := range cands {
			st.names = append(st.names, strings.ToLower(n))
		}
	case 1:
		st.user = &found[0]
		st.name = found[0].Name
		st.names = []string{strings.ToLower(found[0].Name)}
	default:
		names := make([]string, len(found))
		for i, u := range found {
			names[i] = u.Name
		}
		return nil, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf(
			"the person matches %d FortiGate local users (%s); refusing to guess which to disable: set the account explicitly or narrow user_name_from",
			len(found), strings.Join(names, ", ")))
	}

	env, err := c.call(ctx, op, http.MethodGet, pathSSL, nil)
	if err != nil {
		return nil, err
	}
	var ssl []sslSession
	if err := json.Unmarshal(env.Results, &ssl); err != nil {
		return nil, c.shapeError(op, pathSSL)
	}
	for _, sess := range ssl {
		if st.matches(sess.UserName) {
			st.ssl = append(st.ssl, sess)
		}
	}
	env, err = c.call(ctx, op, http.MethodGet, pathIPsec, nil)
	if err != nil {
		return nil, err
	}
	var tunnels []ipsecTunnel
	if err := json.Unmarshal(env.Results, &tunnels); err != nil {
		return nil, c.shapeError(op, pathIPsec)
	}
	for _, t := range tunnels {
		if !st.matches(t.XAuthUser) {
			continue
		}
		for _, p := range t.ProxyID {
			if !strings.EqualFold(p.Status, proxyStatusUp) {
				continue
			}
			serial, err := strconv.Atoi(p.P2Serial.String())
			if err != nil {
				return nil, c.shapeError(op, pathIPsec)
			}
			st.tunnels = append(st.tunnels, tunnelRef{P1Name: t.Name, P2Name: p.P2Name, P2Serial: serial})
		}
	}
	return st, nil
}

func (s *state) matches(user string) bool {
	user = strings.ToLower(strings.TrimSpace(user))
	if user == "" {
		return false
	}
	for _, n := range s.names {
		if n == user {
			return true
		}
	}
	return false
}

func containsUser(us []localUser, name string) bool {
	for _, u := range us {
		if strings.EqualFold(u.Name, name) {
			return true
		}
	}
	return false
}

func (c *Connector) shapeError(op, path string) error {
	return connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf(
		"FortiGate answered GET %s with results of an unexpected shape (not the documented FortiOS objects)", path))
}

// Lookup reports the person's VPN identity on this FortiGate: the local
// user (active or disabled) with its live SSL-VPN sessions and IPsec
// tunnels, or, for a remotely authenticated user with live sessions, an
// active account for those sessions.
func (c *Connector) Lookup(ctx context.Context, s connectors.Subject) (connectors.LookupResult, error) {
	st, err := c.read(ctx, "lookup", s, "")
	if err != nil {
		return connectors.LookupResult{}, err
	}
	if st.empty() {
		return connectors.LookupResult{}, nil
	}
	status := connectors.StatusActive
	if st.user != nil && st.user.Status == statusDisable {
		status = connectors.StatusDisabled
	}
	if st.sessions() > 0 {
		status = connectors.StatusActive // a live session is access, whatever the user's status
	}
	return connectors.LookupResult{Accounts: []connectors.Account{{
		ID: st.name, Kind: accountKindUser, Status: status, Sessions: st.sessions(), Detail: st.describe(),
	}}}, nil
}

// Do performs revoke_vpn: disable the local user (PUT status disable),
// then end every SSL-VPN session (ssl/delete) and every IPsec dial-up
// tunnel that is up (ipsec/tunnel_down) of the user. A step's failure does
// not stop the rest; the error then lists what was done and what failed.
func (c *Connector) Do(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	op := string(req.Operation)
	if req.Operation != connectors.OpRevokeVPN {
		return connectors.Result{}, connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("operation %q is not supported by fortigate (supported: %s)", req.Operation, connectors.OpRevokeVPN))
	}
	st, err := c.read(ctx, op, req.Subject, req.Account)
	if err != nil {
		return connectors.Result{}, err
	}
	if st.empty() {
		return connectors.Result{Outcome: connectors.OutcomeNoneFound, Detail: "no FortiGate local user and no VPN session"}, nil
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
	if st.user != nil && st.user.Status != statusDisable {
		if _, err := c.call(ctx, op, http.MethodPut, pathLocalUser+url.PathEscape(st.user.Name), map[string]string{"status": statusDisable}); err != nil {
			note(err)
		} else {
			done = append(done, "local user disabled")
			data["user_disabled"] = st.user.Name
		}
	}
	ended := 0
	for _, sess := range st.ssl {
		idx, err := strconv.Atoi(sess.Index.String())
		if err != nil {
			note(c.shapeError(op, pathSSL))
			continue
		}
		_, err = c.call(ctx, op, http.MethodPost, pathSSLDelete, map[string]any{"type": sessionWebType, "index": idx})
		var ce *connectors.Error
		if errors.As(err, &ce) && ce.Kind == connectors.KindNotFound {
			continue // ended by itself meanwhile
		}
		if err != nil {
			note(err)
			continue
		}
		ended++
	}
	if ended > 0 {
		done = append(done, count(ended, "SSL-VPN session")+" ended")
		data["ssl_sessions_ended"] = strconv.Itoa(ended)
	}
	down := 0
	for _, t := range st.tunnels {
		_, err := c.call(ctx, op, http.MethodPost, pathIPsecDown, t)
		var ce *connectors.Error
		if errors.As(err, &ce) && ce.Kind == connectors.KindNotFound {
			continue
		}
		if err != nil {
			note(err)
			continue
		}
		down++
	}
	if down > 0 {
		done = append(done, count(down, "IPsec tunnel")+" brought down")
		data["ipsec_tunnels_down"] = strconv.Itoa(down)
	}
	if ended+down > 0 || len(failed) > 0 {
		c.mu.Lock()
		for _, n := range st.names {
			c.terminated[n] = true
		}
		c.mu.Unlock()
	}
	if len(failed) > 0 {
		return connectors.Result{}, c.partial(op, done, failed)
	}
	if len(done) == 0 {
		return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: st.name, Detail: st.describe()}, nil
	}
	detail := strings.Join(done, "; ")
	if st.user == nil {
		detail += "; no local user (remote authentication: block it at the identity provider)"
	}
	return connectors.Result{Outcome: connectors.OutcomeDone, Account: st.name, Detail: detail, Data: data}, nil
}

// partial reports a revocation some of whose steps failed: the first
// failure's kind (so its retryability), every failure's text, and what was
// done, so nothing half-done goes unreported.
func (c *Connector) partial(op string, done []string, failed []*connectors.Error) error {
	first := failed[0]
	msgs := make([]string, len(failed))
	for i, f := range failed {
		msgs[i] = f.Err.Error()
		if f.Status != 0 {
			msgs[i] = fmt.Sprintf("%s (status %d): %s", f.Kind, f.Status, msgs[i])
		}
	}
	did := "nothing changed"
	if len(done) > 0 {
		did = "done: " + strings.Join(done, "; ")
	}
	return &connectors.Error{
		Kind: first.Kind, Connector: c.name, Op: op, Status: first.Status, RetryAfter: first.RetryAfter,
		Err: fmt.Errorf("%d step(s) failed (%s); %s", len(failed), strings.Join(msgs, " | "), did),
	}
}

// Verify reads the user and both session monitors back: OK when there is
// no local user or it is disabled, and no session remains. A session that
// is live again after this connector ended the user's sessions (or after
// the user was disabled) is a transient error: something reconnected, and
// the revocation must run again.
func (c *Connector) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	op := "verify"
	if req.Operation != connectors.OpRevokeVPN {
		return connectors.Verification{}, connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("operation %q is not supported by fortigate", req.Operation))
	}
	st, err := c.read(ctx, op, req.Subject, req.Account)
	if err != nil {
		return connectors.Verification{}, err
	}
	if st.empty() {
		return connectors.Verification{OK: true, Detail: "no FortiGate local user and no VPN session"}, nil
	}
	disabled := st.user == nil || st.user.Status == statusDisable
	if st.sessions() > 0 {
		c.mu.Lock()
		ended := false
		for _, n := range st.names {
			ended = ended || c.terminated[n]
		}
		c.mu.Unlock()
		if ended || (st.user != nil && st.user.Status == statusDisable) {
			return connectors.Verification{}, connectors.NewError(connectors.KindTransient, c.name, op, fmt.Errorf(
				"a VPN session of %s is live after its sessions were ended (%s): it reappeared; run the revocation again", st.name, st.describe()))
		}
	}
	return connectors.Verification{OK: disabled && st.sessions() == 0, Detail: st.describe()}, nil
}

// count is "1 session", "2 sessions".
func count(n int, word string) string { return fmt.Sprintf("%d %s", n, text.Plural(n, word)) }
