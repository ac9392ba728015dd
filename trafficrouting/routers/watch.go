package routers

import (
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/trafficrouting/istio"
)

// This file tells the rollout controller which routing objects a rollout references, so that it
// can watch them and reconcile the rollout when someone edits one (drift repair, and Gateway API
// route status for VerifyWeight). The intended wiring:
//
//	mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.Rollout{}, routers.IndexField, routers.IndexKeys)
//	for _, obj := range routers.WatchedObjects() {
//	    b.Watches(obj, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
//	        key, ok := routers.KeyOf(o)
//	        var list v1alpha1.RolloutList
//	        if !ok || mgr.GetClient().List(ctx, &list, client.MatchingFields{routers.IndexField: key}) != nil { return nil }
//	        ... one request per rollout in list ...
//	    }))
//	}

// IndexField is the name of the Rollout field index whose values are IndexKeys.
const IndexField = "sluice.dev/traffic-routing-refs"

// Reference is one object a rollout's traffic routing reads or writes.
type Reference struct {
	Group     string
	Kind      string
	Namespace string
	Name      string
}

// Key is the reference's value in the IndexField index: "Kind.group/namespace/name".
func (r Reference) Key() string {
	return r.Kind + "." + r.Group + "/" + r.Namespace + "/" + r.Name
}

// References lists the routes, VirtualServices and DestinationRules ro's trafficRouting names,
// whether they exist or not. A block that does not decode references nothing.
func References(ro *v1alpha1.Rollout) []Reference {
	canary := ro.Spec.Strategy.Canary
	if canary == nil || canary.TrafficRouting == nil {
		return nil
	}
	tr := canary.TrafficRouting
	var out []Reference
	if tr.Istio != nil {
		for _, vs := range virtualServices(tr.Istio) {
			k := istio.VirtualServiceKey(vs.Name, ro.Namespace)
			out = append(out, Reference{Group: istionetworkingv1.SchemeGroupVersion.Group, Kind: "VirtualService", Namespace: k.Namespace, Name: k.Name})
		}
		if dr := tr.Istio.DestinationRule; dr != nil {
			out = append(out, Reference{Group: istionetworkingv1.SchemeGroupVersion.Group, Kind: "DestinationRule", Namespace: ro.Namespace, Name: dr.Name})
		}
	}
	if gw, err := tr.GatewayAPI(); err == nil && gw != nil {
		ns := gatewayNamespace(ro, gw)
		for _, r := range gatewayRoutes(gw.HTTPRoute, gw.HTTPRoutes) {
			out = append(out, Reference{Group: gatewayv1.GroupName, Kind: "HTTPRoute", Namespace: ns, Name: r.Name})
		}
		for _, r := range gatewayRoutes(gw.GRPCRoute, gw.GRPCRoutes) {
			out = append(out, Reference{Group: gatewayv1.GroupName, Kind: "GRPCRoute", Namespace: ns, Name: r.Name})
		}
	}
	return out
}

// IndexKeys is the IndexField indexer: the keys of the objects a Rollout references.
func IndexKeys(obj client.Object) []string {
	ro, ok := obj.(*v1alpha1.Rollout)
	if !ok {
		return nil
	}
	refs := References(ro)
	keys := make([]string, 0, len(refs))
	for _, r := range refs {
		keys = append(keys, r.Key())
	}
	return keys
}

// KeyOf is the IndexField key of a watched routing object, for looking up the rollouts that
// reference it; ok is false for an object of another type.
func KeyOf(obj client.Object) (key string, ok bool) {
	var group, kind string
	switch obj.(type) {
	case *gatewayv1.HTTPRoute:
		group, kind = gatewayv1.GroupName, "HTTPRoute"
	case *gatewayv1.GRPCRoute:
		group, kind = gatewayv1.GroupName, "GRPCRoute"
	case *istionetworkingv1.VirtualService:
		group, kind = istionetworkingv1.SchemeGroupVersion.Group, "VirtualService"
	case *istionetworkingv1.DestinationRule:
		group, kind = istionetworkingv1.SchemeGroupVersion.Group, "DestinationRule"
	default:
		return "", false
	}
	return Reference{Group: group, Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}.Key(), true
}

// WatchedObjects are empty objects of every kind References can name, for the controller's
// Watches. The scheme must hold them (gatewayv1.Install, istionetworkingv1.AddToScheme), and the
// kinds must be installed in the cluster: a controller that watches a kind whose CRD is missing
// fails to start, so a controller may skip the kinds it cannot find.
func WatchedObjects() []client.Object {
	return []client.Object{
		&gatewayv1.HTTPRoute{}, &gatewayv1.GRPCRoute{},
		&istionetworkingv1.VirtualService{}, &istionetworkingv1.DestinationRule{},
	}
}
