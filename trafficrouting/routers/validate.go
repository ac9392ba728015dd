package routers

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/trafficrouting"
)

// ruleName is the pattern of a Gateway API rule name (SectionName): a managed route's name
// becomes one.
var ruleName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// Validate checks a rollout's trafficRouting block, and the steps that depend on it, without
// reading anything from the cluster. It returns nil for a valid block (or none), or a
// ConfigError whose message lists every problem, separated by "; ", each naming its field:
// "trafficRouting.nginx is not supported". The rollout controller puts that message in the
// InvalidSpec condition.
func Validate(ro *v1alpha1.Rollout) error {
	canary := ro.Spec.Strategy.Canary
	if canary == nil {
		return nil
	}
	var problems []string
	if tr := canary.TrafficRouting; tr != nil {
		unsupported := tr.Unsupported()
		problems = append(problems, unsupported...)
		problems = append(problems, validateBlock(canary, tr, len(unsupported) > 0)...)
	}
	problems = append(problems, validateSteps(canary)...)
	if len(problems) == 0 {
		return nil
	}
	return &trafficrouting.ConfigError{Msg: strings.Join(problems, "; ")}
}

// validateBlock checks the supported routers, the Services and the managed routes; unsupported
// says whether the block also names a router sluice does not serve.
func validateBlock(canary *v1alpha1.CanaryStrategy, tr *v1alpha1.RolloutTrafficRouting, unsupported bool) []string {
	var out []string
	gw, err := tr.GatewayAPI()
	if err != nil {
		out = append(out, err.Error())
	}
	if tr.Istio == nil && gw == nil && err == nil && !unsupported {
		out = append(out, fmt.Sprintf("trafficRouting names no router: use istio or plugins.%q", v1alpha1.GatewayAPIPluginName))
	}
	subsetOnly := tr.Istio != nil && tr.Istio.DestinationRule != nil && gw == nil
	switch {
	case subsetOnly && canary.CanaryService == "" && canary.StableService == "":
		// Subset-level Istio routing tells canary from stable by subset, not by Service.
	case canary.CanaryService == "" || canary.StableService == "":
		out = append(out, "trafficRouting needs both canaryService and stableService")
	case canary.CanaryService == canary.StableService:
		out = append(out, "canaryService and stableService must be different Services")
	}
	if tr.Istio != nil && gw != nil {
		out = append(out, fmt.Sprintf("both an Istio and a Gateway API block point at the canary Service %q and the stable Service %q: use one of trafficRouting.istio and trafficRouting.plugins.%q",
			canary.CanaryService, canary.StableService, v1alpha1.GatewayAPIPluginName))
	}
	if tr.MaxTrafficWeight != nil && *tr.MaxTrafficWeight <= 0 {
		out = append(out, fmt.Sprintf("trafficRouting.maxTrafficWeight %d must be positive", *tr.MaxTrafficWeight))
	}
	if tr.Istio != nil {
		out = append(out, validateIstio(tr.Istio)...)
	}
	if gw != nil {
		out = append(out, validateGatewayAPI(gw)...)
	}
	return append(out, validateManaged(tr.ManagedRoutes, gw != nil)...)
}

func validateIstio(is *v1alpha1.IstioTrafficRouting) []string {
	var out []string
	switch {
	case is.VirtualService == nil && len(is.VirtualServices) == 0:
		out = append(out, "trafficRouting.istio names no virtualService or virtualServices")
	case is.VirtualService != nil && len(is.VirtualServices) > 0:
		out = append(out, "trafficRouting.istio sets both virtualService and virtualServices: use one")
	}
	for i, vs := range virtualServices(is) {
		if vs.Name == "" {
			out = append(out, fmt.Sprintf("trafficRouting.istio virtual service %d has no name", i))
		}
	}
	if dr := is.DestinationRule; dr != nil {
		switch {
		case dr.Name == "" || dr.CanarySubsetName == "" || dr.StableSubsetName == "":
			out = append(out, "trafficRouting.istio.destinationRule needs name, canarySubsetName and stableSubsetName")
		case dr.CanarySubsetName == dr.StableSubsetName:
			out = append(out, "trafficRouting.istio.destinationRule canarySubsetName and stableSubsetName must differ")
		}
	}
	return out
}

func validateGatewayAPI(gw *v1alpha1.GatewayAPIConfig) []string {
	field := fmt.Sprintf("trafficRouting.plugins.%q", v1alpha1.GatewayAPIPluginName)
	if gw.HTTPRoute == "" && len(gw.HTTPRoutes) == 0 && gw.GRPCRoute == "" && len(gw.GRPCRoutes) == 0 {
		return []string{field + " names no httpRoute, httpRoutes, grpcRoute or grpcRoutes"}
	}
	var out []string
	for i, r := range gw.HTTPRoutes {
		if r.Name == "" {
			out = append(out, fmt.Sprintf("%s.httpRoutes[%d] has no name", field, i))
		}
	}
	for i, r := range gw.GRPCRoutes {
		if r.Name == "" {
			out = append(out, fmt.Sprintf("%s.grpcRoutes[%d] has no name", field, i))
		}
	}
	return out
}

// validateManaged checks managed route names: unique, and valid Gateway API rule names when the
// Gateway API router will name rules after them.
func validateManaged(managed []v1alpha1.ManagedRoute, gatewayAPI bool) []string {
	var out []string
	seen := map[string]bool{}
	for i, m := range managed {
		field := fmt.Sprintf("trafficRouting.managedRoutes[%d].name", i)
		switch {
		case m.Name == "":
			out = append(out, field+" is empty")
		case seen[m.Name]:
			out = append(out, fmt.Sprintf("%s %q is listed twice", field, m.Name))
		case gatewayAPI && (len(m.Name) > 253 || !ruleName.MatchString(m.Name)):
			out = append(out, fmt.Sprintf("%s %q is not a valid Gateway API rule name (lowercase letters, digits, '-' and '.')", field, m.Name))
		}
		seen[m.Name] = true
	}
	return out
}

// validateSteps checks the setHeaderRoute and setMirrorRoute steps against the trafficRouting
// block: a router to carry them, a managed route of their name, and well-formed matches.
func validateSteps(canary *v1alpha1.CanaryStrategy) []string {
	var out []string
	tr := canary.TrafficRouting
	for i, s := range canary.Steps {
		var step, name string
		var matches []*v1alpha1.StringMatch
		switch {
		case s.SetHeaderRoute != nil:
			step, name = "setHeaderRoute", s.SetHeaderRoute.Name
			for _, m := range s.SetHeaderRoute.Match {
				matches = append(matches, m.HeaderValue)
			}
		case s.SetMirrorRoute != nil:
			step, name = "setMirrorRoute", s.SetMirrorRoute.Name
			matches = mirrorStringMatches(s.SetMirrorRoute.Match)
			if p := s.SetMirrorRoute.Percentage; p != nil && (*p < 0 || *p > 100) {
				out = append(out, fmt.Sprintf("steps[%d].setMirrorRoute.percentage %d is not between 0 and 100", i, *p))
			}
		default:
			continue
		}
		field := fmt.Sprintf("steps[%d].%s", i, step)
		switch {
		case tr == nil:
			out = append(out, field+" needs trafficRouting")
			continue
		case !slices.ContainsFunc(tr.ManagedRoutes, func(m v1alpha1.ManagedRoute) bool { return m.Name == name }):
			out = append(out, fmt.Sprintf("%s.name %q is not listed in trafficRouting.managedRoutes", field, name))
		}
		if !allExactlyOne(matches) {
			out = append(out, field+".match: each value needs exactly one of exact, prefix and regex")
		}
		if gw, _ := tr.GatewayAPI(); gw != nil && !anyHeaderRoutes(gw) {
			out = append(out, fmt.Sprintf("%s needs a Gateway API route with useHeaderRoutes: true (or the httpRoute/grpcRoute form)", field))
		}
	}
	return out
}

func mirrorStringMatches(ms []v1alpha1.RouteMatch) []*v1alpha1.StringMatch {
	var out []*v1alpha1.StringMatch
	for _, m := range ms {
		if m.Method != nil {
			out = append(out, m.Method)
		}
		if m.Path != nil {
			out = append(out, m.Path)
		}
		for _, v := range m.Headers {
			out = append(out, &v)
		}
	}
	return out
}

func allExactlyOne(ms []*v1alpha1.StringMatch) bool {
	for _, m := range ms {
		if m == nil {
			return false
		}
		n := 0
		for _, v := range []string{m.Exact, m.Prefix, m.Regex} {
			if v != "" {
				n++
			}
		}
		if n != 1 {
			return false
		}
	}
	return true
}

func anyHeaderRoutes(gw *v1alpha1.GatewayAPIConfig) bool {
	if gw.HTTPRoute != "" || gw.GRPCRoute != "" {
		return true
	}
	return slices.ContainsFunc(append(slices.Clone(gw.HTTPRoutes), gw.GRPCRoutes...), func(r v1alpha1.GatewayAPIRoute) bool { return r.UseHeaderRoutes })
}
