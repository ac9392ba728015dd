package e2e

import (
	"fmt"
	"strings"
	"testing"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/trafficrouting"
)

const istioHostRolloutYAML = `
canaryService: web-canary
stableService: web-stable
trafficRouting:
  managedRoutes: [{name: canary-header}, {name: canary-mirror}]
  istio:
    virtualService: {name: web, routes: [primary], tcpRoutes: [{port: 5432}]}
`

const istioSubsetRolloutYAML = `
canaryService: web-canary
stableService: web-stable
trafficRouting:
  istio:
    virtualService: {name: web}
    destinationRule: {name: web, canarySubsetName: canary, stableSubsetName: stable}
`

func dest(host, subset string, weight int32) *networkingv1alpha3.HTTPRouteDestination {
	return &networkingv1alpha3.HTTPRouteDestination{Destination: &networkingv1alpha3.Destination{Host: host, Subset: subset}, Weight: weight}
}

// destWeights lists an http route's destinations as host[/subset]=weight.
func destWeights(r *networkingv1alpha3.HTTPRoute) string {
	var parts []string
	for _, d := range r.GetRoute() {
		name := d.GetDestination().GetHost()
		if s := d.GetDestination().GetSubset(); s != "" {
			name += "/" + s
		}
		parts = append(parts, fmt.Sprintf("%s=%d", name, d.GetWeight()))
	}
	return strings.Join(parts, ",")
}

func httpNames(vs *istionetworkingv1.VirtualService) string {
	var names []string
	for _, r := range vs.Spec.GetHttp() {
		names = append(names, r.GetName())
	}
	return strings.Join(names, ",")
}

func TestRoutingIstioHostLevel(t *testing.T) {
	ctx := routingContext(t)
	ns := newNamespace(t)
	vs := &istionetworkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}}
	vs.Spec.Hosts = []string{"web.example.com"}
	vs.Spec.Http = []*networkingv1alpha3.HTTPRoute{
		{Name: "primary", Route: []*networkingv1alpha3.HTTPRouteDestination{dest("web-stable", "", 100), dest("web-canary."+ns+".svc.cluster.local", "", 0)}},
		{Name: "other", Route: []*networkingv1alpha3.HTTPRouteDestination{dest("cdn", "", 0)}},
	}
	vs.Spec.Tcp = []*networkingv1alpha3.TCPRoute{{
		Match: []*networkingv1alpha3.L4MatchAttributes{{Port: 5432}},
		Route: []*networkingv1alpha3.RouteDestination{
			{Destination: &networkingv1alpha3.Destination{Host: "web-stable"}, Weight: 100},
			{Destination: &networkingv1alpha3.Destination{Host: "web-canary"}},
		},
	}}
	must(t, "create VirtualService", env.client.Create(ctx, vs))
	r := onlyRouter(t, routingRollout(t, ns, istioHostRolloutYAML))

	// Istio has no status to wait for: the weights are verified as soon as the VirtualService holds them.
	must(t, "set weight 20", r.SetWeight(ctx, routingWeights(20, 80)))
	mustGet(t, vs)
	if got := destWeights(vs.Spec.Http[0]); got != "web-stable=80,web-canary."+ns+".svc.cluster.local=20" {
		t.Fatalf("primary after set weight 20: %s", got)
	}
	if tcp := vs.Spec.Tcp[0].Route; tcp[0].Weight != 80 || tcp[1].Weight != 20 {
		t.Fatalf("tcp route after set weight 20: %v", tcp)
	}
	if got := destWeights(vs.Spec.Http[1]); got != "cdn=0" {
		t.Fatalf("set weight changed the other route: %s", got)
	}
	verified(t, r, routingWeights(20, 80), true)

	// A hand edit is put back; an unchanged VirtualService is not written.
	vs.Spec.Http[0].Route[1].Weight = 0
	must(t, "hand edit", env.client.Update(ctx, vs))
	verified(t, r, routingWeights(20, 80), false)
	must(t, "set weight 20 again", r.SetWeight(ctx, routingWeights(20, 80)))
	verified(t, r, routingWeights(20, 80), true)
	unchangedBy(t, vs, "set weight 20", func() error { return r.SetWeight(ctx, routingWeights(20, 80)) })

	header := trafficrouting.HeaderRoute{Name: "canary-header", Match: []v1alpha1.HeaderRoutingMatch{
		{HeaderName: "X-Canary", HeaderValue: &v1alpha1.StringMatch{Exact: "true"}},
	}}
	mirror := trafficrouting.MirrorRoute{Name: "canary-mirror", Percentage: ptr.To[int32](50), Match: []v1alpha1.RouteMatch{
		{Path: &v1alpha1.StringMatch{Prefix: "/api"}},
	}}
	must(t, "set mirror route", r.SetMirrorRoute(ctx, mirror))
	must(t, "set header route", r.SetHeaderRoute(ctx, header))
	mustGet(t, vs)
	if got := httpNames(vs); got != "canary-header,canary-mirror,primary,other" {
		t.Fatalf("http routes after header and mirror routes: %s", got)
	}
	h, m := vs.Spec.Http[0], vs.Spec.Http[1]
	if destWeights(h) != "web-canary."+ns+".svc.cluster.local=100" || h.GetMatch()[0].GetHeaders()["x-canary"].GetExact() != "true" {
		t.Errorf("header route: %v", h)
	}
	if m.GetMirror().GetHost() != "web-canary."+ns+".svc.cluster.local" || m.GetMirrorPercentage().GetValue() != 50 ||
		m.GetMatch()[0].GetUri().GetPrefix() != "/api" || destWeights(m) != destWeights(vs.Spec.Http[2]) {
		t.Errorf("mirror route: %v", m)
	}
	unchangedBy(t, vs, "set header route", func() error { return r.SetHeaderRoute(ctx, header) })
	unchangedBy(t, vs, "set mirror route", func() error { return r.SetMirrorRoute(ctx, mirror) })

	must(t, "remove managed routes", r.RemoveManagedRoutes(ctx))
	mustGet(t, vs)
	if got := httpNames(vs); got != "primary,other" {
		t.Fatalf("http routes after removing managed routes: %s", got)
	}
}

func TestRoutingIstioSubsetLevel(t *testing.T) {
	ctx := routingContext(t)
	ns := newNamespace(t)
	dr := &istionetworkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}}
	dr.Spec.Host = "web"
	dr.Spec.Subsets = []*networkingv1alpha3.Subset{
		{Name: "stable", Labels: map[string]string{"app": "web"}},
		{Name: "canary", Labels: map[string]string{"app": "web"}},
	}
	must(t, "create DestinationRule", env.client.Create(ctx, dr))
	vs := &istionetworkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}}
	vs.Spec.Hosts = []string{"web"}
	vs.Spec.Http = []*networkingv1alpha3.HTTPRoute{{Route: []*networkingv1alpha3.HTTPRouteDestination{dest("web", "stable", 100), dest("web", "canary", 0)}}}
	must(t, "create VirtualService", env.client.Create(ctx, vs))
	ro := routingRollout(t, ns, istioSubsetRolloutYAML)
	r := onlyRouter(t, ro)
	subsets, ok := r.(trafficrouting.SubsetUpdater)
	if !ok {
		t.Fatalf("the Istio router is not a SubsetUpdater")
	}

	must(t, "update subsets", subsets.UpdateSubsets(ctx, "c0ffee", "5ab1e"))
	mustGet(t, dr)
	if c, s := dr.Spec.Subsets[1].Labels, dr.Spec.Subsets[0].Labels; c["rollouts-pod-template-hash"] != "c0ffee" || s["rollouts-pod-template-hash"] != "5ab1e" || c["app"] != "web" {
		t.Fatalf("subset labels: canary %v, stable %v", c, s)
	}
	if dr.Annotations["argo-rollouts.argoproj.io/managed-by-rollouts"] != "web" {
		t.Errorf("DestinationRule annotations: %v", dr.Annotations)
	}
	unchangedBy(t, dr, "update subsets", func() error { return subsets.UpdateSubsets(ctx, "c0ffee", "5ab1e") })

	must(t, "set weight 40", r.SetWeight(ctx, routingWeights(40, 60)))
	mustGet(t, vs)
	if got := destWeights(vs.Spec.Http[0]); got != "web/stable=60,web/canary=40" {
		t.Fatalf("route after set weight 40: %s", got)
	}
	verified(t, r, routingWeights(40, 60), true)

	// Promotion: the stable subset takes the new hash, the canary subset is left without one.
	must(t, "update subsets after promotion", subsets.UpdateSubsets(ctx, "", "c0ffee"))
	mustGet(t, dr)
	if _, ok := dr.Spec.Subsets[1].Labels["rollouts-pod-template-hash"]; ok || dr.Spec.Subsets[0].Labels["rollouts-pod-template-hash"] != "c0ffee" {
		t.Fatalf("subset labels after promotion: %v", dr.Spec.Subsets)
	}
}

func TestRoutingIstioConfigErrors(t *testing.T) {
	ctx := routingContext(t)
	ns := newNamespace(t)

	r := onlyRouter(t, routingRollout(t, ns, istioSubsetRolloutYAML))
	err := r.SetWeight(ctx, routingWeights(10, 90))
	if want := fmt.Sprintf("DestinationRule %s/web not found", ns); !trafficrouting.IsConfigError(err) || !strings.Contains(err.Error(), want) {
		t.Fatalf("SetWeight without the DestinationRule: %v, want a ConfigError containing %q", err, want)
	}

	dr := &istionetworkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}}
	dr.Spec.Host = "web"
	dr.Spec.Subsets = []*networkingv1alpha3.Subset{{Name: "stable"}}
	must(t, "create DestinationRule", env.client.Create(ctx, dr))
	vs := &istionetworkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}}
	vs.Spec.Hosts = []string{"web"}
	vs.Spec.Http = []*networkingv1alpha3.HTTPRoute{{Route: []*networkingv1alpha3.HTTPRouteDestination{dest("web", "stable", 100), dest("web", "canary", 0)}}}
	must(t, "create VirtualService", env.client.Create(ctx, vs))

	unchangedBy(t, vs, "set weight with a missing subset", func() error {
		err := r.SetWeight(ctx, routingWeights(10, 90))
		if want := fmt.Sprintf(`DestinationRule %s/web has no subset "canary" (canarySubsetName)`, ns); !trafficrouting.IsConfigError(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("SetWeight with a missing subset: %v, want a ConfigError containing %q", err, want)
		}
		return nil
	})

	r = onlyRouter(t, routingRollout(t, ns, strings.Replace(istioHostRolloutYAML, "{name: web,", "{name: missing,", 1)))
	err = r.SetHeaderRoute(ctx, trafficrouting.HeaderRoute{Name: "canary-header", Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "x", HeaderValue: &v1alpha1.StringMatch{Exact: "y"}}}})
	if want := fmt.Sprintf("VirtualService %s/missing not found", ns); !trafficrouting.IsConfigError(err) || !strings.Contains(err.Error(), want) {
		t.Fatalf("SetHeaderRoute on a missing VirtualService: %v, want a ConfigError containing %q", err, want)
	}
}
