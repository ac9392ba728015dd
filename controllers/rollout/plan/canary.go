package plan

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// canary plans a canary update: walk the steps, size the canary and stable ReplicaSets for the
// current weight, and make the canary stable once every step is done.
func (s *state) canary() {
	c := s.ro.Spec.Strategy.Canary
	steps := c.Steps
	stepsHash := StepsHash(steps)
	if s.status.CurrentStepHash != stepsHash {
		if s.status.CurrentStepHash != "" && s.stableRS != s.newRS {
			s.status.CurrentStepIndex = ptr.To[int32](0)
		}
		s.status.CurrentStepHash = stepsHash
	}
	s.clampStepIndex(int32(len(steps)))
	s.weight = s.askedWeight()
	if s.routed() {
		delay := time.Duration(max(c.GetScaleDownDelaySeconds(), c.GetAbortScaleDownDelaySeconds())) * time.Second
		s.drainSuperseded(time.Duration(c.GetScaleDownDelaySeconds()) * time.Second)
		s.scaleDownOld(delay)
	}
	switch {
	case s.stableRS == s.newRS:
		// Nothing to roll out: the template is the stable one (first deploy, done, or reverted).
		s.setStepIndex(int32(len(steps)))
		s.status.PauseConditions = removePause(s.status.PauseConditions, v1alpha1.PauseReasonCanaryPauseStep)
		s.status.ControllerPause = false
		s.status.PromoteFull = false
		s.clearAbort()
		s.weight = 0
		if s.routed() {
			s.desired[s.newRS] = s.replicas
		} else {
			s.sizeCanary(100, nil)
		}
	default:
		s.retried()
		if !s.status.Abort {
			s.backgroundAnalysis()
		}
		if !s.status.Abort {
			s.walkSteps(steps)
		}
		if s.status.Abort {
			s.abortCanary()
		}
	}
	s.routing()
	s.setSelector(c.StableService, s.stableServiceHash())
	canaryHash := podHash(s.stableRS)
	if s.newRS != s.stableRS && fullyAvailable(s.newRS) && s.desired[s.newRS] == specReplicas(s.newRS) && specReplicas(s.newRS) > 0 {
		canaryHash = podHash(s.newRS)
	} else if current := s.selectorOf(c.CanaryService); current == podHash(s.newRS) && !s.status.Abort {
		canaryHash = current // keep the canary Service on the canary while it scales
	} else if !s.status.Abort && s.newRS != s.stableRS && availableReplicas(s.newRS) > 0 &&
		(s.availableOf(current) == 0 || (current == podHash(s.stableRS) && s.desired[s.stableRS] == 0)) {
		// What it selects has no pod left to serve, or is about to lose its last one (the old
		// stable at the end of the steps): the canary has one.
		canaryHash = podHash(s.newRS)
	}
	s.setSelector(c.CanaryService, canaryHash)
	s.holdOldStable()
}

// setStepIndex records the step index when the canary has steps (Argo leaves it unset otherwise).
func (s *state) setStepIndex(i int32) {
	if len(s.ro.Spec.Strategy.Canary.Steps) == 0 {
		s.status.CurrentStepIndex = nil
		return
	}
	s.status.CurrentStepIndex = ptr.To(i)
}

// clampStepIndex keeps status.currentStepIndex within [0, n]: the CRD accepts any int32 and a
// person or tool may patch one outside the steps. Below zero is the first step; beyond the last
// step is "every step done", as Argo Rollouts reads an index past the end.
func (s *state) clampStepIndex(n int32) {
	if i := s.status.CurrentStepIndex; i != nil && (*i < 0 || *i > n) {
		s.status.CurrentStepIndex = ptr.To(min(max(*i, 0), n))
	}
}

func (s *state) stepIndex() int32 {
	if s.status.CurrentStepIndex == nil {
		return 0
	}
	return *s.status.CurrentStepIndex
}

// walkSteps advances through every step that is complete, then sizes the ReplicaSets for the
// step it stops at.
func (s *state) walkSteps(steps []v1alpha1.CanaryStep) {
	n := int32(len(steps))
	if s.status.PromoteFull || s.rollbackWithinWindow() {
		s.setStepIndex(n)
		s.status.PauseConditions = nil
		s.status.ControllerPause = false
	}
	idx := min(s.stepIndex(), n)
	s.setStepIndex(idx)
	if (idx >= n || steps[idx].Pause == nil) && findPause(s.status.PauseConditions, v1alpha1.PauseReasonCanaryPauseStep) != nil {
		// The index moved past a pause (a skip, new steps): its condition goes with it.
		s.status.PauseConditions = removePause(s.status.PauseConditions, v1alpha1.PauseReasonCanaryPauseStep)
		if len(s.status.PauseConditions) == 0 {
			s.status.ControllerPause = false
		}
	}
	for idx < n && !s.ro.Spec.Paused && !s.status.Abort && !s.heldByOtherPause() {
		if !s.stepDone(idx, steps[idx]) {
			break
		}
		msg := fmt.Sprintf("Rollout step %d/%d completed (%s), revision %d", idx+1, n, describeStep(steps[idx]), revision(s.newRS))
		if idx+1 == n {
			msg += ": promoting it to stable"
		}
		s.event(corev1.EventTypeNormal, "RolloutStepCompleted", msg)
		idx++
		s.setStepIndex(idx)
		if len(s.status.PauseConditions) == 0 {
			// A person's promotion (controllerPause without its condition) ends one pause; one
			// left from a step that was skipped past must not end the next (finishStatus).
			s.status.ControllerPause = false
		}
	}
	if s.status.Abort {
		return
	}
	weight, scale := currentWeight(steps, idx)
	if s.routed() {
		if idx == n {
			weight = s.maxWeight()
		}
		s.sizeRouted(weight, scale)
		if idx == n && s.weightDone(weight) {
			s.promoteRouted()
		}
		return
	}
	s.sizeCanary(weight, scale)
	if idx == n && s.atCanaryTargets() && s.stableRS.Status.Replicas == 0 && s.stableServiceOn(s.newRS) {
		// The canary becomes stable when the old stable has no pod left, so the switch and the
		// completion are one transition (Argo Rollouts also waits for the old pods).
		s.promoteCanary()
	}
}

// stableServiceHash is the hash the stable Service selects: the stable ReplicaSet's, or, without
// traffic routing, the canary's once every step is done and it runs every replica available. The
// old stable may keep pods until then (maxUnavailable 0), and the Service leaves them first. It
// then stays on the canary while the update is neither aborted nor replaced (a new template or
// new steps record the finished canary as stable first: finishDoneCanary), even if a replica
// count moves.
func (s *state) stableServiceHash() string {
	if s.routed() || s.status.Abort || s.newRS == s.stableRS || s.creating {
		return podHash(s.stableRS)
	}
	if int(s.stepIndex()) < len(s.ro.Spec.Strategy.Canary.Steps) {
		// A step at 100% takes the old stable to zero before the steps are done: the Service
		// moves to the canary's pods rather than be left without any (and stays while the old
		// stable has none).
		onCanary := s.selectorOf(s.ro.Spec.Strategy.Canary.StableService) == podHash(s.newRS)
		if availableReplicas(s.newRS) > 0 && (s.desired[s.stableRS] == 0 || (onCanary && availableReplicas(s.stableRS) == 0)) {
			return podHash(s.newRS)
		}
		return podHash(s.stableRS)
	}
	if s.selectorOf(s.ro.Spec.Strategy.Canary.StableService) == podHash(s.newRS) ||
		(specReplicas(s.newRS) == s.replicas && fullyAvailable(s.newRS)) ||
		(s.desired[s.stableRS] == 0 && availableReplicas(s.newRS) > 0) {
		// The canary runs every replica, or the old stable is about to lose its last pod
		// (a budget without surge scales it to zero before the canary is complete).
		return podHash(s.newRS)
	}
	return podHash(s.stableRS)
}

// availableOf is the available pod count of the observed ReplicaSet of hash (0 when none).
func (s *state) availableOf(hash string) int32 {
	for _, rs := range s.obs.ReplicaSets {
		if podHash(rs) == hash {
			return availableReplicas(rs)
		}
	}
	return 0
}

// stableServiceOn reports whether the stable Service is seen to select rs (true when the
// strategy names no stable Service or it does not exist).
func (s *state) stableServiceOn(rs *appsv1.ReplicaSet) bool {
	name := s.ro.Spec.Strategy.Canary.StableService
	if _, ok := s.obs.Services[name]; !ok || name == "" {
		return true
	}
	return s.selectorOf(name) == podHash(rs)
}

// holdOldStable keeps one pod of the old stable ReplicaSet of a canary without traffic routing
// while the stable or the canary Service is still seen to select it and the canary has an
// available pod to move to: a Service is not left on a ReplicaSet without pods, and the canary is
// not promoted before the switch (a Service patch that never lands leaves the update unfinished,
// with the old pod serving). With no available canary pod there is nowhere better for the
// Service, and holding would keep the canary from starting (maxSurge 0): the budget the user set
// (maxUnavailable) decides then.
func (s *state) holdOldStable() {
	if !s.oldStableHeld() {
		return
	}
	if s.desired[s.stableRS] != 0 || specReplicas(s.stableRS) == 0 {
		return
	}
	c := s.ro.Spec.Strategy.Canary
	var total int32
	for _, n := range s.desired {
		total += n
	}
	if over := total + 1 - newBudget(s.replicas, c.GetMaxSurge(), c.GetMaxUnavailable()).maxTotal; over > 0 {
		if !s.switchingTo(s.newRS) {
			// The Services stay where they are for now (steps to go): holding would keep the
			// canary from its size for good. The budget the user set decides.
			return
		}
		// The Services move this round: the canary waits a round for the held pod, so
		// maxSurge holds.
		s.desired[s.newRS] = max(s.desired[s.newRS]-over, min(specReplicas(s.newRS), s.desired[s.newRS]))
	}
	s.desired[s.stableRS] = 1
}

// switchingTo reports whether this plan points a Service at rs.
func (s *state) switchingTo(rs *appsv1.ReplicaSet) bool {
	for _, sel := range s.plan.Selectors {
		if sel.Hash == podHash(rs) {
			return true
		}
	}
	return false
}

// oldStableHeld reports whether the old stable ReplicaSet keeps a pod for a Service (holdOldStable).
func (s *state) oldStableHeld() bool {
	if s.routed() || s.status.Abort || s.stableRS == nil || s.stableRS == s.newRS || availableReplicas(s.newRS) == 0 {
		return false
	}
	c := s.ro.Spec.Strategy.Canary
	return !s.stableServiceOn(s.newRS) || (c.CanaryService != "" && s.selectorOf(c.CanaryService) == podHash(s.stableRS))
}

// stepDone reports whether step i is complete, starting it (pause conditions) when needed.
func (s *state) stepDone(i int32, step v1alpha1.CanaryStep) bool {
	switch {
	case step.SetWeight != nil:
		weight, scale := currentWeight(s.ro.Spec.Strategy.Canary.Steps, i)
		if s.routed() {
			s.sizeRouted(weight, scale)
			return s.weightDone(weight)
		}
		s.sizeCanary(weight, scale)
		return s.atCanaryTargets()
	case step.Pause != nil:
		return s.pauseDone(v1alpha1.PauseReasonCanaryPauseStep, step.Pause)
	case step.SetCanaryScale != nil:
		if s.routed() {
			weight, scale := currentWeight(s.ro.Spec.Strategy.Canary.Steps, i)
			if scale.MatchTrafficWeight {
				scale = nil
			}
			s.sizeRouted(weight, scale)
			return s.atCanaryTargets()
		}
		return true
	case step.Analysis != nil:
		return s.stepAnalysisDone(i)
	default:
		// Header and mirror routes are applied by the traffic router; without one, validation
		// rejects them before planning.
		return true
	}
}

// currentWeight is the canary weight and canary-scale override in force at step index idx: the
// last setWeight and setCanaryScale at or before it; 100 once every step is done.
func currentWeight(steps []v1alpha1.CanaryStep, idx int32) (int32, *v1alpha1.SetCanaryScale) {
	if int(idx) >= len(steps) {
		return 100, nil
	}
	var weight int32
	var scale *v1alpha1.SetCanaryScale
	for _, step := range steps[:idx+1] {
		if step.SetWeight != nil {
			weight = *step.SetWeight
		}
		if step.SetCanaryScale != nil {
			scale = step.SetCanaryScale
		}
	}
	return weight, scale
}

// sizeCanary decides the replicas of the canary, stable and older ReplicaSets for a weight.
func (s *state) sizeCanary(weight int32, scale *v1alpha1.SetCanaryScale) {
	canaryTarget, stableTarget := canaryTargets(s.replicas, weight)
	if scale != nil {
		switch {
		case scale.Replicas != nil:
			canaryTarget = *scale.Replicas
		case scale.Weight != nil:
			canaryTarget = ceilPercent(s.replicas, *scale.Weight)
		}
	}
	c := s.ro.Spec.Strategy.Canary
	b := newBudget(s.replicas, c.GetMaxSurge(), c.GetMaxUnavailable())
	if canaryTarget+stableTarget > b.maxTotal {
		// Both sides round up; without the surge for it (maxSurge 0, 3 replicas at 50%) the
		// split could never be reached: the stable side gives the pod up.
		stableTarget = max(b.maxTotal-canaryTarget, 0)
	}
	targets := map[*appsv1.ReplicaSet]int32{s.newRS: canaryTarget}
	if s.stableRS != s.newRS && s.stableRS != nil {
		targets[s.stableRS] = stableTarget
	} else {
		targets[s.newRS] = s.replicas
	}
	sets := append([]*appsv1.ReplicaSet{}, s.others...)
	if s.stableRS != nil && s.stableRS != s.newRS {
		sets = append(sets, s.stableRS)
	}
	sets = append(sets, s.newRS)
	for _, rs := range s.others {
		targets[rs] = 0
	}
	r := rolling{sets: sets, targets: targets, budget: b}
	for rs, n := range r.result() {
		s.desired[rs] = n
	}
	s.canaryTargets = targets
}

// atCanaryTargets reports whether the ReplicaSets already hold the sizes of the current weight:
// the canary fully available at its target, the stable at least at its target available, and
// every older ReplicaSet at zero.
func (s *state) atCanaryTargets() bool {
	for rs, target := range s.canaryTargets {
		if s.creating && rs == s.newRS {
			if target > 0 {
				return false
			}
			continue
		}
		switch {
		case rs == s.stableRS && rs != s.newRS && target == 0 && specReplicas(rs) <= 1 && s.oldStableHeld():
			// The pod kept for a Service (holdOldStable) counts as gone: the steps go on.
		case specReplicas(rs) != target || s.desired[rs] != target:
			return false
		case rs == s.newRS && !fullyAvailable(rs):
			return false
		case rs != s.newRS && rs == s.stableRS && availableReplicas(rs) < target:
			return false
		case rs != s.newRS && rs != s.stableRS && rs.Status.Replicas != 0:
			return false
		}
	}
	return true
}

// promoteCanary makes the canary the stable ReplicaSet once every step is done (its
// RolloutCompleted event comes from stateChangeEvents).
func (s *state) promoteCanary() {
	if s.newRS == s.stableRS {
		return
	}
	s.others = append(s.others, s.stableRS)
	s.stableRS = s.newRS
	s.status.StableRS = podHash(s.newRS)
	s.status.PromoteFull = false
	s.status.ControllerPause = false
	s.status.PauseConditions = nil
}

// abortCanary returns to the stable version: stable at full size, the canary scaled down, the
// steps reset so that a retry starts over.
func (s *state) abortCanary() {
	if s.status.AbortedAt == nil {
		s.status.AbortedAt = ptr.To(metav1.NewTime(s.now))
		s.event(corev1.EventTypeWarning, v1alpha1.RolloutAbortedReason,
			fmt.Sprintf("Rollout aborted update to revision %d", revision(s.newRS)))
	}
	s.setStepIndex(0)
	s.status.PauseConditions = nil
	s.status.ControllerPause = false
	s.status.PromoteFull = false
	if s.routed() {
		s.abortRouted()
		return
	}
	if s.stableRS != nil {
		s.desired[s.stableRS] = s.replicas
	}
	s.desired[s.newRS] = 0
	for _, rs := range s.others {
		s.desired[rs] = 0
	}
}

// pauseDone runs a pause: it sets the pause condition when the pause starts and reports whether
// it is over — its duration passed, or a person promoted it (the condition was removed while the
// controller still holds the pause).
func (s *state) pauseDone(reason v1alpha1.PauseReason, pause *v1alpha1.RolloutPause) bool {
	cond := findPause(s.status.PauseConditions, reason)
	if cond == nil && s.status.ControllerPause && len(s.status.PauseConditions) == 0 {
		s.status.ControllerPause = false // promoted: a person cleared the pause conditions
		return true
	}
	d, timed, _ := pause.GetDuration()
	if timed && d <= 0 {
		return true
	}
	if cond == nil {
		s.addPause(reason)
		cond = findPause(s.status.PauseConditions, reason)
	}
	if !timed {
		return false
	}
	end := s.pauseStart(reason, cond.StartTime.Time).Add(d)
	if s.now.Before(end) {
		s.requeue(end.Sub(s.now))
		return false
	}
	s.status.PauseConditions = removePause(s.status.PauseConditions, reason)
	s.status.ControllerPause = len(s.status.PauseConditions) > 0
	return true
}

// pauseStart is when a pause began: the precise time this process recorded, or else the status'
// start time rounded up to the next second (status times have one-second precision, so a pause is
// never cut short, only lengthened by less than a second after a restart).
func (s *state) pauseStart(reason v1alpha1.PauseReason, status time.Time) time.Time {
	// The remembered start is taken when the status write returns, a moment after the status
	// time was chosen: it belongs to this pause when it lies within two seconds after it.
	if t, ok := s.obs.PauseStarted[reason]; ok {
		if d := t.Sub(status.Truncate(time.Second)); d >= 0 && d < 2*time.Second {
			return t
		}
	}
	return status.Truncate(time.Second).Add(time.Second)
}

func (s *state) recordPauseStart(reason v1alpha1.PauseReason, t time.Time) {
	if s.plan.PauseStarted == nil {
		s.plan.PauseStarted = map[v1alpha1.PauseReason]time.Time{}
	}
	s.plan.PauseStarted[reason] = t
	if s.obs.PauseStarted == nil {
		s.obs.PauseStarted = map[v1alpha1.PauseReason]time.Time{}
	}
	s.obs.PauseStarted[reason] = t
}

func findPause(conds []v1alpha1.PauseCondition, reason v1alpha1.PauseReason) *v1alpha1.PauseCondition {
	for i := range conds {
		if conds[i].Reason == reason {
			return &conds[i]
		}
	}
	return nil
}

func removePause(conds []v1alpha1.PauseCondition, reason v1alpha1.PauseReason) []v1alpha1.PauseCondition {
	var out []v1alpha1.PauseCondition
	for _, c := range conds {
		if c.Reason != reason {
			out = append(out, c)
		}
	}
	return out
}

// describeStep names a step for events: "setWeight: 25", "pause: 30s".
func describeStep(step v1alpha1.CanaryStep) string {
	switch {
	case step.SetWeight != nil:
		return fmt.Sprintf("setWeight: %d", *step.SetWeight)
	case step.Pause != nil:
		if step.Pause.Duration != nil {
			return "pause: " + step.Pause.Duration.String()
		}
		return "pause"
	case step.SetCanaryScale != nil:
		return "setCanaryScale"
	case step.Analysis != nil:
		return "analysis"
	case step.SetHeaderRoute != nil:
		return "setHeaderRoute: " + step.SetHeaderRoute.Name
	case step.SetMirrorRoute != nil:
		return "setMirrorRoute: " + step.SetMirrorRoute.Name
	}
	return "step"
}

// rollbackWithinWindow reports whether the template went back to a ReplicaSet older than the
// stable one and no more than rollbackWindow.revisions ReplicaSets lie between them: such an undo
// skips the steps.
func (s *state) rollbackWithinWindow() bool {
	w := s.ro.Spec.RollbackWindow
	if w == nil || w.Revisions <= 0 || s.creating || s.stableRS == nil || s.newRS == s.stableRS {
		return false
	}
	if !s.newRS.CreationTimestamp.Before(&s.stableRS.CreationTimestamp) {
		return false
	}
	var between int32
	for _, rs := range s.others {
		if s.newRS.CreationTimestamp.Before(&rs.CreationTimestamp) && rs.CreationTimestamp.Before(&s.stableRS.CreationTimestamp) {
			between++
		}
	}
	return between < w.Revisions
}

// heldByOtherPause reports whether a pause that is not a step's own (an inconclusive analysis)
// holds the steps until a person promotes.
func (s *state) heldByOtherPause() bool {
	for _, c := range s.status.PauseConditions {
		if c.Reason != v1alpha1.PauseReasonCanaryPauseStep {
			return true
		}
	}
	return false
}

// clearAbort drops an abort that has nothing left to abort (the rollout runs its stable version).
func (s *state) clearAbort() {
	s.status.Abort = false
	s.status.AbortedAt = nil
}

// drainSuperseded gives an older ReplicaSet that still has pods (a canary an update superseded)
// a scale-down deadline, so that routes and endpoints move off its pods before they go.
func (s *state) drainSuperseded(delay time.Duration) {
	if delay <= 0 {
		return
	}
	for _, rs := range s.others {
		if _, ok := rs.Annotations[v1alpha1.ScaleDownDeadlineAnnotationKey]; ok || specReplicas(rs) == 0 {
			continue
		}
		deadline := s.now.Add(delay).UTC().Format(time.RFC3339)
		s.setAnnotation(rs, v1alpha1.ScaleDownDeadlineAnnotationKey, deadline)
		if rs.Annotations == nil {
			rs.Annotations = map[string]string{}
		}
		// scaleDownOld reads the deadline from the object: plan on the annotated object (the
		// planner's own copy, see ownReplicaSets).
		rs.Annotations[v1alpha1.ScaleDownDeadlineAnnotationKey] = deadline
	}
}
