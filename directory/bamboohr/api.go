package bamboohr

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// This file is the one owner of BambooHR's API paths and authentication:
// the directory source (Source) and bot/hr's changed-since poller both call
// it.

// APIBase returns the API root of company under baseURL (BambooHR's is
// DefaultBaseURL): BASE/api/gateway.php/{company}/v1, without a trailing
// slash.
func APIBase(baseURL, company string) string {
	return strings.TrimRight(strings.TrimSpace(baseURL), "/") + "/api/gateway.php/" + url.PathEscape(strings.TrimSpace(company)) + "/v1"
}

// Authorize sets the request's credentials and asks for JSON. BambooHR
// authenticates with HTTP basic, the API key as the user name and any
// password ("x" by convention).
func Authorize(req *http.Request, apiKey string) {
	req.SetBasicAuth(apiKey, "x")
	req.Header.Set("Accept", "application/json")
}

// ChangedURL is the changed-since list under api (see APIBase):
// GET …/v1/employees/changed/?since=RFC 3339.
func ChangedURL(api string, since time.Time) string {
	return api + "/employees/changed/?" + url.Values{"since": {since.UTC().Format(time.RFC3339)}}.Encode()
}

// EmployeeURL reads one employee's fields under api (see APIBase):
// GET …/v1/employees/{id}/?fields=a,b.
func EmployeeURL(api, id string, fields []string) string {
	return api + "/employees/" + url.PathEscape(id) + "/?" + url.Values{"fields": {strings.Join(fields, ",")}}.Encode()
}

// Change is one employee in a changed-since answer.
type Change struct {
	// ID is the employee id, as BambooHR sent it (a string or a number);
	// when the answer is keyed by id and the entry names none, the key.
	ID any `json:"id"`
	// Action is "Inserted", "Updated" or "Deleted".
	Action string `json:"action"`
	// LastChanged is the change's timestamp, as sent.
	LastChanged string `json:"lastChanged"`
}

// DecodeChanged reads a changed-since answer, {"latest": …, "employees":
// {id: change, …}} (an empty one may come as a list), and returns the
// answer's latest timestamp as sent and the changes, in id order when
// keyed.
func DecodeChanged(body []byte) (latest string, changes []Change, err error) {
	var doc struct {
		Latest    string          `json:"latest"`
		Employees json.RawMessage `json:"employees"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", nil, fmt.Errorf("malformed JSON: %v", err)
	}
	raw := bytes.TrimSpace(doc.Employees)
	if len(raw) == 0 || string(raw) == "null" {
		return doc.Latest, nil, nil
	}
	if raw[0] == '[' {
		if err := json.Unmarshal(raw, &changes); err != nil {
			return "", nil, fmt.Errorf("malformed employees: %v", err)
		}
		return doc.Latest, changes, nil
	}
	var m map[string]Change
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", nil, fmt.Errorf("malformed employees: %v", err)
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		c := m[k]
		if c.ID == nil {
			c.ID = k
		}
		changes = append(changes, c)
	}
	return doc.Latest, changes, nil
}
