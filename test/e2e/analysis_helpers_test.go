package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rolloutsv1alpha1 "github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/controllers/analysisrun"
)

// startAnalysisController runs the AnalysisRun controller with its default providers.
func startAnalysisController(t *testing.T) {
	t.Helper()
	startManager(t, func(mgr ctrl.Manager) error { return analysisrun.NewReconciler(mgr).SetupWithManager(mgr) })
}

// createAnalysisRun creates an AnalysisRun in ns and returns its name.
func createAnalysisRun(t *testing.T, ns, name string, spec rolloutsv1alpha1.AnalysisRunSpec) string {
	t.Helper()
	run := &rolloutsv1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
	if err := env.client.Create(context.Background(), run); err != nil {
		t.Fatalf("create analysis run %s: %v", name, err)
	}
	return name
}

func getAnalysisRun(ns, name string) (*rolloutsv1alpha1.AnalysisRun, error) {
	var run rolloutsv1alpha1.AnalysisRun
	err := env.client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &run)
	return &run, err
}

// waitAnalysisRun polls the run until cond holds and returns it.
func waitAnalysisRun(t *testing.T, ns, name string, timeout time.Duration, what string, cond func(*rolloutsv1alpha1.AnalysisRun) bool) *rolloutsv1alpha1.AnalysisRun {
	t.Helper()
	var last *rolloutsv1alpha1.AnalysisRun
	eventually(t, timeout, fmt.Sprintf("analysis run %s: %s", name, what), func() (bool, error) {
		run, err := getAnalysisRun(ns, name)
		if err != nil {
			return false, err
		}
		last = run
		if run.Status.Phase.Completed() && !cond(run) {
			return false, fmt.Errorf("run ended %s: %q", run.Status.Phase, run.Status.Message)
		}
		return cond(run), nil
	})
	return last
}

// waitAnalysisPhase waits for the run to reach a final phase and checks it is want.
func waitAnalysisPhase(t *testing.T, ns, name string, timeout time.Duration, want rolloutsv1alpha1.AnalysisPhase) *rolloutsv1alpha1.AnalysisRun {
	t.Helper()
	return waitAnalysisRun(t, ns, name, timeout, "phase "+string(want), func(r *rolloutsv1alpha1.AnalysisRun) bool {
		return r.Status.Phase == want
	})
}

func analysisMetricResult(run *rolloutsv1alpha1.AnalysisRun, name string) rolloutsv1alpha1.MetricResult {
	for _, r := range run.Status.MetricResults {
		if r.Name == name {
			return r
		}
	}
	return rolloutsv1alpha1.MetricResult{}
}

// checkAnalysisFinished checks the parts of a finished run's status that every run must have.
func checkAnalysisFinished(t *testing.T, run *rolloutsv1alpha1.AnalysisRun) {
	t.Helper()
	if run.Status.StartedAt == nil || run.Status.CompletedAt == nil {
		t.Errorf("status startedAt %v, completedAt %v: want both", run.Status.StartedAt, run.Status.CompletedAt)
	}
	for _, r := range run.Status.MetricResults {
		for i, m := range r.Measurements {
			if m.StartedAt == nil || (m.Phase.Completed() && m.FinishedAt == nil) || m.Phase == "" {
				t.Errorf("metric %s measurement %d is incomplete: %+v", r.Name, i, m)
			}
		}
	}
}

func analysisIntOrString(n int32) *intstr.IntOrString { v := intstr.FromInt32(n); return &v }

func analysisPtr[T any](v T) *T { return &v }

func analysisRawJSON(s string) *apiextensionsv1.JSON { return &apiextensionsv1.JSON{Raw: []byte(s)} }

func metav1ControllerOf(obj metav1.Object) *metav1.OwnerReference { return metav1.GetControllerOf(obj) }
