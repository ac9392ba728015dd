package gitsync

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
)

// metrics are the GitSync controller's Prometheus metrics, labelled by GitSync (namespace/name).
type metrics struct {
	driftTotal   *prometheus.CounterVec
	syncDuration *prometheus.HistogramVec
	revision     *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		driftTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_gitsync_drift_total",
			Help: "Changes of managed objects found to differ from Git, per GitSync.",
		}, []string{"gitsync"}),
		syncDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sluice_gitsync_sync_duration_seconds",
			Help:    "Time of a sync operation, from its start to its end, per GitSync and result.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"gitsync", "result"}),
		revision: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_gitsync_last_applied_revision_info",
			Help: "The revision a GitSync last applied (value 1).",
		}, []string{"gitsync", "revision"}),
	}
	m.driftTotal = register(reg, m.driftTotal)
	m.syncDuration = register(reg, m.syncDuration)
	m.revision = register(reg, m.revision)
	return m
}

// register registers c, or returns the collector already registered under its name (a second
// controller in one process, as tests start).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

func (m *metrics) drift(key types.NamespacedName) {
	if m != nil {
		m.driftTotal.WithLabelValues(key.String()).Inc()
	}
}

func (m *metrics) synced(key types.NamespacedName, result string, d time.Duration) {
	if m != nil {
		m.syncDuration.WithLabelValues(key.String(), result).Observe(d.Seconds())
	}
}

func (m *metrics) applied(key types.NamespacedName, revision string) {
	if m == nil {
		return
	}
	m.revision.DeletePartialMatch(prometheus.Labels{"gitsync": key.String()})
	m.revision.WithLabelValues(key.String(), revision).Set(1)
}

func (m *metrics) forget(key types.NamespacedName) {
	if m == nil {
		return
	}
	m.driftTotal.DeleteLabelValues(key.String())
	m.syncDuration.DeletePartialMatch(prometheus.Labels{"gitsync": key.String()})
	m.revision.DeletePartialMatch(prometheus.Labels{"gitsync": key.String()})
}
