package workday

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/directory/internal/hrtest"
)

// roundTrip answers every request with body, without a network: the fuzz
// target exercises the decoding and mapping of the report, not HTTP.
type roundTrip []byte

func (body roundTrip) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(body)), Request: req}, nil
}

// FuzzFetch answers the RaaS report with arbitrary JSON and maps it (with
// manager_key set or not). A report that is not JSON or has no
// Report_Entry is a permanent *directory.SourceError of this source that
// does not repeat the password. Otherwise every employee has a trimmed,
// unique id and a type; with manager_key a manager is empty or the id of
// an employee returned; the result is the same when fetched again and
// builds a directory in which every employee is found by id.
func FuzzFetch(f *testing.F) {
	f.Add([]byte(entries), false)
	f.Add([]byte(entries), true)
	f.Add([]byte(`{"Report_Entry":[{"Employee_ID":"1","Manager_ID":"1","Roles":" ;a,, b;","Is_HR":"YES","Active_Status":true},{"Employee_ID":1},{"Employee_ID":[]}]}`), true)
	f.Add([]byte(`{"Report_Entry":[{"Employee_ID":{"Descriptor":"x","value":{"value":"2"}},"Worker_Type":"Regular"}]}`), false)
	f.Add([]byte(`{"Report_Entry":null}`), false)
	f.Add([]byte(`<wd:Report_Data xmlns:wd="urn:com.workday.report/Kinetic"/>`), false)
	f.Add([]byte{}, true)
	f.Fuzz(func(t *testing.T, report []byte, managerKey bool) {
		cfg := basicConfig("https://wd.example.test")
		if managerKey {
			cfg.Mapping.ManagerKey = "Employee_ID"
		}
		l := logrus.New()
		l.Out = io.Discard
		s, err := New(cfg, Options{Log: logrus.NewEntry(l), HTTP: &http.Client{Transport: roundTrip(report)}})
		if err != nil {
			t.Fatal(err)
		}
		emps, err := s.fetch(context.Background())
		again, err2 := s.fetch(context.Background())
		if (err == nil) != (err2 == nil) || !reflect.DeepEqual(emps, again) {
			t.Fatalf("fetching the same report twice: %v then %v", err, err2)
		}
		var doc struct {
			Entries *json.RawMessage `json:"Report_Entry"`
		}
		if err != nil {
			hrtest.CheckRefusal(t, err, TypeName, password)
			if json.Unmarshal(report, &doc) == nil && doc.Entries != nil && string(*doc.Entries) != "null" && json.Unmarshal(*doc.Entries, &[]map[string]any{}) == nil {
				t.Fatalf("refused a report with a list of entries: %v", err)
			}
			return
		}
		hrtest.CheckEmployees(t, emps, managerKey)
	})
}
