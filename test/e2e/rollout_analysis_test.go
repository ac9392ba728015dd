package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/controllers/analysisrun"
)

// analysisRollout creates the error-ratio AnalysisTemplate (interval 1s, count, failure on the
// first bad measurement, consecutiveErrorLimit 2) and a 4-replica canary [25%, analysis, 50%]
// whose analysis step uses it, and waits until the first version is Healthy.
func analysisRollout(t *testing.T, ns, promURL string, count int32) {
	t.Helper()
	ctx := context.Background()
	spec := errorRatioSpec(t, ns, promURL, count)
	spec.Metrics[0].ConsecutiveErrorLimit = analysisIntOrString(2)
	tmpl := &v1alpha1.AnalysisTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "error-ratio"},
		Spec:       v1alpha1.AnalysisTemplateSpec{Metrics: spec.Metrics, Args: spec.Args},
	}
	must(t, "create AnalysisTemplate", env.client.Create(ctx, tmpl))
	ro := newRolloutObject(ns, "api", "app:1", 4, canarySteps(setWeight(25),
		v1alpha1.CanaryStep{Analysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "error-ratio"}}}},
		setWeight(50)))
	must(t, "create Rollout", env.client.Create(ctx, ro))
	waitPhase(t, ns, "api", v1alpha1.RolloutPhaseHealthy, time.Minute)
}

func setupRolloutAndAnalysis(mgr ctrl.Manager) error {
	if err := setupRollout(mgr); err != nil {
		return err
	}
	return analysisrun.NewReconciler(mgr).SetupWithManager(mgr)
}

// (a) A canary whose analysis step measures a low error ratio on a real Prometheus promotes.
func TestRolloutAnalysisPassesAndPromotes(t *testing.T) {
	_, prom := startErrorRatio(t, 0.01)
	ns := newNamespace(t)
	startManager(t, setupRolloutAndAnalysis)
	analysisRollout(t, ns, prom.URL, 3)
	setImage(t, ns, "api", "app:2")
	eventually(t, 2*time.Minute, "the update to complete", func() (bool, error) {
		ro := getRollout(t, ns, "api")
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == ro.Status.CurrentPodHash &&
			ro.Spec.Template.Spec.Containers[0].Image == "app:2" && ro.Status.ObservedGeneration == "2", nil
	})
	run := getRollout(t, ns, "api").Status.Canary.CurrentStepAnalysisRunStatus
	if run == nil || run.Status != v1alpha1.AnalysisPhaseSuccessful || !strings.HasPrefix(run.Name, "api-") {
		t.Fatalf("step analysis status = %+v, want a Successful run", run)
	}
}

// (b) The error ratio rises while the analysis runs: the run fails, the rollout aborts (Degraded)
// and the stable version is back at full size.
func TestRolloutAnalysisFailureAborts(t *testing.T) {
	exp, prom := startErrorRatio(t, 0.01)
	ns := newNamespace(t)
	startManager(t, setupRolloutAndAnalysis)
	analysisRollout(t, ns, prom.URL, 60)
	stable := getRollout(t, ns, "api").Status.StableRS
	setImage(t, ns, "api", "app:2")
	eventually(t, time.Minute, "the analysis to be running", func() (bool, error) {
		r := getRollout(t, ns, "api").Status.Canary.CurrentStepAnalysisRunStatus
		return r != nil && r.Status == v1alpha1.AnalysisPhaseRunning, nil
	})
	exp.Gauge.Set(0.5)
	ro := waitPhase(t, ns, "api", v1alpha1.RolloutPhaseDegraded, time.Minute)
	if !ro.Status.Abort || !strings.Contains(ro.Status.Message, "Failed") {
		t.Fatalf("want an abort naming the failed run, got abort=%v message %q", ro.Status.Abort, ro.Status.Message)
	}
	eventually(t, time.Minute, "stable back at 4 available", func() (bool, error) {
		rs := replicaSetsOf(t, ns, "api")[stable]
		return specOf(rs) == 4 && rs.Status.AvailableReplicas == 4, nil
	})
}

// (c) Prometheus stops mid-run: the run goes to Error after consecutiveErrorLimit and the rollout
// aborts, naming the error.
func TestRolloutAnalysisErrorAborts(t *testing.T) {
	_, prom := startErrorRatio(t, 0.01)
	ns := newNamespace(t)
	startManager(t, setupRolloutAndAnalysis)
	analysisRollout(t, ns, prom.URL, 60)
	setImage(t, ns, "api", "app:2")
	eventually(t, time.Minute, "the analysis to be running", func() (bool, error) {
		r := getRollout(t, ns, "api").Status.Canary.CurrentStepAnalysisRunStatus
		return r != nil && r.Status == v1alpha1.AnalysisPhaseRunning, nil
	})
	prom.Stop()
	ro := waitPhase(t, ns, "api", v1alpha1.RolloutPhaseDegraded, time.Minute)
	if !ro.Status.Abort || !strings.Contains(ro.Status.Message, "Error") {
		t.Fatalf("want an abort naming the run's Error, got abort=%v message %q", ro.Status.Abort, ro.Status.Message)
	}
	if r := ro.Status.Canary.CurrentStepAnalysisRunStatus; r == nil || r.Status != v1alpha1.AnalysisPhaseError {
		t.Fatalf("step analysis status = %+v, want Error", r)
	}
}

// An analysis step that names a missing template is InvalidSpec, and valid again once the
// template arrives. (A metric that would never end is covered by TestValidateAnalysisTemplateErrors.)
func TestRolloutAnalysisInvalidSpec(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	startManager(t, setupRolloutAndAnalysis)
	ro := newRolloutObject(ns, "bad", "app:1", 1, canarySteps(
		v1alpha1.CanaryStep{Analysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "missing"}}}}))
	must(t, "create Rollout", env.client.Create(ctx, ro))
	degraded := waitPhase(t, ns, "bad", v1alpha1.RolloutPhaseDegraded, time.Minute)
	if c := condition(degraded, v1alpha1.InvalidSpec); c == nil || !strings.Contains(c.Message, "spec.strategy.canary.steps[0].analysis") || !strings.Contains(c.Message, "missing") {
		t.Fatalf("want InvalidSpec naming the step and the missing template, got %+v", c)
	}
	// The template arrives: the Rollout is valid again without anyone touching it.
	tmpl := &v1alpha1.AnalysisTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "missing"},
		Spec: v1alpha1.AnalysisTemplateSpec{Metrics: []v1alpha1.Metric{{
			Name: "smoke", Count: analysisIntOrString(1), SuccessCondition: "result == 'ok'",
			Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://127.0.0.1:9/health"}},
		}}},
	}
	must(t, "create AnalysisTemplate", env.client.Create(ctx, tmpl))
	healthy := waitPhase(t, ns, "bad", v1alpha1.RolloutPhaseHealthy, time.Minute)
	if c := condition(healthy, v1alpha1.InvalidSpec); c != nil {
		t.Fatalf("InvalidSpec still set: %+v", c)
	}
}
