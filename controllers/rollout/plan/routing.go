package plan

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/trafficrouting"
)

// With trafficRouting the canary's share of requests is set in the routes, not by pod counts:
// the canary ReplicaSet is sized for its weight, the stable one keeps every replica (unless
// dynamicStableScale), a weight moves only once the canary pods for it are available, and a step
// is done only when the routing system shows the weight is in effect.

func (s *state) routed() bool {
	c := s.ro.Spec.Strategy.Canary
	return c != nil && c.TrafficRouting != nil
}

func (s *state) maxWeight() int32 {
	return s.ro.Spec.Strategy.Canary.TrafficRouting.GetMaxTrafficWeight()
}

// askedWeight is the canary weight in status: what the routes were last asked to carry, not
// necessarily what they carry (weightVerified).
func (s *state) askedWeight() int32 {
	if w := s.status.Canary.Weights; w != nil {
		return w.Canary.Weight
	}
	return 0
}

// routedTargets sizes the ReplicaSets under traffic routing for canary weight w.
func (s *state) routedTargets(w int32, scale *v1alpha1.SetCanaryScale) (canary, stable int32) {
	c := s.ro.Spec.Strategy.Canary
	max := s.maxWeight()
	pct := func(weight int32) int32 {
		return int32((int64(s.replicas)*int64(weight) + int64(max) - 1) / int64(max))
	}
	canary = pct(w)
	if scale != nil {
		switch {
		case scale.Replicas != nil:
			canary = *scale.Replicas
		case scale.Weight != nil:
			canary = ceilPercent(s.replicas, *scale.Weight)
		}
	}
	stable = s.replicas
	if c.DynamicStableScale {
		// The stable side shrinks only as far as traffic is seen to have left it: while the
		// routes do not show the asked weight, it keeps the pods it has (its size was last
		// cut at a verified weight) and may only grow.
		stable = pct(max - s.askedWeight())
		if !s.weightVerified() && s.stableRS != nil {
			stable = maxInt32(stable, specReplicas(s.stableRS))
		}
		if stable == 0 && s.stableRS != nil && s.stableRS != s.newRS && specReplicas(s.stableRS) > 0 {
			// With every request on the canary the stable Service still selects the stable
			// pods until the promotion moves it: one stays, and drains after the promotion
			// (scaleDownDelaySeconds) like the rest of an old stable.
			stable = 1
		}
	}
	if minPods := ptr.Deref(c.MinPodsPerReplicaSet, 0); minPods > 0 && s.replicas >= minPods {
		if canary > 0 {
			canary = maxInt32(canary, minPods)
		}
		stable = maxInt32(stable, minPods)
	}
	return canary, stable
}

// sizeRouted sets the desired replicas for a routed canary (no rolling budget: new pods take no
// traffic until the weight moves).
func (s *state) sizeRouted(w int32, scale *v1alpha1.SetCanaryScale) {
	canaryTarget, stableTarget := s.routedTargets(w, scale)
	targets := map[*appsv1.ReplicaSet]int32{s.newRS: canaryTarget}
	if s.stableRS != s.newRS {
		targets[s.stableRS] = stableTarget
	} else {
		targets[s.newRS] = s.replicas
	}
	for rs, n := range targets {
		s.desired[rs] = n
	}
	s.canaryTargets = targets
}

// weightVerified reports whether the routes are seen to carry the asked weight.
func (s *state) weightVerified() bool {
	return s.status.Canary.Weights != nil && s.obs.WeightVerified && s.obs.RoutingError == ""
}

// weightDone moves the canary weight to w once the canary pods for it are available, and reports
// whether the routes show it in effect.
func (s *state) weightDone(w int32) bool {
	if !s.atCanaryTargets() {
		return false
	}
	s.weight = w
	return s.askedWeight() == w && s.weightVerified()
}

// routing fills the plan's routing intent and status.canary.weights.
func (s *state) routing() {
	if !s.routed() {
		return
	}
	c := s.ro.Spec.Strategy.Canary
	max := s.maxWeight()
	canaryHash := podHash(s.stableRS)
	if s.newRS != s.stableRS && !s.status.Abort {
		canaryHash = podHash(s.newRS)
	}
	intent := &RoutingIntent{
		Weights: trafficrouting.Weights{
			Canary: trafficrouting.WeightDestination{ServiceName: c.CanaryService, PodTemplateHash: canaryHash, Weight: s.weight},
			Stable: trafficrouting.WeightDestination{ServiceName: c.StableService, PodTemplateHash: podHash(s.stableRS), Weight: max - s.weight},
		},
		HeaderRoutes: map[string][]v1alpha1.HeaderRoutingMatch{},
		MirrorRoutes: map[string]*v1alpha1.SetMirrorRoute{},
	}
	if s.newRS != s.stableRS && !s.status.Abort {
		s.managedRoutes(intent)
	}
	if c.TrafficRouting.Istio != nil && c.TrafficRouting.Istio.DestinationRule != nil {
		subsetCanary := podHash(s.stableRS)
		// The canary subset moves to the canary once it is fully available, and stays while the
		// canary still carries weight and has pods (a weight is only set after the move): a
		// scale-up at the next step must not send the canary's share back to the stable pods.
		carrying := s.status.Canary.Weights != nil && s.status.Canary.Weights.Canary.PodTemplateHash == canaryHash &&
			s.askedWeight() > 0 && availableReplicas(s.newRS) > 0
		if canaryHash != subsetCanary && !s.creating && (fullyAvailable(s.newRS) || carrying) {
			subsetCanary = canaryHash
		}
		intent.Subsets = &[2]string{subsetCanary, podHash(s.stableRS)}
	}
	intent.FromWeight = s.askedWeight()
	s.plan.Routing = intent

	want := &v1alpha1.TrafficWeights{
		Canary: v1alpha1.WeightDestination{Weight: s.weight, ServiceName: c.CanaryService, PodTemplateHash: canaryHash},
		Stable: v1alpha1.WeightDestination{Weight: max - s.weight, ServiceName: c.StableService, PodTemplateHash: podHash(s.stableRS)},
	}
	prev := s.status.Canary.Weights
	same := prev != nil && prev.Canary == want.Canary && prev.Stable == want.Stable
	want.Verified = ptr.To(same && s.obs.WeightVerified)
	s.status.Canary.Weights = want
}

// WeightEvent is the event, in Argo Rollouts' words, that tells a carried-out change of the
// canary weight, if the routing intent was one.
func WeightEvent(intent *RoutingIntent) (Event, bool) {
	if intent == nil || intent.Weights.Canary.Weight == intent.FromWeight {
		return Event{}, false
	}
	return Event{Type: corev1.EventTypeNormal, Reason: "TrafficWeightUpdated",
		Message: fmt.Sprintf("Traffic weight updated from %d to %d", intent.FromWeight, intent.Weights.Canary.Weight)}, true
}

// managedRoutes lists the header and mirror routes the steps up to the current one leave in
// place: a later step with the same name and no match removes one.
func (s *state) managedRoutes(intent *RoutingIntent) {
	steps := s.ro.Spec.Strategy.Canary.Steps
	end := min(int(s.stepIndex()), len(steps)-1)
	for i := 0; i <= end && i < len(steps); i++ {
		if h := steps[i].SetHeaderRoute; h != nil {
			if len(h.Match) > 0 {
				intent.HeaderRoutes[h.Name] = h.Match
			} else {
				delete(intent.HeaderRoutes, h.Name)
			}
		}
		if m := steps[i].SetMirrorRoute; m != nil {
			if len(m.Match) > 0 {
				intent.MirrorRoutes[m.Name] = m
			} else {
				delete(intent.MirrorRoutes, m.Name)
			}
		}
	}
}

// promoteRouted makes the canary stable under traffic routing: the stable Service takes the new
// pods and the canary weight returns to 0, and the old ReplicaSet keeps its pods for
// scaleDownDelaySeconds so connections drain.
func (s *state) promoteRouted() {
	old := s.stableRS
	s.promoteCanary()
	s.weight = 0
	if old == nil || old == s.newRS {
		return
	}
	delay := time.Duration(s.ro.Spec.Strategy.Canary.GetScaleDownDelaySeconds()) * time.Second
	s.desired[old] = specReplicas(old)
	if delay <= 0 {
		s.desired[old] = 0
		return
	}
	s.setAnnotation(old, v1alpha1.ScaleDownDeadlineAnnotationKey, s.now.Add(delay).UTC().Format(time.RFC3339))
	s.requeue(delay)
}

// abortRouted sends every request back to stable at once and scales the canary down after
// abortScaleDownDelaySeconds (0 keeps it).
func (s *state) abortRouted() {
	s.weight = 0
	if s.ro.Spec.Strategy.Canary.DynamicStableScale && s.replicas > 0 {
		// The stable side was shrunk with its traffic: it takes traffic back as its pods return.
		max := s.maxWeight()
		stableShare := int32(int64(max) * int64(min(availableReplicas(s.stableRS), s.replicas)) / int64(s.replicas))
		s.weight = min(s.askedWeight(), max-stableShare)
		if s.weight > 0 {
			s.desired[s.stableRS] = s.replicas
			return // the canary keeps its pods while it still takes traffic
		}
	}
	s.desired[s.stableRS] = s.replicas
	for _, rs := range s.others {
		s.desired[rs] = 0
	}
	s.scaleDownAfterAbort(s.ro.Spec.Strategy.Canary.GetAbortScaleDownDelaySeconds())
}
