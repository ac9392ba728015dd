package gatewayapi

import (
	"slices"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/sluice-dev/sluice/trafficrouting"
)

// This file holds the pure rewrites of a GRPCRoute, rule for rule the same as those of an
// HTTPRoute (httproute.go). A GRPCRoute rule has no timeouts or retry to copy, and mirrors by
// headers only.

// setGRPCWeights writes the canary and stable weights into every rule whose backends include both
// Services. A route with no such rule is a ConfigError.
func setGRPCWeights(route *gatewayv1.GRPCRoute, svc services, w trafficrouting.Weights) (bool, error) {
	changed, split := false, false
	for i := range route.Spec.Rules {
		refs := grpcRefs(&route.Spec.Rules[i])
		if svc.splits(refs) {
			split = true
			changed = svc.setWeights(refs, w) || changed
		}
	}
	if !split {
		return false, configError("GRPCRoute %s %s", key(route), svc.missing(allGRPCRefs(route)))
	}
	return changed, nil
}

// grpcWeightsHeld reports whether every rule that splits between the Services carries the
// desired weights.
func grpcWeightsHeld(route *gatewayv1.GRPCRoute, svc services, w trafficrouting.Weights) (bool, error) {
	held, split := true, false
	for i := range route.Spec.Rules {
		refs := grpcRefs(&route.Spec.Rules[i])
		if svc.splits(refs) {
			split = true
			held = held && svc.holdsWeights(refs, w)
		}
	}
	if !split {
		return false, configError("GRPCRoute %s %s", key(route), svc.missing(allGRPCRefs(route)))
	}
	return held, nil
}

// setGRPCHeaderRule adds, updates or (without matches) removes the managed header rule hr.Name,
// built as for an HTTPRoute from the first rule that splits between the Services.
func setGRPCHeaderRule(route *gatewayv1.GRPCRoute, svc services, managed []string, hr trafficrouting.HeaderRoute) (bool, error) {
	if err := checkManaged(managed, "setHeaderRoute", hr.Name); err != nil {
		return false, err
	}
	if len(hr.Match) == 0 {
		return placeGRPCRule(route, managed, hr.Name, nil), nil
	}
	headers, err := grpcHeaderMatches(hr.Match)
	if err != nil {
		return false, configError("setHeaderRoute %q: %v", hr.Name, err)
	}
	base, err := baseGRPCRule(route, svc, managed)
	if err != nil {
		return false, err
	}
	canary := *firstCanaryGRPCBackend(base, svc).DeepCopy()
	canary.Weight = ptr.To[int32](1)
	rule := gatewayv1.GRPCRouteRule{
		Name:        ptr.To(gatewayv1.SectionName(hr.Name)),
		Matches:     withGRPCHeaders(base.Matches, headers),
		Filters:     copyGRPCFilters(base.Filters),
		BackendRefs: []gatewayv1.GRPCBackendRef{canary},
	}
	return placeGRPCRule(route, managed, hr.Name, &rule), nil
}

// setGRPCMirrorRule adds, updates or (without matches) removes the managed mirror rule mr.Name.
func setGRPCMirrorRule(route *gatewayv1.GRPCRoute, svc services, managed []string, mr trafficrouting.MirrorRoute) (bool, error) {
	if err := checkManaged(managed, "setMirrorRoute", mr.Name); err != nil {
		return false, err
	}
	if len(mr.Match) == 0 {
		return placeGRPCRule(route, managed, mr.Name, nil), nil
	}
	matches, err := grpcMirrorMatches(mr.Match)
	if err != nil {
		return false, configError("setMirrorRoute %q on GRPCRoute %s: %v", mr.Name, key(route), err)
	}
	if err := checkPercentage(mr); err != nil {
		return false, err
	}
	base, err := baseGRPCRule(route, svc, managed)
	if err != nil {
		return false, err
	}
	mirror := gatewayv1.GRPCRouteFilter{
		Type: gatewayv1.GRPCRouteFilterRequestMirror,
		RequestMirror: &gatewayv1.HTTPRequestMirrorFilter{
			BackendRef: svc.canaryReference(svc.canaryPort(grpcRefs(base))),
			Percent:    copyPtr(mr.Percentage),
		},
	}
	rule := gatewayv1.GRPCRouteRule{
		Name:        ptr.To(gatewayv1.SectionName(mr.Name)),
		Matches:     matches,
		Filters:     append(copyGRPCFilters(base.Filters), mirror),
		BackendRefs: copyGRPCBackends(base.BackendRefs),
	}
	return placeGRPCRule(route, managed, mr.Name, &rule), nil
}

// removeGRPCManagedRules removes every managed rule.
func removeGRPCManagedRules(route *gatewayv1.GRPCRoute, managed []string) bool {
	return replaceGRPCRules(route, trafficrouting.RemoveManaged(route.Spec.Rules, managed, grpcRuleName))
}

func placeGRPCRule(route *gatewayv1.GRPCRoute, managed []string, name string, rule *gatewayv1.GRPCRouteRule) bool {
	return replaceGRPCRules(route, trafficrouting.ArrangeManaged(route.Spec.Rules, managed, grpcRuleName, name, rule))
}

func replaceGRPCRules(route *gatewayv1.GRPCRoute, rules []gatewayv1.GRPCRouteRule) bool {
	if equality.Semantic.DeepEqual(rules, route.Spec.Rules) {
		return false
	}
	route.Spec.Rules = rules
	return true
}

func baseGRPCRule(route *gatewayv1.GRPCRoute, svc services, managed []string) (*gatewayv1.GRPCRouteRule, error) {
	for i := range route.Spec.Rules {
		r := &route.Spec.Rules[i]
		if !slices.Contains(managed, grpcRuleName(*r)) && svc.splits(grpcRefs(r)) {
			return r, nil
		}
	}
	return nil, configError("GRPCRoute %s %s", key(route), svc.missing(allGRPCRefs(route)))
}

func firstCanaryGRPCBackend(rule *gatewayv1.GRPCRouteRule, svc services) *gatewayv1.GRPCBackendRef {
	for i := range rule.BackendRefs {
		if svc.refersTo(rule.BackendRefs[i].BackendObjectReference, svc.canary) {
			return &rule.BackendRefs[i]
		}
	}
	return nil // not reached: callers pass a rule that splits
}

func grpcRuleName(r gatewayv1.GRPCRouteRule) string {
	if r.Name == nil {
		return ""
	}
	return string(*r.Name)
}

func grpcRefs(rule *gatewayv1.GRPCRouteRule) []*gatewayv1.BackendRef {
	refs := make([]*gatewayv1.BackendRef, 0, len(rule.BackendRefs))
	for i := range rule.BackendRefs {
		refs = append(refs, &rule.BackendRefs[i].BackendRef)
	}
	return refs
}

func allGRPCRefs(route *gatewayv1.GRPCRoute) []*gatewayv1.BackendRef {
	var refs []*gatewayv1.BackendRef
	for i := range route.Spec.Rules {
		refs = append(refs, grpcRefs(&route.Spec.Rules[i])...)
	}
	return refs
}

func copyGRPCFilters(in []gatewayv1.GRPCRouteFilter) []gatewayv1.GRPCRouteFilter {
	if in == nil {
		return nil
	}
	out := make([]gatewayv1.GRPCRouteFilter, len(in))
	for i := range in {
		in[i].DeepCopyInto(&out[i])
	}
	return out
}

func copyGRPCBackends(in []gatewayv1.GRPCBackendRef) []gatewayv1.GRPCBackendRef {
	out := make([]gatewayv1.GRPCBackendRef, len(in))
	for i := range in {
		in[i].DeepCopyInto(&out[i])
	}
	return out
}
