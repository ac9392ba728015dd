package gatewayapi

import (
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/sluice-dev/sluice/trafficrouting"
)

// This file holds the pure rewrites of an HTTPRoute. Each takes the route as read, changes it in
// place, and reports whether anything changed; none does I/O. Managed rules (header and mirror
// routes) are the rules whose name is listed in trafficRouting.managedRoutes.

// setHTTPWeights writes the canary and stable weights into every rule of the route whose backends
// include both Services, managed mirror rules included. Other rules and backends are untouched.
// A route with no such rule is a ConfigError.
func setHTTPWeights(route *gatewayv1.HTTPRoute, svc services, w trafficrouting.Weights) (bool, error) {
	changed, split := false, false
	for i := range route.Spec.Rules {
		refs := httpRefs(&route.Spec.Rules[i])
		if svc.splits(refs) {
			split = true
			changed = svc.setWeights(refs, w) || changed
		}
	}
	if !split {
		return false, configError("HTTPRoute %s %s", key(route), svc.missing(allHTTPRefs(route)))
	}
	return changed, nil
}

// httpWeightsHeld reports whether every rule that splits between the two Services carries the
// desired weights.
func httpWeightsHeld(route *gatewayv1.HTTPRoute, svc services, w trafficrouting.Weights) (bool, error) {
	held, split := true, false
	for i := range route.Spec.Rules {
		refs := httpRefs(&route.Spec.Rules[i])
		if svc.splits(refs) {
			split = true
			held = held && svc.holdsWeights(refs, w)
		}
	}
	if !split {
		return false, configError("HTTPRoute %s %s", key(route), svc.missing(allHTTPRefs(route)))
	}
	return held, nil
}

// setHTTPHeaderRule adds or updates the managed rule hr.Name: the matches of the route's first
// rule that splits between the Services, each also requiring hr's headers, with that rule's
// filters, timeouts and retry, and the canary Service as its only backend. Without matches it
// removes the rule.
func setHTTPHeaderRule(route *gatewayv1.HTTPRoute, svc services, managed []string, hr trafficrouting.HeaderRoute) (bool, error) {
	if err := checkManaged(managed, "setHeaderRoute", hr.Name); err != nil {
		return false, err
	}
	if len(hr.Match) == 0 {
		return placeHTTPRule(route, managed, hr.Name, nil), nil
	}
	headers, err := httpHeaderMatches(hr.Match)
	if err != nil {
		return false, configError("setHeaderRoute %q: %v", hr.Name, err)
	}
	base, err := baseHTTPRule(route, svc, managed)
	if err != nil {
		return false, err
	}
	canary := *firstCanaryHTTPBackend(base, svc).DeepCopy()
	canary.Weight = ptr.To[int32](1)
	rule := gatewayv1.HTTPRouteRule{
		Name:        ptr.To(gatewayv1.SectionName(hr.Name)),
		Matches:     withHTTPHeaders(base.Matches, headers),
		Filters:     copyHTTPFilters(base.Filters),
		BackendRefs: []gatewayv1.HTTPBackendRef{canary},
		Timeouts:    base.Timeouts.DeepCopy(),
		Retry:       base.Retry.DeepCopy(),
	}
	return placeHTTPRule(route, managed, hr.Name, &rule), nil
}

// setHTTPMirrorRule adds or updates the managed rule mr.Name: mr's matches, the filters, backends,
// timeouts and retry of the route's first rule that splits between the Services, and a
// RequestMirror filter that copies mr.Percentage percent of the requests to the canary Service.
// Without matches it removes the rule.
func setHTTPMirrorRule(route *gatewayv1.HTTPRoute, svc services, managed []string, mr trafficrouting.MirrorRoute) (bool, error) {
	if err := checkManaged(managed, "setMirrorRoute", mr.Name); err != nil {
		return false, err
	}
	if len(mr.Match) == 0 {
		return placeHTTPRule(route, managed, mr.Name, nil), nil
	}
	matches, err := httpMirrorMatches(mr.Match)
	if err != nil {
		return false, configError("setMirrorRoute %q: %v", mr.Name, err)
	}
	if err := checkPercentage(mr); err != nil {
		return false, err
	}
	base, err := baseHTTPRule(route, svc, managed)
	if err != nil {
		return false, err
	}
	mirror := gatewayv1.HTTPRouteFilter{
		Type: gatewayv1.HTTPRouteFilterRequestMirror,
		RequestMirror: &gatewayv1.HTTPRequestMirrorFilter{
			BackendRef: svc.canaryReference(svc.canaryPort(httpRefs(base))),
			Percent:    copyPtr(mr.Percentage),
		},
	}
	rule := gatewayv1.HTTPRouteRule{
		Name:        ptr.To(gatewayv1.SectionName(mr.Name)),
		Matches:     matches,
		Filters:     append(copyHTTPFilters(base.Filters), mirror),
		BackendRefs: copyHTTPBackends(base.BackendRefs),
		Timeouts:    base.Timeouts.DeepCopy(),
		Retry:       base.Retry.DeepCopy(),
	}
	return placeHTTPRule(route, managed, mr.Name, &rule), nil
}

// removeHTTPManagedRules removes every managed rule.
func removeHTTPManagedRules(route *gatewayv1.HTTPRoute, managed []string) bool {
	rules := trafficrouting.RemoveManaged(route.Spec.Rules, managed, httpRuleName)
	return replaceHTTPRules(route, rules)
}

// placeHTTPRule puts rule (nil: nothing) in the place of the managed rule called name.
func placeHTTPRule(route *gatewayv1.HTTPRoute, managed []string, name string, rule *gatewayv1.HTTPRouteRule) bool {
	rules := trafficrouting.ArrangeManaged(route.Spec.Rules, managed, httpRuleName, name, rule)
	return replaceHTTPRules(route, rules)
}

func replaceHTTPRules(route *gatewayv1.HTTPRoute, rules []gatewayv1.HTTPRouteRule) bool {
	if equality.Semantic.DeepEqual(rules, route.Spec.Rules) {
		return false
	}
	route.Spec.Rules = rules
	return true
}

// baseHTTPRule is the rule managed rules are derived from: the first rule, not itself managed,
// whose backends include both Services.
func baseHTTPRule(route *gatewayv1.HTTPRoute, svc services, managed []string) (*gatewayv1.HTTPRouteRule, error) {
	for i := range route.Spec.Rules {
		r := &route.Spec.Rules[i]
		if !slices.Contains(managed, httpRuleName(*r)) && svc.splits(httpRefs(r)) {
			return r, nil
		}
	}
	return nil, configError("HTTPRoute %s %s", key(route), svc.missing(allHTTPRefs(route)))
}

func firstCanaryHTTPBackend(rule *gatewayv1.HTTPRouteRule, svc services) *gatewayv1.HTTPBackendRef {
	for i := range rule.BackendRefs {
		if svc.refersTo(rule.BackendRefs[i].BackendObjectReference, svc.canary) {
			return &rule.BackendRefs[i]
		}
	}
	return nil // not reached: callers pass a rule that splits
}

func httpRuleName(r gatewayv1.HTTPRouteRule) string {
	if r.Name == nil {
		return ""
	}
	return string(*r.Name)
}

func httpRefs(rule *gatewayv1.HTTPRouteRule) []*gatewayv1.BackendRef {
	refs := make([]*gatewayv1.BackendRef, 0, len(rule.BackendRefs))
	for i := range rule.BackendRefs {
		refs = append(refs, &rule.BackendRefs[i].BackendRef)
	}
	return refs
}

func allHTTPRefs(route *gatewayv1.HTTPRoute) []*gatewayv1.BackendRef {
	var refs []*gatewayv1.BackendRef
	for i := range route.Spec.Rules {
		refs = append(refs, httpRefs(&route.Spec.Rules[i])...)
	}
	return refs
}

func copyHTTPFilters(in []gatewayv1.HTTPRouteFilter) []gatewayv1.HTTPRouteFilter {
	if in == nil {
		return nil
	}
	out := make([]gatewayv1.HTTPRouteFilter, len(in))
	for i := range in {
		in[i].DeepCopyInto(&out[i])
	}
	return out
}

func copyHTTPBackends(in []gatewayv1.HTTPBackendRef) []gatewayv1.HTTPBackendRef {
	out := make([]gatewayv1.HTTPBackendRef, len(in))
	for i := range in {
		in[i].DeepCopyInto(&out[i])
	}
	return out
}

// checkManaged makes sure a header or mirror route is one the rollout lists as managed: only those
// are recognised, ordered and removed again.
func checkManaged(managed []string, step, name string) error {
	if name == "" {
		return configError("%s has no name", step)
	}
	if !slices.Contains(managed, name) {
		return configError("%s %q is not listed in trafficRouting.managedRoutes", step, name)
	}
	return nil
}

func checkPercentage(mr trafficrouting.MirrorRoute) error {
	if p := mr.Percentage; p != nil && (*p < 0 || *p > 100) {
		return configError("setMirrorRoute %q: percentage %d is not between 0 and 100", mr.Name, *p)
	}
	return nil
}

func copyPtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func configError(format string, args ...any) error {
	return &trafficrouting.ConfigError{Router: RouterName, Msg: fmt.Sprintf(format, args...)}
}

type namespacedObject interface {
	GetNamespace() string
	GetName() string
}

func key(o namespacedObject) string { return o.GetNamespace() + "/" + o.GetName() }
