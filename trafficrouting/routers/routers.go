// Package routers builds the TrafficRouters a Rollout's trafficRouting names, validates that
// block, and lists the routing objects a rollout references so the rollout controller can watch
// them. It is the one place that knows every router; trafficrouting itself knows none.
package routers

import (
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/trafficrouting"
	"github.com/sluice-dev/sluice/trafficrouting/gatewayapi"
	"github.com/sluice-dev/sluice/trafficrouting/istio"
)

// New returns the routers for ro's trafficRouting, Istio first, then the Gateway API: none when
// ro is not a canary with trafficRouting. An invalid trafficRouting block is a ConfigError with
// the message of Validate.
//
// c should be the manager's client: its reads come from the informer cache (which a controller
// watching the routes has anyway), and every write carries the resourceVersion it read, so a stale
// cache costs a retry, never a lost edit.
func New(c client.Client, ro *v1alpha1.Rollout) ([]trafficrouting.TrafficRouter, error) {
	if err := Validate(ro); err != nil {
		return nil, err
	}
	canary := ro.Spec.Strategy.Canary
	if canary == nil || canary.TrafficRouting == nil {
		return nil, nil
	}
	tr := canary.TrafficRouting
	var out []trafficrouting.TrafficRouter
	if tr.Istio != nil {
		out = append(out, istio.New(c, istioConfig(ro)))
	}
	if gw, _ := tr.GatewayAPI(); gw != nil {
		out = append(out, gatewayapi.New(c, gatewayConfig(ro, gw)))
	}
	return out, nil
}

func managedNames(tr *v1alpha1.RolloutTrafficRouting) []string {
	names := make([]string, 0, len(tr.ManagedRoutes))
	for _, m := range tr.ManagedRoutes {
		names = append(names, m.Name)
	}
	return names
}

func istioConfig(ro *v1alpha1.Rollout) istio.Config {
	canary := ro.Spec.Strategy.Canary
	tr := canary.TrafficRouting
	return istio.Config{
		Namespace:       ro.Namespace,
		Rollout:         ro.Name,
		VirtualServices: virtualServices(tr.Istio),
		DestinationRule: tr.Istio.DestinationRule,
		CanaryService:   canary.CanaryService,
		StableService:   canary.StableService,
		ManagedRoutes:   managedNames(tr),
		MaxWeight:       tr.GetMaxTrafficWeight(),
	}
}

func virtualServices(is *v1alpha1.IstioTrafficRouting) []v1alpha1.IstioVirtualService {
	if is.VirtualService != nil {
		return append([]v1alpha1.IstioVirtualService{*is.VirtualService}, is.VirtualServices...)
	}
	return is.VirtualServices
}

func gatewayConfig(ro *v1alpha1.Rollout, gw *v1alpha1.GatewayAPIConfig) gatewayapi.Config {
	canary := ro.Spec.Strategy.Canary
	tr := canary.TrafficRouting
	return gatewayapi.Config{
		Namespace:        gatewayNamespace(ro, gw),
		ServiceNamespace: ro.Namespace,
		HTTPRoutes:       gatewayRoutes(gw.HTTPRoute, gw.HTTPRoutes),
		GRPCRoutes:       gatewayRoutes(gw.GRPCRoute, gw.GRPCRoutes),
		CanaryService:    canary.CanaryService,
		StableService:    canary.StableService,
		ManagedRoutes:    managedNames(tr),
		MaxWeight:        tr.GetMaxTrafficWeight(),
	}
}

func gatewayNamespace(ro *v1alpha1.Rollout, gw *v1alpha1.GatewayAPIConfig) string {
	if gw.Namespace != "" {
		return gw.Namespace
	}
	return ro.Namespace
}

// gatewayRoutes merges the single-route form (which takes header routes, as the Argo Rollouts
// plugin does) with the list form; a name in both takes header routes if either form says so.
func gatewayRoutes(single string, list []v1alpha1.GatewayAPIRoute) []gatewayapi.Route {
	var out []gatewayapi.Route
	add := func(name string, headers bool) {
		for i := range out {
			if out[i].Name == name {
				out[i].UseHeaderRoutes = out[i].UseHeaderRoutes || headers
				return
			}
		}
		out = append(out, gatewayapi.Route{Name: name, UseHeaderRoutes: headers})
	}
	if single != "" {
		add(single, true)
	}
	for _, r := range list {
		add(r.Name, r.UseHeaderRoutes)
	}
	return out
}
