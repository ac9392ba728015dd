package plan

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

func TestValidate(t *testing.T) {
	tests := map[string]struct {
		mutate func(ro *v1alpha1.Rollout)
		want   string // a substring of the joined messages; empty for a valid spec
	}{
		"valid":             {func(*v1alpha1.Rollout) {}, ""},
		"selector mismatch": {func(ro *v1alpha1.Rollout) { ro.Spec.Selector.MatchLabels["app"] = "x" }, "spec.selector does not match"},
		"no selector":       {func(ro *v1alpha1.Rollout) { ro.Spec.Selector = nil }, "spec.selector is required"},
		"no containers":     {func(ro *v1alpha1.Rollout) { ro.Spec.Template.Spec.Containers = nil }, "containers must have at least one"},
		"both strategies": {func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.BlueGreen = &v1alpha1.BlueGreenStrategy{ActiveService: "a"}
		}, "exactly one of canary and blueGreen"},
		"no strategy":         {func(ro *v1alpha1.Rollout) { ro.Spec.Strategy.Canary = nil }, "must set one of canary and blueGreen"},
		"same services":       {func(ro *v1alpha1.Rollout) { ro.Spec.Strategy.Canary.StableService = "demo-canary" }, "must be different Services"},
		"weight out of range": {func(ro *v1alpha1.Rollout) { ro.Spec.Strategy.Canary.Steps[0].SetWeight = ptr.To[int32](120) }, "steps[0].setWeight 120"},
		"two step types":      {func(ro *v1alpha1.Rollout) { ro.Spec.Strategy.Canary.Steps[0].Pause = &v1alpha1.RolloutPause{} }, "not pause and setWeight"},
		"empty step":          {func(ro *v1alpha1.Rollout) { ro.Spec.Strategy.Canary.Steps[0] = v1alpha1.CanaryStep{} }, "steps[0] must set exactly one step type"},
		"bad pause": {func(ro *v1alpha1.Rollout) {
			d := intstr.Parse("soon")
			ro.Spec.Strategy.Canary.Steps[1].Pause.Duration = &d
		}, "steps[1].pause.duration"},
		"analysis no templates": {func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.Canary.Steps[0] = v1alpha1.CanaryStep{Analysis: &v1alpha1.RolloutAnalysis{}}
		}, "analysis.templates must name"},
		"experiment": {func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.Canary.Steps[0] = v1alpha1.CanaryStep{Experiment: jsonRaw(`{}`)}
		}, "steps[0].experiment is not supported"},
		"header route without routing": {func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.Canary.Steps[0] = v1alpha1.CanaryStep{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "h"}}
		}, "setHeaderRoute requires spec.strategy.canary.trafficRouting"},
		"both surge and unavailable zero": {func(ro *v1alpha1.Rollout) {
			zero := intstr.FromInt32(0)
			ro.Spec.Strategy.Canary.MaxSurge, ro.Spec.Strategy.Canary.MaxUnavailable = &zero, &zero
		}, "must not both be 0"},
		"unsupported plugin": {func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.Canary.TrafficRouting = &v1alpha1.RolloutTrafficRouting{Plugins: map[string]apiextensionsv1.JSON{"acme/mesh": {Raw: []byte(`{}`)}}}
		}, `trafficRouting.plugins."acme/mesh" is not supported`},
		"canary scale two fields": {func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.Canary.Steps[0] = v1alpha1.CanaryStep{SetCanaryScale: &v1alpha1.SetCanaryScale{Replicas: ptr.To[int32](1), Weight: ptr.To[int32](5)}}
		}, "exactly one of replicas, weight and matchTrafficWeight"},
		"blue-green without active": {func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy = v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{}}
		}, "blueGreen.activeService is required"},
		"deadline below min ready": {func(ro *v1alpha1.Rollout) {
			ro.Spec.MinReadySeconds, ro.Spec.ProgressDeadlineSeconds = 30, ptr.To[int32](10)
		}, "progressDeadlineSeconds must be greater"},
		"workloadRef kind": {func(ro *v1alpha1.Rollout) {
			ro.Spec.WorkloadRef = &v1alpha1.ObjectRef{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "x"}
		}, "workloadRef must name an apps/v1 Deployment"},
		"workloadRef and template": {func(ro *v1alpha1.Rollout) {
			ro.Spec.WorkloadRef = &v1alpha1.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "x"}
		}, "spec.template: template must be empty for workload reference rollout"},
		"workloadRef and template labels only": {func(ro *v1alpha1.Rollout) {
			ro.Spec.WorkloadRef = &v1alpha1.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "x"}
			ro.Spec.Template = corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "demo"}}}
		}, "template must be empty for workload reference rollout"},
		"workloadRef with empty template": {func(ro *v1alpha1.Rollout) {
			ro.Spec.WorkloadRef = &v1alpha1.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "x"}
			ro.Spec.Template = corev1.PodTemplateSpec{}
		}, ""},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			ro := canaryRollout(4, weight(25), pause("2s"))
			tt.mutate(ro)
			got := strings.Join(Validate(ro), "; ")
			if tt.want == "" && got != "" {
				t.Fatalf("want valid, got %q", got)
			}
			if !strings.Contains(got, tt.want) {
				t.Fatalf("want a message containing %q, got %q", tt.want, got)
			}
		})
	}
}

// TestValidateLeavesRoutedChecksToRouters: with a trafficRouting block, the Services and the
// header and mirror steps are checked by routers.Validate only, so a problem is not reported
// twice in different words.
func TestValidateLeavesRoutedChecksToRouters(t *testing.T) {
	ro := canaryRollout(2, v1alpha1.CanaryStep{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "unlisted"}},
		v1alpha1.CanaryStep{SetMirrorRoute: &v1alpha1.SetMirrorRoute{Name: "m", Percentage: ptr.To[int32](150)}})
	ro.Spec.Strategy.Canary.CanaryService, ro.Spec.Strategy.Canary.StableService = "web", "web"
	ro.Spec.Strategy.Canary.TrafficRouting = &v1alpha1.RolloutTrafficRouting{Istio: &v1alpha1.IstioTrafficRouting{
		VirtualService: &v1alpha1.IstioVirtualService{Name: "web"}}}
	if errs := Validate(ro); len(errs) != 0 {
		t.Fatalf("the planner reported routed problems itself: %q", errs)
	}
	ro.Spec.Strategy.Canary.TrafficRouting = nil
	got := strings.Join(Validate(ro), "; ")
	for _, want := range []string{"must be different Services", "steps[0].setHeaderRoute requires spec.strategy.canary.trafficRouting",
		"steps[1].setMirrorRoute requires spec.strategy.canary.trafficRouting"} {
		if !strings.Contains(got, want) {
			t.Errorf("without trafficRouting, want %q in %q", want, got)
		}
	}
}

// TestValidateMalformedQuantity: a quantity that the CRD lets through (container resources are
// not checked by the API server, as in Argo Rollouts) but that does not parse makes the spec
// invalid, with a message naming the field and the container; a YAML number such as 0.001 is a
// valid quantity.
func TestValidateMalformedQuantity(t *testing.T) {
	decode := func(t *testing.T, limits string) *v1alpha1.Rollout {
		t.Helper()
		ro := canaryRollout(4, weight(25), pause("2s"))
		ro.Spec.Template.Spec.Containers[0].Name = "web"
		data, err := json.Marshal(ro)
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]any
		if err := json.Unmarshal(data, &obj); err != nil {
			t.Fatal(err)
		}
		container := obj["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
		container["resources"] = json.RawMessage(`{"limits":` + limits + `}`)
		if data, err = json.Marshal(obj); err != nil {
			t.Fatal(err)
		}
		var out v1alpha1.Rollout
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatalf("a Rollout with limits %s does not decode: %v", limits, err)
		}
		return &out
	}

	if errs := Validate(decode(t, `{"cpu":0.001,"memory":"64Mi"}`)); len(errs) != 0 {
		t.Fatalf("cpu: 0.001 as a number: want valid, got %q", errs)
	}
	got := strings.Join(Validate(decode(t, `{"cpu":"abc","memory":"64Mi"}`)), "; ")
	want := `spec.template.spec.containers[0].resources.limits.cpu: Invalid value: "abc": quantities must match the regular expression`
	if !strings.Contains(got, want) || !strings.Contains(got, `(container "web")`) {
		t.Fatalf("want a message containing %q and naming container \"web\", got %q", want, got)
	}
	if strings.Contains(got, "memory") {
		t.Fatalf("the valid memory limit was reported: %q", got)
	}
}
