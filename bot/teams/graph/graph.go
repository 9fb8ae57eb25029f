// Package graph is the Teams front end's small typed Microsoft Graph
// client: read a user's mail and UPN by Entra object id (to map a Teams
// user to HR by email when the directory has no chat_user_id), find a
// user's object id by email (to DM someone who never wrote to the bot),
// and list the users of an Entra group with nested groups flattened (for
// approver groups that name one). It reads only; it never changes
// anything in Entra (that is connectors/graph's job, which the front end
// does not call).
//
// The token is the app's own (client credentials, scope
// https://graph.microsoft.com/.default) from the tenant's token endpoint,
// cached until shortly before it expires. Application permissions needed:
// User.Read.All (GET /users/{id},
// https://learn.microsoft.com/en-us/graph/api/user-get) and
// GroupMember.Read.All (GET /groups/{id}/transitiveMembers,
// https://learn.microsoft.com/en-us/graph/api/group-list-transitivemembers).
//
// Every URL (the base, each @odata.nextLink) is checked by the outbound
// URL policy and every connection goes through its client. 429 and 5xx
// are retried honoring Retry-After within a bounded budget; errors say
// whether they are retryable (APIError.Retryable) and never carry the
// token or the secret.
package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/kineticsec/kinetic/bot/teams/appcred"
	"github.com/kineticsec/kinetic/internal/jsonbody"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/pause"
	"github.com/kineticsec/kinetic/internal/secret"
)

// Defaults.
const (
	DefaultBaseURL = "https://graph.microsoft.com/v1.0"
	// Scope is the client-credentials scope for Microsoft Graph.
	Scope = "https://graph.microsoft.com/.default"

	DefaultTimeout      = 15 * time.Second
	DefaultMaxAttempts  = 3
	DefaultMaxRetryWait = 30 * time.Second
	maxResponse         = 4 << 20
	// maxPages bounds one group listing (999 users a page).
	maxPages = 200
	// userSelect is what Kinetic reads of a user.
	userSelect = "id,mail,userPrincipalName"
)

// ErrNotFound is wrapped by an APIError for a 404: no such user or group.
var ErrNotFound = errors.New("not found in Microsoft Graph")

// Config configures a Client: the app registration (the bot's), its
// tenant (required: client credentials are tenant-specific), and the
// endpoints, which default to the public cloud.
type Config struct {
	AppID string
	// AppPassword (a client secret) or Certificate (a signed client
	// assertion, bot/teams/appcred): exactly one.
	AppPassword secret.Secret
	Certificate *appcred.Certificate
	TenantID    string
	// BaseURL is Graph's versioned root (default DefaultBaseURL; national
	// clouds have their own, e.g. https://graph.microsoft.us/v1.0).
	BaseURL string
	// TokenURL defaults to
	// https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token.
	TokenURL string
	// Scope defaults to Scope (a national cloud's Graph has its own).
	Scope        string
	Timeout      time.Duration
	MaxAttempts  int
	MaxRetryWait time.Duration
}

// User is what Kinetic reads of an Entra user.
type User struct {
	ID                string `json:"id"`
	Mail              string `json:"mail"`
	UserPrincipalName string `json:"userPrincipalName"`
}

// Email is the user's mail, or their UPN when mail is empty.
func (u User) Email() string {
	if strings.TrimSpace(u.Mail) != "" {
		return u.Mail
	}
	return u.UserPrincipalName
}

// APIError is a failed Graph call: the HTTP status (0 when none came), the
// error code and message Graph gave, and whether retrying may help.
type APIError struct {
	Op        string
	Status    int
	Code, Msg string
	Retryable bool
	Err       error
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("graph " + e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Msg != "" {
		b.WriteString(": " + e.Msg)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *APIError) Unwrap() error { return e.Err }

// Option changes a Client (tests).
type Option func(*Client)

// WithSleep replaces the wait between retries.
func WithSleep(f func(context.Context, time.Duration) error) Option {
	return func(c *Client) { c.sleep = f }
}

// Client is a read-only Graph client, safe for concurrent use.
type Client struct {
	policy      *outbound.URLPolicy
	http        *http.Client
	base        *url.URL
	tokens      oauth2.TokenSource
	sleep       func(context.Context, time.Duration) error
	maxAttempts int
	maxWait     time.Duration
}

// New returns a client; it makes no call. Every request, the token's
// included, goes through policy's HTTP client.
func New(cfg Config, policy *outbound.URLPolicy, opts ...Option) (*Client, error) {
	cred := appcred.Credential{Secret: cfg.AppPassword, Certificate: cfg.Certificate}
	credErr := cred.Check()
	switch {
	case strings.TrimSpace(cfg.AppID) == "":
		return nil, errors.New("graph: app_id is required")
	case credErr != nil:
		return nil, fmt.Errorf("graph: %w", credErr)
	case strings.TrimSpace(cfg.TenantID) == "":
		return nil, errors.New("graph: tenant_id is required (an app's Graph token is issued by its tenant)")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.TokenURL == "" {
		cfg.TokenURL = "https://login.microsoftonline.com/" + url.PathEscape(cfg.TenantID) + "/oauth2/v2.0/token"
	}
	if cfg.Scope == "" {
		cfg.Scope = Scope
	}
	base, err := outbound.CheckURLForm("graph url", cfg.BaseURL, outbound.URLForm{HTTPSOnly: true})
	if err != nil {
		return nil, fmt.Errorf("graph: %w", err)
	}
	if _, err := outbound.CheckURLForm("graph token_url", cfg.TokenURL, outbound.URLForm{HTTPSOnly: true}); err != nil {
		return nil, fmt.Errorf("graph: %w", err)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	c := &Client{policy: policy, http: policy.HTTPClient(cfg.Timeout), base: base, sleep: pause.Sleep,
		maxAttempts: cfg.MaxAttempts, maxWait: cfg.MaxRetryWait}
	if c.maxAttempts <= 0 {
		c.maxAttempts = DefaultMaxAttempts
	}
	if c.maxWait <= 0 {
		c.maxWait = DefaultMaxRetryWait
	}
	// A ReuseTokenSource: fetched again only shortly before expiry.
	c.tokens = cred.TokenSource(c.http, cfg.AppID, cfg.TokenURL, cfg.Scope, nil)
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// endpoint is base/seg/seg?query, each segment escaped. OData's option
// names keep their "$" (query holds name=value pairs in order).
func (c *Client) endpoint(query [][2]string, segs ...string) string {
	esc := make([]string, len(segs))
	for i, s := range segs {
		esc[i] = url.PathEscape(s)
	}
	raw := strings.TrimRight(c.base.String(), "/") + "/" + strings.Join(esc, "/")
	for i, kv := range query {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		raw += sep + kv[0] + "=" + url.QueryEscape(kv[1])
	}
	return raw
}

// User reads user idOrUPN (an object id, or a UPN — which for most
// tenants is the email): GET /users/{id}?$select=id,mail,userPrincipalName
// (https://learn.microsoft.com/en-us/graph/api/user-get). A user that
// does not exist is an APIError wrapping ErrNotFound.
func (c *Client) User(ctx context.Context, idOrUPN string) (User, error) {
	var u User
	if strings.TrimSpace(idOrUPN) == "" {
		return u, &APIError{Op: "get user", Err: errors.New("empty user id")}
	}
	err := c.get(ctx, "get user", c.endpoint([][2]string{{"$select", userSelect}}, "users", idOrUPN), &u)
	if err == nil && u.ID == "" {
		err = &APIError{Op: "get user", Msg: "answer without an id"}
	}
	return u, err
}

// GroupUsers lists the users of group groupID with nested groups
// flattened: GET /groups/{id}/transitiveMembers/microsoft.graph.user
// (the cast keeps only users: devices, contacts and service principals
// are no approvers), following @odata.nextLink
// (https://learn.microsoft.com/en-us/graph/api/group-list-transitivemembers,
// https://learn.microsoft.com/en-us/graph/paging). Any failure fails the
// whole listing: a partial member list is never returned.
func (c *Client) GroupUsers(ctx context.Context, groupID string) ([]User, error) {
	if strings.TrimSpace(groupID) == "" {
		return nil, &APIError{Op: "list group members", Err: errors.New("empty group id")}
	}
	next := c.endpoint([][2]string{{"$select", userSelect}, {"$top", "999"}}, "groups", groupID, "transitiveMembers", "microsoft.graph.user")
	var users []User
	for page := 0; next != ""; page++ {
		if page == maxPages {
			return nil, &APIError{Op: "list group members", Msg: fmt.Sprintf("more than %d pages", maxPages)}
		}
		var p struct {
			Value    []User `json:"value"`
			NextLink string `json:"@odata.nextLink"`
		}
		if err := c.get(ctx, "list group members", next, &p); err != nil {
			return nil, err
		}
		users = append(users, p.Value...)
		if p.NextLink != "" {
			// The next page must be Graph's own: a link elsewhere would
			// send the token there.
			u, err := url.Parse(p.NextLink)
			if err != nil || u.Scheme != c.base.Scheme || !strings.EqualFold(u.Host, c.base.Host) {
				return nil, &APIError{Op: "list group members", Msg: "@odata.nextLink leaves the Graph endpoint"}
			}
		}
		next = p.NextLink
	}
	return users, nil
}

func classify(status int) bool { return status == http.StatusTooManyRequests || status >= 500 }

func (c *Client) get(ctx context.Context, op, target string, out any) error {
	if err := c.policy.CheckURL(ctx, target); err != nil {
		return &APIError{Op: op, Err: err}
	}
	var waited time.Duration
	for attempt := 1; ; attempt++ {
		ra, err := c.once(ctx, op, target, out)
		if err == nil {
			return nil
		}
		var ae *APIError
		if !errors.As(err, &ae) || !ae.Retryable || attempt >= c.maxAttempts {
			return err
		}
		d := ra
		if d <= 0 {
			d = time.Duration(1<<(attempt-1)) * time.Second
		}
		if waited+d > c.maxWait {
			return err
		}
		waited += d
		if serr := c.sleep(ctx, d); serr != nil {
			return &APIError{Op: op, Retryable: true, Err: serr}
		}
	}
}

func (c *Client) once(ctx context.Context, op, target string, out any) (time.Duration, error) {
	tok, err := c.tokens.Token()
	if err != nil {
		ae := &APIError{Op: op + ": token", Retryable: true, Err: errors.New("could not get a Microsoft Graph token")}
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil {
			ae.Status, ae.Retryable = re.Response.StatusCode, classify(re.Response.StatusCode)
			ae.Code, ae.Msg = jsonbody.Clip(re.ErrorCode, 64), jsonbody.Clip(re.ErrorDescription, 200)
		}
		return 0, ae
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, &APIError{Op: op, Err: err}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, outbound.ErrURLRefused) {
			return 0, &APIError{Op: op, Err: err}
		}
		return 0, &APIError{Op: op, Retryable: ctx.Err() == nil, Err: err}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if resp.StatusCode == http.StatusOK {
		if err := jsonbody.Unmarshal(data, out, jsonbody.Options{AllowUnknownFields: true}); err != nil {
			return 0, &APIError{Op: op, Status: resp.StatusCode, Msg: "unreadable response", Err: err}
		}
		return 0, nil
	}
	ae := &APIError{Op: op, Status: resp.StatusCode, Retryable: classify(resp.StatusCode)}
	if resp.StatusCode == http.StatusNotFound {
		ae.Err = ErrNotFound
	}
	var eb struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &eb) == nil {
		ae.Code, ae.Msg = jsonbody.Clip(eb.Error.Code, 64), jsonbody.Clip(eb.Error.Message, 200)
	} else {
		ae.Msg = "not a Graph error body"
	}
	return retryAfter(resp.Header.Get("Retry-After"), time.Now()), ae
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
