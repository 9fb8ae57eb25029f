package hr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/bot/hr/hrconfig"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/compose/table"
	"github.com/kineticsec/kinetic/internal/secret"
)

// Fuzz targets for what the HR front end reads from outside: the webhook
// handler as a whole (signature headers of both formats, then the body),
// the signature check alone, and the pollers' answers (BambooHR's changed
// list and employee records, a Workday RaaS report). They need no database:
// the engine is a recorder. Seeds live in testdata/fuzz/<target>.

// fuzzNow is the fixed clock of the fuzz targets.
var fuzzNow = time.Date(2026, 11, 25, 18, 42, 0, 0, time.UTC)

// recordingEngine accepts every event and remembers it.
type recordingEngine struct {
	mu     sync.Mutex
	events []engine.HREvent
}

func (e *recordingEngine) HandleHREvent(_ context.Context, ev engine.HREvent, _ engine.HRTiming) (engine.HRResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, ev)
	return engine.HRResult{Outcome: engine.HROpened, CaseID: int64(len(e.events))}, nil
}

func (e *recordingEngine) calls() []engine.HREvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]engine.HREvent(nil), e.events...)
}

func discardLog() *logrus.Entry {
	l := logrus.New()
	l.Out = io.Discard
	return logrus.NewEntry(l)
}

// Signing modes of FuzzWebhook.
const (
	hookValid       = iota // signed with the source's key, now
	hookUnsigned           // no signature headers
	hookNoTimestamp        // a signature but no timestamp header
	hookWrongKey           // signed with another key
	hookStale              // signed six minutes ago
	hookTampered           // signed, then the body changed
	hookOtherScheme        // signed with the other format's message
	hookReplayed           // a valid request delivered twice
	hookModes
)

// fuzzTimestamp writes at in one of the forms senders use: unix seconds,
// unix milliseconds, RFC 3339, BambooHR's ISO 8601 with +hhmm.
func fuzzTimestamp(at time.Time, form int) string {
	switch uint(form) % 4 {
	case 1:
		return strconv.FormatInt(at.UnixMilli(), 10)
	case 2:
		return at.UTC().Format(time.RFC3339)
	case 3:
		return at.UTC().Format("2006-01-02T15:04:05+0000")
	}
	return strconv.FormatInt(at.Unix(), 10)
}

// fuzzSignature writes a hex signature as a sender might: bare, with
// "sha256=", or upper-case with "SHA256=".
func fuzzSignature(sig string, form int) string {
	switch uint(form) % 3 {
	case 1:
		return "sha256=" + sig
	case 2:
		return "SHA256=" + strings.ToUpper(sig)
	}
	return sig
}

// FuzzWebhook posts arbitrary bodies to both configured webhook sources
// (BambooHR's format and a generic, SuccessFactors-like one) with valid,
// missing, forged, stale, tampered, cross-scheme and replayed signatures,
// in every timestamp and signature form. Whatever the body, the answer is
// never a 5xx. A request that is not correctly signed, or is replayed, is
// refused with 401, reaches no engine and changes nothing (the genuine
// request is accepted after it). A correctly signed one reaches
// the engine with exactly the events the parser yields (202), or is
// refused with 400 without reaching it; every event keeps the store's
// contract.
func FuzzWebhook(f *testing.F) {
	date := "2026-12-04"
	bamboo := `{"employees":[{"id":"101","action":"Updated","timestamp":"2026-11-25T18:42:00+0000","changedFields":["status","terminationDate"],` +
		`"fields":{"employeeNumber":"E1","status":"Inactive","terminationDate":"` + date + `","workEmail":"e1@example.test"}}]}`
	generic := `{"eventId":"evt-1","eventType":"EmployeeTermination","userId":"E1","email":"e1@example.test","endDate":"` + date + `","endTime":"17:00","involuntary":false,"reason":"resigned"}`
	for mode := range hookModes {
		f.Add(false, mode, mode, mode, "", []byte(bamboo))
		f.Add(true, mode, mode, mode, "hdr-evt-1", []byte(generic))
	}
	f.Add(false, hookValid, 0, 0, "", []byte(`{"employees":[]}`))
	f.Add(false, hookValid, 0, 0, "", []byte(`{"employees":[{"id":"1","fields":{"status":"Active"}},7,null]}`))
	f.Add(true, hookValid, 2, 1, "", []byte(`{"eventType":"Rehire","userId":"E1","endDate":"/Date(1764806400000)/"}`))
	f.Add(true, hookValid, 0, 0, "", []byte(`not json`))
	f.Add(true, hookValid, 0, 0, "", []byte{})

	f.Fuzz(func(t *testing.T, generic bool, mode, tsForm, sigForm int, idHeader string, body []byte) {
		mode = int(uint(mode) % hookModes)
		cfg := testConfig()
		source, format, key, sigHeader, tsHeader := "bamboohr", hrconfig.FormatBambooHR, bambooKey, BambooHRSignatureHeader, BambooHRTimestampHeader
		if generic {
			source, format, key, sigHeader, tsHeader = "successfactors", hrconfig.FormatGeneric, sfKey, "X-Signature", "X-Timestamp"
		}
		eng := &recordingEngine{}
		mux := http.NewServeMux()
		NewHandler(cfg, eng, Options{Log: discardLog(), Now: func() time.Time { return fuzzNow }}).Mount(mux)

		at, signKey, signFormat, sent := fuzzNow, key, format, body
		switch mode {
		case hookWrongKey:
			signKey = "not-" + key
		case hookStale:
			at = fuzzNow.Add(-hrconfig.DefaultTolerance - time.Minute)
		case hookTampered:
			sent = append(append([]byte(nil), body...), ' ')
		case hookOtherScheme:
			signFormat = hrconfig.FormatGeneric
			if generic {
				signFormat = hrconfig.FormatBambooHR
			}
		}
		ts := fuzzTimestamp(at, tsForm)
		sig := fuzzSignature(Sign(signFormat, signKey, ts, body), sigForm)
		post := func() *httptest.ResponseRecorder {
			req := httptest.NewRequest(http.MethodPost, "/hr/webhooks/"+source, bytes.NewReader(sent))
			switch mode {
			case hookUnsigned:
			case hookNoTimestamp:
				req.Header.Set(sigHeader, sig)
			default:
				req.Header.Set(sigHeader, sig)
				req.Header.Set(tsHeader, ts)
			}
			if idHeader != "" {
				req.Header.Set("X-Event-Id", idHeader)
			}
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			return rec
		}
		rec := post()
		if rec.Code >= 500 {
			t.Fatalf("answered %d: %s", rec.Code, rec.Body)
		}
		if !bytes.Contains(body, []byte(key)) && strings.Contains(rec.Body.String(), key) ||
			strings.Contains(strings.ToLower(rec.Body.String()), strings.ToLower(Sign(signFormat, signKey, ts, body))) {
			t.Fatalf("the answer repeats the key or the signature: %s", rec.Body)
		}
		if mode != hookValid && mode != hookReplayed {
			var e map[string]string
			if rec.Code != http.StatusUnauthorized || len(eng.calls()) != 0 || json.Unmarshal(rec.Body.Bytes(), &e) != nil || e["error"] == "" {
				t.Fatalf("mode %d: answered %d %s with %d events", mode, rec.Code, rec.Body, len(eng.calls()))
			}
			// The refusal changed nothing: the genuine request is then
			// accepted as a first delivery.
			mode, sent, ts = hookValid, body, fuzzTimestamp(fuzzNow, tsForm)
			sig = fuzzSignature(Sign(format, key, ts, body), sigForm)
			if again := post(); again.Code == http.StatusUnauthorized || again.Code >= 500 {
				t.Fatalf("after a refused request, the genuine one answered %d: %s", again.Code, again.Body)
			}
			return
		}
		if generic {
			checkGenericAnswer(t, rec, eng, body, idHeader, cfg)
		} else {
			checkBambooAnswer(t, rec, eng, body, cfg)
		}
		if mode == hookReplayed {
			before := len(eng.calls())
			if again := post(); again.Code != http.StatusUnauthorized || len(eng.calls()) != before {
				t.Fatalf("a replay answered %d and reached the engine %d more times", again.Code, len(eng.calls())-before)
			}
		}
	})
}

func checkGenericAnswer(t *testing.T, rec *httptest.ResponseRecorder, eng *recordingEngine, body []byte, id string, cfg *hrconfig.Config) {
	t.Helper()
	w := cfg.Webhooks["successfactors"]
	ev, err := ParseGeneric("successfactors", body, id, Mapping{Fields: *w.Fields, Kinds: w.Kinds, Kind: w.Kind})
	calls := eng.calls()
	if err != nil {
		if rec.Code != http.StatusBadRequest || len(calls) != 0 {
			t.Fatalf("an invalid event (%v) answered %d with %d engine calls", err, rec.Code, len(calls))
		}
		return
	}
	if rec.Code != http.StatusAccepted || len(calls) != 1 || !reflect.DeepEqual(calls[0], ev) {
		t.Fatalf("a valid event answered %d with engine calls %+v, want %+v", rec.Code, calls, ev)
	}
	checkParsed(t, calls[0])
	var res Result
	if json.Unmarshal(rec.Body.Bytes(), &res) != nil || res.EventID != ev.EventID || res.Outcome != engine.HROpened {
		t.Fatalf("answer %s", rec.Body)
	}
}

func checkBambooAnswer(t *testing.T, rec *httptest.ResponseRecorder, eng *recordingEngine, body []byte, cfg *hrconfig.Config) {
	t.Helper()
	entries, err := ParseBambooHR("bamboohr", body, *cfg.Webhooks["bamboohr"].Fields)
	calls := eng.calls()
	if err != nil {
		if rec.Code != http.StatusBadRequest || len(calls) != 0 {
			t.Fatalf("an invalid payload (%v) answered %d with %d engine calls", err, rec.Code, len(calls))
		}
		return
	}
	var want []engine.HREvent
	refused := 0
	for _, e := range entries {
		switch {
		case e.Err != nil:
			refused++
		case e.Event != nil:
			want = append(want, *e.Event)
		}
	}
	if len(want) != len(calls) || len(calls) > 0 && !reflect.DeepEqual(want, calls) {
		t.Fatalf("engine calls %+v, want %+v", calls, want)
	}
	for _, ev := range calls {
		checkParsed(t, ev)
	}
	wantCode := http.StatusAccepted
	if refused > 0 && refused == len(entries) {
		wantCode = http.StatusBadRequest
	}
	var res []Result
	if rec.Code != wantCode || json.Unmarshal(rec.Body.Bytes(), &res) != nil || len(res) != len(entries) {
		t.Fatalf("answered %d %s for %d entries (%d refused)", rec.Code, rec.Body, len(entries), refused)
	}
}

// FuzzSignature feeds arbitrary signature and timestamp headers and bodies
// to both formats' verifier. It accepts only the real signature of the
// (trimmed) timestamp and the body under the source's key — bare hex, or
// after a "sha256=" prefix in any case — with a timestamp within the
// tolerance, and returns it as lower-case hex (the replay cache's key);
// every refusal is one of the documented reasons.
func FuzzSignature(f *testing.F) {
	body := []byte(`{"employees":[]}`)
	for form := range 4 {
		ts := fuzzTimestamp(fuzzNow, form)
		f.Add(false, Sign(hrconfig.FormatBambooHR, bambooKey, ts, body), ts, body)
		f.Add(true, "sha256="+Sign(hrconfig.FormatGeneric, sfKey, ts, body), ts, body)
	}
	f.Add(true, " SHA256="+strings.ToUpper(Sign(hrconfig.FormatGeneric, sfKey, "1764096120", body))+" ", " 1764096120 ", body)
	f.Add(false, "sha256=zz", "yesterday", body)
	f.Add(false, "", "", []byte{})
	f.Fuzz(func(t *testing.T, generic bool, sigHeader, tsHeader string, body []byte) {
		cfg := testConfig()
		w, key := cfg.Webhooks["bamboohr"], bambooKey
		if generic {
			w, key = cfg.Webhooks["successfactors"], sfKey
		}
		v := newVerifier(w)
		h := http.Header{}
		h.Set(v.sigHeader, sigHeader)
		h.Set(v.tsHeader, tsHeader)
		got, err := v.verify(h, body, fuzzNow)
		if err != nil {
			for _, known := range []error{errUnsigned, errBadTimestamp, errBadSignature, errStale} {
				if errors.Is(err, known) {
					return
				}
			}
			t.Fatalf("unknown refusal %v", err)
		}
		sig, ts := strings.TrimSpace(h.Get(v.sigHeader)), strings.TrimSpace(h.Get(v.tsHeader))
		if len(sig) > 7 && strings.EqualFold(sig[:7], "sha256=") {
			sig = sig[7:]
		}
		if !strings.EqualFold(sig, Sign(w.Format, key, ts, body)) || got != strings.ToLower(sig) {
			t.Fatalf("accepted signature %q (key %q) for timestamp %q", sigHeader, got, tsHeader)
		}
		at, err := parseTimestamp(ts)
		if d := fuzzNow.Sub(at); err != nil || d > w.EffectiveTolerance() || d < -w.EffectiveTolerance() {
			t.Fatalf("accepted timestamp %q (%v, %v)", tsHeader, at, err)
		}
	})
}

// roundTrip answers every request with the body fn gives for it.
type roundTrip func(*http.Request) []byte

func (fn roundTrip) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(fn(req))), Request: req}, nil
}

// checkStats checks that every row was counted once.
func checkStats(t *testing.T, st PollStats, events int) {
	t.Helper()
	applied := 0
	for _, n := range st.Outcomes {
		applied += n
	}
	if st.Rows != st.Skipped+st.Refused+st.Failed+applied || applied != events {
		t.Fatalf("stats %+v for %d events", st, events)
	}
}

// FuzzPollBambooHR answers a BambooHR poller's "changed since" request and
// every employee request with arbitrary JSON. A poll never stops at a bad
// row and counts each once; every event keeps the store's contract and,
// on a first poll (nobody known to be terminated), is a termination; the
// cursor starts max_past back and only moves forward, and only after a
// round without errors; a second poll of the same answers yields the same
// events.
func FuzzPollBambooHR(f *testing.F) {
	f.Add([]byte(`{"latest":"2026-11-25T18:40:00+00:00","employees":{"101":{"id":"101","action":"Updated","lastChanged":"2026-11-25T18:39:00+00:00"}}}`),
		[]byte(`{"id":"101","employeeNumber":"E1","status":"Inactive","terminationDate":"2026-12-04","hireDate":"2020-01-06","workEmail":"e1@example.test"}`))
	f.Add([]byte(`{"employees":[{"id":7,"action":"Inserted"},{"id":"8","action":"Deleted"}]}`),
		[]byte(`{"employeeNumber":"E2","status":"Active","terminationDate":"0000-00-00"}`))
	f.Add([]byte(`{"employees":{}}`), []byte(`{}`))
	f.Add([]byte(`{"employees":null,"latest":"yesterday"}`), []byte(`not json`))
	f.Add([]byte(`[]`), []byte{})
	f.Fuzz(func(t *testing.T, changed, employee []byte) {
		eng := &recordingEngine{}
		pc := &hrconfig.Poller{Format: hrconfig.FormatBambooHRChanged, Company: "acme", APIKey: secret.FromValue("bamboo-api-key"),
			BaseURL: "https://acme.bamboohr.example", Fields: &hrconfig.Fields{EmployeeID: "employeeNumber"}}
		timing := engine.HRTiming{MaxPast: 30 * 24 * time.Hour}
		p := NewPoller("bamboohr-poll", pc, timing, eng, nil, Options{Formats: table.PollerFormats(), Log: discardLog(), Now: func() time.Time { return fuzzNow }})
		p.client = &http.Client{Transport: roundTrip(func(req *http.Request) []byte {
			if strings.Contains(req.URL.Path, "/employees/changed/") {
				return changed
			}
			return employee
		})}
		start := fuzzNow.Add(-timing.MaxPast).UTC().Truncate(time.Second)
		st, err := p.Poll(context.Background())
		first := eng.calls()
		checkStats(t, st, len(first))
		for _, ev := range first {
			checkParsed(t, ev)
			if ev.Source != "bamboohr-poll" || ev.Kind != hrconfig.KindTerminate {
				t.Fatalf("first poll: a %q event from %q", ev.Kind, ev.Source)
			}
		}
		if (err != nil && !p.since().Equal(start)) || p.since().Before(start) {
			t.Fatalf("cursor %v after a poll (error %v) starting at %v", p.since(), err, start)
		}
		before := p.since()
		st2, err2 := p.Poll(context.Background())
		second := eng.calls()[len(first):]
		checkStats(t, st2, len(second))
		if (err == nil) != (err2 == nil) || !reflect.DeepEqual(first, second) {
			t.Fatalf("the same answers polled again: %v then %v; events %+v then %+v", err, err2, first, second)
		}
		if p.since().Before(before) {
			t.Fatalf("cursor moved back from %v to %v", before, p.since())
		}
	})
}

// FuzzPollWorkday answers a Workday RaaS poller with an arbitrary report.
// A report without Report_Entry or that is not JSON is an error and
// applies nothing; otherwise every row is counted once, and every event
// keeps the store's contract and carries the row's derived event id.
func FuzzPollWorkday(f *testing.F) {
	f.Add([]byte(`{"Report_Entry":[{"Event_WID":"a1b2","Business_Process":"Terminate Employee","Employee_ID":"E1","Email":"e1@example.test",` +
		`"Termination_Date":"2026-12-04-08:00","Involuntary":"0","Reason":"Resignation"}]}`))
	f.Add([]byte(`{"Report_Entry":[{"Business_Process":"Rescind Termination","Employee_ID":"E1","Termination_Date":"2026-12-04"},` +
		`{"Business_Process":"Hire","Employee_ID":"E2"},{"Employee_ID":["x"]},7]}`))
	f.Add([]byte(`{"Report_Entry":[]}`))
	f.Add([]byte(`{"Report_Entry":null}`))
	f.Add([]byte(`<wd:Report_Data xmlns:wd="urn:com.workday.report/Kinetic"/>`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, report []byte) {
		eng := &recordingEngine{}
		pc := workdayPoller("https://wd.example.test")
		p := NewPoller("workday", pc, engine.HRTiming{}, eng, nil, Options{Formats: table.PollerFormats(), Log: discardLog(), Now: func() time.Time { return fuzzNow }})
		p.client = &http.Client{Transport: roundTrip(func(*http.Request) []byte { return report })}
		st, err := p.Poll(context.Background())
		events := eng.calls()
		var doc struct {
			Entries *[]json.RawMessage `json:"Report_Entry"`
		}
		if json.Unmarshal(report, &doc) != nil || doc.Entries == nil {
			if err == nil || st.Rows != 0 || len(events) != 0 {
				t.Fatalf("a report without Report_Entry: %v, %+v, %d events", err, st, len(events))
			}
			return
		}
		if err != nil || st.Rows != len(*doc.Entries) || st.Skipped != 0 || st.Failed != 0 {
			t.Fatalf("report of %d rows: %v, %+v", len(*doc.Entries), err, st)
		}
		checkStats(t, st, len(events))
		for _, ev := range events {
			checkParsed(t, ev)
			id := ":" + ev.Kind + ":" + ev.Date
			if ev.Time != "" {
				id += "T" + ev.Time
			}
			if ev.Source != "workday" || ev.EventID == "" || !strings.HasSuffix(ev.EventID, id) && len(ev.EventID) != maxEventID {
				t.Fatalf("event %q from %q", ev.EventID, ev.Source)
			}
		}
	})
}
