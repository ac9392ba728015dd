package e2e

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// TestMigrationFromAnotherControllerReplacesNoPod: a Rollout and its ReplicaSet as another
// controller serving the same API left them (Argo Rollouts: its own hash in the name and label,
// the revision annotation, an owner reference, a status naming the stable ReplicaSet) are taken
// over by sluice without replacing a single pod; the next update then runs as usual.
func TestMigrationFromAnotherControllerReplacesNoPod(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	const legacyHash = "5f6c8d7b9" // not the hash sluice computes for this template
	ro := newRolloutObject(ns, "legacy", "app:1", 3, canarySteps(setWeight(50), pauseFor("1s")))
	if err := env.client.Create(ctx, ro); err != nil {
		t.Fatalf("create Rollout: %v", err)
	}

	// The ReplicaSet the previous controller created and the status it wrote.
	tmpl := ro.Spec.Template.DeepCopy()
	tmpl.Labels[v1alpha1.PodTemplateHashLabelKey] = legacyHash
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: "legacy-" + legacyHash,
			Labels:          map[string]string{"app": "legacy", v1alpha1.PodTemplateHashLabelKey: legacyHash},
			Annotations:     map[string]string{v1alpha1.RevisionAnnotationKey: "1"},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind("Rollout"))},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "legacy", v1alpha1.PodTemplateHashLabelKey: legacyHash}},
			Template: *tmpl,
		},
	}
	if err := env.client.Create(ctx, rs); err != nil {
		t.Fatalf("create legacy ReplicaSet: %v", err)
	}
	ro.Status = v1alpha1.RolloutStatus{StableRS: legacyHash, CurrentPodHash: legacyHash, CurrentStepIndex: ptr.To[int32](2),
		ObservedGeneration: "1", Phase: v1alpha1.RolloutPhaseHealthy}
	if err := env.client.Status().Update(ctx, ro); err != nil {
		t.Fatalf("write the previous controller's status: %v", err)
	}
	before := runningPods(t, ns, "legacy", 3)

	startManager(t, setupRollout)
	eventually(t, time.Minute, "sluice to take the Rollout over", func() (bool, error) {
		cur := getRollout(t, ns, "legacy")
		got := &appsv1.ReplicaSet{}
		if err := env.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: rs.Name}, got); err != nil {
			return false, err
		}
		_, marked := got.Annotations["sluice.dev/template-hash"]
		return marked && cur.Status.Phase == v1alpha1.RolloutPhaseHealthy && cur.Status.StableRS == legacyHash &&
			cur.Status.ObservedGeneration == "1" && condition(cur, v1alpha1.RolloutHealthy) != nil, nil
	})
	if rss := replicaSetsOf(t, ns, "legacy"); len(rss) != 1 {
		t.Fatalf("want only the legacy ReplicaSet, got %d: %v", len(rss), rss)
	}
	after := runningPods(t, ns, "legacy", 3)
	for uid := range before {
		if !after[uid] {
			t.Fatalf("pod %s was replaced during the take-over", uid)
		}
	}

	setImage(t, ns, "legacy", "app:2")
	done := waitPhase(t, ns, "legacy", v1alpha1.RolloutPhaseHealthy, time.Minute)
	if done.Status.StableRS == legacyHash {
		t.Fatalf("the update after the take-over did not complete: %+v", done.Status)
	}
	eventually(t, time.Minute, "the legacy ReplicaSet to scale to zero", func() (bool, error) {
		old := replicaSetsOf(t, ns, "legacy")[legacyHash]
		return specOf(old) == 0, nil
	})
}

// runningPods waits for n running pods of app and returns their UIDs.
func runningPods(t *testing.T, ns, app string, n int) map[types.UID]bool {
	t.Helper()
	uids := map[types.UID]bool{}
	eventually(t, time.Minute, "pods to run", func() (bool, error) {
		var pods corev1.PodList
		if err := env.client.List(context.Background(), &pods, client.InNamespace(ns), client.MatchingLabels{"app": app}); err != nil {
			return false, err
		}
		uids = map[types.UID]bool{}
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
				uids[p.UID] = true
			}
		}
		return len(uids) == n, nil
	})
	return uids
}
