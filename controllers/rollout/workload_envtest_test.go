package rollout_test

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// TestWorkloadObservedGeneration: a workloadRef Rollout records the generation of the Deployment
// whose template it used in status.workloadObservedGeneration, as Argo Rollouts does, and follows
// a change to the Deployment.
func TestWorkloadObservedGeneration(t *testing.T) {
	ctx := context.Background()
	labels := map[string]string{"app": "wref"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "wref-source"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](0),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
			},
		},
	}
	if err := k8s.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	ro := newRollout("wref")
	ro.Spec.Template = corev1.PodTemplateSpec{}
	ro.Spec.WorkloadRef = &v1alpha1.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: dep.Name}
	if err := k8s.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	eventually(t, "workloadObservedGeneration 1", func() bool {
		_ = k8s.Get(ctx, client.ObjectKeyFromObject(ro), ro)
		return ro.Status.WorkloadObservedGeneration == "1"
	})
	dep.Spec.Template.Spec.Containers[0].Image = "app:2"
	if err := k8s.Update(ctx, dep); err != nil {
		t.Fatal(err)
	}
	eventually(t, "workloadObservedGeneration 2 after the Deployment changed", func() bool {
		_ = k8s.Get(ctx, client.ObjectKeyFromObject(ro), ro)
		return ro.Status.WorkloadObservedGeneration == "2"
	})
}

// TestWorkloadRefWithTemplateIsInvalidSpec: workloadRef and a non-empty template is InvalidSpec
// with Argo Rollouts' message and creates nothing (before, it retried a ReplicaSet the API server
// rejected and never went Degraded).
func TestWorkloadRefWithTemplateIsInvalidSpec(t *testing.T) {
	ctx := context.Background()
	ro := newRollout("wref-both")
	ro.Spec.WorkloadRef = &v1alpha1.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "wref-source"}
	if err := k8s.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	eventually(t, "InvalidSpec naming the template", func() bool {
		_ = k8s.Get(ctx, client.ObjectKeyFromObject(ro), ro)
		for _, c := range ro.Status.Conditions {
			if c.Type == v1alpha1.InvalidSpec && c.Status == corev1.ConditionTrue {
				return ro.Status.Phase == v1alpha1.RolloutPhaseDegraded &&
					strings.Contains(c.Message, "template must be empty for workload reference rollout")
			}
		}
		return false
	})
	var list appsv1.ReplicaSetList
	if err := k8s.List(ctx, &list, client.InNamespace("default"), client.MatchingLabels{"app": "wref-both"}); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 0 {
		t.Fatalf("an invalid Rollout created %d ReplicaSets", len(list.Items))
	}
}
