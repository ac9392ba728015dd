package analysis

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

func TestRecordMeasurementCounters(t *testing.T) {
	r := resultOf("m", "SSEEFSIE")
	want := v1alpha1.MetricResult{Name: "m", Count: 5, Successful: 3, Failed: 1, Inconclusive: 1, Error: 3, ConsecutiveError: 1}
	r.Measurements = nil
	if r.Name != want.Name || r.Count != want.Count || r.Successful != want.Successful || r.Failed != want.Failed ||
		r.Inconclusive != want.Inconclusive || r.Error != want.Error || r.ConsecutiveError != want.ConsecutiveError ||
		r.ConsecutiveSuccess != 0 {
		t.Fatalf("counters = %+v, want %+v", r, want)
	}
	if got := resultOf("m", "FSS").ConsecutiveSuccess; got != 2 {
		t.Fatalf("consecutiveSuccess = %d, want 2", got)
	}
}

func TestRecordMeasurementResumesAndRetains(t *testing.T) {
	r := resultOf("m", "SSR")
	if r.Count != 2 || len(r.Measurements) != 3 {
		t.Fatalf("a running measurement must not count: %+v", r)
	}
	done := r.Measurements[2]
	done.Phase = v1alpha1.AnalysisPhaseFailed
	r2 := RecordMeasurement(r, done, 2)
	if r2.Count != 3 || r2.Failed != 1 || len(r2.Measurements) != 2 || r2.Measurements[1].Phase != v1alpha1.AnalysisPhaseFailed {
		t.Fatalf("resumed result = %+v, want the running measurement replaced, counted, and 2 kept", r2)
	}
	if r.Measurements[2].Phase != v1alpha1.AnalysisPhaseRunning {
		t.Fatalf("RecordMeasurement modified its input")
	}
	many := v1alpha1.MetricResult{Name: "m"}
	for range 25 {
		many = RecordMeasurement(many, measurements("S")[0], v1alpha1.DefaultMeasurementRetention)
	}
	if len(many.Measurements) != 10 || many.Count != 25 {
		t.Fatalf("retention: %d measurements, count %d; want 10 and 25", len(many.Measurements), many.Count)
	}
}

func TestAssessMetric(t *testing.T) {
	str := func(s string) *intstr.IntOrString { v := intstr.FromString(s); return &v }
	tests := []struct {
		name        string
		metric      v1alpha1.Metric
		phases      string
		terminating bool
		want        v1alpha1.AnalysisPhase
		wantMsg     string
	}{
		{"no measurement yet", v1alpha1.Metric{}, "", false, v1alpha1.AnalysisPhasePending, ""},
		{"terminated before measuring", v1alpha1.Metric{}, "", true, v1alpha1.AnalysisPhaseSuccessful, "terminated"},
		{"measurement in flight", v1alpha1.Metric{}, "R", false, v1alpha1.AnalysisPhaseRunning, ""},
		{"single success", v1alpha1.Metric{}, "S", false, v1alpha1.AnalysisPhaseSuccessful, ""},
		{"single failure", v1alpha1.Metric{}, "F", false, v1alpha1.AnalysisPhaseFailed, "failed (1) > failureLimit (0)"},
		{"failure within limit", v1alpha1.Metric{Interval: "1s", Count: intOrStr(3), FailureLimit: intOrStr(1)}, "SF", false, v1alpha1.AnalysisPhaseRunning, ""},
		{"failure limit exceeded", v1alpha1.Metric{Interval: "1s", Count: intOrStr(5), FailureLimit: intOrStr(1)}, "FSF", false, v1alpha1.AnalysisPhaseFailed, "failed (2) > failureLimit (1)"},
		{"failure limit -1: never fails", v1alpha1.Metric{Interval: "1s", Count: intOrStr(3), FailureLimit: intOrStr(-1)}, "FFF", false, v1alpha1.AnalysisPhaseSuccessful, ""},
		{"failure limit from a substituted string", v1alpha1.Metric{Interval: "1s", Count: intOrStr(3), FailureLimit: str("2")}, "FF", false, v1alpha1.AnalysisPhaseRunning, ""},
		{"bad failure limit", v1alpha1.Metric{FailureLimit: str("two")}, "F", false, v1alpha1.AnalysisPhaseError, "not an integer"},
		{"inconclusive", v1alpha1.Metric{}, "I", false, v1alpha1.AnalysisPhaseInconclusive, "inconclusive (1) > inconclusiveLimit (0)"},
		{"inconclusive within limit", v1alpha1.Metric{Interval: "1s", Count: intOrStr(3), InconclusiveLimit: intOrStr(1)}, "IS", false, v1alpha1.AnalysisPhaseRunning, ""},
		{"errors up to the default limit", v1alpha1.Metric{}, "EEEE", false, v1alpha1.AnalysisPhaseRunning, ""},
		{"errors past the default limit", v1alpha1.Metric{}, "EEEEE", false, v1alpha1.AnalysisPhaseError, `consecutiveErrors (5) > consecutiveErrorLimit (4): "connection refused: boom"`},
		{"errors reset by a success", v1alpha1.Metric{Interval: "1s", Count: intOrStr(9)}, "EEEESEEEE", false, v1alpha1.AnalysisPhaseRunning, ""},
		{"consecutive error limit 0", v1alpha1.Metric{ConsecutiveErrorLimit: intOrStr(0)}, "E", false, v1alpha1.AnalysisPhaseError, "consecutiveErrors (1) > consecutiveErrorLimit (0)"},
		{"errors do not count towards count", v1alpha1.Metric{Interval: "1s", Count: intOrStr(2)}, "SEE", false, v1alpha1.AnalysisPhaseRunning, ""},
		{"count reached", v1alpha1.Metric{Interval: "1s", Count: intOrStr(3)}, "SSS", false, v1alpha1.AnalysisPhaseSuccessful, ""},
		{"count from a string", v1alpha1.Metric{Interval: "1s", Count: str("2")}, "SS", false, v1alpha1.AnalysisPhaseSuccessful, ""},
		{"until terminated keeps running", v1alpha1.Metric{Interval: "1s"}, "SSSSSSSSSSSS", false, v1alpha1.AnalysisPhaseRunning, ""},
		{"until terminated, terminated", v1alpha1.Metric{Interval: "1s"}, "SS", true, v1alpha1.AnalysisPhaseSuccessful, "metric terminated"},
		{"consecutive success limit reached", v1alpha1.Metric{Interval: "1s", Count: intOrStr(10), ConsecutiveSuccessLimit: intOrStr(2), FailureLimit: intOrStr(5)}, "FSS", false, v1alpha1.AnalysisPhaseSuccessful, "consecutiveSuccess (2) >= consecutiveSuccessLimit (2)"},
		{"consecutive success limit without count", v1alpha1.Metric{Interval: "1s", ConsecutiveSuccessLimit: intOrStr(3)}, "SSS", false, v1alpha1.AnalysisPhaseSuccessful, "consecutiveSuccess"},
		{"count reached before consecutive successes, failure limit applies", v1alpha1.Metric{Interval: "1s", Count: intOrStr(3), ConsecutiveSuccessLimit: intOrStr(3), FailureLimit: intOrStr(1)}, "SFS", false, v1alpha1.AnalysisPhaseInconclusive, "count (3) reached"},
		{"count reached before consecutive successes, no failure limit", v1alpha1.Metric{Interval: "1s", Count: intOrStr(3), ConsecutiveSuccessLimit: intOrStr(3), FailureLimit: intOrStr(-1)}, "SFS", false, v1alpha1.AnalysisPhaseFailed, "count (3) reached"},
		{"failure limit before count", v1alpha1.Metric{Interval: "1s", Count: intOrStr(3)}, "SF", false, v1alpha1.AnalysisPhaseFailed, "failed (1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.metric.Name = "m"
			got, msg := AssessMetric(tt.metric, resultOf("m", tt.phases), tt.terminating)
			if got != tt.want || !strings.Contains(msg, tt.wantMsg) {
				t.Fatalf("AssessMetric = %s %q, want %s containing %q", got, msg, tt.want, tt.wantMsg)
			}
		})
	}
}

func TestAssessMetricKeepsFinalPhase(t *testing.T) {
	r := resultOf("m", "SS")
	r.Phase, r.Message = v1alpha1.AnalysisPhaseFailed, "earlier"
	if got, msg := AssessMetric(v1alpha1.Metric{Name: "m"}, r, false); got != v1alpha1.AnalysisPhaseFailed || msg != "earlier" {
		t.Fatalf("AssessMetric = %s %q, want the final phase kept", got, msg)
	}
}

func TestAssessRun(t *testing.T) {
	single := func(name string) v1alpha1.Metric { return v1alpha1.Metric{Name: name} }
	forever := func(name string) v1alpha1.Metric { return v1alpha1.Metric{Name: name, Interval: "1s"} }
	tests := []struct {
		name        string
		spec        v1alpha1.AnalysisRunSpec
		results     []v1alpha1.MetricResult
		want        v1alpha1.AnalysisPhase
		wantMsg     string
		terminating bool
		summary     v1alpha1.RunSummary
		dry         *v1alpha1.RunSummary
	}{
		{name: "nothing measured yet", spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{single("a"), single("b")}},
			want: v1alpha1.AnalysisPhaseRunning, summary: v1alpha1.RunSummary{Count: 2}},
		{name: "all successful", spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{single("a"), single("b")}},
			results: []v1alpha1.MetricResult{resultOf("b", "S"), resultOf("a", "S")},
			want:    v1alpha1.AnalysisPhaseSuccessful, summary: v1alpha1.RunSummary{Count: 2, Successful: 2}},
		{name: "one running", spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{single("a"), forever("b")}},
			results: []v1alpha1.MetricResult{resultOf("a", "S"), resultOf("b", "S")},
			want:    v1alpha1.AnalysisPhaseRunning, summary: v1alpha1.RunSummary{Count: 2, Successful: 1}},
		{name: "a failure terminates the others", spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{single("a"), forever("b")}},
			results: []v1alpha1.MetricResult{resultOf("a", "F"), resultOf("b", "S")},
			want:    v1alpha1.AnalysisPhaseFailed, wantMsg: `metric "a" assessed Failed due to failed (1) > failureLimit (0)`, terminating: true,
			summary: v1alpha1.RunSummary{Count: 2, Successful: 1, Failed: 1}},
		{name: "failed is worse than error and inconclusive", spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{single("e"), single("f"), single("i")}},
			results: []v1alpha1.MetricResult{resultOf("e", "EEEEE"), resultOf("f", "F"), resultOf("i", "I")},
			want:    v1alpha1.AnalysisPhaseFailed, wantMsg: `metric "f"`, terminating: true,
			summary: v1alpha1.RunSummary{Count: 3, Failed: 1, Error: 1, Inconclusive: 1}},
		{name: "error is worse than inconclusive", spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{single("i"), single("e")}},
			results: []v1alpha1.MetricResult{resultOf("e", "EEEEE"), resultOf("i", "I")},
			want:    v1alpha1.AnalysisPhaseError, wantMsg: `metric "e" assessed Error due to consecutiveErrors (5) > consecutiveErrorLimit (4)`, terminating: true,
			summary: v1alpha1.RunSummary{Count: 2, Error: 1, Inconclusive: 1}},
		{name: "a dry-run failure does not fail the run", spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{single("a"), single("d")},
			DryRun: []v1alpha1.DryRun{{MetricName: "d"}}},
			results: []v1alpha1.MetricResult{resultOf("a", "S"), resultOf("d", "F")},
			want:    v1alpha1.AnalysisPhaseSuccessful, summary: v1alpha1.RunSummary{Count: 1, Successful: 1}, dry: &v1alpha1.RunSummary{Count: 1, Failed: 1}},
		{name: "dry run wildcard", spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{single("a")}, DryRun: []v1alpha1.DryRun{{MetricName: "*"}}},
			results: []v1alpha1.MetricResult{resultOf("a", "F")},
			want:    v1alpha1.AnalysisPhaseSuccessful, dry: &v1alpha1.RunSummary{Count: 1, Failed: 1}},
		{name: "terminated by the user", spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{forever("a"), forever("b")}, Terminate: true},
			results: []v1alpha1.MetricResult{resultOf("a", "SS")},
			want:    v1alpha1.AnalysisPhaseSuccessful, wantMsg: "run terminated", terminating: true, summary: v1alpha1.RunSummary{Count: 2, Successful: 2}},
		{name: "terminated with a measurement in flight", spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{forever("a")}, Terminate: true},
			results: []v1alpha1.MetricResult{resultOf("a", "SR")},
			want:    v1alpha1.AnalysisPhaseRunning, terminating: true, summary: v1alpha1.RunSummary{Count: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := AssessRun(tt.spec, tt.results)
			if o.Phase != tt.want || !strings.Contains(o.Message, tt.wantMsg) || o.Terminating != tt.terminating {
				t.Fatalf("AssessRun = %s %q terminating=%v, want %s %q terminating=%v", o.Phase, o.Message, o.Terminating, tt.want, tt.wantMsg, tt.terminating)
			}
			if o.RunSummary != tt.summary {
				t.Errorf("runSummary = %+v, want %+v", o.RunSummary, tt.summary)
			}
			if (o.DryRunSummary == nil) != (tt.dry == nil) || (tt.dry != nil && *o.DryRunSummary != *tt.dry) {
				t.Errorf("dryRunSummary = %+v, want %+v", o.DryRunSummary, tt.dry)
			}
			if len(o.MetricResults) != len(tt.spec.Metrics) {
				t.Fatalf("metricResults = %d, want one per metric", len(o.MetricResults))
			}
			for i, m := range tt.spec.Metrics {
				if o.MetricResults[i].Name != m.Name {
					t.Errorf("metricResults[%d] = %s, want %s (spec order)", i, o.MetricResults[i].Name, m.Name)
				}
			}
		})
	}
}
