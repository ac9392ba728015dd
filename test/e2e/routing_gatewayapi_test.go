package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/trafficrouting"
)

const gatewayRolloutYAML = `
canaryService: web-canary
stableService: web-stable
trafficRouting:
  managedRoutes: [{name: canary-header}, {name: canary-mirror}]
  plugins:
    argoproj-labs/gatewayAPI: {httpRoute: web}
`

func backend(name string, port gatewayv1.PortNumber, weight *int32) gatewayv1.HTTPBackendRef {
	return gatewayv1.HTTPBackendRef{BackendRef: gatewayv1.BackendRef{
		BackendObjectReference: gatewayv1.BackendObjectReference{Name: gatewayv1.ObjectName(name), Port: &port},
		Weight:                 weight,
	}}
}

func pathPrefix(p string) []gatewayv1.HTTPRouteMatch {
	return []gatewayv1.HTTPRouteMatch{{Path: &gatewayv1.HTTPPathMatch{Type: ptr.To(gatewayv1.PathMatchPathPrefix), Value: ptr.To(p)}}}
}

// newHTTPRoute creates HTTPRoute web: a split between the stable and canary Services (plus a
// legacy backend) with a header filter on /api, and a rule for another Service on /static.
func newHTTPRoute(t *testing.T, ns string) *gatewayv1.HTTPRoute {
	t.Helper()
	route := &gatewayv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: gatewayv1.HTTPRouteSpec{
			CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{{Name: "gateway"}}},
			Rules: []gatewayv1.HTTPRouteRule{{
				Matches: pathPrefix("/api"),
				Filters: []gatewayv1.HTTPRouteFilter{{
					Type:                  gatewayv1.HTTPRouteFilterRequestHeaderModifier,
					RequestHeaderModifier: &gatewayv1.HTTPHeaderFilter{Set: []gatewayv1.HTTPHeader{{Name: "x-env", Value: "prod"}}},
				}},
				BackendRefs: []gatewayv1.HTTPBackendRef{
					backend("web-stable", 80, ptr.To[int32](100)), backend("web-canary", 80, ptr.To[int32](0)), backend("web-legacy", 80, ptr.To[int32](5)),
				},
			}, {
				Matches:     pathPrefix("/static"),
				BackendRefs: []gatewayv1.HTTPBackendRef{backend("cdn", 80, nil)},
			}},
		},
	}
	must(t, "create HTTPRoute", env.client.Create(context.Background(), route))
	return route
}

// weightsOf lists a rule's backends as name=weight.
func weightsOf(rule gatewayv1.HTTPRouteRule) string {
	var parts []string
	for _, b := range rule.BackendRefs {
		parts = append(parts, fmt.Sprintf("%s=%d", b.Name, ptr.Deref(b.Weight, 1)))
	}
	return strings.Join(parts, ",")
}

func ruleNames(rules []gatewayv1.HTTPRouteRule) string {
	var names []string
	for _, r := range rules {
		names = append(names, string(ptr.Deref(r.Name, "-")))
	}
	return strings.Join(names, ",")
}

// acceptRoute writes the route status as a gateway would: one parent, Accepted=status for the
// route's current generation.
func acceptRoute(t *testing.T, ns, name string, status metav1.ConditionStatus) {
	t.Helper()
	route := &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	mustGet(t, route)
	route.Status.Parents = []gatewayv1.RouteParentStatus{{
		ParentRef:      gatewayv1.ParentReference{Name: "gateway"},
		ControllerName: "example.com/test-gateway",
		Conditions: []metav1.Condition{{
			Type: string(gatewayv1.RouteConditionAccepted), Status: status, Reason: "Test", Message: "written by the test",
			ObservedGeneration: route.Generation, LastTransitionTime: metav1.Now(),
		}},
	}}
	must(t, "write HTTPRoute status", env.client.Status().Update(context.Background(), route))
}

func TestRoutingGatewayAPIHTTPRoute(t *testing.T) {
	ctx := routingContext(t)
	ns := newNamespace(t)
	created := newHTTPRoute(t, ns)
	mustGet(t, created)
	r := onlyRouter(t, routingRollout(t, ns, gatewayRolloutYAML))
	route := &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}}

	// A step: the weights land in the split, the other rule and the extra backend stay as written,
	// and the weights are not verified until the gateway accepts this generation.
	must(t, "set weight 20", r.SetWeight(ctx, routingWeights(20, 80)))
	mustGet(t, route)
	if got := weightsOf(route.Spec.Rules[0]); got != "web-stable=80,web-canary=20,web-legacy=5" {
		t.Fatalf("split after set weight 20: %s", got)
	}
	if got, want := route.Spec.Rules[1], created.Spec.Rules[1]; weightsOf(got) != weightsOf(want) || len(route.Spec.Rules[0].Filters) != 1 {
		t.Fatalf("set weight changed what it does not own: %+v", route.Spec.Rules)
	}
	verified(t, r, routingWeights(20, 80), false)
	acceptRoute(t, ns, "web", metav1.ConditionTrue)
	verified(t, r, routingWeights(20, 80), true)

	// The next step makes a new generation: not verified while the gateway has not accepted it.
	must(t, "set weight 60", r.SetWeight(ctx, routingWeights(60, 40)))
	verified(t, r, routingWeights(60, 40), false)
	acceptRoute(t, ns, "web", metav1.ConditionFalse)
	verified(t, r, routingWeights(60, 40), false)
	acceptRoute(t, ns, "web", metav1.ConditionTrue)
	verified(t, r, routingWeights(60, 40), true)

	// A hand edit of a weight is put back by the next SetWeight; an unchanged route is not written.
	mustGet(t, route)
	route.Spec.Rules[0].BackendRefs[1].Weight = ptr.To[int32](3)
	must(t, "hand edit", env.client.Update(ctx, route))
	verified(t, r, routingWeights(60, 40), false)
	must(t, "set weight 60 again", r.SetWeight(ctx, routingWeights(60, 40)))
	mustGet(t, route)
	if got := weightsOf(route.Spec.Rules[0]); got != "web-stable=40,web-canary=60,web-legacy=5" {
		t.Fatalf("split after repairing the hand edit: %s", got)
	}
	unchangedBy(t, route, "set weight 60", func() error { return r.SetWeight(ctx, routingWeights(60, 40)) })

	testGatewayManagedRules(t, ctx, r, route)
}

// testGatewayManagedRules walks header and mirror rules in and out of the route, which holds the
// weights 60/40.
func testGatewayManagedRules(t *testing.T, ctx context.Context, r trafficrouting.TrafficRouter, route *gatewayv1.HTTPRoute) {
	header := trafficrouting.HeaderRoute{Name: "canary-header", Match: []v1alpha1.HeaderRoutingMatch{
		{HeaderName: "x-canary", HeaderValue: &v1alpha1.StringMatch{Exact: "true"}},
	}}
	mirror := trafficrouting.MirrorRoute{Name: "canary-mirror", Percentage: ptr.To[int32](50), Match: []v1alpha1.RouteMatch{
		{Method: &v1alpha1.StringMatch{Exact: "GET"}, Path: &v1alpha1.StringMatch{Prefix: "/api/orders"}},
	}}
	// Mirror first, header second: the rules still come in managedRoutes order.
	must(t, "set mirror route", r.SetMirrorRoute(ctx, mirror))
	must(t, "set header route", r.SetHeaderRoute(ctx, header))
	mustGet(t, route)
	if got := ruleNames(route.Spec.Rules); got != "canary-header,canary-mirror,-,-" {
		t.Fatalf("rules after header and mirror routes: %s", got)
	}
	h, m := route.Spec.Rules[0], route.Spec.Rules[1]
	if weightsOf(h) != "web-canary=1" || len(h.Matches) != 1 || *h.Matches[0].Path.Value != "/api" ||
		len(h.Matches[0].Headers) != 1 || h.Matches[0].Headers[0].Name != "x-canary" {
		t.Errorf("header rule: %+v", h)
	}
	mf := m.Filters[len(m.Filters)-1]
	if mf.RequestMirror == nil || mf.RequestMirror.BackendRef.Name != "web-canary" || ptr.Deref(mf.RequestMirror.Percent, -1) != 50 ||
		weightsOf(m) != "web-stable=40,web-canary=60,web-legacy=5" || *m.Matches[0].Method != "GET" {
		t.Errorf("mirror rule: %+v", m)
	}
	// What the API server stored compares equal to what the router builds: no rewrite loop.
	unchangedBy(t, route, "set header route", func() error { return r.SetHeaderRoute(ctx, header) })
	unchangedBy(t, route, "set mirror route", func() error { return r.SetMirrorRoute(ctx, mirror) })

	must(t, "set weight 30", r.SetWeight(ctx, routingWeights(30, 70)))
	mustGet(t, route)
	if got := weightsOf(route.Spec.Rules[1]); got != "web-stable=70,web-canary=30,web-legacy=5" {
		t.Errorf("mirror rule weights after set weight 30: %s", got)
	}

	must(t, "remove header route", r.SetHeaderRoute(ctx, trafficrouting.HeaderRoute{Name: "canary-header"}))
	mustGet(t, route)
	if got := ruleNames(route.Spec.Rules); got != "canary-mirror,-,-" {
		t.Fatalf("rules after removing the header route: %s", got)
	}
	must(t, "remove managed routes", r.RemoveManagedRoutes(ctx))
	mustGet(t, route)
	if got := ruleNames(route.Spec.Rules); got != "-,-" {
		t.Fatalf("rules after removing managed routes: %s", got)
	}
}

func TestRoutingGatewayAPIConfigErrors(t *testing.T) {
	ctx := routingContext(t)
	ns := newNamespace(t)
	newHTTPRoute(t, ns)
	other := &gatewayv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "other"},
		Spec:       gatewayv1.HTTPRouteSpec{Rules: []gatewayv1.HTTPRouteRule{{BackendRefs: []gatewayv1.HTTPBackendRef{backend("cdn", 80, nil)}}}},
	}
	must(t, "create HTTPRoute other", env.client.Create(ctx, other))
	web := &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}}

	for _, c := range []struct{ routes, want string }{
		{"[{name: web}, {name: missing}]", fmt.Sprintf("HTTPRoute %s/missing not found", ns)},
		{"[{name: web}, {name: other}]", fmt.Sprintf(`HTTPRoute %s/other references neither the canary Service "web-canary" nor the stable Service "web-stable"`, ns)},
	} {
		r := onlyRouter(t, routingRollout(t, ns, strings.Replace(gatewayRolloutYAML, "{httpRoute: web}", "{httpRoutes: "+c.routes+"}", 1)))
		// The bad route comes second: the good one must not be half-applied either.
		unchangedBy(t, web, "set weight with a bad route", func() error {
			err := r.SetWeight(ctx, routingWeights(10, 90))
			if !trafficrouting.IsConfigError(err) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("SetWeight error = %v, want a ConfigError containing %q", err, c.want)
			}
			return nil
		})
	}
}

func TestRoutingGatewayAPIGRPCRoute(t *testing.T) {
	ctx := routingContext(t)
	ns := newNamespace(t)
	port := gatewayv1.PortNumber(9090)
	grpcBackend := func(name string, w int32) gatewayv1.GRPCBackendRef {
		return gatewayv1.GRPCBackendRef{BackendRef: gatewayv1.BackendRef{
			BackendObjectReference: gatewayv1.BackendObjectReference{Name: gatewayv1.ObjectName(name), Port: &port}, Weight: &w,
		}}
	}
	route := &gatewayv1.GRPCRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "orders"},
		Spec: gatewayv1.GRPCRouteSpec{
			CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{{Name: "gateway"}}},
			Rules: []gatewayv1.GRPCRouteRule{{
				Matches:     []gatewayv1.GRPCRouteMatch{{Method: &gatewayv1.GRPCMethodMatch{Service: ptr.To("shop.Orders")}}},
				BackendRefs: []gatewayv1.GRPCBackendRef{grpcBackend("web-stable", 100), grpcBackend("web-canary", 0)},
			}},
		},
	}
	must(t, "create GRPCRoute", env.client.Create(ctx, route))
	r := onlyRouter(t, routingRollout(t, ns, strings.Replace(gatewayRolloutYAML, "{httpRoute: web}", "{grpcRoute: orders}", 1)))

	must(t, "set weight 25", r.SetWeight(ctx, routingWeights(25, 75)))
	header := trafficrouting.HeaderRoute{Name: "canary-header", Match: []v1alpha1.HeaderRoutingMatch{
		{HeaderName: "x-canary", HeaderValue: &v1alpha1.StringMatch{Prefix: "yes"}},
	}}
	must(t, "set header route", r.SetHeaderRoute(ctx, header))
	mustGet(t, route)
	if n := len(route.Spec.Rules); n != 2 || ptr.Deref(route.Spec.Rules[0].Name, "") != "canary-header" {
		t.Fatalf("rules after header route: %+v", route.Spec.Rules)
	}
	if b := route.Spec.Rules[1].BackendRefs; *b[0].Weight != 75 || *b[1].Weight != 25 {
		t.Errorf("split after set weight 25: %d/%d", *b[0].Weight, *b[1].Weight)
	}
	unchangedBy(t, route, "set header route", func() error { return r.SetHeaderRoute(ctx, header) })

	verified(t, r, routingWeights(25, 75), false)
	route.Status.Parents = []gatewayv1.RouteParentStatus{{
		ParentRef: gatewayv1.ParentReference{Name: "gateway"}, ControllerName: "example.com/test-gateway",
		Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Test", ObservedGeneration: route.Generation, LastTransitionTime: metav1.Now()}},
	}}
	must(t, "write GRPCRoute status", env.client.Status().Update(ctx, route))
	verified(t, r, routingWeights(25, 75), true)

	must(t, "remove managed routes", r.RemoveManagedRoutes(ctx))
	mustGet(t, route)
	if n := len(route.Spec.Rules); n != 1 {
		t.Errorf("rules after removing managed routes: %d", n)
	}
}
