package scim

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"reflect"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/directory/hrsource"
	"github.com/kineticsec/kinetic/directory/internal/hrtest"
	"github.com/kineticsec/kinetic/internal/secret"
)

// roundTrip answers every request with the body fn gives for it, without a
// network: the fuzz target exercises the decoding, paging and mapping of
// the answers, not HTTP.
type roundTrip func(*http.Request) []byte

func (fn roundTrip) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/scim+json"}},
		Body: io.NopCloser(bytes.NewReader(fn(req))), Request: req}, nil
}

// FuzzFetch answers the first two pages of a SCIM /Users listing with
// arbitrary JSON (later pages are empty) and maps them with the default
// mapping. A refusal is a permanent *directory.SourceError of this source
// that does not repeat the token. Otherwise every employee has a trimmed,
// unique id and a type; a manager is empty or the id of an employee
// returned (SCIM names managers by resource id); the result is the same
// when fetched again and builds a directory in which every employee is
// found by id.
func FuzzFetch(f *testing.F) {
	ceo := user("s-ceo", "E100", "ceo@example.com", "Employee", true, "", `, "urn:example:chat:User": {"slack": {"id": "U100"}}`)
	dev := user("s-dev", "E200", "dev@example.com", "Contractor", true, "s-ceo", "")
	intern := user("s-int", "E300", "intern@example.com", "intern", false, "s-gone", "")
	f.Add([]byte(page(3, 1, ceo, dev)), []byte(page(3, 3, intern)))
	f.Add([]byte(page(2, 0, ceo, dev)), []byte{})
	f.Add([]byte(page(9, 1, dev)), []byte(page(9, 7, intern)))
	f.Add([]byte(`{"totalResults":2,"Resources":[{"id":"x","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":7,"manager":"x"},`+
		`"emails":[{"value":"a@x"},{"value":"b@x","primary":"true"}],"active":"maybe"},{"id":"y","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"7"}}]}`), []byte(`{}`))
	f.Add([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"403","detail":"scim-TOKEN-0b7c1e2d9f"}`), []byte{})
	f.Add([]byte(`[]`), []byte{})
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, page1, page2 []byte) {
		cfg := Config{
			BaseURL: "https://scim.example.test/scim/v2/", Token: secret.FromValue(token), PageSize: 2,
			Mapping: hrsource.Mapping{Fields: hrsource.Fields{ChatUserID: "urn:example:chat:User:slack.id"}},
		}
		l := logrus.New()
		l.Out = io.Discard
		s, err := New(cfg, Options{Log: logrus.NewEntry(l), HTTP: &http.Client{Transport: roundTrip(func(req *http.Request) []byte {
			switch req.URL.Query().Get("startIndex") {
			case "1":
				return page1
			case "3":
				return page2
			}
			return []byte(`{"Resources":[]}`)
		})}})
		if err != nil {
			t.Fatal(err)
		}
		emps, err := s.fetch(context.Background())
		again, err2 := s.fetch(context.Background())
		if (err == nil) != (err2 == nil) || !reflect.DeepEqual(emps, again) {
			t.Fatalf("fetching the same pages twice: %v then %v", err, err2)
		}
		if err != nil {
			hrtest.CheckRefusal(t, err, TypeName, token)
			return
		}
		hrtest.CheckEmployees(t, emps, true)
	})
}
