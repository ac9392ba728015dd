package apply

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	rov1 "github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// httpRoute is an HTTPRoute web in namespace ns with the given rules (YAML flow list).
func httpRoute(ns, rules string) string {
	return `{apiVersion: gateway.networking.k8s.io/v1, kind: HTTPRoute, metadata: {name: web, namespace: ` + ns + `},
  spec: {parentRefs: [{name: gw}], rules: ` + rules + `}}`
}

// virtualService is a VirtualService web-vs in namespace ns with the given spec (YAML flow map body).
func virtualService(ns, spec string) string {
	return `{apiVersion: networking.istio.io/v1, kind: VirtualService, metadata: {name: web-vs, namespace: ` + ns + `}, spec: {hosts: [web], ` + spec + `}}`
}

// valueAt reads a dotted path with list indexes ("spec.rules[0].backendRefs[1].weight").
func valueAt(obj map[string]any, p string) (any, bool) {
	var node any = obj
	for _, part := range strings.Split(p, ".") {
		name, rest, _ := strings.Cut(part, "[")
		m, ok := node.(map[string]any)
		if !ok {
			return nil, false
		}
		if node, ok = m[name]; !ok {
			return nil, false
		}
		for rest != "" {
			idx, after, _ := strings.Cut(rest, "]")
			i, err := strconv.Atoi(idx)
			list, ok := node.([]any)
			if err != nil || !ok || i >= len(list) {
				return nil, false
			}
			node, rest = list[i], strings.TrimPrefix(after, "[")
		}
	}
	return node, true
}

// absent is the expected value of a field ForApply must leave out.
type absentField struct{}

var absent = absentField{}

func checkFields(t *testing.T, name string, o *unstructured.Unstructured, want map[string]any) {
	t.Helper()
	for p, w := range want {
		got, ok := valueAt(o.Object, p)
		switch {
		case w == absent:
			if ok {
				t.Errorf("%s: %s = %v, want it left out", name, p, got)
			}
		case !ok:
			t.Errorf("%s: %s is missing, want %v", name, p, w)
		default:
			if !scalarEqual("", w, got) && !reflect.DeepEqual(w, got) {
				t.Errorf("%s: %s = %v, want %v", name, p, got, w)
			}
		}
	}
}

// Server-side apply replaces an atomic value whole, so an owned leaf Git leaves out of one it sets
// must be carried over from live, or the apply takes it from the rollout controller.
func TestForApplyFillsOwnedFieldsInAtomicValues(t *testing.T) {
	withRollout := &Comparer{Others: NewOthers([]*rov1.Rollout{rollout(t, canaryRollout)}, nil)}
	hpa := obj(t, `{apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, metadata: {name: web, namespace: shop},
  spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}, maxReplicas: 5}}`)
	withHPA := &Comparer{Others: NewOthers(nil, []*unstructured.Unstructured{hpa})}
	for _, tc := range []struct {
		name          string
		cmp           *Comparer
		desired, live string
		want          map[string]any
		liveDrift     string // what Drift finds in live before the apply: never an owned field
	}{
		{"a Service selector Git sets without the hash key", &Comparer{},
			`{apiVersion: v1, kind: Service, metadata: {name: web-stable, namespace: shop}, spec: {selector: {app: web}, ports: [{port: 80}]}}`,
			`{apiVersion: v1, kind: Service, metadata: {name: web-stable, namespace: shop}, spec: {selector: {app: web, rollouts-pod-template-hash: abc},
  ports: [{port: 80, protocol: TCP}]}}`,
			map[string]any{"spec.selector.app": "web", "spec.selector.rollouts-pod-template-hash": "abc"}, ""},
		{"a Service Git gives no selector", &Comparer{},
			`{apiVersion: v1, kind: Service, metadata: {name: web-stable, namespace: shop}, spec: {ports: [{port: 80}]}}`,
			`{apiVersion: v1, kind: Service, metadata: {name: web-stable, namespace: shop}, spec: {selector: {app: web, rollouts-pod-template-hash: abc}, ports: [{port: 80}]}}`,
			map[string]any{"spec.selector": absent}, ""},
		{"route backendRefs Git sets without weights", withRollout,
			httpRoute("shop", `[{backendRefs: [{name: web-stable, port: 80}, {name: web-canary, port: 80}]}]`),
			httpRoute("shop", `[{matches: [{path: {type: PathPrefix, value: /}}], backendRefs: [
  {group: "", kind: Service, name: web-stable, port: 80, weight: 80}, {group: "", kind: Service, name: web-canary, port: 80, weight: 20}]}]`),
			map[string]any{"spec.rules[0].backendRefs[0].weight": 80, "spec.rules[0].backendRefs[1].weight": 20}, ""},
		{"a route Git gives no rules", withRollout,
			`{apiVersion: gateway.networking.k8s.io/v1, kind: HTTPRoute, metadata: {name: web, namespace: shop}, spec: {parentRefs: [{name: gw}]}}`,
			httpRoute("shop", `[{backendRefs: [{name: web-stable, port: 80, weight: 80}, {name: web-canary, port: 80, weight: 20}]}]`),
			map[string]any{"spec.rules": absent}, ""},
		{"VirtualService destinations Git sets without weights", withRollout,
			virtualService("shop", `http: [{name: primary, route: [{destination: {host: web-stable}}, {destination: {host: web-canary}}]}]`),
			virtualService("shop", `http: [{name: primary, route: [{destination: {host: web-stable}, weight: 60}, {destination: {host: web-canary}, weight: 40}]}]`),
			map[string]any{"spec.http[0].route[0].weight": 60, "spec.http[0].route[1].weight": 40}, ""},
		{"DestinationRule subsets without the hash label, paired by name", &Comparer{},
			`{apiVersion: networking.istio.io/v1, kind: DestinationRule, metadata: {name: web-dr, namespace: shop}, spec: {host: web,
  subsets: [{name: stable, labels: {app: web}}, {name: canary}]}}`,
			`{apiVersion: networking.istio.io/v1, kind: DestinationRule, metadata: {name: web-dr, namespace: shop}, spec: {host: web,
  subsets: [{name: canary, labels: {app: web, rollouts-pod-template-hash: def}}, {name: stable, labels: {app: web, rollouts-pod-template-hash: abc}}]}}`,
			map[string]any{"spec.subsets[0].labels.rollouts-pod-template-hash": "abc", "spec.subsets[0].labels.app": "web",
				"spec.subsets[1].labels.rollouts-pod-template-hash": "def", "spec.subsets[1].labels.app": absent},
			"spec.subsets[0].name,spec.subsets[1].name"}, // the order is Git's, and the apply restores it
		{"replicas Git leaves out of a Deployment an HPA scales (spec is not atomic)", withHPA,
			`{apiVersion: apps/v1, kind: Deployment, metadata: {name: web, namespace: shop}, spec: {template: {spec: {containers: [{name: web, image: "web:1"}]}}}}`,
			`{apiVersion: apps/v1, kind: Deployment, metadata: {name: web, namespace: shop}, spec: {replicas: 4, template: {spec: {containers: [{name: web, image: "web:1"}]}}}}`,
			map[string]any{"spec.replicas": absent}, ""},
	} {
		desired, live := obj(t, tc.desired), obj(t, tc.live)
		applied := tc.cmp.ForApply(desired, live)
		checkFields(t, tc.name, applied, tc.want)
		if _, f := tc.cmp.Drift(live, desired); strings.Join(f, ",") != tc.liveDrift {
			t.Errorf("%s: live drifts in %v, want %q (an owned field Git leaves out is no drift)", tc.name, f, tc.liveDrift)
		}
		if d, f := tc.cmp.Drift(applied, desired); d {
			t.Errorf("%s: the applied object drifts: %v", tc.name, f)
		}
		if !reflect.DeepEqual(desired.Object, obj(t, tc.desired).Object) {
			t.Errorf("%s: ForApply modified desired", tc.name)
		}
	}
}

// gatewayRollout shifts the HTTPRoute web in namespace shop between web-canary and web-stable.
const gatewayRollout = `{metadata: {name: web, namespace: shop}, spec: {strategy: {canary: {canaryService: web-canary, stableService: web-stable,
  trafficRouting: {plugins: {"argoproj-labs/gatewayAPI": {httpRoute: web}}}}}}}`

// The rollout controller owns the weights of the backends to its canary and stable Services in the
// rules that split between them, and no other weight.
func TestDriftOwnsOnlyTheRolloutsBackendWeights(t *testing.T) {
	// Git: a rule splitting web between stable, canary and a third Service, a rule to another
	// Service, a rule to the stable Service alone.
	rules := func(stable, canary, mirror, static, admin string, mirrorNS string) string {
		return `[{matches: [{path: {type: PathPrefix, value: /}}], backendRefs: [{name: web-stable, port: 80, weight: ` + stable + `},
    {name: web-canary, port: 80, weight: ` + canary + `}, {name: web-mirror, ` + mirrorNS + `port: 80, weight: ` + mirror + `}]},
  {matches: [{path: {type: PathPrefix, value: /static}}], backendRefs: [{name: static, port: 80, weight: ` + static + `}]},
  {matches: [{path: {type: PathPrefix, value: /admin}}], backendRefs: [{name: web-stable, port: 80, weight: ` + admin + `}]}]`
	}
	desired := httpRoute("shop", rules("100", "0", "0", "1", "1", ""))
	for _, tc := range []struct {
		name     string
		rollouts []string
		desired  string
		live     string
		fields   string // the drifted fields, "" for none
	}{
		{"the canary and stable weights the rollout set", []string{gatewayRollout}, desired,
			httpRoute("shop", rules("80", "20", "0", "1", "1", "")), ""},
		{"a third Service's weight in the split rule", []string{gatewayRollout}, desired,
			httpRoute("shop", rules("80", "20", "5", "1", "1", "")), "spec.rules[0].backendRefs[2].weight"},
		{"another rule's weight", []string{gatewayRollout}, desired,
			httpRoute("shop", rules("100", "0", "0", "3", "1", "")), "spec.rules[1].backendRefs[0].weight"},
		{"a rule to the stable Service alone (the router leaves it)", []string{gatewayRollout}, desired,
			httpRoute("shop", rules("100", "0", "0", "1", "7", "")), "spec.rules[2].backendRefs[0].weight"},
		{"a backend of the canary's name in another namespace", []string{gatewayRollout},
			httpRoute("shop", `[{backendRefs: [{name: web-stable, port: 80, weight: 100}, {name: web-canary, port: 80, weight: 0}, {name: web-canary, namespace: other, port: 80, weight: 0}]}]`),
			httpRoute("shop", `[{backendRefs: [{name: web-stable, port: 80, weight: 50}, {name: web-canary, port: 80, weight: 50}, {name: web-canary, namespace: other, port: 80, weight: 9}]}]`),
			"spec.rules[0].backendRefs[2].weight"},
		{"a backend of another kind", []string{gatewayRollout},
			httpRoute("shop", `[{backendRefs: [{name: web-stable, port: 80, weight: 100}, {name: web-canary, port: 80, weight: 0}, {group: example.com, kind: Bucket, name: web-canary, weight: 0}]}]`),
			httpRoute("shop", `[{backendRefs: [{name: web-stable, port: 80, weight: 50}, {name: web-canary, port: 80, weight: 50}, {group: example.com, kind: Bucket, name: web-canary, weight: 9}]}]`),
			"spec.rules[0].backendRefs[2].weight"},
		{"a route in another namespace references the Services with their namespace",
			[]string{`{metadata: {name: web, namespace: shop}, spec: {strategy: {canary: {canaryService: web-canary, stableService: web-stable,
  trafficRouting: {plugins: {"argoproj-labs/gatewayAPI": {httpRoute: web, namespace: edge}}}}}}}`},
			httpRoute("edge", `[{backendRefs: [{name: web-stable, namespace: shop, port: 80, weight: 100}, {name: web-canary, namespace: shop, port: 80, weight: 0},
  {name: web-canary, port: 80, weight: 0}]}]`),
			httpRoute("edge", `[{backendRefs: [{name: web-stable, namespace: shop, port: 80, weight: 70}, {name: web-canary, namespace: shop, port: 80, weight: 30},
  {name: web-canary, port: 80, weight: 30}]}]`),
			"spec.rules[0].backendRefs[2].weight"},
		{"two Rollouts share a route, each with its Services",
			[]string{gatewayRollout, `{metadata: {name: api, namespace: shop}, spec: {strategy: {canary: {canaryService: api-canary, stableService: api-stable,
  trafficRouting: {plugins: {"argoproj-labs/gatewayAPI": {httpRoute: web}}}}}}}`},
			httpRoute("shop", `[{backendRefs: [{name: web-stable, port: 80, weight: 100}, {name: web-canary, port: 80, weight: 0}]},
  {matches: [{path: {value: /api}}], backendRefs: [{name: api-stable, port: 80, weight: 100}, {name: api-canary, port: 80, weight: 0}]}]`),
			httpRoute("shop", `[{backendRefs: [{name: web-stable, port: 80, weight: 90}, {name: web-canary, port: 80, weight: 10}]},
  {matches: [{path: {value: /api}}], backendRefs: [{name: api-stable, port: 80, weight: 40}, {name: api-canary, port: 80, weight: 60}]}]`),
			""},
	} {
		var ros []*rov1.Rollout
		for _, doc := range tc.rollouts {
			ros = append(ros, rollout(t, doc))
		}
		cmp := &Comparer{Others: NewOthers(ros, nil)}
		_, fields := cmp.Drift(obj(t, tc.live), obj(t, tc.desired))
		if got := strings.Join(fields, ","); got != tc.fields {
			t.Errorf("%s: drifted %q, want %q", tc.name, got, tc.fields)
		}
	}
}

// ForApply carries the live weight of each canary and stable backend into the backend of Git that
// names the same Service, whatever the order, and leaves every other weight as Git says.
func TestForApplyPairsBackendsByService(t *testing.T) {
	cmp := &Comparer{Others: NewOthers([]*rov1.Rollout{rollout(t, gatewayRollout)}, nil)}
	live := obj(t, httpRoute("shop", `[{matches: [{path: {type: PathPrefix, value: /}}], backendRefs: [
    {group: "", kind: Service, name: web-stable, port: 80, weight: 80}, {group: "", kind: Service, name: web-canary, port: 80, weight: 20},
    {group: "", kind: Service, name: web-mirror, port: 80, weight: 5}]},
  {matches: [{path: {type: PathPrefix, value: /static}}], backendRefs: [{group: "", kind: Service, name: static, port: 80, weight: 3}]}]`))
	for _, tc := range []struct {
		name    string
		desired string
		want    map[string]any
	}{
		{"backends in another order", httpRoute("shop", `[{matches: [{path: {type: PathPrefix, value: /}}], backendRefs: [
    {name: web-canary, port: 80, weight: 0}, {name: web-mirror, port: 80, weight: 0}, {name: web-stable, port: 80, weight: 100}]},
  {matches: [{path: {type: PathPrefix, value: /static}}], backendRefs: [{name: static, port: 80, weight: 1}]}]`),
			map[string]any{"spec.rules[0].backendRefs[0].weight": 20, "spec.rules[0].backendRefs[1].weight": 0,
				"spec.rules[0].backendRefs[2].weight": 80, "spec.rules[1].backendRefs[0].weight": 1}},
		{"a rule Git adds before the split rule", httpRoute("shop", `[{matches: [{path: {type: PathPrefix, value: /static}}], backendRefs: [{name: static, port: 80, weight: 1}]},
  {matches: [{path: {type: PathPrefix, value: /}}], backendRefs: [{name: web-stable, port: 80, weight: 100}, {name: web-canary, port: 80, weight: 0}]}]`),
			map[string]any{"spec.rules[0].backendRefs[0].weight": 1, "spec.rules[1].backendRefs[0].weight": 80, "spec.rules[1].backendRefs[1].weight": 20}},
	} {
		checkFields(t, tc.name, cmp.ForApply(obj(t, tc.desired), live), tc.want)
	}
}

// istioRollout shifts the http route primary of web-vs (host-level), its tls route on 443 for
// web.example.com and its tcp route on 5432.
const istioRollout = `{metadata: {name: web, namespace: shop}, spec: {strategy: {canary: {canaryService: web-canary, stableService: web-stable,
  trafficRouting: {istio: {virtualService: {name: web-vs, routes: [primary], tlsRoutes: [{port: 443, sniHosts: [web.example.com]}], tcpRoutes: [{port: 5432}]}}}}}}}`

// On a VirtualService the rollout controller owns the weights of the canary and stable destinations
// of the routes its Rollout names, and no other weight.
func TestDriftOwnsOnlyTheRolloutsDestinationWeights(t *testing.T) {
	split := func(stable, canary string) string {
		return `[{destination: {host: web-stable}, weight: ` + stable + `}, {destination: {host: web-canary}, weight: ` + canary + `}]`
	}
	for _, tc := range []struct {
		name          string
		rollout       string
		desired, live string
		fields        string
	}{
		{"the named http route", istioRollout,
			virtualService("shop", `http: [{name: primary, route: `+split("100", "0")+`}]`),
			virtualService("shop", `http: [{name: primary, route: `+split("70", "30")+`}]`), ""},
		{"an http route the Rollout does not name", istioRollout,
			virtualService("shop", `http: [{name: primary, route: `+split("100", "0")+`}, {name: other, route: `+split("100", "0")+`}]`),
			virtualService("shop", `http: [{name: primary, route: `+split("70", "30")+`}, {name: other, route: `+split("70", "30")+`}]`),
			"spec.http[1].route[0].weight,spec.http[1].route[1].weight"},
		{"a third host in the named route", istioRollout,
			virtualService("shop", `http: [{name: primary, route: [{destination: {host: web-stable}, weight: 90}, {destination: {host: web-canary}, weight: 0}, {destination: {host: legacy}, weight: 10}]}]`),
			virtualService("shop", `http: [{name: primary, route: [{destination: {host: web-stable}, weight: 50}, {destination: {host: web-canary}, weight: 40}, {destination: {host: legacy}, weight: 10}]}]`),
			""},
		{"a third host's weight changed", istioRollout,
			virtualService("shop", `http: [{name: primary, route: [{destination: {host: web-stable}, weight: 90}, {destination: {host: web-canary}, weight: 0}, {destination: {host: legacy}, weight: 10}]}]`),
			virtualService("shop", `http: [{name: primary, route: [{destination: {host: web-stable}, weight: 40}, {destination: {host: web-canary}, weight: 40}, {destination: {host: legacy}, weight: 20}]}]`),
			"spec.http[0].route[2].weight"},
		{"hosts written as FQDNs", istioRollout,
			virtualService("shop", `http: [{name: primary, route: [{destination: {host: web-stable.shop.svc.cluster.local}, weight: 100}, {destination: {host: web-canary.shop.svc.cluster.local}, weight: 0},
  {destination: {host: web-canary.other.svc.cluster.local}, weight: 0}]}]`),
			virtualService("shop", `http: [{name: primary, route: [{destination: {host: web-stable.shop.svc.cluster.local}, weight: 60}, {destination: {host: web-canary.shop.svc.cluster.local}, weight: 40},
  {destination: {host: web-canary.other.svc.cluster.local}, weight: 5}]}]`),
			"spec.http[0].route[2].weight"},
		{"the selected tls route and another", istioRollout,
			virtualService("shop", `tls: [{match: [{port: 443, sniHosts: [web.example.com]}], route: `+split("100", "0")+`}, {match: [{port: 443, sniHosts: [other.example.com]}], route: `+split("100", "0")+`}]`),
			virtualService("shop", `tls: [{match: [{port: 443, sniHosts: [web.example.com]}], route: `+split("50", "50")+`}, {match: [{port: 443, sniHosts: [other.example.com]}], route: `+split("50", "50")+`}]`),
			"spec.tls[1].route[0].weight,spec.tls[1].route[1].weight"},
		{"the selected tcp route and another", istioRollout,
			virtualService("shop", `tcp: [{match: [{port: 5432}], route: `+split("100", "0")+`}, {match: [{port: 6379}], route: `+split("100", "0")+`}]`),
			virtualService("shop", `tcp: [{match: [{port: 5432}], route: `+split("50", "50")+`}, {match: [{port: 6379}], route: `+split("50", "50")+`}]`),
			"spec.tcp[1].route[0].weight,spec.tcp[1].route[1].weight"},
		{"no routes named: every http route", `{metadata: {name: web, namespace: shop}, spec: {strategy: {canary: {canaryService: web-canary, stableService: web-stable,
  trafficRouting: {istio: {virtualServices: [{name: web-vs.mesh}]}}}}}}`,
			virtualService("mesh", `http: [{name: a, route: `+split("100", "0")+`}, {route: `+split("100", "0")+`}]`),
			virtualService("mesh", `http: [{name: a, route: `+split("70", "30")+`}, {route: `+split("70", "30")+`}]`), ""},
		{"subset-level routing tells the sides apart by subset", `{metadata: {name: web, namespace: shop}, spec: {strategy: {canary: {
  trafficRouting: {istio: {virtualService: {name: web-vs}, destinationRule: {name: web-dr, canarySubsetName: canary, stableSubsetName: stable}}}}}}}`,
			virtualService("shop", `http: [{route: [{destination: {host: web, subset: stable}, weight: 100}, {destination: {host: web, subset: canary}, weight: 0}, {destination: {host: web-canary}, weight: 0}]}]`),
			virtualService("shop", `http: [{route: [{destination: {host: web, subset: stable}, weight: 75}, {destination: {host: web, subset: canary}, weight: 25}, {destination: {host: web-canary}, weight: 5}]}]`),
			"spec.http[0].route[2].weight"},
	} {
		cmp := &Comparer{Others: NewOthers([]*rov1.Rollout{rollout(t, tc.rollout)}, nil)}
		_, fields := cmp.Drift(obj(t, tc.live), obj(t, tc.desired))
		if got := strings.Join(fields, ","); got != tc.fields {
			t.Errorf("%s: drifted %q, want %q", tc.name, got, tc.fields)
		}
	}
}

func TestForApplyPairsDestinationsBySide(t *testing.T) {
	cmp := &Comparer{Others: NewOthers([]*rov1.Rollout{rollout(t, istioRollout)}, nil)}
	live := obj(t, virtualService("shop", `http: [{name: primary, route: [{destination: {host: web-stable}, weight: 60}, {destination: {host: web-canary}, weight: 30},
  {destination: {host: legacy}, weight: 10}]}, {name: other, route: [{destination: {host: web-stable}, weight: 50}, {destination: {host: web-canary}, weight: 50}]}]`))
	desired := obj(t, virtualService("shop", `http: [{name: other, route: [{destination: {host: web-stable}, weight: 100}, {destination: {host: web-canary}, weight: 0}]},
  {name: primary, route: [{destination: {host: legacy}, weight: 20}, {destination: {host: web-canary}}, {destination: {host: web-stable}, weight: 100}]}]`))
	checkFields(t, "routes and destinations in another order", cmp.ForApply(desired, live), map[string]any{
		"spec.http[0].route[0].weight": 100, "spec.http[0].route[1].weight": 0, // other: not the Rollout's
		"spec.http[1].route[0].weight": 20, "spec.http[1].route[1].weight": 30, "spec.http[1].route[2].weight": 60,
	})
}
