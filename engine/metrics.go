package engine

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/store"
)

// Metrics are the engine's Prometheus collectors. A nil *Metrics records
// nothing.
type Metrics struct {
	actions   *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	critical  prometheus.Histogram
	cases     *prometheus.HistogramVec
	recovered *prometheus.CounterVec
	residual  *prometheus.CounterVec
}

// NewMetrics registers the engine's collectors on reg, plus a collector that
// reports the current number of actions by connector and status from st
// in every scrape (see NewMetricsWith to export it from one process).
func NewMetrics(reg prometheus.Registerer, st *store.Store) *Metrics {
	return NewMetricsWith(reg, st, MetricsOptions{})
}

// MetricsOptions tune NewMetricsWith.
type MetricsOptions struct {
	// Leader, when set, is asked at each scrape whether this process
	// exports the database-wide gauges (kinetic_actions): only the one
	// that holds the lease does (jobs.MetricsLeader), so sum() over every
	// process counts each action once. Nil: always (one process).
	Leader func(context.Context) bool
}

// NewMetricsWith is NewMetrics with options.
func NewMetricsWith(reg prometheus.Registerer, st *store.Store, o MetricsOptions) *Metrics {
	m := &Metrics{
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kinetic_actions_finished_total",
			Help: "Actions that reached a final status, by connector, operation and status.",
		}, []string{"connector", "operation", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kinetic_action_call_seconds",
			Help:    "Time of one connector call with its read-back verification.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"connector", "operation"}),
		critical: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kinetic_case_critical_seconds",
			Help:    "Time from a case's effective time until every critical action was final, retries included (0 when before it).",
			Buckets: prometheus.ExponentialBuckets(0.1, 2, 16),
		}),
		cases: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kinetic_case_duration_seconds",
			Help:    "Time from a case's start until it closed, by final status.",
			Buckets: prometheus.ExponentialBuckets(0.1, 2, 16),
		}, []string{"status"}),
		recovered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kinetic_actions_recovered_total",
			Help: "Actions taken back for another attempt, by reason: lease_expired and task_lost (the recovery sweep), handed_back (a worker shutting down).",
		}, []string{"reason"}),
	}
	m.residual = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kinetic_residual_access_found_total",
		Help: "Residual access reconciliation found after a case closed, by connector and kind (verify, lookup, orphan).",
	}, []string{"connector", "kind"})
	for _, r := range []string{RecoveredLeaseExpired, RecoveredTaskLost, RecoveredHandedBack} {
		m.recovered.WithLabelValues(r)
	}
	reg.MustRegister(m.actions, m.latency, m.critical, m.cases, m.recovered, m.residual, &statusCollector{st: st, leader: o.Leader})
	return m
}

// Reasons kinetic_actions_recovered_total counts.
const (
	RecoveredLeaseExpired = "lease_expired"
	RecoveredTaskLost     = "task_lost"
	RecoveredHandedBack   = "handed_back"
)

// initActions creates, at 0, the label sets of every action the policy
// names, in every final status, and of every final case status, so a
// rate() over them is 0 before their first event instead of absent.
func (m *Metrics) initActions(p *configs.Policy) {
	if m == nil || p == nil {
		return
	}
	for _, d := range p.File.Actions {
		if d == nil || d.Connector == "" {
			continue
		}
		for _, st := range []string{store.ActionSucceeded, store.ActionSkipped, store.ActionFailed, store.ActionCancelled} {
			m.actions.WithLabelValues(d.Connector, d.Operation, st)
		}
		m.latency.WithLabelValues(d.Connector, d.Operation)
	}
}

func (m *Metrics) countAction(connector, op, status string) {
	if m != nil {
		m.actions.WithLabelValues(connector, op, status).Inc()
	}
}

func (m *Metrics) observeCall(connector, op string, d time.Duration) {
	if m != nil {
		m.latency.WithLabelValues(connector, op).Observe(d.Seconds())
	}
}

func (m *Metrics) observeCritical(d time.Duration) {
	if m != nil {
		m.critical.Observe(d.Seconds())
	}
}

func (m *Metrics) observeCase(status string, d time.Duration) {
	if m != nil {
		m.cases.WithLabelValues(status).Observe(d.Seconds())
	}
}

func (m *Metrics) countResidual(connector, kind string) {
	if m != nil {
		m.residual.WithLabelValues(connector, kind).Inc()
	}
}

func (m *Metrics) countRecovered(reason string) {
	if m != nil {
		m.recovered.WithLabelValues(reason).Inc()
	}
}

// statusCollector reads action counts by connector and status from the
// database at scrape time, so every process reports the same truth.
type statusCollector struct {
	st     *store.Store
	leader func(context.Context) bool
}

var actionsDesc = prometheus.NewDesc("kinetic_actions", "Actions by connector and current status.", []string{"connector", "status"}, nil)

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) { ch <- actionsDesc }

func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c.leader != nil && !c.leader(ctx) {
		return // another process exports the database-wide gauges
	}
	counts, err := c.st.ActionCounts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(actionsDesc, err)
		return
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(actionsDesc, prometheus.GaugeValue, float64(n), k[0], k[1])
	}
}
