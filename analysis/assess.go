package analysis

import (
	"fmt"
	"slices"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// RecordMeasurement returns result with m recorded: m replaces the last measurement when that one
// is still Running (a resumed measurement), else it is appended. A finished measurement updates
// the counters; only the newest keep measurements are kept (keep < 1 keeps all). result is not
// modified.
func RecordMeasurement(result v1alpha1.MetricResult, m v1alpha1.Measurement, keep int32) v1alpha1.MetricResult {
	out := result
	out.Measurements = slices.Clone(result.Measurements)
	if n := len(out.Measurements); n > 0 && !out.Measurements[n-1].Phase.Completed() {
		out.Measurements[n-1] = m
	} else {
		out.Measurements = append(out.Measurements, m)
	}
	if keep > 0 && len(out.Measurements) > int(keep) {
		out.Measurements = slices.Clone(out.Measurements[len(out.Measurements)-int(keep):])
	}
	switch m.Phase {
	case v1alpha1.AnalysisPhaseSuccessful:
		out.Count++
		out.Successful++
		out.ConsecutiveError = 0
		out.ConsecutiveSuccess++
	case v1alpha1.AnalysisPhaseFailed:
		out.Count++
		out.Failed++
		out.ConsecutiveError = 0
		out.ConsecutiveSuccess = 0
	case v1alpha1.AnalysisPhaseInconclusive:
		out.Count++
		out.Inconclusive++
		out.ConsecutiveError = 0
		out.ConsecutiveSuccess = 0
	case v1alpha1.AnalysisPhaseError:
		out.Error++
		out.ConsecutiveError++
		out.ConsecutiveSuccess = 0
	}
	return out
}

// metricLimits are a metric's limits, read once.
type metricLimits struct {
	count, failure, inconclusive, consecutiveError, consecutiveSuccess int32
	unbounded                                                          bool
}

func readLimits(metric v1alpha1.Metric) (metricLimits, error) {
	var l metricLimits
	var err error
	if l.count, l.unbounded, err = metric.GetCount(); err != nil {
		return l, err
	}
	if l.failure, err = metric.GetFailureLimit(); err != nil {
		return l, err
	}
	if l.inconclusive, err = metric.GetInconclusiveLimit(); err != nil {
		return l, err
	}
	if l.consecutiveError, err = metric.GetConsecutiveErrorLimit(); err != nil {
		return l, err
	}
	l.consecutiveSuccess, err = metric.GetConsecutiveSuccessLimit()
	return l, err
}

// AssessMetric decides a metric's phase from its result so far, with a message explaining a
// final phase other than a plain success. In order:
//   - a result already in a final phase keeps it;
//   - no measurement yet: Pending (Successful when terminating);
//   - the last measurement still Running: Running;
//   - failed > failureLimit (unless -1): Failed; inconclusive > inconclusiveLimit: Inconclusive;
//     consecutiveErrors > consecutiveErrorLimit: Error, with the last error's message;
//   - consecutiveSuccessLimit (when > 0) reached: Successful;
//   - count reached: Successful, except when a consecutiveSuccessLimit was set and not reached:
//     then Inconclusive when a failureLimit applies, Failed when failureLimit is -1;
//   - terminating: Successful; else Running.
func AssessMetric(metric v1alpha1.Metric, result v1alpha1.MetricResult, terminating bool) (v1alpha1.AnalysisPhase, string) {
	if result.Phase.Completed() {
		return result.Phase, result.Message
	}
	n := len(result.Measurements)
	if n == 0 {
		if terminating {
			return v1alpha1.AnalysisPhaseSuccessful, "metric terminated before its first measurement"
		}
		return v1alpha1.AnalysisPhasePending, ""
	}
	last := result.Measurements[n-1]
	if !last.Phase.Completed() {
		return v1alpha1.AnalysisPhaseRunning, ""
	}
	l, err := readLimits(metric)
	if err != nil {
		return v1alpha1.AnalysisPhaseError, err.Error()
	}
	switch {
	case l.failure >= 0 && result.Failed > l.failure:
		return v1alpha1.AnalysisPhaseFailed, fmt.Sprintf("failed (%d) > failureLimit (%d)", result.Failed, l.failure)
	case result.Inconclusive > l.inconclusive:
		return v1alpha1.AnalysisPhaseInconclusive, fmt.Sprintf("inconclusive (%d) > inconclusiveLimit (%d)", result.Inconclusive, l.inconclusive)
	case result.ConsecutiveError > l.consecutiveError:
		return v1alpha1.AnalysisPhaseError, fmt.Sprintf("consecutiveErrors (%d) > consecutiveErrorLimit (%d): %q",
			result.ConsecutiveError, l.consecutiveError, lastErrorMessage(result))
	case l.consecutiveSuccess > 0 && result.ConsecutiveSuccess >= l.consecutiveSuccess:
		return v1alpha1.AnalysisPhaseSuccessful, fmt.Sprintf("consecutiveSuccess (%d) >= consecutiveSuccessLimit (%d)",
			result.ConsecutiveSuccess, l.consecutiveSuccess)
	case !l.unbounded && result.Count >= l.count:
		return countReached(l, result)
	case terminating:
		return v1alpha1.AnalysisPhaseSuccessful, "metric terminated"
	}
	return v1alpha1.AnalysisPhaseRunning, ""
}

func countReached(l metricLimits, result v1alpha1.MetricResult) (v1alpha1.AnalysisPhase, string) {
	if l.consecutiveSuccess <= 0 {
		return v1alpha1.AnalysisPhaseSuccessful, ""
	}
	msg := fmt.Sprintf("count (%d) reached with consecutiveSuccess (%d) < consecutiveSuccessLimit (%d)",
		result.Count, result.ConsecutiveSuccess, l.consecutiveSuccess)
	if l.failure >= 0 {
		return v1alpha1.AnalysisPhaseInconclusive, msg + " and failed (" + fmt.Sprint(result.Failed) + ") within failureLimit"
	}
	return v1alpha1.AnalysisPhaseFailed, msg
}

func lastErrorMessage(result v1alpha1.MetricResult) string {
	for i := len(result.Measurements) - 1; i >= 0; i-- {
		if m := result.Measurements[i]; m.Phase == v1alpha1.AnalysisPhaseError {
			return m.Message
		}
	}
	return ""
}

// RunOutcome is a run's phase folded from its metrics.
type RunOutcome struct {
	Phase   v1alpha1.AnalysisPhase
	Message string
	// Terminating is true when the run must stop measuring: spec.terminate, or a metric that is
	// not a dry run ended Failed, Error or Inconclusive. Running measurements should then be
	// terminated and the run assessed again.
	Terminating   bool
	RunSummary    v1alpha1.RunSummary
	DryRunSummary *v1alpha1.RunSummary
	// MetricResults are the results in spec order, each with its assessed phase and message.
	MetricResults []v1alpha1.MetricResult
}

// AssessRun folds the metrics' phases into the run's. The run is Running until every metric is in
// a final phase; then its phase is the worst of the metrics that are not dry runs (Failed, then
// Error, then Inconclusive, then Successful) and its message that metric's. Dry-run metrics are
// counted in DryRunSummary only. results may miss metrics or hold them in any order.
func AssessRun(spec v1alpha1.AnalysisRunSpec, results []v1alpha1.MetricResult) RunOutcome {
	out := assessRun(spec, results, spec.Terminate)
	if out.Terminating && !spec.Terminate {
		out = assessRun(spec, results, true)
	}
	return out
}

func assessRun(spec v1alpha1.AnalysisRunSpec, results []v1alpha1.MetricResult, terminating bool) RunOutcome {
	out := RunOutcome{Terminating: terminating}
	var dry v1alpha1.RunSummary
	worst, worstMsg, completed := v1alpha1.AnalysisPhaseSuccessful, "", true
	for _, metric := range spec.Metrics {
		r := findResult(results, metric.Name)
		r.Name, r.DryRun = metric.Name, v1alpha1.IsDryRun(spec.DryRun, metric.Name)
		r.Phase, r.Message = AssessMetric(metric, r, terminating)
		out.MetricResults = append(out.MetricResults, r)
		if !r.Phase.Completed() {
			completed = false
		}
		if r.DryRun {
			countPhase(&dry, r.Phase)
			continue
		}
		countPhase(&out.RunSummary, r.Phase)
		if r.Phase.Completed() && severity(r.Phase) > severity(worst) {
			worst, worstMsg = r.Phase, fmt.Sprintf("metric %q assessed %s due to %s", r.Name, r.Phase, r.Message)
		}
		if r.Phase == v1alpha1.AnalysisPhaseFailed || r.Phase == v1alpha1.AnalysisPhaseError ||
			r.Phase == v1alpha1.AnalysisPhaseInconclusive {
			out.Terminating = true
		}
	}
	if dry.Count > 0 {
		out.DryRunSummary = &dry
	}
	switch {
	case !completed:
		out.Phase = v1alpha1.AnalysisPhaseRunning
	case worst == v1alpha1.AnalysisPhaseSuccessful && spec.Terminate:
		out.Phase, out.Message = worst, "run terminated"
	default:
		out.Phase, out.Message = worst, worstMsg
	}
	return out
}

func findResult(results []v1alpha1.MetricResult, name string) v1alpha1.MetricResult {
	for _, r := range results {
		if r.Name == name {
			return r
		}
	}
	return v1alpha1.MetricResult{Name: name, Phase: v1alpha1.AnalysisPhasePending}
}

func countPhase(s *v1alpha1.RunSummary, p v1alpha1.AnalysisPhase) {
	s.Count++
	switch p {
	case v1alpha1.AnalysisPhaseSuccessful:
		s.Successful++
	case v1alpha1.AnalysisPhaseFailed:
		s.Failed++
	case v1alpha1.AnalysisPhaseInconclusive:
		s.Inconclusive++
	case v1alpha1.AnalysisPhaseError:
		s.Error++
	}
}

// severity orders final phases from best to worst.
func severity(p v1alpha1.AnalysisPhase) int {
	switch p {
	case v1alpha1.AnalysisPhaseInconclusive:
		return 1
	case v1alpha1.AnalysisPhaseError:
		return 2
	case v1alpha1.AnalysisPhaseFailed:
		return 3
	}
	return 0
}
