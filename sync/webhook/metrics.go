package webhook

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// requestsMetric counts webhook requests by provider and outcome.
const requestsMetric = "sluice_gitsync_webhook_requests_total"

// Metrics counts the receiver's requests. A nil *Metrics counts nothing.
type Metrics struct {
	requests *prometheus.CounterVec
}

// NewMetrics creates the counter sluice_gitsync_webhook_requests_total{provider, outcome} and
// registers it with reg (nothing is registered when reg is nil). When reg already holds the
// counter, as when a second receiver is built, that one is used; any other refusal panics, as
// with MustRegister, since it is a programming error. Every provider and outcome pair
// starts at zero, so rates and alerts see the series before the first request.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: requestsMetric,
		Help: "GitSync webhook requests received, by provider and outcome.",
	}, []string{"provider", "outcome"})
	if reg != nil {
		if err := reg.Register(requests); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				panic("register " + requestsMetric + ": " + err.Error())
			}
			existing, ok := already.ExistingCollector.(*prometheus.CounterVec)
			if !ok {
				panic("register " + requestsMetric + ": another collector of that name is registered")
			}
			requests = existing
		}
	}
	for _, p := range append(providerNames(), ProviderUnknown) {
		for _, o := range outcomes {
			requests.WithLabelValues(p, string(o))
		}
	}
	return &Metrics{requests: requests}
}

func (m *Metrics) observe(provider string, outcome Outcome) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(provider, string(outcome)).Inc()
}

func providerNames() []string {
	names := make([]string, 0, len(providers))
	for _, p := range providers {
		names = append(names, p.name)
	}
	return names
}
