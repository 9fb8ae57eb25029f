package connector

import (
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"7":                             7 * time.Second,
		" 0 ":                           0,
		"-3":                            0,
		"soon":                          0,
		"Mon, 07 Dec 2026 12:00:30 GMT": 30 * time.Second,
		"Mon, 07 Dec 2026 11:59:00 GMT": 0, // in the past
	}
	for in, want := range cases {
		if got := retryAfter(in, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestClassify(t *testing.T) {
	for status, want := range map[int]bool{400: false, 401: false, 403: false, 404: false, 409: false, 412: false, 429: true, 500: true, 502: true, 503: true, 504: true} {
		if got := classify(status); got != want {
			t.Errorf("classify(%d) = %v, want %v", status, got, want)
		}
	}
}
