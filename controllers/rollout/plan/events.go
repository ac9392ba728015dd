package plan

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// The events of a plan's transitions, and of the writes the executor carries out, in Argo
// Rollouts' reasons and words.

// stateChangeEvents tells, with Argo Rollouts' reasons and words, the changes of state between
// the recorded status and the one planned: paused and resumed (not the clearing of pauses an
// abort does), an update started (RolloutUpdated, and RolloutNotCompleted when the Rollout had
// completed) and completed (a new stable ReplicaSet that runs the current template).
func (s *state) stateChangeEvents() {
	prev, next := &s.ro.Status, s.status
	switch prevPaused, paused := len(prev.PauseConditions) > 0, len(next.PauseConditions) > 0; {
	case !prevPaused && paused:
		s.event(corev1.EventTypeNormal, v1alpha1.RolloutPausedReason, fmt.Sprintf("Rollout is paused (%s)", next.PauseConditions[0].Reason))
	case prevPaused && !paused && next.AbortedAt == nil:
		s.event(corev1.EventTypeNormal, v1alpha1.RolloutResumedReason, "Rollout is resumed")
	}
	if prev.CurrentPodHash != "" && next.CurrentPodHash != prev.CurrentPodHash {
		s.event(corev1.EventTypeNormal, "RolloutUpdated", fmt.Sprintf("Rollout updated to revision %d", revision(s.newRS)))
		if prev.StableRS != "" && prev.StableRS == prev.CurrentPodHash && next.StableRS != next.CurrentPodHash {
			s.event(corev1.EventTypeNormal, "RolloutNotCompleted",
				fmt.Sprintf("Rollout not completed, started update to revision %d (%s)", revision(s.newRS), next.CurrentPodHash))
		}
	}
	if next.StableRS != "" && next.StableRS != prev.StableRS && next.StableRS == next.CurrentPodHash {
		why := "Initial deploy"
		switch {
		case prev.StableRS == "":
		case s.stableGone != "":
			why = "the stable ReplicaSet is gone"
		case prev.PromoteFull:
			why = "Full promotion requested"
		case s.ro.Spec.Strategy.BlueGreen != nil:
			why = "Completed blue-green update"
		default:
			why = completedCanarySteps(s.ro.Spec.Strategy.Canary)
		}
		s.event(corev1.EventTypeNormal, v1alpha1.RolloutCompletedReason,
			fmt.Sprintf("Rollout completed update to revision %d (%s): %s", revision(s.newRS), next.StableRS, why))
	}
}

func completedCanarySteps(c *v1alpha1.CanaryStrategy) string {
	return fmt.Sprintf("Completed all %d canary steps", len(c.Steps))
}

// tellStableGone says, with a Warning event and the status message, that the stable ReplicaSet
// disappeared during an update (someone deleted it) and the update was made stable without its
// remaining steps: there is no version left to go back to, so waiting would only keep the
// Rollout below its replicas (Argo Rollouts does the same, silently).
func (s *state) tellStableGone() {
	if s.stableGone == "" {
		return
	}
	msg := fmt.Sprintf("stable ReplicaSet %s-%s is gone: revision %d is stable without the rest of its steps and analysis",
		s.ro.Name, s.stableGone, revision(s.newRS))
	s.event(corev1.EventTypeWarning, "StableReplicaSetGone", msg)
	if s.status.Phase != v1alpha1.RolloutPhaseDegraded {
		s.status.Message = msg
	}
	s.plan.Status = *s.status
}

// ScaleEvent is the event, in Argo Rollouts' words, that tells a carried-out change of a
// ReplicaSet's size, if it was one (an entry that only changes annotations gets none).
func ScaleEvent(sc ScaleReplicaSet) (Event, bool) {
	if sc.From == sc.Replicas {
		return Event{}, false
	}
	dir := "up"
	if sc.Replicas < sc.From {
		dir = "down"
	}
	return Event{Type: corev1.EventTypeNormal, Reason: "ScalingReplicaSet",
		Message: fmt.Sprintf("Scaled %s ReplicaSet %s (revision %d) from %d to %d", dir, sc.Name, sc.Revision, sc.From, sc.Replicas)}, true
}

// CreatedEvents are the events, in Argo Rollouts' words, that tell a carried-out ReplicaSet
// create: the ReplicaSet, and its first size as a scale-up from 0 (Argo creates at 0 and scales,
// so tools that follow the scaling events see the same sequence).
func CreatedEvents(rs *appsv1.ReplicaSet) []Event {
	out := []Event{{Type: corev1.EventTypeNormal, Reason: "NewReplicaSetCreated",
		Message: fmt.Sprintf("Created ReplicaSet %s (revision %d)", rs.Name, revision(rs))}}
	if e, ok := ScaleEvent(ScaleReplicaSet{Name: rs.Name, Replicas: specReplicas(rs), Revision: revision(rs)}); ok {
		out = append(out, e)
	}
	return out
}
