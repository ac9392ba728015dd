package gatewayapi

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/trafficrouting"
	"github.com/sluice-dev/sluice/trafficrouting/internal/golden"
)

var (
	svc     = services{namespace: "shop", routeNamespace: "shop", canary: "web-canary", stable: "web-stable"}
	managed = []string{"canary-header", "canary-mirror"}
)

func weights(canary, stable int32) trafficrouting.Weights {
	return trafficrouting.Weights{
		Canary: trafficrouting.WeightDestination{ServiceName: "web-canary", Weight: canary},
		Stable: trafficrouting.WeightDestination{ServiceName: "web-stable", Weight: stable},
	}
}

func headerRoute(name string, match ...v1alpha1.HeaderRoutingMatch) trafficrouting.HeaderRoute {
	return trafficrouting.HeaderRoute{Name: name, Match: match}
}

func mirrorRoute(name string, percent *int32, match ...v1alpha1.RouteMatch) trafficrouting.MirrorRoute {
	return trafficrouting.MirrorRoute{Name: name, Percentage: percent, Match: match}
}

func int32p(v int32) *int32 { return &v }

func setW(w trafficrouting.Weights) func(*gatewayv1.HTTPRoute) (bool, error) {
	return func(r *gatewayv1.HTTPRoute) (bool, error) { return setHTTPWeights(r, svc, w) }
}

func setHeader(hr trafficrouting.HeaderRoute) func(*gatewayv1.HTTPRoute) (bool, error) {
	return func(r *gatewayv1.HTTPRoute) (bool, error) { return setHTTPHeaderRule(r, svc, managed, hr) }
}

func setMirror(mr trafficrouting.MirrorRoute) func(*gatewayv1.HTTPRoute) (bool, error) {
	return func(r *gatewayv1.HTTPRoute) (bool, error) { return setHTTPMirrorRule(r, svc, managed, mr) }
}

func removeManaged(r *gatewayv1.HTTPRoute) (bool, error) {
	return removeHTTPManagedRules(r, managed), nil
}

var (
	xCanary = v1alpha1.HeaderRoutingMatch{HeaderName: "x-canary", HeaderValue: &v1alpha1.StringMatch{Exact: "true"}}
	xUser   = v1alpha1.HeaderRoutingMatch{HeaderName: "x-user", HeaderValue: &v1alpha1.StringMatch{Prefix: "beta."}}
	// xRegion replaces the header of the same name (case aside) in the rule's own match.
	xRegion    = v1alpha1.HeaderRoutingMatch{HeaderName: "X-Region", HeaderValue: &v1alpha1.StringMatch{Regex: "eu-.*"}}
	mirrorGets = v1alpha1.RouteMatch{
		Method:  &v1alpha1.StringMatch{Exact: "GET"},
		Path:    &v1alpha1.StringMatch{Prefix: "/api/orders"},
		Headers: map[string]v1alpha1.StringMatch{"x-b": {Regex: "b+"}, "x-a": {Exact: "a"}},
	}
	mirrorAll = v1alpha1.RouteMatch{Path: &v1alpha1.StringMatch{Regex: "/v[0-9]+/.*"}}
)

func TestHTTPRouteWeights(t *testing.T) {
	t.Run("every splitting rule gets the weights, nothing else changes", func(t *testing.T) {
		golden.Run(t, "httproute.yaml", "http-weights-20",
			golden.Changes(setW(weights(20, 80))), golden.Unchanged(setW(weights(20, 80))))
	})
	t.Run("maxTrafficWeight 1000", func(t *testing.T) {
		golden.Run(t, "httproute.yaml", "http-weights-max-1000", golden.Changes(setW(weights(250, 750))))
	})
	t.Run("back to 100% stable", func(t *testing.T) {
		golden.Run(t, "httproute.yaml", "http-weights-stable",
			golden.Changes(setW(weights(60, 40))), golden.Changes(setW(weights(0, 100))), golden.Unchanged(setW(weights(0, 100))))
	})
	t.Run("held", func(t *testing.T) {
		r := golden.Load[gatewayv1.HTTPRoute](t, "httproute.yaml")
		if held, err := httpWeightsHeld(r, svc, weights(20, 80)); err != nil || held {
			t.Fatalf("held before set = %v, %v; want false, nil", held, err)
		}
		if _, err := setHTTPWeights(r, svc, weights(20, 80)); err != nil {
			t.Fatal(err)
		}
		if held, err := httpWeightsHeld(r, svc, weights(20, 80)); err != nil || !held {
			t.Fatalf("held after set = %v, %v; want true, nil", held, err)
		}
	})
}

func TestHTTPRouteManagedRules(t *testing.T) {
	t.Run("header rule inserted before the original rules", func(t *testing.T) {
		golden.Run(t, "httproute.yaml", "http-header-insert",
			golden.Changes(setW(weights(20, 80))),
			golden.Changes(setHeader(headerRoute("canary-header", xCanary, xUser))),
			golden.Unchanged(setHeader(headerRoute("canary-header", xCanary, xUser))))
	})
	t.Run("mirror rule inserted with the original backends", func(t *testing.T) {
		golden.Run(t, "httproute.yaml", "http-mirror-insert",
			golden.Changes(setMirror(mirrorRoute("canary-mirror", int32p(40), mirrorGets, mirrorAll))),
			golden.Unchanged(setMirror(mirrorRoute("canary-mirror", int32p(40), mirrorGets, mirrorAll))))
	})
	t.Run("managed rules in managedRoutes order whatever the call order; weights reach the mirror rule", func(t *testing.T) {
		golden.Run(t, "httproute.yaml", "http-header-and-mirror",
			golden.Changes(setMirror(mirrorRoute("canary-mirror", nil, mirrorAll))),
			golden.Changes(setHeader(headerRoute("canary-header", xRegion))),
			golden.Changes(setW(weights(30, 70))))
	})
	t.Run("header rule updated in place", func(t *testing.T) {
		golden.Run(t, "httproute.yaml", "http-header-update",
			golden.Changes(setMirror(mirrorRoute("canary-mirror", nil, mirrorAll))),
			golden.Changes(setHeader(headerRoute("canary-header", xCanary))),
			golden.Changes(setHeader(headerRoute("canary-header", xUser))))
	})
	t.Run("header rule removed, mirror rule stays", func(t *testing.T) {
		golden.Run(t, "httproute.yaml", "http-header-removed",
			golden.Changes(setMirror(mirrorRoute("canary-mirror", nil, mirrorAll))),
			golden.Changes(setHeader(headerRoute("canary-header", xCanary))),
			golden.Changes(setHeader(headerRoute("canary-header"))),
			golden.Unchanged(setHeader(headerRoute("canary-header"))))
	})
	t.Run("remove managed rules restores the route", func(t *testing.T) {
		got := golden.Run(t, "httproute.yaml", "http-managed-removed",
			golden.Changes(setMirror(mirrorRoute("canary-mirror", int32p(10), mirrorAll))),
			golden.Changes(setHeader(headerRoute("canary-header", xCanary))),
			golden.Changes(removeManaged),
			golden.Unchanged(removeManaged))
		if want := golden.Load[gatewayv1.HTTPRoute](t, "httproute.yaml"); !equality.Semantic.DeepEqual(got, want) {
			t.Errorf("route after removing managed rules differs from the original")
		}
	})
}

func TestHTTPRouteConfigErrors(t *testing.T) {
	cases := []struct {
		name, in string
		do       func(*gatewayv1.HTTPRoute) (bool, error)
		want     string
	}{
		{"route references neither Service", "httproute-other-services.yaml", setW(weights(10, 90)),
			`HTTPRoute shop/other references neither the canary Service "web-canary" nor the stable Service "web-stable"`},
		{"canary in another namespace does not count", "httproute-stable-only.yaml", setW(weights(10, 90)),
			`HTTPRoute shop/stable-only does not reference the canary Service "web-canary"`},
		{"header route of a route without a split", "httproute-other-services.yaml", setHeader(headerRoute("canary-header", xCanary)),
			`HTTPRoute shop/other references neither`},
		{"header route not in managedRoutes", "httproute.yaml", setHeader(headerRoute("mine", xCanary)),
			`setHeaderRoute "mine" is not listed in trafficRouting.managedRoutes`},
		{"header value with two kinds", "httproute.yaml",
			setHeader(headerRoute("canary-header", v1alpha1.HeaderRoutingMatch{HeaderName: "x", HeaderValue: &v1alpha1.StringMatch{Exact: "a", Regex: "b"}})),
			`header "x": exactly one of exact, prefix and regex must be set`},
		{"mirror by method regex", "httproute.yaml",
			setMirror(mirrorRoute("canary-mirror", nil, v1alpha1.RouteMatch{Method: &v1alpha1.StringMatch{Regex: "GET|HEAD"}})),
			`match[0].method: the Gateway API matches a method exactly only`},
		{"mirror percentage out of range", "httproute.yaml", setMirror(mirrorRoute("canary-mirror", int32p(101), mirrorAll)),
			`percentage 101 is not between 0 and 100`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := golden.Load[gatewayv1.HTTPRoute](t, c.in)
			before := r.DeepCopy()
			_, err := c.do(r)
			if !trafficrouting.IsConfigError(err) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want a ConfigError containing %q", err, c.want)
			}
			if !equality.Semantic.DeepEqual(r, before) {
				t.Errorf("a failed rewrite changed the route")
			}
		})
	}
}

func TestHTTPRouteInAnotherNamespace(t *testing.T) {
	cross := services{namespace: "shop", routeNamespace: "edge", canary: "web-canary", stable: "web-stable"}
	mirror := mirrorRoute("canary-mirror", nil, mirrorAll)
	golden.Run(t, "httproute-cross-namespace.yaml", "http-cross-namespace",
		golden.Changes(func(r *gatewayv1.HTTPRoute) (bool, error) { return setHTTPWeights(r, cross, weights(10, 90)) }),
		golden.Changes(func(r *gatewayv1.HTTPRoute) (bool, error) { return setHTTPMirrorRule(r, cross, managed, mirror) }))
}
