package rollout_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"k8s.io/utils/ptr"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// TestReplicaSetEventsAsArgo: the executor tells each ReplicaSet it created and each change of
// size it made, once made, with Argo Rollouts' reasons and words (NewReplicaSetCreated,
// ScalingReplicaSet), which Argo's notification triggers and people's alerts key on.
func TestReplicaSetEventsAsArgo(t *testing.T) {
	ctx := context.Background()
	ns := testNamespace(t, "rs-events")
	fakeReplicaSets(t, ns)
	ro := newRollout("web")
	ro.Namespace = ns
	ro.Spec.Replicas = ptr.To[int32](2)
	ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](50)}, {Pause: &v1alpha1.RolloutPause{}}}
	if err := k8s.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	var first string
	eventually(t, "the first revision Healthy", func() bool {
		cur := getRollout(t, ns, "web")
		first = cur.Status.StableRS
		return cur.Status.Phase == v1alpha1.RolloutPhaseHealthy && first != ""
	})
	cur := getRollout(t, ns, "web")
	cur.Spec.Template.Spec.Containers[0].Image = "app:2"
	if err := k8s.Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	var second string
	eventually(t, "the canary paused at 50%", func() bool {
		cur := getRollout(t, ns, "web")
		second = cur.Status.CurrentPodHash
		return cur.Status.Phase == v1alpha1.RolloutPhasePaused && second != first
	})
	want := map[string][]string{
		"NewReplicaSetCreated": {
			fmt.Sprintf("Created ReplicaSet web-%s (revision 1)", first),
			fmt.Sprintf("Created ReplicaSet web-%s (revision 2)", second),
		},
		"ScalingReplicaSet": {
			fmt.Sprintf("Scaled up ReplicaSet web-%s (revision 2) from 0 to 1", second),
			fmt.Sprintf("Scaled down ReplicaSet web-%s (revision 1) from 2 to 1", first),
		},
	}
	for reason, msgs := range want {
		eventually(t, reason+" events", func() bool {
			got := notes(t, ns, "web", reason)
			for _, m := range msgs {
				if !slices.Contains(got, m) {
					return false
				}
			}
			return true
		})
	}
}
