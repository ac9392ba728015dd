package plan

import (
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// state is one planning pass: the inputs, the status being built and the plan being filled.
type state struct {
	ro     *v1alpha1.Rollout
	obs    Observed
	now    time.Time
	status *v1alpha1.RolloutStatus
	plan   *Plan

	replicas        int32
	newRS           *appsv1.ReplicaSet // the observed new ReplicaSet, or the one planned for creation
	creating        bool               // newRS is planned for creation
	stableRS        *appsv1.ReplicaSet // nil before the first ReplicaSet is stable
	others          []*appsv1.ReplicaSet
	desired         map[*appsv1.ReplicaSet]int32 // replicas decided for each ReplicaSet
	canaryTargets   map[*appsv1.ReplicaSet]int32 // targets of the current canary weight
	weight          int32                        // canary traffic weight to route (trafficRouting)
	analysisFailure string                       // why an analysis aborted the update
	stableGone      string                       // hash of a stable ReplicaSet that disappeared mid-update
}

// Next plans the next move of a Rollout from what was observed at now.
func Next(ro *v1alpha1.Rollout, obs Observed, now time.Time) Plan {
	obs.ReplicaSets, obs.NewRS = ownReplicaSets(obs.ReplicaSets, obs.NewRS)
	s := &state{
		ro:       ro,
		obs:      obs,
		now:      now,
		status:   ro.Status.DeepCopy(),
		plan:     &Plan{},
		replicas: ro.Spec.GetReplicas(),
		desired:  map[*appsv1.ReplicaSet]int32{},
	}
	stripActionError(s.status)
	s.status.ObservedGeneration = strconv.FormatInt(ro.Generation, 10)
	s.workloadObservedGeneration()
	if ro.Spec.Selector != nil {
		s.status.Selector = metav1.FormatLabelSelector(ro.Spec.Selector)
	}
	missing := missingServices(ro, obs.MissingServices)
	if errs := uniq(append(append(Validate(ro), obs.SpecErrors...), missing...)); len(errs) > 0 || obs.Template == nil {
		if obs.Template == nil && len(errs) == 0 {
			errs = []string{obs.TemplateError}
		}
		if len(errs) == len(missing) && obs.Template != nil {
			s.abortTrafficOnly()
		}
		s.invalid(errs)
		if len(missing) > 0 {
			// The Service's watch brings it back when the Service appears; look again anyway.
			s.requeue(MissingServiceRetry)
		}
		return *s.plan
	}
	removeCondition(s.status, v1alpha1.InvalidSpec)

	s.classify()
	if ro.Spec.Strategy.Canary != nil {
		s.canary()
	} else {
		s.blueGreen()
	}
	s.podMetadata()
	s.terminateRuns()
	s.restart()
	s.emitScaling()
	s.history()
	s.runHistory()
	s.finishStatus()
	s.tellStableGone()
	s.stateChangeEvents()
	return *s.plan
}

// ownReplicaSets copies the observed ReplicaSets (newRS, one of them, maps to its copy): the
// planner works on its own objects and never changes what it was given, which is the caller's
// cache.
func ownReplicaSets(sets []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) ([]*appsv1.ReplicaSet, *appsv1.ReplicaSet) {
	out := make([]*appsv1.ReplicaSet, len(sets))
	var ownNew *appsv1.ReplicaSet
	for i, rs := range sets {
		out[i] = rs.DeepCopy()
		if rs == newRS {
			ownNew = out[i]
		}
	}
	if newRS != nil && ownNew == nil {
		ownNew = newRS.DeepCopy()
	}
	return out, ownNew
}

// MissingServiceRetry is how often a Rollout whose strategy names a Service that does not exist
// looks again, besides the Service's watch.
const MissingServiceRetry = 10 * time.Second

// missingServices words, as Argo Rollouts does, each Service the strategy names that does not
// exist, with the field that names it.
func missingServices(ro *v1alpha1.Rollout, missing []string) []string {
	if len(missing) == 0 {
		return nil
	}
	gone := map[string]bool{}
	for _, name := range missing {
		gone[name] = true
	}
	type ref struct{ field, name string }
	var refs []ref
	if c := ro.Spec.Strategy.Canary; c != nil {
		refs = append(refs, ref{"spec.strategy.canary.canaryService", c.CanaryService}, ref{"spec.strategy.canary.stableService", c.StableService})
	}
	if b := ro.Spec.Strategy.BlueGreen; b != nil {
		refs = append(refs, ref{"spec.strategy.blueGreen.activeService", b.ActiveService}, ref{"spec.strategy.blueGreen.previewService", b.PreviewService})
	}
	var out []string
	for _, r := range refs {
		if r.name != "" && gone[r.name] {
			out = append(out, fmt.Sprintf("%s: Invalid value: %q: services %q not found", r.field, r.name, r.name))
		}
	}
	return out
}

// abortTrafficOnly moves an aborted routed canary's traffic back to stable while a missing
// Service holds the rest of the plan (the spec is otherwise valid): the routes are what keeps
// requests off the version being abandoned, so they do not wait for the Service to return. It
// does nothing when the stable Service is the missing one or the stable ReplicaSet has no
// available pod (there is nowhere safe to send the requests), and it changes nothing else — the
// ReplicaSets, the steps and the abort's record wait for the Service like the rest of the update.
func (s *state) abortTrafficOnly() {
	c := s.ro.Spec.Strategy.Canary
	if !s.routed() || !s.status.Abort || s.status.StableRS == "" || s.status.StableRS == s.status.CurrentPodHash {
		return
	}
	for _, name := range s.obs.MissingServices {
		if name == c.StableService {
			return
		}
	}
	for _, rs := range s.obs.ReplicaSets {
		if podHash(rs) == s.status.StableRS {
			s.stableRS = rs
		}
	}
	if s.stableRS == nil || availableReplicas(s.stableRS) == 0 {
		return
	}
	s.newRS = s.stableRS // with the abort, both destinations are the stable pods
	s.weight = 0
	s.routing()
}

// workloadObservedGeneration records, as Argo Rollouts does, the generation of the Deployment a
// workloadRef names whose template this pass used; without a workloadRef it is cleared, and while
// the Deployment cannot be read the last observed generation stays.
func (s *state) workloadObservedGeneration() {
	switch {
	case s.ro.Spec.WorkloadRef == nil:
		s.status.WorkloadObservedGeneration = ""
	case s.obs.WorkloadGeneration > 0:
		s.status.WorkloadObservedGeneration = strconv.FormatInt(s.obs.WorkloadGeneration, 10)
	}
}

// invalid records an invalid spec: the InvalidSpec condition, phase Degraded, nothing else changes.
func (s *state) invalid(errs []string) {
	msg := errs[0]
	for _, e := range errs[1:] {
		msg += "; " + e
	}
	if setCondition(s.status, s.now, v1alpha1.InvalidSpec, corev1.ConditionTrue, v1alpha1.InvalidSpecReason, msg) {
		s.event(corev1.EventTypeWarning, v1alpha1.InvalidSpecReason, msg)
	}
	s.status.Phase = v1alpha1.RolloutPhaseDegraded
	s.status.Message = v1alpha1.InvalidSpecReason + ": " + msg
	s.countReplicas()
	ReportActionError(s.status, s.obs.ActionError)
	s.plan.Status = *s.status
}

// classify finds the new and stable ReplicaSets among the observed ones, and plans the new
// ReplicaSet when there is none.
func (s *state) classify() {
	s.newRS = s.obs.NewRS
	if s.newRS == nil {
		s.newRS = FindReplicaSet(s.ro, s.obs)
	}
	if s.newRS != nil && s.newRS.Annotations[TemplateHashAnnotation] != s.obs.PodHash {
		// Found by its template (a new hash function, an undo's defaulted template, another
		// controller's ReplicaSet): re-stamp it so the hash finds it next time.
		s.setAnnotation(s.newRS, TemplateHashAnnotation, s.obs.PodHash)
	}
	if s.newRS == nil {
		s.newRS = s.buildNewRS()
		s.creating = true
		// No event: the update's start is in the status and the info log, and its first
		// transition event names the revision (docs/rollout.md, "Events").
		s.plan.Create = append(s.plan.Create, s.newRS)
	} else if rev := revision(s.newRS); rev < s.maxRevision() {
		// An older template came back (undo): its ReplicaSet becomes the newest revision.
		s.setAnnotation(s.newRS, v1alpha1.RevisionAnnotationKey, strconv.FormatInt(s.maxRevision()+1, 10))
	}
	newHash := podHash(s.newRS)
	c := s.ro.Spec.Strategy.Canary
	if s.status.CurrentPodHash != newHash || (c != nil && s.status.CurrentStepHash != "" && s.status.CurrentStepHash != StepsHash(c.Steps)) {
		s.finishDoneCanary()
	}
	if s.status.CurrentPodHash != newHash {
		s.newPodHash(newHash)
	}
	for _, rs := range s.obs.ReplicaSets {
		switch {
		case rs == s.newRS:
		case s.status.StableRS != "" && podHash(rs) == s.status.StableRS:
			s.stableRS = rs
		default:
			s.others = append(s.others, rs)
		}
	}
	if s.status.StableRS == "" || (s.stableRS == nil && s.status.StableRS != newHash) {
		// The first ReplicaSet (or one whose stable ReplicaSet is gone) is stable at once.
		if s.status.StableRS != "" && !s.creating {
			s.stableGone = s.status.StableRS
		}
		s.status.StableRS = newHash
	}
	if s.status.StableRS == newHash {
		s.stableRS = s.newRS
		if s.createFailure() != "" {
			// A first ReplicaSet that the API server refuses is not named stable until it exists.
			s.status.StableRS = ""
		}
	}
	byRevision(s.others)
	for _, rs := range s.obs.ReplicaSets {
		s.desired[rs] = specReplicas(rs)
	}
	s.desired[s.newRS] = specReplicas(s.newRS)
}

// finishDoneCanary records as stable a canary (without traffic routing) that has finished but
// is not promoted yet: promoteCanary waits for every replica to be available and the old pods to
// be gone. A new template or new steps arriving in that window then start from the finished
// canary instead of bringing the old version back. Finished means the stable Service already
// moved to it (stableServiceHash), or every step is done and the old stable is scaled to zero.
// An abort is not such a change: until the canary is recorded as stable, an abort returns to the
// old version, as in Argo Rollouts.
func (s *state) finishDoneCanary() {
	c := s.ro.Spec.Strategy.Canary
	h := s.status.CurrentPodHash
	if c == nil || s.routed() || h == "" || h == s.status.StableRS || s.status.Abort {
		return
	}
	var done, oldStable *appsv1.ReplicaSet
	for _, rs := range s.obs.ReplicaSets {
		switch podHash(rs) {
		case h:
			done = rs
		case s.status.StableRS:
			oldStable = rs
		}
	}
	if done == nil || specReplicas(done) == 0 {
		return
	}
	stepsDone := s.status.CurrentStepIndex == nil || int(*s.status.CurrentStepIndex) >= len(c.Steps)
	serviceMoved := c.StableService != "" && s.selectorOf(c.StableService) == h
	if !serviceMoved && !(stepsDone && (oldStable == nil || specReplicas(oldStable) == 0)) {
		return
	}
	s.status.StableRS = h
	s.status.PromoteFull = false
	s.status.ControllerPause = false
	s.status.PauseConditions = nil
	// The next update starts in this same pass, so stateChangeEvents does not see this one end.
	s.event(corev1.EventTypeNormal, v1alpha1.RolloutCompletedReason,
		fmt.Sprintf("Rollout completed update to revision %d (%s): %s", revision(done), h, completedCanarySteps(c)))
}

// newPodHash resets the per-update status when the template changes: a new update starts at the
// first step, and an abort of the previous update no longer applies.
func (s *state) newPodHash(hash string) {
	prev := s.status.CurrentPodHash
	s.status.CurrentPodHash = hash
	if prev == "" {
		return
	}
	s.status.Abort = false
	s.status.AbortedAt = nil
	s.status.PromoteFull = false
	s.status.PauseConditions = nil
	s.status.ControllerPause = false
	s.status.Canary.CurrentStepAnalysisRunStatus = nil
	s.status.Canary.CurrentBackgroundAnalysisRunStatus = nil
	s.status.BlueGreen.ScaleUpPreviewCheckPoint = false
	s.status.BlueGreen.PrePromotionAnalysisRunStatus = nil
	s.status.BlueGreen.PostPromotionAnalysisRunStatus = nil
	if w := s.status.Canary.Weights; w != nil && w.Canary.Weight != 0 {
		// A new template starts with every request on stable; the superseded canary drains.
		w.Canary.Weight, w.Stable.Weight = 0, w.Canary.Weight+w.Stable.Weight
		w.Verified = nil
	}
	if s.ro.Spec.Strategy.Canary != nil && len(s.ro.Spec.Strategy.Canary.Steps) > 0 {
		s.status.CurrentStepIndex = ptr.To[int32](0)
	}
}

func (s *state) maxRevision() int64 {
	var max int64
	for _, rs := range s.obs.ReplicaSets {
		if r := revision(rs); r > max {
			max = r
		}
	}
	return max
}

// buildNewRS returns the ReplicaSet to create for the template, with zero replicas; the strategy
// decides its size.
func (s *state) buildNewRS() *appsv1.ReplicaSet {
	hash := s.obs.PodHash
	tmpl := s.obs.Template.DeepCopy()
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	tmpl.Labels[v1alpha1.PodTemplateHashLabelKey] = hash
	selector := s.ro.Spec.Selector.DeepCopy()
	if selector.MatchLabels == nil {
		selector.MatchLabels = map[string]string{}
	}
	selector.MatchLabels[v1alpha1.PodTemplateHashLabelKey] = hash
	labels := map[string]string{}
	for k, v := range tmpl.Labels {
		labels[k] = v
	}
	s.antiAffinity(tmpl)
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:      s.ro.Name + "-" + hash,
			Namespace: s.ro.Namespace,
			Labels:    labels,
			Annotations: map[string]string{
				v1alpha1.RevisionAnnotationKey: strconv.FormatInt(s.maxRevision()+1, 10),
				TemplateHashAnnotation:         hash,
			},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(s.ro, v1alpha1.GroupVersion.WithKind(v1alpha1.RolloutKind))},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        ptr.To[int32](0),
			MinReadySeconds: s.ro.Spec.MinReadySeconds,
			Selector:        selector,
			Template:        *tmpl,
		},
	}
}

// setAnnotation plans an annotation change on an existing ReplicaSet (nil removes it).
func (s *state) setAnnotation(rs *appsv1.ReplicaSet, key string, value string) {
	s.annotations(rs)[key] = &value
}

func (s *state) removeAnnotation(rs *appsv1.ReplicaSet, key string) {
	if _, ok := rs.Annotations[key]; ok {
		s.annotations(rs)[key] = nil
	}
}

func (s *state) annotations(rs *appsv1.ReplicaSet) map[string]*string {
	for i := range s.plan.Scale {
		if s.plan.Scale[i].Name == rs.Name {
			return s.plan.Scale[i].Annotations
		}
	}
	s.plan.Scale = append(s.plan.Scale, ScaleReplicaSet{Name: rs.Name, Replicas: -1, Annotations: map[string]*string{}})
	return s.plan.Scale[len(s.plan.Scale)-1].Annotations
}

// emitScaling turns the decided replica counts into Create sizes and Scale actions.
func (s *state) emitScaling() {
	if s.creating {
		s.newRS.Spec.Replicas = ptr.To(s.desired[s.newRS])
	}
	for _, rs := range s.obs.ReplicaSets {
		want := s.desired[rs]
		if want == specReplicas(rs) {
			continue
		}
		s.annotations(rs) // make sure there is an entry
		for i := range s.plan.Scale {
			if s.plan.Scale[i].Name == rs.Name {
				s.plan.Scale[i].Replicas = want
			}
		}
	}
	// Scale entries that only change annotations keep the current size.
	for i := range s.plan.Scale {
		for _, rs := range s.obs.ReplicaSets {
			if rs.Name == s.plan.Scale[i].Name {
				s.plan.Scale[i].From, s.plan.Scale[i].Revision = specReplicas(rs), revision(rs)
				if s.plan.Scale[i].Replicas < 0 {
					s.plan.Scale[i].Replicas = specReplicas(rs)
				}
			}
		}
	}
}

func (s *state) event(eventType, reason, msg string) {
	s.plan.Events = append(s.plan.Events, Event{Type: eventType, Reason: reason, Message: msg})
}

// requeue asks to look again after d at the latest.
func (s *state) requeue(d time.Duration) {
	if d <= 0 {
		d = time.Millisecond
	}
	if s.plan.RequeueAfter == 0 || d < s.plan.RequeueAfter {
		s.plan.RequeueAfter = d
	}
}

// setSelector plans pointing a Service at the pods of hash, if the Service exists and points
// elsewhere.
func (s *state) setSelector(service, hash string) {
	if service == "" || hash == "" {
		return
	}
	svc, ok := s.obs.Services[service]
	if !ok {
		return
	}
	current := svc.Spec.Selector[v1alpha1.PodTemplateHashLabelKey]
	managedBy := svc.Annotations[v1alpha1.ManagedByRolloutsAnnotationKey]
	if current == hash && managedBy == s.ro.Name {
		return
	}
	s.plan.Selectors = append(s.plan.Selectors, SetSelector{Service: service, Hash: hash, From: current})
}

// SelectorEvent is the event that tells a carried-out selector switch, if it was one (a Service
// that only gains the managed-by annotation gets none).
func SelectorEvent(sel SetSelector) (Event, bool) {
	if sel.From == sel.Hash {
		return Event{}, false
	}
	return Event{Type: corev1.EventTypeNormal, Reason: "SwitchService",
		Message: fmt.Sprintf("Switched selector for Service %s from %q to %q", sel.Service, sel.From, sel.Hash)}, true
}

// selectorOf returns the hash a Service currently selects.
func (s *state) selectorOf(service string) string {
	if svc, ok := s.obs.Services[service]; ok {
		return svc.Spec.Selector[v1alpha1.PodTemplateHashLabelKey]
	}
	return ""
}

// metaNow is t as a status time.
func metaNow(t time.Time) metav1.Time { return metav1.NewTime(t) }

// uniq drops repeated messages, keeping the first order.
func uniq(msgs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range msgs {
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	return out
}

// antiAffinity keeps the new version's pods off the nodes that run the stable version's, when the
// strategy asks for it (so a bad node does not take both down).
func (s *state) antiAffinity(tmpl *corev1.PodTemplateSpec) {
	var aa *v1alpha1.AntiAffinity
	if c := s.ro.Spec.Strategy.Canary; c != nil {
		aa = c.AntiAffinity
	} else {
		aa = s.ro.Spec.Strategy.BlueGreen.AntiAffinity
	}
	stable := s.ro.Status.StableRS
	if aa == nil || stable == "" || stable == s.obs.PodHash {
		return
	}
	term := corev1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{v1alpha1.PodTemplateHashLabelKey: stable}},
		TopologyKey:   "kubernetes.io/hostname",
	}
	if tmpl.Spec.Affinity == nil {
		tmpl.Spec.Affinity = &corev1.Affinity{}
	}
	if tmpl.Spec.Affinity.PodAntiAffinity == nil {
		tmpl.Spec.Affinity.PodAntiAffinity = &corev1.PodAntiAffinity{}
	}
	pa := tmpl.Spec.Affinity.PodAntiAffinity
	if p := aa.PreferredDuringSchedulingIgnoredDuringExecution; p != nil {
		pa.PreferredDuringSchedulingIgnoredDuringExecution = append(pa.PreferredDuringSchedulingIgnoredDuringExecution,
			corev1.WeightedPodAffinityTerm{Weight: p.Weight, PodAffinityTerm: term})
	}
	if aa.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		pa.RequiredDuringSchedulingIgnoredDuringExecution = append(pa.RequiredDuringSchedulingIgnoredDuringExecution, term)
	}
}
