package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	networkingv1 "istio.io/api/networking/v1"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// fakeGateway plays the part of a Gateway API implementation (there is no data plane here): while
// accepting, it marks the route Accepted for every new generation, as a gateway would.
type fakeGateway struct {
	accept atomic.Bool
	stop   chan struct{}
	done   sync.WaitGroup
}

func startFakeGateway(t *testing.T, ns, route string) *fakeGateway {
	g := &fakeGateway{stop: make(chan struct{})}
	g.accept.Store(true)
	g.done.Add(1)
	go func() {
		defer g.done.Done()
		for {
			select {
			case <-g.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if !g.accept.Load() {
				continue
			}
			r := &gatewayv1.HTTPRoute{}
			if env.client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: route}, r) != nil {
				continue
			}
			if len(r.Status.Parents) == 1 && r.Status.Parents[0].Conditions[0].ObservedGeneration == r.Generation {
				continue
			}
			r.Status.Parents = []gatewayv1.RouteParentStatus{{
				ParentRef: gatewayv1.ParentReference{Name: "gateway"}, ControllerName: "example.com/test-gateway",
				Conditions: []metav1.Condition{{Type: string(gatewayv1.RouteConditionAccepted), Status: metav1.ConditionTrue,
					Reason: "Accepted", ObservedGeneration: r.Generation, LastTransitionTime: metav1.Now()}},
			}}
			_ = env.client.Status().Update(context.Background(), r)
		}
	}()
	t.Cleanup(func() { close(g.stop); g.done.Wait() })
	return g
}

func createHTTPRoute(t *testing.T, ns string) {
	t.Helper()
	route := &gatewayv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: gatewayv1.HTTPRouteSpec{
			CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{{Name: "gateway"}}},
			Rules: []gatewayv1.HTTPRouteRule{{BackendRefs: []gatewayv1.HTTPBackendRef{
				{BackendRef: gatewayv1.BackendRef{BackendObjectReference: gatewayv1.BackendObjectReference{Name: "web-stable", Port: ptr.To[gatewayv1.PortNumber](80)}, Weight: ptr.To[int32](100)}},
				{BackendRef: gatewayv1.BackendRef{BackendObjectReference: gatewayv1.BackendObjectReference{Name: "web-canary", Port: ptr.To[gatewayv1.PortNumber](80)}, Weight: ptr.To[int32](0)}},
			}}},
		},
	}
	must(t, "create HTTPRoute", env.client.Create(context.Background(), route))
}

// routeWeights returns "stable/canary" as the HTTPRoute's first rule holds them.
func routeWeights(t *testing.T, ns string) string {
	t.Helper()
	r := &gatewayv1.HTTPRoute{}
	must(t, "get HTTPRoute", env.client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "web"}, r))
	w := map[string]int32{}
	for _, b := range r.Spec.Rules[0].BackendRefs {
		w[string(b.Name)] = ptr.Deref(b.Weight, 1)
	}
	return fmt.Sprintf("%d/%d", w["web-stable"], w["web-canary"])
}

// gatewayTestbed starts the rollout controller and gives a namespace with the web-stable and
// web-canary Services, the "web" HTTPRoute, and a fake gateway accepting it.
func gatewayTestbed(t *testing.T) (string, *fakeGateway) {
	t.Helper()
	startManager(t, setupRollout)
	ns := newNamespace(t)
	newService(t, ns, "web-stable", "web")
	newService(t, ns, "web-canary", "web")
	createHTTPRoute(t, ns)
	return ns, startFakeGateway(t, ns, "web")
}

func gatewayRollout(ns string, steps ...v1alpha1.CanaryStep) *v1alpha1.Rollout {
	strategy := canarySteps(steps...)
	strategy.Canary.StableService, strategy.Canary.CanaryService = "web-stable", "web-canary"
	strategy.Canary.TrafficRouting = &v1alpha1.RolloutTrafficRouting{Plugins: map[string]apiextensionsv1.JSON{
		v1alpha1.GatewayAPIPluginName: {Raw: []byte(`{"httpRoute":"web"}`)},
	}}
	return newRolloutObject(ns, "web", "app:1", 5, strategy)
}

// TestGatewayAPICanaryWalksWeights: steps [20%, pause 2s, 60%, pause 2s] walk the HTTPRoute's
// stable/canary weights 100/0 -> 80/20 -> 40/60, and the update ends with the stable Service on
// the new pods and 100/0 again; a hand edit of the weights mid-rollout is put back.
func TestGatewayAPICanaryWalksWeights(t *testing.T) {
	ctx := context.Background()
	ns, _ := gatewayTestbed(t)
	must(t, "create Rollout", env.client.Create(ctx, gatewayRollout(ns, setWeight(20), pauseFor("2s"), setWeight(60), pauseFor("2s"))))
	oldHash := waitPhase(t, ns, "web", v1alpha1.RolloutPhaseHealthy, time.Minute).Status.StableRS

	setImage(t, ns, "web", "app:2")
	var seen []string
	edited := false
	eventually(t, 2*time.Minute, "the update to finish", func() (bool, error) {
		w := routeWeights(t, ns)
		if len(seen) == 0 || seen[len(seen)-1] != w {
			seen = append(seen, w)
		}
		cur := getRollout(t, ns, "web")
		if !edited && w == "80/20" && cur.Status.Phase == v1alpha1.RolloutPhasePaused {
			// Someone edits the weights by hand while the rollout owns them.
			patch := []byte(`{"spec":{"rules":[{"backendRefs":[{"name":"web-stable","port":80,"weight":50},{"name":"web-canary","port":80,"weight":50}]}]}}`)
			route := &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}}
			must(t, "edit route", env.client.Patch(ctx, route, client.RawPatch(types.MergePatchType, patch)))
			edited = true
			eventually(t, 10*time.Second, "the hand edit to be reverted", func() (bool, error) {
				return routeWeights(t, ns) == "80/20", nil
			})
		}
		return cur.Status.Phase == v1alpha1.RolloutPhaseHealthy && cur.Status.StableRS != oldHash && w == "100/0", nil
	})
	walk := strings.Join(seen, " ")
	if !strings.HasPrefix(walk, "100/0 80/20") || !strings.Contains(walk, "80/20 40/60") || !edited {
		t.Fatalf("weights walked %q (edited %v); want 100/0, 80/20, 40/60 in that order", walk, edited)
	}
	final := getRollout(t, ns, "web")
	eventually(t, 30*time.Second, "the stable Service to select the new pods", func() (bool, error) {
		return serviceHash(t, ns, "web-stable") == final.Status.StableRS, nil
	})
	eventually(t, 30*time.Second, "status.canary.weights 0/100 verified", func() (bool, error) {
		w := getRollout(t, ns, "web").Status.Canary.Weights
		return w != nil && w.Canary.Weight == 0 && w.Stable.Weight == 100 && w.Verified != nil && *w.Verified, nil
	})
}

// TestGatewayAPIRolloutWaitsForAcceptedRouteAndAbortRestoresStable: a weight the gateway has not
// accepted holds the step (verified false); once accepted the rollout moves on; an abort puts
// 100% back on stable.
func TestGatewayAPIRolloutWaitsForAcceptedRouteAndAbortRestoresStable(t *testing.T) {
	ctx := context.Background()
	ns, gw := gatewayTestbed(t)
	must(t, "create Rollout", env.client.Create(ctx, gatewayRollout(ns, setWeight(30), pauseFor(""))))
	waitPhase(t, ns, "web", v1alpha1.RolloutPhaseHealthy, time.Minute)

	gw.accept.Store(false)
	setImage(t, ns, "web", "app:2")
	eventually(t, time.Minute, "the canary weight written but not verified", func() (bool, error) {
		ro := getRollout(t, ns, "web")
		w := ro.Status.Canary.Weights
		return routeWeights(t, ns) == "70/30" && w != nil && w.Canary.Weight == 30 && w.Verified != nil && !*w.Verified &&
			ro.Status.Phase == v1alpha1.RolloutPhaseProgressing && strings.Contains(ro.Status.Message, "waiting for the routes"), nil
	})
	gw.accept.Store(true)
	waitPhase(t, ns, "web", v1alpha1.RolloutPhasePaused, time.Minute)

	patchStatus(t, ns, "web", `{"status":{"abort":true}}`)
	eventually(t, 30*time.Second, "100% back on stable", func() (bool, error) {
		return routeWeights(t, ns) == "100/0" && getRollout(t, ns, "web").Status.Phase == v1alpha1.RolloutPhaseDegraded, nil
	})
}

// TestIstioCanaryWalksWeightsWithHeaderAndMirrorRoutes: host-level Istio weights walk 100/0 ->
// 80/20 -> 40/60 with the steps, and managed header and mirror routes appear for their steps and
// are gone when the update completes, with the stable Service on the new pods.
func TestIstioCanaryWalksWeightsWithHeaderAndMirrorRoutes(t *testing.T) {
	ctx := context.Background()
	startManager(t, setupRollout)
	ns := newNamespace(t)
	newService(t, ns, "web-stable", "web")
	newService(t, ns, "web-canary", "web")
	vs := &istionetworkingv1.VirtualService{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: networkingv1.VirtualService{Hosts: []string{"web"}, Http: []*networkingv1.HTTPRoute{{
			Name: "primary",
			Route: []*networkingv1.HTTPRouteDestination{
				{Destination: &networkingv1.Destination{Host: "web-stable"}, Weight: 100},
				{Destination: &networkingv1.Destination{Host: "web-canary"}, Weight: 0},
			},
		}}},
	}
	must(t, "create VirtualService", env.client.Create(ctx, vs))
	strategy := canarySteps(
		v1alpha1.CanaryStep{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "beta", Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "x-beta", HeaderValue: &v1alpha1.StringMatch{Exact: "yes"}}}}},
		v1alpha1.CanaryStep{SetMirrorRoute: &v1alpha1.SetMirrorRoute{Name: "shadow", Percentage: ptr.To[int32](50), Match: []v1alpha1.RouteMatch{{Path: &v1alpha1.StringMatch{Prefix: "/api"}}}}},
		setWeight(20), pauseFor(""),
		v1alpha1.CanaryStep{SetMirrorRoute: &v1alpha1.SetMirrorRoute{Name: "shadow"}},
		setWeight(60), pauseFor(""))
	strategy.Canary.StableService, strategy.Canary.CanaryService = "web-stable", "web-canary"
	strategy.Canary.TrafficRouting = &v1alpha1.RolloutTrafficRouting{
		Istio:         &v1alpha1.IstioTrafficRouting{VirtualService: &v1alpha1.IstioVirtualService{Name: "web", Routes: []string{"primary"}}},
		ManagedRoutes: []v1alpha1.ManagedRoute{{Name: "beta"}, {Name: "shadow"}},
	}
	must(t, "create Rollout", env.client.Create(ctx, newRolloutObject(ns, "web", "app:1", 5, strategy)))
	waitPhase(t, ns, "web", v1alpha1.RolloutPhaseHealthy, time.Minute)

	state := func() (names string, weights string) {
		got := &istionetworkingv1.VirtualService{}
		must(t, "get VirtualService", env.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "web"}, got))
		var ns []string
		for _, h := range got.Spec.Http {
			ns = append(ns, h.Name)
			if h.Name == "primary" {
				for _, d := range h.Route {
					weights += fmt.Sprintf("%s=%d ", d.Destination.Host, d.Weight)
				}
			}
		}
		return strings.Join(ns, ","), strings.TrimSpace(weights)
	}
	atPause := func(step int32) (string, string) {
		t.Helper()
		eventually(t, time.Minute, fmt.Sprintf("the pause at step %d", step), func() (bool, error) {
			ro := getRollout(t, ns, "web")
			return ro.Status.Phase == v1alpha1.RolloutPhasePaused && ro.Status.CurrentStepIndex != nil && *ro.Status.CurrentStepIndex == step, nil
		})
		return state()
	}
	if names, weights := state(); names != "primary" || weights != "web-stable=100 web-canary=0" {
		t.Fatalf("before the update: http routes %q, weights %q", names, weights)
	}
	setImage(t, ns, "web", "app:2")
	if names, weights := atPause(3); names != "beta,shadow,primary" || weights != "web-stable=80 web-canary=20" {
		t.Fatalf("at the first pause: http routes %q, weights %q; want beta,shadow,primary and 80/20", names, weights)
	}
	patchStatus(t, ns, "web", `{"status":{"pauseConditions":null}}`)
	if names, weights := atPause(6); names != "beta,primary" || weights != "web-stable=40 web-canary=60" {
		t.Fatalf("at the second pause: http routes %q, weights %q; want beta,primary (mirror removed) and 40/60", names, weights)
	}
	patchStatus(t, ns, "web", `{"status":{"pauseConditions":null}}`)
	done := waitPhase(t, ns, "web", v1alpha1.RolloutPhaseHealthy, time.Minute)
	eventually(t, 30*time.Second, "the managed routes removed, 100/0, and the stable Service on the new pods", func() (bool, error) {
		names, weights := state()
		return names == "primary" && weights == "web-stable=100 web-canary=0" && serviceHash(t, ns, "web-stable") == done.Status.StableRS, nil
	})
}
