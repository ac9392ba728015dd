package plan

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// blueGreen plans a blue-green update: bring the new ReplicaSet up behind the preview Service,
// wait for promotion (automatic, timed or by a person), then switch the active Service to it once it
// runs at full size, keeping the old ReplicaSet up for scaleDownDelaySeconds.
func (s *state) blueGreen() {
	b := s.ro.Spec.Strategy.BlueGreen
	newHash := podHash(s.newRS)
	s.scaleDownOld(time.Duration(max(b.GetScaleDownDelaySeconds(), b.GetAbortScaleDownDelaySeconds())) * time.Second)
	switch {
	case s.newRS == s.stableRS:
		s.clearAbort()
		s.desired[s.newRS] = s.replicas
		s.status.PauseConditions = removePause(s.status.PauseConditions, v1alpha1.PauseReasonBlueGreenPause)
		s.status.ControllerPause = false
		if fullyAvailable(s.newRS) && specReplicas(s.newRS) == s.replicas && !s.creating {
			s.switchActive(newHash)
			s.setSelector(b.PreviewService, newHash)
			s.status.BlueGreen.PreviewSelector = newHash
		}
	case s.status.Abort:
		s.abortBlueGreen()
	default:
		s.retried()
		s.updateBlueGreen()
	}
}

// updateBlueGreen runs one update: preview, promotion gate, switch, post-promotion analysis.
func (s *state) updateBlueGreen() {
	b := s.ro.Spec.Strategy.BlueGreen
	newHash := podHash(s.newRS)
	s.desired[s.stableRS] = s.replicas
	s.keepUp(s.stableRS)
	if s.selectorOf(b.ActiveService) == newHash && !s.creating {
		s.afterSwitch()
		return
	}
	if _, rollback := s.newRS.Annotations[v1alpha1.ScaleDownDeadlineAnnotationKey]; rollback && !s.creating && s.ro.Status.CurrentPodHash != newHash {
		// The template of a ReplicaSet that is still up came back: switch to it at once. (The
		// deadline of an aborted update that is retried is no rollback: its template did not
		// change, and scaleDownOld cancels that deadline.)
		s.removeAnnotation(s.newRS, v1alpha1.ScaleDownDeadlineAnnotationKey)
		s.status.BlueGreen.ScaleUpPreviewCheckPoint = true
	}
	target := s.replicas
	if b.PreviewReplicaCount != nil && !s.status.BlueGreen.ScaleUpPreviewCheckPoint {
		target = *b.PreviewReplicaCount
	}
	s.desired[s.newRS] = target
	if s.creating || specReplicas(s.newRS) != target || !fullyAvailable(s.newRS) {
		return
	}
	s.setSelector(b.PreviewService, newHash)
	s.status.BlueGreen.PreviewSelector = newHash
	if !s.status.BlueGreen.ScaleUpPreviewCheckPoint {
		if !s.status.PromoteFull && !s.promotionGranted() {
			return
		}
		s.status.PauseConditions = removePause(s.status.PauseConditions, v1alpha1.PauseReasonBlueGreenPause)
		s.status.ControllerPause = len(s.status.PauseConditions) > 0
		s.status.BlueGreen.ScaleUpPreviewCheckPoint = true
		s.desired[s.newRS] = s.replicas
		if target != s.replicas {
			return // scale up to full size first
		}
	}
	s.desired[s.newRS] = s.replicas
	if specReplicas(s.newRS) == s.replicas && fullyAvailable(s.newRS) {
		// The update goes on (afterSwitch) once the active Service is seen selecting the new
		// pods: its watch event brings the next reconcile.
		s.switchActive(newHash)
	}
}

// promotionGranted runs the pre-promotion analysis and the promotion pause, and reports whether
// the new version may take the active Service.
func (s *state) promotionGranted() bool {
	b := s.ro.Spec.Strategy.BlueGreen
	if b.PrePromotionAnalysis != nil && len(b.PrePromotionAnalysis.Templates) > 0 {
		outcome, status := s.analysis(v1alpha1.RolloutTypePrePromotionLabel, nil, b.PrePromotionAnalysis, s.status.BlueGreen.PrePromotionAnalysisRunStatus)
		s.status.BlueGreen.PrePromotionAnalysisRunStatus = status
		if !s.applyOutcome(outcome, status) {
			if s.status.Abort {
				s.abortBlueGreen()
			}
			return false
		}
	}
	if s.ro.Spec.Paused {
		return false
	}
	if b.GetAutoPromotionEnabled() && b.AutoPromotionSeconds == 0 {
		return true
	}
	pause := &v1alpha1.RolloutPause{}
	if b.GetAutoPromotionEnabled() {
		d := intstr.FromInt32(b.AutoPromotionSeconds)
		pause.Duration = &d
	}
	return s.pauseDone(v1alpha1.PauseReasonBlueGreenPause, pause)
}

// afterSwitch completes an update whose new ReplicaSet took the active Service: the
// post-promotion analysis decides, then the new ReplicaSet becomes stable and the old one waits
// out its scale-down delay.
func (s *state) afterSwitch() {
	b := s.ro.Spec.Strategy.BlueGreen
	s.desired[s.newRS] = s.replicas
	s.switchActive(podHash(s.newRS))
	if b.PostPromotionAnalysis != nil && len(b.PostPromotionAnalysis.Templates) > 0 {
		outcome, status := s.analysis(v1alpha1.RolloutTypePostPromotionLabel, nil, b.PostPromotionAnalysis, s.status.BlueGreen.PostPromotionAnalysisRunStatus)
		s.status.BlueGreen.PostPromotionAnalysisRunStatus = status
		if !s.applyOutcome(outcome, status) {
			if s.status.Abort {
				s.abortBlueGreen()
			}
			return
		}
	}
	old := s.stableRS
	s.others = append(s.others, old)
	s.stableRS = s.newRS
	s.status.StableRS = podHash(s.newRS)
	s.status.BlueGreen.ScaleUpPreviewCheckPoint = false
	s.status.PauseConditions = nil
	s.status.ControllerPause = false
	s.status.PromoteFull = false
	delay := time.Duration(b.GetScaleDownDelaySeconds()) * time.Second
	s.desired[old] = specReplicas(old)
	s.setAnnotation(old, v1alpha1.ScaleDownDeadlineAnnotationKey, s.now.Add(delay).UTC().Format(time.RFC3339))
	s.requeue(delay)
}

// abortBlueGreen keeps (or puts back) the stable version on the active Service and scales the new
// ReplicaSet down after abortScaleDownDelaySeconds (0 keeps it), with the deadline in its
// scale-down annotation. As in Argo Rollouts, the preview Service stays on the new ReplicaSet so it
// can still be tested; it goes back to the stable version when the new pods go (or when it selects
// no available pod of the new ReplicaSet), so it never selects a ReplicaSet without pods.
func (s *state) abortBlueGreen() {
	b := s.ro.Spec.Strategy.BlueGreen
	if s.status.AbortedAt == nil {
		s.status.AbortedAt = ptrTime(metav1.NewTime(s.now))
		s.event(corev1.EventTypeWarning, v1alpha1.RolloutAbortedReason,
			fmt.Sprintf("Rollout aborted update to revision %d", revision(s.newRS)))
	}
	s.status.PauseConditions = nil
	s.status.ControllerPause = false
	s.status.BlueGreen.ScaleUpPreviewCheckPoint = false
	stableHash := podHash(s.stableRS)
	s.desired[s.stableRS] = s.replicas
	s.keepUp(s.stableRS)
	s.switchActive(stableHash)
	scaledDown := s.scaleDownAfterAbort(b.GetAbortScaleDownDelaySeconds())
	preview := stableHash
	if !scaledDown && s.selectorOf(b.PreviewService) == podHash(s.newRS) && availableReplicas(s.newRS) > 0 {
		preview = podHash(s.newRS)
	}
	s.setSelector(b.PreviewService, preview)
	s.status.BlueGreen.PreviewSelector = preview
}

// scaleDownAfterAbort scales the aborted ReplicaSet to zero once abortScaleDownDelaySeconds have
// passed since the abort (0 keeps it), and reports whether it does. Until then the deadline
// (AbortedAt plus the delay) is in the ReplicaSet's scale-down annotation, in Argo Rollouts' key
// and format, for tools to show; a retry or a new update cancels it (scaleDownOld).
func (s *state) scaleDownAfterAbort(delay int32) bool {
	if s.creating {
		return false
	}
	if delay == 0 {
		s.keepUp(s.newRS)
		return false
	}
	end := s.status.AbortedAt.Add(time.Duration(delay) * time.Second)
	if !s.now.Before(end) {
		s.desired[s.newRS] = 0
		s.removeAnnotation(s.newRS, v1alpha1.ScaleDownDeadlineAnnotationKey) // nothing left to scale down
		return true
	}
	s.requeue(end.Sub(s.now))
	if deadline := end.UTC().Format(time.RFC3339); s.newRS.Annotations[v1alpha1.ScaleDownDeadlineAnnotationKey] != deadline && specReplicas(s.newRS) > 0 {
		s.setAnnotation(s.newRS, v1alpha1.ScaleDownDeadlineAnnotationKey, deadline)
	}
	return false
}

// switchActive points the active Service at hash. status.blueGreen.activeSelector names what the
// active Service is seen to select: a switch still to be made (or refused) is never claimed, and
// the next reconcile, which the Service's watch brings, records the switch.
func (s *state) switchActive(hash string) {
	active := s.ro.Spec.Strategy.BlueGreen.ActiveService
	s.setSelector(active, hash)
	if _, ok := s.obs.Services[active]; ok {
		s.status.BlueGreen.ActiveSelector = s.selectorOf(active)
	}
}

// keepUp cancels a pending scale-down of a ReplicaSet that is needed again.
func (s *state) keepUp(rs *appsv1.ReplicaSet) {
	s.removeAnnotation(rs, v1alpha1.ScaleDownDeadlineAnnotationKey)
}

// scaleDownOld scales down ReplicaSets that are neither new nor stable: at once, or at the
// deadline in their scale-down annotation. Beyond scaleDownDelayRevisionLimit ReplicaSets waiting
// out a delay, the oldest go at once. The new ReplicaSet of an update that is not aborted (a
// retry) keeps no deadline an abort gave it, so it is never scaled down under a live update.
func (s *state) scaleDownOld(maxDelay time.Duration) {
	if !s.status.Abort && !s.creating && s.newRS != s.stableRS {
		s.keepUp(s.newRS)
	}
	limit := s.delayRevisionLimit()
	waiting := int32(0)
	active := ""
	if b := s.ro.Spec.Strategy.BlueGreen; b != nil {
		active = s.selectorOf(b.ActiveService)
	}
	for i := len(s.others) - 1; i >= 0; i-- { // newest revision first
		rs := s.others[i]
		if specReplicas(rs) == 0 || (active != "" && podHash(rs) == active) {
			// The pods the active Service selects keep serving until it switches away.
			continue
		}
		deadline, err := time.Parse(time.RFC3339, rs.Annotations[v1alpha1.ScaleDownDeadlineAnnotationKey])
		if err == nil && s.now.Before(deadline) && deadline.Sub(s.now) <= maxDelay+time.Second && (limit < 0 || waiting < limit) {
			waiting++
			s.requeue(deadline.Sub(s.now))
			continue
		}
		s.desired[rs] = 0
		s.removeAnnotation(rs, v1alpha1.ScaleDownDeadlineAnnotationKey)
	}
}

// delayRevisionLimit is scaleDownDelayRevisionLimit, or -1 for no limit.
func (s *state) delayRevisionLimit() int32 {
	var limit *int32
	if c := s.ro.Spec.Strategy.Canary; c != nil {
		limit = c.ScaleDownDelayRevisionLimit
	} else {
		limit = s.ro.Spec.Strategy.BlueGreen.ScaleDownDelayRevisionLimit
	}
	if limit == nil {
		return -1
	}
	return *limit
}

func ptrTime(t metav1.Time) *metav1.Time { return &t }
