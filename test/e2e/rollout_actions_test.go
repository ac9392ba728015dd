package e2e

import (
	"context"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// TestRolloutSkipCurrentStepPausesAtTheNextPause: Argo CD's "skip-current-step" action, with real
// pods. At step 1 (pause {}) of [setWeight 25, pause {}, setWeight 50, pause 10s] it patches
// `status: {currentStepIndex: 2, pauseConditions: null}`; the rollout runs setWeight 50 and then
// holds step 3 for its 10 s before it completes.
func TestRolloutSkipCurrentStepPausesAtTheNextPause(t *testing.T) {
	ctx := context.Background()
	startManager(t, setupRollout)
	ns := newNamespace(t)
	strategy := canarySteps(setWeight(25), pauseFor(""), setWeight(50), pauseFor("10s"))
	must(t, "create Rollout", env.client.Create(ctx, newRolloutObject(ns, "web", "app:1", 4, strategy)))
	waitPhase(t, ns, "web", v1alpha1.RolloutPhaseHealthy, time.Minute)
	setImage(t, ns, "web", "app:2")
	eventually(t, time.Minute, "the controller's pause at step 1", func() (bool, error) {
		ro := getRollout(t, ns, "web")
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && ptr.Deref(ro.Status.CurrentStepIndex, -1) == 1 && ro.Status.ControllerPause, nil
	})

	patchStatus(t, ns, "web", `{"status":{"currentStepIndex":2,"pauseConditions":null}}`)
	var pausedSince time.Time
	eventually(t, time.Minute, "the pause at step 3", func() (bool, error) {
		ro := getRollout(t, ns, "web")
		if idx := ptr.Deref(ro.Status.CurrentStepIndex, -1); idx > 3 || ro.Status.Phase == v1alpha1.RolloutPhaseHealthy {
			t.Fatalf("the rollout went past step 3 without its pause: step %d, phase %s", idx, ro.Status.Phase)
		}
		for _, pc := range ro.Status.PauseConditions {
			if pc.Reason == v1alpha1.PauseReasonCanaryPauseStep && ptr.Deref(ro.Status.CurrentStepIndex, -1) == 3 {
				pausedSince = pc.StartTime.Time
				return ro.Status.Phase == v1alpha1.RolloutPhasePaused, nil
			}
		}
		return false, nil
	})
	eventually(t, time.Minute, "the update to finish after the 10 s pause", func() (bool, error) {
		ro := getRollout(t, ns, "web")
		if ptr.Deref(ro.Status.CurrentStepIndex, -1) == 4 {
			if elapsed := time.Since(pausedSince); elapsed < 10*time.Second {
				t.Fatalf("step 3's 10 s pause ended after %v", elapsed)
			}
		}
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == ro.Status.CurrentPodHash, nil
	})
	rss := replicaSetsOf(t, ns, "web")
	final := getRollout(t, ns, "web")
	if specOf(rss[final.Status.StableRS]) != 4 || len(rss) != 2 {
		t.Fatalf("after the update: %d ReplicaSets, the stable one at %d; want 2 and 4", len(rss), specOf(rss[final.Status.StableRS]))
	}
}
