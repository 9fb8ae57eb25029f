package signals

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kineticsec/kinetic/store"
)

var outboxDesc = prometheus.NewDesc("kinetic_signals_outbox", "Security Event Tokens in the outbox by status (pending, delivered, failed).", []string{"status"}, nil)

// OutboxCollector reports the outbox's rows by status at scrape time: a
// growing pending count is a receiver that does not accept, failed rows
// were refused for good (docs/signals.md).
type OutboxCollector struct{ Store *store.Store }

// Describe implements prometheus.Collector.
func (c OutboxCollector) Describe(ch chan<- *prometheus.Desc) { ch <- outboxDesc }

// Collect implements prometheus.Collector.
func (c OutboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.Store.CountSignals(ctx)
	if err != nil {
		return
	}
	for _, s := range []string{store.SignalPending, store.SignalDelivered, store.SignalFailed} {
		ch <- prometheus.MustNewConstMetric(outboxDesc, prometheus.GaugeValue, float64(counts[s]), s)
	}
}
