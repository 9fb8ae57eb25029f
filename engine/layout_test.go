package engine_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// maxFileLines is the size past which an engine file must say in its own
// comments why it is not split ("over 400 lines").
const maxFileLines = 400

// The engine is split by duty (issue 13): no file grows past about 400
// lines without a reason written in it, and the case state machine, action
// execution and each of the sweep's duties have their own file.
func TestEngineFilesSplitByDuty(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range files {
		have[f] = true
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(b), "\n"); n > maxFileLines && !strings.Contains(string(b), "over 400 lines") {
			t.Errorf("%s has %d lines and gives no reason for it", f, n)
		}
	}
	for _, f := range []string{"casestate.go", "execute.go", "sweep.go", "sweep_leases.go", "sweep_lost.go", "sweep_timers.go",
		"sweep_approvals.go", "sweep_escalations.go", "sweep_breaches.go", "sweep_unconfirmed.go", "exceptions.go",
		"decisions.go", "views.go", "snapshot.go", "eventkind.go"} {
		if !have[f] {
			t.Errorf("engine has no %s", f)
		}
	}
}
