package hr

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/bot/hr/hrconfig"
	"github.com/kineticsec/kinetic/internal/compose/table"
	"github.com/kineticsec/kinetic/internal/secret"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// redisDB is this package's Redis database (see testenv.RedisAddr).
const redisDB = 5

const (
	bambooKey = "bamboo-private-key-1234"
	sfKey     = "sf-hmac-key-5678"
)

var newYork = mustZone("America/New_York")

func mustZone(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// localDate is the calendar date d days after now in New York.
func localDate(now time.Time, d int) string {
	return now.In(newYork).AddDate(0, 0, d).Format(time.DateOnly)
}

// at17NY is 17:00 in New York on date, in UTC.
func at17NY(t *testing.T, date string) time.Time {
	t.Helper()
	at, err := time.ParseInLocation("2006-01-02 15:04", date+" 17:00", newYork)
	if err != nil {
		t.Fatal(err)
	}
	return at.UTC()
}

// testConfig has a BambooHR webhook and a generic one mapped like a
// SuccessFactors Integration Center payload, with the table's formats.
func testConfig() *hrconfig.Config {
	return (&hrconfig.Config{
		Webhooks: map[string]*hrconfig.Webhook{
			// The kit's directory keys people by what BambooHR calls the
			// employee number.
			"bamboohr": {Format: hrconfig.FormatBambooHR, Secret: secret.FromValue(bambooKey), Fields: &hrconfig.Fields{EmployeeID: "employeeNumber"}},
			"successfactors": {Format: hrconfig.FormatGeneric, Secret: secret.FromValue(sfKey),
				SignatureHeader: "X-Signature", TimestampHeader: "X-Timestamp", IDHeader: "X-Event-Id",
				Fields: &hrconfig.Fields{EventID: "eventId", Kind: "eventType", EmployeeID: "userId", Email: "email",
					Date: "endDate", Time: "endTime", Involuntary: "involuntary", Reason: "reason"},
				Kinds: map[string]string{"EmployeeTermination": "terminate", "TerminationRescinded": "rescind", "Rehire": "rehire"}},
		},
	}).Use(table.PollerFormats()...).UseWebhooks(table.WebhookFormats()...)
}

// env is a test Kinetic with the HR handler mounted.
type env struct {
	t   *testing.T
	kit *testkit.Kit
	cfg *hrconfig.Config
	mux *http.ServeMux
	now func() time.Time
	log *lockedBuffer
	// posts offsets each signed post's timestamp by a second, so that two
	// posts of the same body are two deliveries, not a replay.
	posts int
}

func (e *env) stamp() string {
	e.posts++
	return unixTS(e.now().Add(time.Duration(e.posts) * time.Second))
}

type lockedBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.String()
}

// newEnv builds a kit (engine clock now, when set) and the handler (same
// clock). Log lines go to env.log.
func newEnv(t *testing.T, cfg *hrconfig.Config, now func() time.Time) *env {
	t.Helper()
	if err := cfg.Use(table.PollerFormats()...).UseWebhooks(table.WebhookFormats()...).Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	k := testkit.New(t, testkit.Options{RedisDB: redisDB, Now: now})
	if now == nil {
		now = time.Now
	}
	buf := &lockedBuffer{}
	l := logrus.New()
	l.Out = buf
	l.Level = logrus.DebugLevel
	e := &env{t: t, kit: k, cfg: cfg, mux: http.NewServeMux(), now: now, log: buf}
	NewHandler(cfg, k.Engine, Options{Log: logrus.NewEntry(l), Now: now}).Mount(e.mux)
	return e
}

func (e *env) do(source string, body []byte, hdr http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/hr/webhooks/"+source, bytes.NewReader(body))
	req.RemoteAddr = "203.0.113.7:4321"
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	rec := httptest.NewRecorder()
	e.mux.ServeHTTP(rec, req)
	return rec
}

func unixTS(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// bambooHeaders signs body like BambooHR at ts.
func bambooHeaders(key, ts string, body []byte) http.Header {
	return hdr("Content-Type", "application/json", BambooHRSignatureHeader, Sign(hrconfig.FormatBambooHR, key, ts, body), BambooHRTimestampHeader, ts)
}

// hdr builds canonical headers from name, value pairs.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// sfHeaders signs body like the generic scheme at ts.
func sfHeaders(key, ts string, body []byte) http.Header {
	return hdr("Content-Type", "application/json", "X-Signature", "sha256="+Sign(hrconfig.FormatGeneric, key, ts, body), "X-Timestamp", ts)
}

// postBamboo posts a signed BambooHR webhook now.
func (e *env) postBamboo(body []byte) *httptest.ResponseRecorder {
	return e.do("bamboohr", body, bambooHeaders(bambooKey, e.stamp(), body))
}

// postSF posts a signed generic event now, with an event id header when
// id is not empty.
func (e *env) postSF(body []byte, id string) *httptest.ResponseRecorder {
	h := sfHeaders(sfKey, e.stamp(), body)
	if id != "" {
		h.Set("X-Event-Id", id)
	}
	return e.do("successfactors", body, h)
}

func (e *env) count(model any, where string, args ...any) int64 {
	return e.kit.Count(e.t, model, where, args...)
}

// nothingRecorded fails unless no case and no HR event record exist.
func (e *env) nothingRecorded() {
	e.t.Helper()
	if n := e.count(&store.Case{}, ""); n != 0 {
		e.t.Errorf("%d cases, want none", n)
	}
	if n := e.count(&store.HREventRecord{}, ""); n != 0 {
		e.t.Errorf("%d HR event records, want none", n)
	}
}

func (e *env) reload(id int64) *store.Case {
	e.t.Helper()
	c, err := e.kit.Store.CaseWithActions(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func decodeResult(t *testing.T, rec *httptest.ResponseRecorder) Result {
	t.Helper()
	var r Result
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("answer %d %q: %v", rec.Code, rec.Body.String(), err)
	}
	return r
}

func decodeResults(t *testing.T, rec *httptest.ResponseRecorder) []Result {
	t.Helper()
	var r []Result
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("answer %d %q: %v", rec.Code, rec.Body.String(), err)
	}
	return r
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// bambooBody is a field-based BambooHR webhook with one employee per entry.
func bambooBody(t testing.TB, entries ...map[string]any) []byte {
	return mustJSON(t, map[string]any{"employees": entries})
}

func bambooEmp(id, employeeNumber, status, terminationDate string, changed ...string) map[string]any {
	return map[string]any{
		"id": id, "action": "Updated", "timestamp": "2026-11-25T18:42:00+0000", "changedFields": changed,
		"fields": map[string]any{"employeeNumber": employeeNumber, "status": status, "terminationDate": terminationDate,
			"workEmail": strings.ToLower(employeeNumber) + "@example.test"},
	}
}
