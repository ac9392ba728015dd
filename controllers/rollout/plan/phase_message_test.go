package plan

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// TestPhaseMessages checks the phase messages that Argo Rollouts' tools show, on a settled
// canary that one change then moves (a pause step's own message is in the golden scenario
// canary-user-pause-during-pause-step).
func TestPhaseMessages(t *testing.T) {
	tests := map[string]struct {
		mutate      func(w *world)
		phase       v1alpha1.RolloutPhase
		message     string
		deletesPods bool
	}{
		"spec.paused with a pause condition": {
			mutate: func(w *world) {
				w.ro.Spec.Paused = true
				w.ro.Status.PauseConditions = []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep, StartTime: metav1.NewTime(w.now)}}
			},
			phase: v1alpha1.RolloutPhasePaused, message: "manually paused",
		},
		"restart in progress": {
			mutate: func(w *world) {
				w.oldPods = []string{"pod-a", "pod-b"}
				w.ro.Spec.RestartAt = &metav1.Time{Time: w.now.Add(-time.Second)}
			},
			phase: v1alpha1.RolloutPhaseProgressing, message: "rollout is restarting", deletesPods: true,
		},
		"restart in progress while pods are unavailable": {
			mutate: func(w *world) {
				w.oldPods = []string{"pod-a"}
				w.ro.Spec.RestartAt = &metav1.Time{Time: w.now.Add(-time.Second)}
				w.rss[0].Status.AvailableReplicas--
			},
			phase: v1alpha1.RolloutPhaseProgressing, message: "rollout is restarting",
		},
		"restart scheduled later": {
			mutate: func(w *world) {
				w.oldPods = []string{"pod-a"}
				w.ro.Spec.RestartAt = &metav1.Time{Time: w.now.Add(time.Hour)}
			},
			phase: v1alpha1.RolloutPhaseHealthy,
		},
		"restart done": {
			mutate: func(w *world) {
				at := metav1.Time{Time: w.now.Add(-time.Minute)}
				w.ro.Spec.RestartAt, w.ro.Status.RestartedAt = &at, at.DeepCopy()
			},
			phase: v1alpha1.RolloutPhaseHealthy,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, canaryRollout(4, weight(50)), "demo-canary", "demo-stable")
			w.settle(time.Minute)
			if w.ro.Status.Phase != v1alpha1.RolloutPhaseHealthy {
				t.Fatalf("the rollout did not settle: %s %s", w.ro.Status.Phase, w.ro.Status.Message)
			}
			tt.mutate(w)
			p := Next(w.ro.DeepCopy(), w.observe(), w.now)
			if p.Status.Phase != tt.phase || p.Status.Message != tt.message {
				t.Errorf("phase %s (%q), want %s (%q)", p.Status.Phase, p.Status.Message, tt.phase, tt.message)
			}
			if got := len(p.DeletePods) > 0; got != tt.deletesPods {
				t.Errorf("deletes pods: %v, want %v", got, tt.deletesPods)
			}
		})
	}
}
