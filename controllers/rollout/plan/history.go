package plan

import (
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// history deletes the oldest scaled-down ReplicaSets beyond revisionHistoryLimit.
func (s *state) history() {
	var old []*appsv1.ReplicaSet
	for _, rs := range s.others {
		_, pending := rs.Annotations[v1alpha1.ScaleDownDeadlineAnnotationKey]
		if s.desired[rs] == 0 && specReplicas(rs) == 0 && rs.Status.Replicas == 0 && !pending {
			old = append(old, rs)
		}
	}
	byRevision(old)
	excess := len(old) - int(s.ro.Spec.GetRevisionHistoryLimit())
	for i := 0; i < excess; i++ {
		s.plan.Delete = append(s.plan.Delete, old[i].Name)
	}
}

// restart replaces, one at a time and only while every ReplicaSet is fully available, the pods
// created before spec.restartAt.
func (s *state) restart() {
	at := s.ro.Spec.RestartAt
	if at == nil || (s.status.RestartedAt != nil && !s.status.RestartedAt.Before(at)) {
		return
	}
	if s.now.Before(at.Time) {
		s.requeue(at.Sub(s.now))
		return
	}
	if len(s.obs.OldPods) == 0 {
		s.status.RestartedAt = at.DeepCopy()
		s.event(corev1.EventTypeNormal, "RolloutRestarted", fmt.Sprintf("Restarted all pods created before %s", at.UTC().Format("2006-01-02T15:04:05Z")))
		return
	}
	if s.creating {
		return
	}
	for _, rs := range s.obs.ReplicaSets {
		if s.desired[rs] != specReplicas(rs) || (specReplicas(rs) > 0 && !fullyAvailable(rs)) {
			return
		}
	}
	s.plan.DeletePods = append(s.plan.DeletePods, s.obs.OldPods[0].Name)
}

// RestartEvent is the event that tells a pod was deleted to restart it.
func RestartEvent(pod string) Event {
	return Event{Type: corev1.EventTypeNormal, Reason: "RestartingPod", Message: fmt.Sprintf("Deleted pod %s to restart it", pod)}
}

// runHistory deletes completed AnalysisRuns of earlier updates beyond
// spec.analysis.successfulRunHistoryLimit and unsuccessfulRunHistoryLimit (5 and 5), newest kept.
func (s *state) runHistory() {
	var ok, bad []FinishedRun
	for _, r := range s.obs.FinishedRuns {
		if r.Successful {
			ok = append(ok, r)
		} else {
			bad = append(bad, r)
		}
	}
	for _, group := range []struct {
		runs  []FinishedRun
		limit int32
	}{{ok, s.ro.Spec.GetSuccessfulRunHistoryLimit()}, {bad, s.ro.Spec.GetUnsuccessfulRunHistoryLimit()}} {
		runs := group.runs
		sort.Slice(runs, func(i, j int) bool { return runs[i].Created.After(runs[j].Created) })
		for i := int(group.limit); i < len(runs); i++ {
			s.plan.DeleteRuns = append(s.plan.DeleteRuns, runs[i].Name)
		}
	}
}
