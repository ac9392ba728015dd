package analysis

import (
	"slices"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

func TestSchedule(t *testing.T) {
	now := timeZero.Add(100 * time.Second)
	sec := func(s float64) time.Time { return now.Add(time.Duration(s * float64(time.Second))) }
	finishedAt := func(r v1alpha1.MetricResult, s float64) v1alpha1.MetricResult {
		r.Measurements[len(r.Measurements)-1].FinishedAt = at(100 + s)
		return r
	}
	running := func(resumeIn float64) v1alpha1.MetricResult {
		r := resultOf("a", "R")
		r.Measurements[0].ResumeAt = at(100 + resumeIn)
		return r
	}
	tests := []struct {
		name     string
		metrics  []v1alpha1.Metric
		results  []v1alpha1.MetricResult
		started  float64 // seconds relative to now
		phase    v1alpha1.AnalysisPhase
		stop     bool
		wantDue  []string
		wantNext time.Time
	}{
		{name: "first measurement at once", metrics: []v1alpha1.Metric{{Name: "a"}, {Name: "b", Interval: "5s"}},
			wantDue: []string{"a", "b"}},
		{name: "initial delay not over", metrics: []v1alpha1.Metric{{Name: "a", InitialDelay: "30s"}}, started: -10,
			wantNext: sec(20)},
		{name: "initial delay over", metrics: []v1alpha1.Metric{{Name: "a", InitialDelay: "30s"}}, started: -30,
			wantDue: []string{"a"}},
		{name: "interval not over", metrics: []v1alpha1.Metric{{Name: "a", Interval: "5s", Count: intOrStr(3)}},
			results: []v1alpha1.MetricResult{finishedAt(resultOf("a", "S"), -2)}, wantNext: sec(3)},
		{name: "interval over", metrics: []v1alpha1.Metric{{Name: "a", Interval: "5s", Count: intOrStr(3)}},
			results: []v1alpha1.MetricResult{finishedAt(resultOf("a", "S"), -5)}, wantDue: []string{"a"}},
		{name: "error retried within 10s at most", metrics: []v1alpha1.Metric{{Name: "a", Interval: "1m"}},
			results: []v1alpha1.MetricResult{finishedAt(resultOf("a", "E"), -1)}, wantNext: sec(9)},
		{name: "error retried at a shorter interval", metrics: []v1alpha1.Metric{{Name: "a", Interval: "2s"}},
			results: []v1alpha1.MetricResult{finishedAt(resultOf("a", "E"), -1)}, wantNext: sec(1)},
		{name: "error of a single measurement retried after 10s", metrics: []v1alpha1.Metric{{Name: "a"}},
			results: []v1alpha1.MetricResult{finishedAt(resultOf("a", "E"), 0)}, wantNext: sec(10)},
		{name: "running measurement checked now, resumed at the latest at resumeAt", metrics: []v1alpha1.Metric{{Name: "a"}},
			results: []v1alpha1.MetricResult{running(7)}, wantDue: []string{"a"}, wantNext: sec(7)},
		{name: "metric in a final phase", metrics: []v1alpha1.Metric{{Name: "a", Interval: "5s"}, {Name: "b", Interval: "3s"}},
			results: []v1alpha1.MetricResult{func() v1alpha1.MetricResult {
				r := finishedAt(resultOf("a", "F"), -1)
				r.Phase = v1alpha1.AnalysisPhaseFailed
				return r
			}(), finishedAt(resultOf("b", "S"), -1)}, wantNext: sec(2)},
		{name: "earliest of several", metrics: []v1alpha1.Metric{{Name: "a", Interval: "5s"}, {Name: "b", Interval: "3s"}, {Name: "c", InitialDelay: "1m"}},
			results: []v1alpha1.MetricResult{finishedAt(resultOf("a", "S"), -1), finishedAt(resultOf("b", "S"), -2)}, wantNext: sec(1)},
		{name: "terminated run", metrics: []v1alpha1.Metric{{Name: "a"}}, stop: true},
		{name: "finished run", metrics: []v1alpha1.Metric{{Name: "a"}}, phase: v1alpha1.AnalysisPhaseSuccessful},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := &v1alpha1.AnalysisRun{
				Spec:   v1alpha1.AnalysisRunSpec{Metrics: tt.metrics, Terminate: tt.stop},
				Status: v1alpha1.AnalysisRunStatus{Phase: tt.phase, StartedAt: at(100 + tt.started), MetricResults: tt.results},
			}
			if run.Status.Phase == "" {
				run.Status.Phase = v1alpha1.AnalysisPhaseRunning
			}
			due, next := Schedule(run, now)
			if !slices.Equal(due, tt.wantDue) || !next.Equal(tt.wantNext) {
				t.Fatalf("Schedule = %v, next in %v; want %v, next in %v", due, next.Sub(now), tt.wantDue, tt.wantNext.Sub(now))
			}
		})
	}
}
