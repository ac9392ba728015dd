package plan

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// workloadRollout is a canary Rollout that takes its template from the Deployment "legacy".
func workloadRollout() (*v1alpha1.Rollout, corev1.PodTemplateSpec) {
	ro := canaryRollout(2, weight(50))
	tmpl := ro.Spec.Template
	ro.Spec.Template = corev1.PodTemplateSpec{}
	ro.Spec.WorkloadRef = &v1alpha1.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "legacy"}
	ro.Generation = 1
	return ro, tmpl
}

// TestWorkloadRefWithTemplateIsInvalid: both workloadRef and a template is InvalidSpec (Degraded,
// Argo Rollouts' message) and nothing is created, instead of a ReplicaSet the API server rejects.
func TestWorkloadRefWithTemplateIsInvalid(t *testing.T) {
	ro, tmpl := workloadRollout()
	ro.Spec.Template = tmpl
	p := Next(ro, Observed{Template: &tmpl, PodHash: PodTemplateHash(&tmpl, nil), WorkloadGeneration: 3}, time.Now())
	if len(p.Create)+len(p.Scale) > 0 {
		t.Errorf("an invalid spec planned ReplicaSet changes: create %d, scale %d", len(p.Create), len(p.Scale))
	}
	if p.Status.Phase != v1alpha1.RolloutPhaseDegraded {
		t.Errorf("phase %s, want Degraded", p.Status.Phase)
	}
	c := condition(&p.Status, v1alpha1.InvalidSpec)
	if c == nil || c.Status != corev1.ConditionTrue || !strings.Contains(c.Message, "template must be empty for workload reference rollout") {
		t.Errorf("InvalidSpec condition %+v, want one saying the template must be empty", c)
	}
}

// TestWorkloadObservedGeneration: status.workloadObservedGeneration is the generation of the
// referenced Deployment that the plan used, as Argo Rollouts writes it; it stays while the
// Deployment cannot be read and is cleared without a workloadRef.
func TestWorkloadObservedGeneration(t *testing.T) {
	ro, tmpl := workloadRollout()
	obs := Observed{Template: &tmpl, PodHash: PodTemplateHash(&tmpl, nil), WorkloadGeneration: 4}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

	p := Next(ro, obs, now)
	if got := p.Status.WorkloadObservedGeneration; got != "4" {
		t.Fatalf("workloadObservedGeneration %q, want \"4\"", got)
	}
	ro.Status = p.Status

	obs.WorkloadGeneration = 5
	if got := Next(ro, obs, now).Status.WorkloadObservedGeneration; got != "5" {
		t.Errorf("after the Deployment changed: workloadObservedGeneration %q, want \"5\"", got)
	}

	missing := Observed{TemplateError: "spec.workloadRef: Deployment legacy not found"}
	if got := Next(ro, missing, now).Status.WorkloadObservedGeneration; got != "4" {
		t.Errorf("with the Deployment unreadable: workloadObservedGeneration %q, want the last observed \"4\"", got)
	}

	plain := canaryRollout(2, weight(50))
	plain.Status.WorkloadObservedGeneration = "4"
	plainTmpl := plain.Spec.Template
	if got := Next(plain, Observed{Template: &plainTmpl, PodHash: PodTemplateHash(&plainTmpl, nil)}, now).Status.WorkloadObservedGeneration; got != "" {
		t.Errorf("without a workloadRef: workloadObservedGeneration %q, want it cleared", got)
	}
}
