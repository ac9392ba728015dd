package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/controllers/rollout"
)

// setupRollout registers the rollout controller with a test manager.
func setupRollout(mgr ctrl.Manager) error {
	r := &rollout.Reconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder(rollout.FieldManager),
		Runs:      rollout.NewRunBuilder(mgr.GetClient()),
	}
	return r.SetupWithManager(mgr)
}

// newService creates a Service selecting app=name.
func newService(t *testing.T, ns, name, app string) {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": app},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	if err := env.client.Create(context.Background(), svc); err != nil {
		t.Fatalf("create Service %s: %v", name, err)
	}
}

// newRolloutObject returns a Rollout of replicas pods of image with the given strategy.
func newRolloutObject(ns, name, image string, replicas int32, strategy v1alpha1.RolloutStrategy) *v1alpha1.Rollout {
	labels := map[string]string{"app": name}
	template := podTemplate(labels)
	template.Spec.Containers[0].Image = image
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: template,
			Strategy: strategy,
		},
	}
}

// getRollout reads a Rollout.
func getRollout(t *testing.T, ns, name string) *v1alpha1.Rollout {
	t.Helper()
	ro := &v1alpha1.Rollout{}
	if err := env.client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, ro); err != nil {
		t.Fatalf("get Rollout %s: %v", name, err)
	}
	return ro
}

// setImage changes a Rollout's image, retrying on conflicts with the controller's writes.
func setImage(t *testing.T, ns, name, image string) {
	t.Helper()
	patch := fmt.Appendf(nil, `{"spec":{"template":{"spec":{"containers":[{"name":"app","image":%q}]}}}}`, image)
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := env.client.Patch(context.Background(), ro, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatalf("set image of %s: %v", name, err)
	}
}

// patchStatus sends a status patch as the Argo tools do (promote, abort, retry).
func patchStatus(t *testing.T, ns, name, patch string) {
	t.Helper()
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := env.client.Status().Patch(context.Background(), ro, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatalf("patch status of %s with %s: %v", name, patch, err)
	}
}

// waitPhase waits for a Rollout's phase (and observedGeneration to match its generation).
func waitPhase(t *testing.T, ns, name string, phase v1alpha1.RolloutPhase, timeout time.Duration) *v1alpha1.Rollout {
	t.Helper()
	var ro *v1alpha1.Rollout
	eventually(t, timeout, fmt.Sprintf("rollout %s to be %s", name, phase), func() (bool, error) {
		ro = getRollout(t, ns, name)
		return ro.Status.Phase == phase && ro.Status.ObservedGeneration == fmt.Sprint(ro.Generation), nil
	})
	return ro
}

// replicaSetsOf returns a Rollout's ReplicaSets by pod-template hash.
func replicaSetsOf(t *testing.T, ns, name string) map[string]*appsv1.ReplicaSet {
	t.Helper()
	var list appsv1.ReplicaSetList
	if err := env.client.List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels{"app": name}); err != nil {
		t.Fatalf("list ReplicaSets: %v", err)
	}
	out := map[string]*appsv1.ReplicaSet{}
	for i := range list.Items {
		out[list.Items[i].Labels[v1alpha1.PodTemplateHashLabelKey]] = &list.Items[i]
	}
	return out
}

// serviceHash returns the pod-template hash a Service selects.
func serviceHash(t *testing.T, ns, name string) string {
	t.Helper()
	svc := &corev1.Service{}
	if err := env.client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, svc); err != nil {
		t.Fatalf("get Service %s: %v", name, err)
	}
	return svc.Spec.Selector[v1alpha1.PodTemplateHashLabelKey]
}

func condition(ro *v1alpha1.Rollout, t v1alpha1.RolloutConditionType) *v1alpha1.RolloutCondition {
	for i := range ro.Status.Conditions {
		if ro.Status.Conditions[i].Type == t {
			return &ro.Status.Conditions[i]
		}
	}
	return nil
}

func specOf(rs *appsv1.ReplicaSet) int32 {
	if rs == nil {
		return -1
	}
	return ptr.Deref(rs.Spec.Replicas, 0)
}

func canarySteps(steps ...v1alpha1.CanaryStep) v1alpha1.RolloutStrategy {
	return v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: steps}}
}

func setWeight(w int32) v1alpha1.CanaryStep { return v1alpha1.CanaryStep{SetWeight: ptr.To(w)} }

func pauseFor(d string) v1alpha1.CanaryStep {
	if d == "" {
		return v1alpha1.CanaryStep{Pause: &v1alpha1.RolloutPause{}}
	}
	v := intstr.Parse(d)
	return v1alpha1.CanaryStep{Pause: &v1alpha1.RolloutPause{Duration: &v}}
}

// rawMerge is a JSON merge patch.
func rawMerge(data []byte) client.Patch { return client.RawPatch(types.MergePatchType, data) }
