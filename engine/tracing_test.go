package engine_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/telemetry"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// TestSpansPerActionConnectorCallAndTransition runs one departure with an
// in-memory exporter as the global provider: every action has an
// "action" span with a "connector.do" child, and the case's start and
// close are "case.transition" spans.
func TestSpansPerActionConnectorCallAndTransition(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	stop := telemetry.Install(sdktrace.NewSimpleSpanProcessor(exp), "kinetic-test")
	t.Cleanup(func() {
		_ = stop(context.Background())
		otel.SetTracerProvider(noop.NewTracerProvider())
	})
	k := testkit.New(t, testkit.Options{RedisDB: redisDB})
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "M1", Reason: "resigned"})
	c = k.WaitClosed(t, c.ID, 30*time.Second)
	actionSpans := map[int64]sdktrace.ReadOnlySpan{}
	doParents := map[string]bool{}
	transitions := map[string]bool{}
	for _, s := range exp.GetSpans().Snapshots() {
		attrs := map[string]any{}
		for _, kv := range s.Attributes() {
			attrs[string(kv.Key)] = kv.Value.AsInterface()
		}
		switch s.Name() {
		case "action":
			if id, ok := attrs["kinetic.action_id"].(int64); ok {
				actionSpans[id] = s
			}
		case "connector.do":
			doParents[s.Parent().SpanID().String()] = true
		case "case.transition":
			if attrs["kinetic.case_id"] == c.ID {
				transitions[attrs["kinetic.to"].(string)] = true
			}
		}
	}
	for _, a := range c.Actions {
		s, ok := actionSpans[a.ID]
		if !ok {
			t.Errorf("no action span for %s", a.Name)
			continue
		}
		if a.Status == store.ActionSucceeded && !doParents[s.SpanContext().SpanID().String()] {
			t.Errorf("action %s has no connector.do child span", a.Name)
		}
	}
	if !transitions[store.CaseRunning] || !transitions[c.Status] {
		t.Errorf("case transitions traced: %v, want running and %s", transitions, c.Status)
	}
}
