package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/controllers/rollout/plan"
	"github.com/sluice-dev/sluice/trafficrouting"
	"github.com/sluice-dev/sluice/trafficrouting/routers"
)

// observeRouting validates the traffic routing block, builds the routers, and asks them whether
// the weights last recorded in the status are in effect.
func (r *Reconciler) observeRouting(ctx context.Context, ro *v1alpha1.Rollout, obs *plan.Observed) ([]trafficrouting.TrafficRouter, error) {
	if c := ro.Spec.Strategy.Canary; c == nil || c.TrafficRouting == nil {
		return nil, nil
	}
	rts, err := routers.New(r.Client, ro) // validates the block first
	if err != nil {
		obs.SpecErrors = append(obs.SpecErrors, err.Error())
		return nil, nil
	}
	w := ro.Status.Canary.Weights
	if w == nil {
		return rts, nil
	}
	desired := trafficrouting.Weights{
		Canary: trafficrouting.WeightDestination{ServiceName: w.Canary.ServiceName, PodTemplateHash: w.Canary.PodTemplateHash, Weight: w.Canary.Weight},
		Stable: trafficrouting.WeightDestination{ServiceName: w.Stable.ServiceName, PodTemplateHash: w.Stable.PodTemplateHash, Weight: w.Stable.Weight},
	}
	obs.WeightVerified = true
	for _, rt := range rts {
		ok, err := rt.VerifyWeight(ctx, desired)
		if trafficrouting.IsConfigError(err) {
			obs.RoutingError = err.Error()
			obs.WeightVerified = false
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("verify weights with %s: %w", rt.Name(), err)
		}
		obs.WeightVerified = obs.WeightVerified && ok
	}
	return rts, nil
}

// applyRouting brings every router to the plan's routing intent. Each router is brought there on
// its own, so that one failing router does not hold the others back (an abort's weight 0 reaches
// every route that accepts it); the errors are joined.
func (r *Reconciler) applyRouting(ctx context.Context, ro *v1alpha1.Rollout, rts []trafficrouting.TrafficRouter, intent *plan.RoutingIntent) error {
	if intent == nil {
		return nil
	}
	var errs []error
	for _, rt := range rts {
		if err := r.applyRouter(ctx, ro, rt, intent); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// applyRouter brings one router to the intent: subsets, weights, then the managed header and
// mirror routes, stopping at the first that fails (a weight never points at a subset that was
// not updated).
func (r *Reconciler) applyRouter(ctx context.Context, ro *v1alpha1.Rollout, rt trafficrouting.TrafficRouter, intent *plan.RoutingIntent) error {
	if su, ok := rt.(trafficrouting.SubsetUpdater); ok && intent.Subsets != nil {
		if err := su.UpdateSubsets(ctx, intent.Subsets[0], intent.Subsets[1]); err != nil {
			return fmt.Errorf("update subsets with %s: %w", rt.Name(), err)
		}
	}
	if err := rt.SetWeight(ctx, intent.Weights); err != nil {
		return fmt.Errorf("set canary weight %d with %s: %w", intent.Weights.Canary.Weight, rt.Name(), err)
	}
	log.FromContext(ctx).V(1).Info("Set canary weight", "router", rt.Name(), "weight", intent.Weights.Canary.Weight)
	return r.applyManagedRoutes(ctx, ro, rt, intent)
}

// abortRouters returns the routers that carry an abort's traffic back to stable: one for each
// route object the traffic routing block names (HTTPRoute, GRPCRoute, VirtualService), so that a
// route that refuses the write does not keep the weight from the others. A router writes its
// routes in turn and stops at the first that fails; for an abort each route stands alone. It
// returns rts when the block names one route, or cannot be split.
func (r *Reconciler) abortRouters(ro *v1alpha1.Rollout, rts []trafficrouting.TrafficRouter) []trafficrouting.TrafficRouter {
	c := ro.Spec.Strategy.Canary
	if c == nil || c.TrafficRouting == nil {
		return rts
	}
	var blocks []*v1alpha1.RolloutTrafficRouting
	if is := c.TrafficRouting.Istio; is != nil {
		vss := is.VirtualServices
		if is.VirtualService != nil {
			vss = append([]v1alpha1.IstioVirtualService{*is.VirtualService}, vss...)
		}
		for _, vs := range vss {
			one := c.TrafficRouting.DeepCopy()
			one.Istio.VirtualService, one.Istio.VirtualServices = nil, []v1alpha1.IstioVirtualService{vs}
			blocks = append(blocks, one)
		}
	}
	gw, err := c.TrafficRouting.GatewayAPI()
	if err != nil {
		return rts
	}
	if gw != nil {
		var cfgs []v1alpha1.GatewayAPIConfig
		for _, rt := range gatewayRoutes(gw.HTTPRoute, gw.HTTPRoutes) {
			cfgs = append(cfgs, v1alpha1.GatewayAPIConfig{HTTPRoutes: []v1alpha1.GatewayAPIRoute{rt}, Namespace: gw.Namespace})
		}
		for _, rt := range gatewayRoutes(gw.GRPCRoute, gw.GRPCRoutes) {
			cfgs = append(cfgs, v1alpha1.GatewayAPIConfig{GRPCRoutes: []v1alpha1.GatewayAPIRoute{rt}, Namespace: gw.Namespace})
		}
		for _, cfg := range cfgs {
			raw, err := json.Marshal(cfg)
			if err != nil {
				return rts
			}
			one := c.TrafficRouting.DeepCopy()
			one.Plugins[v1alpha1.GatewayAPIPluginName] = apiextensionsv1.JSON{Raw: raw}
			blocks = append(blocks, one)
		}
	}
	if len(blocks) <= 1 {
		return rts
	}
	var out []trafficrouting.TrafficRouter
	for _, block := range blocks {
		one := ro.DeepCopy()
		one.Spec.Strategy.Canary.TrafficRouting = block
		each, err := routers.New(r.Client, one)
		if err != nil {
			return rts
		}
		out = append(out, each...)
	}
	return out
}

// gatewayRoutes lists the routes of the single and the list form of a Gateway API route key.
func gatewayRoutes(single string, list []v1alpha1.GatewayAPIRoute) []v1alpha1.GatewayAPIRoute {
	if single != "" {
		return append([]v1alpha1.GatewayAPIRoute{{Name: single}}, list...)
	}
	return list
}

func (r *Reconciler) applyManagedRoutes(ctx context.Context, ro *v1alpha1.Rollout, rt trafficrouting.TrafficRouter, intent *plan.RoutingIntent) error {
	if len(intent.HeaderRoutes)+len(intent.MirrorRoutes) == 0 {
		if err := rt.RemoveManagedRoutes(ctx); err != nil {
			return fmt.Errorf("remove managed routes with %s: %w", rt.Name(), err)
		}
		return nil
	}
	for _, m := range ro.Spec.Strategy.Canary.TrafficRouting.ManagedRoutes {
		var err error
		switch mr := intent.MirrorRoutes[m.Name]; {
		case intent.HeaderRoutes[m.Name] != nil:
			err = rt.SetHeaderRoute(ctx, trafficrouting.HeaderRoute{Name: m.Name, Match: intent.HeaderRoutes[m.Name]})
		case mr != nil:
			err = rt.SetMirrorRoute(ctx, trafficrouting.MirrorRoute{Name: m.Name, Percentage: mr.Percentage, Match: mr.Match})
		default:
			// Managed routes are known by name: an empty header route removes whichever it is.
			err = rt.SetHeaderRoute(ctx, trafficrouting.HeaderRoute{Name: m.Name})
		}
		if err != nil {
			return fmt.Errorf("apply managed route %s with %s: %w", m.Name, rt.Name(), err)
		}
	}
	return nil
}

// watchRoutes adds watches on the routing kinds installed in the cluster, mapping an edit of a
// route (drift, or a gateway accepting it) back to the Rollouts that reference it.
func watchRoutes(mgr ctrl.Manager, b *builder.Builder) *builder.Builder {
	c := mgr.GetClient()
	for _, obj := range routers.WatchedObjects() {
		gvk, err := apiutil.GVKForObject(obj, mgr.GetScheme())
		if err != nil {
			continue // the scheme lacks the kind: this binary does not route with it
		}
		if _, err := mgr.GetRESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
			if meta.IsNoMatchError(err) {
				ctrl.Log.WithName("rollout").Info("Routing kind not installed; not watching it", "kind", gvk.String())
				continue
			}
		}
		b = b.Watches(obj, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			key, ok := routers.KeyOf(o)
			if !ok {
				return nil
			}
			var list v1alpha1.RolloutList
			if err := c.List(ctx, &list, client.MatchingFields{routers.IndexField: key}); err != nil {
				return nil
			}
			reqs := make([]reconcile.Request, 0, len(list.Items))
			for _, ro := range list.Items {
				reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ro.Namespace, Name: ro.Name}})
			}
			return reqs
		}))
	}
	return b
}
