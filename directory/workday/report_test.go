package workday

import (
	"errors"
	"testing"
)

func TestReportURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://wd.example.test/ccx/service/customreport2/acme/ISU/R", "https://wd.example.test/ccx/service/customreport2/acme/ISU/R?format=json"},
		{" https://wd.example.test/r?Effective_as_of=2030-01-01 ", "https://wd.example.test/r?Effective_as_of=2030-01-01&format=json"},
		{"https://wd.example.test/r?format=csv", "https://wd.example.test/r?format=csv"},
	} {
		got, err := ReportURL(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ReportURL(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := ReportURL("https://wd.example.test/%zz"); err == nil {
		t.Error("ReportURL accepted an unparsable URL")
	}
}

func TestDecodeReport(t *testing.T) {
	t.Run("rows come back undecoded, in order", func(t *testing.T) {
		rows, err := DecodeReport([]byte(`{"Report_Entry":[{"Employee_ID":"1"},7,null]}`))
		if err != nil || len(rows) != 3 || string(rows[0]) != `{"Employee_ID":"1"}` || string(rows[1]) != "7" {
			t.Fatalf("DecodeReport = %q, %v", rows, err)
		}
	})
	t.Run("an empty report is no rows", func(t *testing.T) {
		if rows, err := DecodeReport([]byte(`{"Report_Entry":[]}`)); err != nil || len(rows) != 0 {
			t.Fatalf("DecodeReport = %q, %v", rows, err)
		}
	})
	for name, body := range map[string]string{"no Report_Entry": `{"Report_Data":[]}`, "a null Report_Entry": `{"Report_Entry":null}`} {
		t.Run(name+" is ErrNoReportEntry", func(t *testing.T) {
			if _, err := DecodeReport([]byte(body)); !errors.Is(err, ErrNoReportEntry) {
				t.Fatalf("DecodeReport = %v, want ErrNoReportEntry", err)
			}
		})
	}
	for name, body := range map[string]string{"XML": `<wd:Report_Data/>`, "trailing data": `{"Report_Entry":[]} {}`, "empty": ``} {
		t.Run(name+" is malformed", func(t *testing.T) {
			if _, err := DecodeReport([]byte(body)); err == nil || errors.Is(err, ErrNoReportEntry) {
				t.Fatalf("DecodeReport = %v, want a decoding error", err)
			}
		})
	}
}
