package hr

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/secret"
	"github.com/kineticsec/kinetic/store"
)

func TestBambooHRWebhookOpensACaseAtFivePMLocalTime(t *testing.T) {
	e := newEnv(t, testConfig(), nil)
	date := localDate(time.Now(), 4)
	body := bambooBody(t, bambooEmp("101", "E1", "Inactive", date, "status", "terminationDate"))

	rec := e.postBamboo(body)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	res := decodeResults(t, rec)
	if len(res) != 1 || res[0].Outcome != engine.HROpened || res[0].CaseID == 0 || res[0].Employee != "101" {
		t.Fatalf("results %+v", res)
	}
	want := at17NY(t, date)
	if res[0].EffectiveAt == nil || !res[0].EffectiveAt.Equal(want) {
		t.Fatalf("answer says effective %v, want %s", res[0].EffectiveAt, want)
	}
	c := e.reload(res[0].CaseID)
	if c.Status != store.CaseScheduled || c.Trigger != store.TriggerHR || c.EmployeeID != "E1" || !c.EffectiveAt.Equal(want) {
		t.Fatalf("case %s trigger %s employee %s effective %s, want scheduled hr E1 %s", c.Status, c.Trigger, c.EmployeeID, c.EffectiveAt, want)
	}
	var recd store.HREventRecord
	if err := e.kit.Store.TestDB().Where("source = ?", "bamboohr").First(&recd).Error; err != nil {
		t.Fatal(err)
	}
	if recd.EventID != "101:terminate:"+date || recd.Outcome != engine.HROpened || recd.CaseID != c.ID {
		t.Fatalf("recorded %+v", recd)
	}
}

func TestWebhookRefusesWhatIsNotAuthenticated(t *testing.T) {
	e := newEnv(t, testConfig(), nil)
	date := localDate(time.Now(), 4)
	body := bambooBody(t, bambooEmp("101", "E1", "Inactive", date, "terminationDate"))
	now := time.Now()
	ts := unixTS(now)
	good := bambooHeaders(bambooKey, ts, body)

	cases := []struct {
		name string
		body []byte
		hdr  http.Header
	}{
		{"unsigned", body, hdr("Content-Type", "application/json")},
		{"no timestamp", body, hdr(BambooHRSignatureHeader, good.Get(BambooHRSignatureHeader))},
		{"no signature", body, hdr(BambooHRTimestampHeader, ts)},
		{"forged with another key", body, bambooHeaders("not-the-key", ts, body)},
		{"signature not hex", body, hdr(BambooHRSignatureHeader, "zz"+strings.Repeat("0", 62), BambooHRTimestampHeader, ts)},
		{"signature truncated", body, hdr(BambooHRSignatureHeader, good.Get(BambooHRSignatureHeader)[:32], BambooHRTimestampHeader, ts)},
		{"body tampered after signing", bytes.Replace(body, []byte(date), []byte(localDate(now, 9)), 1), good},
		{"timestamp changed after signing", body, hdr(BambooHRSignatureHeader, good.Get(BambooHRSignatureHeader), BambooHRTimestampHeader, unixTS(now.Add(time.Second)))},
		{"stale timestamp", body, bambooHeaders(bambooKey, unixTS(now.Add(-6*time.Minute)), body)},
		{"timestamp from the future", body, bambooHeaders(bambooKey, unixTS(now.Add(6*time.Minute)), body)},
		{"malformed timestamp", body, bambooHeaders(bambooKey, "yesterday", body)},
		{"signed with the generic scheme", body, hdr(BambooHRSignatureHeader, Sign("generic", bambooKey, ts, body), BambooHRTimestampHeader, ts)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := e.do("bamboohr", c.body, c.hdr)
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401: %s", rec.Code, rec.Body)
			}
		})
	}
	t.Run("generic source with a BambooHR signature", func(t *testing.T) {
		gen := []byte(`{"eventType":"EmployeeTermination","userId":"E1","endDate":"` + date + `"}`)
		h := sfHeaders(sfKey, ts, gen)
		h.Set("X-Signature", Sign("bamboohr", sfKey, ts, gen))
		if rec := e.do("successfactors", gen, h); rec.Code != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", rec.Code)
		}
	})
	t.Run("unknown source", func(t *testing.T) {
		if rec := e.do("workday", body, good); rec.Code != http.StatusNotFound {
			t.Fatalf("status %d, want 404", rec.Code)
		}
	})
	t.Run("body over 1 MiB", func(t *testing.T) {
		big := bytes.Repeat([]byte(" "), MaxBody+1)
		if rec := e.do("bamboohr", big, bambooHeaders(bambooKey, ts, big)); rec.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413", rec.Code)
		}
	})
	t.Run("GET is not served", func(t *testing.T) {
		rec := httptest.NewRecorder()
		e.mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/hr/webhooks/bamboohr", nil))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Fatalf("status %d, want 405", rec.Code)
		}
	})
	e.nothingRecorded()
	logs := e.log.String()
	if strings.Contains(logs, bambooKey) || strings.Contains(logs, good.Get(BambooHRSignatureHeader)) {
		t.Fatalf("the log carries the secret or a signature:\n%s", logs)
	}
	if !strings.Contains(logs, "invalid signature") || !strings.Contains(logs, "timestamp outside the tolerance") {
		t.Fatalf("refusals are not logged with their reason:\n%s", logs)
	}
}

func TestReplayedSignatureIsRefused(t *testing.T) {
	e := newEnv(t, testConfig(), nil)
	body := bambooBody(t, bambooEmp("101", "E1", "Inactive", localDate(time.Now(), 4), "terminationDate"))
	h := bambooHeaders(bambooKey, unixTS(time.Now()), body)
	if rec := e.do("bamboohr", body, h); rec.Code != http.StatusAccepted {
		t.Fatalf("first delivery: %d %s", rec.Code, rec.Body)
	}
	rec := e.do("bamboohr", body, h)
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "replayed") {
		t.Fatalf("replay: %d %s", rec.Code, rec.Body)
	}
	if n := e.count(&store.HREventRecord{}, ""); n != 1 {
		t.Fatalf("%d records, want 1", n)
	}
	// The same body signed again later (a genuine redelivery) passes the
	// signature check and is a duplicate for the engine.
	rec = e.do("bamboohr", body, bambooHeaders(bambooKey, unixTS(time.Now().Add(time.Second)), body))
	if rec.Code != http.StatusAccepted || decodeResults(t, rec)[0].Outcome != engine.HRDuplicate {
		t.Fatalf("redelivery: %d %s", rec.Code, rec.Body)
	}
	if n := e.count(&store.Case{}, ""); n != 1 {
		t.Fatalf("%d cases, want 1", n)
	}
}

func TestMalformedPayloadsAre400AndRecordNothing(t *testing.T) {
	e := newEnv(t, testConfig(), nil)
	date := localDate(time.Now(), 4)
	bamboo := map[string]string{
		"not JSON":             `{"employees": [`,
		"trailing data":        `{"employees": []} {}`,
		"no employees":         `{"webhook": 1}`,
		"event-based payload":  `{"type":"employee.updated","timestamp":"2026-01-31T18:42:00+0000","data":{"companyId":"1","employeeId":"101","changedFields":["status"]}}`,
		"employees not a list": `{"employees": {"id": "101"}}`,
		"every entry invalid":  `{"employees":[{"id":"101","action":"Updated","fields":{"employeeNumber":"E1","status":"Inactive","terminationDate":"31/12/2026"}}]}`,
		"not UTF-8":            "{\"employees\":[{\"id\":\"\xff\"}]}",
	}
	for name, body := range bamboo {
		t.Run("bamboohr/"+name, func(t *testing.T) {
			rec := e.postBamboo([]byte(body))
			if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "error") {
				t.Fatalf("status %d, want 400 with a reason: %s", rec.Code, rec.Body)
			}
		})
	}
	generic := map[string]string{
		"not JSON":                         `{"eventType":`,
		"not an object":                    `["EmployeeTermination"]`,
		"unknown kind value":               `{"eventType":"Promotion","userId":"E1","endDate":"` + date + `"}`,
		"no kind":                          `{"userId":"E1","endDate":"` + date + `"}`,
		"no employee":                      `{"eventType":"EmployeeTermination","endDate":"` + date + `"}`,
		"termination without a date":       `{"eventType":"EmployeeTermination","userId":"E1"}`,
		"involuntary not a yes/no":         `{"eventType":"EmployeeTermination","userId":"E1","endDate":"` + date + `","involuntary":"maybe"}`,
		"bad date":                         `{"eventType":"EmployeeTermination","userId":"E1","endDate":"12/04/2026"}`,
		"bad time":                         `{"eventType":"EmployeeTermination","userId":"E1","endDate":"` + date + `","endTime":"5pm"}`,
		"employee id is an object":         `{"eventType":"EmployeeTermination","userId":{"a":1},"endDate":"` + date + `"}`,
		"date beyond max_future (engine)":  `{"eventType":"EmployeeTermination","userId":"E1","endDate":"` + localDate(time.Now(), 400) + `"}`,
		"date before max_past (engine)":    `{"eventType":"EmployeeTermination","userId":"E1","endDate":"` + localDate(time.Now(), -40) + `"}`,
		"email that is not one":            `{"eventType":"EmployeeTermination","email":"nobody","endDate":"` + date + `"}`,
		"NUL in the employee id":           `{"eventType":"EmployeeTermination","userId":"E\u00001","endDate":"` + date + `"}`,
		"event id header over 256 chars":   `{"eventType":"EmployeeTermination","userId":"E1","endDate":"` + date + `","eventId":"` + strings.Repeat("x", 300) + `"}`,
		"time without a date (rescission)": `{"eventType":"TerminationRescinded","userId":"E1","endTime":"17:00"}`,
	}
	for name, body := range generic {
		t.Run("generic/"+name, func(t *testing.T) {
			rec := e.postSF([]byte(body), "")
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", rec.Code, rec.Body)
			}
			if r := decodeResult(t, rec); r.Error == "" {
				t.Fatalf("no reason given: %s", rec.Body)
			}
		})
	}
	e.nothingRecorded()
}

func TestGenericWebhookLifecycle(t *testing.T) {
	e := newEnv(t, testConfig(), nil)
	date := localDate(time.Now(), 6)
	later := localDate(time.Now(), 8)
	term := func(d string) []byte {
		return []byte(`{"eventType":"EmployeeTermination","userId":"E1","email":"erin@example.test","endDate":"` + d + `T00:00:00Z","reason":"resigned","involuntary":false}`)
	}

	rec := e.postSF(term(date), "sf-1")
	r := decodeResult(t, rec)
	if rec.Code != http.StatusAccepted || r.Outcome != engine.HROpened || r.EventID != "sf-1" {
		t.Fatalf("termination: %d %+v", rec.Code, r)
	}
	caseID := r.CaseID
	if c := e.reload(caseID); !c.EffectiveAt.Equal(at17NY(t, date)) || c.Reason != "resigned" {
		t.Fatalf("case effective %s reason %q", c.EffectiveAt, c.Reason)
	}

	t.Run("the same event id again is a duplicate", func(t *testing.T) {
		rec := e.postSF(term(date), "sf-1")
		if r := decodeResult(t, rec); rec.Code != http.StatusAccepted || r.Outcome != engine.HRDuplicate || r.CaseID != caseID {
			t.Fatalf("%d %+v", rec.Code, r)
		}
	})
	t.Run("the event id may come from the body", func(t *testing.T) {
		body := []byte(`{"eventId":"sf-body-1","eventType":"EmployeeTermination","userId":"E1","endDate":"` + date + `"}`)
		rec := e.postSF(body, "")
		if r := decodeResult(t, rec); rec.Code != http.StatusAccepted || r.EventID != "sf-body-1" || r.Outcome != engine.HRUnchanged {
			t.Fatalf("%d %+v", rec.Code, r)
		}
	})
	t.Run("a changed date reschedules", func(t *testing.T) {
		rec := e.postSF(term(later), "sf-2")
		r := decodeResult(t, rec)
		if rec.Code != http.StatusAccepted || r.Outcome != engine.HRRescheduled || r.CaseID != caseID {
			t.Fatalf("%d %+v", rec.Code, r)
		}
		if c := e.reload(caseID); !c.EffectiveAt.Equal(at17NY(t, later)) {
			t.Fatalf("effective %s, want %s", c.EffectiveAt, at17NY(t, later))
		}
	})
	t.Run("an explicit time is used", func(t *testing.T) {
		body := []byte(`{"eventType":"EmployeeTermination","userId":"E1","endDate":"` + later + `","endTime":"12:30:00"}`)
		rec := e.postSF(body, "sf-3")
		if r := decodeResult(t, rec); rec.Code != http.StatusAccepted || r.Outcome != engine.HRRescheduled {
			t.Fatalf("%d %+v\n%s", rec.Code, r, e.log)
		}
		want, _ := time.ParseInLocation("2006-01-02 15:04", later+" 12:30", newYork)
		if c := e.reload(caseID); !c.EffectiveAt.Equal(want) {
			t.Fatalf("effective %s, want %s", c.EffectiveAt, want.UTC())
		}
	})
	t.Run("a rescission cancels", func(t *testing.T) {
		rec := e.postSF([]byte(`{"eventType":"TerminationRescinded","userId":"E1","reason":"changed their mind"}`), "sf-4")
		if r := decodeResult(t, rec); rec.Code != http.StatusAccepted || r.Outcome != engine.HRCancelled || r.CaseID != caseID {
			t.Fatalf("%d %+v", rec.Code, r)
		}
		if c := e.reload(caseID); c.Status != store.CaseCancelled {
			t.Fatalf("case %s", c.Status)
		}
	})
	t.Run("an unknown employee is accepted, recorded and raised", func(t *testing.T) {
		body := []byte(`{"eventType":"EmployeeTermination","userId":"NOPE-9","endDate":"` + date + `"}`)
		rec := e.postSF(body, "sf-5")
		if r := decodeResult(t, rec); rec.Code != http.StatusAccepted || r.Outcome != engine.HRUnknownEmployee {
			t.Fatalf("%d %+v", rec.Code, r)
		}
		if n := e.count(&store.HREventRecord{}, "source = ? AND event_id = ? AND outcome = ? AND employee_id = ?", "successfactors", "sf-5", engine.HRUnknownEmployee, "NOPE-9"); n != 1 {
			t.Fatalf("%d records of the unknown employee's event", n)
		}
	})
	t.Run("an involuntary termination by email starts at once", func(t *testing.T) {
		body := []byte(`{"eventType":"EmployeeTermination","email":"carl@example.test","involuntary":"true"}`)
		rec := e.postSF(body, "sf-6")
		r := decodeResult(t, rec)
		if rec.Code != http.StatusAccepted || r.Outcome != engine.HROpened {
			t.Fatalf("%d %+v", rec.Code, r)
		}
		if c := e.reload(r.CaseID); c.EmployeeID != "E2" || !c.Involuntary || c.EffectiveAt.After(time.Now().Add(time.Minute)) {
			t.Fatalf("case for %s involuntary %v effective %s", c.EmployeeID, c.Involuntary, c.EffectiveAt)
		}
	})
	if n := e.count(&store.Case{}, ""); n != 2 {
		t.Fatalf("%d cases, want 2 (E1's, cancelled, and E2's)", n)
	}
}

func TestBambooHRWebhookWithSeveralEmployees(t *testing.T) {
	e := newEnv(t, testConfig(), nil)
	date := localDate(time.Now(), 5)
	body := bambooBody(t,
		bambooEmp("101", "E1", "Inactive", date, "status", "terminationDate"),
		map[string]any{"id": 102, "action": "Updated", "changedFields": []string{"Job Title"},
			"fields": map[string]any{"Employee #": "E2", "Status": "Active", "Termination Date": "0000-00-00", "Job Title": "Lead"}},
		bambooEmp("103", "X9", "Inactive", date, "terminationDate"),
		bambooEmp("104", "E4", "Inactive", "31.12.2026", "terminationDate"),
		// The English field names and {"value": …} wrappers some
		// payloads use.
		map[string]any{"id": "105", "action": "Updated", "changedFields": []string{"Termination Date"},
			"fields": map[string]any{"Work Email": map[string]any{"value": "tess@example.test"}, "Termination Date": map[string]any{"value": date}}},
	)
	rec := e.postBamboo(body)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	res := decodeResults(t, rec)
	want := []struct{ employee, outcome, errPart string }{
		{"101", engine.HROpened, ""},
		{"102", engine.HRIgnored, ""},
		{"103", engine.HRUnknownEmployee, ""},
		{"104", "", "not YYYY-MM-DD"},
		{"105", engine.HROpened, ""},
	}
	if len(res) != len(want) {
		t.Fatalf("%d results: %+v", len(res), res)
	}
	for i, w := range want {
		r := res[i]
		if r.Employee != w.employee || r.Outcome != w.outcome || (w.errPart == "") != (r.Error == "") || !strings.Contains(r.Error, w.errPart) {
			t.Errorf("result %d: %+v, want %+v", i, r, w)
		}
	}
	if n := e.count(&store.Case{}, ""); n != 2 {
		t.Fatalf("%d cases, want 2 (E1, E4)", n)
	}
	if n := e.count(&store.HREventRecord{}, ""); n != 3 {
		t.Fatalf("%d records, want 3 (E1, X9, E4)", n)
	}
}

func TestBambooHRClearedTerminationDateRescinds(t *testing.T) {
	e := newEnv(t, testConfig(), nil)
	date := localDate(time.Now(), 5)
	rec := e.postBamboo(bambooBody(t, bambooEmp("101", "E1", "Active", date, "terminationDate")))
	if rec.Code != http.StatusAccepted || decodeResults(t, rec)[0].Outcome != engine.HROpened {
		t.Fatalf("a future-dated termination (status still Active): %d %s", rec.Code, rec.Body)
	}
	cleared := bambooEmp("101", "E1", "Active", "", "terminationDate")
	cleared["timestamp"] = "2026-11-25T19:00:00+0000"
	rec = e.postBamboo(bambooBody(t, cleared))
	res := decodeResults(t, rec)
	if rec.Code != http.StatusAccepted || res[0].Outcome != engine.HRCancelled {
		t.Fatalf("rescission: %d %s", rec.Code, rec.Body)
	}
}

func TestTerminationDatesAcrossTheDSTChange(t *testing.T) {
	// 2027-03-14 is the US change to daylight time: 17:00 in New York is
	// 22:00Z the day before and 21:00Z the day after.
	now := time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	e := newEnv(t, testConfig(), clock)
	post := func(date, id string) Result {
		body := []byte(`{"eventType":"EmployeeTermination","userId":"E1","endDate":"` + date + `"}`)
		rec := e.postSF(body, id)
		if rec.Code != http.StatusAccepted {
			t.Fatalf("%s: %d %s", date, rec.Code, rec.Body)
		}
		return decodeResult(t, rec)
	}
	before := post("2027-03-13", "dst-1")
	if want := time.Date(2027, 3, 13, 22, 0, 0, 0, time.UTC); before.Outcome != engine.HROpened || !before.EffectiveAt.Equal(want) {
		t.Fatalf("2027-03-13: %+v, want opened at %s", before, want)
	}
	after := post("2027-03-15", "dst-2")
	if want := time.Date(2027, 3, 15, 21, 0, 0, 0, time.UTC); after.Outcome != engine.HRRescheduled || !after.EffectiveAt.Equal(want) {
		t.Fatalf("2027-03-15: %+v, want rescheduled to %s", after, want)
	}
	if c := e.reload(before.CaseID); !c.EffectiveAt.Equal(time.Date(2027, 3, 15, 21, 0, 0, 0, time.UTC)) || c.EffectiveAt.In(newYork).Hour() != 17 {
		t.Fatalf("case effective %s (%s local)", c.EffectiveAt, c.EffectiveAt.In(newYork))
	}
}

func TestUnresolvedSecretRefusesEverything(t *testing.T) {
	cfg := testConfig()
	cfg.Webhooks["bamboohr"].Secret = secret.Secret{Env: "KINETIC_HR_TEST_UNSET"} // named, never resolved: an empty key
	e := newEnv(t, cfg, nil)
	body := bambooBody(t, bambooEmp("101", "E1", "Inactive", localDate(time.Now(), 4), "terminationDate"))
	if rec := e.do("bamboohr", body, bambooHeaders("", unixTS(time.Now()), body)); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", rec.Code)
	}
	e.nothingRecorded()
}
