package gatewayapi

import (
	"fmt"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/sluice-dev/sluice/trafficrouting"
)

// services names the two Services a rollout splits traffic between. They live in the rollout's
// namespace, which may differ from the routes' (trafficRouting.plugins...namespace); a route then
// references them with a backendRef namespace (and a ReferenceGrant).
type services struct {
	namespace      string // of the Services
	routeNamespace string // of the routes
	canary         string
	stable         string
}

// refersTo reports whether a backend reference points at the Service called name (an empty group
// and kind mean a core Service, an empty namespace the route's own).
func (s services) refersTo(ref gatewayv1.BackendObjectReference, name string) bool {
	if string(ref.Name) != name {
		return false
	}
	if ref.Group != nil && *ref.Group != "" {
		return false
	}
	if ref.Kind != nil && *ref.Kind != "Service" {
		return false
	}
	ns := s.routeNamespace
	if ref.Namespace != nil {
		ns = string(*ref.Namespace)
	}
	return ns == s.namespace
}

// splits reports whether a rule's backends reference both the canary and the stable Service: such
// a rule is one whose weights the router owns.
func (s services) splits(refs []*gatewayv1.BackendRef) bool {
	var canary, stable bool
	for _, ref := range refs {
		canary = canary || s.refersTo(ref.BackendObjectReference, s.canary)
		stable = stable || s.refersTo(ref.BackendObjectReference, s.stable)
	}
	return canary && stable
}

// weightOf is a backend's weight as the data plane sees it: unset means 1.
func weightOf(ref *gatewayv1.BackendRef) int32 {
	if ref.Weight == nil {
		return 1
	}
	return *ref.Weight
}

// setWeights writes the desired weights into the canary and stable backends of one rule's
// backends and leaves every other backend alone. It reports whether anything changed.
func (s services) setWeights(refs []*gatewayv1.BackendRef, w trafficrouting.Weights) bool {
	changed := false
	for _, ref := range refs {
		want, ok := s.weightFor(ref, w)
		if !ok || (ref.Weight != nil && *ref.Weight == want) {
			continue
		}
		ref.Weight = &want
		changed = true
	}
	return changed
}

// holdsWeights reports whether the canary and stable backends of one rule carry the desired
// weights.
func (s services) holdsWeights(refs []*gatewayv1.BackendRef, w trafficrouting.Weights) bool {
	for _, ref := range refs {
		if want, ok := s.weightFor(ref, w); ok && weightOf(ref) != want {
			return false
		}
	}
	return true
}

func (s services) weightFor(ref *gatewayv1.BackendRef, w trafficrouting.Weights) (int32, bool) {
	switch {
	case s.refersTo(ref.BackendObjectReference, s.canary):
		return w.Canary.Weight, true
	case s.refersTo(ref.BackendObjectReference, s.stable):
		return w.Stable.Weight, true
	}
	return 0, false
}

// missing names the Service(s) a route lacks when none of its rules splits between canary and
// stable: both when it references neither, or the one it does not reference.
func (s services) missing(all []*gatewayv1.BackendRef) string {
	var canary, stable bool
	for _, ref := range all {
		canary = canary || s.refersTo(ref.BackendObjectReference, s.canary)
		stable = stable || s.refersTo(ref.BackendObjectReference, s.stable)
	}
	switch {
	case !canary && !stable:
		return fmt.Sprintf("references neither the canary Service %q nor the stable Service %q", s.canary, s.stable)
	case !canary:
		return fmt.Sprintf("does not reference the canary Service %q", s.canary)
	case !stable:
		return fmt.Sprintf("does not reference the stable Service %q", s.stable)
	}
	return fmt.Sprintf("has no rule whose backends include both the canary Service %q and the stable Service %q", s.canary, s.stable)
}

// canaryPort is the port of the first canary backend among refs, for references the router
// creates (a Service backend must name a port).
func (s services) canaryPort(refs []*gatewayv1.BackendRef) *gatewayv1.PortNumber {
	for _, ref := range refs {
		if s.refersTo(ref.BackendObjectReference, s.canary) && ref.Port != nil {
			p := *ref.Port
			return &p
		}
	}
	return nil
}

// canaryReference is a reference to the canary Service with the defaults the API server would
// fill in written out, so that a rule built from it compares equal to the stored one.
func (s services) canaryReference(port *gatewayv1.PortNumber) gatewayv1.BackendObjectReference {
	group := gatewayv1.Group("")
	kind := gatewayv1.Kind("Service")
	ref := gatewayv1.BackendObjectReference{Group: &group, Kind: &kind, Name: gatewayv1.ObjectName(s.canary), Port: port}
	if s.namespace != s.routeNamespace {
		ns := gatewayv1.Namespace(s.namespace)
		ref.Namespace = &ns
	}
	return ref
}

// accepted reports whether every parent in a route's status has accepted the route's current
// generation. A route that no parent has reported on yet is not accepted.
func accepted(parents []gatewayv1.RouteParentStatus, generation int64) bool {
	if len(parents) == 0 {
		return false
	}
	for _, p := range parents {
		c := apimeta.FindStatusCondition(p.Conditions, string(gatewayv1.RouteConditionAccepted))
		if c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != generation {
			return false
		}
	}
	return true
}
