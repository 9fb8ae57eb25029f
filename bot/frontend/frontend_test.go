package frontend_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/bot/frontend"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/store"
)

// The engine's refusals read the same in every front end, by kind.
func TestRefusalsByKind(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("%w: action 9", engine.ErrNotFound), frontend.TextGone},
		{store.ErrNotFound, frontend.TextGone},
		{fmt.Errorf("%w: E9 may not skip", engine.ErrNotAllowed), "Kinetic refused: "},
		{fmt.Errorf("%w: disable_ad is running", engine.ErrInvalidRequest), "Nothing to do: "},
		{errors.New("connection reset"), "internal error"},
	} {
		if got := frontend.EngineError(c.err); !strings.Contains(got, c.want) {
			t.Errorf("EngineError(%v) = %q, want %q in it", c.err, got, c.want)
		}
	}
	open := frontend.OpenError(&engine.CaseOpenError{CaseID: 7}, "Say status @person to follow it.")
	if !strings.Contains(open, "case 7") || !strings.Contains(open, "Say status @person") {
		t.Errorf("OpenError: %q", open)
	}
	if got := frontend.OpenError(errors.New("boom"), ""); strings.Contains(got, "boom") {
		t.Errorf("an internal error's text reaches the user: %q", got)
	}
}

func TestPlans(t *testing.T) {
	var p frontend.Plans
	if p.Take(1) != nil {
		t.Fatal("a plan nobody kept")
	}
	plan := &engine.Plan{}
	p.Remember(1, plan)
	if p.Take(1) != plan || p.Take(1) != nil {
		t.Fatal("Take returns the kept plan once")
	}
}
