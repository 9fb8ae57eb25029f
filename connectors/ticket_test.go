package connectors

import (
	"regexp"
	"testing"
)

func TestTicketCorrelation(t *testing.T) {
	a := TicketCorrelation("case-1", "task-1")
	if a != TicketCorrelation("case-1", "task-1") {
		t.Fatal("not stable")
	}
	if !regexp.MustCompile(`^kinetic-[0-9a-f]{32}$`).MatchString(a) {
		t.Fatalf("%q is not kinetic- and 32 hex digits", a)
	}
	for _, other := range [][2]string{{"case-1", "task-2"}, {"case-2", "task-1"}, {"case-1task-1", ""}, {"case-", "1task-1"}} {
		if TicketCorrelation(other[0], other[1]) == a {
			t.Errorf("(%q, %q) has the correlation of (case-1, task-1)", other[0], other[1])
		}
	}
}
