package connectors_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
)

func TestMergeEquipment(t *testing.T) {
	lt := connectors.Asset{ID: "12", Kind: "hardware", Tag: "LT-1003", Model: "MacBook Pro 14"}
	ph := connectors.Asset{ID: "40", Kind: "hardware", Tag: "PH-0007", Model: "iPhone 15"}
	acc := connectors.Asset{ID: "3", Kind: "accessory", Name: "USB-C dock"}
	type want struct {
		tag    string
		source connectors.EquipmentSource
		id     string // "" when no tracker asset
	}
	for _, tc := range []struct {
		name    string
		hr      []string
		tracked []connectors.Asset
		want    []want
	}{
		{name: "nothing anywhere is an empty list"},
		{name: "HR only", hr: []string{"LT-1003"}, want: []want{{"LT-1003", connectors.SourceHR, ""}}},
		{name: "tracker only, accessory without a tag kept", tracked: []connectors.Asset{lt, acc},
			want: []want{{"LT-1003", connectors.SourceTracker, "12"}, {"", connectors.SourceTracker, "3"}}},
		{name: "matched by tag, case and space insensitive; HR spelling kept", hr: []string{" lt-1003 "}, tracked: []connectors.Asset{lt},
			want: []want{{"lt-1003", connectors.SourceBoth, "12"}}},
		{name: "HR order first, then the tracker's remaining items", hr: []string{"MON-1", "PH-0007"}, tracked: []connectors.Asset{lt, ph, acc},
			want: []want{{"MON-1", connectors.SourceHR, ""}, {"PH-0007", connectors.SourceBoth, "40"}, {"LT-1003", connectors.SourceTracker, "12"}, {"", connectors.SourceTracker, "3"}}},
		{name: "repeated and empty HR tags dropped", hr: []string{"LT-1003", "", "LT-1003", "  "}, tracked: []connectors.Asset{lt},
			want: []want{{"LT-1003", connectors.SourceBoth, "12"}}},
		{name: "the same tag twice in the tracker is one device", hr: []string{"LT-1003"}, tracked: []connectors.Asset{lt, lt},
			want: []want{{"LT-1003", connectors.SourceBoth, "12"}}},
		{name: "the same tag twice in the tracker without HR is one device", tracked: []connectors.Asset{ph, ph},
			want: []want{{"PH-0007", connectors.SourceTracker, "40"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := connectors.MergeEquipment(tc.hr, tc.tracked)
			var g []want
			for _, it := range got {
				w := want{tag: it.Tag, source: it.Source}
				if it.Asset != nil {
					w.id = it.Asset.ID
				}
				if (it.Asset == nil) != (it.Source == connectors.SourceHR) {
					t.Errorf("item %+v: Asset must be nil exactly for an HR-only item", it)
				}
				g = append(g, w)
			}
			if !reflect.DeepEqual(g, tc.want) {
				t.Errorf("MergeEquipment(%q, …)\n got %+v\nwant %+v", tc.hr, g, tc.want)
			}
		})
	}
}

func TestMergeEquipmentDoesNotAliasItsInput(t *testing.T) {
	tracked := []connectors.Asset{{ID: "1", Tag: "A"}}
	got := connectors.MergeEquipment([]string{"A"}, tracked)
	got[0].Asset.ID = "changed"
	if tracked[0].ID != "1" {
		t.Fatal("MergeEquipment returned a pointer into its input")
	}
}

func TestEquipmentParams(t *testing.T) {
	got := connectors.EquipmentStepParams("LT-1003", connectors.EquipmentDisposed, "C-42", "COD-118")
	want := map[string]string{"asset_tag": "LT-1003", "state": "disposed", "case_ref": "C-42", "reference": "COD-118"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("EquipmentStepParams = %v, want %v", got, want)
	}
	if _, ok := connectors.EquipmentStepParams("LT-1", "received", "C-1", "")["reference"]; ok {
		t.Error("an empty reference must be left out")
	}
	since := time.Date(2026, 12, 7, 9, 30, 0, 0, time.FixedZone("CET", 3600))
	got = connectors.DeviceParams([]string{"C02X", "F2LX"}, since, true)
	want = map[string]string{"serials": "C02X,F2LX", "since": "2026-12-07T08:30:00Z", "legal_hold": "true"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DeviceParams = %v, want %v", got, want)
	}
	if got := connectors.DeviceParams(nil, time.Time{}, false); !reflect.DeepEqual(got, map[string]string{"legal_hold": "false"}) {
		t.Errorf("DeviceParams(none) = %v", got)
	}
}
