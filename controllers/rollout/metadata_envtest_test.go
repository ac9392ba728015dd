package rollout_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/controllers/rollout/plan"
)

// TestRefusedPodRelabelLeavesTheTemplate: a canary with canaryMetadata/stableMetadata is
// promoted while the API server refuses every change of a pod's labels. The promoted
// ReplicaSet's pods are relabelled before its template, so the refusal leaves the template (and
// the record of the injected metadata) on the canary's metadata: the change is planned and tried
// again, the failure is reported, and the Rollout is not Healthy. Once the policy is lifted the
// pod, the template and the record all carry the stable metadata, and only then is it Healthy.
func TestRefusedPodRelabelLeavesTheTemplate(t *testing.T) {
	ctx := context.Background()
	ns := testNamespace(t, "pod-metadata")
	fakeReplicaSets(t, ns)

	ro := newRollout("web")
	ro.Namespace = ns
	ro.Spec.Replicas = ptr.To[int32](2)
	c := ro.Spec.Strategy.Canary
	c.Steps = []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](50)}, {Pause: &v1alpha1.RolloutPause{}}}
	c.CanaryMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "canary"}}
	c.StableMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "stable"}}
	if err := k8s.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the first revision Healthy", func() bool {
		return getRollout(t, ns, "web").Status.Phase == v1alpha1.RolloutPhaseHealthy
	})
	cur := getRollout(t, ns, "web")
	cur.Spec.Template.Spec.Containers[0].Image = "app:2"
	if err := k8s.Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	var canary string
	eventually(t, "the canary paused at step 1", func() bool {
		cur := getRollout(t, ns, "web")
		canary = cur.Status.CurrentPodHash
		return cur.Status.Phase == v1alpha1.RolloutPhasePaused && cur.Status.ControllerPause && canary != cur.Status.StableRS
	})
	rs := replicaSetByHash(t, ns, canary)
	if got := rs.Spec.Template.Labels["role"]; got != "canary" {
		t.Fatalf("canary template role=%q, want canary", got)
	}
	const canaryRecord, stableRecord = `{"labels":{"role":"canary"}}`, `{"labels":{"role":"stable"}}`
	if got := rs.Annotations[plan.EphemeralMetadataAnnotation]; got != canaryRecord {
		t.Fatalf("canary ReplicaSet records %q, want %q", got, canaryRecord)
	}

	// envtest runs no ReplicaSet controller: the canary's pod is made here, as it would make it.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: rs.Name + "-pod", Labels: rs.Spec.Template.Labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID,
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}},
		},
		Spec: rs.Spec.Template.Spec,
	}
	if err := k8s.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	lift := denyUpdates(t, ns, "", "pods", `object.metadata.labels == oldObject.metadata.labels`, func() error {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: pod.Name}}
		return k8s.Patch(ctx, p, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"probe":"x"}}}`)), client.DryRunAll)
	})

	// Promote: the pause condition goes while the controller holds the pause.
	if err := k8s.Status().Patch(ctx, getRollout(t, ns, "web"), client.RawPatch(types.MergePatchType, []byte(`{"status":{"pauseConditions":null}}`))); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the refused pod patch reported, and retried", func() bool {
		cur := getRollout(t, ns, "web")
		failed := strings.Contains(progressing(cur).Message, "last action failed: set pod metadata: set metadata of pod "+pod.Name)
		var retried bool
		for note, n := range warnings(t, ns, "web", "ReconcileError") {
			retried = retried || (strings.Contains(note, pod.Name) && n >= 2)
		}
		return cur.Status.StableRS == canary && failed && retried
	})
	rs = replicaSetByHash(t, ns, canary)
	if got := rs.Spec.Template.Labels["role"]; got != "canary" {
		t.Fatalf("template role=%q after the pods refused the change; want it left at canary", got)
	}
	if got := rs.Annotations[plan.EphemeralMetadataAnnotation]; got != canaryRecord {
		t.Fatalf("record %q after the pods refused the change; want it left at %q", got, canaryRecord)
	}
	if phase := getRollout(t, ns, "web").Status.Phase; phase == v1alpha1.RolloutPhaseHealthy {
		t.Fatalf("phase Healthy while the promoted pods still carry the canary metadata")
	}

	lift()
	eventually(t, "pod, template and record on the stable metadata, then Healthy", func() bool {
		p := &corev1.Pod{}
		if err := k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: pod.Name}, p); err != nil {
			t.Fatal(err)
		}
		rs := replicaSetByHash(t, ns, canary)
		return p.Labels["role"] == "stable" && rs.Spec.Template.Labels["role"] == "stable" &&
			rs.Annotations[plan.EphemeralMetadataAnnotation] == stableRecord &&
			getRollout(t, ns, "web").Status.Phase == v1alpha1.RolloutPhaseHealthy
	})
}
