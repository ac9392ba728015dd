package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/trafficrouting"
	"github.com/sluice-dev/sluice/trafficrouting/routers"
)

// routingContext carries a logger that writes the routers' logs into the test log.
func routingContext(t *testing.T) context.Context {
	return logr.NewContext(context.Background(), testr.New(t))
}

// routingRollout is an in-memory Rollout in ns whose canary strategy is the given YAML; the
// router tests build routers from it without running the rollout controller.
func routingRollout(t *testing.T, ns, canary string) *v1alpha1.Rollout {
	t.Helper()
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}}
	ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{}
	if err := yaml.UnmarshalStrict([]byte(canary), ro.Spec.Strategy.Canary); err != nil {
		t.Fatalf("decode canary strategy: %v", err)
	}
	return ro
}

// onlyRouter builds the routers of ro and returns the only one.
func onlyRouter(t *testing.T, ro *v1alpha1.Rollout) trafficrouting.TrafficRouter {
	t.Helper()
	rs, err := routers.New(env.client, ro)
	if err != nil || len(rs) != 1 {
		t.Fatalf("routers.New = %v, %v; want one router", rs, err)
	}
	return rs[0]
}

func routingWeights(canary, stable int32) trafficrouting.Weights {
	return trafficrouting.Weights{
		Canary: trafficrouting.WeightDestination{ServiceName: "web-canary", Weight: canary},
		Stable: trafficrouting.WeightDestination{ServiceName: "web-stable", Weight: stable},
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// mustGet reads obj (by its namespace and name) from the API server.
func mustGet(t *testing.T, obj client.Object) {
	t.Helper()
	if err := env.client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
		t.Fatalf("get %T %s: %v", obj, client.ObjectKeyFromObject(obj), err)
	}
}

// verified waits until VerifyWeight reports want.
func verified(t *testing.T, r trafficrouting.TrafficRouter, w trafficrouting.Weights, want bool) {
	t.Helper()
	eventually(t, 10*time.Second, "VerifyWeight to report the expected value", func() (bool, error) {
		got, err := r.VerifyWeight(routingContext(t), w)
		return err == nil && got == want, err
	})
}

// unchangedBy runs f and fails the test when it wrote obj (its resourceVersion moved).
func unchangedBy(t *testing.T, obj client.Object, what string, f func() error) {
	t.Helper()
	mustGet(t, obj)
	before := obj.GetResourceVersion()
	must(t, what, f())
	mustGet(t, obj)
	if obj.GetResourceVersion() != before {
		t.Errorf("%s again wrote %T %s (resourceVersion %s -> %s)", what, obj, obj.GetName(), before, obj.GetResourceVersion())
	}
}
