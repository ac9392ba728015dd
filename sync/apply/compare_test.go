package apply

import (
	"encoding/json"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	rov1 "github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

func rollout(t *testing.T, doc string) *rov1.Rollout {
	t.Helper()
	ro := &rov1.Rollout{}
	if err := yaml.Unmarshal([]byte(doc), ro); err != nil {
		t.Fatal(err)
	}
	return ro
}

// canaryRollout shifts the HTTPRoute web and the VirtualService web-vs (host-level: destinations
// are told apart by host), with one managed route.
const canaryRollout = `{metadata: {name: web, namespace: shop}, spec: {strategy: {canary: {canaryService: web-canary, stableService: web-stable,
  trafficRouting: {managedRoutes: [{name: header-canary}], plugins: {"argoproj-labs/gatewayAPI": {httpRoute: web}},
    istio: {virtualService: {name: web-vs}}}}}}}`

const routeDesired = `{apiVersion: gateway.networking.k8s.io/v1, kind: HTTPRoute, metadata: {name: web, namespace: shop},
  spec: {parentRefs: [{name: gw}], rules: [{matches: [{path: {type: PathPrefix, value: /}}],
    backendRefs: [{name: web-stable, port: 80, weight: 100}, {name: web-canary, port: 80, weight: 0}]}]}}`

// routeLive is the route while the canary runs: weights 80/20 and a managed header rule first.
func routeLive(prefix string) string {
	return `{apiVersion: gateway.networking.k8s.io/v1, kind: HTTPRoute, metadata: {name: web, namespace: shop},
  spec: {parentRefs: [{name: gw}], rules: [
    {name: header-canary, matches: [{headers: [{name: x-canary, value: "1"}]}], backendRefs: [{name: web-canary, port: 80, weight: 100}]},
    {matches: [{path: {type: PathPrefix, value: ` + prefix + `}}],
     backendRefs: [{name: web-stable, port: 80, weight: 80}, {name: web-canary, port: 80, weight: 20}]}]}}`
}

func TestDriftLeavesTheRolloutControllersFieldsAlone(t *testing.T) {
	others := NewOthers([]*rov1.Rollout{rollout(t, canaryRollout)}, nil)
	withRollout := &Comparer{Others: others}
	for _, tc := range []struct {
		name          string
		cmp           *Comparer
		desired, live string
		drift         bool
		field         string
	}{
		{"route weights and a managed rule the rollout set", withRollout, routeDesired, routeLive("/"), false, ""},
		{"a rule field Git sets, changed by hand", withRollout, routeDesired, routeLive("/admin"), true, "spec.rules[0].matches[0].path.value"},
		{"route weights of a route no Rollout shifts", &Comparer{}, routeDesired, routeLive("/"), true, "spec.rules"},
		{"VirtualService weights and managed route",
			withRollout,
			`{apiVersion: networking.istio.io/v1, kind: VirtualService, metadata: {name: web-vs, namespace: shop}, spec: {hosts: [web],
  http: [{name: primary, route: [{destination: {host: web-stable}, weight: 100}, {destination: {host: web-canary}, weight: 0}]}]}}`,
			`{apiVersion: networking.istio.io/v1, kind: VirtualService, metadata: {name: web-vs, namespace: shop}, spec: {hosts: [web],
  http: [{name: header-canary, match: [{headers: {x-canary: {exact: "1"}}}], route: [{destination: {host: web-canary}}]},
         {name: primary, route: [{destination: {host: web-stable}, weight: 60}, {destination: {host: web-canary}, weight: 40}]}]}}`,
			false, ""},
		{"VirtualService host changed by hand",
			withRollout,
			`{apiVersion: networking.istio.io/v1, kind: VirtualService, metadata: {name: web-vs, namespace: shop}, spec: {hosts: [web],
  http: [{name: primary, route: [{destination: {host: web-stable}, weight: 100}]}]}}`,
			`{apiVersion: networking.istio.io/v1, kind: VirtualService, metadata: {name: web-vs, namespace: shop}, spec: {hosts: [web],
  http: [{name: primary, route: [{destination: {host: other}, weight: 50}]}]}}`,
			true, "spec.http[0].route[0].destination.host"},
		{"DestinationRule subset hash labels",
			&Comparer{},
			`{apiVersion: networking.istio.io/v1, kind: DestinationRule, metadata: {name: web-dr, namespace: shop}, spec: {host: web,
  subsets: [{name: stable, labels: {app: web, rollouts-pod-template-hash: old}}, {name: canary, labels: {app: web}}]}}`,
			`{apiVersion: networking.istio.io/v1, kind: DestinationRule, metadata: {name: web-dr, namespace: shop}, spec: {host: web,
  subsets: [{name: stable, labels: {app: web, rollouts-pod-template-hash: abc}}, {name: canary, labels: {app: web, rollouts-pod-template-hash: def}}]}}`,
			false, ""},
		{"Service selector hash and managed-by annotation",
			&Comparer{},
			`{apiVersion: v1, kind: Service, metadata: {name: web-stable, namespace: shop}, spec: {selector: {app: web, rollouts-pod-template-hash: old}}}`,
			`{apiVersion: v1, kind: Service, metadata: {name: web-stable, namespace: shop, annotations: {argo-rollouts.argoproj.io/managed-by-rollouts: web}},
  spec: {selector: {app: web, rollouts-pod-template-hash: abc}}}`,
			false, ""},
		{"Service app selector changed by hand",
			&Comparer{},
			`{apiVersion: v1, kind: Service, metadata: {name: web-stable, namespace: shop}, spec: {selector: {app: web}}}`,
			`{apiVersion: v1, kind: Service, metadata: {name: web-stable, namespace: shop}, spec: {selector: {app: other, rollouts-pod-template-hash: abc}}}`,
			true, "spec.selector.app"},
		{"a Rollout's status", &Comparer{},
			`{apiVersion: argoproj.io/v1alpha1, kind: Rollout, metadata: {name: web, namespace: shop}, spec: {replicas: 3}}`,
			`{apiVersion: argoproj.io/v1alpha1, kind: Rollout, metadata: {name: web, namespace: shop}, spec: {replicas: 3}, status: {phase: Paused, currentStepIndex: 2}}`,
			false, ""},
	} {
		got, fields := tc.cmp.Drift(obj(t, tc.live), obj(t, tc.desired))
		if got != tc.drift {
			t.Errorf("%s: drift = %v (%v), want %v", tc.name, got, fields, tc.drift)
			continue
		}
		if tc.field != "" && !strings.Contains(strings.Join(fields, ","), tc.field) {
			t.Errorf("%s: fields %v lack %s", tc.name, fields, tc.field)
		}
	}
}

func TestDriftLeavesReplicasToTheirScaler(t *testing.T) {
	deploy := `{apiVersion: apps/v1, kind: Deployment, metadata: {name: web, namespace: shop}, spec: {replicas: 3}}`
	scaled := `{apiVersion: apps/v1, kind: Deployment, metadata: {name: web, namespace: shop}, spec: {replicas: 0}}`
	hpa := obj(t, `{apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, metadata: {name: web, namespace: shop},
  spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}, minReplicas: 1, maxReplicas: 5}}`)
	otherHPA := obj(t, `{apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, metadata: {name: api, namespace: shop},
  spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}, maxReplicas: 5}}`)
	workloadRef := func(scaleDown string) *rov1.Rollout {
		return rollout(t, `{metadata: {name: web, namespace: shop}, spec: {workloadRef: {apiVersion: apps/v1, kind: Deployment, name: web, scaleDown: `+scaleDown+`}}}`)
	}
	for _, tc := range []struct {
		name  string
		cmp   *Comparer
		drift bool
	}{
		{"no scaler: replicas are Git's", &Comparer{}, true},
		{"an HPA scales it", &Comparer{Others: NewOthers(nil, []*unstructured.Unstructured{hpa})}, false},
		{"an HPA scales another Deployment", &Comparer{Others: NewOthers(nil, []*unstructured.Unstructured{otherHPA})}, true},
		{"a workloadRef Rollout scales it down", &Comparer{Others: NewOthers([]*rov1.Rollout{workloadRef("onsuccess")}, nil)}, false},
		{"a workloadRef Rollout that never scales it", &Comparer{Others: NewOthers([]*rov1.Rollout{workloadRef("never")}, nil)}, true},
	} {
		if got, fields := tc.cmp.Drift(obj(t, scaled), obj(t, deploy)); got != tc.drift {
			t.Errorf("%s: drift = %v (%v), want %v", tc.name, got, fields, tc.drift)
		}
		applied := tc.cmp.ForApply(obj(t, deploy), obj(t, scaled))
		replicas := num(applied.Object["spec"].(map[string]any)["replicas"])
		if want := map[bool]int64{true: 3, false: 0}[tc.drift]; replicas != want {
			t.Errorf("%s: applied replicas %d, want %d", tc.name, replicas, want)
		}
	}
}

func TestForApplyKeepsRouteWeightsAndManagedRules(t *testing.T) {
	cmp := &Comparer{Others: NewOthers([]*rov1.Rollout{rollout(t, canaryRollout)}, nil)}
	desired := obj(t, strings.Replace(routeDesired, "value: /", "value: /v2", 1)) // a Git change to the rule
	live := obj(t, routeLive("/"))
	live.SetResourceVersion("41")
	applied := cmp.ForApply(desired, live)
	rules, _, _ := unstructured.NestedSlice(applied.Object, "spec", "rules")
	if len(rules) != 2 {
		t.Fatalf("applied rules %v, want the managed rule and Git's rule", rules)
	}
	if name := rules[0].(map[string]any)["name"]; name != "header-canary" {
		t.Errorf("first rule %v, want the managed header-canary rule kept first", name)
	}
	main := rules[1].(map[string]any)
	refs := main["backendRefs"].([]any)
	if w := num(refs[0].(map[string]any)["weight"]); w != 80 {
		t.Errorf("stable weight %v, want the live 80", w)
	}
	if w := num(refs[1].(map[string]any)["weight"]); w != 20 {
		t.Errorf("canary weight %v, want the live 20", w)
	}
	if v := main["matches"].([]any)[0].(map[string]any)["path"].(map[string]any)["value"]; v != "/v2" {
		t.Errorf("path %v, want Git's /v2", v)
	}
	// desired itself is untouched, and a route no Rollout shifts is applied as Git says.
	if w, _, _ := unstructured.NestedSlice(desired.Object, "spec", "rules"); len(w) != 1 {
		t.Errorf("ForApply modified desired: %v", w)
	}
	if got := (&Comparer{}).ForApply(desired, obj(t, routeLive("/"))); got != desired {
		t.Errorf("a route no Rollout shifts was changed for the apply")
	}
	// The values came from one version of the live route: the apply is conditional on it.
	if rv := applied.GetResourceVersion(); rv != "41" {
		t.Errorf("applied resourceVersion %q, want the live route's 41 (an optimistic lock)", rv)
	}
	if rv := desired.GetResourceVersion(); rv != "" {
		t.Errorf("desired got resourceVersion %q", rv)
	}
	// After the apply, the route as the API server would hold it is in sync.
	if d, f := cmp.Drift(applied, desired); d {
		t.Errorf("the applied route drifts: %v", f)
	}
}

func TestIgnoreDifferences(t *testing.T) {
	desired := `{apiVersion: apps/v1, kind: Deployment, metadata: {name: web, namespace: shop}, spec: {replicas: 3, template: {spec: {containers: [{name: web, image: "web:1"}]}}}}`
	live := obj(t, `{apiVersion: apps/v1, kind: Deployment, metadata: {name: web, namespace: shop}, spec: {replicas: 7, template: {spec: {containers: [{name: web, image: "web:9"}]}}}}`)
	live.SetManagedFields([]metav1.ManagedFieldsEntry{
		managed(t, FieldManager, `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:name":{}}}}}}}`),
		managed(t, "kubectl-scale", `{"f:spec":{"f:replicas":{}}}`),
		managed(t, "kubectl-set", `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{"f:image":{}}}}}}}`),
	})
	for _, tc := range []struct {
		name   string
		ignore []v1alpha1.ResourceIgnoreDifferences
		fields string // the drifted fields left
	}{
		{"nothing ignored", nil, "spec.replicas,spec.template.spec.containers[0].image"},
		{"a pointer", []v1alpha1.ResourceIgnoreDifferences{{Group: "apps", Kind: "Deployment", JSONPointers: []string{"/spec/replicas"}}}, "spec.template.spec.containers[0].image"},
		{"a pointer into a list", []v1alpha1.ResourceIgnoreDifferences{{Group: "apps", Kind: "Deployment", JSONPointers: []string{"/spec/template/spec/containers/0/image"}}}, "spec.replicas"},
		{"a manager", []v1alpha1.ResourceIgnoreDifferences{{Group: "apps", Kind: "Deployment", ManagedFieldsManagers: []string{"kubectl-set"}}}, "spec.replicas"},
		{"wildcards and both", []v1alpha1.ResourceIgnoreDifferences{{Group: "*", Kind: "*", JSONPointers: []string{"/spec/replicas"}, ManagedFieldsManagers: []string{"kubectl-set"}}}, ""},
		{"another kind", []v1alpha1.ResourceIgnoreDifferences{{Group: "apps", Kind: "StatefulSet", JSONPointers: []string{"/spec/replicas"}}}, "spec.replicas,spec.template.spec.containers[0].image"},
		{"another name", []v1alpha1.ResourceIgnoreDifferences{{Group: "apps", Kind: "Deployment", Name: "api", JSONPointers: []string{"/spec/replicas"}}}, "spec.replicas,spec.template.spec.containers[0].image"},
		{"glob patterns", []v1alpha1.ResourceIgnoreDifferences{{Group: "app*", Kind: "Deploy*", Name: "w*", Namespace: "sh?p", JSONPointers: []string{"/spec/replicas"}}}, "spec.template.spec.containers[0].image"},
		{"a glob of another group", []v1alpha1.ResourceIgnoreDifferences{{Group: "*.example.com", Kind: "*", JSONPointers: []string{"/spec/replicas"}}}, "spec.replicas,spec.template.spec.containers[0].image"},
		{"a malformed pattern matches nothing", []v1alpha1.ResourceIgnoreDifferences{{Group: "apps", Kind: "Deploy[", JSONPointers: []string{"/spec/replicas"}}}, "spec.replicas,spec.template.spec.containers[0].image"},
		{"the core group does not match apps", []v1alpha1.ResourceIgnoreDifferences{{Kind: "Deployment", JSONPointers: []string{"/spec/replicas"}}}, "spec.replicas,spec.template.spec.containers[0].image"},
	} {
		cmp := &Comparer{Ignore: tc.ignore}
		_, fields := cmp.Drift(live, obj(t, desired))
		if got := strings.Join(fields, ","); got != tc.fields {
			t.Errorf("%s: drifted %q, want %q", tc.name, got, tc.fields)
		}
	}
	// Without RespectIgnoreDifferences an apply writes Git's value; with it, the live one stays.
	ig := []v1alpha1.ResourceIgnoreDifferences{{Group: "apps", Kind: "Deployment", JSONPointers: []string{"/spec/replicas"}}}
	for respect, want := range map[bool]int64{false: 3, true: 7} {
		applied := (&Comparer{Ignore: ig, RespectIgnore: respect}).ForApply(obj(t, desired), live)
		if r := num(applied.Object["spec"].(map[string]any)["replicas"]); r != want {
			t.Errorf("RespectIgnore %v: applied replicas %d, want %d", respect, r, want)
		}
	}
	if err := ValidateIgnore([]v1alpha1.ResourceIgnoreDifferences{{Kind: "Deploy[", JSONPointers: []string{"/spec/replicas"}}}); err == nil ||
		!strings.Contains(err.Error(), "ignoreDifferences[0].kind") {
		t.Errorf("a malformed kind pattern was accepted: %v", err)
	}
	if err := ValidateIgnore([]v1alpha1.ResourceIgnoreDifferences{{Kind: "Deployment", JSONPointers: []string{"spec/replicas"}}}); err == nil ||
		!strings.Contains(err.Error(), "ignoreDifferences[0].jsonPointers[0]") {
		t.Errorf("a pointer without / was accepted: %v", err)
	}
}

func managed(t *testing.T, manager, fields string) metav1.ManagedFieldsEntry {
	t.Helper()
	if !json.Valid([]byte(fields)) {
		t.Fatalf("bad fieldsV1 %s", fields)
	}
	return metav1.ManagedFieldsEntry{Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate, FieldsType: "FieldsV1",
		FieldsV1: metav1.NewFieldsV1(fields)}
}

func obj(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	return objects(t, doc)[0]
}

func num(v any) int64 {
	f, _ := number(v)
	return int64(f)
}
