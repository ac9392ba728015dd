package v1alpha1

import (
	"fmt"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// Defaults of optional fields. The API server stores what the user wrote; these apply when
// reading, through the accessors below.
const (
	DefaultReplicas                   int32 = 1
	DefaultRevisionHistoryLimit       int32 = 10
	DefaultProgressDeadlineSeconds    int32 = 600
	DefaultScaleDownDelaySeconds      int32 = 30
	DefaultAbortScaleDownDelaySeconds int32 = 30
	DefaultMaxSurge                         = "25%"
	DefaultMaxUnavailable                   = "25%"
	DefaultAnalysisRunHistoryLimit    int32 = 5
	DefaultMaxTrafficWeight           int32 = 100
	DefaultConsecutiveErrorLimit      int32 = 4
	DefaultMeasurementRetention       int32 = 10
	DefaultPrometheusTimeoutSeconds   int64 = 30
	DefaultWebTimeoutSeconds          int64 = 10
	DefaultWebJSONPath                      = "{$}"
	// MetricNameWildcard in dryRun or measurementRetention applies to every metric.
	MetricNameWildcard = "*"
)

func int32Or(v *int32, def int32) int32 {
	if v == nil {
		return def
	}
	return *v
}

func intOrStringOr(v *intstr.IntOrString, def string) intstr.IntOrString {
	if v == nil {
		return intstr.FromString(def)
	}
	return *v
}

// GetReplicas returns spec.replicas, default 1.
func (s *RolloutSpec) GetReplicas() int32 { return int32Or(s.Replicas, DefaultReplicas) }

// GetRevisionHistoryLimit returns spec.revisionHistoryLimit, default 10.
func (s *RolloutSpec) GetRevisionHistoryLimit() int32 {
	return int32Or(s.RevisionHistoryLimit, DefaultRevisionHistoryLimit)
}

// GetProgressDeadlineSeconds returns spec.progressDeadlineSeconds, default 600.
func (s *RolloutSpec) GetProgressDeadlineSeconds() int32 {
	return int32Or(s.ProgressDeadlineSeconds, DefaultProgressDeadlineSeconds)
}

// GetSuccessfulRunHistoryLimit returns spec.analysis.successfulRunHistoryLimit, default 5.
func (s *RolloutSpec) GetSuccessfulRunHistoryLimit() int32 {
	if s.Analysis == nil {
		return DefaultAnalysisRunHistoryLimit
	}
	return int32Or(s.Analysis.SuccessfulRunHistoryLimit, DefaultAnalysisRunHistoryLimit)
}

// GetUnsuccessfulRunHistoryLimit returns spec.analysis.unsuccessfulRunHistoryLimit, default 5.
func (s *RolloutSpec) GetUnsuccessfulRunHistoryLimit() int32 {
	if s.Analysis == nil {
		return DefaultAnalysisRunHistoryLimit
	}
	return int32Or(s.Analysis.UnsuccessfulRunHistoryLimit, DefaultAnalysisRunHistoryLimit)
}

// GetMaxSurge returns maxSurge, default "25%".
func (c *CanaryStrategy) GetMaxSurge() intstr.IntOrString {
	return intOrStringOr(c.MaxSurge, DefaultMaxSurge)
}

// GetMaxUnavailable returns maxUnavailable, default "25%".
func (c *CanaryStrategy) GetMaxUnavailable() intstr.IntOrString {
	return intOrStringOr(c.MaxUnavailable, DefaultMaxUnavailable)
}

// GetScaleDownDelaySeconds returns scaleDownDelaySeconds, default 30.
func (c *CanaryStrategy) GetScaleDownDelaySeconds() int32 {
	return int32Or(c.ScaleDownDelaySeconds, DefaultScaleDownDelaySeconds)
}

// GetAbortScaleDownDelaySeconds returns abortScaleDownDelaySeconds, default 30 (0 = never).
func (c *CanaryStrategy) GetAbortScaleDownDelaySeconds() int32 {
	return int32Or(c.AbortScaleDownDelaySeconds, DefaultAbortScaleDownDelaySeconds)
}

// GetAutoPromotionEnabled returns autoPromotionEnabled, default true.
func (b *BlueGreenStrategy) GetAutoPromotionEnabled() bool {
	return b.AutoPromotionEnabled == nil || *b.AutoPromotionEnabled
}

// GetMaxUnavailable returns maxUnavailable, default "25%".
func (b *BlueGreenStrategy) GetMaxUnavailable() intstr.IntOrString {
	return intOrStringOr(b.MaxUnavailable, DefaultMaxUnavailable)
}

// GetScaleDownDelaySeconds returns scaleDownDelaySeconds, default 30.
func (b *BlueGreenStrategy) GetScaleDownDelaySeconds() int32 {
	return int32Or(b.ScaleDownDelaySeconds, DefaultScaleDownDelaySeconds)
}

// GetAbortScaleDownDelaySeconds returns abortScaleDownDelaySeconds, default 30 (0 = never).
func (b *BlueGreenStrategy) GetAbortScaleDownDelaySeconds() int32 {
	return int32Or(b.AbortScaleDownDelaySeconds, DefaultAbortScaleDownDelaySeconds)
}

// GetMaxTrafficWeight returns maxTrafficWeight, default 100.
func (t *RolloutTrafficRouting) GetMaxTrafficWeight() int32 {
	return int32Or(t.MaxTrafficWeight, DefaultMaxTrafficWeight)
}

// GetDuration returns the pause duration. ok is false for a pause without a duration, which
// lasts until the rollout is promoted. A bare number, int or string, is seconds.
func (p *RolloutPause) GetDuration() (d time.Duration, ok bool, err error) {
	if p.Duration == nil {
		return 0, false, nil
	}
	if p.Duration.Type == intstr.Int {
		d = time.Duration(p.Duration.IntVal) * time.Second
	} else if n, convErr := strconv.ParseInt(p.Duration.StrVal, 10, 32); convErr == nil {
		d = time.Duration(n) * time.Second
	} else if d, err = time.ParseDuration(p.Duration.StrVal); err != nil {
		return 0, true, fmt.Errorf("pause duration %q: %w", p.Duration.StrVal, err)
	}
	if d < 0 {
		return 0, true, fmt.Errorf("pause duration %s is negative", p.Duration.String())
	}
	return d, true, nil
}

// Duration parses the string; the empty string is zero.
func (d DurationString) Duration() (time.Duration, error) {
	if d == "" {
		return 0, nil
	}
	return time.ParseDuration(string(d))
}

// Completed reports whether the phase is final.
func (p AnalysisPhase) Completed() bool {
	switch p {
	case AnalysisPhaseSuccessful, AnalysisPhaseFailed, AnalysisPhaseError, AnalysisPhaseInconclusive:
		return true
	}
	return false
}

// intOrStringValue reads an int-or-string that must hold an integer (a string only after
// argument substitution, e.g. "{{args.limit}}" resolved to "3").
func intOrStringValue(v *intstr.IntOrString, def int32, field string) (int32, error) {
	if v == nil {
		return def, nil
	}
	if v.Type == intstr.Int {
		return v.IntVal, nil
	}
	n, err := strconv.ParseInt(v.StrVal, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not an integer", field, v.StrVal)
	}
	return int32(n), nil
}

// GetCount returns the number of measurements to take. With neither count nor interval it is 1;
// with an interval and no count (or count 0) the metric runs until terminated: unbounded is true.
func (m *Metric) GetCount() (count int32, unbounded bool, err error) {
	count, err = intOrStringValue(m.Count, 0, "count")
	if err != nil || count != 0 {
		return count, false, err
	}
	if m.Interval == "" {
		return 1, false, nil
	}
	return 0, true, nil
}

// GetFailureLimit returns failureLimit, default 0; -1 means no limit.
func (m *Metric) GetFailureLimit() (int32, error) {
	return intOrStringValue(m.FailureLimit, 0, "failureLimit")
}

// GetInconclusiveLimit returns inconclusiveLimit, default 0.
func (m *Metric) GetInconclusiveLimit() (int32, error) {
	return intOrStringValue(m.InconclusiveLimit, 0, "inconclusiveLimit")
}

// GetConsecutiveErrorLimit returns consecutiveErrorLimit, default 4.
func (m *Metric) GetConsecutiveErrorLimit() (int32, error) {
	return intOrStringValue(m.ConsecutiveErrorLimit, DefaultConsecutiveErrorLimit, "consecutiveErrorLimit")
}

// GetConsecutiveSuccessLimit returns consecutiveSuccessLimit, default 0 (off).
func (m *Metric) GetConsecutiveSuccessLimit() (int32, error) {
	return intOrStringValue(m.ConsecutiveSuccessLimit, 0, "consecutiveSuccessLimit")
}

// GetTimeoutSeconds returns timeout, default 30 when unset or not positive.
func (p *PrometheusMetric) GetTimeoutSeconds() int64 {
	if p.Timeout == nil || *p.Timeout <= 0 {
		return DefaultPrometheusTimeoutSeconds
	}
	return *p.Timeout
}

// GetTimeoutSeconds returns timeoutSeconds, default 10 when unset or not positive.
func (w *WebMetric) GetTimeoutSeconds() int64 {
	if w.TimeoutSeconds <= 0 {
		return DefaultWebTimeoutSeconds
	}
	return w.TimeoutSeconds
}

// GetMethod returns method, default GET.
func (w *WebMetric) GetMethod() WebMetricMethod {
	if w.Method == "" {
		return WebMetricMethodGet
	}
	return w.Method
}

// GetJSONPath returns jsonPath, default "{$}" (the whole response).
func (w *WebMetric) GetJSONPath() string {
	if w.JSONPath == "" {
		return DefaultWebJSONPath
	}
	return w.JSONPath
}

// MeasurementRetentionLimit returns how many measurements of the named metric to keep: the
// entry for the metric's name, else the "*" entry, else 10. A limit below 1 counts as unset.
func MeasurementRetentionLimit(retention []MeasurementRetention, metricName string) int32 {
	limit := DefaultMeasurementRetention
	for _, r := range retention {
		if r.Limit < 1 {
			continue
		}
		if r.MetricName == metricName {
			return r.Limit
		}
		if r.MetricName == MetricNameWildcard {
			limit = r.Limit
		}
	}
	return limit
}

// IsDryRun reports whether the named metric, or "*", is listed in dryRun.
func IsDryRun(dryRun []DryRun, metricName string) bool {
	for _, d := range dryRun {
		if d.MetricName == metricName || d.MetricName == MetricNameWildcard {
			return true
		}
	}
	return false
}
