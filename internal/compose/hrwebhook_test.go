package compose_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/bot/hr"
	"github.com/kineticsec/kinetic/bot/hr/hrconfig"
	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/compose"
)

// --- An HR webhook format written in the test, as a vendor package would
// export it: its validation, its signature check (HMAC-SHA256 of
// "<timestamp>\n<body>" in fixed headers) and its parsing (one JSON event
// mapped with the webhook's fields, as generic's).

const (
	hookSigHeader = "X-Hook-Signature"
	hookTSHeader  = "X-Hook-Time"
)

func hookMessage(ts string, body []byte) []byte { return append([]byte(ts+"\n"), body...) }

func signedJSONFormat() hrconfig.WebhookFormat {
	return hrconfig.WebhookFormat{
		Format: "signed_json",
		Validate: func(path string, w *hrconfig.Webhook, add func(field, format string, args ...any)) {
			hrconfig.NotFor(path, "signed_json", map[string]bool{"signature_header": w.SignatureHeader != "",
				"timestamp_header": w.TimestampHeader != "", "id_header": w.IDHeader != ""}, add)
			hrconfig.ValidateMapping(path, w.Fields, w.Kinds, w.Kind, add)
		},
		Verify: func(w *hrconfig.Webhook, h http.Header, body []byte, now time.Time) (string, error) {
			return hrconfig.HMAC{Key: []byte(w.Secret.Value()), SignatureHeader: hookSigHeader, TimestampHeader: hookTSHeader,
				Tolerance: w.EffectiveTolerance(), Message: hookMessage}.Verify(h, body, now)
		},
		Parse: func(source string, w *hrconfig.Webhook, _ http.Header, body []byte) (hrconfig.Parsed, error) {
			ev, err := hrconfig.ParseGeneric(source, body, "", w.Mapping())
			if err != nil {
				return hrconfig.Parsed{}, err
			}
			return hrconfig.Parsed{Entries: []hrconfig.Entry{{Event: &ev}}}, nil
		},
	}
}

const hookService = `policy: p.yaml
redis: {embedded: true}
hr:
  webhooks:
    hris:
      format: signed_json
      secret: {env: KINETIC_TEST_HOOK_SECRET}
      kind: terminate
      fields: {employee_id: worker.id, date: worker.last_day}
%EXTRA%`

// Adding an HR webhook format is its descriptor (above) plus one line in
// the table: a service file naming it is then loaded and validated with
// file:line:key, and bot/hr's handler verifies a request with it and turns
// the event into a case.
func TestAddHRWebhookFormatIsOneDescriptorAndOneTableLine(t *testing.T) {
	const key = "hook-SECRET-1"
	t.Setenv("KINETIC_TEST_HOOK_SECRET", key)
	yaml := func(extra string) []byte { return []byte(strings.ReplaceAll(hookService, "%EXTRA%", extra)) }

	tables := compose.All()
	tables.WebhookFormats = append(tables.WebhookFormats, signedJSONFormat()) // the one line

	svc, err := tables.ParseService("svc.yaml", yaml(""))
	if err != nil {
		t.Fatalf("ParseService: %v", err)
	}
	hc := hrconfig.ConfigOf(svc.HR)
	eng := &eventsEngine{}
	l := logrus.New()
	l.Out = io.Discard
	mux := http.NewServeMux()
	hr.NewHandler(hc, eng, hr.Options{Log: logrus.NewEntry(l)}).Mount(mux)

	body := []byte(`{"worker":{"id":"E7","last_day":"2026-12-04"}}`)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	post := func(sig string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/hr/webhooks/hris", bytes.NewReader(body))
		req.Header.Set(hookSigHeader, sig)
		req.Header.Set(hookTSHeader, ts)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec
	}
	good := hrconfig.HMAC{Key: []byte(key), Message: hookMessage}.Sign(ts, body)
	rec := post(good)
	var res hr.Result
	if rec.Code != http.StatusAccepted || json.Unmarshal(rec.Body.Bytes(), &res) != nil || res.Outcome != engine.HROpened || res.CaseID != 1 {
		t.Fatalf("signed request: %d %s; want 202 with the opened case", rec.Code, rec.Body)
	}
	if len(eng.events) != 1 {
		t.Fatalf("engine got %d events, want 1", len(eng.events))
	}
	if ev := eng.events[0]; ev.Source != "hris" || ev.Kind != hrconfig.KindTerminate || ev.EmployeeID != "E7" || ev.Date != "2026-12-04" || string(ev.Payload) != string(body) {
		t.Fatalf("event = %+v", ev)
	}
	if rec := post(good); rec.Code != http.StatusUnauthorized {
		t.Errorf("replay: %d %s, want 401", rec.Code, rec.Body)
	}
	if rec := post(hrconfig.HMAC{Key: []byte("not-the-key"), Message: hookMessage}.Sign(ts, body)); rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), hrconfig.ErrBadSignature.Error()) {
		t.Errorf("forged: %d %s, want 401 invalid signature", rec.Code, rec.Body)
	}
	if len(eng.events) != 1 {
		t.Errorf("refused requests reached the engine: %d events", len(eng.events))
	}

	// The format's own validation, at file:line:key.
	_, err = tables.ParseService("svc.yaml", yaml("      id_header: X-Id\n"))
	var errs *configs.Errors
	if !errors.As(err, &errs) || !strings.Contains(err.Error(), `svc.yaml:10: hr.webhooks.hris.id_header: id_header does not belong to format signed_json`) {
		t.Errorf("format validation: err = %v", err)
	}

	// Without the table line the format is unknown, and the message lists
	// the table's formats as before.
	_, err = compose.ParseService("svc.yaml", yaml(""))
	if err == nil || !strings.Contains(err.Error(), `svc.yaml:6: hr.webhooks.hris.format: unknown format "signed_json" (want bamboohr or generic)`) {
		t.Errorf("without the line: err = %v", err)
	}
	// A configuration loaded without it has no handler for the format
	// either: its requests are refused, never accepted unsigned.
	hc.UseWebhooks(compose.All().WebhookFormats...)
	mux = http.NewServeMux()
	hr.NewHandler(hc, eng, hr.Options{Log: logrus.NewEntry(l)}).Mount(mux)
	if rec := post(good); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("unknown format at the handler: %d %s, want 503", rec.Code, rec.Body)
	}
}
