package istio

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/trafficrouting"
)

// This file holds the pure rewrites of a VirtualService's managed http routes: header and mirror
// routes named after trafficRouting.managedRoutes entries, placed before every other http route
// (Istio takes the first route that matches) in managedRoutes order.

// setVSHeaderRoute adds, updates or (without matches) removes the managed http route hr.Name. It
// is a copy of the first http route the rollout names (its rewrite, timeout, retries, headers
// and so on) whose matches also require hr's headers, and whose only destination is the canary.
func setVSHeaderRoute(vs *istionetworkingv1.VirtualService, ref v1alpha1.IstioVirtualService, t targets, managed []string, hr trafficrouting.HeaderRoute) (bool, error) {
	if err := checkManaged(managed, "setHeaderRoute", hr.Name); err != nil {
		return false, err
	}
	if len(hr.Match) == 0 {
		return placeRoute(vs, managed, hr.Name, nil), nil
	}
	headers := map[string]*networkingv1alpha3.StringMatch{}
	for _, m := range hr.Match {
		sm, err := stringMatch(m.HeaderValue)
		if err != nil {
			return false, configError("setHeaderRoute %q: header %q: %v", hr.Name, m.HeaderName, err)
		}
		headers[strings.ToLower(m.HeaderName)] = sm
	}
	base, canary, err := baseRoute(vs, ref, t, managed)
	if err != nil {
		return false, err
	}
	route := derivedRoute(base, hr.Name)
	route.Match = withHeaders(base.GetMatch(), headers)
	route.Route = []*networkingv1alpha3.HTTPRouteDestination{{
		Destination: proto.Clone(canary.GetDestination()).(*networkingv1alpha3.Destination),
		Headers:     cloneHeaders(canary.GetHeaders()),
		Weight:      100,
	}}
	return placeRoute(vs, managed, hr.Name, route), nil
}

// setVSMirrorRoute adds, updates or (without matches) removes the managed http route mr.Name: a
// copy of the first http route the rollout names, with mr's matches, that also mirrors
// mr.Percentage percent of the requests to the canary.
func setVSMirrorRoute(vs *istionetworkingv1.VirtualService, ref v1alpha1.IstioVirtualService, t targets, managed []string, mr trafficrouting.MirrorRoute) (bool, error) {
	if err := checkManaged(managed, "setMirrorRoute", mr.Name); err != nil {
		return false, err
	}
	if len(mr.Match) == 0 {
		return placeRoute(vs, managed, mr.Name, nil), nil
	}
	if p := mr.Percentage; p != nil && (*p < 0 || *p > 100) {
		return false, configError("setMirrorRoute %q: percentage %d is not between 0 and 100", mr.Name, *p)
	}
	matches, err := mirrorMatches(mr.Match)
	if err != nil {
		return false, configError("setMirrorRoute %q: %v", mr.Name, err)
	}
	base, canary, err := baseRoute(vs, ref, t, managed)
	if err != nil {
		return false, err
	}
	route := derivedRoute(base, mr.Name)
	route.Match = matches
	route.Mirror = proto.Clone(canary.GetDestination()).(*networkingv1alpha3.Destination)
	if mr.Percentage != nil {
		route.MirrorPercentage = &networkingv1alpha3.Percent{Value: float64(*mr.Percentage)}
	}
	return placeRoute(vs, managed, mr.Name, route), nil
}

// removeVSManagedRoutes removes every managed http route.
func removeVSManagedRoutes(vs *istionetworkingv1.VirtualService, managed []string) bool {
	routes := trafficrouting.RemoveManaged(vs.Spec.GetHttp(), managed, (*networkingv1alpha3.HTTPRoute).GetName)
	return replaceRoutes(vs, routes)
}

func placeRoute(vs *istionetworkingv1.VirtualService, managed []string, name string, route *networkingv1alpha3.HTTPRoute) bool {
	var item **networkingv1alpha3.HTTPRoute
	if route != nil {
		item = &route
	}
	routes := trafficrouting.ArrangeManaged(vs.Spec.GetHttp(), managed, (*networkingv1alpha3.HTTPRoute).GetName, name, item)
	return replaceRoutes(vs, routes)
}

func replaceRoutes(vs *istionetworkingv1.VirtualService, routes []*networkingv1alpha3.HTTPRoute) bool {
	if sameRoutes(routes, vs.Spec.GetHttp()) {
		return false
	}
	vs.Spec.Http = routes
	return true
}

// baseRoute is the http route managed routes are copied from, the first one the rollout names,
// and its first canary destination.
func baseRoute(vs *istionetworkingv1.VirtualService, ref v1alpha1.IstioVirtualService, t targets, managed []string) (*networkingv1alpha3.HTTPRoute, *networkingv1alpha3.HTTPRouteDestination, error) {
	t = t.forVS(vs)
	https, err := selectHTTP(vs, ref, managed)
	if err != nil {
		return nil, nil, err
	}
	if len(https) == 0 {
		return nil, nil, configError("VirtualService %s has no http route to add header and mirror routes to", key(vs))
	}
	base := https[0]
	i := slices.IndexFunc(base.GetRoute(), func(d *networkingv1alpha3.HTTPRouteDestination) bool { return t.isCanary(d.GetDestination()) })
	if i < 0 {
		return nil, nil, configError("http route %q of VirtualService %s has no destination for the %s", base.GetName(), key(vs), t.describe(true))
	}
	return base, base.Route[i], nil
}

// derivedRoute is a copy of base named name, without base's own mirrors.
func derivedRoute(base *networkingv1alpha3.HTTPRoute, name string) *networkingv1alpha3.HTTPRoute {
	r := proto.Clone(base).(*networkingv1alpha3.HTTPRoute)
	r.Name = name
	r.Mirror, r.Mirrors, r.MirrorPercentage = nil, nil, nil
	//lint:ignore SA1019 the base route may still carry the deprecated field; the copy must not
	r.MirrorPercent = nil
	return r
}

// withHeaders returns copies of matches that also require headers (a header a match already
// tests is replaced); no matches means one match on the headers alone.
func withHeaders(matches []*networkingv1alpha3.HTTPMatchRequest, headers map[string]*networkingv1alpha3.StringMatch) []*networkingv1alpha3.HTTPMatchRequest {
	if len(matches) == 0 {
		matches = []*networkingv1alpha3.HTTPMatchRequest{{}}
	}
	out := make([]*networkingv1alpha3.HTTPMatchRequest, 0, len(matches))
	for _, m := range matches {
		c := proto.Clone(m).(*networkingv1alpha3.HTTPMatchRequest)
		if c.Headers == nil {
			c.Headers = map[string]*networkingv1alpha3.StringMatch{}
		}
		for name, v := range headers {
			c.Headers[name] = proto.Clone(v).(*networkingv1alpha3.StringMatch)
		}
		out = append(out, c)
	}
	return out
}

// mirrorMatches converts a setMirrorRoute step's matches into Istio matches.
func mirrorMatches(ms []v1alpha1.RouteMatch) ([]*networkingv1alpha3.HTTPMatchRequest, error) {
	out := make([]*networkingv1alpha3.HTTPMatchRequest, 0, len(ms))
	for i, m := range ms {
		var hm networkingv1alpha3.HTTPMatchRequest
		var err error
		if m.Method != nil {
			if hm.Method, err = stringMatch(m.Method); err != nil {
				return nil, fmt.Errorf("match[%d].method: %w", i, err)
			}
		}
		if m.Path != nil {
			if hm.Uri, err = stringMatch(m.Path); err != nil {
				return nil, fmt.Errorf("match[%d].path: %w", i, err)
			}
		}
		for name, v := range m.Headers {
			if hm.Headers == nil {
				hm.Headers = map[string]*networkingv1alpha3.StringMatch{}
			}
			if hm.Headers[strings.ToLower(name)], err = stringMatch(&v); err != nil {
				return nil, fmt.Errorf("match[%d].headers[%s]: %w", i, name, err)
			}
		}
		out = append(out, &hm)
	}
	return out, nil
}

// stringMatch converts a StringMatch, which must set exactly one of exact, prefix and regex.
func stringMatch(m *v1alpha1.StringMatch) (*networkingv1alpha3.StringMatch, error) {
	if m == nil {
		return nil, errors.New("no value to match")
	}
	set := 0
	for _, v := range []string{m.Exact, m.Prefix, m.Regex} {
		if v != "" {
			set++
		}
	}
	switch {
	case set != 1:
		return nil, errors.New("exactly one of exact, prefix and regex must be set")
	case m.Exact != "":
		return &networkingv1alpha3.StringMatch{MatchType: &networkingv1alpha3.StringMatch_Exact{Exact: m.Exact}}, nil
	case m.Prefix != "":
		return &networkingv1alpha3.StringMatch{MatchType: &networkingv1alpha3.StringMatch_Prefix{Prefix: m.Prefix}}, nil
	}
	return &networkingv1alpha3.StringMatch{MatchType: &networkingv1alpha3.StringMatch_Regex{Regex: m.Regex}}, nil
}

func cloneHeaders(h *networkingv1alpha3.Headers) *networkingv1alpha3.Headers {
	if h == nil {
		return nil
	}
	return proto.Clone(h).(*networkingv1alpha3.Headers)
}

// checkManaged makes sure a header or mirror route is one the rollout lists as managed.
func checkManaged(managed []string, step, name string) error {
	if name == "" {
		return configError("%s has no name", step)
	}
	if !slices.Contains(managed, name) {
		return configError("%s %q is not listed in trafficRouting.managedRoutes", step, name)
	}
	return nil
}
