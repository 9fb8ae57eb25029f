package engine_test

import (
	"testing"
	"time"

	"github.com/kineticsec/kinetic/engine"
)

// TestShortDuration: plans print SLAs as durations without zero units;
// 10m once printed as "1" (trimming "0s" and then "0m" off "10m0s").
func TestShortDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{30 * time.Second, "30s"},
		{90 * time.Second, "1m30s"},
		{10 * time.Minute, "10m"},
		{30 * time.Minute, "30m"},
		{time.Hour, "1h"},
		{90 * time.Minute, "1h30m"},
		{10 * time.Hour, "10h"},
		{24 * time.Hour, "24h"},
		{time.Hour + 10*time.Second, "1h0m10s"},
		{1500 * time.Millisecond, "1.5s"},
		{500 * time.Millisecond, "500ms"},
		{-10 * time.Minute, "-10m"},
	} {
		if got := engine.ShortDuration(tc.d); got != tc.want {
			t.Errorf("ShortDuration(%d) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
