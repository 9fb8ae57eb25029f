package reqid_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/internal/reqid"
)

func TestAccept(t *testing.T) {
	for in, keep := range map[string]bool{
		"abc-123":                           true,
		"0af7651916cd43dd8448eb211c80319c":  true,
		"a.b:c_d":                           true,
		"":                                  false,
		"with space":                        false,
		"quote\"":                           false,
		"new\nline":                         false,
		"ünïcode":                           false,
		strings.Repeat("x", reqid.MaxLen):   true,
		strings.Repeat("x", reqid.MaxLen+1): false,
	} {
		got := reqid.Accept(in)
		if (got == in) != keep || !reqid.Sane(got) {
			t.Errorf("Accept(%q) = %q (keep %v)", in, got, keep)
		}
	}
	if reqid.New() == reqid.New() {
		t.Error("two fresh ids are equal")
	}
}

func TestLogHookAddsTheContextsID(t *testing.T) {
	var buf bytes.Buffer
	l := logrus.New()
	l.Out = &buf
	l.Formatter = &logrus.JSONFormatter{}
	l.AddHook(reqid.LogHook{})
	ctx := reqid.With(context.Background(), "req-1")
	l.WithContext(ctx).WithField("case", 7).Info("case opened")
	l.WithContext(context.Background()).Info("no request")
	l.Info("no context")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []any{"req-1", nil, nil}
	for i, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		if m["request_id"] != want[i] {
			t.Errorf("line %d request_id = %v, want %v", i, m["request_id"], want[i])
		}
	}
}
