package analysis

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

func TestBoundMeasurement(t *testing.T) {
	small := v1alpha1.Measurement{Value: "[0.01]", Message: ""}
	if got := BoundMeasurement(small); got.Value != small.Value || got.Message != small.Message {
		t.Fatalf("a small measurement changed: %+v", got)
	}
	long := strings.Repeat("é", 3000) // 6000 bytes, two per rune
	m := BoundMeasurement(v1alpha1.Measurement{Value: long, Message: "evaluate: no"})
	if len(m.Value) > MaxValueBytes || !strings.HasSuffix(m.Value, TruncatedMarker) || !utf8.ValidString(m.Value) {
		t.Fatalf("value of %d bytes, suffix %q, valid %v", len(m.Value), m.Value[len(m.Value)-20:], utf8.ValidString(m.Value))
	}
	if !strings.HasPrefix(m.Message, "evaluate: no; value truncated to 1024 of 6000 bytes") {
		t.Fatalf("message %q does not say the value was cut", m.Message)
	}
	m = BoundMeasurement(v1alpha1.Measurement{Message: strings.Repeat("x", 5000)})
	if len(m.Message) > MaxMessageBytes || !strings.HasSuffix(m.Message, TruncatedMarker) {
		t.Fatalf("message of %d bytes", len(m.Message))
	}
}

// TestLargeResultEvaluatedWhole: the conditions see the whole result even when its value is cut.
func TestLargeResultEvaluatedWhole(t *testing.T) {
	result := make([]float64, 5000)
	metric := v1alpha1.Metric{Name: "m", SuccessCondition: "len(result) == 5000"}
	m := BoundMeasurement(NewMeasurement(metric, time.Now(), result, strings.Repeat("0,", 5000)))
	if m.Phase != v1alpha1.AnalysisPhaseSuccessful || len(m.Value) > MaxValueBytes || !strings.Contains(m.Message, "evaluated on the whole result") {
		t.Fatalf("measurement %s, value %d bytes, message %q", m.Phase, len(m.Value), m.Message)
	}
}

func TestProviderTimeoutIsCapped(t *testing.T) {
	for in, want := range map[int64]time.Duration{10: 10 * time.Second, 300: 5 * time.Minute, 301: 5 * time.Minute, 1 << 40: 5 * time.Minute} {
		if got := ProviderTimeout(in); got != want {
			t.Errorf("ProviderTimeout(%d) = %s, want %s", in, got, want)
		}
	}
}

// TestConditionCompiledOnce: measuring a metric many times compiles each condition once.
func TestConditionCompiledOnce(t *testing.T) {
	metric := v1alpha1.Metric{Name: "m", SuccessCondition: "result[0] < 0.0501", FailureCondition: "result[0] > 0.5001"}
	before := compilations.Load()
	for i := range 100 {
		if phase, err := Evaluate(metric, []float64{float64(i) / 10000}); err != nil || phase != v1alpha1.AnalysisPhaseSuccessful {
			t.Fatalf("measurement %d: %s %v", i, phase, err)
		}
	}
	if n := compilations.Load() - before; n != 2 {
		t.Fatalf("%d compilations for 100 measurements of two conditions, want 2", n)
	}
	// A result of another type is type-checked on its own.
	if phase, err := Evaluate(v1alpha1.Metric{SuccessCondition: "result < 0.0501"}, 0.01); err != nil || phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Fatalf("scalar: %s %v", phase, err)
	}
}

// TestConditionDeadline: a condition that runs too long is an error, not a stuck worker.
func TestConditionDeadline(t *testing.T) {
	saved := EvaluationTimeout
	EvaluationTimeout = 50 * time.Millisecond
	defer func() { EvaluationTimeout = saved }()
	result := make([]float64, 300)
	start := time.Now()
	_, err := EvaluateCondition("all(result, {all(result, {all(result, {# == 0})})})", result)
	if err == nil || !strings.Contains(err.Error(), "took longer than 50ms") {
		t.Fatalf("err = %v, want the deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("returned after %s", d)
	}
}
