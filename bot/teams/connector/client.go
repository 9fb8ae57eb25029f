// Package connector is Kinetic's Bot Connector REST client: send to a
// conversation, reply in a thread, update an activity and create a 1:1
// conversation, with a client-credentials token cached until expiry.
//
// Every serviceUrl (it arrives in inbound activities) is checked by the
// outbound URL policy before a request is made, and every connection goes
// through the policy's HTTP client. 429 and 5xx answers are retried,
// honoring Retry-After, within a bounded budget; errors say whether they
// are retryable (errors.Is(err, ErrRetryable)).
//
// https://learn.microsoft.com/en-us/azure/bot-service/rest-api/bot-framework-rest-connector-api-reference
package connector

import (
	"bytes"
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
	// DefaultTokenURL is the multi-tenant token endpoint; a single-tenant
	// bot uses https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token.
	DefaultTokenURL = "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token"
	// Scope is the client-credentials scope for the Bot Connector.
	Scope = "https://api.botframework.com/.default"

	DefaultTimeout      = 15 * time.Second
	DefaultMaxAttempts  = 4
	DefaultMaxRetryWait = 30 * time.Second
	// maxResponse bounds a response body read.
	maxResponse = 1 << 20
)

// Config configures a Client. AppID is the bot's Entra app registration,
// which proves itself with its client secret (AppPassword) or with a
// certificate (Certificate: a signed client assertion, see
// bot/teams/appcred), exactly one of the two; TenantID, when set, makes
// the token tenant-specific (single-tenant bots).
type Config struct {
	AppID       string
	AppPassword secret.Secret
	Certificate *appcred.Certificate
	TenantID    string
	// TokenURL overrides the token endpoint (tests).
	TokenURL string
	// Timeout bounds each HTTP request (default DefaultTimeout).
	Timeout time.Duration
	// MaxAttempts is the most tries of one call (default DefaultMaxAttempts).
	MaxAttempts int
	// MaxRetryWait is the most total time one call waits between tries
	// (default DefaultMaxRetryWait); a Retry-After beyond it fails the call
	// as retryable instead of waiting.
	MaxRetryWait time.Duration
}

// Option changes a Client (tests).
type Option func(*Client)

// WithSleep replaces the wait between retries.
func WithSleep(f func(context.Context, time.Duration) error) Option {
	return func(c *Client) { c.sleep = f }
}

// Client is a Bot Connector REST client, safe for concurrent use.
type Client struct {
	policy      *outbound.URLPolicy
	http        *http.Client
	tokens      oauth2.TokenSource
	sleep       func(context.Context, time.Duration) error
	maxAttempts int
	maxWait     time.Duration
}

// New returns a client. Every request, the token request included, goes
// through policy's HTTP client (a nil policy refuses internal addresses).
func New(cfg Config, policy *outbound.URLPolicy, opts ...Option) (*Client, error) {
	if strings.TrimSpace(cfg.AppID) == "" {
		return nil, errors.New("teams connector: app_id is required")
	}
	cred := appcred.Credential{Secret: cfg.AppPassword, Certificate: cfg.Certificate}
	if err := cred.Check(); err != nil {
		return nil, fmt.Errorf("teams connector: %w", err)
	}
	tokenURL := cfg.TokenURL
	if tokenURL == "" {
		tokenURL = DefaultTokenURL
		if cfg.TenantID != "" {
			tokenURL = "https://login.microsoftonline.com/" + url.PathEscape(cfg.TenantID) + "/oauth2/v2.0/token"
		}
	}
	if _, err := outbound.CheckURLForm("token_url", tokenURL, outbound.URLForm{HTTPSOnly: true}); err != nil {
		return nil, fmt.Errorf("teams connector: %w", err)
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	c := &Client{
		policy:      policy,
		http:        policy.HTTPClient(timeout),
		sleep:       pause.Sleep,
		maxAttempts: cfg.MaxAttempts,
		maxWait:     cfg.MaxRetryWait,
	}
	if c.maxAttempts <= 0 {
		c.maxAttempts = DefaultMaxAttempts
	}
	if c.maxWait <= 0 {
		c.maxWait = DefaultMaxRetryWait
	}
	// A ReuseTokenSource: the token is cached and fetched again only
	// shortly before it expires, through the policy's HTTP client.
	c.tokens = cred.TokenSource(c.http, cfg.AppID, tokenURL, Scope, nil)
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// SendToConversation posts a new activity to a conversation
// (POST {serviceUrl}/v3/conversations/{conversationId}/activities).
func (c *Client) SendToConversation(ctx context.Context, serviceURL, conversationID string, a *Activity) (ResourceResponse, error) {
	var out ResourceResponse
	err := c.call(ctx, "send", http.MethodPost, serviceURL, []string{"v3", "conversations", conversationID, "activities"}, a, &out)
	return out, err
}

// ReplyToActivity posts a reply in the thread of activityID
// (POST …/conversations/{conversationId}/activities/{activityId}).
func (c *Client) ReplyToActivity(ctx context.Context, serviceURL, conversationID, activityID string, a *Activity) (ResourceResponse, error) {
	var out ResourceResponse
	if a != nil && a.ReplyToID == "" {
		cp := *a
		cp.ReplyToID = activityID
		a = &cp
	}
	err := c.call(ctx, "reply", http.MethodPost, serviceURL, []string{"v3", "conversations", conversationID, "activities", activityID}, a, &out)
	return out, err
}

// UpdateActivity replaces a posted activity (a live status card)
// (PUT …/conversations/{conversationId}/activities/{activityId}).
func (c *Client) UpdateActivity(ctx context.Context, serviceURL, conversationID, activityID string, a *Activity) (ResourceResponse, error) {
	var out ResourceResponse
	if a != nil && a.ID == "" {
		cp := *a
		cp.ID = activityID
		a = &cp
	}
	err := c.call(ctx, "update", http.MethodPut, serviceURL, []string{"v3", "conversations", conversationID, "activities", activityID}, a, &out)
	return out, err
}

// CreateConversation creates a conversation, in Teams a 1:1 chat with one
// member for a proactive DM (POST {serviceUrl}/v3/conversations). If the
// chat exists Teams returns its id.
func (c *Client) CreateConversation(ctx context.Context, serviceURL string, p *ConversationParameters) (ConversationResourceResponse, error) {
	var out ConversationResourceResponse
	err := c.call(ctx, "create conversation", http.MethodPost, serviceURL, []string{"v3", "conversations"}, p, &out)
	return out, err
}

// Errors. An *APIError matches ErrRetryable or ErrPermanent with errors.Is.
var (
	ErrRetryable = errors.New("retryable")
	ErrPermanent = errors.New("permanent")
)

// APIError is a failed Bot Connector call. It never carries the token.
type APIError struct {
	Op     string
	Status int    // HTTP status; 0 when no answer was received
	Code   string // error.code of the Bot Framework error body, if any
	Msg    string
	// Retryable: 429, 5xx or a transport failure.
	Retryable bool
	Err       error
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "teams connector: %s", e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.Msg != "" {
		fmt.Fprintf(&b, ": %s", e.Msg)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *APIError) Unwrap() error { return e.Err }

func (e *APIError) Is(target error) bool {
	switch target {
	case ErrRetryable:
		return e.Retryable
	case ErrPermanent:
		return !e.Retryable
	}
	return false
}

// classify maps an HTTP status to retryable or permanent, in one place.
func classify(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}

// Endpoint builds {serviceUrl}/seg/seg… with each segment escaped (a
// conversation id holds ':' and ';' — "a:1…;messageid=…" — and must not
// change the path). serviceUrl is checked for form; the policy checks
// where it points.
func endpoint(serviceURL string, segs []string) (string, error) {
	u, err := outbound.CheckURLForm("serviceUrl", serviceURL, outbound.URLForm{HTTPSOnly: true})
	if err != nil {
		return "", err
	}
	for _, s := range segs {
		if s == "" {
			return "", errors.New("empty conversation or activity id")
		}
	}
	escaped := make([]string, len(segs))
	for i, s := range segs {
		escaped[i] = url.PathEscape(s)
	}
	return strings.TrimRight(u.String(), "/") + "/" + strings.Join(escaped, "/"), nil
}

func (c *Client) call(ctx context.Context, op, method, serviceURL string, segs []string, in, out any) error {
	target, err := endpoint(serviceURL, segs)
	if err != nil {
		return &APIError{Op: op, Err: fmt.Errorf("%w: %v", outbound.ErrURLRefused, err)}
	}
	if err := c.policy.CheckURL(ctx, target); err != nil {
		return &APIError{Op: op, Err: err}
	}
	body, err := json.Marshal(in)
	if err != nil {
		return &APIError{Op: op, Err: err}
	}
	var waited time.Duration
	for attempt := 1; ; attempt++ {
		retryAfter, err := c.once(ctx, op, method, target, body, out)
		if err == nil {
			return nil
		}
		var ae *APIError
		if !errors.As(err, &ae) || !ae.Retryable || attempt >= c.maxAttempts {
			return err
		}
		d := retryAfter
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

// once makes one request; it returns the Retry-After of a retryable answer.
func (c *Client) once(ctx context.Context, op, method, target string, body []byte, out any) (time.Duration, error) {
	tok, err := c.tokens.Token()
	if err != nil {
		// Entra's error code and description name the problem
		// (AADSTS7000215: invalid secret, AADSTS700027: an assertion not
		// signed by a registered certificate) without repeating the
		// secret or the assertion.
		ae := &APIError{Op: op + ": token", Retryable: true, Err: errors.New("could not get a Bot Framework token")}
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil {
			ae.Status, ae.Retryable = re.Response.StatusCode, classify(re.Response.StatusCode)
			ae.Code, ae.Msg = jsonbody.Clip(re.ErrorCode, 64), jsonbody.Clip(re.ErrorDescription, 200)
		}
		return 0, ae
	}
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return 0, &APIError{Op: op, Err: err}
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, outbound.ErrURLRefused) {
			return 0, &APIError{Op: op, Err: err}
		}
		// *url.Error repeats the URL, which has no secret in it.
		return 0, &APIError{Op: op, Retryable: ctx.Err() == nil, Err: err}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if resp.StatusCode/100 == 2 {
		if out == nil || len(bytes.TrimSpace(data)) == 0 {
			return 0, nil
		}
		if err := jsonbody.Unmarshal(data, out, jsonbody.Options{AllowUnknownFields: true}); err != nil {
			return 0, &APIError{Op: op, Status: resp.StatusCode, Msg: "unreadable response", Err: err}
		}
		return 0, nil
	}
	ae := &APIError{Op: op, Status: resp.StatusCode, Retryable: classify(resp.StatusCode)}
	var eb struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &eb) == nil {
		ae.Code = jsonbody.Clip(eb.Error.Code, 64)
		ae.Msg = jsonbody.Clip(eb.Error.Message, 200)
	}
	return retryAfter(resp.Header.Get("Retry-After"), time.Now()), ae
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
