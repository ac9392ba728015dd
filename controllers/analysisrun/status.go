package analysisrun

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// failRun ends the run in the Error phase: its spec cannot be measured.
func failRun(run *v1alpha1.AnalysisRun, msg string, now time.Time) {
	run.Status.Phase = v1alpha1.AnalysisPhaseError
	run.Status.Message = msg
	run.Status.CompletedAt = timePtr(now)
}

// ttlExpiry is when a finished run is deleted under its ttlStrategy: secondsAfterSuccess for a
// Successful run, secondsAfterFailure for any other final phase, else secondsAfterCompletion.
func ttlExpiry(run *v1alpha1.AnalysisRun) (time.Time, bool) {
	s := run.Spec.TTLStrategy
	if s == nil || run.Status.CompletedAt == nil || !run.Status.Phase.Completed() {
		return time.Time{}, false
	}
	secs := s.SecondsAfterCompletion
	switch {
	case run.Status.Phase == v1alpha1.AnalysisPhaseSuccessful && s.SecondsAfterSuccess != nil:
		secs = s.SecondsAfterSuccess
	case run.Status.Phase != v1alpha1.AnalysisPhaseSuccessful && s.SecondsAfterFailure != nil:
		secs = s.SecondsAfterFailure
	}
	if secs == nil {
		return time.Time{}, false
	}
	return run.Status.CompletedAt.Add(time.Duration(*secs) * time.Second), true
}

// ttlResult comes back when the finished run's TTL expires.
func ttlResult(run *v1alpha1.AnalysisRun, now time.Time) ctrl.Result {
	expiry, ok := ttlExpiry(run)
	if !ok {
		return ctrl.Result{}
	}
	return requeueAt(expiry, now)
}

// reconcileTTL deletes a finished run whose TTL has expired, or comes back when it will.
func (r *AnalysisRunReconciler) reconcileTTL(ctx context.Context, run *v1alpha1.AnalysisRun) (ctrl.Result, error) {
	expiry, ok := ttlExpiry(run)
	if !ok {
		return ctrl.Result{}, nil
	}
	now := r.now()
	if now.Before(expiry) {
		return requeueAt(expiry, now), nil
	}
	logf.FromContext(ctx).Info("Delete analysis run after its TTL", "phase", run.Status.Phase, "completedAt", run.Status.CompletedAt)
	if err := r.Delete(ctx, run, client.Preconditions{UID: &run.UID}); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, fmt.Errorf("delete analysis run %s after its TTL: %w", run.Name, err)
	}
	return ctrl.Result{}, nil
}

// recordCompletion emits an event when the run reaches a final phase.
func (r *AnalysisRunReconciler) recordCompletion(run *v1alpha1.AnalysisRun) {
	if r.Recorder == nil || !run.Status.Phase.Completed() {
		return
	}
	eventType := corev1.EventTypeWarning
	if run.Status.Phase == v1alpha1.AnalysisPhaseSuccessful {
		eventType = corev1.EventTypeNormal
	}
	note := "Analysis run completed: " + string(run.Status.Phase)
	if run.Status.Message != "" {
		note += ": " + run.Status.Message
	}
	if len(note) > 1000 {
		note = note[:1000]
	}
	r.Recorder.Eventf(run, nil, eventType, "AnalysisRun"+string(run.Status.Phase), "Assess", "%s", note)
}

func timePtr(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t)
	return &mt
}
