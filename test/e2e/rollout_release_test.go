package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// releasedService reports whether a Service has neither the hash selector nor the managed-by
// annotation, and still selects app=web.
func releasedService(t *testing.T, ns, name string) bool {
	t.Helper()
	svc := &corev1.Service{}
	must(t, "get Service "+name, env.client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, svc))
	_, hashed := svc.Spec.Selector[v1alpha1.PodTemplateHashLabelKey]
	_, marked := svc.Annotations[v1alpha1.ManagedByRolloutsAnnotationKey]
	return !hashed && !marked && svc.Spec.Selector["app"] == "web"
}

// releasedRule reports whether a DestinationRule has neither the managed-by annotation nor a
// hash label on any subset, which keep their app label.
func releasedRule(t *testing.T, ns string) (bool, string) {
	t.Helper()
	dr := &istionetworkingv1.DestinationRule{}
	must(t, "get DestinationRule", env.client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "web"}, dr))
	state := fmt.Sprintf("annotations %v, subsets", dr.Annotations)
	ok := dr.Annotations[v1alpha1.ManagedByRolloutsAnnotationKey] == ""
	for _, s := range dr.Spec.Subsets {
		state += fmt.Sprintf(" %s=%v", s.Name, s.Labels)
		_, hashed := s.Labels[v1alpha1.PodTemplateHashLabelKey]
		ok = ok && !hashed && s.Labels["app"] == "web"
	}
	return ok, state
}

// noReplicaSets reports whether the garbage collector has removed every ReplicaSet of app=web.
func noReplicaSets(ctx context.Context, ns string) (bool, error) {
	var list appsv1.ReplicaSetList
	err := env.client.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{"app": "web"})
	return err == nil && len(list.Items) == 0, err
}

// splitWeights returns "stable/canary" as the route's rule with the stable backend holds them
// (managed header rules come first and send to the canary only).
func splitWeights(route *gatewayv1.HTTPRoute) string {
	for _, rule := range route.Spec.Rules {
		w := map[string]int32{}
		for _, b := range rule.BackendRefs {
			w[string(b.Name)] = ptr.Deref(b.Weight, 1)
		}
		if s, ok := w["web-stable"]; ok {
			return fmt.Sprintf("%d/%d", s, w["web-canary"])
		}
	}
	return "no split"
}

// TestDeletedRolloutPutsGatewayRouteAtRest: a Rollout deleted (in the background, as kubectl
// does) in the middle of a canary at 30% with a managed header route leaves its HTTPRoute at
// rest: 100/0 on the stable Service, both backends still there, the header route gone; its
// Services lose the hash selector and the managed-by annotation; its ReplicaSets are garbage
// collected as before.
func TestDeletedRolloutPutsGatewayRouteAtRest(t *testing.T) {
	ctx := context.Background()
	ns, _ := gatewayTestbed(t)
	ro := gatewayRollout(ns, setWeight(30),
		v1alpha1.CanaryStep{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "beta",
			Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "x-beta", HeaderValue: &v1alpha1.StringMatch{Exact: "yes"}}}}},
		pauseFor(""))
	ro.Spec.Strategy.Canary.TrafficRouting.ManagedRoutes = []v1alpha1.ManagedRoute{{Name: "beta"}}
	must(t, "create Rollout", env.client.Create(ctx, ro))
	waitPhase(t, ns, "web", v1alpha1.RolloutPhaseHealthy, time.Minute)

	setImage(t, ns, "web", "app:2")
	waitPhase(t, ns, "web", v1alpha1.RolloutPhasePaused, time.Minute)
	route := &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}}
	eventually(t, 30*time.Second, "70/30 and the header route", func() (bool, error) {
		mustGet(t, route)
		return splitWeights(route) == "70/30" && len(route.Spec.Rules) == 2, nil
	})

	must(t, "delete Rollout", env.client.Delete(ctx, getRollout(t, ns, "web")))
	eventually(t, time.Minute, "the route at rest and the Services released", func() (bool, error) {
		mustGet(t, route)
		return splitWeights(route) == "100/0" && len(route.Spec.Rules) == 1 && len(route.Spec.Rules[0].BackendRefs) == 2 &&
			releasedService(t, ns, "web-stable") && releasedService(t, ns, "web-canary"), nil
	})
	eventually(t, time.Minute, "the ReplicaSets garbage collected", func() (bool, error) { return noReplicaSets(ctx, ns) })
	err := env.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "web"}, &v1alpha1.Rollout{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("the Rollout is still there after its deletion: %v", err)
	}
}

// istioReleaseTestbed starts the rollout controller and gives a namespace with the web Service,
// a DestinationRule with stable and canary subsets and a VirtualService splitting between them,
// and a subset-level Rollout that is Healthy behind them.
func istioReleaseTestbed(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	startManager(t, setupRollout)
	ns := newNamespace(t)
	newService(t, ns, "web", "web")
	dr := &istionetworkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}}
	dr.Spec.Host = "web"
	dr.Spec.Subsets = []*networkingv1alpha3.Subset{
		{Name: "stable", Labels: map[string]string{"app": "web"}},
		{Name: "canary", Labels: map[string]string{"app": "web"}},
	}
	must(t, "create DestinationRule", env.client.Create(ctx, dr))
	vs := &istionetworkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}}
	vs.Spec.Hosts = []string{"web"}
	vs.Spec.Http = []*networkingv1alpha3.HTTPRoute{{Name: "primary", Route: []*networkingv1alpha3.HTTPRouteDestination{dest("web", "stable", 100), dest("web", "canary", 0)}}}
	must(t, "create VirtualService", env.client.Create(ctx, vs))
	strategy := canarySteps(setWeight(20), pauseFor(""))
	strategy.Canary.TrafficRouting = &v1alpha1.RolloutTrafficRouting{Istio: &v1alpha1.IstioTrafficRouting{
		VirtualService:  &v1alpha1.IstioVirtualService{Name: "web", Routes: []string{"primary"}},
		DestinationRule: &v1alpha1.IstioDestinationRule{Name: "web", CanarySubsetName: "canary", StableSubsetName: "stable"},
	}}
	must(t, "create Rollout", env.client.Create(ctx, newRolloutObject(ns, "web", "app:1", 2, strategy)))
	stable := waitPhase(t, ns, "web", v1alpha1.RolloutPhaseHealthy, time.Minute).Status.StableRS
	eventually(t, 30*time.Second, "the DestinationRule marked, its stable subset on the stable pods", func() (bool, error) {
		got := &istionetworkingv1.DestinationRule{}
		must(t, "get DestinationRule", env.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "web"}, got))
		return got.Annotations[v1alpha1.ManagedByRolloutsAnnotationKey] == "web" &&
			got.Spec.Subsets[0].Labels[v1alpha1.PodTemplateHashLabelKey] == stable, nil
	})
	return ns
}

// TestRemovingTrafficRoutingReleasesDestinationRule: a Rollout whose trafficRouting is removed
// takes its managed-by annotation and the subsets' hash labels out of the DestinationRule, which
// then selects what its owner wrote.
func TestRemovingTrafficRoutingReleasesDestinationRule(t *testing.T) {
	ctx := context.Background()
	ns := istioReleaseTestbed(t)

	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}}
	must(t, "remove trafficRouting", env.client.Patch(ctx, ro, rawMerge([]byte(`{"spec":{"strategy":{"canary":{"trafficRouting":null}}}}`))))
	var state string
	eventually(t, time.Minute, "the DestinationRule released", func() (bool, error) {
		var ok bool
		ok, state = releasedRule(t, ns)
		return ok, nil
	})
	if ro := getRollout(t, ns, "web"); ro.Status.Phase != v1alpha1.RolloutPhaseHealthy {
		t.Fatalf("the Rollout is %s after losing its trafficRouting (%s), want Healthy; rule: %s", ro.Status.Phase, ro.Status.Message, state)
	}
}

// TestDeletedRolloutPutsIstioRoutesAtRest: a subset-level Rollout deleted at 20% leaves its
// VirtualService at stable=100, canary=0 (both destinations kept) and its DestinationRule
// released.
func TestDeletedRolloutPutsIstioRoutesAtRest(t *testing.T) {
	ctx := context.Background()
	ns := istioReleaseTestbed(t)
	setImage(t, ns, "web", "app:2")
	waitPhase(t, ns, "web", v1alpha1.RolloutPhasePaused, time.Minute)
	vs := &istionetworkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}}
	eventually(t, 30*time.Second, "80/20 on the subsets", func() (bool, error) {
		mustGet(t, vs)
		return destWeights(vs.Spec.Http[0]) == "web/stable=80,web/canary=20", nil
	})

	must(t, "delete Rollout", env.client.Delete(ctx, getRollout(t, ns, "web")))
	eventually(t, time.Minute, "the VirtualService at rest and the DestinationRule released", func() (bool, error) {
		mustGet(t, vs)
		ok, _ := releasedRule(t, ns)
		return ok && destWeights(vs.Spec.Http[0]) == "web/stable=100,web/canary=0", nil
	})
	eventually(t, time.Minute, "the ReplicaSets garbage collected", func() (bool, error) { return noReplicaSets(ctx, ns) })
}
