package sandbox

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
	"unicode"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/outbound"
)

const (
	// maxAnswer bounds the answer to Lookup, Do and Verify.
	maxAnswer = 8 << 20
	// maxListAnswer bounds the answer to Effects (a long benchmark records
	// many effects) and Stats.
	maxListAnswer = 256 << 20
	// maxMessage bounds the part of an unexpected answer quoted in errors.
	maxMessage = 300
)

// Remote is a sandbox instance whose state a Server holds in another
// process (the benchmark or the test running Kinetic). Every Lookup, Do and
// Verify is one HTTP call to the server; latency, injected failures and
// rate limits are the server instance's. It implements
// connectors.Connector, connectors.Verifier and connectors.Closer and is
// safe for concurrent use.
//
// Errors the server reports keep their Kind, Status and RetryAfter;
// failures to reach the server are classified with connectors.Classify
// (transient, or invalid for a refusal by the outbound URL policy). A
// cancelled context aborts the HTTP call at once and returns an error
// wrapping the context's error; the server still finishes a call it has
// started, so its effect holds or does not, never half.
type Remote struct {
	name   string
	system string
	// prefix is the base URL followed by /v1/{instance}/; path is its
	// path, which messages name (not the scheme and host).
	prefix, path string
	client       *http.Client
}

// Compile-time checks of the contracts.
var (
	_ connectors.Connector = (*Remote)(nil)
	_ connectors.Verifier  = (*Remote)(nil)
	_ connectors.Closer    = (*Remote)(nil)
)

// NewRemote returns the client of the instance named name (it defaults to
// cfg.System when empty) on the sandbox server at cfg.URL. The server must
// host a Connector of the same name. cfg must validate and set URL (and so
// no latency, jitter, error_rate or rate_limit). Every connection goes
// through policy's HTTP client and is checked against the outbound URL
// policy; a nil policy refuses every internal address, loopback included,
// so a local sandbox server needs 127.0.0.1/32 in outbound.allow_cidrs.
// Redirects are not followed.
func NewRemote(name string, cfg Config, policy *outbound.URLPolicy) (*Remote, error) {
	if name == "" {
		name = cfg.System
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sandbox connector %q: %w", name, err)
	}
	if strings.TrimSpace(cfg.URL) == "" {
		return nil, fmt.Errorf("sandbox connector %q: url is required for a remote sandbox instance", name)
	}
	u, err := outbound.CheckURLForm("url", cfg.URL, outbound.URLForm{})
	if err != nil {
		return nil, fmt.Errorf("sandbox connector %q: %w", name, err)
	}
	client := policy.HTTPClient(0)
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if tr, ok := client.Transport.(*http.Transport); ok {
		// Many workers call one server; keep their connections.
		tr.MaxIdleConnsPerHost = 64
	}
	path := strings.TrimRight(u.EscapedPath(), "/") + "/v1/" + url.PathEscape(name) + "/"
	return &Remote{
		name:   name,
		system: cfg.System,
		prefix: u.Scheme + "://" + u.Host + path,
		path:   path,
		client: client,
	}, nil
}

// Name returns the instance name.
func (r *Remote) Name() string { return r.name }

// System returns the simulated system (one of Systems).
func (r *Remote) System() string { return r.system }

// Type describes the sandbox connector type for the simulated system, the
// same as a local Connector's, for the registry and config validation.
func (r *Remote) Type() connectors.Type {
	return connectors.Type{Name: TypeName, Operations: Operations(r.system)}
}

// Close releases idle connections.
func (r *Remote) Close() error {
	r.client.CloseIdleConnections()
	return nil
}

// Lookup reports the subject's accounts as the server instance holds them;
// none found is an empty result and a nil error.
func (r *Remote) Lookup(ctx context.Context, s connectors.Subject) (connectors.LookupResult, error) {
	var res connectors.LookupResult
	err := r.call(ctx, "lookup", http.MethodPost, "lookup", s, &res, maxAnswer)
	return res, err
}

// Do performs one operation on the server instance, with the same outcomes
// as Connector.Do.
func (r *Remote) Do(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	var res connectors.Result
	err := r.call(ctx, string(req.Operation), http.MethodPost, "do", req, &res, maxAnswer)
	return res, err
}

// Verify reads back the server instance's state for the operation, like
// Connector.Verify.
func (r *Remote) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	var res connectors.Verification
	err := r.call(ctx, "verify "+string(req.Operation), http.MethodPost, "verify", req, &res, maxAnswer)
	return res, err
}

// Effects returns the server instance's record of every external state
// change, in order (see Connector.Effects).
func (r *Remote) Effects(ctx context.Context) ([]Effect, error) {
	var effects []Effect
	err := r.call(ctx, "effects", http.MethodGet, "effects", nil, &effects, maxListAnswer)
	return effects, err
}

// Stats returns the server instance's counters (see Connector.Stats).
func (r *Remote) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	err := r.call(ctx, "stats", http.MethodGet, "stats", nil, &st, maxListAnswer)
	return st, err
}

// call makes one request to the server and decodes a 2xx answer into out;
// any other answer, and any failure to get one, is a classified error.
func (r *Remote) call(ctx context.Context, op, method, action string, in, out any, limit int64) error {
	u := r.prefix + action
	where := method + " " + r.path + action
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return connectors.NewError(connectors.KindInvalid, r.name, op, fmt.Errorf("%s: encoding the request: %w", where, err))
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return connectors.NewError(connectors.KindInvalid, r.name, op, fmt.Errorf("%s: %v", where, errors.Unwrap(err)))
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return r.transportError(ctx, op, where, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return r.transportError(ctx, op, where+" (reading the answer)", err)
	}
	if int64(len(data)) > limit {
		return &connectors.Error{Kind: connectors.KindInvalid, Connector: r.name, Op: op, Status: resp.StatusCode,
			Err: fmt.Errorf("%s: the answer is larger than %d bytes", where, limit)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return r.httpError(op, where, resp, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &connectors.Error{Kind: connectors.KindInvalid, Connector: r.name, Op: op, Status: resp.StatusCode,
			Err: fmt.Errorf("%s: the answer is not the expected JSON: %v", where, err)}
	}
	return nil
}

// transportError classifies a failure to get an answer. The *url.Error
// wrapper is dropped: it repeats the whole URL.
func (r *Remote) transportError(ctx context.Context, op, where string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return connectors.Classify(r.name, op, fmt.Errorf("%s: %w", where, ctxErr))
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return connectors.Classify(r.name, op, fmt.Errorf("%s: %w", where, err))
}

// httpError turns an unsuccessful answer into a classified error: the
// server's error body when it sent one, else by status (ClassifyHTTP).
func (r *Remote) httpError(op, where string, resp *http.Response, data []byte) error {
	var eb errorBody
	if json.Unmarshal(data, &eb) == nil && knownKind(eb.Kind) {
		e := &connectors.Error{Kind: eb.Kind, Connector: r.name, Op: op, Status: eb.Status}
		if e.Status == 0 {
			e.Status = resp.StatusCode
		}
		e.RetryAfter = time.Duration(eb.RetryAfterMS) * time.Millisecond
		if e.RetryAfter <= 0 {
			e.RetryAfter = connectors.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		}
		msg := eb.Message
		if msg == "" {
			msg = where + " answered " + statusText(resp.StatusCode)
		}
		if e.Kind == connectors.KindCanceled {
			// As a local Connector reports a simulated cancellation.
			e.Err = fmt.Errorf("%s: %w", msg, context.Canceled)
		} else {
			e.Err = errors.New(msg)
		}
		return e
	}
	msg := where + " answered " + statusText(resp.StatusCode)
	if snip := snippet(data); snip != "" {
		msg += ": " + snip
	}
	if e := connectors.ClassifyHTTP(r.name, op, resp, msg); e != nil {
		return e
	}
	return &connectors.Error{Kind: connectors.KindInvalid, Connector: r.name, Op: op, Status: resp.StatusCode, Err: errors.New(msg)}
}

func knownKind(k connectors.Kind) bool {
	switch k {
	case connectors.KindTransient, connectors.KindRateLimited, connectors.KindAuth, connectors.KindForbidden,
		connectors.KindNotFound, connectors.KindInvalid, connectors.KindCanceled:
		return true
	}
	return false
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return strconv.Itoa(code)
}

// snippet returns the start of an unexpected answer for an error message,
// white space and control characters collapsed.
func snippet(data []byte) string {
	if len(data) > 4*maxMessage {
		data = data[:4*maxMessage]
	}
	s := strings.ToValidUTF8(string(data), "?")
	s = strings.Join(strings.FieldsFunc(s, func(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) }), " ")
	if rs := []rune(s); len(rs) > maxMessage {
		s = string(rs[:maxMessage]) + "…"
	}
	return s
}
