package plan

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// runOutcome is what an analysis means for the rollout.
type runOutcome int

const (
	runWaiting runOutcome = iota // not started, pending or running
	runPassed
	runFailed       // Failed or Error: abort
	runInconclusive // pause until a person promotes
)

// analysis starts or reads the AnalysisRun of one purpose and returns its outcome and the status
// to show for it. The run is the one current names when that belongs to this purpose; otherwise a
// new attempt starts, named <rollout>-<hash>-<revision>[-<step>|-pre|-post], with ".N" added when
// an earlier attempt (before a retry) holds the name.
func (s *state) analysis(runType string, stepIndex *int32, a *v1alpha1.RolloutAnalysis, current *v1alpha1.RolloutAnalysisRunStatus) (runOutcome, *v1alpha1.RolloutAnalysisRunStatus) {
	base := fmt.Sprintf("%s-%s-%d", s.ro.Name, podHash(s.newRS), revision(s.newRS))
	switch {
	case stepIndex != nil:
		base = fmt.Sprintf("%s-%d", base, *stepIndex)
	case runType == v1alpha1.RolloutTypePrePromotionLabel:
		base += "-pre"
	case runType == v1alpha1.RolloutTypePostPromotionLabel:
		base += "-post"
	}
	name := base
	if current != nil && (current.Name == base || strings.HasPrefix(current.Name, base+".")) {
		name = current.Name
	} else {
		for n := 1; s.obs.Runs[name] != nil; n++ {
			name = fmt.Sprintf("%s.%d", base, n)
		}
	}
	run := s.obs.Runs[name]
	if run == nil {
		// Not there yet (or the cache has not seen it): asking again is harmless.
		s.plan.CreateRuns = append(s.plan.CreateRuns, RunRequest{
			Name: name, Type: runType, StepIndex: stepIndex, Analysis: a, PodHash: podHash(s.newRS),
		})
		return runWaiting, &v1alpha1.RolloutAnalysisRunStatus{Name: name, Status: v1alpha1.AnalysisPhasePending}
	}
	status := &v1alpha1.RolloutAnalysisRunStatus{Name: run.Name, Status: run.Phase, Message: run.Message}
	switch run.Phase {
	case v1alpha1.AnalysisPhaseSuccessful:
		return runPassed, status
	case v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseError:
		return runFailed, status
	case v1alpha1.AnalysisPhaseInconclusive:
		return runInconclusive, status
	}
	return runWaiting, status
}

// stepAnalysisDone runs the analysis of canary step i.
func (s *state) stepAnalysisDone(i int32) bool {
	step := s.ro.Spec.Strategy.Canary.Steps[i]
	outcome, status := s.analysis(v1alpha1.RolloutTypeStepLabel, ptr.To(i), step.Analysis, s.status.Canary.CurrentStepAnalysisRunStatus)
	s.status.Canary.CurrentStepAnalysisRunStatus = status
	return s.applyOutcome(outcome, status)
}

// applyOutcome turns an analysis outcome into the rollout's next move: a failure aborts at once
// (in this same plan, so traffic and replicas go back to stable without waiting for another
// reconcile), an inconclusive run pauses until a person promotes.
func (s *state) applyOutcome(outcome runOutcome, status *v1alpha1.RolloutAnalysisRunStatus) bool {
	switch outcome {
	case runPassed:
		return true
	case runFailed:
		s.status.Abort = true
		s.analysisFailure = fmt.Sprintf("AnalysisRun %s %s: %s", status.Name, status.Status, status.Message)
		s.event(corev1.EventTypeWarning, "AnalysisRun"+string(status.Status), s.analysisFailure)
		return false
	case runInconclusive:
		cond := findPause(s.status.PauseConditions, v1alpha1.PauseReasonInconclusiveAnalysis)
		if cond == nil && s.status.ControllerPause && len(s.status.PauseConditions) == 0 {
			s.status.ControllerPause = false // promoted: a person cleared the pause conditions
			return true
		}
		if cond == nil {
			s.addPause(v1alpha1.PauseReasonInconclusiveAnalysis)
		}
		return false
	}
	return false
}

// addPause sets a pause condition that only a person ends.
func (s *state) addPause(reason v1alpha1.PauseReason) {
	s.status.PauseConditions = append(s.status.PauseConditions, v1alpha1.PauseCondition{Reason: reason, StartTime: metaNow(s.now)})
	s.status.ControllerPause = true
	s.recordPauseStart(reason, s.now)
}

// backgroundAnalysis runs the canary's background analysis from its starting step until the
// update completes.
func (s *state) backgroundAnalysis() {
	c := s.ro.Spec.Strategy.Canary
	bg := c.Analysis
	if bg == nil || len(bg.Templates) == 0 || s.newRS == s.stableRS || s.status.Abort {
		return // terminateRuns stops a run that is still measuring
	}
	if bg.StartingStep != nil && s.stepIndex() < *bg.StartingStep {
		return
	}
	outcome, status := s.analysis(v1alpha1.RolloutTypeBackgroundRunLabel, nil, &bg.RolloutAnalysis, s.status.Canary.CurrentBackgroundAnalysisRunStatus)
	s.status.Canary.CurrentBackgroundAnalysisRunStatus = status
	if outcome == runPassed {
		return // a background run that ended well lets the steps decide
	}
	if s.applyOutcome(outcome, status) && outcome == runInconclusive {
		// A person accepted the inconclusive result: the background analysis starts again.
		s.status.Canary.CurrentBackgroundAnalysisRunStatus = nil
	}
}

// terminateRuns stops every AnalysisRun still measuring that the rollout no longer needs: runs of
// earlier templates, a background run once the update ends or aborts, a step run whose step was
// skipped.
func (s *state) terminateRuns() {
	active := map[string]bool{}
	if !s.status.Abort && s.newRS != s.stableRS {
		if c := s.ro.Spec.Strategy.Canary; c != nil {
			idx := int(s.stepIndex())
			if r := s.status.Canary.CurrentStepAnalysisRunStatus; r != nil && idx < len(c.Steps) && c.Steps[idx].Analysis != nil {
				active[r.Name] = true
			}
			if r := s.status.Canary.CurrentBackgroundAnalysisRunStatus; r != nil {
				active[r.Name] = true
			}
		}
	}
	if b := s.ro.Spec.Strategy.BlueGreen; b != nil && !s.status.Abort {
		for _, r := range []*v1alpha1.RolloutAnalysisRunStatus{s.status.BlueGreen.PrePromotionAnalysisRunStatus, s.status.BlueGreen.PostPromotionAnalysisRunStatus} {
			if r != nil {
				active[r.Name] = true
			}
		}
	}
	for name, run := range s.obs.Runs {
		if !active[name] && !run.Phase.Completed() && !run.Terminating {
			s.plan.TerminateRuns = append(s.plan.TerminateRuns, name)
		}
	}
	sort.Strings(s.plan.TerminateRuns)
}

// retried reports whether a person retried an aborted update (abort back to false), and starts
// the new attempt: fresh AnalysisRuns, and the abort time cleared.
func (s *state) retried() bool {
	if s.status.Abort || s.status.AbortedAt == nil {
		return false
	}
	s.status.AbortedAt = nil
	s.status.Canary.CurrentStepAnalysisRunStatus = nil
	s.status.Canary.CurrentBackgroundAnalysisRunStatus = nil
	s.status.BlueGreen.PrePromotionAnalysisRunStatus = nil
	s.status.BlueGreen.PostPromotionAnalysisRunStatus = nil
	return true
}
