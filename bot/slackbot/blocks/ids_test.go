package blocks

import (
	"errors"
	"math"
	"strconv"
	"testing"
)

func TestParseValue(t *testing.T) {
	for _, tc := range []struct {
		in   string
		kind string
		id   int64
	}{
		{"case:42", KindCase, 42},
		{"approval:7", KindApproval, 7},
		{"action:913", KindAction, 913},
		{"equipment:12", KindEquipment, 12},
		{"action:" + strconv.FormatInt(math.MaxInt64, 10), KindAction, math.MaxInt64},
	} {
		kind, id, err := ParseValue(tc.in)
		if err != nil || kind != tc.kind || id != tc.id {
			t.Errorf("ParseValue(%q) = %q, %d, %v; want %q, %d", tc.in, kind, id, err, tc.kind, tc.id)
		}
	}
	for _, in := range []string{
		"", "case", "case:", ":42", "case:0", "case:042", "case:-1", "case:+1", "case: 42", " case:42", "case:42 ",
		"case:4a", "case:42:1", "Case:42", "batch:42", "case:9223372036854775808", "case:1e3", "case:٤٢", "case:42\n",
		"approval:99999999999999999999999999999",
	} {
		if _, _, err := ParseValue(in); !errors.Is(err, ErrBadValue) {
			t.Errorf("ParseValue(%q) = %v, want ErrBadValue", in, err)
		}
	}
}

func TestParseID(t *testing.T) {
	if id, err := ParseID("approval:7", KindApproval); err != nil || id != 7 {
		t.Errorf("ParseID approval:7 = %d, %v", id, err)
	}
	if _, err := ParseID("case:7", KindApproval); !errors.Is(err, ErrBadValue) {
		t.Errorf("a case where an approval is expected: %v, want ErrBadValue", err)
	}
}

func TestValuesRoundTrip(t *testing.T) {
	for _, v := range []string{CaseValue(1), ApprovalValue(22), ActionValue(333), EquipmentValue(4444)} {
		kind, id, err := ParseValue(v)
		if err != nil || format(kind, id) != v {
			t.Errorf("%q does not round-trip: %q %d %v", v, kind, id, err)
		}
	}
}

func format(kind string, id int64) string {
	switch kind {
	case KindCase:
		return CaseValue(id)
	case KindApproval:
		return ApprovalValue(id)
	case KindAction:
		return ActionValue(id)
	case KindEquipment:
		return EquipmentValue(id)
	}
	return ""
}

// Every value ParseValue accepts is exactly the one the builders make;
// everything else is ErrBadValue.
func FuzzParseValue(f *testing.F) {
	for _, s := range []string{"case:42", "approval:7", "action:913", "case:0", "case:-1", "case:042", "x:1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kind, id, err := ParseValue(s)
		if err != nil {
			if !errors.Is(err, ErrBadValue) {
				t.Fatalf("ParseValue(%q): %v does not wrap ErrBadValue", s, err)
			}
			return
		}
		if id <= 0 {
			t.Fatalf("ParseValue(%q) accepted id %d", s, id)
		}
		if got := format(kind, id); got != s {
			t.Fatalf("ParseValue(%q) = %q %d, which formats as %q", s, kind, id, got)
		}
	})
}
