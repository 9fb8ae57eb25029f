package workday

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
)

// This file is the one reader of Workday's RaaS wire format: the directory
// source (Source) and bot/hr's poller both call it.

// ErrNoReportEntry is DecodeReport's error for a JSON answer without a
// "Report_Entry" list (typically a URL answering XML, or not a report).
var ErrNoReportEntry = errors.New(`the answer has no "Report_Entry": is the URL a RaaS URL answering JSON (format=json)?`)

// ReportURL returns the RaaS URL raw with format=json added when it names
// no format (RaaS answers XML by default). An unparsable URL is an error.
func ReportURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", errors.New("the report URL is not a valid URL")
	}
	if q := u.Query(); q.Get("format") == "" {
		q.Set("format", "json")
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

// DecodeReport reads a RaaS JSON answer, {"Report_Entry": [row, …]}, and
// returns its rows undecoded. The whole answer must be one JSON document
// (trailing data is an error: a confused or truncated answer is never half
// read). An answer without "Report_Entry" (or with a null one) is
// ErrNoReportEntry; a malformed one is the decoder's error.
func DecodeReport(body []byte) ([]json.RawMessage, error) {
	var doc struct {
		Entries *[]json.RawMessage `json:"Report_Entry"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	if doc.Entries == nil {
		return nil, ErrNoReportEntry
	}
	return *doc.Entries, nil
}
