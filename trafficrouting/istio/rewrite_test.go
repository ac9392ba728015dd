package istio

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/trafficrouting"
	"github.com/sluice-dev/sluice/trafficrouting/internal/golden"
)

type vs = istionetworkingv1.VirtualService

var (
	hostTargets   = targets{namespace: "shop", canaryHost: "web-canary", stableHost: "web-stable"}
	subsetTargets = targets{namespace: "shop", canaryHost: "web-canary", stableHost: "web-stable", canarySubset: "canary", stableSubset: "stable", subsetHost: "web"}
	managed       = []string{"canary-header", "canary-mirror"}
	hostRef       = v1alpha1.IstioVirtualService{
		Name:      "web",
		Routes:    []string{"primary"},
		TLSRoutes: []v1alpha1.TLSRoute{{Port: 443, SNIHosts: []string{"shop.example.com"}}},
		TCPRoutes: []v1alpha1.TCPRoute{{Port: 5432}},
	}
	tlsOnlyRef = v1alpha1.IstioVirtualService{
		Name:      "web",
		Routes:    []string{"primary"},
		TLSRoutes: []v1alpha1.TLSRoute{{Port: 443, SNIHosts: []string{"shop.example.com"}}},
	}
	subsetRef = v1alpha1.IstioVirtualService{Name: "web"}
	drRef     = v1alpha1.IstioDestinationRule{Name: "web", CanarySubsetName: "canary", StableSubsetName: "stable"}

	xCanary    = v1alpha1.HeaderRoutingMatch{HeaderName: "X-Canary", HeaderValue: &v1alpha1.StringMatch{Exact: "true"}}
	xTenant    = v1alpha1.HeaderRoutingMatch{HeaderName: "x-tenant", HeaderValue: &v1alpha1.StringMatch{Prefix: "beta-"}}
	mirrorGets = v1alpha1.RouteMatch{
		Method:  &v1alpha1.StringMatch{Exact: "GET"},
		Path:    &v1alpha1.StringMatch{Regex: "/api/orders/.*"},
		Headers: map[string]v1alpha1.StringMatch{"X-Debug": {Exact: "1"}},
	}
)

func weights(canary, stable int32) trafficrouting.Weights {
	return trafficrouting.Weights{
		Canary: trafficrouting.WeightDestination{Weight: canary},
		Stable: trafficrouting.WeightDestination{Weight: stable},
	}
}

func int32p(v int32) *int32 { return &v }

func setW(ref v1alpha1.IstioVirtualService, t targets, w trafficrouting.Weights) func(*vs) (bool, error) {
	return func(v *vs) (bool, error) { return setVSWeights(v, ref, t, managed, w) }
}

func setHeader(name string, m ...v1alpha1.HeaderRoutingMatch) func(*vs) (bool, error) {
	return func(v *vs) (bool, error) {
		return setVSHeaderRoute(v, hostRef, hostTargets, managed, trafficrouting.HeaderRoute{Name: name, Match: m})
	}
}

func setMirror(name string, pct *int32, m ...v1alpha1.RouteMatch) func(*vs) (bool, error) {
	return func(v *vs) (bool, error) {
		return setVSMirrorRoute(v, hostRef, hostTargets, managed, trafficrouting.MirrorRoute{Name: name, Percentage: pct, Match: m})
	}
}

func removeManaged(v *vs) (bool, error) { return removeVSManagedRoutes(v, managed), nil }

func TestVirtualServiceWeights(t *testing.T) {
	t.Run("host-level: named http, tls and tcp routes", func(t *testing.T) {
		golden.Run(t, "vs-host.yaml", "vs-host-weights-20",
			golden.Changes(setW(hostRef, hostTargets, weights(20, 80))),
			golden.Unchanged(setW(hostRef, hostTargets, weights(20, 80))))
	})
	t.Run("host-level: maxTrafficWeight 1000", func(t *testing.T) {
		golden.Run(t, "vs-host.yaml", "vs-host-weights-max-1000", golden.Changes(setW(hostRef, hostTargets, weights(250, 750))))
	})
	t.Run("subset-level: the single unnamed http route", func(t *testing.T) {
		golden.Run(t, "vs-subset.yaml", "vs-subset-weights-60",
			golden.Changes(setW(subsetRef, subsetTargets, weights(60, 40))),
			golden.Unchanged(setW(subsetRef, subsetTargets, weights(60, 40))))
	})
	t.Run("TLS-only VirtualService: named http routes are skipped, the tls route is set", func(t *testing.T) {
		// Argo Rollouts skips http handling when the VirtualService has no http routes, so a
		// Rollout naming routes: [primary] next to tlsRoutes works against a TLS-only one.
		got := golden.Run(t, "vs-tls.yaml", "vs-tls-weights-30",
			golden.Changes(setW(tlsOnlyRef, hostTargets, weights(30, 70))),
			golden.Unchanged(setW(tlsOnlyRef, hostTargets, weights(30, 70))))
		if len(got.Spec.GetHttp()) != 0 {
			t.Errorf("the rewrite added http routes: %v", got.Spec.GetHttp())
		}
		if held, err := vsWeightsHeld(got, tlsOnlyRef, hostTargets, managed, weights(30, 70)); err != nil || !held {
			t.Errorf("held after set = %v, %v; want true, nil", held, err)
		}
	})
	t.Run("held", func(t *testing.T) {
		v := golden.Load[vs](t, "vs-host.yaml")
		if held, err := vsWeightsHeld(v, hostRef, hostTargets, managed, weights(20, 80)); err != nil || held {
			t.Fatalf("held before set = %v, %v; want false, nil", held, err)
		}
		if _, err := setVSWeights(v, hostRef, hostTargets, managed, weights(20, 80)); err != nil {
			t.Fatal(err)
		}
		if held, err := vsWeightsHeld(v, hostRef, hostTargets, managed, weights(20, 80)); err != nil || !held {
			t.Fatalf("held after set = %v, %v; want true, nil", held, err)
		}
	})
}

func TestVirtualServiceManagedRoutes(t *testing.T) {
	t.Run("header route first, with the named route's matches", func(t *testing.T) {
		golden.Run(t, "vs-host.yaml", "vs-header-insert",
			golden.Changes(setHeader("canary-header", xCanary, xTenant)),
			golden.Unchanged(setHeader("canary-header", xCanary, xTenant)))
	})
	t.Run("mirror route with the named route's destinations", func(t *testing.T) {
		golden.Run(t, "vs-host.yaml", "vs-mirror-insert",
			golden.Changes(setMirror("canary-mirror", int32p(30), mirrorGets)),
			golden.Unchanged(setMirror("canary-mirror", int32p(30), mirrorGets)))
	})
	t.Run("managedRoutes order whatever the call order; weights reach the mirror route", func(t *testing.T) {
		golden.Run(t, "vs-host.yaml", "vs-header-and-mirror",
			golden.Changes(setMirror("canary-mirror", nil, mirrorGets)),
			golden.Changes(setHeader("canary-header", xCanary)),
			golden.Changes(setW(hostRef, hostTargets, weights(40, 60))))
	})
	t.Run("header route removed, mirror route stays", func(t *testing.T) {
		golden.Run(t, "vs-host.yaml", "vs-header-removed",
			golden.Changes(setMirror("canary-mirror", nil, mirrorGets)),
			golden.Changes(setHeader("canary-header", xCanary)),
			golden.Changes(setHeader("canary-header")),
			golden.Unchanged(setHeader("canary-header")))
	})
	t.Run("remove managed routes restores the VirtualService", func(t *testing.T) {
		got := golden.Run(t, "vs-host.yaml", "vs-managed-removed",
			golden.Changes(setMirror("canary-mirror", int32p(5), mirrorGets)),
			golden.Changes(setHeader("canary-header", xCanary)),
			golden.Changes(removeManaged),
			golden.Unchanged(removeManaged))
		if want := golden.Load[vs](t, "vs-host.yaml"); !proto.Equal(&got.Spec, &want.Spec) {
			t.Errorf("VirtualService after removing managed routes differs from the original")
		}
	})
	t.Run("subset-level header route goes to the canary subset", func(t *testing.T) {
		golden.Run(t, "vs-subset.yaml", "vs-subset-header",
			golden.Changes(func(v *vs) (bool, error) {
				return setVSHeaderRoute(v, subsetRef, subsetTargets, managed, trafficrouting.HeaderRoute{Name: "canary-header", Match: []v1alpha1.HeaderRoutingMatch{xCanary}})
			}))
	})
}

func TestDestinationRuleSubsets(t *testing.T) {
	type dr = istionetworkingv1.DestinationRule
	set := func(canary, stable string) func(*dr) (bool, error) {
		return func(d *dr) (bool, error) { return setSubsetHashes(d, drRef, "web", canary, stable) }
	}
	golden.Run(t, "dr.yaml", "dr-hashes",
		golden.Changes(set("abc123", "def456")), golden.Unchanged(set("abc123", "def456")))
	golden.Run(t, "dr.yaml", "dr-canary-hash-removed",
		golden.Changes(set("abc123", "def456")), golden.Changes(set("", "def456")), golden.Unchanged(set("", "def456")))
}

func TestIstioConfigErrors(t *testing.T) {
	cases := []struct {
		name, in string
		do       func(*vs) (bool, error)
		want     string
	}{
		{"route name not in the VirtualService", "vs-host.yaml",
			setW(v1alpha1.IstioVirtualService{Name: "web", Routes: []string{"nope"}}, hostTargets, weights(1, 99)),
			`VirtualService shop/web has no http route named "nope"`},
		{"no route names and two http routes", "vs-host.yaml",
			setW(v1alpha1.IstioVirtualService{Name: "web"}, hostTargets, weights(1, 99)),
			`VirtualService shop/web has 2 http routes: name the ones to change in virtualService.routes`},
		{"named route without the canary", "vs-host.yaml",
			setW(v1alpha1.IstioVirtualService{Name: "web", Routes: []string{"static"}}, hostTargets, weights(1, 99)),
			`http route "static" of VirtualService shop/web has no destination for the canary Service "web-canary"`},
		{"tls route not found", "vs-host.yaml",
			setW(v1alpha1.IstioVirtualService{Name: "web", Routes: []string{"primary"}, TLSRoutes: []v1alpha1.TLSRoute{{Port: 443}}}, hostTargets, weights(1, 99)),
			`VirtualService shop/web has no tls route for port 443 and sniHosts []`},
		{"tcp route to another Service", "vs-host.yaml",
			setW(v1alpha1.IstioVirtualService{Name: "web", Routes: []string{"primary"}, TCPRoutes: []v1alpha1.TCPRoute{{Port: 6379}}}, hostTargets, weights(1, 99)),
			`tcp route 1 of VirtualService shop/web has no destination for the canary Service "web-canary"`},
		{"host-level rollout against subset destinations", "vs-subset.yaml",
			setW(subsetRef, hostTargets, weights(1, 99)),
			`has no destination for the canary Service "web-canary"`},
		{"subset-level with a missing subset", "vs-subset.yaml",
			setW(subsetRef, targets{namespace: "shop", canarySubset: "preview", stableSubset: "stable", subsetHost: "web"}, weights(1, 99)),
			`has no destination for the canary subset "preview"`},
		{"TLS-only VirtualService with only http routes named", "vs-tls.yaml",
			setW(v1alpha1.IstioVirtualService{Name: "web", Routes: []string{"primary"}}, hostTargets, weights(1, 99)),
			`VirtualService shop/web has no http route named "primary"`},
		{"TLS-only VirtualService and a header route", "vs-tls.yaml",
			func(v *vs) (bool, error) {
				return setVSHeaderRoute(v, tlsOnlyRef, hostTargets, managed, trafficrouting.HeaderRoute{Name: "canary-header", Match: []v1alpha1.HeaderRoutingMatch{xCanary}})
			},
			`VirtualService shop/web has no http route to add header and mirror routes to`},
		{"header route not in managedRoutes", "vs-host.yaml", setHeader("mine", xCanary),
			`setHeaderRoute "mine" is not listed in trafficRouting.managedRoutes`},
		{"mirror match with two kinds", "vs-host.yaml",
			setMirror("canary-mirror", nil, v1alpha1.RouteMatch{Path: &v1alpha1.StringMatch{Exact: "/", Prefix: "/"}}),
			`match[0].path: exactly one of exact, prefix and regex must be set`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := golden.Load[vs](t, c.in)
			before := v.DeepCopy()
			_, err := c.do(v)
			if !trafficrouting.IsConfigError(err) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want a ConfigError containing %q", err, c.want)
			}
			if !proto.Equal(&v.Spec, &before.Spec) {
				t.Errorf("a failed rewrite changed the VirtualService")
			}
		})
	}
	t.Run("DestinationRule without the stable subset", func(t *testing.T) {
		d := golden.Load[istionetworkingv1.DestinationRule](t, "dr.yaml")
		_, err := setSubsetHashes(d, v1alpha1.IstioDestinationRule{Name: "web", CanarySubsetName: "canary", StableSubsetName: "main"}, "web", "a", "b")
		if !trafficrouting.IsConfigError(err) || !strings.Contains(err.Error(), `DestinationRule shop/web has no subset "main" (stableSubsetName)`) {
			t.Fatalf("error = %v", err)
		}
	})
}

// A VirtualService of another namespace resolves a short host in its own namespace: it names that
// namespace's Service, so a rollout must not take it for its own (it would re-weight the other
// team's traffic). Qualified hosts still match.
func TestVirtualServiceOfAnotherNamespace(t *testing.T) {
	ref := v1alpha1.IstioVirtualService{Name: "web.storefront", Routes: []string{"primary"}}
	otherTeam := func(hosts ...string) *vs {
		v := golden.Load[vs](t, "vs-host.yaml")
		v.Namespace = "storefront"
		dests := v.Spec.Http[0].Route
		for i, h := range hosts {
			dests[i].Destination.Host = h
		}
		return v
	}

	t.Run("short hosts are refused", func(t *testing.T) {
		v := otherTeam("web-stable", "web-canary")
		before := v.DeepCopy()
		_, err := setVSWeights(v, ref, hostTargets, managed, weights(30, 70))
		if !trafficrouting.IsConfigError(err) || !strings.Contains(err.Error(), `has no destination for the canary Service "web-canary" (a VirtualService outside namespace shop must name it web-canary.shop`) {
			t.Fatalf("error = %v, want a ConfigError naming the qualified host", err)
		}
		if !proto.Equal(&v.Spec, &before.Spec) {
			t.Errorf("a refused rewrite changed the VirtualService")
		}
		if _, err := vsWeightsHeld(v, ref, hostTargets, managed, weights(30, 70)); !trafficrouting.IsConfigError(err) {
			t.Errorf("verify on short hosts: error = %v, want a ConfigError", err)
		}
		_, err = setVSHeaderRoute(v, ref, hostTargets, managed, trafficrouting.HeaderRoute{Name: "canary-header", Match: []v1alpha1.HeaderRoutingMatch{xCanary}})
		if !trafficrouting.IsConfigError(err) {
			t.Errorf("header route on short hosts: error = %v, want a ConfigError", err)
		}
	})

	t.Run("a short stable host is not the rollout's even when the canary is qualified", func(t *testing.T) {
		v := otherTeam("web-stable", "web-canary.shop")
		if _, err := setVSWeights(v, ref, hostTargets, managed, weights(30, 70)); !trafficrouting.IsConfigError(err) ||
			!strings.Contains(err.Error(), `stable Service "web-stable"`) {
			t.Fatalf("error = %v, want a ConfigError about the stable Service", err)
		}
	})

	t.Run("qualified hosts are the rollout's", func(t *testing.T) {
		v := otherTeam("web-stable.shop", "web-canary.shop.svc.cluster.local")
		changed, err := setVSWeights(v, ref, hostTargets, managed, weights(30, 70))
		if err != nil || !changed {
			t.Fatalf("setVSWeights = %v, %v; want true, nil", changed, err)
		}
		got := v.Spec.Http[0].Route
		if got[0].Weight != 70 || got[1].Weight != 30 || got[2].Weight != 10 {
			t.Errorf("weights = %d/%d/%d, want stable 70, canary 30, the other Service's 10 untouched", got[0].Weight, got[1].Weight, got[2].Weight)
		}
		if held, err := vsWeightsHeld(v, ref, hostTargets, managed, weights(30, 70)); err != nil || !held {
			t.Errorf("held after set = %v, %v; want true, nil", held, err)
		}
	})

	t.Run("short hosts stay valid in the rollout's own namespace", func(t *testing.T) {
		v := golden.Load[vs](t, "vs-host.yaml")
		if _, err := setVSWeights(v, v1alpha1.IstioVirtualService{Name: "web", Routes: []string{"primary"}}, hostTargets, managed, weights(30, 70)); err != nil {
			t.Fatalf("setVSWeights in the rollout's namespace: %v", err)
		}
	})
}

// Subset-level, a subset name is the rollout's DestinationRule's subset only on a destination to
// the rule's host, read as Istio reads it: a short host in another namespace's VirtualService is
// that namespace's Service (its subsets are another rule's, whatever their names), and another
// host's subsets are never the rollout's.
func TestSubsetsOfAnotherHost(t *testing.T) {
	ref := v1alpha1.IstioVirtualService{Name: "web.storefront"}
	otherTeam := func(host string) *vs {
		v := golden.Load[vs](t, "vs-subset.yaml")
		v.Namespace = "storefront"
		for _, d := range v.Spec.Http[0].Route {
			d.Destination.Host = host
		}
		return v
	}

	t.Run("short hosts in another namespace's VirtualService are refused", func(t *testing.T) {
		v := otherTeam("web")
		before := v.DeepCopy()
		_, err := setVSWeights(v, ref, subsetTargets, managed, weights(30, 70))
		if !trafficrouting.IsConfigError(err) || !strings.Contains(err.Error(),
			`has no destination for the canary subset "canary" of host "web" (the DestinationRule's host in namespace shop; a VirtualService outside it must name it web.shop`) {
			t.Fatalf("error = %v, want a ConfigError naming the qualified host", err)
		}
		if !proto.Equal(&v.Spec, &before.Spec) {
			t.Errorf("a refused rewrite changed the VirtualService")
		}
		if _, err := vsWeightsHeld(v, ref, subsetTargets, managed, weights(30, 70)); !trafficrouting.IsConfigError(err) {
			t.Errorf("verify on short hosts: error = %v, want a ConfigError", err)
		}
		_, err = setVSHeaderRoute(v, ref, subsetTargets, managed, trafficrouting.HeaderRoute{Name: "canary-header", Match: []v1alpha1.HeaderRoutingMatch{xCanary}})
		if !trafficrouting.IsConfigError(err) {
			t.Errorf("header route on short hosts: error = %v, want a ConfigError", err)
		}
	})

	for _, host := range []string{"web.shop", "web.shop.svc", "web.shop.svc.cluster.local"} {
		t.Run("qualified host "+host+" is the rollout's", func(t *testing.T) {
			v := otherTeam(host)
			if changed, err := setVSWeights(v, ref, subsetTargets, managed, weights(30, 70)); err != nil || !changed {
				t.Fatalf("setVSWeights = %v, %v; want true, nil", changed, err)
			}
			if got := v.Spec.Http[0].Route; got[0].Weight != 70 || got[1].Weight != 30 {
				t.Errorf("weights = stable %d, canary %d; want 70, 30", got[0].Weight, got[1].Weight)
			}
		})
	}

	t.Run("a qualified rule host matches short destinations in the rollout's namespace", func(t *testing.T) {
		v := golden.Load[vs](t, "vs-subset.yaml")
		fq := subsetTargets
		fq.subsetHost = "web.shop.svc.cluster.local"
		if _, err := setVSWeights(v, subsetRef, fq, managed, weights(30, 70)); err != nil {
			t.Fatalf("setVSWeights: %v", err)
		}
	})

	t.Run("same-named subsets of another host keep their weight", func(t *testing.T) {
		v := golden.Load[vs](t, "vs-subset.yaml")
		r := v.Spec.Http[0]
		other := proto.Clone(r.Route[1]).(*networkingv1alpha3.HTTPRouteDestination)
		other.Destination.Host, other.Weight = "payments", 5
		r.Route = append(r.Route, other)
		if _, err := setVSWeights(v, subsetRef, subsetTargets, managed, weights(30, 70)); err != nil {
			t.Fatalf("setVSWeights: %v", err)
		}
		if got := r.Route; got[0].Weight != 70 || got[1].Weight != 30 || got[2].Weight != 5 {
			t.Errorf("weights = %d/%d/%d, want web/stable 70, web/canary 30, payments/canary 5 untouched", got[0].Weight, got[1].Weight, got[2].Weight)
		}
	})
}
