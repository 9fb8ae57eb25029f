package bot_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kineticsec/kinetic/bot"
	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// TestAPIBodiesAreStrict: every refused body answers 400 (413 when the
// document does not fit in 64 KiB), never 500, never echoes more than a
// clipped piece of itself, and opens nothing. Each row was accepted, or
// answered 500 on PostgreSQL, or echoed its input, before.
func TestAPIBodiesAreStrict(t *testing.T) {
	s := newServer(t, testkit.Options{}, false)
	h := bot.NewHandler(bot.ServerOptions{Engine: s.k.Engine, APITokens: map[string]string{"hris": token}})
	huge := strings.Repeat("E", 60000)
	for _, tc := range []struct {
		name, path, body string
		status           int
		want             string
	}{
		{"a document followed by 70 KB of spaces and 10 MB of garbage", "/api/v1/cases",
			`{"employee_id":"E1"}` + strings.Repeat(" ", 70<<10) + strings.Repeat("garbage!", 10<<17), 400, "trailing data"},
		{"a document followed by whitespace and garbage within the limit", "/api/v1/cases", `{"employee_id":"E1"}` + "   \n x", 400, "trailing data"},
		{"a document over 64 KiB", "/api/v1/cases", `{"employee_id":"E1","reason":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "body over 65536 bytes"},
		{"a NUL in the reason", "/api/v1/cases", `{"employee_id":"E1","reason":"a\u0000b"}`, 400, "NUL"},
		{"invalid UTF-8 in the reason", "/api/v1/cases", "{\"employee_id\":\"E1\",\"reason\":\"\xc3\x28\"}", 400, "UTF-8"},
		{"a 60,000-character idempotency key", "/api/v1/cases", `{"employee_id":"E1","idempotency_key":"` + strings.Repeat("k", 60000) + `"}`, 400, "idempotency_key is longer than 128 bytes"},
		{"a 60 KB employee id", "/api/v1/cases", `{"employee_id":"` + huge + `"}`, 400, "employee_id is longer than 128 bytes"},
		{"an employee id at its limit that is unknown", "/api/v1/cases", `{"employee_id":"` + strings.Repeat("E", 128) + `"}`, 404, "not in the HR directory"},
		{"an email over its column", "/api/v1/cases", `{"email":"` + strings.Repeat("a", 320) + `@x"}`, 400, "email is longer than 320 bytes"},
		{"a requester over its column", "/api/v1/cases", `{"employee_id":"E1","requested_by":"` + strings.Repeat("M", 129) + `"}`, 400, "requested_by is longer than 128 bytes"},
		{"an exception's reason over its column", "/api/v1/cases", `{"employee_id":"E1","exceptions":[{"kind":"late_laptop","as":"M1","reason":"` + strings.Repeat("r", 1001) + `"}]}`, 400, "exceptions[0].reason is longer than 1000 bytes"},
		{"employee_id twice", "/api/v1/cases", `{"employee_id":"E2","employee_id":"E1"}`, 400, `duplicate key \"employee_id\"`},
		{"employee_id and Employee_ID", "/api/v1/cases", `{"employee_id":"E2","Employee_ID":"E1"}`, 400, `duplicate key \"Employee_ID\"`},
		{"an unknown 60 KB field name", "/api/v1/cases", `{"` + huge + `":1}`, 400, "unknown field"},
		{"a decision naming two people", "/api/v1/approvals/1/approve", `{"as":"X1","as":"M1"}`, 400, `duplicate key \"as\"`},
		{"a decision with a NUL", "/api/v1/approvals/1/approve", `{"as":"M1","reason":"\u0000"}`, 400, "NUL"},
		{"a decision over 64 KiB", "/api/v1/batches/1/deny", `{"as":"M1","reason":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "body over"},
		{"a decision with trailing data", "/api/v1/actions/1/retry", `{"as":"M1"}` + strings.Repeat(" ", 70<<10) + "x", 400, "trailing data"},
		{"an exception with a long forward_to", "/api/v1/cases/1/exceptions", `{"kind":"email_forwarding","as":"M1","forward_to":"` + strings.Repeat("f", 400) + `"}`, 400, "forward_to is longer than 320 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", tc.path, strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer "+token)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %.300s", rec.Code, tc.status, rec.Body)
			}
			if !strings.Contains(rec.Body.String(), tc.want) {
				t.Errorf("answer lacks %q: %.300s", tc.want, rec.Body)
			}
			if rec.Body.Len() > 700 {
				t.Errorf("answer of %d bytes echoes its input: %.300s", rec.Body.Len(), rec.Body)
			}
		})
	}
	t.Run("query strings", func(t *testing.T) {
		for _, q := range []string{"for=M%001", "status=%ff", "for=" + strings.Repeat("M", 300), "%00=1", "for=%zz"} {
			req := httptest.NewRequest("GET", "/api/v1/approvals?"+q, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusBadRequest || rec.Body.Len() > 300 {
				t.Errorf("?%.40s: status %d, want 400: %.300s", q, rec.Code, rec.Body)
			}
		}
		req := httptest.NewRequest("GET", "/api/v1/approvals?for=M1&status=pending", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Errorf("a plain query: status %d: %s", rec.Code, rec.Body)
		}
	})
	if n := s.cases(t); n != 0 {
		t.Errorf("%d cases opened, want none", n)
	}
}

// TestRequestFieldsFitTheirColumns is the PostgreSQL-shaped check: every
// string an API body carries has a maxlen no longer than the column it is
// stored in (PostgreSQL refuses a longer value with an error, a 500, where
// SQLite keeps it), so the decoder refuses it first with 400.
func TestRequestFieldsFitTheirColumns(t *testing.T) {
	column := func(model any, field string) int {
		f, ok := reflect.TypeOf(model).FieldByName(field)
		if !ok {
			t.Fatalf("%T has no field %s", model, field)
		}
		for _, part := range strings.Split(f.Tag.Get("gorm"), ";") {
			if v, ok := strings.CutPrefix(part, "size:"); ok {
				n, _ := strconv.Atoi(v)
				return n
			}
		}
		t.Fatalf("%T.%s has no size", model, field)
		return 0
	}
	// The engine prefixes an API client's idempotency key with
	// "api:NAME:" and its principal with "api:".
	prefix := len("api:") + configs.MaxAPIClientName + len(":")
	stored := map[reflect.Type]map[string]int{
		reflect.TypeFor[bot.CreateCaseRequest](): {
			"EmployeeID": column(store.Case{}, "EmployeeID"), "Email": column(store.Case{}, "EmployeeEmail"),
			"RequestedBy": column(store.Case{}, "Requester"), "Reason": 1000, // the engine's limit, under the column's
			"EffectiveAt": 64, "IdempotencyKey": column(store.Case{}, "IdempotencyKey") - prefix,
		},
		reflect.TypeFor[bot.DecisionRequest](): {
			"As": column(store.ApprovalDecision{}, "Approver"), "Reason": min(column(store.ApprovalDecision{}, "Reason"), 1000),
		},
		reflect.TypeFor[bot.CancelCaseRequest](): {
			"As": column(store.Case{}, "Requester"), "Reason": 1000, // the engine's limit
		},
		reflect.TypeFor[bot.EquipmentMoveRequest](): {
			"As": column(store.EquipmentTask{}, "StatusBy"), "To": column(store.EquipmentTask{}, "Status"),
			"Note": min(column(store.EquipmentTask{}, "Note"), engine.MaxEquipmentNote), "Reference": column(store.EquipmentTask{}, "Reference"),
		},
		reflect.TypeFor[bot.NoticeAckRequest](): {"As": column(store.Notice{}, "AcknowledgedBy")},
		reflect.TypeFor[bot.ExceptionBody](): {
			"Kind": column(store.Approval{}, "Kind"), "As": column(store.Approval{}, "Requester"),
			"Reason": min(column(store.Approval{}, "Reason"), 1000), "ForwardTo": 320, "Action": column(store.Action{}, "Name"),
		},
	}
	if len("api:")+configs.MaxAPIClientName > column(store.Case{}, "Requester") {
		t.Errorf("an API client's principal may not fit the requester column")
	}
	for typ, limits := range stored {
		for i := range typ.NumField() {
			f := typ.Field(i)
			if f.Type.Kind() != reflect.String {
				continue
			}
			max, ok := limits[f.Name]
			if !ok {
				t.Errorf("%s.%s: no column size known for it in this test", typ, f.Name)
				continue
			}
			got, err := strconv.Atoi(f.Tag.Get("maxlen"))
			if err != nil {
				t.Errorf("%s.%s has no maxlen tag: an oversized value would reach the store", typ, f.Name)
				continue
			}
			if got > max {
				t.Errorf("%s.%s maxlen %d is over what is stored (%d)", typ, f.Name, got, max)
			}
		}
	}
}

// slowServer runs the API on a real listener with short limits.
func slowServer(t *testing.T, limits bot.ServerLimits) string {
	t.Helper()
	s := newServer(t, testkit.Options{}, false)
	h := bot.NewHandler(bot.ServerOptions{Engine: s.k.Engine, APITokens: map[string]string{"hris": token}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bot.Serve(ctx, ln, h, limits, nil) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Serve did not return after its context ended")
		}
	})
	return ln.Addr().String()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// get sends GET /healthz on c (keep-alive) and reads the answer.
func get(t *testing.T, c net.Conn, br *bufio.Reader, within time.Duration) error {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(within))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: kinetic\r\n\r\n"); err != nil {
		return err
	}
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", res.StatusCode)
	}
	return nil
}

// closedWithin reads c until the server closes it, failing if that takes
// longer than within.
func closedWithin(t *testing.T, c net.Conn, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(within))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the connection is still open after %s", within)
	}
	if err != nil && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Logf("closed with %v", err)
	}
	return time.Since(start)
}

// TestServerCutsSlowClients: before, only ReadHeaderTimeout was set, and a
// body trickled at a byte every 2 s or an idle keep-alive connection held a
// connection open for as long as the client liked, unauthenticated, 450 of
// them at once.
func TestServerCutsSlowClients(t *testing.T) {
	limits := bot.ServerLimits{ReadHeaderTimeout: 500 * time.Millisecond, ReadTimeout: time.Second, WriteTimeout: 5 * time.Second,
		IdleTimeout: time.Second, MaxConnections: 50, MaxConnectionsPerClient: 50}

	t.Run("a trickled body is cut off at the read timeout", func(t *testing.T) {
		addr := slowServer(t, limits)
		c := dial(t, addr)
		head := "POST /api/v1/cases HTTP/1.1\r\nHost: kinetic\r\nAuthorization: Bearer " + token + "\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
		if _, err := io.WriteString(c, head); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		defer close(stop)
		go func() { // a byte every 100 ms, until the server hangs up
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := io.WriteString(c, " "); err != nil {
						return
					}
				}
			}
		}()
		if d := closedWithin(t, c, 10*time.Second); d < 500*time.Millisecond {
			t.Errorf("closed after %s, before the read timeout", d)
		}
	})

	t.Run("slow headers are cut off at the header timeout", func(t *testing.T) {
		addr := slowServer(t, limits)
		c := dial(t, addr)
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: kin"); err != nil {
			t.Fatal(err)
		}
		closedWithin(t, c, 10*time.Second)
	})

	t.Run("an idle keep-alive connection is closed at the idle timeout", func(t *testing.T) {
		addr := slowServer(t, limits)
		c := dial(t, addr)
		br := bufio.NewReader(c)
		if err := get(t, c, br, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		closedWithin(t, c, 10*time.Second)
	})

	t.Run("one client gets at most its share of connections", func(t *testing.T) {
		l := limits
		l.IdleTimeout, l.MaxConnectionsPerClient = time.Minute, 3
		addr := slowServer(t, l)
		held := make([]net.Conn, 3)
		for i := range held {
			held[i] = dial(t, addr)
			if err := get(t, held[i], bufio.NewReader(held[i]), 5*time.Second); err != nil {
				t.Fatalf("connection %d: %v", i+1, err)
			}
		}
		for i := range 20 { // the reproduction opened 450
			extra := dial(t, addr)
			if err := get(t, extra, bufio.NewReader(extra), 5*time.Second); err == nil {
				t.Fatalf("connection %d over the cap was served", i+4)
			}
			extra.Close()
		}
		// A closed connection frees its place (the server notices the
		// close on its next read).
		held[0].Close()
		var err error
		testkit.Eventually(t, 10*time.Second, func() bool {
			c := dial(t, addr)
			err = get(t, c, bufio.NewReader(c), 5*time.Second)
			c.Close()
			return err == nil
		}, func() string { return fmt.Sprintf("no place freed after a connection closed: %v", err) })
	})

	t.Run("connections over the overall cap wait for a place", func(t *testing.T) {
		l := limits
		l.IdleTimeout, l.MaxConnections, l.MaxConnectionsPerClient = time.Minute, 2, 2
		addr := slowServer(t, l)
		a, b := dial(t, addr), dial(t, addr)
		for _, c := range []net.Conn{a, b} {
			if err := get(t, c, bufio.NewReader(c), 5*time.Second); err != nil {
				t.Fatal(err)
			}
		}
		waiting := dial(t, addr)
		br := bufio.NewReader(waiting)
		if err := get(t, waiting, br, 300*time.Millisecond); err == nil {
			t.Fatal("a third connection was served while two are open")
		}
		a.Close()
		// The request written above is answered once a place is free.
		_ = waiting.SetDeadline(time.Now().Add(10 * time.Second))
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("the waiting connection was not served after a place freed: %v", err)
		}
		res.Body.Close()
	})
}

func TestMetricsToken(t *testing.T) {
	s := newServer(t, testkit.Options{}, false)
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "kinetic_test_total", Help: "test"}))
	const metricsToken = "metrics-token-5e1d"
	for name, h := range map[string]http.Handler{
		"the API listener":   bot.NewHandler(bot.ServerOptions{Engine: s.k.Engine, Metrics: reg, MetricsToken: metricsToken}),
		"a worker's probes":  bot.NewHandler(bot.ServerOptions{Engine: s.k.Engine, Metrics: reg, MetricsToken: metricsToken, ProbesOnly: true}),
		"a metrics listener": bot.MetricsMux(reg, metricsToken),
	} {
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct {
				auth   string
				status int
			}{
				{"", 401}, {"Bearer wrong", 401}, {"Bearer " + metricsToken[:len(metricsToken)-1], 401}, {"Basic " + metricsToken, 401},
				{"Bearer " + metricsToken, 200}, {"bearer " + metricsToken, 200},
			} {
				req := httptest.NewRequest("GET", "/metrics", nil)
				if tc.auth != "" {
					req.Header.Set("Authorization", tc.auth)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != tc.status {
					t.Errorf("Authorization %q: status %d, want %d", tc.auth, rec.Code, tc.status)
				}
				if got := strings.Contains(rec.Body.String(), "kinetic_test_total"); got != (tc.status == 200) {
					t.Errorf("Authorization %q: metrics shown %v", tc.auth, got)
				}
				if strings.Contains(rec.Body.String(), metricsToken) {
					t.Errorf("the answer shows the token")
				}
			}
		})
	}
	t.Run("without Metrics the API listener serves none", func(t *testing.T) {
		h := bot.NewHandler(bot.ServerOptions{Engine: s.k.Engine})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		if rec.Code != http.StatusNotFound {
			t.Errorf("status %d, want 404", rec.Code)
		}
	})
	t.Run("a metrics listener serves nothing else", func(t *testing.T) {
		rec := httptest.NewRecorder()
		bot.MetricsMux(reg, "").ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/cases", strings.NewReader(`{}`)))
		if rec.Code != http.StatusNotFound {
			t.Errorf("status %d, want 404", rec.Code)
		}
	})
}
