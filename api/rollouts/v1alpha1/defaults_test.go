package v1alpha1

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestSpecDefaults(t *testing.T) {
	empty := RolloutSpec{}
	set := RolloutSpec{
		Replicas:                ptr.To[int32](0),
		RevisionHistoryLimit:    ptr.To[int32](2),
		ProgressDeadlineSeconds: ptr.To[int32](60),
		Analysis:                &AnalysisRunStrategy{SuccessfulRunHistoryLimit: ptr.To[int32](1), UnsuccessfulRunHistoryLimit: ptr.To[int32](0)},
	}
	canary, bg, tr := CanaryStrategy{}, BlueGreenStrategy{}, RolloutTrafficRouting{}
	canarySet := CanaryStrategy{
		MaxSurge: ptr.To(intstr.FromInt32(1)), MaxUnavailable: ptr.To(intstr.FromString("0%")),
		ScaleDownDelaySeconds: ptr.To[int32](5), AbortScaleDownDelaySeconds: ptr.To[int32](0),
	}
	bgSet := BlueGreenStrategy{AutoPromotionEnabled: ptr.To(false), ScaleDownDelaySeconds: ptr.To[int32](0)}

	tests := []struct {
		name      string
		got, want any
	}{
		{"replicas default", empty.GetReplicas(), int32(1)},
		{"replicas explicit zero", set.GetReplicas(), int32(0)},
		{"revisionHistoryLimit default", empty.GetRevisionHistoryLimit(), int32(10)},
		{"revisionHistoryLimit set", set.GetRevisionHistoryLimit(), int32(2)},
		{"progressDeadlineSeconds default", empty.GetProgressDeadlineSeconds(), int32(600)},
		{"progressDeadlineSeconds set", set.GetProgressDeadlineSeconds(), int32(60)},
		{"successful history default", empty.GetSuccessfulRunHistoryLimit(), int32(5)},
		{"unsuccessful history default", empty.GetUnsuccessfulRunHistoryLimit(), int32(5)},
		{"successful history set", set.GetSuccessfulRunHistoryLimit(), int32(1)},
		{"unsuccessful history zero", set.GetUnsuccessfulRunHistoryLimit(), int32(0)},
		{"canary maxSurge default", canary.GetMaxSurge(), intstr.FromString("25%")},
		{"canary maxUnavailable default", canary.GetMaxUnavailable(), intstr.FromString("25%")},
		{"canary maxSurge set", canarySet.GetMaxSurge(), intstr.FromInt32(1)},
		{"canary maxUnavailable set", canarySet.GetMaxUnavailable(), intstr.FromString("0%")},
		{"canary scaleDownDelay default", canary.GetScaleDownDelaySeconds(), int32(30)},
		{"canary scaleDownDelay set", canarySet.GetScaleDownDelaySeconds(), int32(5)},
		{"canary abortScaleDownDelay default", canary.GetAbortScaleDownDelaySeconds(), int32(30)},
		{"canary abortScaleDownDelay zero", canarySet.GetAbortScaleDownDelaySeconds(), int32(0)},
		{"bluegreen autoPromotion default", bg.GetAutoPromotionEnabled(), true},
		{"bluegreen autoPromotion false", bgSet.GetAutoPromotionEnabled(), false},
		{"bluegreen maxUnavailable default", bg.GetMaxUnavailable(), intstr.FromString("25%")},
		{"bluegreen scaleDownDelay default", bg.GetScaleDownDelaySeconds(), int32(30)},
		{"bluegreen scaleDownDelay zero", bgSet.GetScaleDownDelaySeconds(), int32(0)},
		{"bluegreen abortScaleDownDelay default", bg.GetAbortScaleDownDelaySeconds(), int32(30)},
		{"maxTrafficWeight default", tr.GetMaxTrafficWeight(), int32(100)},
		{"prometheus timeout default", (&PrometheusMetric{}).GetTimeoutSeconds(), int64(30)},
		{"prometheus timeout set", (&PrometheusMetric{Timeout: ptr.To[int64](5)}).GetTimeoutSeconds(), int64(5)},
		{"web timeout default", (&WebMetric{}).GetTimeoutSeconds(), int64(10)},
		{"web method default", (&WebMetric{}).GetMethod(), WebMetricMethodGet},
		{"web jsonPath default", (&WebMetric{}).GetJSONPath(), "{$}"},
		{"retention default", MeasurementRetentionLimit(nil, "m"), int32(10)},
		{"retention by name", MeasurementRetentionLimit([]MeasurementRetention{{MetricName: "*", Limit: 3}, {MetricName: "m", Limit: 20}}, "m"), int32(20)},
		{"retention wildcard", MeasurementRetentionLimit([]MeasurementRetention{{MetricName: "*", Limit: 3}}, "m"), int32(3)},
		{"dryRun wildcard", IsDryRun([]DryRun{{MetricName: "*"}}, "m"), true},
		{"dryRun other metric", IsDryRun([]DryRun{{MetricName: "x"}}, "m"), false},
		{"phase completed", AnalysisPhaseInconclusive.Completed(), true},
		{"phase running", AnalysisPhaseRunning.Completed(), false},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestMetricLimits(t *testing.T) {
	tests := []struct {
		name          string
		metric        Metric
		count         int32
		unbounded     bool
		failure       int32
		consecutive   int32
		inconclusive  int32
		successStreak int32
		wantErr       bool
	}{
		{name: "defaults", metric: Metric{}, count: 1, consecutive: 4},
		{name: "interval without count runs until terminated", metric: Metric{Interval: "5s"}, unbounded: true, consecutive: 4},
		{name: "count zero with interval runs until terminated", metric: Metric{Interval: "5s", Count: ptr.To(intstr.FromInt32(0))}, unbounded: true, consecutive: 4},
		{
			name: "explicit values, ints and resolved strings",
			metric: Metric{
				Interval: "5s", Count: ptr.To(intstr.FromString("3")),
				FailureLimit: ptr.To(intstr.FromInt32(-1)), ConsecutiveErrorLimit: ptr.To(intstr.FromInt32(0)),
				InconclusiveLimit: ptr.To(intstr.FromInt32(2)), ConsecutiveSuccessLimit: ptr.To(intstr.FromString("2")),
			},
			count: 3, failure: -1, consecutive: 0, inconclusive: 2, successStreak: 2,
		},
		{name: "unresolved argument", metric: Metric{Count: ptr.To(intstr.FromString("{{args.n}}"))}, wantErr: true},
	}
	for _, tt := range tests {
		count, unbounded, err := tt.metric.GetCount()
		if tt.wantErr {
			if err == nil {
				t.Errorf("%s: want error", tt.name)
			}
			continue
		}
		failure, err1 := tt.metric.GetFailureLimit()
		consecutive, err2 := tt.metric.GetConsecutiveErrorLimit()
		inconclusive, err3 := tt.metric.GetInconclusiveLimit()
		successStreak, err4 := tt.metric.GetConsecutiveSuccessLimit()
		for _, e := range []error{err, err1, err2, err3, err4} {
			if e != nil {
				t.Fatalf("%s: %v", tt.name, e)
			}
		}
		if count != tt.count || unbounded != tt.unbounded || failure != tt.failure ||
			consecutive != tt.consecutive || inconclusive != tt.inconclusive || successStreak != tt.successStreak {
			t.Errorf("%s: got count=%d unbounded=%v failure=%d consecutiveError=%d inconclusive=%d consecutiveSuccess=%d",
				tt.name, count, unbounded, failure, consecutive, inconclusive, successStreak)
		}
	}
}

func TestPauseDuration(t *testing.T) {
	tests := []struct {
		name     string
		duration *intstr.IntOrString
		want     time.Duration
		ok       bool
		wantErr  bool
	}{
		{name: "until promoted", duration: nil},
		{name: "int seconds", duration: ptr.To(intstr.FromInt32(30)), want: 30 * time.Second, ok: true},
		{name: "string seconds", duration: ptr.To(intstr.FromString("30")), want: 30 * time.Second, ok: true},
		{name: "go duration", duration: ptr.To(intstr.FromString("5m")), want: 5 * time.Minute, ok: true},
		{name: "hours", duration: ptr.To(intstr.FromString("1h")), want: time.Hour, ok: true},
		{name: "garbage", duration: ptr.To(intstr.FromString("soon")), ok: true, wantErr: true},
		{name: "negative", duration: ptr.To(intstr.FromInt32(-1)), ok: true, wantErr: true},
	}
	for _, tt := range tests {
		got, ok, err := (&RolloutPause{Duration: tt.duration}).GetDuration()
		if (err != nil) != tt.wantErr || ok != tt.ok || (err == nil && got != tt.want) {
			t.Errorf("%s: got %v, %v, %v", tt.name, got, ok, err)
		}
	}
}
