package dur

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"90s": 90 * time.Second, "15m": 15 * time.Minute, "1h30m": 90 * time.Minute,
		"7d": 7 * 24 * time.Hour, "1.5d": 36 * time.Hour, "0s": 0,
	} {
		got, err := Parse(in)
		if err != nil || got.D() != want {
			t.Errorf("Parse(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "7", "-5m", "xd", "1w", "-1d"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestYAMLErrorsCarryTheLine(t *testing.T) {
	var v struct {
		A Duration `yaml:"a"`
	}
	err := yaml.Unmarshal([]byte("\n\na: soon\n"), &v)
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("err %v", err)
	}
}
