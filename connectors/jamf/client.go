package jamf

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/internal/cctoken"
	"github.com/kineticsec/kinetic/internal/text"
)

const (
	maxBody  = 8 << 20
	pageSize = 100
	maxPages = 50
)

type computer struct {
	ID      string `json:"id"`
	General struct {
		Name         string `json:"name"`
		ManagementID string `json:"managementId"`
	} `json:"general"`
	Hardware struct {
		SerialNumber string `json:"serialNumber"`
	} `json:"hardware"`
	UserAndLocation struct {
		Username string `json:"username"`
		Email    string `json:"email"`
	} `json:"userAndLocation"`
}

type mobileDevice struct {
	MobileDeviceID string `json:"mobileDeviceId"`
	General        struct {
		DisplayName  string `json:"displayName"`
		ManagementID string `json:"managementId"`
	} `json:"general"`
	Hardware struct {
		SerialNumber string `json:"serialNumber"`
	} `json:"hardware"`
	UserAndLocation struct {
		Username     string `json:"username"`
		EmailAddress string `json:"emailAddress"`
	} `json:"userAndLocation"`
}

type commandStatus struct {
	UUID   string `json:"uuid"`
	Client struct {
		ManagementID string `json:"managementId"`
		ClientType   string `json:"clientType"`
	} `json:"client"`
	CommandState string    `json:"commandState"`
	CommandType  string    `json:"commandType"`
	DateSent     time.Time `json:"dateSent"`
}

// pages reads every page of a Jamf Pro API listing
// ({"totalCount":N,"results":[…]}, page and page-size parameters).
func pages[T any](ctx context.Context, c *Connector, op, path string, q url.Values) ([]T, error) {
	var all []T
	for page := 0; ; page++ {
		if page == maxPages {
			return nil, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("GET %s: more than %d pages", path, maxPages))
		}
		pq := url.Values{}
		for k, v := range q {
			pq[k] = v
		}
		pq.Set("page", strconv.Itoa(page))
		pq.Set("page-size", strconv.Itoa(pageSize))
		var p struct {
			TotalCount int `json:"totalCount"`
			Results    []T `json:"results"`
		}
		if err := c.call(ctx, op, http.MethodGet, path, pq, nil, &p); err != nil {
			return nil, err
		}
		all = append(all, p.Results...)
		if len(p.Results) == 0 || len(all) >= p.TotalCount {
			return all, nil
		}
	}
}

// call sends one request with a bearer token (one retry with a new token
// after a 401 to a cached one) and decodes a 2xx JSON answer into out.
func (c *Connector) call(ctx context.Context, op, method, path string, q url.Values, body any, out any) error {
	u := *c.base
	u.Path = strings.TrimRight(c.base.Path, "/") + path
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	where := method + " " + path
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("%s: cannot encode the request", where))
		}
	}
	for attempt := 0; ; attempt++ {
		token, fresh, err := c.tokens.Get(ctx)
		if err != nil {
			return cctoken.Classify(ctx, c.name, op, err, c.redact)
		}
		var rd io.Reader
		if payload != nil {
			rd = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
		if err != nil {
			return connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("%s: cannot build the request", where))
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "application/json")
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return c.transportError(ctx, op, where, err)
		}
		raw, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
		if rerr != nil {
			return c.transportError(ctx, op, where, rerr)
		}
		if resp.StatusCode == http.StatusUnauthorized && !fresh && attempt == 0 {
			c.tokens.Invalidate(token) // expired early or revoked
			continue
		}
		return c.decode(op, where, resp, raw, out)
	}
}

// decode classifies a Jamf Pro answer and decodes a 2xx JSON body into out
// (FuzzDecode).
func (c *Connector) decode(op, where string, resp *http.Response, raw []byte, out any) error {
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := where + ": " + describe(resp, raw)
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			msg += "; the API client's token was refused"
		case http.StatusForbidden:
			msg += "; the API client's role lacks the privilege (see docs/connectors.md, jamf)"
		}
		if e := connectors.ClassifyHTTP(c.name, op, resp, text.ClipRunes(c.redact(msg), 400)); e != nil {
			return e
		}
		e := connectors.NewError(connectors.KindTransient, c.name, op, fmt.Errorf("%s: unexpected HTTP status %d", where, resp.StatusCode))
		e.Status = resp.StatusCode
		return e
	}
	if out == nil || len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	if looksHTML(resp.Header.Get("Content-Type"), raw) || json.Unmarshal(raw, out) != nil {
		ct := resp.Header.Get("Content-Type")
		if ct == "" {
			ct = "no content type"
		}
		e := connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("%s: Jamf Pro answered %d with a body that is not the API's JSON (%s, %d bytes): is url the Jamf Pro server?", where, resp.StatusCode, text.ClipRunes(ct, 60), len(raw)))
		e.Status = resp.StatusCode
		return e
	}
	return nil
}

// describe is Jamf's error ({"httpStatus":400,"errors":[{"code":…,
// "description":…,"field":…}]}), clipped, or what came back.
func describe(resp *http.Response, raw []byte) string {
	if looksHTML(resp.Header.Get("Content-Type"), raw) {
		return fmt.Sprintf("HTTP %d with an HTML page, not the API's JSON", resp.StatusCode)
	}
	var je struct {
		Errors []struct {
			Code        string `json:"code"`
			Description string `json:"description"`
			Field       string `json:"field"`
		} `json:"errors"`
	}
	if json.Unmarshal(raw, &je) == nil && len(je.Errors) > 0 {
		var parts []string
		for _, e := range je.Errors {
			p := e.Code
			if e.Field != "" {
				p += " (" + e.Field + ")"
			}
			if e.Description != "" {
				p += ": " + text.OneLine(e.Description)
			}
			parts = append(parts, p)
		}
		return text.ClipRunes(strings.Join(parts, "; "), 300)
	}
	return fmt.Sprintf("HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
}

type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.cause }

func (c *Connector) transportError(ctx context.Context, op, where string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return connectors.NewError(connectors.KindCanceled, c.name, op, fmt.Errorf("%s: %w", where, ctxErr))
	}
	kind := connectors.Classify(c.name, op, err).Kind
	if kind == connectors.KindCanceled {
		kind = connectors.KindTransient
	}
	return connectors.NewError(kind, c.name, op, &redactedError{msg: c.redact(where + ": Jamf Pro unreachable: " + err.Error()), cause: err})
}

func looksHTML(ct string, body []byte) bool {
	if strings.Contains(strings.ToLower(ct), "html") {
		return true
	}
	b := bytes.TrimSpace(body)
	return len(b) > 0 && b[0] == '<'
}
