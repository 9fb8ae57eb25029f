package devices

import (
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
)

func TestCheckHold(t *testing.T) {
	for _, tc := range []struct {
		op      connectors.Operation
		hold    string
		refused bool
	}{
		{connectors.OpWipeDevices, "true", true},
		{connectors.OpWipeDevices, " TRUE ", true},
		{connectors.OpWipeDevices, "false", false},
		{connectors.OpWipeDevices, "", false},
		{connectors.OpLockDevices, "true", false}, // a lock preserves: allowed under a hold
		{connectors.OpRetireDevices, "true", false},
	} {
		err := CheckHold("mdm", connectors.Request{Operation: tc.op, Params: map[string]string{connectors.ParamLegalHold: tc.hold}})
		if (err != nil) != tc.refused {
			t.Errorf("%s with legal_hold=%q: err = %v, refused want %t", tc.op, tc.hold, err, tc.refused)
		}
		if err != nil && (connectors.KindOf(err) != connectors.KindInvalid || connectors.IsRetryable(err)) {
			t.Errorf("refusal must be permanent: %v", err)
		}
	}
}

func TestSelect(t *testing.T) {
	all := []Device{{ID: "1", Serial: "C02X"}, {ID: "2", Serial: "F2LX"}, {ID: "3"}}
	req := func(serials string) connectors.Request {
		return connectors.Request{Operation: connectors.OpLockDevices, Params: map[string]string{connectors.ParamSerials: serials}}
	}
	if got, err := Select("mdm", req(""), all); err != nil || len(got) != 3 {
		t.Fatalf("no serials = %v, %v; want every device", got, err)
	}
	if got, err := Select("mdm", req(" f2lx , F2LX,"), all); err != nil || len(got) != 1 || got[0].ID != "2" {
		t.Fatalf("one serial twice = %v, %v", got, err)
	}
	_, err := Select("mdm", req("C02X,NOPE,ALSO"), all)
	if err == nil || connectors.KindOf(err) != connectors.KindInvalid || !strings.Contains(err.Error(), "serial NOPE, ALSO is not among") {
		t.Fatalf("unknown serials = %v", err)
	}
}

func TestSince(t *testing.T) {
	now := time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
	r := connectors.Request{Operation: connectors.OpLockDevices, Params: map[string]string{}}
	if got, _ := Since("mdm", r, now, 0); !got.Equal(now.Add(-DefaultReuseWindow)) {
		t.Errorf("default window = %s", got)
	}
	if got, _ := Since("mdm", r, now, time.Hour); !got.Equal(now.Add(-time.Hour)) {
		t.Errorf("1h window = %s", got)
	}
	r.Params[connectors.ParamSince] = "2026-12-07T09:00:00+01:00"
	if got, _ := Since("mdm", r, now, time.Hour); !got.Equal(time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("since param = %s", got)
	}
	r.Params[connectors.ParamSince] = "last week"
	if _, err := Since("mdm", r, now, 0); connectors.KindOf(err) != connectors.KindInvalid {
		t.Errorf("bad since = %v", err)
	}
}
