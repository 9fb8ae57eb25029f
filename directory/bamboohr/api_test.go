package bamboohr

import (
	"net/http"
	"reflect"
	"testing"
	"time"
)

func TestAPIPaths(t *testing.T) {
	api := APIBase("https://api.bamboohr.com/", " acme co ")
	if api != "https://api.bamboohr.com/api/gateway.php/acme%20co/v1" {
		t.Fatalf("APIBase = %q", api)
	}
	since := time.Date(2026, 12, 4, 9, 30, 0, 0, time.FixedZone("x", 3600))
	if got := ChangedURL(api, since); got != api+"/employees/changed/?since=2026-12-04T08%3A30%3A00Z" {
		t.Errorf("ChangedURL = %q", got)
	}
	if got := EmployeeURL(api, "4/2", []string{"status", "workEmail"}); got != api+"/employees/4%2F2/?fields=status%2CworkEmail" {
		t.Errorf("EmployeeURL = %q", got)
	}
	req, _ := http.NewRequest(http.MethodGet, api, nil)
	Authorize(req, "k3y")
	if u, p, ok := req.BasicAuth(); !ok || u != "k3y" || p != "x" || req.Header.Get("Accept") != "application/json" {
		t.Errorf("Authorize: basic %q %q %v, Accept %q", u, p, ok, req.Header.Get("Accept"))
	}
}

func TestDecodeChanged(t *testing.T) {
	t.Run("an object keyed by id comes back in id order, the key filling a missing id", func(t *testing.T) {
		latest, got, err := DecodeChanged([]byte(`{"latest":"2026-12-04T08:00:00+00:00","employees":{
			"7":{"id":"7","action":"Updated","lastChanged":"2026-12-04T07:00:00+00:00"},
			"12":{"action":"Deleted"}}}`))
		want := []Change{{ID: "12", Action: "Deleted"}, {ID: "7", Action: "Updated", LastChanged: "2026-12-04T07:00:00+00:00"}}
		if err != nil || latest != "2026-12-04T08:00:00+00:00" || !reflect.DeepEqual(got, want) {
			t.Fatalf("DecodeChanged = %q, %+v, %v", latest, got, err)
		}
	})
	t.Run("an empty answer may be a list or absent", func(t *testing.T) {
		for _, body := range []string{`{"employees":[]}`, `{"employees":null}`, `{}`} {
			if _, got, err := DecodeChanged([]byte(body)); err != nil || len(got) != 0 {
				t.Errorf("DecodeChanged(%s) = %+v, %v", body, got, err)
			}
		}
	})
	t.Run("malformed answers are errors", func(t *testing.T) {
		for _, body := range []string{`<xml/>`, `{"employees":7}`, `{"employees":[1]}`} {
			if _, _, err := DecodeChanged([]byte(body)); err == nil {
				t.Errorf("DecodeChanged(%s) accepted", body)
			}
		}
	})
}
