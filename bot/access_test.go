package bot_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/bot"
	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/internal/reqid"
	"github.com/kineticsec/kinetic/internal/telemetry"
)

// opsServer is bot.NewHandler with the queue dashboard over a miniredis,
// a metrics registry and a JSON log captured in a buffer; no engine (the
// routes under test never reach it).
type opsServer struct {
	srv  *httptest.Server
	reg  *prometheus.Registry
	logs *syncBuffer
}

func newOpsServer(t *testing.T) *opsServer {
	t.Helper()
	mr := miniredis.RunT(t)
	q := asynqmon.New(asynqmon.Options{RootPath: bot.QueuesPath, RedisConnOpt: asynq.RedisClientOpt{Addr: mr.Addr()}})
	t.Cleanup(func() { q.Close() })
	logs := &syncBuffer{}
	l := logrus.New()
	l.Out = logs
	l.Formatter = &logrus.JSONFormatter{}
	l.AddHook(reqid.LogHook{})
	l.AddHook(telemetry.LogHook{})
	reg := prometheus.NewRegistry()
	h := bot.NewHandler(bot.ServerOptions{
		Metrics: reg, Log: logrus.NewEntry(l), Queues: q,
		APIClients: map[string]bot.APIClient{
			"ops":    {Token: "ops-token", Scopes: []string{configs.ScopeQueuesOperate}},
			"reader": {Token: "reader-token", Scopes: []string{configs.ScopeCasesRead}},
		},
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &opsServer{srv: srv, reg: reg, logs: logs}
}

func (s *opsServer) get(t *testing.T, path, auth string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// accessLines are the log's "http request" lines.
func (s *opsServer) accessLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace([]byte(s.logs.String())), []byte("\n")) {
		var m map[string]any
		if len(line) == 0 {
			continue
		}
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, line)
		}
		if m["msg"] == "http request" {
			out = append(out, m)
		}
	}
	return out
}

func TestQueueDashboardNeedsOperatorScope(t *testing.T) {
	s := newOpsServer(t)
	for _, tc := range []struct {
		name, path, auth string
		want             int
	}{
		{"no token is 401", bot.QueuesPath + "/", "", http.StatusUnauthorized},
		{"a wrong token is 401", bot.QueuesPath + "/", "nope", http.StatusUnauthorized},
		{"the API without a token is 401", bot.QueuesPath + "/api/queues", "", http.StatusUnauthorized},
		{"a client without queues:operate is 403", bot.QueuesPath + "/", "reader-token", http.StatusForbidden},
		{"its API without queues:operate is 403", bot.QueuesPath + "/api/queues", "reader-token", http.StatusForbidden},
		{"the operator sees the UI", bot.QueuesPath + "/", "ops-token", http.StatusOK},
		{"the root without a slash is the UI", bot.QueuesPath, "ops-token", http.StatusOK},
		{"the operator reads the queues", bot.QueuesPath + "/api/queues", "ops-token", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := s.get(t, tc.path, tc.auth, nil)
			if resp.StatusCode != tc.want {
				t.Fatalf("GET %s = %d, want %d\n%s", tc.path, resp.StatusCode, tc.want, body)
			}
		})
	}
}

func TestQueueDashboardStaticAssetsLoad(t *testing.T) {
	s := newOpsServer(t)
	resp, body := s.get(t, bot.QueuesPath+"/", "ops-token", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("index: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// The page's scripts and styles are rooted under the mount point.
	refs := regexp.MustCompile(`(?:src|href)="(`+regexp.QuoteMeta(bot.QueuesPath)+`/static/[^"]+)"`).FindAllStringSubmatch(string(body), -1)
	if len(refs) == 0 {
		t.Fatalf("the index names no static asset under %s/static:\n%s", bot.QueuesPath, body)
	}
	for _, ref := range refs {
		resp, b := s.get(t, ref[1], "ops-token", nil)
		if resp.StatusCode != http.StatusOK || len(b) == 0 {
			t.Errorf("GET %s = %d (%d bytes)", ref[1], resp.StatusCode, len(b))
		}
		if resp, _ := s.get(t, ref[1], "", nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without a token = %d, want 401", ref[1], resp.StatusCode)
		}
	}
}

func TestAccessLogAndRequestID(t *testing.T) {
	s := newOpsServer(t)
	t.Run("a sane incoming id is kept and echoed", func(t *testing.T) {
		resp, _ := s.get(t, bot.QueuesPath+"/api/queues", "ops-token", map[string]string{reqid.Header: "abc-123.X:y_z"})
		if got := resp.Header.Get(reqid.Header); got != "abc-123.X:y_z" {
			t.Fatalf("echoed id %q", got)
		}
		lines := s.accessLines(t)
		last := lines[len(lines)-1]
		want := map[string]any{"request_id": "abc-123.X:y_z", "method": "GET", "route": bot.QueuesPath + "/", "status": float64(200), "principal": "api:ops"}
		for k, v := range want {
			if last[k] != v {
				t.Errorf("access log %s = %v, want %v (line %v)", k, last[k], v, last)
			}
		}
		if _, ok := last["duration_ms"].(float64); !ok {
			t.Errorf("access log has no duration_ms: %v", last)
		}
	})
	for _, bad := range []string{"has space", "quote\"d", strings.Repeat("a", reqid.MaxLen+1), "new\\nline"} {
		t.Run("an unsafe incoming id is replaced: "+bad[:min(len(bad), 12)], func(t *testing.T) {
			resp, _ := s.get(t, "/healthz", "", map[string]string{reqid.Header: bad})
			got := resp.Header.Get(reqid.Header)
			if got == bad || !reqid.Sane(got) {
				t.Fatalf("id %q for incoming %q", got, bad)
			}
		})
	}
	t.Run("no id gets a fresh one, different each time; 401 is logged without a principal", func(t *testing.T) {
		r1, _ := s.get(t, bot.QueuesPath+"/", "", nil)
		r2, _ := s.get(t, bot.QueuesPath+"/", "", nil)
		a, b := r1.Header.Get(reqid.Header), r2.Header.Get(reqid.Header)
		if a == "" || a == b {
			t.Fatalf("ids %q and %q", a, b)
		}
		lines := s.accessLines(t)
		last := lines[len(lines)-1]
		if last["request_id"] != b || last["status"] != float64(401) || last["principal"] != nil {
			t.Fatalf("access line %v", last)
		}
	})
	t.Run("an unmatched path is logged as unmatched", func(t *testing.T) {
		s.get(t, "/no/such/thing", "", nil)
		lines := s.accessLines(t)
		if last := lines[len(lines)-1]; last["route"] != "unmatched" || last["status"] != float64(404) {
			t.Fatalf("access line %v", last)
		}
	})
	t.Run("the log never has the token", func(t *testing.T) {
		if strings.Contains(s.logs.String(), "ops-token") || strings.Contains(s.logs.String(), "reader-token") {
			t.Fatal("a token is in the log")
		}
	})
}

func TestHTTPMetricsByRouteAndStatus(t *testing.T) {
	s := newOpsServer(t)
	s.get(t, "/healthz", "", nil)
	s.get(t, "/healthz", "", nil)
	s.get(t, bot.QueuesPath+"/api/queues", "reader-token", nil)
	s.get(t, "/nothing/here/42", "", nil)
	for _, tc := range []struct {
		route, method, code string
		want                float64
	}{
		{"GET /healthz", "GET", "200", 2},
		{bot.QueuesPath + "/", "GET", "403", 1},
		{"unmatched", "GET", "404", 1},
	} {
		got := testutil.ToFloat64(counterOf(t, s.reg, tc.route, tc.method, tc.code))
		if got != tc.want {
			t.Errorf("kinetic_http_requests_total{route=%q,code=%q} = %v, want %v", tc.route, tc.code, got, tc.want)
		}
	}
	if n, err := testutil.GatherAndCount(s.reg, "kinetic_http_request_duration_seconds"); err != nil || n == 0 {
		t.Errorf("no duration histogram: %d %v", n, err)
	}
}

// counterOf finds kinetic_http_requests_total's series through a second
// NewHTTPMetrics on the same registry, which reuses the registered one.
func counterOf(t *testing.T, reg *prometheus.Registry, route, method, code string) prometheus.Collector {
	t.Helper()
	return bot.NewHTTPMetrics(reg).Requests(route, method, code)
}
