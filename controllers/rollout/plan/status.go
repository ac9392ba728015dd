package plan

import (
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// finishStatus fills in replica counts, conditions, phase and message, and checks the progress
// deadline.
func (s *state) finishStatus() {
	s.countReplicas()
	completed := s.completed()
	paused := s.ro.Spec.Paused || len(s.status.PauseConditions) > 0
	s.pausedCondition(paused)
	s.availableCondition()
	s.progressingCondition(completed, paused)

	switch {
	case s.status.Abort:
		s.status.Phase = v1alpha1.RolloutPhaseDegraded
		s.status.Message = v1alpha1.RolloutAbortedReason + ": " + s.abortMessage()
	case s.deadlineExceeded():
		s.status.Phase = v1alpha1.RolloutPhaseDegraded
		s.status.Message = v1alpha1.ProgressDeadlineExceededReason + ": " + condition(s.status, v1alpha1.RolloutProgressing).Message
	case paused:
		// Argo Rollouts' words: a person's pause wins over the controller's pause conditions.
		s.status.Phase = v1alpha1.RolloutPhasePaused
		s.status.Message = "manually paused"
		if !s.ro.Spec.Paused {
			s.status.Message = string(s.status.PauseConditions[0].Reason)
		}
	case s.restarting():
		s.status.Phase = v1alpha1.RolloutPhaseProgressing
		s.status.Message = "rollout is restarting"
	case !completed:
		s.status.Phase = v1alpha1.RolloutPhaseProgressing
		s.status.Message = s.progressMessage()
		if s.obs.RoutingError != "" {
			s.status.Message = "traffic routing: " + s.obs.RoutingError
		}
		if c := condition(s.status, v1alpha1.RolloutProgressing); c != nil && c.Reason == ReplicaSetCreateErrorReason {
			s.status.Message = ReplicaSetCreateErrorReason + ": " + c.Message
		}
	default:
		s.status.Phase = v1alpha1.RolloutPhaseHealthy
		s.status.Message = ""
	}
	healthy := s.status.Phase == v1alpha1.RolloutPhaseHealthy
	s.boolCondition(v1alpha1.RolloutHealthy, healthy, v1alpha1.RolloutHealthyReason, "Rollout is healthy", "Rollout is not healthy")
	s.boolCondition(v1alpha1.RolloutCompleted, completed, v1alpha1.RolloutCompletedReason, "Rollout is completed", "Rollout is not completed")
	if len(s.status.PauseConditions) == 0 {
		// controllerPause means "the controller paused here": with no pause left it is stale, and a
		// later pause would read it as a person's promotion (Argo Rollouts resets it the same way).
		s.status.ControllerPause = false
	}
	ReportActionError(s.status, s.obs.ActionError)
	s.plan.Status = *s.status
}

// actionFailed joins a message and the failure of the last execution of a plan.
const actionFailed = "; last action failed: "

// ReportActionError records in a planned status why carrying it out failed (err), or that
// nothing failed (err empty): the Progressing condition's message and, in phase Progressing, the
// phase message end with the failure. Only messages change, so the status, reason and times of the
// condition (and with them the progress deadline) stay as planned. The planner calls it with
// Observed.ActionError; the reconciler calls it after a failed execution, and the next plan gives
// the same status.
func ReportActionError(st *v1alpha1.RolloutStatus, err string) {
	c := condition(st, v1alpha1.RolloutProgressing)
	// A refused create is the condition itself (ReplicaSetCreateError): it is not said twice.
	named := c != nil && (c.Reason == ReplicaSetCreateErrorReason ||
		(c.Reason == v1alpha1.ProgressDeadlineExceededReason && strings.Contains(c.Message, "Failed to create new replica set")))
	with := func(msg string) string {
		msg, _, _ = strings.Cut(msg, actionFailed)
		if err != "" && !named {
			msg += actionFailed + err
		}
		return msg
	}
	if c != nil {
		c.Message = with(c.Message)
	}
	if st.Phase == v1alpha1.RolloutPhaseProgressing {
		st.Message = with(st.Message)
	}
}

// stripActionError removes a recorded failure from the messages of the status being planned, so
// that conditions compare (and keep their times) on what the planner decides.
func stripActionError(st *v1alpha1.RolloutStatus) {
	ReportActionError(st, "")
}

// countReplicas sums the ReplicaSets' pods into the status. A blue-green Rollout counts, as Argo
// Rollouts does, the ReplicaSet its active Service is seen to select: ready, available and
// HPAReplicas are its pods (preview pods serve no user), and status.selector gains its hash, so
// an HPA scaling the Rollout reads the pods it scales. Until the active Service selects a
// ReplicaSet, every ReplicaSet is counted under the Rollout's selector.
func (s *state) countReplicas() {
	var total, ready, available int32
	for _, rs := range s.obs.ReplicaSets {
		total += rs.Status.Replicas
		ready += rs.Status.ReadyReplicas
		available += rs.Status.AvailableReplicas
	}
	s.status.Replicas, s.status.ReadyReplicas, s.status.AvailableReplicas = total, ready, available
	s.status.UpdatedReplicas = 0
	if s.newRS != nil && !s.creating {
		s.status.UpdatedReplicas = s.newRS.Status.Replicas
	}
	s.status.HPAReplicas = total
	if active := s.activeReplicaSet(); active != nil {
		s.status.ReadyReplicas = active.Status.ReadyReplicas
		s.status.AvailableReplicas = active.Status.AvailableReplicas
		s.status.HPAReplicas = active.Status.Replicas
		if active.Spec.Selector != nil {
			s.status.Selector = metav1.FormatLabelSelector(active.Spec.Selector)
		}
	}
}

// activeReplicaSet is the ReplicaSet a blue-green active Service is seen to select (the recorded
// status.blueGreen.activeSelector while the Service cannot be read), or nil.
func (s *state) activeReplicaSet() *appsv1.ReplicaSet {
	b := s.ro.Spec.Strategy.BlueGreen
	if b == nil {
		return nil
	}
	hash := s.status.BlueGreen.ActiveSelector
	if _, ok := s.obs.Services[b.ActiveService]; ok {
		hash = s.selectorOf(b.ActiveService)
	}
	if hash == "" {
		return nil
	}
	for _, rs := range s.obs.ReplicaSets {
		if podHash(rs) == hash {
			return rs
		}
	}
	return nil
}

// completed reports whether the update is done: the new ReplicaSet is stable, runs every replica
// available, its pods carry the stable metadata, no older pod runs (blue-green keeps the old
// ReplicaSet for its scale-down delay), and a blue-green active Service points at it.
func (s *state) completed() bool {
	if s.creating || s.newRS != s.stableRS || s.status.Abort || s.obs.RoutingError != "" || s.relabelling() {
		return false
	}
	if specReplicas(s.newRS) != s.replicas || !fullyAvailable(s.newRS) {
		return false
	}
	if b := s.ro.Spec.Strategy.BlueGreen; b != nil {
		return s.status.BlueGreen.ActiveSelector == podHash(s.newRS)
	}
	for _, rs := range s.others {
		if s.scaleDownPending(rs) || (s.routed() && s.desired[rs] == 0) {
			// With traffic routing an old ReplicaSet serves no traffic: waiting out its
			// scale-down delay, or its pods terminating, does not hold the update open.
			continue
		}
		if rs.Status.Replicas > 0 || s.desired[rs] > 0 {
			return false
		}
	}
	return true
}

// scaleDownPending reports whether rs has (or is given in this plan) a scale-down deadline.
func (s *state) scaleDownPending(rs *appsv1.ReplicaSet) bool {
	if _, ok := rs.Annotations[v1alpha1.ScaleDownDeadlineAnnotationKey]; ok {
		for _, sc := range s.plan.Scale {
			if sc.Name == rs.Name {
				if v, planned := sc.Annotations[v1alpha1.ScaleDownDeadlineAnnotationKey]; planned && v == nil {
					return false // removed in this plan
				}
			}
		}
		return true
	}
	for _, sc := range s.plan.Scale {
		if sc.Name == rs.Name && sc.Annotations[v1alpha1.ScaleDownDeadlineAnnotationKey] != nil {
			return true
		}
	}
	return false
}

// restarting reports whether a restart is in progress: spec.restartAt has come and
// status.restartedAt does not record it yet (restart sets it once no older pod is left).
func (s *state) restarting() bool {
	at := s.ro.Spec.RestartAt
	return at != nil && !s.now.Before(at.Time) && (s.status.RestartedAt == nil || s.status.RestartedAt.Before(at))
}

func (s *state) progressMessage() string {
	switch {
	case s.creating || s.status.UpdatedReplicas < s.desired[s.newRS]:
		return "more replicas need to be updated"
	case !fullyAvailable(s.newRS):
		return "updated replicas are still becoming available"
	case s.waitingForAnalysis():
		return "waiting for analysis to complete"
	case s.newRS == s.stableRS && s.relabelling():
		return "updated pods are getting the metadata of their role"
	case s.routed() && s.status.Canary.Weights != nil && (s.status.Canary.Weights.Verified == nil || !*s.status.Canary.Weights.Verified):
		return fmt.Sprintf("waiting for the routes to carry canary weight %d", s.status.Canary.Weights.Canary.Weight)
	case s.ro.Spec.Strategy.BlueGreen != nil && s.status.BlueGreen.ActiveSelector != podHash(s.newRS) && !s.status.Abort:
		// Argo Rollouts' words: the active Service does not select the new pods yet.
		return "active service cutover pending"
	case s.ro.Spec.Strategy.Canary != nil && s.status.CurrentStepIndex != nil && int(*s.status.CurrentStepIndex) < len(s.ro.Spec.Strategy.Canary.Steps):
		return "waiting for rollout to finish steps"
	case s.status.Replicas > s.status.UpdatedReplicas:
		return "old replicas are pending termination"
	}
	return "waiting for rollout to finish steps"
}

func (s *state) abortMessage() string {
	msg := fmt.Sprintf("Rollout aborted update to revision %d", revision(s.newRS))
	if s.analysisFailure != "" {
		msg += ": " + s.analysisFailure
	} else if c := condition(s.status, v1alpha1.RolloutProgressing); c != nil && c.Reason == v1alpha1.RolloutAbortedReason {
		return c.Message
	}
	return msg
}

func (s *state) pausedCondition(paused bool) {
	if paused {
		setCondition(s.status, s.now, v1alpha1.RolloutPaused, corev1.ConditionTrue, v1alpha1.RolloutPausedReason, "Rollout is paused")
	} else if c := condition(s.status, v1alpha1.RolloutPaused); c != nil && c.Status == corev1.ConditionTrue {
		setCondition(s.status, s.now, v1alpha1.RolloutPaused, corev1.ConditionFalse, v1alpha1.RolloutResumedReason, "Rollout is resumed")
	}
}

func (s *state) availableCondition() {
	var minAvailable int32
	if c := s.ro.Spec.Strategy.Canary; c != nil {
		minAvailable = newBudget(s.replicas, c.GetMaxSurge(), c.GetMaxUnavailable()).minAvailable
	} else {
		unavailable := s.ro.Spec.Strategy.BlueGreen.GetMaxUnavailable()
		n, _ := intstr.GetScaledValueFromIntOrPercent(&unavailable, int(s.replicas), false)
		minAvailable = max(s.replicas-int32(n), 0)
	}
	s.boolCondition(v1alpha1.RolloutAvailable, s.status.AvailableReplicas >= minAvailable, v1alpha1.AvailableReason,
		"Rollout has minimum availability", "Rollout does not have minimum availability")
}

// progressingCondition keeps the Progressing condition, whose last update time marks the last
// progress: the progress deadline counts from it, and pauses restart it.
func (s *state) progressingCondition(completed, paused bool) {
	name := ""
	if s.newRS != nil {
		name = s.newRS.Name
	}
	old := s.ro.Status
	// Planned writes are progress only when the last ones went through: a create or patch the API
	// server keeps refusing is planned again on every retry, and must not hold off the deadline.
	planned := len(s.plan.Create)+len(s.plan.Scale)+len(s.plan.Selectors)+len(s.plan.DeletePods) > 0
	acted := (planned && s.obs.ActionError == "") ||
		old.StableRS != s.status.StableRS || old.CurrentPodHash != s.status.CurrentPodHash ||
		!equalIndex(old.CurrentStepIndex, s.status.CurrentStepIndex)
	counted := old.Replicas != s.status.Replicas || old.UpdatedReplicas != s.status.UpdatedReplicas ||
		old.ReadyReplicas != s.status.ReadyReplicas || old.AvailableReplicas != s.status.AvailableReplicas
	progressed := acted || counted
	progressedAt := s.now
	if p := s.obs.PendingCounts; !acted && counted && p != nil && *p == CountsOf(s.status) && s.obs.CountsChangedAt.Before(s.now) {
		progressedAt = s.obs.CountsChangedAt
	}
	switch {
	case s.status.Abort:
		setCondition(s.status, s.now, v1alpha1.RolloutProgressing, corev1.ConditionFalse, v1alpha1.RolloutAbortedReason, s.abortMessage())
	case paused:
		setCondition(s.status, s.now, v1alpha1.RolloutProgressing, corev1.ConditionUnknown, v1alpha1.RolloutPausedReason, "Rollout is paused")
	case completed:
		setCondition(s.status, s.now, v1alpha1.RolloutProgressing, corev1.ConditionTrue, v1alpha1.NewReplicaSetAvailableReason,
			fmt.Sprintf("ReplicaSet %q has successfully progressed.", name))
	default:
		c := condition(s.status, v1alpha1.RolloutProgressing)
		if c != nil && c.Reason == v1alpha1.ProgressDeadlineExceededReason && !progressed {
			return
		}
		if failure := s.createFailure(); failure != "" {
			s.createErrorCondition(name, failure)
			return
		}
		msg := fmt.Sprintf("ReplicaSet %q is progressing.", name)
		if s.obs.RoutingError != "" {
			msg = fmt.Sprintf("ReplicaSet %q is waiting for traffic routing: %s", name, s.obs.RoutingError)
		}
		if !setCondition(s.status, s.now, v1alpha1.RolloutProgressing, corev1.ConditionTrue, v1alpha1.ReplicaSetUpdatedReason, msg) && progressed {
			c := condition(s.status, v1alpha1.RolloutProgressing)
			c.LastUpdateTime = metav1.NewTime(progressedAt)
		}
		if !s.measuringAnalysis() {
			s.checkDeadline(name)
		}
	}
}

// ReplicaSetCreateErrorReason (Progressing=False) means the API server refused to create the new
// ReplicaSet, as Argo Rollouts reports it.
const ReplicaSetCreateErrorReason = "ReplicaSetCreateError"

// CreateReplicaSetsPhase names the execution phase that creates ReplicaSets; an ActionError of
// that phase begins with it, followed by CreateReplicaSetError's text.
const CreateReplicaSetsPhase = "create ReplicaSets"

// CreateReplicaSetError is how the executor words a refused create of the ReplicaSet name.
func CreateReplicaSetError(name string, err error) error {
	return fmt.Errorf("create ReplicaSet %s: %w", name, err)
}

// createFailure is the API server's message when the last execution failed to create the
// ReplicaSet this plan still has to create; empty otherwise.
func (s *state) createFailure() string {
	if !s.creating {
		return ""
	}
	msg, ok := strings.CutPrefix(s.obs.ActionError, CreateReplicaSetsPhase+": create ReplicaSet "+s.newRS.Name+": ")
	if !ok {
		return ""
	}
	return msg
}

// createErrorCondition reports a ReplicaSet the API server refuses to create: Progressing=False
// with reason ReplicaSetCreateError and the API server's message. A refused create is not
// progress: the condition keeps the time of the last progress, so the progress deadline runs
// from it. (classify names no stable ReplicaSet that does not exist: a first revision that cannot
// be created has none yet.)
func (s *state) createErrorCondition(name, failure string) {
	last := s.now
	if c := condition(s.status, v1alpha1.RolloutProgressing); c != nil &&
		(c.Reason == v1alpha1.ReplicaSetUpdatedReason || c.Reason == ReplicaSetCreateErrorReason) {
		last = c.LastUpdateTime.Time
	}
	msg := fmt.Sprintf("Failed to create new replica set %q: %s", name, failure)
	if setCondition(s.status, s.now, v1alpha1.RolloutProgressing, corev1.ConditionFalse, ReplicaSetCreateErrorReason, msg) {
		s.event(corev1.EventTypeWarning, ReplicaSetCreateErrorReason, msg)
	}
	condition(s.status, v1alpha1.RolloutProgressing).LastUpdateTime = metav1.NewTime(last)
	if s.measuringAnalysis() {
		return
	}
	s.checkDeadline(msg)
}

// checkDeadline marks the update as stuck when it made no progress for progressDeadlineSeconds,
// and aborts it when progressDeadlineAbort says so; otherwise it asks to look again at the
// deadline. what is the ReplicaSet name, or the message of a create the API server refuses.
func (s *state) checkDeadline(what string) {
	c := condition(s.status, v1alpha1.RolloutProgressing)
	deadline := c.LastUpdateTime.Add(time.Duration(s.ro.Spec.GetProgressDeadlineSeconds()) * time.Second)
	if s.now.Before(deadline) {
		s.requeue(deadline.Sub(s.now))
		return
	}
	msg := fmt.Sprintf("ReplicaSet %q has timed out progressing.", what)
	if c.Reason == ReplicaSetCreateErrorReason {
		msg = "Rollout has timed out progressing: " + what
	}
	setCondition(s.status, s.now, v1alpha1.RolloutProgressing, corev1.ConditionFalse, v1alpha1.ProgressDeadlineExceededReason, msg)
	s.event(corev1.EventTypeWarning, v1alpha1.ProgressDeadlineExceededReason, msg)
	if s.ro.Spec.ProgressDeadlineAbort {
		s.status.Abort = true
		s.status.AbortedAt = ptrTime(metav1.NewTime(s.now))
		s.event(corev1.EventTypeWarning, v1alpha1.RolloutAbortedReason, "Rollout aborted: "+msg)
	}
}

func (s *state) deadlineExceeded() bool {
	c := condition(s.status, v1alpha1.RolloutProgressing)
	return c != nil && c.Reason == v1alpha1.ProgressDeadlineExceededReason
}

func (s *state) boolCondition(t v1alpha1.RolloutConditionType, ok bool, reason, yes, no string) {
	if ok {
		setCondition(s.status, s.now, t, corev1.ConditionTrue, reason, yes)
	} else {
		setCondition(s.status, s.now, t, corev1.ConditionFalse, reason, no)
	}
}

func equalIndex(a, b *int32) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// condition returns the condition of a type, or nil.
func condition(status *v1alpha1.RolloutStatus, t v1alpha1.RolloutConditionType) *v1alpha1.RolloutCondition {
	for i := range status.Conditions {
		if status.Conditions[i].Type == t {
			return &status.Conditions[i]
		}
	}
	return nil
}

// setCondition sets a condition and reports whether it changed. Times move only on change: the
// transition time when the status flips, the update time when anything changes.
func setCondition(status *v1alpha1.RolloutStatus, now time.Time, t v1alpha1.RolloutConditionType, st corev1.ConditionStatus, reason, msg string) bool {
	c := condition(status, t)
	if c == nil {
		status.Conditions = append(status.Conditions, v1alpha1.RolloutCondition{
			Type: t, Status: st, Reason: reason, Message: msg,
			LastUpdateTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now),
		})
		return true
	}
	if c.Status == st && c.Reason == reason && c.Message == msg {
		return false
	}
	if c.Status != st {
		c.LastTransitionTime = metav1.NewTime(now)
	}
	c.Status, c.Reason, c.Message = st, reason, msg
	c.LastUpdateTime = metav1.NewTime(now)
	return true
}

func removeCondition(status *v1alpha1.RolloutStatus, t v1alpha1.RolloutConditionType) {
	var out []v1alpha1.RolloutCondition
	for _, c := range status.Conditions {
		if c.Type != t {
			out = append(out, c)
		}
	}
	status.Conditions = out
}

// waitingForAnalysis reports whether the update waits on an AnalysisRun that is still measuring.
func (s *state) waitingForAnalysis() bool {
	for _, r := range []*v1alpha1.RolloutAnalysisRunStatus{
		s.status.Canary.CurrentStepAnalysisRunStatus, s.status.BlueGreen.PrePromotionAnalysisRunStatus,
		s.status.BlueGreen.PostPromotionAnalysisRunStatus,
	} {
		if r != nil && !r.Status.Completed() {
			return true
		}
	}
	return false
}

// measuringAnalysis reports whether an AnalysisRun the update waits on exists and is still
// measuring: like a pause, that is not a stall. A run that could not be created (a refused create
// is an execution error, an unbuildable one InvalidSpec) does not hold the progress deadline.
func (s *state) measuringAnalysis() bool {
	for _, r := range []*v1alpha1.RolloutAnalysisRunStatus{
		s.status.Canary.CurrentStepAnalysisRunStatus, s.status.BlueGreen.PrePromotionAnalysisRunStatus,
		s.status.BlueGreen.PostPromotionAnalysisRunStatus,
	} {
		if r != nil && !r.Status.Completed() && s.obs.Runs[r.Name] != nil {
			return true
		}
	}
	return false
}
