package analysis

import (
	"errors"
	"fmt"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// ValidateRunSpec checks a run's metrics once their arguments are substituted: unique names,
// one provider each that supported accepts ("provider datadog is not supported"), durations,
// counts and limits that parse, count > 1 only with an interval, conditions that compile, and the
// provider's required fields. supported may be nil to accept every provider type.
func ValidateRunSpec(spec v1alpha1.AnalysisRunSpec, supported func(providerType string) bool) error {
	if len(spec.Metrics) == 0 {
		return errors.New("the run has no metrics")
	}
	seen := map[string]bool{}
	for _, m := range spec.Metrics {
		if seen[m.Name] {
			return fmt.Errorf("metric %q is defined twice", m.Name)
		}
		seen[m.Name] = true
		if err := ValidateMetric(m, supported); err != nil {
			return err
		}
	}
	return nil
}

// ValidateMetric checks one metric; see ValidateRunSpec.
func ValidateMetric(m v1alpha1.Metric, supported func(providerType string) bool) error {
	if m.Name == "" {
		return errors.New("a metric has no name")
	}
	if err := validateMetric(m, supported); err != nil {
		return fmt.Errorf("metric %q: %w", m.Name, err)
	}
	return nil
}

func validateMetric(m v1alpha1.Metric, supported func(string) bool) error {
	typ, err := ProviderType(m.Provider)
	if err != nil {
		return err
	}
	if supported != nil && !supported(typ) {
		return fmt.Errorf("provider %s is not supported", typ)
	}
	interval, err := m.Interval.Duration()
	if err != nil || interval < 0 {
		return fmt.Errorf("interval %q is not a valid duration", m.Interval)
	}
	if d, err := m.InitialDelay.Duration(); err != nil || d < 0 {
		return fmt.Errorf("initialDelay %q is not a valid duration", m.InitialDelay)
	}
	l, err := readLimits(m)
	if err != nil {
		return err
	}
	if l.count < 0 || l.inconclusive < 0 || l.consecutiveError < 0 || l.consecutiveSuccess < 0 || l.failure < -1 {
		return errors.New("count and limits must not be negative (failureLimit may be -1)")
	}
	if l.count > 1 && interval == 0 {
		return fmt.Errorf("interval must be set when count (%d) > 1", l.count)
	}
	for _, c := range [][2]string{{"successCondition", m.SuccessCondition}, {"failureCondition", m.FailureCondition}} {
		if c[1] == "" {
			continue
		}
		if err := CompileCondition(c[1]); err != nil {
			return fmt.Errorf("%s %q: %w", c[0], c[1], err)
		}
	}
	return validateProvider(m.Provider)
}

func validateProvider(p v1alpha1.MetricProvider) error {
	switch {
	case p.Prometheus != nil:
		if p.Prometheus.Address == "" {
			return errors.New("prometheus.address is required")
		}
		if p.Prometheus.Query == "" {
			return errors.New("prometheus.query is required")
		}
		if p.Prometheus.Authentication != nil && p.Prometheus.Authentication.Sigv4 != nil {
			return errors.New("prometheus.authentication.sigv4 is not supported")
		}
	case p.Web != nil:
		if p.Web.URL == "" {
			return errors.New("web.url is required")
		}
		if p.Web.Body != "" && p.Web.JSONBody != nil {
			return errors.New("web.body and web.jsonBody are mutually exclusive")
		}
		if p.Web.Authentication != nil && p.Web.Authentication.Sigv4 != nil {
			return errors.New("web.authentication.sigv4 is not supported")
		}
	case p.Job != nil:
		if len(p.Job.Spec.Template.Spec.Containers) == 0 {
			return errors.New("job.spec.template.spec.containers is required")
		}
	}
	return nil
}
