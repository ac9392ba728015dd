package rollout_test

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// countsVisibleWithin is how soon a change of replica counts must reach the Rollout's status
// (issue #14: tools and people watch these numbers; Argo Rollouts shows them within 2 s).
const countsVisibleWithin = 2 * time.Second

// countsPollMargin is added to that bound for the test's own part: its status write of the
// ReplicaSet returning, and its polling reads of the Rollout (every 20 ms, each a round trip to an
// API server on a shared 2-core machine). It is not slack for the controller, whose hold is 1 s.
const countsPollMargin = 500 * time.Millisecond

// TestCanaryPodCountedWithinTwoSeconds: during an update, the canary ReplicaSet's status showing
// its first pod available is counted in the Rollout's status.updatedReplicas within 2 s, and so
// is a second pod created a moment later. Neither finishes the step, so each is a change of counts
// alone, and each comes right after a status write (the update's start, then the first count).
// Nothing here plays the kubelet for the canary: the test sets the canary ReplicaSet's status
// itself, so it knows when the pods are up.
func TestCanaryPodCountedWithinTwoSeconds(t *testing.T) {
	ctx := context.Background()
	ns := testNamespace(t, "counts")
	// The stable side (template image app:1) is always fully available, as fakeReplicaSets makes it.
	background(t, func(ctx context.Context) {
		var list appsv1.ReplicaSetList
		if k8s.List(ctx, &list, client.InNamespace(ns)) != nil {
			return
		}
		for i := range list.Items {
			rs := &list.Items[i]
			n := ptr.Deref(rs.Spec.Replicas, 1)
			if rs.Spec.Template.Spec.Containers[0].Image != "app:1" ||
				(rs.Status.Replicas == n && rs.Status.AvailableReplicas == n && rs.Status.ObservedGeneration == rs.Generation) {
				continue
			}
			rs.Status = appsv1.ReplicaSetStatus{Replicas: n, FullyLabeledReplicas: n, ReadyReplicas: n, AvailableReplicas: n, ObservedGeneration: rs.Generation}
			_ = k8s.Status().Update(ctx, rs)
		}
	})
	ro := newRollout("web")
	ro.Namespace = ns
	ro.Spec.Replicas = ptr.To[int32](4)
	// The canary is created at its full 2 pods at once (surge 2) and nothing of stable goes before
	// both are available, so neither canary pod alone moves the step on.
	surge, unavailable := intstr.FromInt32(2), intstr.FromInt32(0)
	ro.Spec.Strategy.Canary.MaxSurge, ro.Spec.Strategy.Canary.MaxUnavailable = &surge, &unavailable
	ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](50)}, {Pause: &v1alpha1.RolloutPause{}}}
	if err := k8s.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Healthy", func() bool { return getRollout(t, ns, "web").Status.Phase == v1alpha1.RolloutPhaseHealthy })

	cur := getRollout(t, ns, "web")
	cur.Spec.Template.Spec.Containers[0].Image = "app:2"
	if err := k8s.Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	var canary *appsv1.ReplicaSet
	eventually(t, "the canary ReplicaSet at 2 and the update recorded", func() bool {
		cur := getRollout(t, ns, "web")
		if cur.Status.Phase != v1alpha1.RolloutPhaseProgressing || cur.Status.CurrentPodHash == cur.Status.StableRS {
			return false
		}
		canary = replicaSetByHash(t, ns, cur.Status.CurrentPodHash)
		return ptr.Deref(canary.Spec.Replicas, 0) == 2
	})
	if got := getRollout(t, ns, "web").Status.UpdatedReplicas; got != 0 {
		t.Fatalf("test set-up: updatedReplicas %d before any canary pod exists, want 0", got)
	}

	// counted sets the canary ReplicaSet's status and waits, from the moment the API server holds
	// it, for the Rollout's status to show want.
	counted := func(what string, st appsv1.ReplicaSetStatus, want func(*v1alpha1.RolloutStatus) bool) {
		t.Helper()
		rs := replicaSetByHash(t, ns, canary.Labels[v1alpha1.PodTemplateHashLabelKey])
		st.ObservedGeneration = rs.Generation
		rs.Status = st
		if err := k8s.Status().Update(ctx, rs); err != nil {
			t.Fatalf("set the canary ReplicaSet's status (%s): %v", what, err)
		}
		shown := time.Now()
		deadline := shown.Add(countsVisibleWithin + countsPollMargin)
		for {
			cur := getRollout(t, ns, "web")
			if want(&cur.Status) {
				t.Logf("%s: in the Rollout's status %v after the ReplicaSet's", what, time.Since(shown).Round(time.Millisecond))
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the Rollout's status still shows updated %d, available %d, replicas %d (phase %s, step %v) %v after the ReplicaSet's status did; want it within %v",
					what, cur.Status.UpdatedReplicas, cur.Status.AvailableReplicas, cur.Status.Replicas, cur.Status.Phase,
					ptr.Deref(cur.Status.CurrentStepIndex, -1), time.Since(shown).Round(time.Millisecond), countsVisibleWithin)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	counted("the first canary pod available",
		appsv1.ReplicaSetStatus{Replicas: 1, FullyLabeledReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1},
		func(s *v1alpha1.RolloutStatus) bool { return s.UpdatedReplicas == 1 })
	if cur := getRollout(t, ns, "web"); ptr.Deref(cur.Status.CurrentStepIndex, -1) != 0 || cur.Status.Phase != v1alpha1.RolloutPhaseProgressing {
		t.Fatalf("one canary pod of two moved the rollout to step %v, phase %s; the test needs a count change alone",
			ptr.Deref(cur.Status.CurrentStepIndex, -1), cur.Status.Phase)
	}
	// Right after that write: the second pod exists, not yet ready.
	counted("the second canary pod created",
		appsv1.ReplicaSetStatus{Replicas: 2, FullyLabeledReplicas: 2, ReadyReplicas: 1, AvailableReplicas: 1},
		func(s *v1alpha1.RolloutStatus) bool { return s.UpdatedReplicas == 2 })
}
