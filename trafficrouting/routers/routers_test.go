package routers

import (
	"reflect"
	"strings"
	"testing"

	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/trafficrouting"
	"github.com/sluice-dev/sluice/trafficrouting/gatewayapi"
	"github.com/sluice-dev/sluice/trafficrouting/istio"
)

// rollout decodes the canary strategy of a Rollout in namespace shop.
func rollout(t *testing.T, canary string) *v1alpha1.Rollout {
	t.Helper()
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}}
	ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{}
	if err := yaml.UnmarshalStrict([]byte(canary), ro.Spec.Strategy.Canary); err != nil {
		t.Fatalf("decode canary strategy: %v", err)
	}
	return ro
}

const gatewayCanary = `
canaryService: web-canary
stableService: web-stable
trafficRouting:
  maxTrafficWeight: 1000
  managedRoutes: [{name: canary-header}]
  plugins:
    argoproj-labs/gatewayAPI:
      httpRoute: web
      httpRoutes: [{name: web}, {name: api}]
      grpcRoutes: [{name: orders, useHeaderRoutes: true}]
      namespace: edge
`

const istioCanary = `
canaryService: web-canary
stableService: web-stable
trafficRouting:
  istio:
    virtualService: {name: web, routes: [primary]}
    destinationRule: {name: web, canarySubsetName: canary, stableSubsetName: stable}
`

func TestNew(t *testing.T) {
	t.Run("gateway API", func(t *testing.T) {
		rs, err := New(nil, rollout(t, gatewayCanary))
		if err != nil || len(rs) != 1 || rs[0].Name() != gatewayapi.RouterName {
			t.Fatalf("New = %v, %v; want one Gateway API router", rs, err)
		}
		got := gatewayConfig(rollout(t, gatewayCanary), mustGateway(t, rollout(t, gatewayCanary)))
		want := gatewayapi.Config{
			Namespace:        "edge",
			ServiceNamespace: "shop",
			HTTPRoutes:       []gatewayapi.Route{{Name: "web", UseHeaderRoutes: true}, {Name: "api"}},
			GRPCRoutes:       []gatewayapi.Route{{Name: "orders", UseHeaderRoutes: true}},
			CanaryService:    "web-canary", StableService: "web-stable",
			ManagedRoutes: []string{"canary-header"},
			MaxWeight:     1000,
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("config = %+v\nwant %+v", got, want)
		}
	})
	t.Run("istio", func(t *testing.T) {
		rs, err := New(nil, rollout(t, istioCanary))
		if err != nil || len(rs) != 1 || rs[0].Name() != istio.RouterName {
			t.Fatalf("New = %v, %v; want one Istio router", rs, err)
		}
		if _, ok := rs[0].(trafficrouting.SubsetUpdater); !ok {
			t.Errorf("the Istio router does not implement SubsetUpdater")
		}
		got := istioConfig(rollout(t, istioCanary))
		if got.Namespace != "shop" || got.Rollout != "web" || got.MaxWeight != 100 || len(got.VirtualServices) != 1 ||
			got.DestinationRule == nil || got.DestinationRule.CanarySubsetName != "canary" {
			t.Errorf("config = %+v", got)
		}
	})
	t.Run("no trafficRouting", func(t *testing.T) {
		rs, err := New(nil, rollout(t, `{canaryService: a, stableService: b}`))
		if err != nil || len(rs) != 0 {
			t.Fatalf("New = %v, %v; want no routers", rs, err)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		_, err := New(nil, rollout(t, `{canaryService: a, stableService: b, trafficRouting: {nginx: {}}}`))
		if !trafficrouting.IsConfigError(err) || err.Error() != "trafficRouting.nginx is not supported" {
			t.Fatalf("New error = %v", err)
		}
	})
}

func mustGateway(t *testing.T, ro *v1alpha1.Rollout) *v1alpha1.GatewayAPIConfig {
	t.Helper()
	gw, err := ro.Spec.Strategy.Canary.TrafficRouting.GatewayAPI()
	if err != nil {
		t.Fatal(err)
	}
	return gw
}

func TestReferences(t *testing.T) {
	ro := rollout(t, gatewayCanary)
	keys := IndexKeys(ro)
	want := []string{
		"HTTPRoute.gateway.networking.k8s.io/edge/web",
		"HTTPRoute.gateway.networking.k8s.io/edge/api",
		"GRPCRoute.gateway.networking.k8s.io/edge/orders",
	}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("gateway keys = %v, want %v", keys, want)
	}
	route := &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "edge", Name: "api"}}
	if k, ok := KeyOf(route); !ok || k != want[1] {
		t.Errorf("KeyOf(HTTPRoute edge/api) = %q, %v", k, ok)
	}

	ro = rollout(t, strings.Replace(istioCanary, "virtualService: {name: web,", "virtualService: {name: web.mesh,", 1))
	keys = IndexKeys(ro)
	want = []string{
		"VirtualService.networking.istio.io/mesh/web",
		"DestinationRule.networking.istio.io/shop/web",
	}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("istio keys = %v, want %v", keys, want)
	}
	dr := &istionetworkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}}
	if k, ok := KeyOf(dr); !ok || k != want[1] {
		t.Errorf("KeyOf(DestinationRule shop/web) = %q, %v", k, ok)
	}
	if _, ok := KeyOf(&v1alpha1.Rollout{}); ok {
		t.Errorf("KeyOf(Rollout) is ok")
	}
	for _, obj := range WatchedObjects() {
		if _, ok := KeyOf(obj); !ok {
			t.Errorf("KeyOf(%T) is not ok", obj)
		}
	}
}
