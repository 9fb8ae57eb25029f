package hr

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSignedBodiesWithDuplicateKeysAreRefused: a signed body that names a
// field twice means two things; encoding/json took the last one, so a
// generic event with two userId keys offboarded the second person. Every
// such body is refused with 400 and nothing is recorded; so is data after
// the document.
func TestSignedBodiesWithDuplicateKeysAreRefused(t *testing.T) {
	e := newEnv(t, testConfig(), nil)
	date := localDate(time.Now(), 6)
	generic := map[string]string{
		"two userId keys":               `{"eventType":"EmployeeTermination","userId":"E1","endDate":"` + date + `","userId":"E2"}`,
		"userId and UserId":             `{"eventType":"EmployeeTermination","userId":"E1","endDate":"` + date + `","UserId":"E2"}`,
		"two eventType keys":            `{"eventType":"TerminationRescinded","userId":"E1","eventType":"EmployeeTermination","endDate":"` + date + `"}`,
		"a duplicate in a nested value": `{"eventType":"EmployeeTermination","userId":"E1","endDate":"` + date + `","extra":{"a":1,"a":2}}`,
		"whitespace then garbage":       `{"eventType":"EmployeeTermination","userId":"E1","endDate":"` + date + `"}` + strings.Repeat(" ", 70<<10) + "garbage",
		"a NUL escaped in the reason":   `{"eventType":"EmployeeTermination","userId":"E1","endDate":"` + date + `","reason":"a\u0000b"}`,
	}
	for name, body := range generic {
		t.Run("generic/"+name, func(t *testing.T) {
			rec := e.postSF([]byte(body), "")
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %.300s", rec.Code, rec.Body)
			}
			if r := decodeResult(t, rec); r.Error == "" || len(r.Error) > 300 {
				t.Fatalf("reason %q: want one, bounded", r.Error)
			}
		})
	}
	bamboo := map[string]string{
		"two employee numbers": `{"employees":[{"id":"101","action":"Updated","changedFields":["status"],"fields":{"employeeNumber":"E1","status":"Inactive","terminationDate":"` + date + `","employeeNumber":"E2"}}]}`,
		"two employees lists":  `{"employees":[],"employees":[{"id":"101","action":"Updated","changedFields":["status"],"fields":{"employeeNumber":"E2","status":"Inactive","terminationDate":"` + date + `"}}]}`,
		"two ids":              `{"employees":[{"id":"101","id":"102","action":"Updated","changedFields":["status"],"fields":{"employeeNumber":"E1","status":"Inactive","terminationDate":"` + date + `"}}]}`,
	}
	for name, body := range bamboo {
		t.Run("bamboohr/"+name, func(t *testing.T) {
			rec := e.postBamboo([]byte(body))
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", rec.Code, rec.Body)
			}
			if !strings.Contains(rec.Body.String(), "duplicate key") {
				t.Errorf("answer does not say why: %s", rec.Body)
			}
		})
	}
	e.nothingRecorded()
}
