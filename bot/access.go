package bot

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/kineticsec/kinetic/internal/reqid"
)

// HTTPMetrics are the server's request collectors: requests and their
// duration by route pattern (the ServeMux pattern that matched, e.g.
// "GET /api/v1/cases/{id}", or "unmatched"), method and status class.
type HTTPMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewHTTPMetrics registers the HTTP collectors on reg, or reuses the ones
// already registered there (two handlers on one registry share them). A
// nil reg records nothing.
func NewHTTPMetrics(reg prometheus.Registerer) *HTTPMetrics {
	if reg == nil {
		return nil
	}
	m := &HTTPMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kinetic_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kinetic_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern and method.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"route", "method"}),
	}
	m.requests = registerOrReuse(reg, m.requests)
	m.duration = registerOrReuse(reg, m.duration)
	return m
}

func registerOrReuse[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if prev, ok := are.ExistingCollector.(C); ok {
				return prev
			}
		}
		panic(err)
	}
	return c
}

func (m *HTTPMetrics) observe(route, method string, code int, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(route, method).Observe(d.Seconds())
}

// requestInfo is what inner handlers learn about a request and the access
// log reports: the authenticated principal.
type requestInfo struct {
	principal string
}

type requestInfoKey struct{}

// notePrincipal records the request's principal for the access log.
func notePrincipal(ctx context.Context, id string) {
	if ri, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		ri.principal = id
	}
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// accessLog gives every request an id (a sane incoming X-Request-Id, else
// a fresh one), echoes it in the response, carries it in the context
// (internal/reqid) and the logger, and after the answer writes one access
// log line and the HTTP metrics by the ServeMux pattern that matched
// (r.Pattern, which the mux sets on the request it was given).
func accessLog(next http.Handler, log *logrus.Entry, m *HTTPMetrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := reqid.Accept(r.Header.Get(reqid.Header))
		w.Header().Set(reqid.Header, id)
		ri := &requestInfo{}
		ctx := context.WithValue(reqid.With(r.Context(), id), requestInfoKey{}, ri)
		r = r.WithContext(ctx)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			d := time.Since(start)
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			m.observe(route, r.Method, status, d)
			span := trace.SpanFromContext(ctx)
			span.SetName(route)
			span.SetAttributes(attribute.String("http.route", route), attribute.String("kinetic.request_id", id))
			f := logrus.Fields{
				"request_id":  id,
				"method":      r.Method,
				"route":       route,
				"status":      status,
				"duration_ms": float64(d.Microseconds()) / 1000,
				"bytes":       sw.bytes,
			}
			if ri.principal != "" {
				f["principal"] = ri.principal
			}
			log.WithContext(ctx).WithFields(f).Info("http request")
		}()
		next.ServeHTTP(sw, r)
	})
}

// Requests returns the request counter of one route, method and status
// code (for tests and dashboards' checks).
func (m *HTTPMetrics) Requests(route, method, code string) prometheus.Counter {
	return m.requests.WithLabelValues(route, method, code)
}

// traced starts a server span per request (otelhttp: W3C trace context
// from the caller, method, status); accessLog renames it to the route.
// Without a tracer provider (internal/telemetry) the span is a no-op.
func traced(h http.Handler) http.Handler {
	return otelhttp.NewHandler(h, "http.request")
}
