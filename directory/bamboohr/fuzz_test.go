package bamboohr

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/directory/internal/hrtest"
	"github.com/kineticsec/kinetic/internal/secret"
)

// roundTrip answers every request with the body fn gives for it, without a
// network: the fuzz targets exercise the decoding and mapping of the
// answers, not HTTP.
type roundTrip func(*http.Request) []byte

func (fn roundTrip) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(fn(req))), Request: req}, nil
}

// FuzzFetch answers the custom report and the company directory with
// arbitrary JSON and maps them with the default mapping (plus a chat user
// id and an attribute). A refusal is a permanent *directory.SourceError of
// this source that does not repeat the API key. Otherwise every employee
// has a trimmed, unique id and a type; a manager is empty or the id of an
// employee returned (BambooHR names supervisors by employee number); the
// result is the same when fetched again and builds a directory in which
// every employee is found by id.
func FuzzFetch(f *testing.F) {
	f.Add([]byte(report), []byte(`{"fields":[{"id":"displayName"}],"employees":[{"id":"7","displayName":"Ada (directory)","location":"Remote"}]}`), true)
	f.Add([]byte(report), []byte{}, false)
	f.Add([]byte(`{"fields":[],"employees":[{"id":" 1 ","employeeNumber":"1","supervisorEId":"1","status":"Active","employmentHistoryStatus":"Part-Time"},{"id":"1"},{"id":null}]}`), []byte(`{"employees":null}`), true)
	f.Add([]byte(`{"employees":[{"id":{"value":"2"},"workEmail":["a@x","b@x"],"customSlackID":7}]}`), []byte(`[]`), true)
	f.Add([]byte(`<?xml version="1.0"?><report/>`), []byte{}, false)
	f.Add([]byte{}, []byte{}, true)
	f.Fuzz(func(t *testing.T, reportJSON, dirJSON []byte, useDirectory bool) {
		cfg := config("https://api.bamboohr.example")
		cfg.UseDirectory = useDirectory
		cfg.APIKey = secret.FromValue(apiKey)
		l := logrus.New()
		l.Out = io.Discard
		s, err := New(cfg, Options{Log: logrus.NewEntry(l), HTTP: &http.Client{Transport: roundTrip(func(req *http.Request) []byte {
			if strings.HasSuffix(req.URL.Path, "/employees/directory") {
				return dirJSON
			}
			return reportJSON
		})}})
		if err != nil {
			t.Fatal(err)
		}
		emps, err := s.fetch(context.Background())
		again, err2 := s.fetch(context.Background())
		if (err == nil) != (err2 == nil) || !reflect.DeepEqual(emps, again) {
			t.Fatalf("fetching the same answers twice: %v then %v", err, err2)
		}
		if err != nil {
			hrtest.CheckRefusal(t, err, TypeName, apiKey)
			return
		}
		hrtest.CheckEmployees(t, emps, true)
	})
}
