package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// TestIstioSubsetLevelCanary: with a DestinationRule, the VirtualService's subset weights walk
// with the steps and the canary and stable subsets select the new and old pod-template hashes;
// after promotion the stable subset selects the new pods.
func TestIstioSubsetLevelCanary(t *testing.T) {
	ctx := context.Background()
	startManager(t, setupRollout)
	ns := newNamespace(t)
	newService(t, ns, "web", "web")
	dr := &istionetworkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}}
	dr.Spec.Host = "web"
	dr.Spec.Subsets = []*networkingv1alpha3.Subset{
		{Name: "stable", Labels: map[string]string{"app": "web"}},
		{Name: "canary", Labels: map[string]string{"app": "web"}},
	}
	must(t, "create DestinationRule", env.client.Create(ctx, dr))
	vs := &istionetworkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}}
	vs.Spec.Hosts = []string{"web"}
	vs.Spec.Http = []*networkingv1alpha3.HTTPRoute{{Name: "primary", Route: []*networkingv1alpha3.HTTPRouteDestination{dest("web", "stable", 100), dest("web", "canary", 0)}}}
	must(t, "create VirtualService", env.client.Create(ctx, vs))
	strategy := canarySteps(setWeight(20), pauseFor(""), setWeight(60), pauseFor(""))
	strategy.Canary.TrafficRouting = &v1alpha1.RolloutTrafficRouting{Istio: &v1alpha1.IstioTrafficRouting{
		VirtualService:  &v1alpha1.IstioVirtualService{Name: "web", Routes: []string{"primary"}},
		DestinationRule: &v1alpha1.IstioDestinationRule{Name: "web", CanarySubsetName: "canary", StableSubsetName: "stable"},
	}}
	must(t, "create Rollout", env.client.Create(ctx, newRolloutObject(ns, "web", "app:1", 4, strategy)))
	oldHash := waitPhase(t, ns, "web", v1alpha1.RolloutPhaseHealthy, time.Minute).Status.StableRS

	read := func() (weights string, canary, stable string) {
		gotVS := &istionetworkingv1.VirtualService{}
		must(t, "get VirtualService", env.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "web"}, gotVS))
		gotDR := &istionetworkingv1.DestinationRule{}
		must(t, "get DestinationRule", env.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "web"}, gotDR))
		for _, s := range gotDR.Spec.Subsets {
			switch s.Name {
			case "canary":
				canary = s.Labels[v1alpha1.PodTemplateHashLabelKey]
			case "stable":
				stable = s.Labels[v1alpha1.PodTemplateHashLabelKey]
			}
		}
		return destWeights(gotVS.Spec.Http[0]), canary, stable
	}
	setImage(t, ns, "web", "app:2")
	for _, want := range []struct {
		step    int32
		weights string
	}{{1, "web/stable=80,web/canary=20"}, {3, "web/stable=40,web/canary=60"}} {
		var paused *v1alpha1.Rollout
		eventually(t, time.Minute, fmt.Sprintf("the pause at step %d", want.step), func() (bool, error) {
			paused = getRollout(t, ns, "web")
			return paused.Status.Phase == v1alpha1.RolloutPhasePaused && *paused.Status.CurrentStepIndex == want.step, nil
		})
		weights, canary, stable := read()
		if weights != want.weights || canary != paused.Status.CurrentPodHash || stable != oldHash {
			t.Fatalf("at step %d: weights %q, canary subset %q, stable subset %q; want %s, %q, %q",
				want.step, weights, canary, stable, want.weights, paused.Status.CurrentPodHash, oldHash)
		}
		patchStatus(t, ns, "web", `{"status":{"pauseConditions":null}}`)
	}
	done := waitPhase(t, ns, "web", v1alpha1.RolloutPhaseHealthy, time.Minute)
	eventually(t, 30*time.Second, "all traffic on the new stable subset", func() (bool, error) {
		weights, _, stable := read()
		return weights == "web/stable=100,web/canary=0" && stable == done.Status.StableRS && stable != oldHash, nil
	})
}

// TestMissingRouteIsNamedAndRecovers: a Rollout whose HTTPRoute does not exist says so in its
// status and waits; once the route is created, the rollout proceeds.
func TestMissingRouteIsNamedAndRecovers(t *testing.T) {
	ctx := context.Background()
	startManager(t, setupRollout)
	ns := newNamespace(t)
	newService(t, ns, "web-stable", "web")
	newService(t, ns, "web-canary", "web")
	ro := gatewayRollout(ns, setWeight(50))
	ro.Spec.Strategy.Canary.TrafficRouting.Plugins = map[string]apiextensionsv1.JSON{
		v1alpha1.GatewayAPIPluginName: {Raw: []byte(`{"httpRoute":"web"}`)},
	}
	must(t, "create Rollout", env.client.Create(ctx, ro))
	eventually(t, time.Minute, "the missing route to be named", func() (bool, error) {
		cur := getRollout(t, ns, "web")
		c := condition(cur, v1alpha1.RolloutProgressing)
		return cur.Status.Phase == v1alpha1.RolloutPhaseProgressing && strings.Contains(cur.Status.Message, fmt.Sprintf("HTTPRoute %s/web not found", ns)) &&
			strings.Contains(cur.Status.Message, "traffic routing") && c != nil && strings.Contains(c.Message, "traffic routing"), nil
	})
	createHTTPRoute(t, ns)
	startFakeGateway(t, ns, "web")
	waitPhase(t, ns, "web", v1alpha1.RolloutPhaseHealthy, time.Minute)
}

// TestWorkloadRefScalesDownOnSuccess: a Rollout takes its template from a Deployment and, with
// scaleDown onsuccess, scales the Deployment to zero once it is Healthy; a new template in the
// Deployment starts an update.
func TestWorkloadRefScalesDownOnSuccess(t *testing.T) {
	ctx := context.Background()
	startManager(t, setupRollout)
	ns := newNamespace(t)
	labels := map[string]string{"app": "legacy-web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "legacy-web"},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: podTemplate(labels)},
	}
	must(t, "create Deployment", env.client.Create(ctx, dep))
	ro := &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: v1alpha1.RolloutSpec{
			Replicas:    ptr.To[int32](3),
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			WorkloadRef: &v1alpha1.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "legacy-web", ScaleDown: v1alpha1.ScaleDownOnSuccess},
			Strategy:    canarySteps(setWeight(50)),
		},
	}
	must(t, "create Rollout", env.client.Create(ctx, ro))
	first := waitPhase(t, ns, "web", v1alpha1.RolloutPhaseHealthy, time.Minute)
	eventually(t, time.Minute, "the Deployment scaled to zero", func() (bool, error) {
		got := &appsv1.Deployment{}
		err := env.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "legacy-web"}, got)
		return err == nil && ptr.Deref(got.Spec.Replicas, 1) == 0, err
	})
	patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"app:2"}]}}}}`)
	must(t, "update the Deployment's template", env.client.Patch(ctx, dep, rawMerge(patch)))
	eventually(t, time.Minute, "the Rollout to roll out the Deployment's new template", func() (bool, error) {
		cur := getRollout(t, ns, "web")
		return cur.Status.Phase == v1alpha1.RolloutPhaseHealthy && cur.Status.StableRS != first.Status.StableRS, nil
	})
}
