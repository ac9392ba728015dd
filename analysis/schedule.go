package analysis

import (
	"time"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// ErrorRetryInterval is the longest wait before a metric whose last measurement was an Error is
// measured again; a shorter interval is kept.
const ErrorRetryInterval = 10 * time.Second

// Schedule returns the names of the metrics due at now, in spec order, and the earliest later
// time at which another is due (zero when none is: the run is over or waits for nothing).
//
// A metric is due for its first measurement at status.startedAt + initialDelay, then at the
// last measurement's finishedAt + interval (at most ErrorRetryInterval after an Error). A
// metric whose last measurement is still Running is due at every call, so that its provider can
// check it (a Job's change triggers a reconcile), and next includes its resumeAt as a fallback.
// Metrics in a final phase, and every metric of a terminated or finished run, are never due.
// It reads the metric results' phases, so assess them first (AssessRun).
func Schedule(run *v1alpha1.AnalysisRun, now time.Time) (due []string, next time.Time) {
	if run.Spec.Terminate || run.Status.Phase.Completed() {
		return nil, time.Time{}
	}
	started := now
	if run.Status.StartedAt != nil {
		started = run.Status.StartedAt.Time
	}
	for _, metric := range run.Spec.Metrics {
		result := findResult(run.Status.MetricResults, metric.Name)
		if result.Phase.Completed() {
			continue
		}
		at, resumeAt := dueAt(metric, result, started, now)
		if !at.After(now) {
			due = append(due, metric.Name)
			at = resumeAt
		}
		if !at.IsZero() && at.After(now) && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	return due, next
}

// dueAt returns when metric is next due; for a Running measurement that is now, and resumeAt is
// when it should be checked again at the latest.
func dueAt(metric v1alpha1.Metric, result v1alpha1.MetricResult, started, now time.Time) (at, resumeAt time.Time) {
	n := len(result.Measurements)
	if n == 0 {
		delay, _ := metric.InitialDelay.Duration()
		return started.Add(delay), time.Time{}
	}
	last := result.Measurements[n-1]
	if !last.Phase.Completed() {
		if last.ResumeAt != nil {
			resumeAt = last.ResumeAt.Time
		}
		return now, resumeAt
	}
	interval, _ := metric.Interval.Duration()
	if last.Phase == v1alpha1.AnalysisPhaseError && (interval <= 0 || interval > ErrorRetryInterval) {
		interval = ErrorRetryInterval
	}
	finished := now
	if last.FinishedAt != nil {
		finished = last.FinishedAt.Time
	}
	return finished.Add(interval), time.Time{}
}
