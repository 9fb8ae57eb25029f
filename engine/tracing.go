package engine

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// tracer makes the engine's spans: one per action execution ("action"),
// per connector call ("connector.do", "connector.verify") and per case
// transition ("case.transition"). It is the global provider's, a no-op
// unless internal/telemetry installed one.
var tracer = otel.Tracer("github.com/kineticsec/kinetic/engine")

// endSpan records err (its kind only: connector errors may name accounts,
// never secrets, but the status message stays short) and ends span.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, "error")
		span.RecordError(err)
	}
	span.End()
}
