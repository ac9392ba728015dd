package e2e

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// quantityRollout is a Rollout manifest whose container limits are written as given (YAML).
const quantityRollout = `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: NAME
spec:
  replicas: 1
  selector:
    matchLabels: {app: NAME}
  strategy:
    canary: {}
  template:
    metadata:
      labels: {app: NAME}
    spec:
      tolerations: [{key: kwok.x-k8s.io/node, operator: Exists}]
      containers:
      - name: app
        image: registry.example/app:1
        resources:
          limits: LIMITS
          requests: {memory: 32Mi}
`

// applyQuantityRollout creates the Rollout name with the container limits given as YAML and
// returns the object sent.
func applyQuantityRollout(t *testing.T, ns, name, limits string) *unstructured.Unstructured {
	t.Helper()
	manifest := strings.NewReplacer("NAME", name, "LIMITS", limits).Replace(quantityRollout)
	data, err := yaml.YAMLToJSON([]byte(manifest))
	if err != nil {
		t.Fatal(err)
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(data); err != nil {
		t.Fatal(err)
	}
	obj.SetNamespace(ns)
	sent := obj.DeepCopy()
	if err := env.client.Create(context.Background(), obj); err != nil {
		t.Fatalf("the API server refused Rollout %s with limits %s: %v", name, limits, err)
	}
	return sent
}

// readRollout reads a Rollout as the API server stores it.
func readRollout(t *testing.T, ns, name string) *unstructured.Unstructured {
	t.Helper()
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("Rollout"))
	if err := env.client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, got); err != nil {
		t.Fatalf("get Rollout %s: %v", name, err)
	}
	return got
}

// containerResources is the resources block of a Rollout's first container.
func containerResources(t *testing.T, obj *unstructured.Unstructured) any {
	t.Helper()
	containers, _, _ := unstructured.NestedSlice(obj.Object, "spec", "template", "spec", "containers")
	if len(containers) == 0 {
		t.Fatalf("Rollout %s has no containers: %v", obj.GetName(), obj.Object["spec"])
	}
	return containers[0].(map[string]any)["resources"]
}

// TestRolloutQuantitiesAsArgoAccepts: the Rollout CRD accepts container resources as Argo
// Rollouts' does. `cpu: 0.001` written as a YAML number is accepted, read back as given, and
// rolled out (its ReplicaSet asks for 1m); a malformed quantity is accepted by the API server too
// and the controller reports it as InvalidSpec naming the field and the container, while the
// well-formed Rollout beside it keeps working.
func TestRolloutQuantitiesAsArgoAccepts(t *testing.T) {
	startManager(t, setupRollout)
	ns := newNamespace(t)

	sent := applyQuantityRollout(t, ns, "number", "{cpu: 0.001, memory: 64Mi}")
	if want, got := containerResources(t, sent), containerResources(t, readRollout(t, ns, "number")); !reflect.DeepEqual(want, got) {
		t.Fatalf("resources read back as %v, sent %v", got, want)
	}
	healthy := waitPhase(t, ns, "number", v1alpha1.RolloutPhaseHealthy, time.Minute)
	rs := replicaSetsOf(t, ns, "number")[healthy.Status.StableRS]
	if rs == nil {
		t.Fatalf("no stable ReplicaSet %q for Rollout number", healthy.Status.StableRS)
	}
	if got := rs.Spec.Template.Spec.Containers[0].Resources.Limits.Cpu(); got.Cmp(resource.MustParse("1m")) != 0 {
		t.Fatalf("ReplicaSet cpu limit = %s, want 1m", got)
	}

	applyQuantityRollout(t, ns, "malformed", `{cpu: abc, memory: 64Mi}`)
	if got := containerResources(t, readRollout(t, ns, "malformed")); !reflect.DeepEqual(got, map[string]any{
		"limits": map[string]any{"cpu": "abc", "memory": "64Mi"}, "requests": map[string]any{"memory": "32Mi"},
	}) {
		t.Fatalf("malformed resources read back as %v", got)
	}
	want := `spec.template.spec.containers[0].resources.limits.cpu: Invalid value: "abc": quantities must match the regular expression`
	var invalid *v1alpha1.RolloutCondition
	eventually(t, time.Minute, "Rollout malformed to be InvalidSpec", func() (bool, error) {
		invalid = condition(getRollout(t, ns, "malformed"), v1alpha1.InvalidSpec)
		return invalid != nil && invalid.Status == "True", nil
	})
	if !strings.Contains(invalid.Message, want) || !strings.Contains(invalid.Message, `(container "app")`) {
		t.Fatalf("InvalidSpec message %q, want it to contain %q and name container \"app\"", invalid.Message, want)
	}
	var sets appsv1.ReplicaSetList
	if err := env.client.List(context.Background(), &sets, client.InNamespace(ns), client.MatchingLabels{"app": "malformed"}); err != nil {
		t.Fatal(err)
	}
	if len(sets.Items) != 0 {
		t.Fatalf("an invalid Rollout got %d ReplicaSets", len(sets.Items))
	}

	// The malformed Rollout in the cache does not stop the controller from acting on the other.
	setImage(t, ns, "number", "registry.example/app:2")
	eventually(t, time.Minute, "Rollout number to roll out app:2", func() (bool, error) {
		ro := getRollout(t, ns, "number")
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS != healthy.Status.StableRS &&
			ro.Status.ObservedGeneration == "2", nil
	})
}

// TestRolloutStatusKeepsArgoFields: every status field Argo Rollouts writes is in the status
// schema, so a status written by Argo Rollouts (or kept from a migration) is not pruned.
func TestRolloutStatusKeepsArgoFields(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	ro := newRolloutObject(ns, "argo-status", "app:1", 1, canarySteps())
	if err := env.client.Create(ctx, ro); err != nil {
		t.Fatalf("create Rollout: %v", err)
	}
	status := `{"status":{
		"alb":{"loadBalancer":{"name":"lb","arn":"arn:lb","fullName":"app/lb/1"},"canaryTargetGroup":{"name":"c","arn":"arn:c"},
			"stableTargetGroup":{"name":"s","arn":"arn:s"},"ingress":"web"},
		"albs":[{"loadBalancer":{"name":"lb2","arn":"arn:lb2"},"ingress":"web2"}],
		"canary":{"stepPluginStatuses":[{"index":1,"name":"acme/step","operation":"Run","phase":"Running","message":"waiting",
			"startedAt":"2026-01-02T03:04:05Z","updatedAt":"2026-01-02T03:04:06Z","backoff":"5s","executions":2,
			"status":{"id":"x","nested":{"n":1}}}]}}}`
	patchStatus(t, ns, "argo-status", status)

	var want map[string]any
	if err := json.Unmarshal([]byte(status), &want); err != nil {
		t.Fatal(err)
	}
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("Rollout"))
	if err := env.client.Get(ctx, client.ObjectKeyFromObject(ro), got); err != nil {
		t.Fatal(err)
	}
	if path, ok := containsAll(normalize(t, want["status"]), normalize(t, got.Object["status"]), "status"); !ok {
		t.Fatalf("the API server pruned or changed %s; status read back: %v", path, got.Object["status"])
	}
	typed := getRollout(t, ns, "argo-status")
	if typed.Status.ALB == nil || typed.Status.ALB.LoadBalancer.FullName != "app/lb/1" || len(typed.Status.ALBs) != 1 ||
		len(typed.Status.Canary.StepPluginStatuses) != 1 || typed.Status.Canary.StepPluginStatuses[0].Executions != 2 {
		t.Fatalf("typed status lacks the Argo fields: %+v", typed.Status)
	}
}
