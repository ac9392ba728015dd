package e2e

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// TestCanaryStepsWithRealPods: a 4-replica canary with steps 25%, pause 2s, 50%, pause 2s walks
// the replica counts 1/3 then 2/2, and ends Healthy with the new ReplicaSet stable and the old one
// at zero.
func TestCanaryStepsWithRealPods(t *testing.T) {
	ctx := context.Background()
	startManager(t, setupRollout)
	ns := newNamespace(t)
	newService(t, ns, "web-stable", "web")
	newService(t, ns, "web-canary", "web")
	strategy := canarySteps(setWeight(25), pauseFor("2s"), setWeight(50), pauseFor("2s"))
	strategy.Canary.StableService, strategy.Canary.CanaryService = "web-stable", "web-canary"
	ro := newRolloutObject(ns, "web", "app:1", 4, strategy)
	if err := env.client.Create(ctx, ro); err != nil {
		t.Fatalf("create Rollout: %v", err)
	}
	first := waitPhase(t, ns, "web", v1alpha1.RolloutPhaseHealthy, time.Minute)
	oldHash := first.Status.StableRS

	setImage(t, ns, "web", "app:2")
	seen := map[int32]string{} // step index -> "canary/stable" replicas seen while paused there
	eventually(t, 2*time.Minute, "the canary to finish", func() (bool, error) {
		cur := getRollout(t, ns, "web")
		// The first sample of each pause: a later one can race with the next step's scaling.
		if _, done := seen[ptrOr(cur.Status.CurrentStepIndex)]; !done && cur.Status.Phase == v1alpha1.RolloutPhasePaused && cur.Status.CurrentStepIndex != nil {
			rss := replicaSetsOf(t, ns, "web")
			canary, stable := rss[cur.Status.CurrentPodHash], rss[oldHash]
			seen[*cur.Status.CurrentStepIndex] = fmt.Sprintf("%d/%d available %d/%d",
				specOf(canary), specOf(stable), canary.Status.AvailableReplicas, stable.Status.AvailableReplicas)
		}
		return cur.Status.Phase == v1alpha1.RolloutPhaseHealthy && cur.Status.CurrentPodHash != oldHash &&
			cur.Status.ObservedGeneration == fmt.Sprint(cur.Generation), nil
	})
	if seen[1] != "1/3 available 1/3" || seen[3] != "2/2 available 2/2" {
		t.Fatalf("replica counts at the pauses: want step 1 1/3 and step 3 2/2, saw %v", seen)
	}
	final := getRollout(t, ns, "web")
	rss := replicaSetsOf(t, ns, "web")
	if final.Status.StableRS != final.Status.CurrentPodHash || specOf(rss[final.Status.StableRS]) != 4 ||
		rss[final.Status.StableRS].Status.AvailableReplicas != 4 {
		t.Fatalf("new ReplicaSet not stable at 4 available: status %+v, rs %v", final.Status, rss)
	}
	eventually(t, 30*time.Second, "the old ReplicaSet to have no pods", func() (bool, error) {
		old := replicaSetsOf(t, ns, "web")[oldHash]
		return specOf(old) == 0 && old.Status.Replicas == 0, nil
	})
	// The status is written before the Services are switched: give the switch its moment.
	eventually(t, 30*time.Second, "the stable Service to select the new pods", func() (bool, error) {
		return serviceHash(t, ns, "web-stable") == final.Status.StableRS, nil
	})
	if c := condition(final, v1alpha1.RolloutProgressing); c == nil || c.Reason != v1alpha1.NewReplicaSetAvailableReason {
		t.Fatalf("Progressing condition after completion: %+v", c)
	}
	// Every step transition is a Kubernetes event on the Rollout, naming the revision.
	want := []string{
		"Rollout step 1/4 completed (setWeight: 25), revision 2",
		"Rollout step 2/4 completed (pause: 2s), revision 2",
		"Rollout step 3/4 completed (setWeight: 50), revision 2",
		"Rollout step 4/4 completed (pause: 2s), revision 2: promoting it to stable",
	}
	var got []string
	eventually(t, 30*time.Second, "an event for every step", func() (bool, error) {
		var list eventsv1.EventList
		if err := env.client.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return false, err
		}
		got = nil
		for _, e := range list.Items {
			if e.Regarding.Kind == "Rollout" && e.Regarding.Name == "web" && e.Reason == "RolloutStepCompleted" {
				got = append(got, e.Note)
			}
		}
		sort.Strings(got)
		if !slices.Equal(got, want) {
			return false, fmt.Errorf("step events %q", got)
		}
		return true, nil
	})
}

// TestBlueGreenManualPromote: the new version waits behind the preview Service until promoted,
// then takes the active Service.
func TestBlueGreenManualPromote(t *testing.T) {
	ctx := context.Background()
	startManager(t, setupRollout)
	ns := newNamespace(t)
	newService(t, ns, "shop-active", "shop")
	newService(t, ns, "shop-preview", "shop")
	ro := newRolloutObject(ns, "shop", "app:1", 3, v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{
		ActiveService: "shop-active", PreviewService: "shop-preview", AutoPromotionEnabled: ptr.To(false),
	}})
	if err := env.client.Create(ctx, ro); err != nil {
		t.Fatalf("create Rollout: %v", err)
	}
	oldHash := waitPhase(t, ns, "shop", v1alpha1.RolloutPhaseHealthy, time.Minute).Status.StableRS

	setImage(t, ns, "shop", "app:2")
	paused := waitPhase(t, ns, "shop", v1alpha1.RolloutPhasePaused, time.Minute)
	newHash := paused.Status.CurrentPodHash
	if len(paused.Status.PauseConditions) != 1 || paused.Status.PauseConditions[0].Reason != v1alpha1.PauseReasonBlueGreenPause {
		t.Fatalf("want a BlueGreenPause condition, got %+v", paused.Status.PauseConditions)
	}
	eventually(t, 30*time.Second, "the preview Service on the new pods", func() (bool, error) {
		return serviceHash(t, ns, "shop-preview") == newHash, nil
	})
	if got := serviceHash(t, ns, "shop-active"); got != oldHash {
		t.Fatalf("active Service selects %q before promotion, want the old %q", got, oldHash)
	}

	patchStatus(t, ns, "shop", `{"status":{"pauseConditions":null}}`)
	done := waitPhase(t, ns, "shop", v1alpha1.RolloutPhaseHealthy, time.Minute)
	if done.Status.StableRS != newHash {
		t.Fatalf("after promote: stable %q, want %q", done.Status.StableRS, newHash)
	}
	eventually(t, 30*time.Second, "the active Service on the new pods and the old ReplicaSet's scale-down deadline", func() (bool, error) {
		old := replicaSetsOf(t, ns, "shop")[oldHash]
		return serviceHash(t, ns, "shop-active") == newHash && old.Annotations[v1alpha1.ScaleDownDeadlineAnnotationKey] != "", nil
	})
}

// TestAbortReturnsToStable: an abort at a pause brings the stable version back to full size and
// scales the canary down; the phase is Degraded with the RolloutAborted reason.
func TestAbortReturnsToStable(t *testing.T) {
	ctx := context.Background()
	startManager(t, setupRollout)
	ns := newNamespace(t)
	ro := newRolloutObject(ns, "api", "app:1", 4, canarySteps(setWeight(50), pauseFor("")))
	if err := env.client.Create(ctx, ro); err != nil {
		t.Fatalf("create Rollout: %v", err)
	}
	stable := waitPhase(t, ns, "api", v1alpha1.RolloutPhaseHealthy, time.Minute).Status.StableRS
	setImage(t, ns, "api", "app:2")
	paused := waitPhase(t, ns, "api", v1alpha1.RolloutPhasePaused, time.Minute)
	canary := paused.Status.CurrentPodHash

	patchStatus(t, ns, "api", `{"status":{"abort":true}}`)
	aborted := waitPhase(t, ns, "api", v1alpha1.RolloutPhaseDegraded, time.Minute)
	if c := condition(aborted, v1alpha1.RolloutProgressing); c == nil || c.Reason != v1alpha1.RolloutAbortedReason {
		t.Fatalf("want Progressing reason RolloutAborted, got %+v", c)
	}
	if !strings.Contains(aborted.Status.Message, "RolloutAborted") {
		t.Fatalf("message %q does not say the rollout was aborted", aborted.Status.Message)
	}
	eventually(t, time.Minute, "stable at 4 available and the canary at 0", func() (bool, error) {
		rss := replicaSetsOf(t, ns, "api")
		return specOf(rss[stable]) == 4 && rss[stable].Status.AvailableReplicas == 4 &&
			specOf(rss[canary]) == 0 && rss[canary].Status.Replicas == 0, nil
	})
}

// TestInvalidRolloutDoesNotStopOthers: an invalid Rollout gets InvalidSpec naming the field, and
// the controller keeps serving a valid one.
func TestInvalidRolloutDoesNotStopOthers(t *testing.T) {
	ctx := context.Background()
	startManager(t, setupRollout)
	ns := newNamespace(t)
	bad := newRolloutObject(ns, "bad", "app:1", 2, canarySteps(setWeight(50)))
	bad.Spec.Selector.MatchLabels = map[string]string{"app": "something-else"}
	if err := env.client.Create(ctx, bad); err != nil {
		t.Fatalf("create invalid Rollout: %v", err)
	}
	good := newRolloutObject(ns, "good", "app:1", 2, canarySteps(setWeight(50)))
	if err := env.client.Create(ctx, good); err != nil {
		t.Fatalf("create valid Rollout: %v", err)
	}
	degraded := waitPhase(t, ns, "bad", v1alpha1.RolloutPhaseDegraded, time.Minute)
	c := condition(degraded, v1alpha1.InvalidSpec)
	if c == nil || c.Status != corev1.ConditionTrue || !strings.Contains(c.Message, "spec.selector") {
		t.Fatalf("want InvalidSpec naming spec.selector, got %+v", c)
	}
	waitPhase(t, ns, "good", v1alpha1.RolloutPhaseHealthy, time.Minute)
	// The bad Rollout's template labels are app=bad: any ReplicaSet it made would carry them.
	if rss := replicaSetsOf(t, ns, "bad"); len(rss) != 0 {
		t.Fatalf("invalid Rollout created ReplicaSets: %v", rss)
	}
}

func ptrOr(p *int32) int32 {
	if p == nil {
		return -1
	}
	return *p
}
