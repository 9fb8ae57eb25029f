package bot_test

import (
	"context"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/kineticsec/kinetic/bot"
	"github.com/kineticsec/kinetic/internal/reqid"
	"github.com/kineticsec/kinetic/internal/telemetry"
)

// TestTracingSpanPerRequestWithTraceIDInTheAccessLog installs an
// in-memory exporter as the global provider (so it is not parallel) and
// checks a request's server span carries its route and request id, and
// the access log line names its trace.
func TestTracingSpanPerRequestWithTraceIDInTheAccessLog(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	stop := telemetry.Install(sdktrace.NewSimpleSpanProcessor(exp), "kinetic-test")
	t.Cleanup(func() {
		_ = stop(context.Background())
		otel.SetTracerProvider(noop.NewTracerProvider())
	})
	s := newOpsServer(t)
	// The caller's W3C trace context is continued.
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	resp, _ := s.get(t, bot.QueuesPath+"/api/queues", "ops-token", map[string]string{"traceparent": parent, reqid.Header: "trace-me"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1: %v", len(spans), spans)
	}
	sp := spans[0]
	if sp.Name != bot.QueuesPath+"/" {
		t.Errorf("span name %q, want the route", sp.Name)
	}
	if got := sp.SpanContext.TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("trace id %s does not continue the caller's", got)
	}
	attrs := map[string]string{}
	for _, kv := range sp.Attributes {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	if attrs["kinetic.request_id"] != "trace-me" || attrs["http.route"] != bot.QueuesPath+"/" {
		t.Errorf("span attributes %v", attrs)
	}
	lines := s.accessLines(t)
	if last := lines[len(lines)-1]; last["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" || last["request_id"] != "trace-me" {
		t.Errorf("access line %v has not the trace and request ids", last)
	}
}
