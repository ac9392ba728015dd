package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// TestRolloutAbortMovesTrafficWithoutItsStatusWrite: a canary at 40% over two HTTPRoutes is
// aborted while the API server refuses both the controller's status writes and any change to the
// first route. Traffic is a safety action: the second route goes back to 100% stable although the
// abort cannot be recorded and the first route refuses its weight, and the failure is reported
// in a Warning event naming the refused route. Once the writes are allowed again, the abort is
// recorded (Degraded) and both routes carry 100/0.
func TestRolloutAbortMovesTrafficWithoutItsStatusWrite(t *testing.T) {
	ctx := context.Background()
	startManager(t, setupRollout)
	ns := newNamespace(t)
	newService(t, ns, "web-stable", "web")
	newService(t, ns, "web-canary", "web")
	for _, name := range []string{"web-a", "web-b"} {
		createNamedHTTPRoute(t, ns, name)
		startFakeGateway(t, ns, name)
	}
	strategy := canarySteps(setWeight(40), pauseFor(""))
	strategy.Canary.StableService, strategy.Canary.CanaryService = "web-stable", "web-canary"
	strategy.Canary.TrafficRouting = &v1alpha1.RolloutTrafficRouting{Plugins: map[string]apiextensionsv1.JSON{
		v1alpha1.GatewayAPIPluginName: {Raw: []byte(`{"httpRoutes":[{"name":"web-a"},{"name":"web-b"}]}`)},
	}}
	must(t, "create Rollout", env.client.Create(ctx, newRolloutObject(ns, "web", "app:1", 5, strategy)))
	waitPhase(t, ns, "web", v1alpha1.RolloutPhaseHealthy, time.Minute)
	setImage(t, ns, "web", "app:2")
	paused := waitPhase(t, ns, "web", v1alpha1.RolloutPhasePaused, 2*time.Minute)
	for _, name := range []string{"web-a", "web-b"} {
		if w := namedRouteWeights(t, ns, name); w != "60/40" {
			t.Fatalf("route %s carries %s at the pause, want 60/40", name, w)
		}
	}

	// The controller can no longer write a status over one that holds an abort (the person's abort
	// patch itself goes through), nor change route web-a. A dry-run status write marked "probe"
	// shows when the first policy is in force.
	denyInNamespace(t, ns, "argoproj.io", "rollouts/status",
		`!(has(object.status) && has(object.status.abort) && object.status.abort == true &&
		  ((has(oldObject.status) && has(oldObject.status.abort) && oldObject.status.abort == true) ||
		   (has(object.status.message) && object.status.message == "probe")))`,
		func() error {
			ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}}
			return env.client.Status().Patch(ctx, ro, rawMerge([]byte(`{"status":{"abort":true,"message":"probe"}}`)), client.DryRunAll)
		})
	denyInNamespace(t, ns, "gateway.networking.k8s.io", "httproutes",
		`object.metadata.name != "web-a" || object.spec == oldObject.spec`,
		func() error {
			route := &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-a"}}
			return env.client.Patch(ctx, route, rawMerge([]byte(`{"spec":{"hostnames":["probe.example.com"]}}`)), client.DryRunAll)
		})

	patchStatus(t, ns, "web", `{"status":{"abort":true}}`)
	eventually(t, 30*time.Second, "route web-b back on stable while the abort is not recorded", func() (bool, error) {
		return namedRouteWeights(t, ns, "web-b") == "100/0", nil
	})
	cur := getRollout(t, ns, "web")
	if cur.Status.Phase == v1alpha1.RolloutPhaseDegraded || cur.Status.AbortedAt != nil {
		t.Fatalf("the abort was recorded (phase %s, abortedAt %v) although status writes are refused", cur.Status.Phase, cur.Status.AbortedAt)
	}
	if w := namedRouteWeights(t, ns, "web-a"); w != "60/40" {
		t.Fatalf("route web-a carries %s although its writes are refused", w)
	}
	eventually(t, 30*time.Second, "a Warning event naming the refused route", func() (bool, error) {
		var list eventsv1.EventList
		if err := env.client.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return false, err
		}
		for _, e := range list.Items {
			if e.Regarding.Name == "web" && e.Type == "Warning" && e.Reason == "ReconcileError" && strings.Contains(e.Note, "web-a") {
				return true, nil
			}
		}
		return false, nil
	})
	// The stable side keeps every pod while traffic is in doubt: nothing was scaled for the abort.
	for hash, rs := range replicaSetsOf(t, ns, "web") {
		if hash == paused.Status.StableRS && specOf(rs) != 5 {
			t.Fatalf("stable ReplicaSet at %d replicas, want 5", specOf(rs))
		}
	}

	liftPolicies(t, ns)
	done := waitPhase(t, ns, "web", v1alpha1.RolloutPhaseDegraded, time.Minute)
	if c := condition(done, v1alpha1.RolloutProgressing); c == nil || c.Reason != v1alpha1.RolloutAbortedReason {
		t.Fatalf("Progressing condition %+v, want reason %s", c, v1alpha1.RolloutAbortedReason)
	}
	eventually(t, 30*time.Second, "both routes on stable", func() (bool, error) {
		return namedRouteWeights(t, ns, "web-a") == "100/0" && namedRouteWeights(t, ns, "web-b") == "100/0", nil
	})
}

func createNamedHTTPRoute(t *testing.T, ns, name string) {
	t.Helper()
	backend := func(svc string, w int32) gatewayv1.HTTPBackendRef {
		return gatewayv1.HTTPBackendRef{BackendRef: gatewayv1.BackendRef{
			BackendObjectReference: gatewayv1.BackendObjectReference{Name: gatewayv1.ObjectName(svc), Port: ptr.To[gatewayv1.PortNumber](80)},
			Weight:                 ptr.To(w),
		}}
	}
	route := &gatewayv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: gatewayv1.HTTPRouteSpec{
			CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{{Name: "gateway"}}},
			Rules:           []gatewayv1.HTTPRouteRule{{BackendRefs: []gatewayv1.HTTPBackendRef{backend("web-stable", 100), backend("web-canary", 0)}}},
		},
	}
	must(t, "create HTTPRoute "+name, env.client.Create(context.Background(), route))
}

// namedRouteWeights returns "stable/canary" as the HTTPRoute's first rule holds them.
func namedRouteWeights(t *testing.T, ns, name string) string {
	t.Helper()
	r := &gatewayv1.HTTPRoute{}
	must(t, "get HTTPRoute "+name, env.client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, r))
	w := map[string]int32{}
	for _, b := range r.Spec.Rules[0].BackendRefs {
		w[string(b.Name)] = ptr.Deref(b.Weight, 1)
	}
	return fmt.Sprintf("%d/%d", w["web-stable"], w["web-canary"])
}

// policyLabel marks the admission policies a test creates, by namespace.
const policyLabel = "sluice.dev/e2e-policy-namespace"

// denyInNamespace refuses, in ns only, every UPDATE of resource (patches included) for which the
// CEL expression is false: a ValidatingAdmissionPolicy and its binding, both removed when the test
// ends. It returns once probe (a dry-run write the policy must refuse) is refused.
func denyInNamespace(t *testing.T, ns, group, resource, expression string, probe func() error) {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("%s-%s", ns, strings.NewReplacer("/", "-", ".", "-").Replace(resource))
	labels := map[string]string{policyLabel: ns}
	policy := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionv1.Fail),
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Update},
					Rule:       admissionv1.Rule{APIGroups: []string{group}, APIVersions: []string{"*"}, Resources: []string{resource}},
				},
			}}},
			Validations: []admissionv1.Validation{{Expression: expression, Message: "refused by e2e policy " + name}},
		},
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
			MatchResources: &admissionv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}}},
		},
	}
	must(t, "create policy "+name, env.client.Create(ctx, policy))
	must(t, "create binding "+name, env.client.Create(ctx, binding))
	t.Cleanup(func() { liftPolicies(t, ns) })
	eventually(t, 30*time.Second, "policy "+name+" in force", func() (bool, error) {
		err := probe()
		return apierrors.IsInvalid(err) || apierrors.IsForbidden(err), nil
	})
}

// liftPolicies removes the admission policies and bindings denyInNamespace made for ns.
func liftPolicies(t *testing.T, ns string) {
	ctx := context.Background()
	sel := client.MatchingLabels{policyLabel: ns}
	_ = env.client.DeleteAllOf(ctx, &admissionv1.ValidatingAdmissionPolicyBinding{}, sel)
	_ = env.client.DeleteAllOf(ctx, &admissionv1.ValidatingAdmissionPolicy{}, sel)
}
