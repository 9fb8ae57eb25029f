// Package telemetry sets up OpenTelemetry tracing from the standard OTEL_
// environment variables and links traces to the logs. Tracing is off
// unless OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
// is set, or OTEL_TRACES_EXPORTER names otlp; OTEL_TRACES_EXPORTER=none
// (or OTEL_SDK_DISABLED=true) keeps it off. The OTLP/HTTP exporter reads
// the rest (headers, protocol details, timeouts) from the same variables:
// https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sirupsen/logrus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// Enabled reports whether getenv's OTEL_ variables ask for traces.
func Enabled(getenv func(string) string) bool {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	switch exp := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER"))); exp {
	case "none":
		return false
	case "otlp":
		return true
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Setup installs the global tracer provider (OTLP over HTTP, batched) and
// the W3C trace-context propagator when Enabled; otherwise it changes
// nothing and every span is a no-op. The returned function flushes and
// stops the exporter.
func Setup(ctx context.Context, getenv func(string) string, service string) (func(context.Context) error, error) {
	if !Enabled(getenv) {
		return func(context.Context) error { return nil }, nil
	}
	if exp := strings.ToLower(getenv("OTEL_TRACES_EXPORTER")); exp != "" && exp != "otlp" {
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: only otlp or none are supported", exp)
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("OpenTelemetry exporter: %w", err)
	}
	return Install(sdktrace.NewBatchSpanProcessor(exp), service), nil
}

// Install makes a tracer provider over sp the global one, with the W3C
// trace-context propagator, and returns its shutdown (tests pass an
// in-memory exporter's processor).
func Install(sp sdktrace.SpanProcessor, service string) func(context.Context) error {
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(service)))
	if err != nil {
		res = resource.Default()
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return func(ctx context.Context) error { return errors.Join(tp.ForceFlush(ctx), tp.Shutdown(ctx)) }
}

// LogHook adds trace_id and span_id to every log entry whose context
// (logrus's Entry.WithContext) carries a sampled span, so a log line
// leads to its trace.
type LogHook struct{}

// Levels implements logrus.Hook: every level.
func (LogHook) Levels() []logrus.Level { return logrus.AllLevels }

// Fire implements logrus.Hook.
func (LogHook) Fire(e *logrus.Entry) error {
	if e.Context == nil {
		return nil
	}
	if sc := trace.SpanContextFromContext(e.Context); sc.IsValid() {
		e.Data["trace_id"] = sc.TraceID().String()
		e.Data["span_id"] = sc.SpanID().String()
	}
	return nil
}
